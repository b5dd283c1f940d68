#include "core/monitoring_rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace printrelay {
namespace {

constexpr TimeMs kMin = 60 * 1000;
constexpr TimeMs kHour = 60 * kMin;
constexpr TimeMs kDay = 24 * kHour;

TimeMs at(const char* rfc3339) {
  auto t = parse_time(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return t.ok() ? *t : 0;
}

const TimeMs kNow = at("2026-11-23T12:00:00Z");

void expect_bad_input(const Error& e, const std::string& part) {
  EXPECT_EQ(e.kind, ErrorKind::kBadInput);
  EXPECT_NE(e.message.find(part), std::string::npos) << e.message;
}

template <typename T>
void expect_bad_input(const Result<T>& r, const std::string& part) {
  ASSERT_FALSE(r.ok()) << "expected an error containing: " << part;
  expect_bad_input(r.error(), part);
}

Report report(std::string id, std::string kind, TimeMs created_at, Json body) {
  Report r;
  r.id = std::move(id);
  r.kind = std::move(kind);
  r.created_at = created_at;
  r.body = std::move(body);
  return r;
}

// ===== 1. Compatibility =====

VersionRange range(const char* text) {
  auto r = parse_version_range(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : VersionRange{};
}

TEST(VersionRange, ParsesOperatorsAndPrintsCanonicalText) {
  EXPECT_EQ(to_text(range("1.0.3")), "1.0.3");
  EXPECT_EQ(to_text(range("=1.0.3")), "1.0.3");
  EXPECT_EQ(to_text(range(">=2.1.0")), ">=2.1.0");
  EXPECT_EQ(to_text(range("  >=2.0.0   <3 ")), ">=2.0.0 <3");
  EXPECT_EQ(to_text(range(">1 <=2")), ">1 <=2");
  EXPECT_EQ(to_text(range("*")), "*");
  EXPECT_EQ(range(">=2.1.0").clauses.front().op, VersionClause::Op::kGe);
  EXPECT_EQ(range("2.0.0-rc1+build.5").clauses.front().version, "2.0.0-rc1+build.5");
}

TEST(VersionRange, RefusesWhatIsNotARange) {
  expect_bad_input(parse_version_range(""), "empty");
  expect_bad_input(parse_version_range("   "), "empty");
  expect_bad_input(parse_version_range(">="), "'' is not a version");
  expect_bad_input(parse_version_range("=>1.0"), "'>1.0' is not a version");
  expect_bad_input(parse_version_range("~1.0"), "'~1.0' is not a version");
  expect_bad_input(parse_version_range("1..0"), "'1..0' is not a version");
  expect_bad_input(parse_version_range(".1"), "is not a version");
  expect_bad_input(parse_version_range("1.0!"), "is not a version");
  expect_bad_input(parse_version_range("* <3"), "must stand alone");
  expect_bad_input(parse_version_range(std::string(65, '1')), "is not a version");
  EXPECT_TRUE(parse_version_range(std::string(64, '1')).ok());
}

TEST(VersionRange, SatisfiesAtTheBoundaries) {
  auto ge = range(">=2.1.0");
  EXPECT_TRUE(satisfies(ge, "2.1.0"));
  EXPECT_TRUE(satisfies(ge, "2.1"));  // "2.1" == "2.1.0"
  EXPECT_TRUE(satisfies(ge, "2.10.0"));
  EXPECT_FALSE(satisfies(ge, "2.0.9"));
  auto between = range(">=2.0.0 <3");
  EXPECT_TRUE(satisfies(between, "2.0.0"));
  EXPECT_TRUE(satisfies(between, "2.99.99"));
  EXPECT_FALSE(satisfies(between, "3.0.0"));
  EXPECT_FALSE(satisfies(between, "1.9"));
  EXPECT_TRUE(satisfies(range(">1"), "1.0.1"));
  EXPECT_FALSE(satisfies(range(">1"), "1.0"));
  EXPECT_TRUE(satisfies(range("<=1.5"), "1.5.0"));
  EXPECT_FALSE(satisfies(range("<=1.5"), "1.5.1"));
  EXPECT_TRUE(satisfies(range("2.0.0"), "2.0"));
  EXPECT_FALSE(satisfies(range("2.0.0"), "2.0.1"));
  // An unreported version satisfies only "*".
  EXPECT_TRUE(satisfies(range("*"), ""));
  EXPECT_FALSE(satisfies(range(">=0"), ""));
  EXPECT_FALSE(satisfies(VersionRange{}, "1.0"));
  EXPECT_FALSE(satisfies_any({}, "1.0"));
  EXPECT_TRUE(satisfies_any({range("1.0.3"), range("2.0.0")}, "2.0.0"));
  EXPECT_FALSE(satisfies_any({range("1.0.3"), range("2.0.0")}, "1.0.4"));
}

Json mx4070_json() {
  return Json::parse(R"({
    "model": "MX-4070",
    "units": {
      "main": {"compatible": ["1.0.3", ">=2.0.0 <3"], "recommended": "2.0.0"},
      "controller": {"compatible": [">=2.1.0"], "recommended": "2.1.0", "vendors": ["0x1A2B"],
                     "required": true},
      "adf": {"compatible": "0.9.4", "recommended": "0.9.4"},
      "engine": {}
    },
    "requires": [{"if": {"main": ">=2.0.0"}, "then": {"controller": ">=2.1.0"}}],
    "auto_update": true
  })");
}

CompatibilityRules mx4070() {
  auto r = parse_compatibility_rules(mx4070_json());
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : CompatibilityRules{};
}

CompatibilityTable table_of(const CompatibilityRules& r) { return {{r.model, r}}; }

// The structure body mfp-sim sends (src/sim/mfp.cpp), with versions to vary.
Json sim_structure(const std::string& main = "1.0.3", const std::string& controller = "2.1.0",
                   const std::string& adf = "0.9.4") {
  auto unit = [](const char* id, const std::string& version, const char* vendor) {
    return Json{{"id", id},
                {"name", id},
                {"serial", std::string("SIM-0001-") + id},
                {"software_version", version},
                {"vendor_id", vendor}};
  };
  return {{"model", "MX-4070"},
          {"units",
           {unit("main", main, "0x1A2B"), unit("controller", controller, "0x1A2B"),
            unit("engine", "4.2.0", "0x1A2B"), unit("adf", adf, "0x3C10"),
            unit("finisher", "1.1.0", "0x3C22"), unit("fax", "2.0.1", "0x4D01")}}};
}

TEST(CompatibilityRules, ParsesTheExampleAndRoundTrips) {
  auto r = mx4070();
  EXPECT_EQ(r.model, "MX-4070");
  ASSERT_EQ(r.units.size(), 4u);
  EXPECT_EQ(r.units["main"].compatible.size(), 2u);
  EXPECT_EQ(r.units["main"].recommended, "2.0.0");
  EXPECT_TRUE(r.units["controller"].required);
  EXPECT_EQ(r.units["controller"].vendors, std::vector<std::string>{"0x1A2B"});
  EXPECT_EQ(r.units["adf"].compatible.size(), 1u);  // one string is a list of one
  EXPECT_TRUE(r.units["engine"].compatible.empty());
  ASSERT_EQ(r.requirements.size(), 1u);
  EXPECT_TRUE(r.auto_update);
  EXPECT_FALSE(r.allow_downgrade);
  EXPECT_FALSE(r.unknown_units_incompatible);

  Json j = to_json(r);
  auto back = parse_compatibility_rules(j);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_json(*back), j);
  EXPECT_EQ(j["units"]["main"]["compatible"], Json::parse(R"(["1.0.3", ">=2.0.0 <3"])"));
  EXPECT_EQ(j["requires"][0]["then"]["controller"], ">=2.1.0");
}

TEST(CompatibilityRules, RefusesUnknownKeysAndBadFieldsNamingThem) {
  struct Case {
    const char* json;
    const char* part;
  };
  for (
      const auto& c : std::initializer_list<Case>{
          {R"({"model": "M", "units": {}, "auto_updte": true})", "unknown field 'auto_updte'"},
          {R"({"model": "M", "units": {"main": {"recomended": "1"}}})",
           "units.main has an unknown field 'recomended'"},
          {R"({"units": {}})", "need a 'model'"},
          {R"({"model": "", "units": {}})", "model must be 1..128"},
          {R"({"model": "M"})", "'units' must be an object"},
          {R"({"model": "M", "units": []})", "'units' must be an object"},
          {R"({"model": "M", "units": {"ma in": {}}})", "unit id 'ma in'"},
          {R"({"model": "M", "units": {"main": {"compatible": []}}})",
           "units.main.compatible must not be an empty list"},
          {R"({"model": "M", "units": {"main": {"compatible": [">>1"]}}})", "is not a version"},
          {R"({"model": "M", "units": {"main": {"compatible": [1]}}})",
           "compatible[0] must be a string"},
          {R"({"model": "M", "units": {"main": {"recommended": ">=1"}}})",
           "units.main.recommended must be a version"},
          {R"({"model": "M", "units": {"main": {"compatible": ["1.0"], "recommended": "2.0"}}})",
           "recommended 2.0 is not one of its compatible versions (1.0)"},
          {R"({"model": "M", "units": {"main": {"required": "yes"}}})",
           "units.main.required must be true or false"},
          {R"({"model": "M", "units": {}, "unknown_units": "refuse"})",
           "unknown_units must be \"ignore\" or \"incompatible\""},
          {R"({"model": "M", "units": {}, "allow_downgrade": 1})",
           "allow_downgrade must be true or false"},
          {R"({"model": "M", "units": {}, "requires": {}})", "'requires' must be an array"},
          {R"({"model": "M", "units": {}, "requires": [{"if": {"main": "1"}}]})",
           "requires[0] needs both 'if' and 'then'"},
          {R"({"model": "M", "units": {}, "requires": [{"if": {}, "then": {"a": "1"}}]})",
           "requires[0].if must be a non-empty object"},
          {R"({"model": "M", "units": {}, "requires": [{"if": {"a": "1"}, "then": {"b": "x y!"}}]})",
           "requires[0].then.b"},
          {R"({"model": "M", "units": {}, "requires": [{"if": {"a": "1"}, "then": {"b": "1"},
                "else": {}}]})",
           "requires[0] has an unknown field 'else'"},
      }) {
    auto r = parse_compatibility_rules(Json::parse(c.json));
    expect_bad_input(r, c.part);
  }
  expect_bad_input(parse_compatibility_rules(Json::array()), "must be an object");
}

TEST(CompatibilityRules, RecommendedVersionsMustMeetTheRequirements) {
  Json j = mx4070_json();
  j["units"]["controller"] = {{"compatible", {">=2.0.0"}}, {"recommended", "2.0.5"}};
  expect_bad_input(parse_compatibility_rules(j),
                   "requires[0] is broken by the recommended versions: controller 2.0.5 does not "
                   "meet >=2.1.0, required when main >=2.0.0");
  // Without a recommended controller there is nothing to contradict.
  j["units"]["controller"].erase("recommended");
  EXPECT_TRUE(parse_compatibility_rules(j).ok());
}

TEST(CompatibilityTable, ArrayOrOneObjectEachModelOnce) {
  auto one = parse_compatibility_table(mx4070_json());
  ASSERT_TRUE(one.ok()) << one.error().message;
  EXPECT_EQ(one->count("MX-4070"), 1u);

  Json other = {{"model", "MX-3050"}, {"units", Json::object()}};
  auto two = parse_compatibility_table(Json::array({mx4070_json(), other}));
  ASSERT_TRUE(two.ok()) << two.error().message;
  EXPECT_EQ(two->size(), 2u);
  auto back = parse_compatibility_table(to_json(*two));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(to_json(*back), to_json(*two));
  EXPECT_EQ(to_json(*two)[0]["model"], "MX-3050");  // by model

  expect_bad_input(parse_compatibility_table(Json::array({other, other})),
                   "lists model MX-3050 twice");
  expect_bad_input(parse_compatibility_table(Json::array({other, Json{{"model", "X"}}})),
                   "compatibility table[1]: X: 'units' must be an object");
  expect_bad_input(parse_compatibility_table("MX"), "must be an array");
  auto empty = parse_compatibility_table(Json::array());
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(DeviceStructure, ReadsTheSimulatorsStructureAndFirmwareSummaries) {
  auto s = parse_device_structure(sim_structure());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->model, "MX-4070");
  ASSERT_EQ(s->units.size(), 6u);
  EXPECT_EQ(s->units[0].id, "main");
  EXPECT_EQ(s->units[0].version, "1.0.3");
  EXPECT_EQ(s->units[0].serial, "SIM-0001-main");
  EXPECT_EQ(s->units[3].vendor_id, "0x3C10");

  auto f = parse_device_structure({{"main", "1.0.3"}, {"controller", "2.1.0"}, {"adf", nullptr}});
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->model, "");
  ASSERT_EQ(f->units.size(), 3u);
  EXPECT_EQ(f->units[0].id, "adf");  // JSON objects are sorted
  EXPECT_EQ(f->units[0].version, "");

  auto none = parse_device_structure(Json::object());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->units.empty());

  expect_bad_input(parse_device_structure(Json::array()), "must be an object");
  expect_bad_input(parse_device_structure({{"main", 1}}), "'main' must be a version string");
  expect_bad_input(parse_device_structure({{"units", "x"}}), "'units' must be an array");
  expect_bad_input(parse_device_structure({{"units", {{{"name", "x"}}}}}),
                   "units[0] needs an 'id'");
  expect_bad_input(parse_device_structure({{"units", {{{"id", "a"}}, {{"id", "a"}}}}}),
                   "lists unit a twice");
  expect_bad_input(parse_device_structure({{"units", {{{"id", "a"}, {"software_version", 2}}}}}),
                   "software_version must be a string");
  expect_bad_input(parse_device_structure({{"model", 3}, {"units", Json::array()}}),
                   "'model' must be a string");
}

const UnitFinding* finding(const StructureVerdict& v, const std::string& unit,
                           UnitFindingKind kind) {
  for (const auto& f : v.findings) {
    if (f.unit == unit && f.kind == kind) return &f;
  }
  return nullptr;
}

TEST(JudgeStructure, AllRecommendedIsCompatibleWithNothingToDo) {
  auto v = judge_structure(table_of(mx4070()), "MX-4070", sim_structure("2.0.0", "2.1.0"));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->verdict, Compatibility::kCompatible);
  EXPECT_TRUE(v->findings.empty());
  EXPECT_TRUE(v->updates.empty());
  EXPECT_FALSE(v->auto_update);
  EXPECT_EQ(v->summary, "MX-4070: compatible; no update needed");
}

TEST(JudgeStructure, CompatibleButNotRecommendedCallsForTheAutomaticUpdate) {
  auto v = judge_structure(table_of(mx4070()), "MX-4070", sim_structure());  // main 1.0.3
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->verdict, Compatibility::kCompatible);
  ASSERT_EQ(v->findings.size(), 1u);
  const auto& f = v->findings[0];
  EXPECT_EQ(f.unit, "main");
  EXPECT_EQ(f.found_version, "1.0.3");
  EXPECT_EQ(f.kind, UnitFindingKind::kNotRecommended);
  EXPECT_FALSE(f.incompatible);
  EXPECT_EQ(f.recommended, "2.0.0");
  EXPECT_EQ(f.why, "main 1.0.3 is compatible; 2.0.0 is recommended");
  EXPECT_EQ(v->updates, (std::map<std::string, std::string>{{"main", "2.0.0"}}));
  EXPECT_TRUE(v->auto_update);
  EXPECT_EQ(v->summary,
            "MX-4070: compatible; update main 1.0.3\u21922.0.0 (automatic firmware job)");

  auto rules = mx4070();
  rules.auto_update = false;
  auto notify = judge_structure(table_of(rules), "MX-4070", sim_structure());
  ASSERT_TRUE(notify.ok());
  EXPECT_FALSE(notify->auto_update);
  EXPECT_EQ(notify->updates.size(), 1u);
  EXPECT_NE(notify->summary.find("notify: automatic update is off"), std::string::npos);
}

TEST(JudgeStructure, IncompatibleVersionNamesTheUnitWhyAndTheFix) {
  auto v = judge_structure(table_of(mx4070()), "MX-4070", sim_structure("1.0.2"));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->verdict, Compatibility::kIncompatible);
  const auto* f = finding(*v, "main", UnitFindingKind::kVersionIncompatible);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->incompatible);
  EXPECT_EQ(f->found_version, "1.0.2");
  EXPECT_EQ(f->why, "main 1.0.2 is not compatible with MX-4070 (compatible: 1.0.3, >=2.0.0 <3)");
  EXPECT_EQ(f->recommended, "2.0.0");
  EXPECT_EQ(finding(*v, "main", UnitFindingKind::kNotRecommended), nullptr);  // not twice
  EXPECT_EQ(v->updates.at("main"), "2.0.0");
  EXPECT_TRUE(v->auto_update);
  EXPECT_EQ(v->summary,
            "MX-4070: incompatible (main); update main 1.0.2\u21922.0.0 (automatic firmware job)");
}

TEST(JudgeStructure, RequirementBetweenUnitsIsJudged) {
  // main 2.0.0 needs controller >= 2.1.0; 2.0.9 is also outside the controller's own list.
  auto rules = mx4070();
  rules.units["controller"].compatible = {range(">=2.0.0")};
  auto v = judge_structure(table_of(rules), "MX-4070", sim_structure("2.0.0", "2.0.9"));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->verdict, Compatibility::kIncompatible);
  ASSERT_EQ(v->findings.size(), 1u);
  const auto* f = finding(*v, "controller", UnitFindingKind::kRequirementNotMet);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->why, "controller 2.0.9 does not meet >=2.1.0, required when main >=2.0.0");
  EXPECT_EQ(v->updates, (std::map<std::string, std::string>{{"controller", "2.1.0"}}));

  // A controller that reports no version cannot meet it either.
  Json unreported = sim_structure("2.0.0");
  unreported["units"][1]["software_version"] = nullptr;
  auto u = judge_structure(table_of(rules), "MX-4070", unreported);
  ASSERT_TRUE(u.ok());
  const auto* no_version = finding(*u, "controller", UnitFindingKind::kRequirementNotMet);
  ASSERT_NE(no_version, nullptr);
  EXPECT_EQ(no_version->why,
            "controller reported no version but >=2.1.0 is required when main >=2.0.0");
  EXPECT_NE(finding(*u, "controller", UnitFindingKind::kVersionUnknown), nullptr);
  EXPECT_EQ(u->updates.at("controller"), "2.1.0");

  // With main 1.0.3 the condition does not hold: no requirement.
  auto old = judge_structure(table_of(rules), "MX-4070", sim_structure("1.0.3", "2.0.9"));
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(finding(*old, "controller", UnitFindingKind::kRequirementNotMet), nullptr);
  EXPECT_EQ(old->verdict, Compatibility::kCompatible);
}

TEST(JudgeStructure, MissingRequiredUnitAndUnreportedVersion) {
  Json s = sim_structure("2.0.0");
  s["units"].erase(1);                          // no controller
  s["units"][2]["software_version"] = nullptr;  // adf reports no version
  auto v = judge_structure(table_of(mx4070()), "MX-4070", s);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->verdict, Compatibility::kIncompatible);
  const auto* missing = finding(*v, "controller", UnitFindingKind::kMissingUnit);
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ(missing->why, "MX-4070 requires a controller unit, which is not fitted");
  const auto* req = finding(*v, "controller", UnitFindingKind::kRequirementNotMet);
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(req->why, "controller is not fitted but >=2.1.0 is required when main >=2.0.0");
  const auto* unknown = finding(*v, "adf", UnitFindingKind::kVersionUnknown);
  ASSERT_NE(unknown, nullptr);
  EXPECT_EQ(unknown->why, "adf reported no software version; MX-4070 needs 0.9.4");
  // A unit that is not fitted cannot be updated; the unreported one gets its recommended version.
  EXPECT_EQ(v->updates, (std::map<std::string, std::string>{{"adf", "0.9.4"}}));
  // Findings by unit, then kind.
  ASSERT_EQ(v->findings.size(), 3u);
  EXPECT_EQ(v->findings[0].unit, "adf");
  EXPECT_EQ(v->findings[1].kind, UnitFindingKind::kMissingUnit);
  EXPECT_EQ(v->findings[2].kind, UnitFindingKind::kRequirementNotMet);
}

TEST(JudgeStructure, VendorsAndUnknownUnits) {
  Json s = sim_structure("2.0.0");
  s["units"][1]["vendor_id"] = "0x9999";
  auto v = judge_structure(table_of(mx4070()), "MX-4070", s);
  ASSERT_TRUE(v.ok());
  const auto* f = finding(*v, "controller", UnitFindingKind::kVendorNotAllowed);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->why, "controller vendor 0x9999, not one allowed on MX-4070 (0x1A2B)");
  EXPECT_EQ(v->verdict, Compatibility::kIncompatible);
  EXPECT_TRUE(v->updates.empty());  // a firmware update does not change the vendor
  EXPECT_EQ(v->summary,
            "MX-4070: incompatible (controller); no recommended version fixes it: choose one by "
            "hand");

  // finisher and fax are not in the rules: ignored by default, refused when the model says so.
  auto rules = mx4070();
  EXPECT_EQ(finding(*judge_structure(table_of(rules), "MX-4070", sim_structure("2.0.0")), "fax",
                    UnitFindingKind::kUnknownUnit),
            nullptr);
  rules.unknown_units_incompatible = true;
  auto strict = judge_structure(table_of(rules), "MX-4070", sim_structure("2.0.0"));
  ASSERT_TRUE(strict.ok());
  EXPECT_EQ(strict->verdict, Compatibility::kIncompatible);
  const auto* fax = finding(*strict, "fax", UnitFindingKind::kUnknownUnit);
  ASSERT_NE(fax, nullptr);
  EXPECT_EQ(fax->why, "fax is not a unit MX-4070 takes");
  EXPECT_NE(finding(*strict, "finisher", UnitFindingKind::kUnknownUnit), nullptr);
}

TEST(JudgeStructure, DowngradesOnlyWhenNeededOrAllowed) {
  // main 2.1.0 is compatible and newer than the recommended 2.0.0: kept unless allowed.
  auto v = judge_structure(table_of(mx4070()), "MX-4070", sim_structure("2.1.0"));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->verdict, Compatibility::kCompatible);
  const auto* f = finding(*v, "main", UnitFindingKind::kNotRecommended);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->why, "main 2.1.0 is compatible; 2.0.0 is recommended (an older version)");
  EXPECT_TRUE(v->updates.empty());
  EXPECT_FALSE(v->auto_update);

  auto rules = mx4070();
  rules.allow_downgrade = true;
  auto allowed = judge_structure(table_of(rules), "MX-4070", sim_structure("2.1.0"));
  ASSERT_TRUE(allowed.ok());
  EXPECT_EQ(allowed->updates.at("main"), "2.0.0");

  // An incompatible newer version is always brought back: that is the fix.
  auto too_new = judge_structure(table_of(mx4070()), "MX-4070", sim_structure("3.0.0"));
  ASSERT_TRUE(too_new.ok());
  EXPECT_EQ(too_new->verdict, Compatibility::kIncompatible);
  EXPECT_EQ(too_new->updates.at("main"), "2.0.0");

  // A newer compatible unit that breaks a requirement is brought back with it.
  rules = mx4070();
  rules.units["main"].compatible.push_back(range(">=3"));
  rules.requirements.push_back({{{"main", {range(">=3")}}}, {{"controller", {range(">=3")}}}});
  auto implicated = judge_structure(table_of(rules), "MX-4070", sim_structure("3.0.0"));
  ASSERT_TRUE(implicated.ok());
  EXPECT_EQ(implicated->verdict, Compatibility::kIncompatible);
  EXPECT_NE(finding(*implicated, "controller", UnitFindingKind::kRequirementNotMet), nullptr);
  EXPECT_EQ(implicated->updates, (std::map<std::string, std::string>{{"main", "2.0.0"}}));
}

TEST(JudgeStructure, FirmwareSummaryModelsAndBadInput) {
  auto table = table_of(mx4070());
  auto summary = judge_structure(table, "MX-4070", {{"main", "1.0.3"}, {"controller", "2.1.0"}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->verdict, Compatibility::kCompatible);
  EXPECT_EQ(summary->updates.at("main"), "2.0.0");

  auto no_rules = judge_structure(table, "MX-9999", {{"main", "1.0"}});
  ASSERT_TRUE(no_rules.ok());
  EXPECT_EQ(no_rules->verdict, Compatibility::kNoRules);
  EXPECT_EQ(no_rules->summary, "no compatibility rules for model MX-9999");
  EXPECT_TRUE(judge_structure({}, "MX-4070", Json::object()).ok());

  // The model may come from the structure itself.
  auto from_body = judge_structure(table, "", sim_structure());
  ASSERT_TRUE(from_body.ok());
  EXPECT_EQ(from_body->model, "MX-4070");

  expect_bad_input(judge_structure(table, "MX-3050", sim_structure()),
                   "structure is of model MX-4070, not MX-3050");
  expect_bad_input(judge_structure(table, "", {{"main", "1.0"}}), "model is unknown");
  expect_bad_input(judge_structure(table, "MX-4070", "main"), "must be an object");
}

TEST(JudgeStructure, VerdictJson) {
  auto v = judge_structure(table_of(mx4070()), "MX-4070", sim_structure("1.0.2"));
  ASSERT_TRUE(v.ok());
  Json j = to_json(*v);
  EXPECT_EQ(j["model"], "MX-4070");
  EXPECT_EQ(j["verdict"], "incompatible");
  EXPECT_EQ(j["auto_update"], true);
  EXPECT_EQ(j["updates"], Json({{"main", "2.0.0"}}));
  ASSERT_EQ(j["findings"].size(), 1u);
  EXPECT_EQ(j["findings"][0]["kind"], "version_incompatible");
  EXPECT_EQ(j["findings"][0]["found_version"], "1.0.2");
  EXPECT_EQ(j["findings"][0]["recommended"], "2.0.0");
  EXPECT_EQ(j["findings"][0]["incompatible"], true);
}

// ===== 2. Trouble judgment =====

TEST(EventsFromReports, ReadsAlertsErrorLogsJamsCallsAndBoots) {
  std::vector<Report> reports = {
      report("r1", "error-log", kNow,
             {{"entries",
               {{{"at", "2026-11-23T08:00:00.000Z"},
                 {"type", "jam"},
                 {"code", "J-TRAY2"},
                 {"severity", "recovered"},
                 {"location", "tray2"}},
                {{"at", "2026-11-23T09:00:00.000Z"},
                 {"type", "service_call"},
                 {"code", "SC542"},
                 {"severity", "fatal"},
                 {"sc_type", "A"}},
                {{"at", "2026-11-23T09:30:00.000Z"},
                 {"type", "supply_empty"},
                 {"code", "toner-black-empty"}}}}}),
      // The alert the agent sent with the SC542 entry, stamped a moment later.
      report("r2", "alert", at("2026-11-23T09:00:00.004Z"),
             {{"type", "service_call"}, {"code", "SC542"}, {"sc_type", "A"}, {"message", "x"}}),
      report("r3", "boot", at("2026-11-23T10:00:00Z"), {{"reason", "power_on"}}),
      report(
          "r4", "jams", kNow,
          {{"total", 2},
           {"recent",
            {{{"at", "2026-11-22T07:00:00.000Z"}, {"location", "fuser"}, {"code", "J-FUSER"}}}}}),
      report("r5", "calls", kNow,
             {{"service_calls",
               {{{"code", "SC672"},
                 {"sc_type", "B"},
                 {"at", "2026-11-21T07:00:00.000Z"},
                 {"cleared_at", "2026-11-21T07:15:00.000Z"},
                 {"cleared_by", "reset"}},
                {{"code", "SC620"},
                 {"sc_type", "C"},
                 {"at", "2026-11-20T07:00:00.000Z"},
                 {"cleared_at", "2026-11-21T07:00:00.000Z"}}}}}),
      report("r6", "counters", kNow, {{"total", 5}}),
  };
  auto e = events_from_reports(reports);
  EXPECT_TRUE(e.notes.empty()) << e.notes.front();
  ASSERT_EQ(e.jams.size(), 2u);
  EXPECT_EQ(e.jams[0].location, "fuser");  // sorted by time
  EXPECT_EQ(e.jams[1].location, "tray2");
  EXPECT_EQ(e.jams[1].code, "J-TRAY2");
  EXPECT_EQ(e.jams[1].at, at("2026-11-23T08:00:00Z"));
  ASSERT_EQ(e.reboots.size(), 1u);
  ASSERT_EQ(e.calls.size(), 3u);
  EXPECT_EQ(e.calls[0].code, "SC620");
  EXPECT_EQ(e.calls[0].cleared_by, ClearedBy::kOther);  // no reboot near its clearing
  EXPECT_EQ(e.calls[1].code, "SC672");
  EXPECT_EQ(e.calls[1].cleared_by, ClearedBy::kReset);
  EXPECT_EQ(e.calls[1].cleared_at, at("2026-11-21T07:15:00Z"));
  // SC542 came twice (error-log and alert) and is one call, cleared by the boot that followed.
  EXPECT_EQ(e.calls[2].code, "SC542");
  EXPECT_EQ(e.calls[2].at, at("2026-11-23T09:00:00Z"));
  EXPECT_EQ(e.calls[2].sc_type, "A");
  EXPECT_EQ(e.calls[2].cleared_by, ClearedBy::kReboot);
  EXPECT_EQ(e.calls[2].cleared_at, at("2026-11-23T10:00:00Z"));
}

TEST(EventsFromReports, MergesDuplicatesWithinToleranceOnly) {
  Json entry = {{"at", "2026-11-23T08:00:00.000Z"},
                {"type", "jam"},
                {"code", "J-TRAY2"},
                {"location", "tray2"}};
  Json later = entry;
  later["at"] = "2026-11-23T08:00:05.000Z";  // exactly the tolerance: the same jam
  Json separate = entry;
  separate["at"] = "2026-11-23T08:00:10.001Z";  // 5.001 s after the last copy: another jam
  Json elsewhere = entry;
  elsewhere["location"] = "tray1";
  elsewhere["code"] = "J-TRAY1";
  // Two overlapping error-log reports (a periodic one and a collected full log).
  auto e = events_from_reports(
      {report("a", "error-log", kNow, {{"entries", {entry, later}}}),
       report("b", "error-log", kNow, {{"entries", {entry, later, separate, elsewhere}}})});
  ASSERT_EQ(e.jams.size(), 3u);
  EXPECT_EQ(e.jams[0].location, "tray1");
  EXPECT_EQ(e.jams[1].at, at("2026-11-23T08:00:00Z"));
  EXPECT_EQ(e.jams[2].at, at("2026-11-23T08:00:10.001Z"));
}

TEST(EventsFromReports, ClearingByRebootIsInferred) {
  auto calls = [](const char* cleared_at) {
    Json c = {{"code", "SC672"}, {"sc_type", "B"}, {"at", "2026-11-23T07:00:00.000Z"}};
    c["cleared_at"] = cleared_at ? Json(cleared_at) : Json();
    return Json{{"service_calls", {c}}};
  };
  TimeMs boot = at("2026-11-23T07:20:00Z");
  // Cleared 10 min from a boot report: by that reboot.
  auto near = events_from_reports({report("c", "calls", kNow, calls("2026-11-23T07:10:00.000Z")),
                                   report("b", "boot", boot, Json::object())});
  ASSERT_EQ(near.calls.size(), 1u);
  EXPECT_EQ(near.calls[0].cleared_by, ClearedBy::kReboot);
  EXPECT_EQ(near.calls[0].cleared_at, at("2026-11-23T07:10:00Z"));
  // 10 min 1 ms from it: something else cleared it.
  auto far = events_from_reports({report("c", "calls", kNow, calls("2026-11-23T07:09:59.999Z")),
                                  report("b", "boot", boot, Json::object())});
  EXPECT_EQ(far.calls[0].cleared_by, ClearedBy::kOther);
  // Never cleared, no boot after it: still open.
  auto open =
      events_from_reports({report("c", "calls", kNow, calls(nullptr)),
                           report("b", "boot", at("2026-11-23T06:00:00Z"), Json::object())});
  EXPECT_EQ(open.calls[0].cleared_by, ClearedBy::kNotCleared);
  EXPECT_FALSE(open.calls[0].cleared_at);
}

TEST(EventsFromReports, SkipsMalformedEntriesWithNotes) {
  auto e = events_from_reports({
      report("r1", "error-log", kNow,
             {{"entries",
               {{{"at", "yesterday"}, {"type", "jam"}, {"code", "J-1"}},
                {{"at", "2026-11-23T08:00:00Z"}, {"type", "service_call"}},
                "not an object",
                {{"at", "2026-11-23T08:00:00Z"}, {"type", "jam"}, {"code", "J-OK"}}}}}),
      report("r2", "error-log", kNow, {{"entries", "none"}}),
      report("r3", "alert", kNow, Json::array()),
      report("r4", "calls", kNow,
             {{"service_calls",
               {{{"code", "SC1"},
                 {"at", "2026-11-23T08:00:00Z"},
                 {"cleared_at", "2026-11-23T07:00:00Z"}},
                {{"code", "SC2"}, {"at", "2026-11-23T08:00:00Z"}, {"cleared_by", "reset"}},
                {{"code", "SC3"},
                 {"at", "2026-11-23T08:00:00Z"},
                 {"cleared_at", "2026-11-23T09:00:00Z"},
                 {"cleared_by", "magic"}}}}}),
      report("r5", "alert", kNow, {{"type", "part_eol"}, {"code", "drum-eol"}}),
  });
  ASSERT_EQ(e.jams.size(), 1u);
  EXPECT_EQ(e.jams[0].code, "J-OK");
  ASSERT_EQ(e.calls.size(), 3u);
  EXPECT_FALSE(e.calls[0].cleared_at);  // cleared before it happened: ignored
  EXPECT_FALSE(e.calls[1].cleared_at);  // cleared_by alone: ignored
  EXPECT_EQ(e.calls[2].cleared_by, ClearedBy::kOther);
  std::string all;
  for (const auto& n : e.notes) all += n + "\n";
  EXPECT_EQ(e.notes.size(), 8u) << all;
  for (const char* part :
       {"report r1 (error-log) entry 0: no RFC 3339 'at'", "entry 1: a service_call without a code",
        "entry 2: no RFC 3339 'at'", "report r2 (error-log): no 'entries' array",
        "report r3 (alert): body is not an object", "cleared_at before the call",
        "cleared_by without cleared_at", "cleared_by is not reset, reboot or other"}) {
    EXPECT_NE(all.find(part), std::string::npos) << part << "\n" << all;
  }
  EXPECT_TRUE(events_from_reports({}).jams.empty());
}

TEST(TroubleThresholds, DefaultsAndRoundTrip) {
  auto d = parse_trouble_thresholds(Json::object());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->jam_rate.count, 5);
  EXPECT_EQ(d->jam_rate.window_ms, 24 * kHour);
  EXPECT_EQ(d->repeated_jams.count, 3);
  EXPECT_EQ(d->repeated_jams.window_ms, 7 * kDay);
  EXPECT_EQ(d->sc_recurrence.urgency, Urgency::kHigh);
  EXPECT_TRUE(parse_trouble_thresholds(nullptr).ok());

  Json j = Json::parse(R"({
    "jam_rate": {"count": 8, "window_h": 12, "urgency": "high"},
    "repeated_jams": {"enabled": false},
    "sc_recurrence": {"count": 2, "window_h": 0.5, "lookback_h": 72, "cleared_by": "other"},
    "rising_errors": {"min_count": 3, "window_h": 24, "baseline_windows": 6, "factor": 1.5},
    "location_advice": {"tray2": "replace the tray 2 separation pad"}
  })");
  auto t = parse_trouble_thresholds(j);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->jam_rate.count, 8);
  EXPECT_EQ(t->jam_rate.window_ms, 12 * kHour);
  EXPECT_EQ(t->jam_rate.urgency, Urgency::kHigh);
  EXPECT_FALSE(t->repeated_jams.enabled);
  EXPECT_EQ(t->sc_recurrence.window_ms, 30 * kMin);
  EXPECT_EQ(t->sc_recurrence.cleared_by, std::vector<ClearedBy>{ClearedBy::kOther});
  EXPECT_EQ(t->rising_errors.baseline_windows, 6);
  EXPECT_DOUBLE_EQ(t->rising_errors.factor, 1.5);
  Json out = to_json(*t);
  EXPECT_EQ(out["sc_recurrence"]["window_h"], 0.5);
  auto back = parse_trouble_thresholds(out);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_json(*back), out);
}

TEST(TroubleThresholds, RefusesUnknownKeysAndOutOfRangeValues) {
  struct Case {
    const char* json;
    const char* part;
  };
  for (const auto& c : std::initializer_list<Case>{
           {R"({"jam_rates": {}})", "unknown field 'jam_rates'"},
           {R"({"jam_rate": {"cnt": 5}})", "jam_rate has an unknown field 'cnt'"},
           {R"({"jam_rate": {"count": 0}})", "jam_rate.count must be an integer 1..10000"},
           {R"({"jam_rate": {"count": 2.5}})", "jam_rate.count must be an integer"},
           {R"({"jam_rate": 5})", "jam_rate must be an object"},
           {R"({"repeated_jams": {"window_h": 0}})", "repeated_jams.window_h must be"},
           {R"({"repeated_jams": {"window_h": 8761}})", "repeated_jams.window_h must be"},
           {R"({"repeated_jams": {"window_h": "7d"}})", "repeated_jams.window_h must be a number"},
           {R"({"repeated_jams": {"urgency": "urgent"}})",
            "repeated_jams.urgency must be low, normal, high or fatal"},
           {R"({"sc_recurrence": {"cleared_by": ["reset", "panic"]}})",
            "'panic' is not reset, reboot or other"},
           {R"({"sc_recurrence": {"cleared_by": []}})", "cleared_by must not be empty"},
           {R"({"sc_recurrence": {"lookback_h": -1}})", "sc_recurrence.lookback_h must be"},
           {R"({"rising_errors": {"factor": 0.5}})",
            "rising_errors.factor must be a number 1..100"},
           {R"({"rising_errors": {"baseline_windows": 0}})",
            "rising_errors.baseline_windows must be an integer 1..52"},
           {R"({"rising_errors": {"enabled": "yes"}})",
            "rising_errors.enabled must be true or false"},
           {R"({"location_advice": {"tray2": 5}})", "location_advice.tray2 must be a string"},
           {R"({"location_advice": []})", "location_advice must be an object"},
           {R"([])", "must be an object"},
       }) {
    expect_bad_input(parse_trouble_thresholds(Json::parse(c.json)), c.part);
  }
}

std::vector<Jam> jams_at(const std::string& location, std::initializer_list<TimeMs> ages) {
  std::vector<Jam> out;
  for (TimeMs age : ages) out.push_back({kNow - age, location, "J-" + location});
  return out;
}

std::vector<TroubleFinding> judge(const TroubleThresholds& t, const DeviceEvents& e,
                                  TimeMs now = kNow) {
  auto r = judge_troubles(t, e, now);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : std::vector<TroubleFinding>{};
}

TroubleThresholds only(TroubleType type) {
  TroubleThresholds t;
  t.jam_rate.enabled = type == TroubleType::kJamRate;
  t.repeated_jams.enabled = type == TroubleType::kRepeatedJams;
  t.sc_recurrence.enabled = type == TroubleType::kScRecurrence;
  t.rising_errors.enabled = type == TroubleType::kRisingErrors;
  return t;
}

TEST(JudgeTroubles, NothingFromNothing) {
  EXPECT_TRUE(judge(TroubleThresholds{}, DeviceEvents{}).empty());
}

TEST(JudgeTroubles, JamRateAtTheThresholdAndWindowEdges) {
  auto t = only(TroubleType::kJamRate);
  DeviceEvents e;
  e.jams = jams_at("tray2", {0, kHour, 2 * kHour, 3 * kHour});
  EXPECT_TRUE(judge(t, e).empty());  // 4 < 5
  // The fifth exactly 24 h old counts: windows are closed.
  e.jams.push_back({kNow - 24 * kHour, "fuser", "J-FUSER"});
  auto f = judge(t, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, TroubleType::kJamRate);
  EXPECT_EQ(f[0].subject, "");
  EXPECT_EQ(f[0].count, 5);
  EXPECT_EQ(f[0].window_ms, 24 * kHour);
  EXPECT_EQ(f[0].first_at, kNow - 24 * kHour);
  EXPECT_EQ(f[0].last_at, kNow);
  EXPECT_EQ(f[0].urgency, Urgency::kNormal);
  EXPECT_EQ(f[0].text,
            "Frequent jams: 5 in 24 h (threshold 5); check the paper (type, storage, humidity), "
            "then the rollers where it jams most (tray 2 4, fuser 1)");
  // One millisecond older and it is out.
  e.jams.back().at -= 1;
  EXPECT_TRUE(judge(t, e).empty());
  // A jam stamped after `now` (device clock ahead) counts as recent.
  e.jams.back().at = kNow + kMin;
  EXPECT_EQ(judge(t, e).size(), 1u);
}

TEST(JudgeTroubles, RepeatedJamsAtOneLocation) {
  auto t = only(TroubleType::kRepeatedJams);
  DeviceEvents e;
  e.jams = jams_at("tray2", {kHour, 3 * kDay, 7 * kDay});
  auto more = jams_at("fuser", {kHour, 2 * kHour});
  e.jams.insert(e.jams.end(), more.begin(), more.end());
  e.jams.push_back({kNow, "", "J-UNKNOWN"});  // no location: not a place
  auto f = judge(t, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, TroubleType::kRepeatedJams);
  EXPECT_EQ(f[0].subject, "tray2");
  EXPECT_EQ(f[0].count, 3);
  EXPECT_EQ(f[0].meaning, "paper keeps jamming at tray 2");
  EXPECT_EQ(f[0].action, "check the pickup roller");
  EXPECT_EQ(f[0].text, "Repeated jams at tray 2: check the pickup roller; 3 in 7 days");

  e.jams[2].at -= 1;  // the oldest falls out of the 7 days
  EXPECT_TRUE(judge(t, e).empty());

  // Built-in advice per place, and the operator's own.
  DeviceEvents places;
  for (const char* loc : {"fuser", "duplex", "adf", "exit", "bypass", "chute"}) {
    auto j = jams_at(loc, {1, 2, 3});
    places.jams.insert(places.jams.end(), j.begin(), j.end());
  }
  t.location_advice["chute"] = "clear the chute sensor";
  auto g = judge(t, places);
  ASSERT_EQ(g.size(), 6u);  // by location
  EXPECT_EQ(g[0].text,
            "Repeated jams at ADF: clean or replace the document feeder rollers; 3 in 7 days");
  EXPECT_EQ(g[1].action, "check the bypass tray pickup roller and the paper loaded");
  EXPECT_EQ(g[2].action, "clear the chute sensor");
  EXPECT_EQ(g[3].action, "check the duplex unit and its rollers");
  EXPECT_EQ(g[4].action, "check the exit rollers and the output tray");
  EXPECT_EQ(g[5].action, "check the fuser unit and that the paper type matches the setting");
}

ServiceCall call(const char* code, TimeMs at_ms, std::optional<TimeMs> cleared_at = std::nullopt,
                 ClearedBy by = ClearedBy::kNotCleared) {
  ServiceCall c;
  c.at = at_ms;
  c.code = code;
  c.sc_type = "B";
  c.cleared_at = cleared_at;
  c.cleared_by = cleared_at ? by : ClearedBy::kNotCleared;
  return c;
}

TEST(JudgeTroubles, ScCodeBackWithinTheWindowAfterAReboot) {
  auto t = only(TroubleType::kScRecurrence);
  TimeMs cleared = kNow - 2 * kDay;
  DeviceEvents e;
  e.calls = {call("SC672", cleared - kHour, cleared, ClearedBy::kReboot),
             call("SC672", cleared + 24 * kHour),  // exactly the window after: counts
             call("SC542", cleared + kHour)};      // another code
  auto f = judge(t, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, TroubleType::kScRecurrence);
  EXPECT_EQ(f[0].subject, "SC672");
  EXPECT_EQ(f[0].count, 1);
  EXPECT_EQ(f[0].first_at, cleared + 24 * kHour);
  EXPECT_EQ(f[0].urgency, Urgency::kHigh);
  EXPECT_EQ(f[0].text,
            "SC672 (type B) came back 1 time within 24 h of being cleared by a reboot; send a "
            "technician to find and fix the cause instead of resetting again");

  e.calls[1].at += 1;  // 24 h 1 ms after: not within the window
  EXPECT_TRUE(judge(t, e).empty());
}

TEST(JudgeTroubles, ScRecurrenceCountsOnlyTheClearingsAsked) {
  auto t = only(TroubleType::kScRecurrence);
  TimeMs c1 = kNow - 3 * kDay;
  DeviceEvents e;
  e.calls = {call("SC542", c1 - kHour, c1, ClearedBy::kOther),  // a repair, not a reset
             call("SC542", c1 + kHour)};
  EXPECT_TRUE(judge(t, e).empty());
  t.sc_recurrence.cleared_by = {ClearedBy::kOther};
  auto f = judge(t, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].text.find("cleared by a repair"), std::string::npos) << f[0].text;

  // An open call re-reported is not a recurrence: it was never cleared.
  DeviceEvents open;
  open.calls = {call("SC542", kNow - 2 * kHour), call("SC542", kNow - kHour)};
  EXPECT_TRUE(judge(only(TroubleType::kScRecurrence), open).empty());
}

TEST(JudgeTroubles, ScRecurrenceCountAndLookback) {
  auto t = only(TroubleType::kScRecurrence);
  t.sc_recurrence.count = 2;
  DeviceEvents e;
  TimeMs a = kNow - 6 * kDay, b = kNow - 2 * kDay;
  e.calls = {call("SC672", a, a + kMin, ClearedBy::kReset),
             call("SC672", a + kHour, a + 2 * kHour, ClearedBy::kReboot),
             call("SC672", b, b + kMin, ClearedBy::kReboot), call("SC672", b + 3 * kHour)};
  auto f = judge(t, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].count, 2);
  EXPECT_EQ(f[0].first_at, a + kHour);
  EXPECT_EQ(f[0].last_at, b + 3 * kHour);
  EXPECT_NE(f[0].text.find("cleared by a reset or a reboot"), std::string::npos) << f[0].text;

  // With a 5-day lookback the first recurrence (6 days ago) no longer counts.
  t.sc_recurrence.lookback_ms = 5 * kDay;
  EXPECT_TRUE(judge(t, e).empty());
}

TEST(JudgeTroubles, RisingErrorsAgainstTheBaseline) {
  auto t = only(TroubleType::kRisingErrors);  // 7-day windows, 3 baseline windows, 2x, min 5
  DeviceEvents e;
  auto week = [](int w, TimeMs offset) { return TimeMs(w) * 7 * kDay + offset; };
  // Baseline: 3 jams in the three weeks before (1 a week); recent: 5.
  e.jams = jams_at("tray1", {kHour, 2 * kHour, kDay, 2 * kDay, 7 * kDay, week(1, kHour),
                             week(2, kHour), week(3, 0)});
  auto f = judge(t, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, TroubleType::kRisingErrors);
  EXPECT_EQ(f[0].subject, "jams");
  EXPECT_EQ(f[0].count, 5);  // the one exactly 7 days old is recent
  EXPECT_EQ(f[0].text,
            "Rising jams: 5 in the last 7 days against 1 per 7 days before (threshold 2x); find "
            "what changed: paper, settings, worn rollers");

  // Just below min_count, even from a quiet baseline.
  DeviceEvents few;
  few.jams = jams_at("tray1", {1, 2, 3, 4});
  EXPECT_TRUE(judge(t, few).empty());
  few.jams.push_back({kNow, "tray1", "J-TRAY1"});
  EXPECT_EQ(judge(t, few).size(), 1u);  // 5 from an average of zero

  // Exactly the factor: 6 recent against 9 before (3 a week): 6 >= 2 x 3.
  DeviceEvents calls;
  for (int i = 0; i < 6; ++i) calls.calls.push_back(call("SC995", kNow - i * kHour));
  for (int i = 0; i < 9; ++i) calls.calls.push_back(call("SC995", kNow - 8 * kDay - i * kDay));
  auto g = judge(t, calls);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].subject, "service_calls");
  EXPECT_NE(g[0].text.find("6 in the last 7 days against 3 per 7 days"), std::string::npos)
      << g[0].text;
  calls.calls.push_back(call("SC995", kNow - 9 * kDay - kHour));  // 10 before: 6 < 2 x 3.33
  EXPECT_TRUE(judge(t, calls).empty());
  // Events older than the baseline do not count at all.
  calls.calls.pop_back();
  calls.calls.push_back(call("SC995", kNow - 28 * kDay - 1));
  EXPECT_EQ(judge(t, calls).size(), 1u);
}

TEST(JudgeTroubles, AllRulesInOrderDisabledAndInvalid) {
  DeviceEvents e;
  e.jams = jams_at("tray2", {1, 2, 3, 4, 5});
  TimeMs c = kNow - kDay;
  e.calls = {call("SC672", c - kHour, c, ClearedBy::kReboot), call("SC672", c + kHour)};
  auto f = judge(TroubleThresholds{}, e);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].type, TroubleType::kJamRate);
  EXPECT_EQ(f[1].type, TroubleType::kRepeatedJams);
  EXPECT_EQ(f[2].type, TroubleType::kScRecurrence);
  EXPECT_EQ(f[3].type, TroubleType::kRisingErrors);

  Json j = to_json(f[1]);
  EXPECT_EQ(j["type"], "repeated_jams");
  EXPECT_EQ(j["subject"], "tray2");
  EXPECT_EQ(j["count"], 5);
  EXPECT_EQ(j["window_h"], 168);
  EXPECT_EQ(j["urgency"], "normal");
  EXPECT_EQ(j["first_at"], format_time(kNow - 5));
  EXPECT_EQ(j["text"], "Repeated jams at tray 2: check the pickup roller; 5 in 7 days");

  TroubleThresholds off;
  off.jam_rate.enabled = off.repeated_jams.enabled = false;
  off.sc_recurrence.enabled = off.rising_errors.enabled = false;
  EXPECT_TRUE(judge(off, e).empty());

  TroubleThresholds bad;
  bad.jam_rate.count = 0;
  expect_bad_input(judge_troubles(bad, e, kNow), "jam_rate.count must be 1..10000");
  bad = TroubleThresholds{};
  bad.rising_errors.factor = std::nan("");
  expect_bad_input(judge_troubles(bad, e, kNow), "rising_errors.factor");
  bad = TroubleThresholds{};
  bad.sc_recurrence.cleared_by.clear();
  expect_bad_input(judge_troubles(bad, e, kNow), "sc_recurrence.cleared_by");
  bad = TroubleThresholds{};
  bad.repeated_jams.window_ms = 0;
  expect_bad_input(judge_troubles(bad, e, kNow), "repeated_jams.window_h");
}

// ===== 3. Supply forecasting =====

TEST(ForecastPolicy, DefaultsRoundTripAndErrors) {
  auto d = parse_forecast_policy(Json::object());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->lead_time_ms, 7 * kDay);
  EXPECT_DOUBLE_EQ(d->low_pct, 10);
  EXPECT_EQ(d->min_readings, 2);
  auto p = parse_forecast_policy(Json::parse(
      R"({"lead_time_days": 10, "low_pct": 5.5, "min_readings": 3, "min_span_h": 12,
          "replacement_jump_pct": 20})"));
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->lead_time_ms, 10 * kDay);
  EXPECT_EQ(p->min_span_ms, 12 * kHour);
  auto back = parse_forecast_policy(to_json(*p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(to_json(*back), to_json(*p));
  EXPECT_TRUE(parse_forecast_policy(nullptr).ok());

  expect_bad_input(parse_forecast_policy({{"lead_days", 7}}), "unknown field 'lead_days'");
  expect_bad_input(parse_forecast_policy({{"min_readings", 1}}),
                   "min_readings must be an integer 2..1000");
  expect_bad_input(parse_forecast_policy({{"low_pct", 101}}), "low_pct must be a number 0..100");
  expect_bad_input(parse_forecast_policy({{"lead_time_days", -1}}),
                   "lead_time_days must be 0..365");
  expect_bad_input(parse_forecast_policy({{"min_span_h", "1d"}}), "min_span_h must be a number");
  expect_bad_input(parse_forecast_policy({{"replacement_jump_pct", 0}}),
                   "replacement_jump_pct must be a number 1..100");
  expect_bad_input(parse_forecast_policy(Json::array()), "must be an object");
}

SupplyForecast forecast(std::vector<SupplyReading> readings, TimeMs now = kNow,
                        const ForecastPolicy& p = ForecastPolicy{}) {
  auto f = forecast_supply(p, "toner-black", std::move(readings), now);
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
  return f.ok() ? *f : SupplyForecast{};
}

TEST(ForecastSupply, NoOrFewReadings) {
  auto none = forecast({});
  EXPECT_EQ(none.confidence, ForecastConfidence::kNoReadings);
  EXPECT_FALSE(none.low);
  EXPECT_FALSE(none.level_pct);
  EXPECT_EQ(none.reason, "toner-black: no readings");

  auto one = forecast({{kNow, 50}});
  EXPECT_EQ(one.confidence, ForecastConfidence::kTooFewReadings);
  EXPECT_EQ(one.level_pct, 50);
  EXPECT_FALSE(one.low);
  EXPECT_FALSE(one.days_until_empty);
  EXPECT_EQ(one.reason, "toner-black at 50%: 1 reading, 2 needed for a forecast");

  // The threshold alone makes a supply low: at it, not just above.
  EXPECT_TRUE(forecast({{kNow, 10}}).low);
  EXPECT_FALSE(forecast({{kNow, 10.5}}).low);
  EXPECT_EQ(forecast({{kNow, 10}}).reason, "toner-black at 10%: at or below the 10% threshold");
}

TEST(ForecastSupply, LinearUseAndTheLeadTimeBoundary) {
  // 100% -> 90% in one day: 10% a day, empty 9 days after the last reading.
  TimeMs t0 = kNow - 10 * kDay;
  std::vector<SupplyReading> r = {{t0, 100}, {t0 + kDay, 90}};
  TimeMs empty = t0 + 10 * kDay;
  auto f = forecast(r, empty - 7 * kDay);  // exactly the lead time left: not low
  EXPECT_EQ(f.confidence, ForecastConfidence::kOk);
  ASSERT_TRUE(f.pct_per_day);
  EXPECT_DOUBLE_EQ(*f.pct_per_day, 10);
  EXPECT_EQ(f.empty_at, empty);
  EXPECT_DOUBLE_EQ(*f.days_until_empty, 7);
  EXPECT_FALSE(f.low);
  EXPECT_EQ(f.readings_used, 2);
  EXPECT_FALSE(f.replaced_at);
  EXPECT_EQ(f.reason, "toner-black at 90%, using 10% a day: empty in about 7 days (2026-11-23)");

  auto g = forecast(r, empty - 7 * kDay + 1);
  EXPECT_TRUE(g.low);
  EXPECT_NE(g.reason.find("within the lead time of 7 days"), std::string::npos) << g.reason;

  // Past the forecast empty date the days left are 0, not negative.
  EXPECT_DOUBLE_EQ(*forecast(r, empty + kDay).days_until_empty, 0);

  // A lead time of 0 never makes a supply low by forecast.
  ForecastPolicy p;
  p.lead_time_ms = 0;
  EXPECT_FALSE(forecast(r, empty - 1, p).low);
}

TEST(ForecastSupply, LeastSquaresIsRobustToNoiseAndOrder) {
  TimeMs t0 = kNow - 3 * kDay;
  std::vector<SupplyReading> r = {
      {t0 + 2 * kDay, 79}, {t0, 90}, {t0 + 3 * kDay, 70}, {t0 + kDay, 81}};
  auto f = forecast(r);
  ASSERT_TRUE(f.pct_per_day);
  EXPECT_NEAR(*f.pct_per_day, 6.2, 1e-9);  // -sum(dt dy) / sum(dt^2) = 31 / 5
  EXPECT_EQ(f.level_pct, 70);              // the last reading, whatever the input order
  EXPECT_EQ(f.readings_used, 4);
  std::reverse(r.begin(), r.end());
  EXPECT_EQ(to_json(forecast(r)), to_json(f));
  // A small rise (sensor noise, below the jump) is not a replacement.
  r.push_back({t0 + 3 * kDay + kHour, 75});
  auto noisy = forecast(r);
  EXPECT_FALSE(noisy.replaced_at);
  EXPECT_EQ(noisy.readings_used, 5);
}

TEST(ForecastSupply, ReplacementStartsAFreshSeries) {
  TimeMs t0 = kNow - 5 * kDay;
  std::vector<SupplyReading> r = {{t0, 30}, {t0 + kDay, 20}, {t0 + 2 * kDay, 100}};
  auto just = forecast(r);
  EXPECT_EQ(just.replaced_at, t0 + 2 * kDay);
  EXPECT_EQ(just.readings_used, 1);
  EXPECT_EQ(just.confidence, ForecastConfidence::kTooFewReadings);
  EXPECT_EQ(just.reason,
            "toner-black at 100%: 1 reading since the replacement, 2 needed for a forecast");
  r.push_back({t0 + 4 * kDay, 96});
  auto f = forecast(r);
  EXPECT_EQ(f.confidence, ForecastConfidence::kOk);
  EXPECT_DOUBLE_EQ(*f.pct_per_day, 2);  // only since the replacement
  EXPECT_EQ(f.readings_used, 2);

  // A rise of exactly the jump is a replacement; just below is not.
  ForecastPolicy p;
  p.min_span_ms = 0;
  auto exact = forecast({{t0, 40}, {t0 + kHour, 50}, {t0 + 2 * kHour, 49}}, kNow, p);
  EXPECT_EQ(exact.replaced_at, t0 + kHour);
  auto below = forecast({{t0, 40}, {t0 + kHour, 49.5}, {t0 + 2 * kHour, 49}}, kNow, p);
  EXPECT_FALSE(below.replaced_at);
}

TEST(ForecastSupply, ConfidenceFlags) {
  auto short_span = forecast({{kNow - kHour, 60}, {kNow, 59}});
  EXPECT_EQ(short_span.confidence, ForecastConfidence::kSpanTooShort);
  EXPECT_FALSE(short_span.days_until_empty);
  EXPECT_EQ(short_span.reason, "toner-black at 59%: readings span 1 h, 24 h needed for a forecast");
  // Exactly the minimum span is enough.
  EXPECT_EQ(forecast({{kNow - kDay, 60}, {kNow, 59}}).confidence, ForecastConfidence::kOk);
  // Same time twice: no span at all, even with a zero minimum.
  ForecastPolicy p;
  p.min_span_ms = 0;
  EXPECT_EQ(forecast({{kNow, 60}, {kNow, 59}}, kNow, p).confidence,
            ForecastConfidence::kSpanTooShort);

  auto flat = forecast({{kNow - 2 * kDay, 50}, {kNow, 50}});
  EXPECT_EQ(flat.confidence, ForecastConfidence::kNotFalling);
  EXPECT_DOUBLE_EQ(*flat.pct_per_day, 0);
  EXPECT_FALSE(flat.days_until_empty);
  EXPECT_FALSE(flat.low);
  EXPECT_EQ(flat.reason, "toner-black at 50%: the level is not falling, no empty date");
  EXPECT_EQ(forecast({{kNow - 2 * kDay, 50}, {kNow, 55}}).confidence,
            ForecastConfidence::kNotFalling);

  ForecastPolicy three;
  three.min_readings = 3;
  EXPECT_EQ(forecast({{kNow - 2 * kDay, 50}, {kNow, 40}}, kNow, three).confidence,
            ForecastConfidence::kTooFewReadings);
}

TEST(ForecastSupply, EmptySupplyAndBadInput) {
  auto e = forecast({{kNow - 2 * kDay, 10}, {kNow - kDay, 0}, {kNow, 0}});
  EXPECT_TRUE(e.low);
  EXPECT_DOUBLE_EQ(*e.days_until_empty, 0);
  EXPECT_EQ(e.empty_at, kNow - kDay);
  EXPECT_EQ(e.reason, "toner-black is empty since " + format_time(kNow - kDay));

  ForecastPolicy p;
  expect_bad_input(forecast_supply(p, "toner-cyan", {{kNow, 101}}, kNow),
                   "toner-cyan: level 101% at");
  expect_bad_input(forecast_supply(p, "toner-cyan", {{kNow, -1}}, kNow), "outside 0..100");
  expect_bad_input(forecast_supply(p, "toner-cyan", {{kNow, std::nan("")}}, kNow),
                   "outside 0..100");
  p.min_readings = 1;
  expect_bad_input(forecast_supply(p, "toner-cyan", {}, kNow), "min_readings must be 2..1000");
}

TEST(ForecastSupply, Json) {
  Json none = to_json(forecast({}));
  EXPECT_EQ(none["confidence"], "no_readings");
  EXPECT_TRUE(none["level_pct"].is_null());
  EXPECT_TRUE(none["empty_at"].is_null());
  EXPECT_EQ(none["low"], false);
  Json ok = to_json(forecast({{kNow - kDay, 100}, {kNow, 90}}));
  EXPECT_EQ(ok["confidence"], "ok");
  EXPECT_EQ(ok["level_pct"], 90.0);
  EXPECT_EQ(ok["pct_per_day"], 10.0);
  EXPECT_EQ(ok["days_until_empty"], 9.0);
  EXPECT_EQ(ok["empty_at"], format_time(kNow + 9 * kDay));
  EXPECT_EQ(ok["readings_used"], 2);
}

TEST(SupplyReadings, FromTheSimulatorsSuppliesReports) {
  auto body = [](int black, int cyan) {
    return Json{{"supplies",
                 {{{"name", "toner-black"}, {"level_pct", black}, {"state", "ok"}},
                  {{"name", "toner-cyan"}, {"level_pct", cyan}, {"state", "ok"}}}},
                {"parts", Json::array()}};
  };
  auto s = supply_readings_from_reports({
      report("r2", "supplies", kNow, body(80, 60)),
      report("r1", "supplies", kNow - kDay, body(90, 61)),
      report("r1b", "supplies", kNow - kDay, body(90, 61)),  // the same reading again
      report("r3", "counters", kNow, {{"total", 1}}),
      report("r4", "supplies", kNow,
             {{"supplies", {{{"level_pct", 5}}, {{"name", "drum"}, {"level_pct", "5%"}}}}}),
      report("r5", "supplies", kNow, Json::array()),
  });
  ASSERT_EQ(s.readings.size(), 2u);
  const auto& black = s.readings["toner-black"];
  ASSERT_EQ(black.size(), 2u);
  EXPECT_EQ(black[0].at, kNow - kDay);
  EXPECT_DOUBLE_EQ(black[0].level_pct, 90);
  EXPECT_DOUBLE_EQ(black[1].level_pct, 80);
  ASSERT_EQ(s.notes.size(), 3u);
  EXPECT_NE(s.notes[0].find("report r4 (supplies) supplies 0: no name"), std::string::npos);
  EXPECT_NE(s.notes[1].find("level_pct is not a number 0..100"), std::string::npos);
  EXPECT_NE(s.notes[2].find("report r5 (supplies): no 'supplies' array"), std::string::npos);
  EXPECT_TRUE(supply_readings_from_reports({}).readings.empty());
}

// ===== 4. Notification routing =====

Json rules_json() {
  return Json::parse(R"([
    {"name": "acme-urgent", "types": ["alert", "trouble"], "min_urgency": "high",
     "customers": ["ACME"], "emails": ["ops@Acme.Example", "dealer@example.com"],
     "webhooks": "https://hooks.example.com/acme"},
    {"name": "toner", "types": "supply_low", "emails": ["supplies@example.com"], "contact": true},
    {"name": "all-4070", "models": ["MX-4070"], "emails": ["DEALER@example.com"],
     "webhooks": ["https://hooks.example.com/fleet"]},
    {"name": "old", "enabled": false, "emails": ["old@example.com"]}
  ])");
}

std::vector<NotificationRule> rules() {
  auto r = parse_notification_rules(rules_json());
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : std::vector<NotificationRule>{};
}

NotificationEvent event(const std::string& type, Urgency u, const std::string& customer = "ACME",
                        const std::string& model = "MX-4070") {
  NotificationEvent e;
  e.type = type;
  e.urgency = u;
  e.serial = "SIM-0001";
  e.model = model;
  e.customer = customer;
  e.contact = "Installer@Customer.Example";
  return e;
}

TEST(NotificationRules, ParseNormalisesAndRoundTrips) {
  auto r = rules();
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].emails, (std::vector<std::string>{"ops@acme.example", "dealer@example.com"}));
  EXPECT_EQ(r[0].webhooks, std::vector<std::string>{"https://hooks.example.com/acme"});
  EXPECT_EQ(r[0].min_urgency, Urgency::kHigh);
  EXPECT_EQ(r[1].types, std::vector<std::string>{"supply_low"});
  EXPECT_TRUE(r[1].contact);
  EXPECT_FALSE(r[3].enabled);
  Json j = to_json(r);
  auto back = parse_notification_rules(j);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_json(*back), j);
  auto none = parse_notification_rules(Json::array());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(parse_notification_rules(nullptr).ok());
}

TEST(NotificationRules, RefusesBadRulesNamingTheField) {
  struct Case {
    const char* json;
    const char* part;
  };
  for (const auto& c : std::initializer_list<Case>{
           {R"([{"name": "a", "emails": ["x@y.z"], "emial": []}])",
            "notification rule 1 ('a') has an unknown field 'emial'"},
           {R"([{"emails": ["x@y.z"]}])", "notification rule 1 needs a 'name'"},
           {R"([{"name": "", "emails": ["x@y.z"]}])", "name must be 1..64 characters"},
           {R"([{"name": "a"}])", "has no target"},
           {R"([{"name": "a", "emails": []}])", "has no target"},
           {R"([{"name": "a", "emails": ["x@y.z"]}, {"name": "a", "emails": ["x@y.z"]}])",
            "two rules named 'a'"},
           {R"([{"name": "a", "types": ["alrt"], "emails": ["x@y.z"]}])",
            "types: unknown event type 'alrt'"},
           {R"([{"name": "a", "min_urgency": "urgent", "emails": ["x@y.z"]}])",
            "min_urgency must be low, normal, high or fatal"},
           {R"([{"name": "a", "emails": ["not-an-address"]}])", "is not an e-mail address"},
           {R"([{"name": "a", "emails": ["Bob <bob@x.example>"]}])", "is not an e-mail address"},
           {R"([{"name": "a", "emails": ["bob@x.example\r\nBcc: all@x.example"]}])",
            "must not contain control characters"},
           {R"([{"name": "a", "emails": ["a@b@c"]}])", "is not an e-mail address"},
           {R"([{"name": "a", "emails": ["a@-b.example"]}])", "is not an e-mail address"},
           {R"([{"name": "a", "emails": ["a..b@c.example"]}])", "is not an e-mail address"},
           {R"([{"name": "a", "emails": ["x@y.z", "X@Y.z"]}])", "lists 'X@Y.z' twice"},
           {R"([{"name": "a", "webhooks": ["ftp://x.example/h"]}])",
            "is not an http:// or https://"},
           {R"([{"name": "a", "webhooks": ["https://"]}])", "is not an http:// or https://"},
           {R"([{"name": "a", "webhooks": ["https://x.example/a b"]}])",
            "is not an http:// or https://"},
           {R"([{"name": "a", "webhooks": ["https://:443/x"]}])", "is not an http:// or https://"},
           {R"([{"name": "a", "webhooks": ["https://h.example", "https://h.example"]}])",
            "lists 'https://h.example' twice"},
           {R"([{"name": "a", "emails": ["x@y.z"], "enabled": "no"}])",
            "enabled must be true or false"},
           {R"([{"name": "a", "emails": ["x@y.z"], "customers": [""]}])",
            "customers[0] must be 1..128"},
           {R"([{"name": "a", "emails": ["x@y.z"], "models": 4070}])",
            "models must be a string or an array of strings"},
           {R"(["a"])", "notification rule 1 must be an object"},
           {R"({"name": "a"})", "must be an array"},
       }) {
    expect_bad_input(parse_notification_rules(Json::parse(c.json)), c.part);
  }
  Json many = Json::array();
  Json one = {{"name", "n"}, {"emails", Json::array()}};
  for (int i = 0; i < 33; ++i) one["emails"].push_back("a" + std::to_string(i) + "@x.example");
  many.push_back(one);
  expect_bad_input(parse_notification_rules(many), "has more than 32 entries");
  one["emails"].erase(0);
  one["webhooks"] = {"https://x.example"};
  many[0] = one;
  expect_bad_input(parse_notification_rules(many), "has more than 32 targets");
  Json lots = Json::array();
  for (int i = 0; i < 257; ++i) {
    lots.push_back({{"name", "r" + std::to_string(i)}, {"emails", {"a@x.example"}}});
  }
  expect_bad_input(parse_notification_rules(lots), "at most 256 notification rules");
  // Accepted forms at the edges.
  EXPECT_TRUE(parse_notification_rules(Json::parse(R"([{"name": "a", "emails": ["a@b"],
                                   "webhooks": ["HTTP://user:pw@[::1]:8080/h?x=1"]}])"))
                  .ok());
}

TEST(Route, MatchesTypeUrgencyCustomerAndModelDeduplicated) {
  auto r = rules();
  // A fatal alert at ACME: the urgent rule, then the 4070 rule (its dealer address is the same
  // mailbox in other case: once, credited to the first rule).
  auto t = route(r, event("alert", Urgency::kFatal));
  ASSERT_TRUE(t.ok()) << t.error().message;
  std::vector<RouteTarget> want = {
      {Channel::kEmail, "ops@acme.example", "acme-urgent"},
      {Channel::kEmail, "dealer@example.com", "acme-urgent"},
      {Channel::kWebhook, "https://hooks.example.com/acme", "acme-urgent"},
      {Channel::kWebhook, "https://hooks.example.com/fleet", "all-4070"},
  };
  EXPECT_EQ(*t, want);

  // Urgency exactly at the minimum matches; one below does not.
  EXPECT_EQ(route(r, event("alert", Urgency::kHigh))->size(), 4u);
  auto normal = route(r, event("alert", Urgency::kNormal));
  ASSERT_TRUE(normal.ok());
  std::vector<RouteTarget> fleet_only = {
      {Channel::kEmail, "DEALER@example.com", "all-4070"},
      {Channel::kWebhook, "https://hooks.example.com/fleet", "all-4070"},
  };
  EXPECT_EQ(*normal, fleet_only);

  // Another customer and model: nothing but what matches everything (the disabled rule never).
  auto other = route(r, event("trouble", Urgency::kFatal, "Globex", "MX-3050"));
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());

  // Supply low mails the device's contact too (seed 002: the installer), domain lower-cased.
  auto toner = route(r, event("supply_low", Urgency::kNormal, "Globex", "MX-3050"));
  ASSERT_TRUE(toner.ok());
  std::vector<RouteTarget> toner_want = {
      {Channel::kEmail, "supplies@example.com", "toner"},
      {Channel::kEmail, "Installer@customer.example", "toner"},
  };
  EXPECT_EQ(*toner, toner_want);
  auto no_contact = event("supply_low", Urgency::kNormal, "Globex", "MX-3050");
  no_contact.contact = "call Bob on 555-1234";
  EXPECT_EQ(route(r, no_contact)->size(), 1u);

  expect_bad_input(route(r, event("alrt", Urgency::kFatal)), "unknown notification event type");
  auto empty = route({}, event("alert", Urgency::kFatal));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(to_json(want[0]),
            Json({{"channel", "email"}, {"target", "ops@acme.example"}, {"rule", "acme-urgent"}}));
}

TEST(Route, SerialsAndEmptyConditionsMatchEverything) {
  auto r = parse_notification_rules(Json::parse(R"([
    {"name": "one-device", "serials": ["SIM-0002"], "webhooks": ["https://h.example/one"]},
    {"name": "everything", "emails": "noc@example.com"}
  ])"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  for (const auto& type : notification_event_types()) {
    auto t = route(*r, event(type, Urgency::kLow, "", ""));
    ASSERT_TRUE(t.ok());
    ASSERT_EQ(t->size(), 1u) << type;
    EXPECT_EQ((*t)[0].rule, "everything");
  }
  auto e = event("job_failed", Urgency::kLow);
  e.serial = "SIM-0002";
  auto t = route(*r, e);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].rule, "one-device");
}

}  // namespace
}  // namespace printrelay
