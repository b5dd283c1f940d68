#include "net/secret_hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <charconv>
#include <vector>

#include "core/sha256.h"
#include "net/tls.h"

namespace printrelay {
namespace {

constexpr std::string_view kScheme = "pbkdf2-sha256";
constexpr int kMaxIterations = 10000000;  // a stored value past this is not ours: refuse it

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

bool unhex(std::string_view h, std::vector<unsigned char>& out) {
  if (h.size() % 2 != 0 || h.empty()) return false;
  out.clear();
  for (std::size_t i = 0; i < h.size(); i += 2) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(h.data() + i, h.data() + i + 2, v, 16);
    if (ec != std::errc() || p != h.data() + i + 2) return false;
    out.push_back(static_cast<unsigned char>(v));
  }
  return true;
}

bool pbkdf2(std::string_view secret, const std::vector<unsigned char>& salt, int iterations,
            unsigned char* out, std::size_t out_len) {
  return PKCS5_PBKDF2_HMAC(secret.data(), int(secret.size()), salt.data(), int(salt.size()),
                           iterations, EVP_sha256(), int(out_len), out) == 1;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string hash_secret(std::string_view secret, int iterations) {
  std::vector<unsigned char> salt;
  unhex(random_hex(16), salt);
  unsigned char out[32];
  if (!pbkdf2(secret, salt, iterations, out, sizeof out)) return "";
  return std::string(kScheme) + "$" + std::to_string(iterations) + "$" +
         hex(salt.data(), salt.size()) + "$" + hex(out, sizeof out);
}

bool is_salted_hash(std::string_view stored) {
  return stored.substr(0, kScheme.size() + 1) == std::string(kScheme) + "$";
}

bool secret_matches(std::string_view secret, std::string_view stored) {
  if (!is_salted_hash(stored)) {
    // A row from before salted hashes: sha256 hex.
    return stored.size() == 64 && equal_constant_time(sha256_hex(secret), stored);
  }
  std::string_view rest = stored.substr(kScheme.size() + 1);
  const auto d1 = rest.find('$');
  if (d1 == std::string_view::npos) return false;
  const auto d2 = rest.find('$', d1 + 1);
  if (d2 == std::string_view::npos) return false;
  int iterations = 0;
  auto [p, ec] = std::from_chars(rest.data(), rest.data() + d1, iterations);
  if (ec != std::errc() || p != rest.data() + d1 || iterations < 1 || iterations > kMaxIterations)
    return false;
  std::vector<unsigned char> salt, want;
  if (!unhex(rest.substr(d1 + 1, d2 - d1 - 1), salt) || !unhex(rest.substr(d2 + 1), want) ||
      want.size() != 32)
    return false;
  unsigned char got[32];
  if (!pbkdf2(secret, salt, iterations, got, sizeof got)) return false;
  return CRYPTO_memcmp(got, want.data(), sizeof got) == 0;
}

}  // namespace printrelay
