// TLS material for a quick start (`relayd init`) and secure random tokens. OpenSSL 3.
#pragma once

#include <string>
#include <vector>

namespace printrelay {

// Writes ca.pem/ca.key and server.pem/server.key (EC P-256, SHA-256, 10 years for the CA,
// 825 days for the server) into `dir`. The server certificate names every entry of `hosts` (DNS
// names or IP addresses) as a subjectAltName. Throws std::runtime_error on failure.
void write_quickstart_pki(const std::string& dir, const std::vector<std::string>& hosts);

// `prefix` + 64 hex characters from the OpenSSL CSPRNG.
std::string random_token(const std::string& prefix);
// n random bytes as hex.
std::string random_hex(std::size_t n_bytes);

}  // namespace printrelay
