#include "cli/firmware_requests.h"

#include <gtest/gtest.h>

#include "core/firmware_job.h"
#include "core/firmware_rules.h"
#include "core/time.h"
#include "net/signing.h"

namespace printrelay::cli {
namespace {

constexpr TimeMs kNow = 1'795'428'000'789;  // 2026-11-23T10:00:00.789Z (a Monday)
const std::string kMainSha(64, 'a');
const std::string kCtlSha(64, 'c');

Json manifest(const std::string& sha, const char* component, const char* version,
              const char* model = "MX-4070", const char* kind = "firmware") {
  return {{"sha256", sha},
          {"kind", kind},
          {"model", model},
          {"component", component},
          {"version", version},
          {"size", 1048576},
          {"key_id", "3f9a0c1d2e4b5a67"},
          {"signed_at", "2026-11-20T10:00:00Z"},
          {"signature", std::string(128, 'f')}};
}

FirmwareJobArgs job_args() {
  FirmwareJobArgs a;
  a.serial = "SIM-0001";
  a.artifacts = {kMainSha, kCtlSha};
  return a;
}

TEST(FirmwareComponents, FromTheManifestsInFlagOrder) {
  auto c = firmware_components({kMainSha, kCtlSha}, {manifest(kMainSha, "main", "2.0.0"),
                                                     manifest(kCtlSha, "controller", "2.2.0")});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(
      *c,
      (Json{
          {{"component", "main"}, {"version", "2.0.0"}, {"artifact", kMainSha}, {"size", 1048576}},
          {{"component", "controller"},
           {"version", "2.2.0"},
           {"artifact", kCtlSha},
           {"size", 1048576}}}));
}

TEST(FirmwareComponents, RefusesImagesThatCannotMakeOneJob) {
  auto relay_build =
      firmware_components({kMainSha}, {manifest(kMainSha, "", "0.2.0", "", "relay")});
  ASSERT_FALSE(relay_build);
  EXPECT_NE(relay_build.error().message.find("not a firmware image"), std::string::npos);
  EXPECT_FALSE(firmware_components({kMainSha}, {manifest(kCtlSha, "main", "2.0.0")}));
  auto twice = firmware_components(
      {kMainSha, kCtlSha}, {manifest(kMainSha, "main", "2.0.0"), manifest(kCtlSha, "main", "2.1")});
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("two images for component main"), std::string::npos);
  auto models = firmware_components(
      {kMainSha, kCtlSha},
      {manifest(kMainSha, "main", "2.0.0"), manifest(kCtlSha, "controller", "2.2.0", "MX-9000")});
  ASSERT_FALSE(models);
  EXPECT_NE(models.error().message.find("different models"), std::string::npos);
  Json no_size = manifest(kMainSha, "main", "2.0.0");
  no_size.erase("size");
  EXPECT_FALSE(firmware_components({kMainSha}, {no_size}));
  EXPECT_FALSE(firmware_components({kMainSha}, {}));
}

TEST(FirmwareJobParams, CanonicalFormWithEveryFlag) {
  FirmwareJobArgs a = job_args();
  a.update_at = "+2h";
  a.forbid = {"mon-fri 09:00-17:00", "sat,sun 00:00-24:00"};
  a.utc_offset_min = 60;
  a.deferral = {2, 7200, 600, "fail"};
  a.max_attempts = 5;
  a.write_estimate_s = 300;
  const std::vector<Json> manifests = {manifest(kMainSha, "main", "2.0.0"),
                                       manifest(kCtlSha, "controller", "2.2.0")};
  auto params = firmware_job_params(a, manifests, kNow);
  ASSERT_TRUE(params) << params.error().message;
  EXPECT_EQ((*params)["update_at"], "2026-11-23T12:00:00.789Z");
  EXPECT_EQ(
      (*params)["deferral"],
      (Json{
          {"max_count", 2}, {"max_period_s", 7200}, {"step_s", 600}, {"when_exhausted", "fail"}}));
  EXPECT_EQ((*params)["max_attempts"], 5);
  EXPECT_EQ((*params)["write_estimate_s"], 300);
  ASSERT_EQ((*params)["forbidden_windows"].size(), 2u);
  EXPECT_EQ((*params)["forbidden_windows"][0]["utc_offset_min"], 60);
  EXPECT_EQ((*params)["components"][1]["component"], "controller");
  // What is signed is exactly what the device will read back.
  auto spec = parse_firmware_params(*params);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(printrelay::to_json(*spec), *params);
  EXPECT_EQ(spec->forbidden_windows[0].from_min, 9 * 60);
  EXPECT_EQ(spec->deferral.when_exhausted, DeferralPolicy::WhenExhausted::kFail);

  // Nothing but the images: the defaults are spelt out all the same.
  auto plain = firmware_job_params(job_args(), manifests, kNow);
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ((*plain)["max_attempts"], 3);
  EXPECT_EQ((*plain)["deferral"]["max_count"], 3);
  EXPECT_FALSE(plain->contains("update_at"));
  EXPECT_FALSE(plain->contains("forbidden_windows"));
}

TEST(FirmwareJobCall, ExpiryDefaultsTo72Hours) {
  const std::vector<Json> manifests = {manifest(kMainSha, "main", "2.0.0"),
                                       manifest(kCtlSha, "controller", "2.2.0")};
  auto call = firmware_job_call(job_args(), manifests, kNow);
  ASSERT_TRUE(call) << call.error().message;
  EXPECT_EQ(call->method, "POST");
  EXPECT_EQ(call->path, "/v1/jobs");
  EXPECT_EQ((*call->body)["serial"], "SIM-0001");
  EXPECT_EQ((*call->body)["kind"], "firmware");
  EXPECT_EQ((*call->body)["expires_at"], format_time(kNow + 72 * 3'600'000LL));
  EXPECT_FALSE(call->body->contains("envelope"));  // sign_job_call() adds it

  FirmwareJobArgs a = job_args();
  a.expires_in_h = 6;
  a.not_before = "+1h";
  call = firmware_job_call(a, manifests, kNow);
  ASSERT_TRUE(call);
  EXPECT_EQ((*call->body)["expires_at"], format_time(kNow + 6 * 3'600'000LL));
  EXPECT_EQ((*call->body)["not_before"], format_time(kNow + 3'600'000LL));
  a.expires_in_h.reset();
  a.expires_at = "2026-12-01T00:00:00Z";
  call = firmware_job_call(a, manifests, kNow);
  ASSERT_TRUE(call);
  EXPECT_EQ((*call->body)["expires_at"], "2026-12-01T00:00:00.000Z");
}

TEST(FirmwareJobArgs, LocalProblemsNameTheFlag) {
  auto problem = [](FirmwareJobArgs a) {
    auto s = check_firmware_job_args(a, kNow);
    return s ? std::string() : s.error().message;
  };
  EXPECT_EQ(problem(job_args()), "");
  auto a = job_args();
  a.serial = "SIM 1";
  EXPECT_NE(problem(a).find("--serial"), std::string::npos);
  a = job_args();
  a.artifacts.clear();
  EXPECT_NE(problem(a).find("--artifact is required"), std::string::npos);
  a.artifacts = {kMainSha.substr(0, 12)};
  EXPECT_NE(problem(a).find("sha256"), std::string::npos);
  a.artifacts = {kMainSha, kMainSha};
  EXPECT_NE(problem(a).find("twice"), std::string::npos);
  a = job_args();
  a.forbid = {"mon-fry 09:00-17:00"};
  EXPECT_NE(problem(a).find("--forbid"), std::string::npos);
  a.forbid = {"00:00-24:00"};
  EXPECT_NE(problem(a).find("whole week"), std::string::npos);
  a.forbid = {"09:00-17:00"};
  a.utc_offset_min = 900;
  EXPECT_NE(problem(a).find("--utc-offset-min"), std::string::npos);
  a = job_args();
  a.max_attempts = 0;
  EXPECT_NE(problem(a).find("--max-attempts must be 1-10"), std::string::npos);
  a = job_args();
  a.deferral.when_exhausted = "retry";
  EXPECT_NE(problem(a).find("--when-deferral-exhausted"), std::string::npos);
  a = job_args();
  a.deferral.step_s = 0;
  EXPECT_NE(problem(a).find("--deferral-step-s"), std::string::npos);
  a = job_args();
  a.update_at = "tomorrow";
  EXPECT_NE(problem(a).find("--update-at"), std::string::npos);
  a = job_args();
  a.expires_at = "-1h";
  EXPECT_NE(problem(a).find("in the past"), std::string::npos);
  a.expires_at = "+1h";
  a.expires_in_h = 2;
  EXPECT_NE(problem(a).find("not both"), std::string::npos);
  a.expires_at.clear();
  a.expires_in_h = 0;
  EXPECT_NE(problem(a).find("--expires-in-h"), std::string::npos);
}

TEST(DeferralJson, OnlyTheFlagsGiven) {
  auto none = deferral_json({});
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto some = deferral_json({std::nullopt, std::nullopt, 300, ""});
  ASSERT_TRUE(some);
  EXPECT_EQ(**some, (Json{{"step_s", 300}}));
  EXPECT_FALSE(deferral_json({101, std::nullopt, std::nullopt, ""}));
}

TEST(ForbiddenWindowsJson, TextWithoutOffsetObjectsWithIt) {
  auto text = forbidden_windows_json({" Mon-Fri 09:00-17:00 "}, 0);
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, Json::array({"mon-fri 09:00-17:00"}));
  auto objects = forbidden_windows_json({"22:00-06:00"}, -300);
  ASSERT_TRUE(objects) << objects.error().message;
  EXPECT_EQ(*objects,
            Json::array({{{"from", "22:00"}, {"to", "06:00"}, {"utc_offset_min", -300}}}));
}

TEST(SerialsFile, CommentsBlanksAndDuplicates) {
  auto f = parse_serials_file(
      "\xEF\xBB\xBF# floor 2, east wing\r\n"
      "SIM-0001\r\n"
      "\n"
      "   SIM-0002   # by the lift\n"
      "\t\n"
      "SIM-0001\n"
      "SIM-0003");
  EXPECT_EQ(f.serials, (std::vector<std::string>{"SIM-0001", "SIM-0002", "SIM-0003"}));
  EXPECT_TRUE(f.problems.empty());
  EXPECT_EQ(f.duplicates, (std::vector<std::string>{"line 6: SIM-0001 repeats line 2"}));

  auto bad = parse_serials_file("SIM-0001\nSIM 0002\nSIM-0003,SIM-0004\n");
  EXPECT_EQ(bad.problems.size(), 2u);
  EXPECT_EQ(bad.problems[0].rfind("line 2: 'SIM 0002' is not a serial", 0), 0u) << bad.problems[0];
  EXPECT_EQ(bad.problems[1].rfind("line 3: ", 0), 0u);

  auto empty = parse_serials_file("# nothing yet\n\n");
  EXPECT_TRUE(empty.serials.empty());
  EXPECT_EQ(empty.problems, (std::vector<std::string>{"no serials in the file"}));
}

CampaignArgs campaign_args() {
  CampaignArgs a;
  a.name = "spring";
  a.model = "MX-4070";
  a.artifacts = {kMainSha};
  return a;
}

TEST(CampaignBody, EveryFlagInItsPlace) {
  CampaignArgs a = campaign_args();
  a.versions = {"main=1.0.3", "controller = 2.1.0"};
  a.serials = {"SIM-0002", "SIM-0001"};
  a.artifacts = {kMainSha, kCtlSha};
  a.waves = {"1", "10%", "rest"};
  a.failure_threshold = "5%";
  a.transmit_at = "+1h";
  a.update_at = "2026-11-24T02:00:00Z";
  a.expires_in_h = 48;
  a.forbid = {"mon-fri 09:00-17:00"};
  a.max_attempts = 2;
  a.write_estimate_s = 600;
  a.offline_after_s = 3600;
  a.deferral.max_count = 1;
  auto body = campaign_body(a, {"SIM-0003", "SIM-0001"}, kNow);
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(*body, (Json{{"name", "spring"},
                         {"select",
                          {{"model", "MX-4070"},
                           {"versions", {{"main", "1.0.3"}, {"controller", "2.1.0"}}},
                           {"serials", {"SIM-0002", "SIM-0001", "SIM-0003"}}}},
                         {"components", {{{"artifact", kMainSha}}, {{"artifact", kCtlSha}}}},
                         {"waves", {"1", "10%", "rest"}},
                         {"failure_threshold", "5%"},
                         {"transmit_at", "2026-11-23T11:00:00.789Z"},
                         {"update_at", "2026-11-24T02:00:00.000Z"},
                         {"expires_at", "2026-11-25T10:00:00.789Z"},
                         {"forbidden_windows", {"mon-fri 09:00-17:00"}},
                         {"deferral", {{"max_count", 1}}},
                         {"max_attempts", 2},
                         {"write_estimate_s", 600},
                         {"offline_after_s", 3600}}));

  // The minimum: a model and an image; the plan needs an expiry, so one is always sent.
  auto minimal = campaign_body(campaign_args(), {}, kNow);
  ASSERT_TRUE(minimal);
  EXPECT_EQ(*minimal, (Json{{"name", "spring"},
                            {"select", {{"model", "MX-4070"}}},
                            {"components", {{{"artifact", kMainSha}}}},
                            {"expires_at", format_time(kNow + 72 * 3'600'000LL)}}));
}

TEST(CampaignBody, LocalProblems) {
  auto problem = [](CampaignArgs a, std::vector<std::string> file = {}) {
    auto b = campaign_body(a, file, kNow);
    return b ? std::string() : b.error().message;
  };
  auto a = campaign_args();
  a.model.clear();
  EXPECT_NE(problem(a).find("--model, --serial or --serials-file"), std::string::npos);
  EXPECT_EQ(problem(a, {"SIM-0001"}), "");  // serials from a file choose the devices too
  a = campaign_args();
  a.versions = {"main"};
  EXPECT_NE(problem(a).find("--version must look like main=1.0.3"), std::string::npos);
  a.versions = {"main=1", "main=2"};
  EXPECT_NE(problem(a).find("twice"), std::string::npos);
  a = campaign_args();
  a.waves = {"rest", "1"};
  EXPECT_NE(problem(a).find("rest must be the last"), std::string::npos);
  a.waves = {"0%"};
  EXPECT_NE(problem(a).find("--wave '0%'"), std::string::npos);
  a = campaign_args();
  a.failure_threshold = "rest";
  EXPECT_NE(problem(a).find("--failure-threshold"), std::string::npos);
  a = campaign_args();
  a.artifacts.clear();
  EXPECT_NE(problem(a).find("--artifact is required"), std::string::npos);
  a = campaign_args();
  a.utc_offset_min = 60;
  EXPECT_NE(problem(a).find("--utc-offset-min"), std::string::npos);
  a = campaign_args();
  a.offline_after_s = 10;
  EXPECT_NE(problem(a).find("--offline-after-s"), std::string::npos);
  a = campaign_args();
  a.serials = {"bad serial"};
  EXPECT_NE(problem(a).find("--serial"), std::string::npos);
}

// The relay accepts an envelope only when it is a firmware job for that device with exactly the
// plan's job_params and expires_at (campaigns.cpp, Campaigns::create).
TEST(CampaignEnvelopes, OnePerTargetWithThePlansParamsAndExpiry) {
  auto key = make_signing_key();
  ASSERT_TRUE(key);
  auto signer = JobSigner::from_private_pem(key->private_pem);
  ASSERT_TRUE(signer);
  Json plan = {{"targets", Json::array()},
               {"job_params",
                {{"components",
                  {{{"component", "main"},
                    {"version", "2.0.0"},
                    {"artifact", kMainSha},
                    {"size", 1048576}}}},
                 {"deferral",
                  {{"max_count", 3},
                   {"max_period_s", 86400},
                   {"step_s", 1200},
                   {"when_exhausted", "proceed"}}},
                 {"max_attempts", 3},
                 {"write_estimate_s", 120}}},
               {"expires_at", "2026-11-26T10:00:00.789Z"}};
  for (int i = 1; i <= 120; ++i) {
    plan["targets"].push_back({{"serial", "SIM-" + std::to_string(1000 + i)}});
  }
  std::vector<std::size_t> progress;
  auto envelopes =
      sign_campaign_envelopes(plan, *signer, kNow, [&](std::size_t done, std::size_t total) {
        EXPECT_EQ(total, 120u);
        progress.push_back(done);
      });
  ASSERT_TRUE(envelopes) << envelopes.error().message;
  ASSERT_EQ(envelopes->size(), 120u);
  ASSERT_EQ(progress.size(), 120u);
  EXPECT_EQ(progress.back(), 120u);
  std::set<std::string> ids;
  for (const auto& t : plan["targets"]) {
    const std::string serial = t["serial"];
    const Json& signed_env = (*envelopes)[serial];
    auto verified = verify_text(signed_env["text"].get<std::string>(),
                                signed_env["signature"].get<std::string>(), key->public_pem);
    ASSERT_TRUE(verified && *verified) << serial;
    auto env = parse_envelope_text(signed_env["text"].get<std::string>());
    ASSERT_TRUE(env) << env.error().message;
    EXPECT_EQ(env->serial, serial);
    EXPECT_EQ(env->kind, JobKind::kFirmware);
    EXPECT_EQ(env->params, plan["job_params"]);
    ASSERT_TRUE(env->expires_at);
    EXPECT_EQ(format_time(*env->expires_at), plan["expires_at"]);
    ids.insert(env->id);
  }
  EXPECT_EQ(ids.size(), 120u);  // every device's envelope has its own nonce

  EXPECT_FALSE(sign_campaign_envelopes(Json::object(), *signer, kNow));
  Json no_expiry = plan;
  no_expiry.erase("expires_at");
  EXPECT_FALSE(sign_campaign_envelopes(no_expiry, *signer, kNow));
}

TEST(AuthorisationFlags, ModelComponentsAndDays) {
  auto v = authorisation_versions("MX-4070", {"main=2.0.0", " adf = 1.0.0 "});
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, (std::map<std::string, std::string>{{"adf", "1.0.0"}, {"main", "2.0.0"}}));
  EXPECT_EQ(versions_text(*v), "adf=1.0.0, main=2.0.0");
  EXPECT_EQ(authorisation_versions("", {"main=2.0.0"}).error().message, "--model is required");
  EXPECT_FALSE(authorisation_versions("MX 4070", {"main=2.0.0"}));
  EXPECT_FALSE(authorisation_versions("MX-4070", {}));
  EXPECT_EQ(authorisation_versions("MX-4070", {"main=2.0.0", "main=2.1.0"}).error().message,
            "--component main is given twice");
  EXPECT_TRUE(check_authorisation_days(1));
  EXPECT_TRUE(check_authorisation_days(kMaxAuthorisationDays));
  EXPECT_FALSE(check_authorisation_days(0));
  EXPECT_FALSE(check_authorisation_days(366));
}

TEST(FirmwareImages, OnePushedImagePerComponentVersion) {
  const Json artifacts = {manifest(kMainSha, "main", "2.0.0"),
                          manifest(kCtlSha, "controller", "2.2.0"),
                          manifest(std::string(64, 'e'), "main", "2.0.0", "MX-5000"),
                          manifest(std::string(64, '9'), "main", "2.0.0", "", "relay")};
  auto images =
      find_firmware_images(artifacts, "MX-4070", {{"main", "2.0.0"}, {"controller", "2.2.0"}});
  ASSERT_TRUE(images) << images.error().message;
  ASSERT_EQ(images->size(), 2u);
  EXPECT_EQ((*images)[0]["sha256"], kCtlSha);  // component order
  EXPECT_EQ((*images)[1]["sha256"], kMainSha);

  Json twice = artifacts;
  twice.push_back(manifest(std::string(64, 'f'), "main", "2.0.0"));
  EXPECT_EQ(find_firmware_images(twice, "MX-4070", {{"main", "2.0.0"}}).error().message,
            "several firmware images of MX-4070 main 2.0.0 on the relay (aaaaaaaaaaaa, "
            "ffffffffffff): an authorisation names exactly one image per component");
  EXPECT_FALSE(find_firmware_images(Json::array(), "MX-4070", {{"main", "2.0.0"}}));
}

TEST(Authorisation, SignedForAnyDeviceAddedReplacedAndRemoved) {
  auto key = make_signing_key();
  ASSERT_TRUE(key);
  auto signer = JobSigner::from_private_pem(key->private_pem);
  ASSERT_TRUE(signer);
  auto entry =
      sign_authorisation("MX-4070", {manifest(kMainSha, "main", "2.0.0")}, 30, *signer, kNow);
  ASSERT_TRUE(entry) << entry.error().message;
  EXPECT_EQ((*entry)["model"], "MX-4070");
  auto env = parse_envelope_text((*entry)["envelope"]["text"].get<std::string>());
  ASSERT_TRUE(env) << env.error().message;
  EXPECT_EQ(env->serial, kAnyDevice);
  EXPECT_EQ(env->expires_at, kNow + 30 * 86'400'000LL);
  EXPECT_FALSE(
      sign_authorisation("MX-5000", {manifest(kMainSha, "main", "2.0.0")}, 30, *signer, kNow));
  EXPECT_FALSE(
      sign_authorisation("MX-4070", {manifest(kMainSha, "main", "2.0.0")}, 400, *signer, kNow));

  bool replaced = true;
  auto body = with_authorisation(Json::array(), *entry, &replaced);
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_FALSE(replaced);
  auto newer =
      sign_authorisation("MX-4070", {manifest(kMainSha, "main", "2.0.0")}, 7, *signer, kNow);
  ASSERT_TRUE(newer);
  body = with_authorisation(*body, *newer, &replaced);
  ASSERT_TRUE(body);
  EXPECT_TRUE(replaced);
  EXPECT_EQ(*body, Json::array({*newer}));
  EXPECT_FALSE(with_authorisation(Json::object(), *entry, &replaced));

  const Json rows = authorisation_rows(Json::array({*newer, {{"model", "X"}}}), kNow);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["versions"], (Json{{"main", "2.0.0"}}));
  EXPECT_EQ(rows[0]["expired"], false);
  EXPECT_EQ(authorisation_rows(Json::array({*newer}), kNow + 8 * 86'400'000LL)[0]["expired"], true);
  EXPECT_EQ(rows[1], (Json{{"model", "X"}, {"problem", "the envelope is not an authorisation"}}));

  Json removed;
  auto none = without_authorisation(*body, "MX-4070", {{"main", "1.0.0"}}, &removed);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, ErrorKind::kNotFound);
  auto left = without_authorisation(*body, "MX-4070", {{"main", "2.0.0"}}, &removed);
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty());
  EXPECT_EQ(removed, *newer);
}

}  // namespace
}  // namespace printrelay::cli
