// Parsing JSON text from outside the process (request bodies, sync bodies, envelopes, manifests,
// files a device or relay wrote). nlohmann's parser is iterative, but copying, comparing and
// printing a value recurse once per level: a body nested 150,000 deep would overflow the stack
// later. So every parse refuses nesting deeper than kMaxJsonDepth before nlohmann sees the text.
// Pure; never throws.
#pragma once

#include <cstddef>
#include <string_view>

#include "core/model.h"
#include "core/result.h"

namespace printrelay {

// Arrays and objects may nest at most this deep (a report body is 4-5 levels, tables ~6).
inline constexpr std::size_t kMaxJsonDepth = 64;

// The deepest nesting of arrays and objects in `text`, counting only brackets outside strings;
// stops counting (and returns max_depth + 1) as soon as `max_depth` is exceeded.
std::size_t json_nesting_depth(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

// Any JSON value; bad input (naming the limit) when nested deeper than `max_depth` or not JSON.
Result<Json> parse_json(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

// `text` with every byte that is not part of well-formed UTF-8 (overlong forms, surrogates and
// code points past U+10FFFF included) replaced by '?': safe to put in a JSON string, whose
// writer throws on invalid UTF-8. Messages quote outside text (a field name cut at 64 bytes may
// end inside a character).
std::string valid_utf8(std::string_view text);

// Outside text as an error message quotes it: in double quotes, at most `max_chars` characters
// (then "..."), every byte outside printable ASCII shown as '?'.
std::string quoted(std::string_view text, std::size_t max_chars = 64);

}  // namespace printrelay
