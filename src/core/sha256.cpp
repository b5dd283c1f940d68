#include "core/sha256.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define PRINTRELAY_SHA_NI 1
#endif

namespace printrelay {
namespace {

constexpr std::uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void compress_portable(std::uint32_t h[8], const std::uint8_t* block) {
  std::uint32_t w[64];
  for (int i = 0; i < 16; ++i) {
    w[i] = (std::uint32_t(block[i * 4]) << 24) | (std::uint32_t(block[i * 4 + 1]) << 16) |
           (std::uint32_t(block[i * 4 + 2]) << 8) | std::uint32_t(block[i * 4 + 3]);
  }
  for (int i = 16; i < 64; ++i) {
    std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int i = 0; i < 64; ++i) {
    std::uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
    std::uint32_t ch = (e & f) ^ (~e & g);
    std::uint32_t t1 = hh + s1 + ch + kK[i] + w[i];
    std::uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
    std::uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
    std::uint32_t t2 = s0 + maj;
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
}

void compress_blocks_portable(std::uint32_t h[8], const std::uint8_t* blocks, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) compress_portable(h, blocks + 64 * i);
}

#ifdef PRINTRELAY_SHA_NI
// The x86 SHA extensions (Intel's published instruction sequence): about ten times fewer
// instructions per block than compress_portable(). Every credential check hashes its token, so
// this is a good part of what an idle device poll costs. The state is kept as ABEF/CDGH
// across `count` blocks.
__attribute__((target("sha,sse4.1,ssse3"))) void compress_blocks_sha_ni(std::uint32_t h[8],
                                                                        const std::uint8_t* blocks,
                                                                        std::size_t count) {
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&h[0]));
  __m128i state1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&h[4]));
  tmp = _mm_shuffle_epi32(tmp, 0xB1);                // CDAB
  state1 = _mm_shuffle_epi32(state1, 0x1B);          // EFGH
  __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);  // ABEF
  state1 = _mm_blend_epi16(state1, tmp, 0xF0);       // CDGH
  for (std::size_t b = 0; b < count; ++b) {
    const std::uint8_t* block = blocks + 64 * b;
    const __m128i abef = state0;
    const __m128i cdgh = state1;
    __m128i w[4];
    // 16 groups of four rounds; w[] holds the message schedule, four words per register.
    for (int g = 0; g < 16; ++g) {
      __m128i& cur = w[g % 4];
      if (g < 4) {
        cur = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * g)),
                               byte_swap);
      }
      __m128i msg =
          _mm_add_epi32(cur, _mm_loadu_si128(reinterpret_cast<const __m128i*>(&kK[4 * g])));
      state1 = _mm_sha256rnds2_epu32(state1, state0, msg);
      if (g >= 3 && g <= 14) {
        __m128i& next = w[(g + 1) % 4];
        next = _mm_add_epi32(next, _mm_alignr_epi8(cur, w[(g + 3) % 4], 4));
        next = _mm_sha256msg2_epu32(next, cur);
      }
      msg = _mm_shuffle_epi32(msg, 0x0E);
      state0 = _mm_sha256rnds2_epu32(state0, state1, msg);
      if (g >= 1 && g <= 12) w[(g + 3) % 4] = _mm_sha256msg1_epu32(w[(g + 3) % 4], cur);
    }
    state0 = _mm_add_epi32(state0, abef);
    state1 = _mm_add_epi32(state1, cdgh);
  }
  tmp = _mm_shuffle_epi32(state0, 0x1B);        // FEBA
  state1 = _mm_shuffle_epi32(state1, 0xB1);     // DCHG
  state0 = _mm_blend_epi16(tmp, state1, 0xF0);  // DCBA
  state1 = _mm_alignr_epi8(state1, tmp, 8);     // HGFE
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&h[0]), state0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&h[4]), state1);
}

bool cpu_has_sha_ni() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool sse41 = ecx & bit_SSE4_1, ssse3 = ecx & bit_SSSE3;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return sse41 && ssse3 && (ebx & bit_SHA);
}
#endif

using CompressBlocks = void (*)(std::uint32_t*, const std::uint8_t*, std::size_t);

// Chosen once, at start-up, for the CPU we run on.
const CompressBlocks compress_blocks = [] {
#ifdef PRINTRELAY_SHA_NI
  if (cpu_has_sha_ni()) return &compress_blocks_sha_ni;
#endif
  return &compress_blocks_portable;
}();

}  // namespace

bool detail::sha256_uses_cpu_extensions() { return compress_blocks != &compress_blocks_portable; }

std::string detail::sha256_hex_portable(std::string_view data) {
  // Padding as Sha256Hasher::digest() does, blocks through the portable function only.
  std::uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string padded(data);
  padded += char(0x80);
  while (padded.size() % 64 != 56) padded += char(0);
  const std::uint64_t bits = std::uint64_t(data.size()) * 8;
  for (int i = 7; i >= 0; --i) padded += char(std::uint8_t(bits >> (8 * i)));
  compress_blocks_portable(h, reinterpret_cast<const std::uint8_t*>(padded.data()),
                           padded.size() / 64);
  std::uint8_t out[32];
  for (int i = 0; i < 8; ++i) {
    out[i * 4] = std::uint8_t(h[i] >> 24);
    out[i * 4 + 1] = std::uint8_t(h[i] >> 16);
    out[i * 4 + 2] = std::uint8_t(h[i] >> 8);
    out[i * 4 + 3] = std::uint8_t(h[i]);
  }
  return to_hex(out, sizeof out);
}

void Sha256Hasher::update(std::string_view data) {
  if (data.empty()) return;  // data() may be null, which memcpy must not see
  const auto* p = reinterpret_cast<const std::uint8_t*>(data.data());
  std::size_t n = data.size();
  total_bytes_ += n;
  if (block_used_ > 0) {
    const std::size_t take = std::min(n, sizeof block_ - block_used_);
    std::memcpy(block_ + block_used_, p, take);
    block_used_ += take;
    p += take;
    n -= take;
    if (block_used_ < sizeof block_) return;
    compress_blocks(h_, block_, 1);
    block_used_ = 0;
  }
  compress_blocks(h_, p, n / 64);
  p += n / 64 * 64;
  n %= 64;
  std::memcpy(block_, p, n);
  block_used_ = n;
}

std::array<std::uint8_t, 32> Sha256Hasher::digest() {
  std::uint8_t tail[128] = {};
  std::memcpy(tail, block_, block_used_);
  tail[block_used_] = 0x80;
  const std::size_t tail_len = block_used_ < 56 ? 64 : 128;
  const std::uint64_t bits = total_bytes_ * 8;
  for (int i = 0; i < 8; ++i) tail[tail_len - 1 - i] = std::uint8_t(bits >> (8 * i));
  compress_blocks(h_, tail, tail_len / 64);
  std::array<std::uint8_t, 32> out{};
  for (int i = 0; i < 8; ++i) {
    out[i * 4] = std::uint8_t(h_[i] >> 24);
    out[i * 4 + 1] = std::uint8_t(h_[i] >> 16);
    out[i * 4 + 2] = std::uint8_t(h_[i] >> 8);
    out[i * 4 + 3] = std::uint8_t(h_[i]);
  }
  return out;
}

std::string Sha256Hasher::hex_digest() {
  auto d = digest();
  return to_hex(d.data(), d.size());
}

std::array<std::uint8_t, 32> sha256(std::string_view data) {
  Sha256Hasher hasher;
  hasher.update(data);
  return hasher.digest();
}

std::string to_hex(const std::uint8_t* data, std::size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i * 2] = kDigits[data[i] >> 4];
    s[i * 2 + 1] = kDigits[data[i] & 15];
  }
  return s;
}

std::string sha256_hex(std::string_view data) {
  auto d = sha256(data);
  return to_hex(d.data(), d.size());
}

}  // namespace printrelay
