#include "core/json_fields.h"

#include <algorithm>
#include <cmath>

#include "core/json_text.h"
#include "core/rule_text.h"

namespace printrelay {

namespace {

bool no_control_chars(std::string_view s) {
  return std::none_of(s.begin(), s.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

}  // namespace

Status check_fields(const Json& object, std::string_view what,
                    std::span<const std::string_view> known) {
  if (!object.is_object()) return ok_status();
  for (const auto& item : object.items()) {
    const std::string& key = item.key();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::vector<std::string> names(known.begin(), known.end());
    return bad_input(std::string(what) + " has an unknown field '" +
                     valid_utf8(std::string_view(key).substr(0, 64)) +
                     "' (known: " + join(names, ", ") + ")");
  }
  return ok_status();
}

Result<bool> read_bool(const Json& v, const std::string& field) {
  if (!v.is_boolean()) return bad_input(field + " must be true or false");
  return v.get<bool>();
}

Result<std::int64_t> read_integer(const Json& v, const std::string& field, std::int64_t lo,
                                  std::int64_t hi) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < lo || v.get<std::int64_t>() > hi) {
    return bad_input(field + " must be an integer " + std::to_string(lo) + ".." +
                     std::to_string(hi));
  }
  return v.get<std::int64_t>();
}

Result<double> read_number(const Json& v, const std::string& field, double lo, double hi) {
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < lo ||
      v.get<double>() > hi) {
    return bad_input(field + " must be a number " + number_text(lo, 3) + ".." + number_text(hi, 3));
  }
  return v.get<double>();
}

Result<TimeMs> read_duration(const Json& v, const std::string& field, TimeMs unit_ms, TimeMs lo_ms,
                             TimeMs hi_ms, const char* range_text) {
  if (!v.is_number() || !std::isfinite(v.get<double>())) {
    return bad_input(field + " must be a number (" + range_text + ")");
  }
  double ms = std::round(v.get<double>() * double(unit_ms));
  if (ms < double(lo_ms) || ms > double(hi_ms)) {
    return bad_input(field + " must be " + range_text);
  }
  return TimeMs(ms);
}

Json duration_json(TimeMs ms, TimeMs unit_ms) {
  if (ms % unit_ms == 0) return ms / unit_ms;
  return double(ms) / double(unit_ms);
}

Result<std::string> read_text(const Json& v, const std::string& field, std::size_t max_len) {
  if (!v.is_string()) return bad_input(field + " must be a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > max_len) {
    return bad_input(field + " must be 1.." + std::to_string(max_len) + " characters");
  }
  if (!no_control_chars(s)) return bad_input(field + " must not contain control characters");
  return s;
}

Result<std::vector<std::string>> read_text_list(const Json& v, const std::string& field,
                                                std::size_t max_items, std::size_t max_len) {
  std::vector<std::string> out;
  if (v.is_string()) {
    auto s = read_text(v, field, max_len);
    if (!s) return s.error();
    out.push_back(*s);
    return out;
  }
  if (!v.is_array()) return bad_input(field + " must be a string or an array of strings");
  if (v.size() > max_items) {
    return bad_input(field + " has more than " + std::to_string(max_items) + " entries");
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto s = read_text(v[i], field + "[" + std::to_string(i) + "]", max_len);
    if (!s) return s.error();
    out.push_back(*s);
  }
  return out;
}

Result<Urgency> read_urgency(const Json& v, const std::string& field) {
  auto u = v.is_string() ? urgency_from(v.get<std::string>()) : std::nullopt;
  if (!u) return bad_input(field + " must be low, normal, high or fatal");
  return *u;
}

std::string string_or_empty(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace printrelay
