// SHA-256 in plain C++ (with the x86 SHA instructions where the CPU has them) so that core stays
// free of I/O and third-party crypto. Used for receipts
// (the relay hashes what it stored; the agent compares with what it sent) and credential hashes.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace printrelay {

std::array<std::uint8_t, 32> sha256(std::string_view data);
// Lower-case hex of sha256(data).
std::string sha256_hex(std::string_view data);
std::string to_hex(const std::uint8_t* data, std::size_t n);

// SHA-256 of data given in pieces (a body streamed to disk, a file read in chunks): update() any
// number of times, then digest() once. Gives the same result as sha256() of the concatenation,
// whatever the split. Holds one 64-byte block, never the data.
namespace detail {
// For the tests: whether the CPU's SHA instructions are in use, and the digest computed
// without them (both paths must agree on every input).
bool sha256_uses_cpu_extensions();
std::string sha256_hex_portable(std::string_view data);
}  // namespace detail

class Sha256Hasher {
 public:
  void update(std::string_view data);
  // The digest of everything passed to update(). Call once: it pads the state.
  std::array<std::uint8_t, 32> digest();
  std::string hex_digest();  // lower-case hex of digest()
  std::uint64_t size_bytes() const { return total_bytes_; }

 private:
  std::uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::uint8_t block_[64] = {};
  std::size_t block_used_ = 0;
  std::uint64_t total_bytes_ = 0;
};

}  // namespace printrelay
