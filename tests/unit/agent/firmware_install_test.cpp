// Firmware jobs through the whole agent (DeviceAgent, FirmwareInstaller) against a fake relay
// that may misbehave: what a compromised relay cannot make a device do.
#include "agent/firmware_install.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <mutex>

#include "agent/device_agent.h"
#include "clock/wall_clock.h"
#include "core/artifact.h"
#include "core/codec.h"
#include "core/firmware_job.h"
#include "core/sha256.h"
#include "fake_relay.h"
#include "net/signing.h"
#include "temp_dir.h"

namespace printrelay::agent {
namespace {

using printrelay::testing::FakeRelay;
using printrelay::testing::FakeRequest;
using printrelay::testing::FakeResponse;
using printrelay::testing::TempDir;

// A relay holding one vendor-signed image and one signed firmware job for it; `extra_bytes`
// more than the image are sent when the device downloads it.
struct FirmwareWorld {
  TempDir dir;
  SigningKey vendor = *make_signing_key();
  SigningKey service = *make_signing_key();
  std::string image = std::string(1000, 'x');
  std::string sha = sha256_hex(image);
  std::size_t extra_bytes = 0;
  std::string installed = "1.0.0";  // what the device runs
  std::mutex mu;
  Json job;
  std::vector<std::string> written;

  Json manifest() {
    auto m = *make_manifest({"firmware", "MX-4070", "main", "2.0.0"}, sha,
                            static_cast<std::int64_t>(image.size()), *key_id(vendor.public_pem),
                            wall_clock_ms());
    m["signature"] = *sign_text(m.dump(), vendor.private_pem);
    return m;
  }

  void add_job(const std::string& id, Json extra_params = Json::object()) {
    const TimeMs now = wall_clock_ms();
    Json params = {{"components",
                    {{{"component", "main"},
                      {"version", "2.0.0"},
                      {"artifact", sha},
                      {"size", static_cast<std::int64_t>(image.size())}}}}};
    params.update(extra_params);
    params = to_json(*parse_firmware_params(params));
    JobEnvelope e;
    e.id = "env-" + id + "-0123456789abcdef";
    e.serial = "SIM-0001";
    e.kind = JobKind::kFirmware;
    e.params = params;
    e.expires_at = now + 3'600'000;
    e.key_id = *key_id(service.public_pem);
    e.signed_at = now;
    const std::string text = *envelope_text(e);
    params["envelope"] = {{"text", text}, {"signature", *sign_text(text, service.private_pem)}};
    std::lock_guard lock(mu);
    job = {{"id", id},
           {"serial", "SIM-0001"},
           {"kind", "firmware"},
           {"params", params},
           {"state", "waiting"},
           {"not_before", format_time(0)},
           {"expires_at", format_time(*e.expires_at)},
           {"created_at", format_time(0)}};
  }

  FakeResponse answer(const FakeRequest& r) {
    std::lock_guard lock(mu);
    if (r.path == "/v1/device/enroll") return {201, R"({"device_token":"tok"})", {}};
    if (r.path == "/v1/device/poll") {
      Json jobs = job.is_null() ? Json::array() : Json::array({job});
      return {200, Json{{"jobs", jobs}, {"next_poll_s", 3600}, {"long_poll", false}}.dump(), {}};
    }
    if (r.path == "/v1/artifacts/" + sha) return {200, Json{{"artifact", manifest()}}.dump(), {}};
    if (r.path == "/v1/artifacts/" + sha + "/data") {
      return {200, image + std::string(extra_bytes, 'y'), {}};
    }
    if (r.path.rfind("/v1/device/jobs/", 0) == 0) {
      if (r.body.find("\"failed\"") != std::string::npos ||
          r.body.find("\"succeeded\"") != std::string::npos) {
        job = Json();
      }
      return {200, R"({"job":{},"duplicate":false})", {}};
    }
    return {404, "{}", {}};
  }

  std::unique_ptr<DeviceAgent> agent(const std::string& url) {
    AgentConfig c;
    c.relay_urls = {url};
    c.enrollment = {"SIM-0001", "MX-4070", "k3y"};
    c.state_dir = dir.path() / "state";
    c.client.connect_timeout_ms = 500;
    c.long_poll_wait_s = 0;
    c.vendor_keys_pem = {vendor.public_pem};
    c.job_keys_pem = {service.public_pem};
    DeviceHooks h;
    h.firmware_summary = [this] {
      std::lock_guard lock(mu);
      return Json{{"main", installed}};
    };
    h.firmware_write = [this](const std::string& component, const std::string&,
                              const std::string&) {
      std::lock_guard lock(mu);
      written.push_back(component);
      return ok_status();
    };
    h.firmware_activate = [] { return ok_status(); };
    auto a = DeviceAgent::create(std::move(c), std::move(h));
    EXPECT_TRUE(a) << a.error().message;
    return std::move(*a);
  }
};

// The reason of the job's failed event, once it reached the relay.
std::string failure_reason(const FakeRelay& relay, const std::string& job_id) {
  std::string reason;
  relay.wait_for([&](const std::vector<FakeRequest>& reqs) {
    for (const auto& r : reqs) {
      if (r.path != "/v1/device/jobs/" + job_id + "/events") continue;
      auto ev = Json::parse(r.body);
      if (ev["type"] == "failed") {
        reason = ev.value("reason", "");
        return true;
      }
    }
    return false;
  });
  return reason;
}

TEST(FirmwareInstall, ADownloadLongerThanTheSignedSizeStopsAndFails) {
  FirmwareWorld w;
  w.extra_bytes = 200'000;
  w.add_job("j-fw-1");
  FakeRelay relay([&](const FakeRequest& r) { return w.answer(r); });
  auto agent = w.agent(relay.url());
  ASSERT_TRUE(agent->start());
  const std::string reason = failure_reason(relay, "j-fw-1");
  agent->stop();
  EXPECT_NE(reason.find("more than the signed manifest's 1000 bytes"), std::string::npos) << reason;
  EXPECT_LE(agent->status()["firmware_bytes_fetched"].get<std::int64_t>(), 1000);
  EXPECT_TRUE(w.written.empty());
}

TEST(FirmwareInstall, AnOlderVersionIsRefusedBeforeTheDownload) {
  FirmwareWorld w;
  w.installed = "3.0.0";
  w.add_job("j-fw-2");
  FakeRelay relay([&](const FakeRequest& r) { return w.answer(r); });
  auto agent = w.agent(relay.url());
  ASSERT_TRUE(agent->start());
  const std::string reason = failure_reason(relay, "j-fw-2");
  agent->stop();
  EXPECT_NE(reason.find("refusing to downgrade main from 3.0.0 to 2.0.0"), std::string::npos)
      << reason;
  EXPECT_TRUE(relay.requests_to("/v1/artifacts/").empty());
  EXPECT_TRUE(w.written.empty());
}

TEST(FirmwareInstall, ADowngradeTheSignedJobAllowsIsInstalled) {
  FirmwareWorld w;
  w.installed = "3.0.0";
  w.add_job("j-fw-3", {{"allow_downgrade", true}});
  FakeRelay relay([&](const FakeRequest& r) { return w.answer(r); });
  auto agent = w.agent(relay.url());
  ASSERT_TRUE(agent->start());
  // The start of the write is confirmed with the relay: the downgrade passed the check.
  EXPECT_TRUE(relay.wait_for([](const std::vector<FakeRequest>& reqs) {
    return std::any_of(reqs.begin(), reqs.end(), [](const FakeRequest& r) {
      return r.path == "/v1/device/jobs/j-fw-3/events" &&
             r.body.find("\"started\"") != std::string::npos;
    });
  }));
  agent->stop();
}

}  // namespace
}  // namespace printrelay::agent
