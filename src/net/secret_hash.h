// Salted slow hashes for the secrets a person types or prints on a label: enrollment codes.
// PBKDF2-HMAC-SHA256 (OpenSSL), stored as "pbkdf2-sha256$ITERATIONS$SALT_HEX$HASH_HEX", so a
// stolen store or a child relay's directory copy costs an attacker ITERATIONS hashes per guess
// and per code. Device and admin tokens are 256 random bits and keep a plain SHA-256.
#pragma once

#include <string>
#include <string_view>

namespace printrelay {

// Iterations for new hashes: about 30 ms per hash on one core of the project's machines
// (enrolment happens once per device; failed attempts are rate-limited by the relay).
inline constexpr int kSecretHashIterations = 100000;

// A new salted hash of `secret` (16 random salt bytes).
std::string hash_secret(std::string_view secret, int iterations = kSecretHashIterations);

// True when `secret` matches `stored`: a hash_secret() string, or (rows written before salted
// hashes) the plain SHA-256 hex of the secret. Compares in constant time; false for anything
// unreadable.
bool secret_matches(std::string_view secret, std::string_view stored);

// True for a hash that hash_secret() made (not a legacy SHA-256).
bool is_salted_hash(std::string_view stored);

}  // namespace printrelay
