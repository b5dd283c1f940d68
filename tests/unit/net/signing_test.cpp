#include "net/signing.h"

#include <gtest/gtest.h>

#include <cctype>

namespace printrelay {
namespace {

// RFC 8032 section 7.1, TEST 1 (empty message), as the PEM files OpenSSL writes.
const std::string kRfcPrivatePem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
const std::string kRfcPublicPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
    "-----END PUBLIC KEY-----\n";
const std::string kRfcSignature =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b4"
    "6bd25bf5f0595bbe24655141438e7a100b";

// A P-256 key: well-formed PEM, wrong algorithm.
const std::string kEcPublicPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEgNjFEoqYYXRBgpZ4H0tPYYPuHWYf\n"
    "OSSj88LqNv879WQ34QTIg3c1Q/B8IyMm3ZIQ/cigcSPCkGbu7vho7Pl8aA==\n"
    "-----END PUBLIC KEY-----\n";

const std::string kManifest =
    R"({"component":"","key_id":"21fe31dfa154a261","kind":"relay","model":"",)"
    R"("sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",)"
    R"("signed_at":"2026-11-23T10:00:00Z","size":4,"version":"0.2.0"})";

SigningKey fresh_key() {
  auto key = make_signing_key();
  EXPECT_TRUE(key) << key.error().message;
  return key ? *key : SigningKey{};
}

TEST(Signing, MatchesRfc8032TestVector) {
  auto signature = sign_text("", kRfcPrivatePem);
  ASSERT_TRUE(signature) << signature.error().message;
  EXPECT_EQ(*signature, kRfcSignature);
  auto verified = verify_text("", kRfcSignature, kRfcPublicPem);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_TRUE(*verified);
}

TEST(Signing, FreshKeyIsPemAndSignsRoundTrip) {
  SigningKey key = fresh_key();
  EXPECT_EQ(key.private_pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u) << key.private_pem;
  EXPECT_EQ(key.public_pem.rfind("-----BEGIN PUBLIC KEY-----\n", 0), 0u) << key.public_pem;
  auto signature = sign_text(kManifest, key.private_pem);
  ASSERT_TRUE(signature) << signature.error().message;
  ASSERT_EQ(signature->size(), 128u);
  EXPECT_EQ(signature->find_first_not_of("0123456789abcdef"), std::string::npos) << *signature;
  auto verified = verify_text(kManifest, *signature, key.public_pem);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_TRUE(*verified);
  // Ed25519 is deterministic: the same text signs to the same signature.
  EXPECT_EQ(*sign_text(kManifest, key.private_pem), *signature);
}

TEST(Signing, FlippedBitInTextDoesNotVerify) {
  SigningKey key = fresh_key();
  const std::string signature = *sign_text(kManifest, key.private_pem);
  for (std::size_t i : {std::size_t(0), kManifest.size() / 2, kManifest.size() - 1}) {
    std::string tampered = kManifest;
    tampered[i] = char(tampered[i] ^ 0x01);
    auto verified = verify_text(tampered, signature, key.public_pem);
    ASSERT_TRUE(verified) << verified.error().message;
    EXPECT_FALSE(*verified) << "byte " << i;
  }
  auto longer = verify_text(kManifest + " ", signature, key.public_pem);
  ASSERT_TRUE(longer);
  EXPECT_FALSE(*longer);
}

TEST(Signing, FlippedBitInSignatureDoesNotVerify) {
  SigningKey key = fresh_key();
  std::string signature = *sign_text(kManifest, key.private_pem);
  signature[10] = signature[10] == '0' ? '1' : '0';
  auto verified = verify_text(kManifest, signature, key.public_pem);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_FALSE(*verified);
}

TEST(Signing, SignatureByAnotherKeyDoesNotVerify) {
  SigningKey vendor = fresh_key();
  SigningKey other = fresh_key();
  ASSERT_NE(vendor.public_pem, other.public_pem);
  auto verified =
      verify_text(kManifest, *sign_text(kManifest, other.private_pem), vendor.public_pem);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_FALSE(*verified);
}

TEST(Signing, MalformedSignatureIsBadInput) {
  SigningKey key = fresh_key();
  const std::string signature = *sign_text(kManifest, key.private_pem);
  std::string upper = signature;
  for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
  std::string not_hex = signature;
  not_hex[5] = 'g';
  for (const std::string& bad : {std::string(), signature.substr(2), signature + "00",
                                 std::string(128, 'z'), not_hex, upper}) {
    if (bad == signature) continue;  // an all-digit signature has no upper case form
    auto r = verify_text(kManifest, bad, key.public_pem);
    ASSERT_FALSE(r) << "accepted '" << bad << "'";
    EXPECT_EQ(r.error().kind, ErrorKind::kBadInput);
  }
}

TEST(Signing, MalformedKeysAreBadInput) {
  SigningKey key = fresh_key();
  const std::string signature = *sign_text(kManifest, key.private_pem);
  for (const std::string& bad_public :
       {std::string(), std::string("not a key"), kEcPublicPem, key.private_pem}) {
    auto r = verify_text(kManifest, signature, bad_public);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::kBadInput) << r.error().message;
    auto id = key_id(bad_public);
    ASSERT_FALSE(id);
    EXPECT_EQ(id.error().kind, ErrorKind::kBadInput);
  }
  for (const std::string& bad_private : {std::string(), key.public_pem}) {
    auto r = sign_text(kManifest, bad_private);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::kBadInput) << r.error().message;
  }
}

TEST(Signing, EncryptedPrivateKeyIsRefusedWithoutPrompting) {
  // `openssl genpkey -algorithm ed25519 -aes-256-cbc -pass pass:secret`: reading it must fail
  // with an error, not wait for a passphrase on the terminal.
  const std::string encrypted =
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
      "MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAj6QltfGKpctwICCAAw\n"
      "DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEED1Nvq1n3b2UYBFFj0LfeWcEQIWq\n"
      "7gViSUT7APVDefhfzfo2TgugrvMSLapQOxt+258PB7sRqfEwWV4reIo45UlV/c87\n"
      "hh5+hIQqMUR0c7EZP1c=\n"
      "-----END ENCRYPTED PRIVATE KEY-----\n";
  auto r = sign_text(kManifest, encrypted);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kBadInput);
}

TEST(Signing, KeyIdIsStableSixteenHexOfTheRawPublicKey) {
  auto rfc = key_id(kRfcPublicPem);
  ASSERT_TRUE(rfc) << rfc.error().message;
  // sha256(d75a9801...511a), first 16 hex digits.
  EXPECT_EQ(*rfc, "21fe31dfa154a261");

  SigningKey key = fresh_key();
  auto id = key_id(key.public_pem);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->size(), 16u);
  EXPECT_EQ(id->find_first_not_of("0123456789abcdef"), std::string::npos) << *id;
  EXPECT_EQ(*key_id(key.public_pem), *id);
  // The id of the public key derived from the private key is the same id.
  auto derived = public_pem_of(key.private_pem);
  ASSERT_TRUE(derived) << derived.error().message;
  EXPECT_EQ(*derived, key.public_pem);
  EXPECT_EQ(*key_id(*derived), *id);
  EXPECT_NE(*key_id(fresh_key().public_pem), *id);
}

}  // namespace
}  // namespace printrelay
