#include "core/byte_range.h"

#include <algorithm>
#include <charconv>
#include <string>

#include "core/json_text.h"

namespace printrelay {
namespace {

constexpr std::size_t kMaxDigits = 19;  // INT64_MAX has 19 digits

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// 1 to 19 digits that fit an int64; nothing for anything else (from_chars alone would take a '-').
std::optional<std::int64_t> number(std::string_view text) {
  if (text.empty() || text.size() > kMaxDigits ||
      !std::all_of(text.begin(), text.end(), is_digit)) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool unit_is_bytes(std::string_view unit) {
  constexpr std::string_view kBytes = "bytes";
  if (unit.size() != kBytes.size()) return false;
  for (std::size_t i = 0; i < unit.size(); ++i) {
    char c = unit[i];
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (c != kBytes[i]) return false;
  }
  return true;
}

}  // namespace

Result<RangeSpec> parse_range_header(std::string_view header) {
  const auto equals = header.find('=');
  if (equals == std::string_view::npos || !unit_is_bytes(header.substr(0, equals))) {
    return bad_input("range " + quoted(header) + " is not bytes=FROM-TO, bytes=FROM- or bytes=-N");
  }
  const std::string_view spec = header.substr(equals + 1);
  if (spec.find(',') != std::string_view::npos) {
    return bad_input("range " + quoted(header) + " asks for several ranges; one is served");
  }
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) {
    return bad_input("range " + quoted(header) + " has no '-'");
  }
  const std::string_view from = spec.substr(0, dash);
  const std::string_view to = spec.substr(dash + 1);
  RangeSpec out;
  if (from.empty()) {
    auto n = number(to);
    if (!n) return bad_input("range " + quoted(header) + ": the suffix length is not a number");
    out.suffix = true;
    out.length = *n;
    return out;
  }
  auto first = number(from);
  if (!first) return bad_input("range " + quoted(header) + ": the first byte is not a number");
  out.first = *first;
  if (to.empty()) return out;
  auto last = number(to);
  if (!last) return bad_input("range " + quoted(header) + ": the last byte is not a number");
  if (*last < *first) {
    return bad_input("range " + quoted(header) + " ends before it starts");
  }
  out.last = *last;
  return out;
}

std::optional<ByteRange> resolve_range(const RangeSpec& spec, std::int64_t size_bytes) {
  if (size_bytes <= 0) return std::nullopt;
  if (spec.suffix) {
    if (spec.length <= 0) return std::nullopt;
    return ByteRange{size_bytes - std::min(spec.length, size_bytes), size_bytes - 1};
  }
  if (spec.first < 0 || spec.first >= size_bytes) return std::nullopt;
  const std::int64_t last = std::min(spec.last.value_or(size_bytes - 1), size_bytes - 1);
  if (last < spec.first) return std::nullopt;
  return ByteRange{spec.first, last};
}

}  // namespace printrelay
