#include "core/json_text.h"

#include <string>

namespace printrelay {

std::size_t json_nesting_depth(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > deepest) deepest = depth;
        if (deepest > max_depth) return max_depth + 1;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;  // unbalanced text is the parser's to refuse
        break;
      default:
        break;
    }
  }
  return deepest;
}

Result<Json> parse_json(std::string_view text, std::size_t max_depth) {
  if (json_nesting_depth(text, max_depth) > max_depth) {
    return bad_input("JSON nests deeper than " + std::to_string(max_depth) + " levels");
  }
  // nlohmann takes a NUL byte for the end of the text and would ignore what follows; JSON text
  // never holds one (strings escape it).
  if (text.find('\0') != std::string_view::npos) return bad_input("not valid JSON (a NUL byte)");
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad_input("not valid JSON");
  return j;
}

}  // namespace printrelay
