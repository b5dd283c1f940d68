#include "net/secret_hash.h"

#include <gtest/gtest.h>

#include "core/sha256.h"

namespace printrelay {
namespace {

TEST(SecretHash, MatchesOnlyTheSecretItWasMadeFrom) {
  const std::string h = hash_secret("7Q4-KX9P", 1000);
  EXPECT_TRUE(is_salted_hash(h));
  EXPECT_TRUE(secret_matches("7Q4-KX9P", h));
  EXPECT_FALSE(secret_matches("7Q4-KX9p", h));
  EXPECT_FALSE(secret_matches("", h));
}

TEST(SecretHash, IsSaltedSoTheSameSecretHashesDifferently) {
  EXPECT_NE(hash_secret("1234", 1000), hash_secret("1234", 1000));
}

TEST(SecretHash, KeepsTheIterationCountWithTheHash) {
  const std::string h = hash_secret("code", 1234);
  EXPECT_EQ(h.rfind("pbkdf2-sha256$1234$", 0), 0u) << h;
  EXPECT_TRUE(secret_matches("code", h));
}

TEST(SecretHash, KnownVectorOfPbkdf2HmacSha256) {
  // RFC 7914 section 11: PBKDF2-HMAC-SHA256("passwd", "salt", c = 1, dkLen = 64); its first 32
  // bytes.
  const std::string stored =
      "pbkdf2-sha256$1$73616c74$55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc";
  EXPECT_TRUE(secret_matches("passwd", stored));
  EXPECT_FALSE(secret_matches("passwe", stored));
}

TEST(SecretHash, ReadsLegacyPlainSha256Rows) {
  EXPECT_TRUE(secret_matches("1234", sha256_hex("1234")));
  EXPECT_FALSE(secret_matches("1235", sha256_hex("1234")));
  EXPECT_FALSE(is_salted_hash(sha256_hex("1234")));
}

TEST(SecretHash, RefusesWhatItCannotRead) {
  for (const char* bad : {"", "pbkdf2-sha256$", "pbkdf2-sha256$x$00$00", "pbkdf2-sha256$1$zz$00",
                          "pbkdf2-sha256$0$00$" /* no hash */, "pbkdf2-sha256$99999999999$00$00",
                          "pbkdf2-sha256$1$73616c74$55ac", "abc"}) {
    EXPECT_FALSE(secret_matches("passwd", bad)) << bad;
  }
}

}  // namespace
}  // namespace printrelay
