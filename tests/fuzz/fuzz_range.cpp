// Fuzz target: the HTTP Range header of an artifact download (core/byte_range.h). The input is
// the header's value. parse_range_header must accept exactly the grammar its header documents
// (read a second time here, differently), and resolve_range must keep every range it gives inside
// the file, for file sizes around the range's own numbers.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "core/byte_range.h"
#include "fuzz_check.h"

namespace printrelay {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

// 1 to 19 ASCII digits whose value fits an int64.
std::optional<std::int64_t> reference_number(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t value = 0;  // 19 digits stay below 2^64
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + std::uint64_t(c - '0');
  }
  if (value > std::uint64_t(kMax)) return std::nullopt;
  return std::int64_t(value);
}

// The documented grammar: "bytes" in any case, '=', then FROM-TO, FROM- or -SUFFIX.
std::optional<RangeSpec> reference_parse(std::string_view header) {
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() < kUnit.size()) return std::nullopt;
  for (std::size_t i = 0; i < kUnit.size(); ++i) {
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (c != kUnit[i]) return std::nullopt;
  }
  const std::string_view spec = header.substr(kUnit.size());
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos || spec.find('-', dash + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view from = spec.substr(0, dash), to = spec.substr(dash + 1);
  RangeSpec out;
  if (from.empty()) {
    auto n = reference_number(to);
    if (!n) return std::nullopt;
    out.suffix = true;
    out.length = *n;
    return out;
  }
  auto first = reference_number(from);
  if (!first) return std::nullopt;
  out.first = *first;
  if (to.empty()) return out;
  auto last = reference_number(to);
  if (!last || *last < *first) return std::nullopt;
  out.last = *last;
  return out;
}

void check_resolved(const RangeSpec& spec, std::int64_t size) {
  const auto range = resolve_range(spec, size);
  if (!range) {
    // Unsatisfiable only when no byte of the file is in the range.
    FUZZ_CHECK(size <= 0 || (spec.suffix ? spec.length == 0 : spec.first >= size));
    return;
  }
  FUZZ_CHECK(size > 0);
  FUZZ_CHECK(0 <= range->first && range->first <= range->last && range->last < size);
  FUZZ_CHECK(range->length() >= 1 && range->length() <= size);
  if (spec.suffix) {
    FUZZ_CHECK(range->last == size - 1 && range->length() == std::min(spec.length, size));
  } else {
    FUZZ_CHECK(range->first == spec.first);
    FUZZ_CHECK(range->last == std::min(spec.last.value_or(size - 1), size - 1));
  }
}

}  // namespace
}  // namespace printrelay

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace printrelay;
  const std::string_view header = fuzz::text_of(data, size);
  const auto parsed = parse_range_header(header);
  const auto expected = reference_parse(header);
  FUZZ_CHECK(parsed.ok() == expected.has_value());
  if (!parsed) {
    FUZZ_CHECK(parsed.error().kind == ErrorKind::kBadInput);
    fuzz::check_refusal(parsed.error());
    return 0;
  }
  const RangeSpec& spec = *parsed;
  FUZZ_CHECK(spec.suffix == expected->suffix);
  if (spec.suffix) {
    FUZZ_CHECK(spec.length == expected->length);
  } else {
    FUZZ_CHECK(spec.first == expected->first && spec.last == expected->last);
  }

  std::vector<std::int64_t> sizes = {-1, 0, 1, 2, 4096, kMax - 1, kMax};
  for (std::int64_t n : {spec.first, spec.last.value_or(0), spec.length}) {
    sizes.push_back(n);
    if (n > 0) sizes.push_back(n - 1);
    if (n < kMax) sizes.push_back(n + 1);
  }
  for (std::int64_t s : sizes) check_resolved(spec, s);
  return 0;
}
