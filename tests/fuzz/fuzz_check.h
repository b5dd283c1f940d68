// What the fuzz targets (tests/fuzz/fuzz_*.cpp, docs/fuzzing.md) share. An invariant that does not
// hold aborts with its text and place, and so does any exception that leaves a function whose
// contract says failures are values: libFuzzer keeps the input as a crash either way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/codec.h"
#include "core/result.h"

#define FUZZ_CHECK(cond) ((cond) ? void(0) : ::printrelay::fuzz::fail(#cond, __FILE__, __LINE__))

namespace printrelay::fuzz {

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz invariant failed at %s:%d: %s\n", file, line, what);
  std::abort();
}

inline std::string_view text_of(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A refusal must reach the client: the relay sends error_json(e).dump(), and messages quote the
// input, so a message that cut a UTF-8 character in half would throw there instead.
inline void check_refusal(const Error& e) { static_cast<void>(error_json(e).dump()); }

template <typename T>
void check_refusal(const Result<T>& r) {
  if (!r) check_refusal(r.error());
}

}  // namespace printrelay::fuzz
