#include "relay/router.h"

namespace printrelay {

std::vector<std::string> path_segments(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    const std::size_t start = i;
    while (i < path.size() && path[i] != '/') ++i;
    if (i > start) out.emplace_back(path.substr(start, i - start));
  }
  return out;
}

bool match_pattern(const std::vector<std::string>& pattern,
                   const std::vector<std::string>& segments, std::vector<std::string>& params) {
  if (pattern.size() != segments.size()) return false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const std::string& p = pattern[i];
    const bool is_param = p.size() >= 2 && p.front() == '{' && p.back() == '}';
    if (is_param) {
      params.push_back(segments[i]);  // segments are never empty
    } else if (p != segments[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace printrelay
