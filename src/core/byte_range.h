// The HTTP Range header of an artifact download (RFC 9110 section 14.1.2), strictly: what a
// resuming download sends and nothing more. Pure; never throws.
//
// Accepted: exactly one range, "bytes=FROM-TO", "bytes=FROM-" or "bytes=-SUFFIX", where each
// number is 1 to 19 ASCII digits that fit an int64 (leading zeros allowed). The unit name is
// case-insensitive ("Bytes=" too). Nothing else: no spaces, no signs, no other unit, no list.
//
// Two kinds of refusal, which the relay answers differently:
// - malformed (parse_range_header fails with kBadInput, HTTP 400): not the grammar above, a
//   number too large for int64, several ranges, or TO < FROM (RFC 9110: such a spec is invalid);
// - unsatisfiable (resolve_range gives nothing, HTTP 416): well formed but no byte of the file is
//   in it (FROM at or past the end, a zero suffix, or an empty file).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/result.h"

namespace printrelay {

// A range as written, before it is held against a file's size.
struct RangeSpec {
  bool suffix = false;               // "bytes=-N": the last `length` bytes
  std::int64_t first = 0;            // FROM (when !suffix)
  std::optional<std::int64_t> last;  // TO (when !suffix); none: to the end
  std::int64_t length = 0;           // N (when suffix)
};

// The bytes to send: offsets of the first and the last byte, both inside the file.
struct ByteRange {
  std::int64_t first = 0;
  std::int64_t last = 0;
  std::int64_t length() const { return last - first + 1; }
};

// The header's value ("bytes=0-499"); bad input, naming what is wrong, when malformed.
Result<RangeSpec> parse_range_header(std::string_view header);

// The bytes of a file of `size_bytes` that `spec` asks for; TO past the end is cut at the end and
// a suffix longer than the file is the whole file. Nothing when no byte is in the range.
std::optional<ByteRange> resolve_range(const RangeSpec& spec, std::int64_t size_bytes);

}  // namespace printrelay
