// TLS material for a quick start (`relayd init`), what a server offers, and secure random
// tokens. OpenSSL 3.
#pragma once

#include <openssl/types.h>

#include <string>
#include <vector>

namespace printrelay {

// Writes ca.pem/ca.key and server.pem/server.key (EC P-256, SHA-256, 10 years for the CA,
// 825 days for the server) into `dir`. The server certificate names every entry of `hosts` (DNS
// names or IP addresses) as a subjectAltName. Throws std::runtime_error on failure.
void write_quickstart_pki(const std::string& dir, const std::vector<std::string>& hosts);

// Restricts what a TLS server context offers: TLS 1.2 and 1.3 only (SSLv3, TLS 1.0 and 1.1
// refused); for TLS 1.2 only ECDHE key exchange with an AEAD cipher (AES-GCM or
// ChaCha20-Poly1305), so neither CBC suites (padding oracles such as Lucky13) nor static RSA key
// exchange (no forward secrecy); TLS 1.3's suites as OpenSSL has them (all AEAD); the server's
// order of preference, not the client's; no renegotiation, no compression. Proved by
// tests/integration/test_tls_offers_only_aead.py. Throws std::runtime_error when OpenSSL
// refuses a setting (a startup error).
void restrict_server_tls(SSL_CTX* ctx);

// `prefix` + 64 hex characters from the OpenSSL CSPRNG.
std::string random_token(const std::string& prefix);
// n random bytes as hex.
std::string random_hex(std::size_t n_bytes);

}  // namespace printrelay
