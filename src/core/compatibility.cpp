#include "core/compatibility.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <tuple>

#include "core/firmware_job.h"
#include "core/json_fields.h"
#include "core/rule_text.h"

namespace printrelay {

namespace {

constexpr std::size_t kMaxUnitIdLength = 64;
constexpr std::size_t kMaxVendorIdLength = 64;
constexpr std::size_t kMaxModelLength = 128;
constexpr std::size_t kMaxDeviceVersionLength = 128;

bool valid_version(std::string_view v) {
  if (v.empty() || v.size() > kMaxVersionLength) return false;
  if (v.front() == '.' || v.back() == '.' || v.find("..") != std::string_view::npos) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '+' ||
           c == '-';
  });
}

bool valid_unit_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxUnitIdLength) return false;
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

// One space-separated token of a range: "*", or a version after an optional operator.
Result<VersionClause> parse_clause(std::string_view token, std::string_view range_text) {
  VersionClause c;
  if (token == "*") {
    c.op = VersionClause::Op::kAny;
    return c;
  }
  struct OpText {
    const char* text;
    VersionClause::Op op;
  };
  c.op = VersionClause::Op::kEq;
  // Two-character operators first, so that ">=" is not read as ">" and a version "=...".
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
    return bad_input("version range '" + std::string(range_text) + "': '" + std::string(token) +
                     "' is not a version (1..64 characters of [A-Za-z0-9._+-], after an "
                     "optional >=, >, <=, < or =)");
  }
  c.version = std::string(token);
  return c;
}

std::string ranges_text(const std::vector<VersionRange>& ranges) {
  std::vector<std::string> parts;
  for (const auto& r : ranges) parts.push_back(to_text(r));
  return join(parts, ", ");
}

// A list of ranges: one string or a non-empty array of strings.
Result<std::vector<VersionRange>> parse_range_list(const Json& v, const std::string& field) {
  if (v.is_array() && v.empty()) return bad_input(field + " must not be an empty list");
  auto texts = read_text_list(v, field, kMaxRangesPerList, 4 * kMaxVersionLength);
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

using UnitConditions = std::map<std::string, std::vector<VersionRange>>;

Result<UnitConditions> parse_unit_conditions(const Json& v, const std::string& field) {
  if (!v.is_object() || v.empty()) {
    return bad_input(field + " must be a non-empty object of unit -> version range");
  }
  if (v.size() > kMaxUnitsPerModel) {
    return bad_input(field + " names more than " + std::to_string(kMaxUnitsPerModel) + " units");
  }
  UnitConditions out;
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

Json conditions_json(const UnitConditions& c) {
  Json o = Json::object();
  for (const auto& [unit, ranges] : c) {
    o[unit] = ranges.size() == 1 ? Json(to_text(ranges.front())) : range_list_json(ranges);
  }
  return o;
}

std::string conditions_text(const UnitConditions& c) {
  std::vector<std::string> parts;
  for (const auto& [unit, ranges] : c) parts.push_back(unit + " " + ranges_text(ranges));
  return join(parts, " and ");
}

Result<UnitRule> parse_unit_rule(const Json& j, const std::string& field) {
  if (!j.is_object()) return bad_input(field + " must be an object");
  if (auto st = check_fields(j, field, {"compatible", "recommended", "vendors", "required"}); !st) {
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
    auto v = read_text_list(*it, field + ".vendors", kMaxRangesPerList, kMaxVendorIdLength);
    if (!v) return v.error();
    u.vendors = std::move(*v);
  }
  if (auto it = j.find("required"); it != j.end()) {
    auto b = read_bool(*it, field + ".required");
    if (!b) return b.error();
    u.required = *b;
  }
  return u;
}

// "units": unit id -> rule. `prefix` is "<model>: ".
Result<std::map<std::string, UnitRule>> parse_units(const Json& j, const std::string& prefix) {
  auto units = j.find("units");
  if (units == j.end() || !units->is_object()) {
    return bad_input(prefix + "'units' must be an object of unit id -> rule");
  }
  if (units->size() > kMaxUnitsPerModel) {
    return bad_input(prefix + "more than " + std::to_string(kMaxUnitsPerModel) + " units");
  }
  std::map<std::string, UnitRule> out;
  for (const auto& item : units->items()) {
    if (!valid_unit_id(item.key())) {
      return bad_input(prefix + "unit id '" + item.key() +
                       "' must be 1..64 characters of [A-Za-z0-9._-]");
    }
    auto u = parse_unit_rule(item.value(), prefix + "units." + item.key());
    if (!u) return u.error();
    out[item.key()] = std::move(*u);
  }
  return out;
}

// "requires": an array of {"if", "then"}, absent meaning none.
Result<std::vector<UnitRequirement>> parse_requirements(const Json& j, const std::string& prefix) {
  std::vector<UnitRequirement> out;
  auto it = j.find("requires");
  if (it == j.end()) return out;
  if (!it->is_array() || it->size() > kMaxRequiresPerModel) {
    return bad_input(prefix + "'requires' must be an array of at most " +
                     std::to_string(kMaxRequiresPerModel) + " {\"if\", \"then\"} objects");
  }
  for (std::size_t i = 0; i < it->size(); ++i) {
    const Json& req = (*it)[i];
    std::string field = prefix + "requires[" + std::to_string(i) + "]";
    if (!req.is_object()) return bad_input(field + " must be an object");
    if (auto st = check_fields(req, field, {"if", "then"}); !st) return st.error();
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
    out.push_back(std::move(ur));
  }
  return out;
}

// "unknown_units", "auto_update" and "allow_downgrade" into `r`, each when given.
Status parse_options(const Json& j, const std::string& prefix, CompatibilityRules& r) {
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
      auto b = read_bool(*it, prefix + key);
      if (!b) return b.error();
      r.*member = *b;
    }
  }
  return ok_status();
}

using UnitIndex = std::map<std::string, const DeviceUnit*>;

UnitIndex index_units(const std::vector<DeviceUnit>& units) {
  UnitIndex idx;
  for (const auto& u : units) idx.emplace(u.id, &u);
  return idx;
}

bool conditions_hold(const UnitConditions& conditions, const UnitIndex& fitted) {
  return std::all_of(conditions.begin(), conditions.end(), [&](const auto& c) {
    auto it = fitted.find(c.first);
    return it != fitted.end() && !it->second->version.empty() &&
           satisfies_any(c.second, it->second->version);
  });
}

// A "requires" consequence that fails on the fitted units.
struct RequirementFailure {
  std::size_t index = 0;  // in CompatibilityRules::requirements
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

// The table must be able to fix what it finds: the recommended versions, installed together,
// meet every requirement whose units all have one.
Status check_recommended_meet_requirements(const CompatibilityRules& r, const std::string& prefix) {
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
  return ok_status();
}

// ----- reading what a device reports -----

// Collects units, refusing an id that is empty or too long, a version too long, or a unit twice.
class UnitCollector {
 public:
  Status add(DeviceUnit u) {
    if (u.id.empty() || u.id.size() > kMaxUnitIdLength) {
      return bad_input("structure: unit id must be 1..64 characters");
    }
    if (u.version.size() > kMaxDeviceVersionLength) {
      return bad_input("structure: unit " + u.id + ": software version longer than " +
                       std::to_string(kMaxDeviceVersionLength) + " characters");
    }
    if (!seen_.insert(u.id).second) return bad_input("structure lists unit " + u.id + " twice");
    units_.push_back(std::move(u));
    return ok_status();
  }
  std::vector<DeviceUnit> take() { return std::move(units_); }

 private:
  std::set<std::string> seen_;
  std::vector<DeviceUnit> units_;
};

// {"main": "1.0.3", ...}: unit -> version string (or null: no version reported).
Result<std::vector<DeviceUnit>> parse_firmware_summary(const Json& j) {
  UnitCollector units;
  for (const auto& item : j.items()) {
    if (!item.value().is_string() && !item.value().is_null()) {
      return bad_input("firmware summary: '" + item.key() + "' must be a version string");
    }
    DeviceUnit u;
    u.id = item.key();
    if (item.value().is_string()) u.version = item.value().get<std::string>();
    if (auto st = units.add(std::move(u)); !st) return st.error();
  }
  return units.take();
}

// A structure report's "units" array: [{"id", "software_version", "vendor_id", "serial", ...}].
Result<std::vector<DeviceUnit>> parse_structure_units(const Json& list) {
  UnitCollector units;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const Json& e = list[i];
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
    u.version = string_or_empty(e, "software_version");
    u.serial = string_or_empty(e, "serial");
    u.vendor_id = string_or_empty(e, "vendor_id");
    if (auto st = units.add(std::move(u)); !st) return st.error();
  }
  return units.take();
}

// ----- the steps of judge_units() -----

std::string recommended_of(const CompatibilityRules& rules, const std::string& unit) {
  auto it = rules.units.find(unit);
  return it == rules.units.end() ? std::string() : it->second.recommended;
}

UnitFinding finding(const CompatibilityRules& rules, const std::string& unit,
                    const std::string& found, UnitFindingKind kind, std::string why) {
  return {unit,           found,
          kind,           kind != UnitFindingKind::kNotRecommended,
          std::move(why), recommended_of(rules, unit)};
}

// Each fitted unit on its own: a unit the model does not take, a version unreported or not
// compatible, a vendor not allowed.
std::vector<UnitFinding> fitted_unit_findings(const CompatibilityRules& rules,
                                              const UnitIndex& fitted) {
  std::vector<UnitFinding> out;
  for (const auto& [id, unit] : fitted) {
    auto rule = rules.units.find(id);
    if (rule == rules.units.end()) {
      if (rules.unknown_units_incompatible) {
        out.push_back(finding(rules, id, unit->version, UnitFindingKind::kUnknownUnit,
                              id + " is not a unit " + rules.model + " takes"));
      }
      continue;
    }
    const UnitRule& r = rule->second;
    if (!r.compatible.empty() && unit->version.empty()) {
      out.push_back(finding(rules, id, "", UnitFindingKind::kVersionUnknown,
                            id + " reported no software version; " + rules.model + " needs " +
                                ranges_text(r.compatible)));
    } else if (!r.compatible.empty() && !satisfies_any(r.compatible, unit->version)) {
      out.push_back(finding(rules, id, unit->version, UnitFindingKind::kVersionIncompatible,
                            id + " " + unit->version + " is not compatible with " + rules.model +
                                " (compatible: " + ranges_text(r.compatible) + ")"));
    }
    // A unit that reports no vendor id (a firmware summary has none) is not judged on it.
    if (!r.vendors.empty() && !unit->vendor_id.empty() &&
        std::find(r.vendors.begin(), r.vendors.end(), unit->vendor_id) == r.vendors.end()) {
      out.push_back(finding(rules, id, unit->version, UnitFindingKind::kVendorNotAllowed,
                            id + " vendor " + unit->vendor_id + ", not one allowed on " +
                                rules.model + " (" + join(r.vendors, ", ") + ")"));
    }
  }
  return out;
}

std::vector<UnitFinding> missing_unit_findings(const CompatibilityRules& rules,
                                               const UnitIndex& fitted) {
  std::vector<UnitFinding> out;
  for (const auto& [id, r] : rules.units) {
    if (r.required && !fitted.count(id)) {
      out.push_back(finding(rules, id, "", UnitFindingKind::kMissingUnit,
                            rules.model + " requires a " + id + " unit, which is not fitted"));
    }
  }
  return out;
}

struct RequirementJudgment {
  std::vector<UnitFinding> findings;
  // Units in a failed requirement, on either side: installing the recommended set fixes it.
  std::set<std::string> implicated;
};

RequirementJudgment judge_requirements(const CompatibilityRules& rules, const UnitIndex& fitted) {
  RequirementJudgment out;
  for (const auto& f : failed_requirements(rules, fitted)) {
    out.findings.push_back(
        finding(rules, f.unit, f.found_version, UnitFindingKind::kRequirementNotMet, f.why));
    out.implicated.insert(f.unit);
    for (const auto& [unit, ranges] : rules.requirements[f.index].if_units) {
      out.implicated.insert(unit);
    }
  }
  return out;
}

struct UpdatePlan {
  std::vector<UnitFinding> not_recommended;
  std::map<std::string, std::string> updates;  // StructureVerdict::updates
};

UpdatePlan plan_updates(const CompatibilityRules& rules, const UnitIndex& fitted,
                        const std::set<std::string>& incompatible_units,
                        const std::set<std::string>& implicated) {
  UpdatePlan out;
  for (const auto& [id, unit] : fitted) {
    std::string rec = recommended_of(rules, id);
    if (rec.empty()) continue;
    bool incompatible = incompatible_units.count(id) > 0;
    if (unit->version.empty()) {
      if (incompatible) out.updates[id] = rec;
      continue;
    }
    int cmp = compare_versions(unit->version, rec);
    if (cmp == 0) continue;
    if (!incompatible) {
      out.not_recommended.push_back(
          finding(rules, id, unit->version, UnitFindingKind::kNotRecommended,
                  id + " " + unit->version + " is compatible; " + rec + " is recommended" +
                      (cmp > 0 ? " (an older version)" : "")));
    }
    if (cmp < 0 || incompatible || implicated.count(id) || rules.allow_downgrade) {
      out.updates[id] = rec;
    }
  }
  return out;
}

std::string verdict_summary(const StructureVerdict& v, const UnitIndex& fitted,
                            const std::set<std::string>& incompatible_units) {
  std::string summary = v.model + ": " + to_string(v.verdict);
  if (!incompatible_units.empty()) {
    std::vector<std::string> names(incompatible_units.begin(), incompatible_units.end());
    summary += " (" + join(names, ", ") + ")";
  }
  if (v.updates.empty()) {
    summary += incompatible_units.empty() ? "; no update needed"
                                          : "; no recommended version fixes it: choose one by hand";
    return summary;
  }
  std::vector<std::string> changes;
  for (const auto& [id, to] : v.updates) {
    auto it = fitted.find(id);
    std::string from = it->second->version.empty() ? "?" : it->second->version;
    changes.push_back(id + " " + from + "\u2192" + to);
  }
  return summary + "; update " + join(changes, ", ") +
         (v.auto_update ? " (automatic firmware job)" : " (notify: automatic update is off)");
}

void append(std::vector<UnitFinding>& to, std::vector<UnitFinding> from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

Result<VersionRange> parse_version_range(std::string_view text_in) {
  VersionRange r;
  std::string_view s = text_in;
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (true) {
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    if (s.empty()) break;
    std::size_t end = 0;
    while (end < s.size() && !space(s[end])) ++end;
    auto c = parse_clause(s.substr(0, end), text_in);
    if (!c) return c.error();
    r.clauses.push_back(std::move(*c));
    s.remove_prefix(end);
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
  if (auto st = check_fields(
          j, what,
          {"model", "units", "requires", "unknown_units", "auto_update", "allow_downgrade"});
      !st) {
    return st.error();
  }
  CompatibilityRules r;
  auto model = j.find("model");
  if (model == j.end()) return bad_input("compatibility rules need a 'model'");
  auto m = read_text(*model, "model", kMaxModelLength);
  if (!m) return m.error();
  r.model = *m;
  const std::string prefix = r.model + ": ";
  auto units = parse_units(j, prefix);
  if (!units) return units.error();
  r.units = std::move(*units);
  auto requirements = parse_requirements(j, prefix);
  if (!requirements) return requirements.error();
  r.requirements = std::move(*requirements);
  if (auto st = parse_options(j, prefix, r); !st) return st.error();
  if (auto st = check_recommended_meet_requirements(r, prefix); !st) return st.error();
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
  auto units = j.find("units");
  if (units == j.end()) {
    auto summary = parse_firmware_summary(j);
    if (!summary) return summary.error();
    s.units = std::move(*summary);
    return s;
  }
  if (!units->is_array()) return bad_input("structure: 'units' must be an array");
  if (auto m = j.find("model"); m != j.end()) {
    if (!m->is_string()) return bad_input("structure: 'model' must be a string");
    s.model = m->get<std::string>();
  }
  auto listed = parse_structure_units(*units);
  if (!listed) return listed.error();
  s.units = std::move(*listed);
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
  v.findings = fitted_unit_findings(rules, fitted);
  append(v.findings, missing_unit_findings(rules, fitted));
  RequirementJudgment requirements = judge_requirements(rules, fitted);
  append(v.findings, std::move(requirements.findings));
  std::set<std::string> incompatible_units;
  for (const auto& f : v.findings) {
    if (f.incompatible) incompatible_units.insert(f.unit);
  }
  UpdatePlan plan = plan_updates(rules, fitted, incompatible_units, requirements.implicated);
  append(v.findings, std::move(plan.not_recommended));
  v.updates = std::move(plan.updates);
  std::stable_sort(v.findings.begin(), v.findings.end(),
                   [](const UnitFinding& a, const UnitFinding& b) {
                     return std::tie(a.unit, a.kind) < std::tie(b.unit, b.kind);
                   });
  v.verdict =
      incompatible_units.empty() ? Compatibility::kCompatible : Compatibility::kIncompatible;
  v.auto_update = rules.auto_update && !v.updates.empty();
  v.summary = verdict_summary(v, fitted, incompatible_units);
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

}  // namespace printrelay
