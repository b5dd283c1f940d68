// SHA-256 in plain C++ so that core stays free of I/O and third-party crypto. Used for receipts
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

}  // namespace printrelay
