#include "core/campaign_plan.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "rule_test_support.h"

namespace printrelay {
namespace {

using rule_test::at;
using rule_test::expect_bad_input;
using rule_test::kHour;
using rule_test::kNow;

const std::string kMainSha(64, 'a');
const std::string kFeederSha(64, 'b');
const std::string kOtherModelSha(64, 'c');

Json manifest(const std::string& component, const std::string& version, const std::string& model) {
  return {{"component", component},
          {"version", version},
          {"model", model},
          {"size", 1000},
          {"kind", "firmware"}};
}

CampaignImages images() {
  CampaignImages out;
  out.emplace(kMainSha, manifest("main", "2.0", "MX-4071"));
  out.emplace(kFeederSha, manifest("feeder", "1.5", "MX-4071"));
  out.emplace(kOtherModelSha, manifest("feeder", "9.0", "MX-9000"));
  return out;
}

// A request for the main image of MX-4071, selected by model, expiring in a day.
Json request() {
  return {{"name", "main 2.0"},
          {"select", {{"model", "MX-4071"}}},
          {"components", Json::array({{{"artifact", kMainSha}}})},
          {"expires_at", format_time(kNow + 24 * kHour)}};
}

// An enrolled, registered MX-4071 on main 1.0, seen a minute ago.
CampaignCandidate device(const std::string& serial) {
  CampaignCandidate c;
  c.serial = serial;
  c.registered = true;
  c.enrolled = true;
  c.model = "MX-4071";
  c.place = "floor 2";
  c.customer = "ACME";
  c.firmware = {{"main", "1.0"}};
  c.last_seen = kNow - 60 * 1000;
  return c;
}

CampaignRequest parsed(const Json& body) {
  auto r = parse_campaign_request(body, images(), kNow);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : CampaignRequest{};
}

Json plan(const Json& body, const std::vector<CampaignCandidate>& known) {
  auto p = plan_campaign(parsed(body), known, kNow);
  EXPECT_TRUE(p.ok()) << p.error().message;
  return p.ok() ? *p : Json::object();
}

std::vector<std::string> serials_of(const Json& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r["serial"]);
  return out;
}

// serial -> "reason: detail"
std::map<std::string, std::string> exclusions(const Json& p) {
  std::map<std::string, std::string> out;
  for (const auto& e : p["excluded"]) {
    out[e["serial"]] = e["reason"].get<std::string>() + ": " + e["detail"].get<std::string>();
  }
  return out;
}

TEST(CampaignArtifacts, AreTheWellFormedShasInOrder) {
  Json body = request();
  body["components"] = Json::array(
      {{{"artifact", kFeederSha}}, {{"artifact", "xyz"}}, Json(3), {{"artifact", kMainSha}}});
  EXPECT_EQ(campaign_artifacts(body), (std::vector<std::string>{kFeederSha, kMainSha}));
  EXPECT_TRUE(campaign_artifacts(Json::array()).empty());
  EXPECT_TRUE(campaign_artifacts(Json{{"components", "x"}}).empty());
}

TEST(CampaignRequestParse, ReadsImagesScheduleAndRollout) {
  Json body = request();
  body["components"].push_back({{"artifact", kFeederSha}});
  body["waves"] = {"1", "50%", "rest"};
  body["failure_threshold"] = "10%";
  body["transmit_at"] = "2026-11-23T13:00:00Z";
  body["offline_after_s"] = 3600;
  CampaignRequest r = parsed(body);
  EXPECT_EQ(r.name, "main 2.0");
  EXPECT_EQ(r.image_model, "MX-4071");
  EXPECT_EQ(r.targets, (std::map<std::string, std::string>{{"main", "2.0"}, {"feeder", "1.5"}}));
  ASSERT_EQ(r.components.size(), 2u);
  EXPECT_EQ(r.components[1]["artifact"], kFeederSha);
  EXPECT_EQ(r.components[1]["model"], "MX-4071");
  EXPECT_EQ(r.job_params["components"].size(), 2u);
  EXPECT_EQ(r.expires_at, kNow + 24 * kHour);
  EXPECT_EQ(r.transmit_at, at("2026-11-23T13:00:00Z"));
  EXPECT_EQ(r.waves.size(), 3u);
  EXPECT_EQ(to_text(r.threshold), "10%");
  EXPECT_EQ(r.offline_after_s, 3600);
}

TEST(CampaignRequestParse, DefaultsAreOneWaveOneDeviceAndADay) {
  CampaignRequest r = parsed(request());
  ASSERT_EQ(r.waves.size(), 1u);
  EXPECT_EQ(to_text(r.waves[0]), "rest");
  EXPECT_EQ(to_text(r.threshold), "1");
  EXPECT_EQ(r.offline_after_s, 86400);
  EXPECT_FALSE(r.transmit_at);
}

TEST(CampaignRequestParse, RefusesBadRequestsNamingTheFault) {
  struct Case {
    std::function<void(Json&)> change;
    const char* part;
  };
  const std::vector<Case> cases = {
      {[](Json& b) { b = Json::array(); }, "a campaign must be an object"},
      {[](Json& b) { b["select"] = 3; }, "select must be an object"},
      {[](Json& b) { b["select"] = Json::object(); }, "select needs a model or serials"},
      {[](Json& b) { b["select"]["versions"] = "1.0"; }, "select.versions must be"},
      {[](Json& b) { b["select"]["serials"] = "S1"; }, "select.serials must be an array"},
      {[](Json& b) {
         b["select"]["serials"] = {"S1", "no spaces"};
       },
       "is not a serial"},
      {[](Json& b) { b["components"] = Json::array(); }, "components must be 1-16"},
      {[](Json& b) {
         b["components"] = {{{"artifact", "xyz"}}};
       },
       "a sha256 (64 hex)"},
      {[](Json& b) {
         b["components"] = {{{"artifact", std::string(64, 'd')}}};
       },
       "was not looked up"},
      {[](Json& b) {
         b["components"].push_back({{"artifact", kMainSha}});
       },
       "two images for component main"},
      {[](Json& b) {
         b["select"].erase("model");
         b["select"]["serials"] = {"S1"};
         b["components"].push_back({{"artifact", kOtherModelSha}});
       },
       "the images are for different models"},
      {[](Json& b) { b["select"]["model"] = "MX-9000"; },
       "select.model is MX-9000 but the images are for MX-4071"},
      {[](Json& b) { b.erase("expires_at"); }, "expires_at is needed"},
      {[](Json& b) { b["expires_at"] = format_time(kNow); }, "expires_at is in the past"},
      {[](Json& b) { b["transmit_at"] = 5; }, "transmit_at must be a time"},
      {[](Json& b) { b["update_at"] = "soon"; }, "update_at: "},
      {[](Json& b) { b["max_attempts"] = 0; }, "max_attempts"},
      {[](Json& b) { b["waves"] = Json::array(); }, "waves must be a list of sizes"},
      {[](Json& b) {
         b["waves"] = {"1", "often"};
       },
       "waves: "},
      {[](Json& b) {
         b["waves"] = {"rest", "1"};
       },
       "wave 1: \"rest\" may only be the last wave"},
      {[](Json& b) { b["failure_threshold"] = 0; }, "failure_threshold: "},
      {[](Json& b) { b["offline_after_s"] = 59; }, "offline_after_s must be at least 60"},
      {[](Json& b) { b["offline_after_s"] = "a day"; }, "offline_after_s must be a whole number"},
      {[](Json& b) { b["offline_after_s"] = 1e30; }, "offline_after_s must be a whole number"},
  };
  for (const auto& c : cases) {
    Json body = request();
    c.change(body);
    expect_bad_input(parse_campaign_request(body, images(), kNow), c.part);
  }
}

TEST(CampaignRequestParse, AnImageTheRelayCannotUseIsRefusedInItsWords) {
  CampaignImages held = images();
  held.erase(kMainSha);
  held.emplace(kMainSha, not_found("artifact aaaaaaaaaaaa is not on this relay"));
  auto r = parse_campaign_request(request(), held, kNow);
  expect_bad_input(r, "artifact aaaaaaaaaaaa is not on this relay");
}

TEST(CampaignPlan, SelectionByModelTakesEveryEligibleDeviceBySerial) {
  CampaignCandidate other_model = device("S0");
  other_model.model = "MX-9000";
  Json p = plan(request(), {device("S3"), other_model, device("S1"), device("S2")});
  EXPECT_EQ(serials_of(p["targets"]), (std::vector<std::string>{"S1", "S2", "S3"}));
  // Another model than the selection's is left out without a word.
  EXPECT_TRUE(p["excluded"].empty());
  EXPECT_EQ(p["targets"][0], (Json{{"serial", "S1"},
                                   {"model", "MX-4071"},
                                   {"place", "floor 2"},
                                   {"customer", "ACME"},
                                   {"cells", {{"main", "Ver1.0\u21922.0"}}}}));
  EXPECT_EQ(p["model"], "MX-4071");
  EXPECT_EQ(p["expires_at"], format_time(kNow + 24 * kHour));
  EXPECT_EQ(p["threshold_devices"], 1);
}

TEST(CampaignPlan, EachRuleExcludesWithItsReason) {
  CampaignCandidate never_enrolled = device("S-never");
  never_enrolled.enrolled = false;
  never_enrolled.firmware = Json::object();
  CampaignCandidate no_versions = device("S-silent");
  no_versions.firmware = Json::object();
  CampaignCandidate no_main = device("S-nomain");
  no_main.firmware = {{"feeder", "1.0"}};
  CampaignCandidate current = device("S-current");
  current.firmware = {{"main", "2.0"}};
  CampaignCandidate busy = device("S-busy");
  busy.firmware_job = "j-7";
  CampaignCandidate gone = device("S-gone");
  gone.last_seen = kNow - 86400 * 1000 - 1;
  CampaignCandidate just_in_time = device("S-edge");
  just_in_time.last_seen = kNow - 86400 * 1000;
  Json p =
      plan(request(), {never_enrolled, no_versions, no_main, current, busy, gone, just_in_time});
  EXPECT_EQ(serials_of(p["targets"]), (std::vector<std::string>{"S-edge"}));
  EXPECT_EQ(exclusions(p),
            (std::map<std::string, std::string>{
                {"S-never", "offline: registered but never enrolled"},
                {"S-silent", "incompatible: the device has not reported its versions yet"},
                {"S-nomain", "incompatible: the device reports no main component"},
                {"S-current", "up to date: already runs the target versions"},
                {"S-busy", "busy: a firmware job is already under way (j-7)"},
                {"S-gone", "offline: last seen " + format_time(gone.last_seen)},
            }));
}

TEST(CampaignPlan, ExplicitSerialsKeepTheirOrderAndSayWhyEachIsLeftOut) {
  Json body = request();
  body["select"] = {{"serials", {"S9", "S-other", "S2", "S-unknown", "S9", "S1"}},
                    {"versions", {{"main", "1.0"}}}};
  CampaignCandidate other_model = device("S-other");
  other_model.model = "MX-9000";
  CampaignCandidate older = device("S2");
  older.firmware = {{"main", "0.9"}};
  Json p = plan(body, {device("S1"), older, other_model, device("S9"), device("S-unlisted")});
  // The serials' order, the repeat dropped; S-unlisted is not named, so not a candidate.
  EXPECT_EQ(serials_of(p["targets"]), (std::vector<std::string>{"S9", "S1"}));
  EXPECT_EQ(serials_of(p["excluded"]), (std::vector<std::string>{"S-other", "S2", "S-unknown"}));
  EXPECT_EQ(exclusions(p),
            (std::map<std::string, std::string>{
                {"S-other", "incompatible: model MX-9000; the images are for MX-4071"},
                {"S2", "incompatible: main is 0.9, selection wants 1.0"},
                {"S-unknown", "unregistered: not in the registration table"},
            }));
}

TEST(CampaignPlan, OtherVersionsThanASelectionByModelAreLeftOutWithoutAWord) {
  Json body = request();
  body["select"]["versions"] = {{"main", "1.0"}};
  CampaignCandidate older = device("S2");
  older.firmware = {{"main", "0.9"}};
  Json p = plan(body, {device("S1"), older});
  EXPECT_EQ(serials_of(p["targets"]), (std::vector<std::string>{"S1"}));
  EXPECT_TRUE(p["excluded"].empty());
}

TEST(CampaignPlan, UnregisteredButEnrolledDevicesAreTargetsWithoutAPlace) {
  CampaignCandidate enrolled_only = device("S1");
  enrolled_only.registered = false;
  enrolled_only.place.clear();
  enrolled_only.customer.clear();
  Json p = plan(request(), {enrolled_only});
  ASSERT_EQ(p["targets"].size(), 1u);
  EXPECT_EQ(p["targets"][0]["place"], "");
}

TEST(CampaignPlan, WavesTakeTheTargetsInOrder) {
  Json body = request();
  body["waves"] = {"1", "50%", "rest"};
  body["failure_threshold"] = "50%";
  std::vector<CampaignCandidate> known;
  for (const char* s : {"S5", "S4", "S3", "S2", "S1"}) known.push_back(device(s));
  CampaignCandidate current = device("S0");
  current.firmware = {{"main", "2.0"}};
  known.push_back(current);
  Json p = plan(body, known);
  EXPECT_EQ(p["waves"], (Json::array({{{"number", 1}, {"serials", {"S1"}}},
                                      {{"number", 2}, {"serials", {"S2", "S3", "S4"}}},
                                      {{"number", 3}, {"serials", {"S5"}}}})));
  EXPECT_EQ(p["wave_sizes"], (Json{"1", "50%", "rest"}));
  EXPECT_EQ(p["failure_threshold"], "50%");
  // Of the 5 targets, the up-to-date device not counted.
  EXPECT_EQ(p["threshold_devices"], 3);
}

TEST(CampaignPlan, NoEligibleDeviceIsAnEmptyPlanNotAnError) {
  CampaignCandidate current = device("S1");
  current.firmware = {{"main", "2.0"}};
  Json p = plan(request(), {current});
  EXPECT_TRUE(p["targets"].empty());
  EXPECT_TRUE(p["waves"].empty());
  EXPECT_EQ(p["threshold_devices"], 0);
  EXPECT_EQ(p["excluded"].size(), 1u);
}

TEST(CampaignPlan, ADeviceListedTwiceIsBadInput) {
  expect_bad_input(plan_campaign(parsed(request()), {device("S1"), device("S1")}, kNow),
                   "device S1 is listed twice");
}

}  // namespace
}  // namespace printrelay
