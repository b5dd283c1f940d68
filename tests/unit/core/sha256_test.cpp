#include "core/sha256.h"

#include <gtest/gtest.h>

#include <iostream>
#include <string>

namespace printrelay {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PaddingBoundaries) {
  // 55, 56 and 64 bytes straddle the one-block / two-block padding boundary.
  EXPECT_EQ(sha256_hex(std::string(55, 'x')).size(), 64u);
  EXPECT_NE(sha256_hex(std::string(55, 'x')), sha256_hex(std::string(56, 'x')));
  EXPECT_EQ(sha256_hex(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

// Streamed hashing (an upload written to disk chunk by chunk) must give the one-shot digest for
// every way of cutting the input, in particular pieces that straddle 64-byte blocks and the
// 55/56-byte padding boundary.
TEST(Sha256Hasher, AnySplitGivesTheOneShotDigest) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += char('a' + (i * 7) % 26);
  for (std::size_t len : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 119u, 120u, 128u, 1000u}) {
    const std::string_view whole(data.data(), len);
    const std::string expected = sha256_hex(whole);
    for (std::size_t piece : {1u, 3u, 55u, 63u, 64u, 65u, 200u}) {
      Sha256Hasher h;
      for (std::size_t at = 0; at < len; at += piece) h.update(whole.substr(at, piece));
      EXPECT_EQ(h.size_bytes(), len);
      EXPECT_EQ(h.hex_digest(), expected) << "length " << len << ", pieces of " << piece;
    }
  }
}

TEST(Sha256Hasher, KnownVectorInPieces) {
  Sha256Hasher h;
  h.update("abcdbcdecdefdefgefghfghighij");
  h.update("");
  h.update("hijkijkljklmklmnlmnomnopnopq");
  EXPECT_EQ(h.hex_digest(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256Hasher million;
  const std::string thousand(1000, 'a');
  for (int i = 0; i < 1000; ++i) million.update(thousand);
  EXPECT_EQ(million.hex_digest(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// The SHA-instruction path (taken on CPUs that have it) and the portable one agree on every
// length across the one/two-block padding boundary and on multi-block inputs.
TEST(Sha256, CpuExtensionsAgreeWithPortable) {
  std::string data;
  std::uint32_t x = 12345;
  for (int i = 0; i < 1100; ++i) {
    x = x * 1103515245u + 12345u;  // fixed pseudo-random bytes: the outcome is the same every run
    data += char(x >> 24);
  }
  for (std::size_t len = 0; len <= data.size(); len += (len < 200 ? 1 : 37)) {
    const std::string_view part(data.data(), len);
    EXPECT_EQ(sha256_hex(part), detail::sha256_hex_portable(part)) << "length " << len;
  }
  EXPECT_EQ(detail::sha256_hex_portable("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::cout << "sha256: CPU extensions "
            << (detail::sha256_uses_cpu_extensions() ? "in use" : "not available") << "\n";
}

}  // namespace printrelay
