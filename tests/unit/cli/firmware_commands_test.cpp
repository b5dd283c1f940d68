// `relayctl jobs create firmware`, signed jobs of other kinds, `relayctl campaigns` and
// `relayctl firmware history` end to end against a fake relay that records what it received.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/job_signing.h"
#include "cli/relayctl.h"
#include "cli/signing_keys.h"
#include "core/firmware_job.h"
#include "core/time.h"
#include "net/signing.h"
#include "relayctl_fixture.h"

namespace printrelay::cli {
namespace {

const std::string kMainSha(64, 'a');

// A relay that knows one firmware image, echoes created jobs and plans `targets_` devices.
class RelayctlFirmware : public RelayctlFixture {
 protected:
  RelayctlFirmware() : RelayctlFixture("center") {}

  // The body of the last POST /v1/jobs among the first `n` requests.
  Json last_job_body(std::size_t n) const {
    auto all = requests(n);
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (it->method == "POST" && it->path == "/v1/jobs") return Json::parse(it->body);
    }
    return Json();
  }

  // The envelope of a request body, checked against the key; its parsed form.
  JobEnvelope verified_envelope(const Json& signed_env) const {
    auto verified = verify_text(signed_env.at("text").get<std::string>(),
                                signed_env.at("signature").get<std::string>(), public_pem());
    EXPECT_TRUE(verified && *verified);
    auto env = parse_envelope_text(signed_env.at("text").get<std::string>());
    EXPECT_TRUE(env) << env.error().message;
    return env ? *env : JobEnvelope{};
  }

  Json plan_answer() const {
    Json targets = Json::array();
    Json serials = Json::array();
    for (int i = 1; i <= targets_; ++i) {
      const std::string serial = "SIM-" + std::to_string(1000 + i);
      targets.push_back({{"serial", serial},
                         {"model", "MX-4070"},
                         {"place", ""},
                         {"cells", {{"main", "Ver1.0.3\u21922.0.0"}}}});
      serials.push_back(serial);
    }
    return {
        {"name", "spring"},
        {"model", "MX-4070"},
        {"components",
         {{{"component", "main"}, {"version", "2.0.0"}, {"artifact", kMainSha}, {"size", 7}}}},
        {"job_params",
         {{"components",
           {{{"component", "main"}, {"version", "2.0.0"}, {"artifact", kMainSha}, {"size", 7}}}},
          {"max_attempts", 3}}},
        {"expires_at", "2026-11-26T10:00:00.789Z"},
        {"wave_sizes", {"rest"}},
        {"failure_threshold", "1"},
        {"threshold_devices", 1},
        {"targets", targets},
        {"excluded",
         {{{"serial", "SIM-0009"}, {"reason", "up to date"}, {"detail", "already runs"}}}},
        {"waves", {{{"number", 1}, {"serials", serials}}}}};
  }

  testing::FakeResponse answer(const testing::FakeRequest& req) override {
    if (req.method == "GET" && req.path == "/v1/artifacts/" + kMainSha) {
      return {200, Json{{"artifact",
                         {{"sha256", kMainSha},
                          {"kind", "firmware"},
                          {"model", "MX-4070"},
                          {"component", "main"},
                          {"version", "2.0.0"},
                          {"size", 7}}}}
                       .dump()};
    }
    if (req.method == "GET" && req.path.rfind("/v1/artifacts/", 0) == 0) {
      return {404, R"({"error":{"code":"not_found","message":"no such artifact"}})"};
    }
    if (req.method == "POST" && req.path == "/v1/jobs") {
      Json body = Json::parse(req.body);
      Json job = {{"id", "j-1"},
                  {"serial", body["serial"]},
                  {"kind", body["kind"]},
                  {"state", "waiting"},
                  {"params", body["params"]},
                  {"execute_at", "2026-11-23T17:00:00.000Z"},
                  {"expires_at", body.value("expires_at", Json())}};
      job["params"]["envelope"] = body["envelope"];
      return {201, job.dump()};
    }
    if (req.method == "GET" && req.path == "/v1/jobs/j-1") {
      return {200, Json{{"job", Json::object()},
                        {"transitions",
                         {{{"cause",
                            "created by admin; update at 2026-11-23T17:00:00.000Z; moved "
                            "from 10:00 to 17:00: inside forbidden window 09:00-17:00"}}}}}
                       .dump()};
    }
    if (req.method == "POST" && req.path == "/v1/campaigns/plan")
      return {200, plan_answer().dump()};
    if (req.method == "POST" && req.path == "/v1/campaigns") {
      return {201,
              Json{{"campaign", {{"id", "c-1"}, {"name", "spring"}, {"state", "running"}}}}.dump()};
    }
    if (req.method == "GET" && req.path.rfind("/v1/devices/SIM-1/firmware-history", 0) == 0) {
      return {200, Json{{"history",
                         {{{"at", "2026-11-23T10:00:00.000Z"},
                           {"event", "sent"},
                           {"artifact", kMainSha},
                           {"detail", {{"from", 0}, {"bytes", 2048}}}}}}}
                       .dump()};
    }
    return {404, R"({"error":{"code":"not_found","message":"no such endpoint"}})"};
  }

  int targets_ = 3;
};

TEST_F(RelayctlFirmware, FirmwareJobWithoutSignKeyIsAUsageErrorAndSendsNothing) {
  auto r = run({"jobs", "create", "firmware", "--serial", "SIM-1", "--artifact", kMainSha.c_str()},
               env());
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("a firmware job must be signed by the service center: pass --sign-key NAME"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(relay_->requests().empty());

  auto unknown = run({"jobs", "create", "firmware", "--serial", "SIM-1", "--artifact",
                      kMainSha.c_str(), "--sign-key", "nobody"},
                     env());
  EXPECT_EQ(unknown.rc, kExitUsage);
  EXPECT_NE(unknown.err.find("relayctl keys create nobody"), std::string::npos) << unknown.err;
  auto bad_window = run({"jobs", "create", "firmware", "--serial", "SIM-1", "--artifact",
                         kMainSha.c_str(), "--sign-key", "center", "--forbid", "9-17"},
                        env());
  EXPECT_EQ(bad_window.rc, kExitUsage);
  EXPECT_NE(bad_window.err.find("--forbid"), std::string::npos) << bad_window.err;
  EXPECT_TRUE(relay_->requests().empty());
}

TEST_F(RelayctlFirmware, FirmwareJobIsBuiltFromTheManifestAndSigned) {
  auto r = run({"jobs", "create", "firmware", "--serial", "SIM-1", "--artifact", kMainSha.c_str(),
                "--update-at", "+1h", "--forbid", "mon-fri 09:00-17:00", "--max-deferrals", "1",
                "--sign-key", "center"},
               env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  auto requests = this->requests(3);
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].path, "/v1/artifacts/" + kMainSha);
  EXPECT_EQ(requests[1].path, "/v1/jobs");
  EXPECT_EQ(requests[2].path, "/v1/jobs/j-1");
  const Json body = Json::parse(requests[1].body);
  EXPECT_EQ(
      body["params"]["components"],
      (Json{{{"component", "main"}, {"version", "2.0.0"}, {"artifact", kMainSha}, {"size", 7}}}));
  EXPECT_EQ(body["params"]["update_at"], "2026-11-23T11:00:00.789Z");
  EXPECT_EQ(body["params"]["deferral"]["max_count"], 1);
  EXPECT_EQ(body["expires_at"], format_time(kNow + 72 * 3'600'000LL));
  JobEnvelope e = verified_envelope(body["envelope"]);
  EXPECT_EQ(e.serial, "SIM-1");
  EXPECT_EQ(e.kind, JobKind::kFirmware);
  EXPECT_EQ(e.params, body["params"]);
  EXPECT_EQ(e.expires_at, kNow + 72 * 3'600'000LL);
  EXPECT_EQ(e.key_id, *key_id(public_pem()));
  EXPECT_EQ(e.signed_at, kNow);

  EXPECT_EQ(r.out.rfind("j-1\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("execute at  2026-11-23 17:00:00\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("signed by   key " + e.key_id + " (envelope " + e.id + ")"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("created     created by admin; update at 2026-11-23T17:00:00.000Z; moved"),
            std::string::npos)
      << r.out;
}

TEST_F(RelayctlFirmware, UnknownArtifactIsTheRelaysRefusal) {
  const std::string other(64, 'e');
  auto r = run({"jobs", "create", "firmware", "--serial", "SIM-1", "--artifact", other.c_str(),
                "--sign-key", "center"},
               env());
  EXPECT_EQ(r.rc, kExitFailed);
  EXPECT_NE(r.err.find("artifact eeeeeeeeeeee: no such artifact"), std::string::npos) << r.err;
  EXPECT_EQ(requests(1).size(), 1u);  // the manifest was asked for, no job sent
}

TEST_F(RelayctlFirmware, OtherKindsAreSignedWhenAKeyIsNamedAnywhere) {
  // PRINTRELAY_SIGN_KEY
  auto e = env();
  e["PRINTRELAY_SIGN_KEY"] = "center";
  auto r = run({"jobs", "create", "collect", "--serial", "SIM-1", "--data-sets", "counters",
                "--expires-at", "+1h"},
               e);
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  Json body = last_job_body(2);  // the job, then its transitions
  JobEnvelope env1 = verified_envelope(body["envelope"]);
  EXPECT_EQ(env1.kind, JobKind::kCollect);
  EXPECT_EQ(env1.params, (Json{{"data_sets", {"counters"}}}));
  EXPECT_EQ(env1.expires_at, kNow + 3'600'000);

  // "sign_key" of the config file
  const std::string config = (tmp_.path() / "relayctl.json").string();
  std::ofstream(config) << Json{
      {"url", relay_->url()},
      {"token", "at_admin"},
      {"sign_key", "center"}}.dump();
  r = run({"jobs", "create", "reboot", "--serial", "SIM-2"},
          {{"PRINTRELAY_CONFIG", config}, {"PRINTRELAY_KEYS_DIR", keys_dir_}});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  body = last_job_body(4);
  JobEnvelope env2 = verified_envelope(body["envelope"]);
  EXPECT_EQ(env2.serial, "SIM-2");
  EXPECT_EQ(env2.kind, JobKind::kReboot);
  // No --expires-at: 7 days (devices refuse signed jobs without an expiry), in the request too.
  EXPECT_EQ(env2.expires_at, kNow + kDefaultSignedJobExpiryMs);
  EXPECT_EQ(body["expires_at"], format_time(kNow + kDefaultSignedJobExpiryMs));

  // no key anywhere: sent unsigned, as before
  r = run({"jobs", "create", "reboot", "--serial", "SIM-3"}, env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_FALSE(last_job_body(5).contains("envelope"));  // and no transitions fetched
  EXPECT_EQ(r.out.rfind("j-1\nID ", 0), 0u) << r.out;
}

TEST_F(RelayctlFirmware, CampaignCreateSignsOneEnvelopePerTargetWithProgress) {
  targets_ = 120;
  auto r = run({"campaigns", "create", "--name", "spring", "--model", "MX-4070", "--artifact",
                kMainSha.c_str(), "--sign-key", "center"},
               env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_NE(r.err.find("signing 50/120\nsigning 100/120\nsigning 120/120\n"), std::string::npos)
      << r.err;
  auto requests = this->requests(2);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].path, "/v1/campaigns/plan");
  EXPECT_EQ(requests[1].path, "/v1/campaigns");
  const Json plan_body = Json::parse(requests[0].body);
  Json create_body = Json::parse(requests[1].body);
  const Json envelopes = create_body["envelopes"];
  create_body.erase("envelopes");
  EXPECT_EQ(create_body, plan_body);  // the same campaign, plus the envelopes
  ASSERT_EQ(envelopes.size(), 120u);
  const Json plan = plan_answer();
  for (const auto& t : plan["targets"]) {
    JobEnvelope e = verified_envelope(envelopes.at(t["serial"].get<std::string>()));
    EXPECT_EQ(e.serial, t["serial"]);
    EXPECT_EQ(e.kind, JobKind::kFirmware);
    EXPECT_EQ(e.params, plan["job_params"]);
    EXPECT_EQ(format_time(e.expires_at.value_or(0)), plan["expires_at"]);
  }
  EXPECT_NE(r.out.find("ID           c-1\n"), std::string::npos) << r.out;
}

// The relay takes at most kMaxBodyBytes per request: a campaign too large for one is refused here,
// after the plan, with what to do instead.
TEST_F(RelayctlFirmware, CampaignTooLargeForOneRequestIsRefusedBeforeSending) {
  targets_ = 2000;
  auto r = run({"campaigns", "create", "--name", "big", "--model", "MX-4070", "--artifact",
                kMainSha.c_str(), "--sign-key", "center"},
               env());
  EXPECT_EQ(r.rc, kExitFailed);
  EXPECT_NE(r.err.find("split the devices into smaller campaigns"), std::string::npos) << r.err;
  auto sent = requests(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].path, "/v1/campaigns/plan");
}

TEST_F(RelayctlFirmware, CampaignLocalProblemsSendNothing) {
  const std::string file = (tmp_.path() / "serials.txt").string();
  std::ofstream(file) << "SIM-1\nSIM 2\n";
  auto r = run(
      {"campaigns", "plan", "--serials-file", file.c_str(), "--artifact", kMainSha.c_str()}, env());
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("error: " + file + ": line 2: 'SIM 2' is not a serial"), std::string::npos)
      << r.err;
  auto no_name = run({"campaigns", "create", "--model", "MX-4070", "--artifact", kMainSha.c_str(),
                      "--sign-key", "center"},
                     env());
  EXPECT_EQ(no_name.rc, kExitUsage);
  EXPECT_NE(no_name.err.find("--name is required"), std::string::npos) << no_name.err;
  auto no_key = run(
      {"campaigns", "create", "--name", "n", "--model", "MX-4070", "--artifact", kMainSha.c_str()},
      env());
  EXPECT_EQ(no_key.rc, kExitUsage);
  EXPECT_NE(no_key.err.find("--sign-key"), std::string::npos) << no_key.err;
  EXPECT_TRUE(relay_->requests().empty());
}

TEST_F(RelayctlFirmware, CampaignPlanPrintsTheObjectList) {
  const std::string file = (tmp_.path() / "serials.txt").string();
  std::ofstream(file) << "# east wing\nSIM-1001\nSIM-1002\n\nSIM-1001\n";
  auto r = run({"campaigns", "plan", "--serials-file", file.c_str(), "--serial", "SIM-1003",
                "--artifact", kMainSha.c_str(), "--wave", "1", "--wave", "rest"},
               env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_NE(r.err.find("warning: " + file + ": line 5: SIM-1001 repeats line 2 (listed once)"),
            std::string::npos)
      << r.err;
  const Json body = Json::parse(requests(1).at(0).body);
  EXPECT_EQ(body["select"]["serials"], (Json{"SIM-1003", "SIM-1001", "SIM-1002"}));
  EXPECT_EQ(body["waves"], (Json{"1", "rest"}));
  EXPECT_NE(r.out.find("SIM-1001  MX-4070  -      Ver1.0.3\u21922.0.0\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("SIM-0009  up to date  already runs\n"), std::string::npos) << r.out;

  auto as_json = run(
      {"campaigns", "plan", "--model", "MX-4070", "--artifact", kMainSha.c_str(), "--json"}, env());
  ASSERT_EQ(as_json.rc, kExitOk) << as_json.err;
  EXPECT_EQ(Json::parse(as_json.out), plan_answer());
}

TEST_F(RelayctlFirmware, FirmwareHistory) {
  auto r = run({"firmware", "history", "SIM-1", "--limit", "5"}, env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(requests(1).back().path, "/v1/devices/SIM-1/firmware-history?limit=5");
  EXPECT_NE(r.out.find("sent   -          -        aaaaaaaaaaaa  -    2.0 KiB from 0\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(run({"firmware", "history", "SIM-1", "--limit", "0"}, env()).rc, kExitUsage);
}

}  // namespace
}  // namespace printrelay::cli
