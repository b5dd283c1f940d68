#include "core/rule_text.h"

#include <cctype>
#include <cstdio>

namespace printrelay {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

std::string duration_text(TimeMs ms) {
  if (ms % kMinuteMs != 0) return std::to_string(ms / 1000) + " s";
  if (ms >= 2 * kDayMs && ms % kDayMs == 0) return std::to_string(ms / kDayMs) + " days";
  TimeMs minutes = ms / kMinuteMs;
  if (minutes < 60) return std::to_string(minutes) + " min";
  std::string s = std::to_string(minutes / 60) + " h";
  if (minutes % 60 != 0) s += " " + std::to_string(minutes % 60) + " min";
  return s;
}

std::string times_text(std::int64_t n) { return std::to_string(n) + (n == 1 ? " time" : " times"); }

std::string number_text(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

std::string report_name(const Report& r) { return "report " + r.id + " (" + r.kind + ")"; }

}  // namespace printrelay
