#include "core/monitoring_rules.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <set>
#include <tuple>

#include "core/firmware_job.h"

namespace printrelay {

namespace {

constexpr TimeMs kMinuteMs = 60 * 1000;
constexpr TimeMs kHourMs = 60 * kMinuteMs;
constexpr TimeMs kDayMs = 24 * kHourMs;
constexpr TimeMs kYearMs = 365 * kDayMs;
constexpr std::size_t kMaxNameLength = 64;
constexpr std::size_t kMaxModelLength = 128;
constexpr std::size_t kMaxDeviceVersionLength = 128;
constexpr std::size_t kMaxAdviceLength = 500;
constexpr std::size_t kMaxEmailLength = 254;
constexpr std::size_t kMaxWebhookLength = 2048;

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

// "90 s", "45 min", "1 h 30 min", "24 h", "7 days", "1 day".
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

// A number with at most `decimals` decimals, trailing zeros dropped: 2.5, 14, 0.33.
std::string number_text(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool no_control_chars(std::string_view s) {
  return std::none_of(s.begin(), s.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// ----- strict JSON reading for operator-written tables -----

Status check_keys(const Json& j, const std::string& what,
                  std::initializer_list<const char*> known) {
  for (const auto& item : j.items()) {
    bool ok =
        std::any_of(known.begin(), known.end(), [&](const char* k) { return item.key() == k; });
    if (ok) continue;
    std::vector<std::string> names(known.begin(), known.end());
    return bad_input(what + " has an unknown field '" + item.key() +
                     "' (known: " + join(names, ", ") + ")");
  }
  return ok_status();
}

Result<bool> boolean(const Json& v, const std::string& field) {
  if (!v.is_boolean()) return bad_input(field + " must be true or false");
  return v.get<bool>();
}

Result<std::int64_t> integer(const Json& v, const std::string& field, std::int64_t lo,
                             std::int64_t hi) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < lo || v.get<std::int64_t>() > hi) {
    return bad_input(field + " must be an integer " + std::to_string(lo) + ".." +
                     std::to_string(hi));
  }
  return v.get<std::int64_t>();
}

Result<double> number(const Json& v, const std::string& field, double lo, double hi) {
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < lo ||
      v.get<double>() > hi) {
    return bad_input(field + " must be a number " + number_text(lo, 3) + ".." + number_text(hi, 3));
  }
  return v.get<double>();
}

// A duration given in `unit_ms` units (hours, days), fractions allowed, rounded to milliseconds.
Result<TimeMs> duration(const Json& v, const std::string& field, TimeMs unit_ms, TimeMs lo_ms,
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

// A duration back in `unit_ms` units: an integer when whole, else a fraction.
Json duration_json(TimeMs ms, TimeMs unit_ms) {
  if (ms % unit_ms == 0) return ms / unit_ms;
  return double(ms) / double(unit_ms);
}

Result<std::string> text(const Json& v, const std::string& field, std::size_t max_len) {
  if (!v.is_string()) return bad_input(field + " must be a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > max_len) {
    return bad_input(field + " must be 1.." + std::to_string(max_len) + " characters");
  }
  if (!no_control_chars(s)) return bad_input(field + " must not contain control characters");
  return s;
}

// One string or an array of strings, each 1..max_len characters without control characters.
Result<std::vector<std::string>> text_list(const Json& v, const std::string& field,
                                           std::size_t max_items, std::size_t max_len) {
  std::vector<std::string> out;
  if (v.is_string()) {
    auto s = text(v, field, max_len);
    if (!s) return s.error();
    out.push_back(*s);
    return out;
  }
  if (!v.is_array()) return bad_input(field + " must be a string or an array of strings");
  if (v.size() > max_items) {
    return bad_input(field + " has more than " + std::to_string(max_items) + " entries");
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto s = text(v[i], field + "[" + std::to_string(i) + "]", max_len);
    if (!s) return s.error();
    out.push_back(*s);
  }
  return out;
}

Result<Urgency> urgency_field(const Json& v, const std::string& field) {
  auto u = v.is_string() ? urgency_from(v.get<std::string>()) : std::nullopt;
  if (!u) return bad_input(field + " must be low, normal, high or fatal");
  return *u;
}

// ----- lenient reading of device report bodies -----

std::string str_or(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "report <id> (<kind>)" for notes about stored reports.
std::string report_name(const Report& r) { return "report " + r.id + " (" + r.kind + ")"; }

// ===== 1. Compatibility helpers =====

bool valid_version(std::string_view v) {
  if (v.empty() || v.size() > kMaxVersionLength) return false;
  if (v.front() == '.' || v.back() == '.' || v.find("..") != std::string_view::npos) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '+' ||
           c == '-';
  });
}

bool valid_unit_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxNameLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

const char* op_text(VersionClause::Op op) {
  switch (op) {
    case VersionClause::Op::kAny:
      return "*";
    case VersionClause::Op::kEq:
      return "";
    case VersionClause::Op::kGe:
      return ">=";
    case VersionClause::Op::kGt:
      return ">";
    case VersionClause::Op::kLe:
      return "<=";
    case VersionClause::Op::kLt:
      return "<";
  }
  return "?";
}

std::string ranges_text(const std::vector<VersionRange>& ranges) {
  std::vector<std::string> parts;
  for (const auto& r : ranges) parts.push_back(to_text(r));
  return join(parts, ", ");
}

// A list of ranges: one string or a non-empty array of strings.
Result<std::vector<VersionRange>> parse_range_list(const Json& v, const std::string& field) {
  if (v.is_array() && v.empty()) return bad_input(field + " must not be an empty list");
  auto texts = text_list(v, field, kMaxRangesPerList, 4 * kMaxVersionLength);
  if (!texts) return texts.error();
  std::vector<VersionRange> out;
  for (const auto& t : *texts) {
    auto r = parse_version_range(t);
    if (!r) return bad_input(field + ": " + r.error().message);
    out.push_back(std::move(*r));
  }
  return out;
}

Json range_list_json(const std::vector<VersionRange>& ranges) {
  Json a = Json::array();
  for (const auto& r : ranges) a.push_back(to_text(r));
  return a;
}

Result<std::map<std::string, std::vector<VersionRange>>> parse_unit_conditions(
    const Json& v, const std::string& field) {
  if (!v.is_object() || v.empty()) {
    return bad_input(field + " must be a non-empty object of unit -> version range");
  }
  if (v.size() > kMaxUnitsPerModel) {
    return bad_input(field + " names more than " + std::to_string(kMaxUnitsPerModel) + " units");
  }
  std::map<std::string, std::vector<VersionRange>> out;
  for (const auto& item : v.items()) {
    if (!valid_unit_id(item.key())) {
      return bad_input(field + ": unit id '" + item.key() +
                       "' must be 1..64 characters of [A-Za-z0-9._-]");
    }
    auto ranges = parse_range_list(item.value(), field + "." + item.key());
    if (!ranges) return ranges.error();
    out[item.key()] = std::move(*ranges);
  }
  return out;
}

Json conditions_json(const std::map<std::string, std::vector<VersionRange>>& c) {
  Json o = Json::object();
  for (const auto& [unit, ranges] : c) {
    o[unit] = ranges.size() == 1 ? Json(to_text(ranges.front())) : range_list_json(ranges);
  }
  return o;
}

std::string conditions_text(const std::map<std::string, std::vector<VersionRange>>& c) {
  std::vector<std::string> parts;
  for (const auto& [unit, ranges] : c) parts.push_back(unit + " " + ranges_text(ranges));
  return join(parts, " and ");
}

Result<UnitRule> parse_unit_rule(const Json& j, const std::string& field) {
  if (!j.is_object()) return bad_input(field + " must be an object");
  if (auto st = check_keys(j, field, {"compatible", "recommended", "vendors", "required"}); !st) {
    return st.error();
  }
  UnitRule u;
  if (auto it = j.find("compatible"); it != j.end()) {
    auto r = parse_range_list(*it, field + ".compatible");
    if (!r) return r.error();
    u.compatible = std::move(*r);
  }
  if (auto it = j.find("recommended"); it != j.end()) {
    if (!it->is_string() || !valid_version(it->get<std::string>())) {
      return bad_input(field +
                       ".recommended must be a version: 1..64 characters of [A-Za-z0-9._+-]");
    }
    u.recommended = it->get<std::string>();
    if (!u.compatible.empty() && !satisfies_any(u.compatible, u.recommended)) {
      return bad_input(field + ".recommended " + u.recommended +
                       " is not one of its compatible versions (" + ranges_text(u.compatible) +
                       ")");
    }
  }
  if (auto it = j.find("vendors"); it != j.end()) {
    auto v = text_list(*it, field + ".vendors", kMaxRangesPerList, kMaxNameLength);
    if (!v) return v.error();
    u.vendors = std::move(*v);
  }
  if (auto it = j.find("required"); it != j.end()) {
    auto b = boolean(*it, field + ".required");
    if (!b) return b.error();
    u.required = *b;
  }
  return u;
}

using UnitIndex = std::map<std::string, const DeviceUnit*>;

UnitIndex index_units(const std::vector<DeviceUnit>& units) {
  UnitIndex idx;
  for (const auto& u : units) idx.emplace(u.id, &u);
  return idx;
}

bool conditions_hold(const std::map<std::string, std::vector<VersionRange>>& conditions,
                     const UnitIndex& fitted) {
  return std::all_of(conditions.begin(), conditions.end(), [&](const auto& c) {
    auto it = fitted.find(c.first);
    return it != fitted.end() && !it->second->version.empty() &&
           satisfies_any(c.second, it->second->version);
  });
}

// The "requires" consequences that fail on `fitted`: (requirement index, unit, why).
struct RequirementFailure {
  std::size_t index = 0;
  std::string unit;
  std::string found_version;
  std::string why;
};

std::vector<RequirementFailure> failed_requirements(const CompatibilityRules& rules,
                                                    const UnitIndex& fitted) {
  std::vector<RequirementFailure> out;
  for (std::size_t i = 0; i < rules.requirements.size(); ++i) {
    const auto& req = rules.requirements[i];
    if (!conditions_hold(req.if_units, fitted)) continue;
    for (const auto& [unit, ranges] : req.then_units) {
      auto it = fitted.find(unit);
      std::string when = " when " + conditions_text(req.if_units);
      if (it == fitted.end()) {
        out.push_back({i, unit, "",
                       unit + " is not fitted but " + ranges_text(ranges) + " is required" + when});
        continue;
      }
      const std::string& v = it->second->version;
      if (v.empty()) {
        out.push_back(
            {i, unit, "",
             unit + " reported no version but " + ranges_text(ranges) + " is required" + when});
        continue;
      }
      if (!satisfies_any(ranges, v)) {
        out.push_back(
            {i, unit, v,
             unit + " " + v + " does not meet " + ranges_text(ranges) + ", required" + when});
      }
    }
  }
  return out;
}

}  // namespace

// ===== 1. Compatibility =====

Result<VersionRange> parse_version_range(std::string_view text_in) {
  VersionRange r;
  std::string_view s = text_in;
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (true) {
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    if (s.empty()) break;
    std::size_t end = 0;
    while (end < s.size() && !space(s[end])) ++end;
    std::string_view token = s.substr(0, end);
    s.remove_prefix(end);
    VersionClause c;
    if (token == "*") {
      c.op = VersionClause::Op::kAny;
      r.clauses.push_back(c);
      continue;
    }
    struct OpText {
      const char* text;
      VersionClause::Op op;
    };
    c.op = VersionClause::Op::kEq;
    for (auto [t, op] : {OpText{">=", VersionClause::Op::kGe}, OpText{"<=", VersionClause::Op::kLe},
                         OpText{">", VersionClause::Op::kGt}, OpText{"<", VersionClause::Op::kLt},
                         OpText{"=", VersionClause::Op::kEq}}) {
      std::string_view ts(t);
      if (token.substr(0, ts.size()) == ts) {
        c.op = op;
        token.remove_prefix(ts.size());
        break;
      }
    }
    if (!valid_version(token)) {
      return bad_input("version range '" + std::string(text_in) + "': '" + std::string(token) +
                       "' is not a version (1..64 characters of [A-Za-z0-9._+-], after an "
                       "optional >=, >, <=, < or =)");
    }
    c.version = std::string(token);
    r.clauses.push_back(std::move(c));
  }
  if (r.clauses.empty()) {
    return bad_input("version range is empty (use \"*\" for any version)");
  }
  if (r.clauses.size() > 1 &&
      std::any_of(r.clauses.begin(), r.clauses.end(),
                  [](const VersionClause& c) { return c.op == VersionClause::Op::kAny; })) {
    return bad_input("version range '" + std::string(text_in) + "': \"*\" must stand alone");
  }
  return r;
}

std::string to_text(const VersionRange& r) {
  std::vector<std::string> parts;
  for (const auto& c : r.clauses) {
    parts.push_back(c.op == VersionClause::Op::kAny ? "*" : op_text(c.op) + c.version);
  }
  return join(parts, " ");
}

bool satisfies(const VersionRange& r, std::string_view version) {
  if (r.clauses.empty()) return false;
  for (const auto& c : r.clauses) {
    if (c.op == VersionClause::Op::kAny) continue;
    if (version.empty()) return false;
    int cmp = compare_versions(version, c.version);
    bool ok = false;
    switch (c.op) {
      case VersionClause::Op::kAny:
        ok = true;
        break;
      case VersionClause::Op::kEq:
        ok = cmp == 0;
        break;
      case VersionClause::Op::kGe:
        ok = cmp >= 0;
        break;
      case VersionClause::Op::kGt:
        ok = cmp > 0;
        break;
      case VersionClause::Op::kLe:
        ok = cmp <= 0;
        break;
      case VersionClause::Op::kLt:
        ok = cmp < 0;
        break;
    }
    if (!ok) return false;
  }
  return true;
}

bool satisfies_any(const std::vector<VersionRange>& ranges, std::string_view version) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const VersionRange& r) { return satisfies(r, version); });
}

Result<CompatibilityRules> parse_compatibility_rules(const Json& j) {
  if (!j.is_object()) return bad_input("compatibility rules must be an object");
  std::string what = "compatibility rules";
  if (auto m = j.find("model"); m != j.end() && m->is_string()) {
    what += " of " + m->get<std::string>();
  }
  if (auto st = check_keys(
          j, what,
          {"model", "units", "requires", "unknown_units", "auto_update", "allow_downgrade"});
      !st) {
    return st.error();
  }
  CompatibilityRules r;
  auto model = j.find("model");
  if (model == j.end()) return bad_input("compatibility rules need a 'model'");
  auto m = text(*model, "model", kMaxModelLength);
  if (!m) return m.error();
  r.model = *m;
  const std::string prefix = r.model + ": ";
  auto units = j.find("units");
  if (units == j.end() || !units->is_object()) {
    return bad_input(prefix + "'units' must be an object of unit id -> rule");
  }
  if (units->size() > kMaxUnitsPerModel) {
    return bad_input(prefix + "more than " + std::to_string(kMaxUnitsPerModel) + " units");
  }
  for (const auto& item : units->items()) {
    if (!valid_unit_id(item.key())) {
      return bad_input(prefix + "unit id '" + item.key() +
                       "' must be 1..64 characters of [A-Za-z0-9._-]");
    }
    auto u = parse_unit_rule(item.value(), prefix + "units." + item.key());
    if (!u) return u.error();
    r.units[item.key()] = std::move(*u);
  }
  if (auto it = j.find("requires"); it != j.end()) {
    if (!it->is_array() || it->size() > kMaxRequiresPerModel) {
      return bad_input(prefix + "'requires' must be an array of at most " +
                       std::to_string(kMaxRequiresPerModel) + " {\"if\", \"then\"} objects");
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
      const Json& req = (*it)[i];
      std::string field = prefix + "requires[" + std::to_string(i) + "]";
      if (!req.is_object()) return bad_input(field + " must be an object");
      if (auto st = check_keys(req, field, {"if", "then"}); !st) return st.error();
      if (!req.contains("if") || !req.contains("then")) {
        return bad_input(field + " needs both 'if' and 'then'");
      }
      UnitRequirement ur;
      auto ifs = parse_unit_conditions(req["if"], field + ".if");
      if (!ifs) return ifs.error();
      auto thens = parse_unit_conditions(req["then"], field + ".then");
      if (!thens) return thens.error();
      ur.if_units = std::move(*ifs);
      ur.then_units = std::move(*thens);
      r.requirements.push_back(std::move(ur));
    }
  }
  if (auto it = j.find("unknown_units"); it != j.end()) {
    if (*it == "ignore") {
      r.unknown_units_incompatible = false;
    } else if (*it == "incompatible") {
      r.unknown_units_incompatible = true;
    } else {
      return bad_input(prefix + "unknown_units must be \"ignore\" or \"incompatible\"");
    }
  }
  for (auto [key, member] : {std::pair{"auto_update", &CompatibilityRules::auto_update},
                             std::pair{"allow_downgrade", &CompatibilityRules::allow_downgrade}}) {
    if (auto it = j.find(key); it != j.end()) {
      auto b = boolean(*it, prefix + key);
      if (!b) return b.error();
      r.*member = *b;
    }
  }
  // The table must be able to fix what it finds: the recommended versions, installed together,
  // meet every requirement whose units all have one.
  std::vector<DeviceUnit> recommended;
  for (const auto& [id, u] : r.units) {
    if (!u.recommended.empty()) recommended.push_back({id, u.recommended, "", ""});
  }
  UnitIndex idx = index_units(recommended);
  for (const auto& f : failed_requirements(r, idx)) {
    if (!idx.count(f.unit)) continue;  // no recommended version to judge
    return bad_input(prefix + "requires[" + std::to_string(f.index) +
                     "] is broken by the recommended versions: " + f.why);
  }
  return r;
}

Json to_json(const CompatibilityRules& r) {
  Json units = Json::object();
  for (const auto& [id, u] : r.units) {
    Json o = Json::object();
    if (!u.compatible.empty()) o["compatible"] = range_list_json(u.compatible);
    if (!u.recommended.empty()) o["recommended"] = u.recommended;
    if (!u.vendors.empty()) o["vendors"] = u.vendors;
    if (u.required) o["required"] = true;
    units[id] = o;
  }
  Json reqs = Json::array();
  for (const auto& req : r.requirements) {
    reqs.push_back(
        {{"if", conditions_json(req.if_units)}, {"then", conditions_json(req.then_units)}});
  }
  return {{"model", r.model},
          {"units", units},
          {"requires", reqs},
          {"unknown_units", r.unknown_units_incompatible ? "incompatible" : "ignore"},
          {"auto_update", r.auto_update},
          {"allow_downgrade", r.allow_downgrade}};
}

Result<CompatibilityTable> parse_compatibility_table(const Json& j) {
  if (j.is_object()) {
    auto r = parse_compatibility_rules(j);
    if (!r) return r.error();
    CompatibilityTable t;
    t[r->model] = std::move(*r);
    return t;
  }
  if (!j.is_array()) {
    return bad_input("a compatibility table must be an array of model rules (or one object)");
  }
  if (j.size() > kMaxCompatibilityModels) {
    return bad_input("a compatibility table holds at most " +
                     std::to_string(kMaxCompatibilityModels) + " models");
  }
  CompatibilityTable t;
  for (std::size_t i = 0; i < j.size(); ++i) {
    auto r = parse_compatibility_rules(j[i]);
    if (!r)
      return bad_input("compatibility table[" + std::to_string(i) + "]: " + r.error().message);
    if (t.count(r->model)) {
      return bad_input("compatibility table lists model " + r->model + " twice");
    }
    t[r->model] = std::move(*r);
  }
  return t;
}

Json to_json(const CompatibilityTable& t) {
  Json a = Json::array();
  for (const auto& [model, r] : t) a.push_back(to_json(r));
  return a;
}

Result<DeviceStructure> parse_device_structure(const Json& j) {
  if (!j.is_object()) {
    return bad_input("structure must be an object (a structure report body or a firmware summary)");
  }
  DeviceStructure s;
  std::set<std::string> seen;
  auto add = [&](DeviceUnit u) -> Status {
    if (u.id.empty() || u.id.size() > kMaxNameLength) {
      return bad_input("structure: unit id must be 1..64 characters");
    }
    if (u.version.size() > kMaxDeviceVersionLength) {
      return bad_input("structure: unit " + u.id + ": software version longer than " +
                       std::to_string(kMaxDeviceVersionLength) + " characters");
    }
    if (!seen.insert(u.id).second) return bad_input("structure lists unit " + u.id + " twice");
    s.units.push_back(std::move(u));
    return ok_status();
  };
  auto units = j.find("units");
  if (units == j.end()) {
    for (const auto& item : j.items()) {
      if (!item.value().is_string() && !item.value().is_null()) {
        return bad_input("firmware summary: '" + item.key() + "' must be a version string");
      }
      DeviceUnit u;
      u.id = item.key();
      if (item.value().is_string()) u.version = item.value().get<std::string>();
      if (auto st = add(std::move(u)); !st) return st.error();
    }
    return s;
  }
  if (!units->is_array()) return bad_input("structure: 'units' must be an array");
  if (auto m = j.find("model"); m != j.end()) {
    if (!m->is_string()) return bad_input("structure: 'model' must be a string");
    s.model = m->get<std::string>();
  }
  for (std::size_t i = 0; i < units->size(); ++i) {
    const Json& e = (*units)[i];
    std::string field = "structure: units[" + std::to_string(i) + "]";
    if (!e.is_object()) return bad_input(field + " must be an object");
    auto id = e.find("id");
    if (id == e.end() || !id->is_string()) return bad_input(field + " needs an 'id' string");
    for (const char* key : {"software_version", "vendor_id", "serial"}) {
      auto it = e.find(key);
      if (it != e.end() && !it->is_string() && !it->is_null()) {
        return bad_input(field + "." + key + " must be a string");
      }
    }
    DeviceUnit u;
    u.id = id->get<std::string>();
    u.version = str_or(e, "software_version");
    u.serial = str_or(e, "serial");
    u.vendor_id = str_or(e, "vendor_id");
    if (auto st = add(std::move(u)); !st) return st.error();
  }
  return s;
}

const char* to_string(Compatibility c) {
  switch (c) {
    case Compatibility::kCompatible:
      return "compatible";
    case Compatibility::kIncompatible:
      return "incompatible";
    case Compatibility::kNoRules:
      return "no_rules";
  }
  return "unknown";
}

const char* to_string(UnitFindingKind k) {
  switch (k) {
    case UnitFindingKind::kVersionIncompatible:
      return "version_incompatible";
    case UnitFindingKind::kVersionUnknown:
      return "version_unknown";
    case UnitFindingKind::kVendorNotAllowed:
      return "vendor_not_allowed";
    case UnitFindingKind::kMissingUnit:
      return "missing_unit";
    case UnitFindingKind::kUnknownUnit:
      return "unknown_unit";
    case UnitFindingKind::kRequirementNotMet:
      return "requirement_not_met";
    case UnitFindingKind::kNotRecommended:
      return "not_recommended";
  }
  return "unknown";
}

StructureVerdict judge_units(const CompatibilityRules& rules,
                             const std::vector<DeviceUnit>& units) {
  StructureVerdict v;
  v.model = rules.model;
  UnitIndex fitted = index_units(units);
  auto recommended_of = [&](const std::string& unit) {
    auto it = rules.units.find(unit);
    return it == rules.units.end() ? std::string() : it->second.recommended;
  };
  auto add = [&](const std::string& unit, const std::string& found, UnitFindingKind kind,
                 std::string why) {
    v.findings.push_back({unit, found, kind, kind != UnitFindingKind::kNotRecommended,
                          std::move(why), recommended_of(unit)});
  };
  for (const auto& [id, unit] : fitted) {
    auto rule = rules.units.find(id);
    if (rule == rules.units.end()) {
      if (rules.unknown_units_incompatible) {
        add(id, unit->version, UnitFindingKind::kUnknownUnit,
            id + " is not a unit " + rules.model + " takes");
      }
      continue;
    }
    const UnitRule& r = rule->second;
    if (!r.compatible.empty() && unit->version.empty()) {
      add(id, "", UnitFindingKind::kVersionUnknown,
          id + " reported no software version; " + rules.model + " needs " +
              ranges_text(r.compatible));
    } else if (!r.compatible.empty() && !satisfies_any(r.compatible, unit->version)) {
      add(id, unit->version, UnitFindingKind::kVersionIncompatible,
          id + " " + unit->version + " is not compatible with " + rules.model +
              " (compatible: " + ranges_text(r.compatible) + ")");
    }
    // A unit that reports no vendor id (a firmware summary has none) is not judged on it.
    if (!r.vendors.empty() && !unit->vendor_id.empty() &&
        std::find(r.vendors.begin(), r.vendors.end(), unit->vendor_id) == r.vendors.end()) {
      add(id, unit->version, UnitFindingKind::kVendorNotAllowed,
          id + " vendor " + unit->vendor_id + ", not one allowed on " + rules.model + " (" +
              join(r.vendors, ", ") + ")");
    }
  }
  for (const auto& [id, r] : rules.units) {
    if (r.required && !fitted.count(id)) {
      add(id, "", UnitFindingKind::kMissingUnit,
          rules.model + " requires a " + id + " unit, which is not fitted");
    }
  }
  // Units in a failed requirement, on either side: installing the recommended set fixes it.
  std::set<std::string> implicated;
  for (const auto& f : failed_requirements(rules, fitted)) {
    add(f.unit, f.found_version, UnitFindingKind::kRequirementNotMet, f.why);
    implicated.insert(f.unit);
    for (const auto& [unit, ranges] : rules.requirements[f.index].if_units) implicated.insert(unit);
  }
  std::set<std::string> incompatible_units;
  for (const auto& f : v.findings) {
    if (f.incompatible) incompatible_units.insert(f.unit);
  }
  for (const auto& [id, unit] : fitted) {
    std::string rec = recommended_of(id);
    if (rec.empty()) continue;
    bool incompatible = incompatible_units.count(id) > 0;
    if (unit->version.empty()) {
      if (incompatible) v.updates[id] = rec;
      continue;
    }
    int cmp = compare_versions(unit->version, rec);
    if (cmp == 0) continue;
    if (!incompatible) {
      add(id, unit->version, UnitFindingKind::kNotRecommended,
          id + " " + unit->version + " is compatible; " + rec + " is recommended" +
              (cmp > 0 ? " (an older version)" : ""));
    }
    if (cmp < 0 || incompatible || implicated.count(id) || rules.allow_downgrade) {
      v.updates[id] = rec;
    }
  }
  std::stable_sort(v.findings.begin(), v.findings.end(),
                   [](const UnitFinding& a, const UnitFinding& b) {
                     return std::tie(a.unit, a.kind) < std::tie(b.unit, b.kind);
                   });
  v.verdict =
      incompatible_units.empty() ? Compatibility::kCompatible : Compatibility::kIncompatible;
  v.auto_update = rules.auto_update && !v.updates.empty();

  std::string summary = rules.model + ": " + to_string(v.verdict);
  if (!incompatible_units.empty()) {
    std::vector<std::string> names(incompatible_units.begin(), incompatible_units.end());
    summary += " (" + join(names, ", ") + ")";
  }
  if (v.updates.empty()) {
    summary += incompatible_units.empty() ? "; no update needed"
                                          : "; no recommended version fixes it: choose one by hand";
  } else {
    std::vector<std::string> changes;
    for (const auto& [id, to] : v.updates) {
      auto it = fitted.find(id);
      std::string from = it->second->version.empty() ? "?" : it->second->version;
      changes.push_back(id + " " + from + "\u2192" + to);
    }
    summary += "; update " + join(changes, ", ") +
               (v.auto_update ? " (automatic firmware job)" : " (notify: automatic update is off)");
  }
  v.summary = std::move(summary);
  return v;
}

Result<StructureVerdict> judge_structure(const CompatibilityTable& table, const std::string& model,
                                         const Json& structure_or_firmware) {
  auto s = parse_device_structure(structure_or_firmware);
  if (!s) return s.error();
  if (!model.empty() && !s->model.empty() && s->model != model) {
    return bad_input("structure is of model " + s->model + ", not " + model);
  }
  std::string m = model.empty() ? s->model : model;
  if (m.empty()) return bad_input("the device's model is unknown");
  auto rules = table.find(m);
  if (rules == table.end()) {
    StructureVerdict v;
    v.model = m;
    v.verdict = Compatibility::kNoRules;
    v.summary = "no compatibility rules for model " + m;
    return v;
  }
  return judge_units(rules->second, s->units);
}

Json to_json(const StructureVerdict& v) {
  Json findings = Json::array();
  for (const auto& f : v.findings) {
    findings.push_back({{"unit", f.unit},
                        {"found_version", f.found_version},
                        {"kind", to_string(f.kind)},
                        {"incompatible", f.incompatible},
                        {"why", f.why},
                        {"recommended", f.recommended}});
  }
  Json updates = Json::object();
  for (const auto& [unit, version] : v.updates) updates[unit] = version;
  return {{"model", v.model},   {"verdict", to_string(v.verdict)}, {"findings", findings},
          {"updates", updates}, {"auto_update", v.auto_update},    {"summary", v.summary}};
}

// ===== 2. Trouble judgment =====

const char* to_string(ClearedBy c) {
  switch (c) {
    case ClearedBy::kNotCleared:
      return "not_cleared";
    case ClearedBy::kReset:
      return "reset";
    case ClearedBy::kReboot:
      return "reboot";
    case ClearedBy::kOther:
      return "other";
  }
  return "unknown";
}

namespace {

std::optional<ClearedBy> cleared_by_from(const std::string& s) {
  if (s == "reset") return ClearedBy::kReset;
  if (s == "reboot" || s == "power_cycle") return ClearedBy::kReboot;
  if (s == "other") return ClearedBy::kOther;
  if (s == "not_cleared") return ClearedBy::kNotCleared;
  return std::nullopt;
}

// A call while the converter reads it: whether its cleared_by was stated or is to be inferred.
struct CallDraft {
  ServiceCall call;
  bool cleared_by_stated = false;
};

std::optional<TimeMs> time_of(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  auto t = parse_time(it->get<std::string>());
  if (!t) return std::nullopt;
  return *t;
}

// One fault entry ({type, code, location?, sc_type?}) of an alert or error-log at time `at`.
void add_fault(const Json& e, TimeMs at, const std::string& where, DeviceEvents& out,
               std::vector<CallDraft>& calls) {
  std::string type = str_or(e, "type");
  if (type != "jam" && type != "service_call") return;  // supply_empty, part_eol, ...
  std::string code = str_or(e, "code");
  if (code.empty()) {
    out.notes.push_back(where + ": a " + type + " without a code, skipped");
    return;
  }
  if (type == "jam") {
    out.jams.push_back({at, str_or(e, "location"), code});
    return;
  }
  CallDraft d;
  d.call.at = at;
  d.call.code = code;
  d.call.sc_type = str_or(e, "sc_type");
  calls.push_back(std::move(d));
}

}  // namespace

DeviceEvents events_from_reports(const std::vector<Report>& reports) {
  DeviceEvents out;
  std::vector<CallDraft> calls;
  for (const auto& r : reports) {
    const Json& body = r.body;
    const std::string where = report_name(r);
    if (r.kind == "boot") {
      out.reboots.push_back(r.created_at);
      continue;
    }
    if (!body.is_object()) {
      if (r.kind == "alert" || r.kind == "error-log" || r.kind == "jams" || r.kind == "calls") {
        out.notes.push_back(where + ": body is not an object, skipped");
      }
      continue;
    }
    if (r.kind == "alert") {
      add_fault(body, r.created_at, where, out, calls);
      continue;
    }
    auto list_of = [&](const char* key) -> const Json* {
      auto it = body.find(key);
      if (it != body.end() && it->is_array()) return &*it;
      out.notes.push_back(where + ": no '" + key + "' array, skipped");
      return nullptr;
    };
    if (r.kind == "error-log") {
      const Json* entries = list_of("entries");
      if (!entries) continue;
      for (std::size_t i = 0; i < entries->size(); ++i) {
        const Json& e = (*entries)[i];
        std::string at_where = where + " entry " + std::to_string(i);
        auto at = e.is_object() ? time_of(e, "at") : std::nullopt;
        if (!at) {
          out.notes.push_back(at_where + ": no RFC 3339 'at', skipped");
          continue;
        }
        add_fault(e, *at, at_where, out, calls);
      }
    } else if (r.kind == "jams") {
      const Json* recent = list_of("recent");
      if (!recent) continue;
      for (std::size_t i = 0; i < recent->size(); ++i) {
        const Json& e = (*recent)[i];
        std::string at_where = where + " recent " + std::to_string(i);
        auto at = e.is_object() ? time_of(e, "at") : std::nullopt;
        if (!at) {
          out.notes.push_back(at_where + ": no RFC 3339 'at', skipped");
          continue;
        }
        std::string code = str_or(e, "code");
        std::string location = str_or(e, "location");
        if (code.empty() && location.empty()) {
          out.notes.push_back(at_where + ": a jam without code or location, skipped");
          continue;
        }
        out.jams.push_back({*at, location, code});
      }
    } else if (r.kind == "calls") {
      const Json* list = list_of("service_calls");
      if (!list) continue;
      for (std::size_t i = 0; i < list->size(); ++i) {
        const Json& e = (*list)[i];
        std::string at_where = where + " service_calls " + std::to_string(i);
        auto at = e.is_object() ? time_of(e, "at") : std::nullopt;
        if (!at) {
          out.notes.push_back(at_where + ": no RFC 3339 'at', skipped");
          continue;
        }
        CallDraft d;
        d.call.at = *at;
        d.call.code = str_or(e, "code");
        d.call.sc_type = str_or(e, "sc_type");
        if (d.call.code.empty()) {
          out.notes.push_back(at_where + ": a service call without a code, skipped");
          continue;
        }
        if (auto cleared = e.find("cleared_at"); cleared != e.end() && !cleared->is_null()) {
          auto t = time_of(e, "cleared_at");
          if (!t) {
            out.notes.push_back(at_where + ": cleared_at is not an RFC 3339 time, ignored");
          } else if (*t < *at) {
            out.notes.push_back(at_where + ": cleared_at before the call, ignored");
          } else {
            d.call.cleared_at = *t;
            d.call.cleared_by = ClearedBy::kOther;
          }
        }
        if (auto by = e.find("cleared_by"); by != e.end() && !by->is_null()) {
          auto c = by->is_string() ? cleared_by_from(by->get<std::string>()) : std::nullopt;
          if (!c) {
            out.notes.push_back(at_where + ": cleared_by is not reset, reboot or other, ignored");
          } else if (!d.call.cleared_at) {
            if (*c != ClearedBy::kNotCleared) {
              out.notes.push_back(at_where + ": cleared_by without cleared_at, ignored");
            }
          } else if (*c != ClearedBy::kNotCleared) {
            d.call.cleared_by = *c;
            d.cleared_by_stated = true;
          }
        }
        calls.push_back(std::move(d));
      }
    }
  }

  // Reboots: sorted, each once.
  std::sort(out.reboots.begin(), out.reboots.end());
  out.reboots.erase(std::unique(out.reboots.begin(), out.reboots.end()), out.reboots.end());

  // Jams: one event per (location, code) burst within the tolerance.
  std::sort(out.jams.begin(), out.jams.end(), [](const Jam& a, const Jam& b) {
    return std::tie(a.at, a.location, a.code) < std::tie(b.at, b.location, b.code);
  });
  {
    std::vector<Jam> kept;
    std::map<std::pair<std::string, std::string>, TimeMs> last_seen;
    for (auto& j : out.jams) {
      auto key = std::make_pair(j.location, j.code);
      auto it = last_seen.find(key);
      bool same = it != last_seen.end() && j.at - it->second <= kSameEventToleranceMs;
      last_seen[key] = j.at;
      if (!same) kept.push_back(std::move(j));
    }
    out.jams = std::move(kept);
  }

  // Calls: one event per code burst; the clearing from whichever copy knows it.
  std::stable_sort(calls.begin(), calls.end(), [](const CallDraft& a, const CallDraft& b) {
    return std::tie(a.call.at, a.call.code) < std::tie(b.call.at, b.call.code);
  });
  std::vector<CallDraft> merged;
  {
    std::map<std::string, std::pair<TimeMs, std::size_t>> last_seen;  // code -> (time, merged idx)
    for (auto& d : calls) {
      auto it = last_seen.find(d.call.code);
      if (it != last_seen.end() && d.call.at - it->second.first <= kSameEventToleranceMs) {
        CallDraft& into = merged[it->second.second];
        it->second.first = d.call.at;
        if (into.call.sc_type.empty()) into.call.sc_type = d.call.sc_type;
        bool better = d.call.cleared_at &&
                      (!into.call.cleared_at || (d.cleared_by_stated && !into.cleared_by_stated) ||
                       (d.cleared_by_stated == into.cleared_by_stated &&
                        *d.call.cleared_at < *into.call.cleared_at));
        if (better) {
          into.call.cleared_at = d.call.cleared_at;
          into.call.cleared_by = d.call.cleared_by;
          into.cleared_by_stated = d.cleared_by_stated;
        }
        continue;
      }
      last_seen[d.call.code] = {d.call.at, merged.size()};
      merged.push_back(std::move(d));
    }
  }
  for (auto& d : merged) {
    ServiceCall& c = d.call;
    if (c.cleared_at && !d.cleared_by_stated) {
      bool reboot_then = std::any_of(out.reboots.begin(), out.reboots.end(), [&](TimeMs r) {
        return std::llabs(r - *c.cleared_at) <= kClearedByRebootToleranceMs;
      });
      c.cleared_by = reboot_then ? ClearedBy::kReboot : ClearedBy::kOther;
    } else if (!c.cleared_at) {
      auto r = std::upper_bound(out.reboots.begin(), out.reboots.end(), c.at);
      if (r != out.reboots.end()) {
        c.cleared_at = *r;
        c.cleared_by = ClearedBy::kReboot;
      }
    }
    out.calls.push_back(std::move(c));
  }
  return out;
}

namespace {

constexpr const char* kThresholdKnown[] = {"jam_rate", "repeated_jams", "sc_recurrence",
                                           "rising_errors", "location_advice"};

Result<TimeMs> window_field(const Json& v, const std::string& field) {
  return duration(v, field, kHourMs, kMinuteMs, 8760 * kHourMs,
                  "hours, at least one minute (0.0167) and at most 8760");
}

Status check_window(TimeMs ms, const std::string& field) {
  if (ms < kMinuteMs || ms > kYearMs) {
    return bad_input(field + " must be at least one minute and at most 8760 h");
  }
  return ok_status();
}

Status check_count(std::int64_t n, const std::string& field) {
  if (n < 1 || n > 10000) return bad_input(field + " must be 1..10000");
  return ok_status();
}

Status check_thresholds(const TroubleThresholds& t) {
  if (auto st = check_count(t.jam_rate.count, "jam_rate.count"); !st) return st;
  if (auto st = check_window(t.jam_rate.window_ms, "jam_rate.window_h"); !st) return st;
  if (auto st = check_count(t.repeated_jams.count, "repeated_jams.count"); !st) return st;
  if (auto st = check_window(t.repeated_jams.window_ms, "repeated_jams.window_h"); !st) return st;
  if (auto st = check_count(t.sc_recurrence.count, "sc_recurrence.count"); !st) return st;
  if (auto st = check_window(t.sc_recurrence.window_ms, "sc_recurrence.window_h"); !st) return st;
  if (auto st = check_window(t.sc_recurrence.lookback_ms, "sc_recurrence.lookback_h"); !st) {
    return st;
  }
  if (t.sc_recurrence.enabled && t.sc_recurrence.cleared_by.empty()) {
    return bad_input("sc_recurrence.cleared_by must name at least one of reset, reboot, other");
  }
  for (auto c : t.sc_recurrence.cleared_by) {
    if (c == ClearedBy::kNotCleared) {
      return bad_input("sc_recurrence.cleared_by must be reset, reboot or other");
    }
  }
  if (auto st = check_count(t.rising_errors.min_count, "rising_errors.min_count"); !st) return st;
  if (auto st = check_window(t.rising_errors.window_ms, "rising_errors.window_h"); !st) return st;
  if (t.rising_errors.baseline_windows < 1 || t.rising_errors.baseline_windows > 52) {
    return bad_input("rising_errors.baseline_windows must be 1..52");
  }
  if (!std::isfinite(t.rising_errors.factor) || t.rising_errors.factor < 1 ||
      t.rising_errors.factor > 100) {
    return bad_input("rising_errors.factor must be a number 1..100");
  }
  return ok_status();
}

// Reads the keys of one rule section into the fields it has; `extra` handles the rest.
template <typename Rule, typename Extra>
Status parse_section(const Json& j, const std::string& name,
                     std::initializer_list<const char*> keys, Rule& rule, Extra extra) {
  if (!j.is_object()) return bad_input(name + " must be an object");
  if (auto st = check_keys(j, name, keys); !st) return st;
  for (const auto& item : j.items()) {
    const std::string field = name + "." + item.key();
    const Json& v = item.value();
    if (item.key() == "enabled") {
      auto b = boolean(v, field);
      if (!b) return b.error();
      rule.enabled = *b;
    } else if (item.key() == "window_h") {
      auto w = window_field(v, field);
      if (!w) return w.error();
      rule.window_ms = *w;
    } else if (item.key() == "urgency") {
      auto u = urgency_field(v, field);
      if (!u) return u.error();
      rule.urgency = *u;
    } else if (auto st = extra(item.key(), v, field); !st) {
      return st;
    }
  }
  return ok_status();
}

Status parse_count_into(const Json& v, const std::string& field, std::int64_t& into) {
  auto n = integer(v, field, 1, 10000);
  if (!n) return n.error();
  into = *n;
  return ok_status();
}

}  // namespace

Result<TroubleThresholds> parse_trouble_thresholds(const Json& j) {
  TroubleThresholds t;
  if (j.is_null()) return t;
  if (!j.is_object()) return bad_input("trouble thresholds must be an object");
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const Json& v = item.value();
    Status st = ok_status();
    if (key == "jam_rate") {
      st = parse_section(v, key, {"enabled", "count", "window_h", "urgency"}, t.jam_rate,
                         [&](const std::string& k, const Json& x, const std::string& field) {
                           return k == "count" ? parse_count_into(x, field, t.jam_rate.count)
                                               : ok_status();
                         });
    } else if (key == "repeated_jams") {
      st = parse_section(v, key, {"enabled", "count", "window_h", "urgency"}, t.repeated_jams,
                         [&](const std::string& k, const Json& x, const std::string& field) {
                           return k == "count" ? parse_count_into(x, field, t.repeated_jams.count)
                                               : ok_status();
                         });
    } else if (key == "sc_recurrence") {
      st = parse_section(
          v, key, {"enabled", "count", "window_h", "lookback_h", "cleared_by", "urgency"},
          t.sc_recurrence, [&](const std::string& k, const Json& x, const std::string& field) {
            if (k == "count") return parse_count_into(x, field, t.sc_recurrence.count);
            if (k == "lookback_h") {
              auto w = window_field(x, field);
              if (!w) return Status(w.error());
              t.sc_recurrence.lookback_ms = *w;
              return ok_status();
            }
            // cleared_by
            auto list = text_list(x, field, 3, 16);
            if (!list) return Status(list.error());
            std::vector<ClearedBy> by;
            for (const auto& s : *list) {
              auto c = cleared_by_from(s);
              if (!c || *c == ClearedBy::kNotCleared) {
                return Status(bad_input(field + ": '" + s + "' is not reset, reboot or other"));
              }
              if (std::find(by.begin(), by.end(), *c) == by.end()) by.push_back(*c);
            }
            if (by.empty()) return Status(bad_input(field + " must not be empty"));
            std::sort(by.begin(), by.end());
            t.sc_recurrence.cleared_by = std::move(by);
            return ok_status();
          });
    } else if (key == "rising_errors") {
      st = parse_section(
          v, key, {"enabled", "min_count", "window_h", "baseline_windows", "factor", "urgency"},
          t.rising_errors, [&](const std::string& k, const Json& x, const std::string& field) {
            if (k == "min_count") return parse_count_into(x, field, t.rising_errors.min_count);
            if (k == "baseline_windows") {
              auto n = integer(x, field, 1, 52);
              if (!n) return Status(n.error());
              t.rising_errors.baseline_windows = *n;
              return ok_status();
            }
            auto f = number(x, field, 1, 100);  // factor
            if (!f) return Status(f.error());
            t.rising_errors.factor = *f;
            return ok_status();
          });
    } else if (key == "location_advice") {
      if (!v.is_object()) return bad_input("location_advice must be an object of location -> text");
      for (const auto& a : v.items()) {
        if (a.key().empty() || a.key().size() > kMaxNameLength) {
          return bad_input("location_advice: a location must be 1..64 characters");
        }
        auto s = text(a.value(), "location_advice." + a.key(), kMaxAdviceLength);
        if (!s) return s.error();
        t.location_advice[a.key()] = *s;
      }
    } else {
      std::vector<std::string> names(std::begin(kThresholdKnown), std::end(kThresholdKnown));
      return bad_input("trouble thresholds have an unknown field '" + key +
                       "' (known: " + join(names, ", ") + ")");
    }
    if (!st) return st.error();
  }
  return t;
}

Json to_json(const TroubleThresholds& t) {
  Json by = Json::array();
  for (auto c : t.sc_recurrence.cleared_by) by.push_back(to_string(c));
  Json advice = Json::object();
  for (const auto& [loc, a] : t.location_advice) advice[loc] = a;
  return {{"jam_rate",
           {{"enabled", t.jam_rate.enabled},
            {"count", t.jam_rate.count},
            {"window_h", duration_json(t.jam_rate.window_ms, kHourMs)},
            {"urgency", to_string(t.jam_rate.urgency)}}},
          {"repeated_jams",
           {{"enabled", t.repeated_jams.enabled},
            {"count", t.repeated_jams.count},
            {"window_h", duration_json(t.repeated_jams.window_ms, kHourMs)},
            {"urgency", to_string(t.repeated_jams.urgency)}}},
          {"sc_recurrence",
           {{"enabled", t.sc_recurrence.enabled},
            {"count", t.sc_recurrence.count},
            {"window_h", duration_json(t.sc_recurrence.window_ms, kHourMs)},
            {"lookback_h", duration_json(t.sc_recurrence.lookback_ms, kHourMs)},
            {"cleared_by", by},
            {"urgency", to_string(t.sc_recurrence.urgency)}}},
          {"rising_errors",
           {{"enabled", t.rising_errors.enabled},
            {"min_count", t.rising_errors.min_count},
            {"window_h", duration_json(t.rising_errors.window_ms, kHourMs)},
            {"baseline_windows", t.rising_errors.baseline_windows},
            {"factor", t.rising_errors.factor},
            {"urgency", to_string(t.rising_errors.urgency)}}},
          {"location_advice", advice}};
}

const char* to_string(TroubleType t) {
  switch (t) {
    case TroubleType::kJamRate:
      return "jam_rate";
    case TroubleType::kRepeatedJams:
      return "repeated_jams";
    case TroubleType::kScRecurrence:
      return "sc_recurrence";
    case TroubleType::kRisingErrors:
      return "rising_errors";
  }
  return "unknown";
}

namespace {

// "tray2" -> "tray 2", "adf" -> "ADF", others unchanged.
std::string location_text(const std::string& loc) {
  if (lower(loc) == "adf") return "ADF";
  std::size_t digits = loc.size();
  while (digits > 0 && std::isdigit(static_cast<unsigned char>(loc[digits - 1]))) --digits;
  if (digits == 0 || digits == loc.size() ||
      !std::isalpha(static_cast<unsigned char>(loc[digits - 1]))) {
    return loc;
  }
  return loc.substr(0, digits) + " " + loc.substr(digits);
}

std::string location_advice(const TroubleThresholds& t, const std::string& loc) {
  if (auto it = t.location_advice.find(loc); it != t.location_advice.end()) return it->second;
  std::string l = lower(loc);
  auto starts = [&](const char* p) { return l.rfind(p, 0) == 0; };
  if (starts("tray") || starts("cassette")) return "check the pickup roller";
  if (starts("manual") || starts("bypass")) {
    return "check the bypass tray pickup roller and the paper loaded";
  }
  if (starts("fuser")) return "check the fuser unit and that the paper type matches the setting";
  if (starts("duplex")) return "check the duplex unit and its rollers";
  if (starts("adf")) return "clean or replace the document feeder rollers";
  if (starts("exit") || starts("output")) return "check the exit rollers and the output tray";
  return "inspect the paper path at " + location_text(loc);
}

bool recent(TimeMs at, TimeMs now, TimeMs window_ms) { return now - at <= window_ms; }

std::string cleared_text(const std::set<ClearedBy>& how) {
  std::vector<std::string> parts;
  if (how.count(ClearedBy::kReset)) parts.push_back("a reset");
  if (how.count(ClearedBy::kReboot)) parts.push_back("a reboot");
  if (how.count(ClearedBy::kOther)) parts.push_back("a repair");
  return join(parts, " or ");
}

}  // namespace

Result<std::vector<TroubleFinding>> judge_troubles(const TroubleThresholds& t,
                                                   const DeviceEvents& events, TimeMs now) {
  if (auto st = check_thresholds(t); !st) return st.error();
  std::vector<TroubleFinding> out;

  if (t.jam_rate.enabled) {
    const auto& rule = t.jam_rate;
    TroubleFinding f;
    std::map<std::string, std::int64_t> by_location;
    for (const auto& j : events.jams) {
      if (!recent(j.at, now, rule.window_ms)) continue;
      if (f.count == 0 || j.at < f.first_at) f.first_at = j.at;
      if (f.count == 0 || j.at > f.last_at) f.last_at = j.at;
      ++f.count;
      ++by_location[j.location.empty() ? "unknown" : j.location];
    }
    if (f.count >= rule.count) {
      std::vector<std::pair<std::string, std::int64_t>> top(by_location.begin(), by_location.end());
      std::stable_sort(top.begin(), top.end(),
                       [](const auto& a, const auto& b) { return a.second > b.second; });
      std::vector<std::string> where;
      for (std::size_t i = 0; i < top.size() && i < 3; ++i) {
        where.push_back(location_text(top[i].first) + " " + std::to_string(top[i].second));
      }
      f.type = TroubleType::kJamRate;
      f.window_ms = rule.window_ms;
      f.urgency = rule.urgency;
      f.meaning = "paper jams are more frequent than normal";
      f.action =
          "check the paper (type, storage, humidity), then the rollers where it jams most (" +
          join(where, ", ") + ")";
      f.text = "Frequent jams: " + std::to_string(f.count) + " in " +
               duration_text(rule.window_ms) + " (threshold " + std::to_string(rule.count) + "); " +
               f.action;
      out.push_back(std::move(f));
    }
  }

  if (t.repeated_jams.enabled) {
    const auto& rule = t.repeated_jams;
    std::map<std::string, TroubleFinding> by_location;
    for (const auto& j : events.jams) {
      if (j.location.empty() || !recent(j.at, now, rule.window_ms)) continue;
      TroubleFinding& f = by_location[j.location];
      if (f.count == 0 || j.at < f.first_at) f.first_at = j.at;
      if (f.count == 0 || j.at > f.last_at) f.last_at = j.at;
      ++f.count;
    }
    for (auto& [loc, f] : by_location) {
      if (f.count < rule.count) continue;
      f.type = TroubleType::kRepeatedJams;
      f.subject = loc;
      f.window_ms = rule.window_ms;
      f.urgency = rule.urgency;
      f.meaning = "paper keeps jamming at " + location_text(loc);
      f.action = location_advice(t, loc);
      f.text = "Repeated jams at " + location_text(loc) + ": " + f.action + "; " +
               std::to_string(f.count) + " in " + duration_text(rule.window_ms);
      out.push_back(std::move(f));
    }
  }

  if (t.sc_recurrence.enabled) {
    const auto& rule = t.sc_recurrence;
    std::map<std::string, std::vector<const ServiceCall*>> by_code;
    for (const auto& c : events.calls) by_code[c.code].push_back(&c);
    for (auto& [code, calls] : by_code) {
      std::stable_sort(calls.begin(), calls.end(),
                       [](const ServiceCall* a, const ServiceCall* b) { return a->at < b->at; });
      TroubleFinding f;
      std::set<ClearedBy> how;
      std::string sc_type;
      for (std::size_t i = 0; i < calls.size(); ++i) {
        const ServiceCall& c = *calls[i];
        if (sc_type.empty()) sc_type = c.sc_type;
        if (!c.cleared_at) continue;
        if (std::find(rule.cleared_by.begin(), rule.cleared_by.end(), c.cleared_by) ==
            rule.cleared_by.end()) {
          continue;
        }
        // The first call of this code at or after the clearing is the one that came back.
        auto next = std::find_if(calls.begin() + std::ptrdiff_t(i) + 1, calls.end(),
                                 [&](const ServiceCall* n) { return n->at >= *c.cleared_at; });
        if (next == calls.end()) continue;
        const ServiceCall& back = **next;
        if (back.at - *c.cleared_at > rule.window_ms) continue;
        if (!recent(back.at, now, rule.lookback_ms)) continue;
        if (f.count == 0 || back.at < f.first_at) f.first_at = back.at;
        if (f.count == 0 || back.at > f.last_at) f.last_at = back.at;
        ++f.count;
        how.insert(c.cleared_by);
      }
      if (f.count < rule.count) continue;
      std::string name = code + (sc_type.empty() ? "" : " (type " + sc_type + ")");
      f.type = TroubleType::kScRecurrence;
      f.subject = code;
      f.window_ms = rule.window_ms;
      f.urgency = rule.urgency;
      f.meaning = "the fault behind " + name + " is still there: clearing it with " +
                  cleared_text(how) + " only hid it";
      f.action = "send a technician to find and fix the cause instead of resetting again";
      f.text = name + " came back " + times_text(f.count) + " within " +
               duration_text(rule.window_ms) + " of being cleared by " + cleared_text(how) + "; " +
               f.action;
      out.push_back(std::move(f));
    }
  }

  if (t.rising_errors.enabled) {
    const auto& rule = t.rising_errors;
    std::vector<TimeMs> jam_times, call_times;
    for (const auto& j : events.jams) jam_times.push_back(j.at);
    for (const auto& c : events.calls) call_times.push_back(c.at);
    struct Category {
      const char* subject;
      const char* label;
      const char* action;
      const std::vector<TimeMs>* times;
    };
    for (const auto& cat :
         {Category{"jams", "jams", "find what changed: paper, settings, worn rollers", &jam_times},
          Category{"service_calls", "service calls",
                   "read the error log for the codes behind it and plan a service visit",
                   &call_times}}) {
      TroubleFinding f;
      std::int64_t baseline = 0;
      const TimeMs baseline_end = rule.window_ms * (1 + rule.baseline_windows);
      for (TimeMs at : *cat.times) {
        TimeMs age = now - at;
        if (age <= rule.window_ms) {
          if (f.count == 0 || at < f.first_at) f.first_at = at;
          if (f.count == 0 || at > f.last_at) f.last_at = at;
          ++f.count;
        } else if (age <= baseline_end) {
          ++baseline;
        }
      }
      if (f.count < rule.min_count) continue;
      if (double(f.count) * double(rule.baseline_windows) < rule.factor * double(baseline)) {
        continue;
      }
      double average = double(baseline) / double(rule.baseline_windows);
      std::string window = duration_text(rule.window_ms);
      f.type = TroubleType::kRisingErrors;
      f.subject = cat.subject;
      f.window_ms = rule.window_ms;
      f.urgency = rule.urgency;
      f.meaning = std::string(cat.label) + " are becoming more frequent";
      f.action = cat.action;
      f.text = std::string("Rising ") + cat.label + ": " + std::to_string(f.count) +
               " in the last " + window + " against " + number_text(average) + " per " + window +
               " before (threshold " + number_text(rule.factor, 2) + "x); " + f.action;
      out.push_back(std::move(f));
    }
  }
  return out;
}

Json to_json(const TroubleFinding& f) {
  Json j = {{"type", to_string(f.type)},
            {"subject", f.subject},
            {"count", f.count},
            {"first_at", format_time(f.first_at)},
            {"last_at", format_time(f.last_at)},
            {"urgency", to_string(f.urgency)},
            {"meaning", f.meaning},
            {"action", f.action},
            {"text", f.text}};
  if (f.window_ms % kHourMs == 0) {
    j["window_h"] = f.window_ms / kHourMs;
  } else {
    j["window_s"] = f.window_ms / 1000;
  }
  return j;
}

// ===== 3. Supply forecasting =====

namespace {

Status check_forecast_policy(const ForecastPolicy& p) {
  if (p.lead_time_ms < 0 || p.lead_time_ms > kYearMs) {
    return bad_input("lead_time_days must be 0..365");
  }
  if (!std::isfinite(p.low_pct) || p.low_pct < 0 || p.low_pct > 100) {
    return bad_input("low_pct must be 0..100");
  }
  if (p.min_readings < 2 || p.min_readings > 1000) return bad_input("min_readings must be 2..1000");
  if (p.min_span_ms < 0 || p.min_span_ms > kYearMs) return bad_input("min_span_h must be 0..8760");
  if (!std::isfinite(p.replacement_jump_pct) || p.replacement_jump_pct < 1 ||
      p.replacement_jump_pct > 100) {
    return bad_input("replacement_jump_pct must be 1..100");
  }
  return ok_status();
}

}  // namespace

Result<ForecastPolicy> parse_forecast_policy(const Json& j) {
  ForecastPolicy p;
  if (j.is_null()) return p;
  if (!j.is_object()) return bad_input("forecast policy must be an object");
  if (auto st = check_keys(
          j, "forecast policy",
          {"lead_time_days", "low_pct", "min_readings", "min_span_h", "replacement_jump_pct"});
      !st) {
    return st.error();
  }
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const Json& v = item.value();
    if (key == "lead_time_days") {
      auto d = duration(v, key, kDayMs, 0, kYearMs, "0..365 days");
      if (!d) return d.error();
      p.lead_time_ms = *d;
    } else if (key == "low_pct") {
      auto n = number(v, key, 0, 100);
      if (!n) return n.error();
      p.low_pct = *n;
    } else if (key == "min_readings") {
      auto n = integer(v, key, 2, 1000);
      if (!n) return n.error();
      p.min_readings = *n;
    } else if (key == "min_span_h") {
      auto d = duration(v, key, kHourMs, 0, kYearMs, "0..8760 hours");
      if (!d) return d.error();
      p.min_span_ms = *d;
    } else {  // replacement_jump_pct
      auto n = number(v, key, 1, 100);
      if (!n) return n.error();
      p.replacement_jump_pct = *n;
    }
  }
  return p;
}

Json to_json(const ForecastPolicy& p) {
  return {{"lead_time_days", duration_json(p.lead_time_ms, kDayMs)},
          {"low_pct", p.low_pct},
          {"min_readings", p.min_readings},
          {"min_span_h", duration_json(p.min_span_ms, kHourMs)},
          {"replacement_jump_pct", p.replacement_jump_pct}};
}

const char* to_string(ForecastConfidence c) {
  switch (c) {
    case ForecastConfidence::kOk:
      return "ok";
    case ForecastConfidence::kNoReadings:
      return "no_readings";
    case ForecastConfidence::kTooFewReadings:
      return "too_few_readings";
    case ForecastConfidence::kSpanTooShort:
      return "span_too_short";
    case ForecastConfidence::kNotFalling:
      return "not_falling";
  }
  return "unknown";
}

Result<SupplyForecast> forecast_supply(const ForecastPolicy& policy, const std::string& supply,
                                       std::vector<SupplyReading> readings, TimeMs now) {
  if (auto st = check_forecast_policy(policy); !st) return st.error();
  for (const auto& r : readings) {
    if (!std::isfinite(r.level_pct) || r.level_pct < 0 || r.level_pct > 100) {
      return bad_input(supply + ": level " + number_text(r.level_pct, 2) + "% at " +
                       format_time(r.at) + " is outside 0..100");
    }
  }
  SupplyForecast f;
  f.supply = supply;
  if (readings.empty()) {
    f.reason = supply + ": no readings";
    return f;
  }
  // By time; at one time the higher level first, so a tie never looks like a replacement.
  std::sort(readings.begin(), readings.end(), [](const SupplyReading& a, const SupplyReading& b) {
    return a.at != b.at ? a.at < b.at : a.level_pct > b.level_pct;
  });
  readings.erase(std::unique(readings.begin(), readings.end(),
                             [](const SupplyReading& a, const SupplyReading& b) {
                               return a.at == b.at && a.level_pct == b.level_pct;
                             }),
                 readings.end());
  std::size_t start = 0;
  for (std::size_t i = 1; i < readings.size(); ++i) {
    if (readings[i].level_pct - readings[i - 1].level_pct >= policy.replacement_jump_pct) start = i;
  }
  if (start > 0) f.replaced_at = readings[start].at;
  const std::vector<SupplyReading> used(readings.begin() + std::ptrdiff_t(start), readings.end());
  const SupplyReading& first = used.front();
  const SupplyReading& last = used.back();
  f.level_pct = last.level_pct;
  f.last_reading_at = last.at;
  f.readings_used = std::int64_t(used.size());
  const std::string level = supply + " at " + number_text(last.level_pct) + "%";

  const TimeMs span = last.at - first.at;
  if (f.readings_used < policy.min_readings) {
    f.confidence = ForecastConfidence::kTooFewReadings;
  } else if (span <= 0 || span < policy.min_span_ms) {
    f.confidence = ForecastConfidence::kSpanTooShort;
  } else {
    // Least squares over (days since the first reading, level).
    double n = double(used.size()), mean_t = 0, mean_y = 0;
    for (const auto& r : used) {
      mean_t += double(r.at - first.at) / double(kDayMs);
      mean_y += r.level_pct;
    }
    mean_t /= n;
    mean_y /= n;
    double sxy = 0, sxx = 0;
    for (const auto& r : used) {
      double dt = double(r.at - first.at) / double(kDayMs) - mean_t;
      sxy += dt * (r.level_pct - mean_y);
      sxx += dt * dt;
    }
    f.pct_per_day = -(sxy / sxx) + 0.0;  // + 0.0: a flat series is 0, not -0
    f.confidence = *f.pct_per_day > 0 ? ForecastConfidence::kOk : ForecastConfidence::kNotFalling;
  }

  if (last.level_pct <= 0) {
    auto empty_since = std::find_if(used.begin(), used.end(),
                                    [](const SupplyReading& r) { return r.level_pct <= 0; });
    f.empty_at = empty_since->at;
    f.days_until_empty = 0;
    f.low = true;
    f.reason = supply + " is empty since " + format_time(empty_since->at);
    return f;
  }
  if (f.confidence == ForecastConfidence::kOk) {
    double ms_left = last.level_pct / *f.pct_per_day * double(kDayMs);
    f.empty_at = last.at + TimeMs(std::llround(ms_left));
    f.days_until_empty = std::max(0.0, double(*f.empty_at - now) / double(kDayMs));
  }
  const std::string threshold = number_text(policy.low_pct) + "%";
  if (last.level_pct <= policy.low_pct) {
    f.low = true;
    f.reason = level + ": at or below the " + threshold + " threshold";
    if (f.days_until_empty)
      f.reason += ", empty in about " + number_text(*f.days_until_empty) + " days";
    return f;
  }
  switch (f.confidence) {
    case ForecastConfidence::kOk: {
      std::string rate = "using " + number_text(*f.pct_per_day, 2) + "% a day";
      std::string when = "empty in about " + number_text(*f.days_until_empty) + " days (" +
                         format_time(*f.empty_at).substr(0, 10) + ")";
      f.low = double(*f.empty_at - now) < double(policy.lead_time_ms);
      f.reason = level + ", " + rate + ": " + when +
                 (f.low ? ", within the lead time of " + duration_text(policy.lead_time_ms) : "");
      return f;
    }
    case ForecastConfidence::kTooFewReadings:
      f.reason = level + ": " + std::to_string(f.readings_used) + " reading" +
                 (f.readings_used == 1 ? "" : "s") +
                 (f.replaced_at ? " since the replacement" : "") + ", " +
                 std::to_string(policy.min_readings) + " needed for a forecast";
      return f;
    case ForecastConfidence::kSpanTooShort:
      f.reason = level + ": readings span " + duration_text(span) + ", " +
                 duration_text(policy.min_span_ms) + " needed for a forecast";
      return f;
    case ForecastConfidence::kNotFalling:
      f.reason = level + ": the level is not falling, no empty date";
      return f;
    case ForecastConfidence::kNoReadings:
      break;
  }
  return f;
}

Json to_json(const SupplyForecast& f) {
  auto opt_time = [](const std::optional<TimeMs>& t) {
    return t ? Json(format_time(*t)) : Json(nullptr);
  };
  auto opt_num = [](const std::optional<double>& d) { return d ? Json(*d) : Json(nullptr); };
  return {{"supply", f.supply},
          {"confidence", to_string(f.confidence)},
          {"level_pct", opt_num(f.level_pct)},
          {"last_reading_at", opt_time(f.last_reading_at)},
          {"replaced_at", opt_time(f.replaced_at)},
          {"readings_used", f.readings_used},
          {"pct_per_day", opt_num(f.pct_per_day)},
          {"days_until_empty", opt_num(f.days_until_empty)},
          {"empty_at", opt_time(f.empty_at)},
          {"low", f.low},
          {"reason", f.reason}};
}

SupplySeries supply_readings_from_reports(const std::vector<Report>& reports) {
  SupplySeries s;
  for (const auto& r : reports) {
    if (r.kind != "supplies") continue;
    const std::string where = report_name(r);
    auto list = r.body.is_object() ? r.body.find("supplies") : r.body.end();
    if (!r.body.is_object() || list == r.body.end() || !list->is_array()) {
      s.notes.push_back(where + ": no 'supplies' array, skipped");
      continue;
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
      const Json& e = (*list)[i];
      std::string at_where = where + " supplies " + std::to_string(i);
      std::string name = e.is_object() ? str_or(e, "name") : std::string();
      if (name.empty()) {
        s.notes.push_back(at_where + ": no name, skipped");
        continue;
      }
      auto level = e.find("level_pct");
      if (level == e.end() || !level->is_number() || !std::isfinite(level->get<double>()) ||
          level->get<double>() < 0 || level->get<double>() > 100) {
        s.notes.push_back(at_where + ": level_pct is not a number 0..100, skipped");
        continue;
      }
      s.readings[name].push_back({r.created_at, level->get<double>()});
    }
  }
  for (auto& [name, list] : s.readings) {
    std::sort(list.begin(), list.end(), [](const SupplyReading& a, const SupplyReading& b) {
      return a.at != b.at ? a.at < b.at : a.level_pct > b.level_pct;
    });
    list.erase(std::unique(list.begin(), list.end(),
                           [](const SupplyReading& a, const SupplyReading& b) {
                             return a.at == b.at && a.level_pct == b.level_pct;
                           }),
               list.end());
  }
  return s;
}

// ===== 4. Notification routing =====

namespace {

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  while (true) {
    auto dot = d.find('.');
    std::string_view label = d.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    bool ok = std::all_of(label.begin(), label.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
    });
    if (!ok) return false;
    if (dot == std::string_view::npos) return true;
    d.remove_prefix(dot + 1);
  }
}

// The address with its domain lower-cased, or nothing when it is not a plain local@domain.
std::optional<std::string> normalized_email(std::string_view a) {
  if (a.size() < 3 || a.size() > kMaxEmailLength || !printable_ascii(a)) return std::nullopt;
  auto at = a.find('@');
  if (at == std::string_view::npos || at != a.rfind('@')) return std::nullopt;
  std::string_view local = a.substr(0, at), domain = a.substr(at + 1);
  if (local.empty() || local.size() > 64 || local.front() == '.' || local.back() == '.' ||
      local.find("..") != std::string_view::npos) {
    return std::nullopt;
  }
  if (local.find_first_of("\"(),:;<>[\\]") != std::string_view::npos) return std::nullopt;
  if (!valid_domain(domain)) return std::nullopt;
  return std::string(local) + "@" + lower(domain);
}

bool valid_webhook(std::string_view u) {
  if (u.size() > kMaxWebhookLength || !printable_ascii(u)) return false;
  std::string l = lower(u.substr(0, 8));
  std::size_t scheme = l.rfind("https://", 0) == 0 ? 8 : l.rfind("http://", 0) == 0 ? 7 : 0;
  if (scheme == 0) return false;
  std::string_view rest = u.substr(scheme);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  auto at = authority.rfind('@');
  std::string_view host = at == std::string_view::npos ? authority : authority.substr(at + 1);
  if (!host.empty() && host.front() == '[') return host.find(']') != std::string_view::npos;
  host = host.substr(0, host.find(':'));
  return !host.empty();
}

bool urgency_at_least(Urgency u, Urgency min) { return int(u) >= int(min); }

bool in(const std::vector<std::string>& list, const std::string& v) {
  return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

}  // namespace

Result<std::vector<NotificationRule>> parse_notification_rules(const Json& j) {
  if (j.is_null()) return std::vector<NotificationRule>{};
  if (!j.is_array()) return bad_input("notification rules must be an array of rule objects");
  if (j.size() > kMaxNotificationRules) {
    return bad_input("at most " + std::to_string(kMaxNotificationRules) + " notification rules");
  }
  std::vector<NotificationRule> rules;
  std::set<std::string> names;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const Json& o = j[i];
    std::string what = "notification rule " + std::to_string(i + 1);
    if (!o.is_object()) return bad_input(what + " must be an object");
    if (auto n = o.find("name"); n != o.end() && n->is_string()) {
      what += " ('" + n->get<std::string>() + "')";
    }
    if (auto st = check_keys(o, what,
                             {"name", "enabled", "types", "min_urgency", "customers", "models",
                              "serials", "emails", "webhooks", "contact"});
        !st) {
      return st.error();
    }
    NotificationRule r;
    auto name = o.find("name");
    if (name == o.end()) return bad_input(what + " needs a 'name'");
    auto n = text(*name, what + ": name", kMaxNameLength);
    if (!n) return n.error();
    r.name = *n;
    if (!names.insert(r.name).second) {
      return bad_input("notification rules have two rules named '" + r.name + "'");
    }
    for (const auto& item : o.items()) {
      const std::string& key = item.key();
      const Json& v = item.value();
      const std::string field = what + ": " + key;
      if (key == "name") continue;
      if (key == "enabled" || key == "contact") {
        auto b = boolean(v, field);
        if (!b) return b.error();
        (key == "enabled" ? r.enabled : r.contact) = *b;
      } else if (key == "min_urgency") {
        auto u = urgency_field(v, field);
        if (!u) return u.error();
        r.min_urgency = *u;
      } else if (key == "emails" || key == "webhooks") {
        auto list = text_list(v, field, kMaxTargetsPerRule, kMaxWebhookLength);
        if (!list) return list.error();
        std::set<std::string> seen;
        for (const auto& t : *list) {
          std::string target = t;
          if (key == "emails") {
            auto e = normalized_email(t);
            if (!e) return bad_input(field + ": '" + t + "' is not an e-mail address");
            target = *e;
          } else if (!valid_webhook(t)) {
            return bad_input(field + ": '" + t +
                             "' is not an http:// or https:// URL with a host (printable "
                             "ASCII, at most 2048 characters)");
          }
          if (!seen.insert(key == "emails" ? lower(target) : target).second) {
            return bad_input(field + " lists '" + t + "' twice");
          }
          (key == "emails" ? r.emails : r.webhooks).push_back(target);
        }
      } else {  // types, customers, models, serials
        auto list = text_list(v, field, kMaxMatchValues, kMaxModelLength);
        if (!list) return list.error();
        if (key == "types") {
          const auto& known = notification_event_types();
          for (const auto& t : *list) {
            if (std::find(known.begin(), known.end(), t) == known.end()) {
              return bad_input(field + ": unknown event type '" + t +
                               "' (known: " + join(known, ", ") + ")");
            }
          }
        }
        std::vector<std::string>& into = key == "types"       ? r.types
                                         : key == "customers" ? r.customers
                                         : key == "models"    ? r.models
                                                              : r.serials;
        into = std::move(*list);
      }
    }
    if (r.emails.size() + r.webhooks.size() > kMaxTargetsPerRule) {
      return bad_input(what + " has more than " + std::to_string(kMaxTargetsPerRule) + " targets");
    }
    if (r.emails.empty() && r.webhooks.empty() && !r.contact) {
      return bad_input(what + " has no target: give emails, webhooks or \"contact\": true");
    }
    rules.push_back(std::move(r));
  }
  return rules;
}

Json to_json(const std::vector<NotificationRule>& rules) {
  Json a = Json::array();
  for (const auto& r : rules) {
    Json o = {{"name", r.name}, {"enabled", r.enabled}};
    if (!r.types.empty()) o["types"] = r.types;
    if (r.min_urgency) o["min_urgency"] = to_string(*r.min_urgency);
    if (!r.customers.empty()) o["customers"] = r.customers;
    if (!r.models.empty()) o["models"] = r.models;
    if (!r.serials.empty()) o["serials"] = r.serials;
    if (!r.emails.empty()) o["emails"] = r.emails;
    if (!r.webhooks.empty()) o["webhooks"] = r.webhooks;
    if (r.contact) o["contact"] = true;
    a.push_back(std::move(o));
  }
  return a;
}

const char* to_string(Channel c) { return c == Channel::kWebhook ? "webhook" : "email"; }

Result<std::vector<RouteTarget>> route(const std::vector<NotificationRule>& rules,
                                       const NotificationEvent& event) {
  const auto& known = notification_event_types();
  if (std::find(known.begin(), known.end(), event.type) == known.end()) {
    return bad_input("unknown notification event type '" + event.type + "'");
  }
  std::vector<RouteTarget> out;
  std::set<std::pair<Channel, std::string>> seen;
  auto add = [&](Channel ch, const std::string& target, const std::string& rule) {
    std::string key = ch == Channel::kEmail ? lower(target) : target;
    if (seen.insert({ch, key}).second) out.push_back({ch, target, rule});
  };
  for (const auto& r : rules) {
    if (!r.enabled || !in(r.types, event.type) || !in(r.customers, event.customer) ||
        !in(r.models, event.model) || !in(r.serials, event.serial)) {
      continue;
    }
    if (r.min_urgency && !urgency_at_least(event.urgency, *r.min_urgency)) continue;
    for (const auto& e : r.emails) add(Channel::kEmail, e, r.name);
    if (r.contact) {
      if (auto e = normalized_email(event.contact)) add(Channel::kEmail, *e, r.name);
    }
    for (const auto& w : r.webhooks) add(Channel::kWebhook, w, r.name);
  }
  return out;
}

Json to_json(const RouteTarget& t) {
  return {{"channel", to_string(t.channel)}, {"target", t.target}, {"rule", t.rule}};
}

}  // namespace printrelay
