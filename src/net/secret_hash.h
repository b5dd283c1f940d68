// Salted slow hashes for the secrets a person types or prints on a label: enrollment codes.
// PBKDF2-HMAC-SHA256 (OpenSSL), stored as "pbkdf2-sha256$ITERATIONS$SALT_HEX$HASH_HEX", so a
// stolen store or a child relay's directory copy costs an attacker ITERATIONS hashes per guess
// and per code. Device and admin tokens are 256 random bits and keep a plain SHA-256.
#pragma once

#include <string>
#include <string_view>

namespace printrelay {

// Iterations for new hashes: 10-15 ms per hash on one core of the project's machines. The
// cost is paid on the relay's I/O threads at every registration and enrolment (a fleet of
// 10,000 imported at once: about two minutes of CPU), so it is a balance: 100,000 (OWASP's figure
// for passwords) made 200 devices enrolling at once time out. Guessing online is held back by the
// relay's failure limits; offline, a stolen store costs 25,000 SHA-256 rounds per guess per
// device (a short code stays guessable: see docs/security.md). Stored hashes carry their count.
inline constexpr int kSecretHashIterations = 25000;

// A new salted hash of `secret` (16 random salt bytes).
std::string hash_secret(std::string_view secret, int iterations = kSecretHashIterations);

// True when `secret` matches `stored`: a hash_secret() string, or (rows written before salted
// hashes) the plain SHA-256 hex of the secret. Compares in constant time; false for anything
// unreadable.
bool secret_matches(std::string_view secret, std::string_view stored);

// True for a hash that hash_secret() made (not a legacy SHA-256).
bool is_salted_hash(std::string_view stored);

}  // namespace printrelay
