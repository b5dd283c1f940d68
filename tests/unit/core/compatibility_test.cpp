#include "core/compatibility.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "rule_test_support.h"

namespace printrelay {
namespace {

using namespace rule_test;

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

}  // namespace
}  // namespace printrelay
