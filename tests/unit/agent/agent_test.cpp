// The agent through its public C header, against a fake relay on 127.0.0.1.
#include "printrelay/agent.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include <sys/stat.h>
#include "agent/durable_file.h"
#include "clock/wall_clock.h"

#include <fstream>

#include "core/codec.h"
#include "core/firmware_job.h"
#include "core/sha256.h"
#include "fake_relay.h"
#include "net/signing.h"
#include "temp_dir.h"

namespace printrelay {
namespace {

using namespace std::chrono_literals;
using testing::FakeRelay;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::TempDir;

// The device API of docs/protocol.md, just enough of it.
class FakeDeviceApi {
 public:
  FakeResponse operator()(const FakeRequest& r) {
    std::lock_guard lock(mu_);
    if (status_override_) return {status_override_, R"({"error":{"code":"unavailable"}})", {}};
    if (r.path == "/v1/device/enroll") {
      ++enrolls_;
      return {201, Json{{"serial", "SIM-0001"}, {"device_token", "tok-1"}}.dump(), {}};
    }
    if (r.headers.count("authorization") == 0 || r.headers.at("authorization") != "Bearer tok-1") {
      return {401, R"({"error":{"code":"unauthorized"}})", {}};
    }
    if (r.path == "/v1/device/poll") {
      Json jobs = Json::array();
      for (const auto& j : jobs_) jobs.push_back(j);
      return {200,
              Json{{"server_time", format_time(0)},
                   {"jobs", jobs},
                   {"poll_policy", policy_},
                   {"next_poll_s", 3600},
                   {"long_poll", answers_long_poll_}}
                  .dump(),
              {}};
    }
    if (r.path == "/v1/device/reports") {
      if (throttle_next_ > 0) {
        --throttle_next_;
        return {429, R"({"error":{"code":"rate_limited"}})", {{"Retry-After", "1"}}};
      }
      Json receipts = Json::array();
      const Json batch = Json::parse(r.body);
      for (const auto& item : batch["reports"]) {
        auto rep = parse_report(item);
        if (!rep) return {400, "{}", {}};
        std::string sha = sha256_hex(canonical_report(*rep));
        if (corrupt_next_) {
          corrupt_next_ = false;
          sha = std::string(64, '0');
        }
        bool dup = !stored_.insert(rep->id).second;
        Json rc = {{"report_id", rep->id},
                   {"reception_no", std::to_string(++reception_)},
                   {"server_time", format_time(0)},
                   {"sha256", sha},
                   {"duplicate", dup}};
        if (rep->kind == "message" || rep->kind == "order") {
          rc["reply"] = {{"reception_no", "R-" + std::to_string(reception_)},
                         {"description", "Thank you, a technician will call"}};
        }
        receipts.push_back(rc);
      }
      return {200, Json{{"receipts", receipts}}.dump(), {}};
    }
    if (r.path.rfind("/v1/device/jobs/", 0) == 0) {
      auto ev = Json::parse(r.body);
      std::string job_id = r.path.substr(16, r.path.find("/events") - 16);
      std::string type = ev["type"];
      if (type == "succeeded" || type == "failed") {
        std::erase_if(jobs_, [&](const Json& j) { return j["id"] == job_id; });
      }
      return {200, Json{{"job", Json::object()}, {"duplicate", false}}.dump(), {}};
    }
    return {404, "{}", {}};
  }

  void add_job(Json job) {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  void set_policy(Json p) {
    std::lock_guard lock(mu_);
    policy_ = std::move(p);
  }
  void set_status_override(int s) {
    std::lock_guard lock(mu_);
    status_override_ = s;
  }
  void corrupt_next_sha() {
    std::lock_guard lock(mu_);
    corrupt_next_ = true;
  }
  void throttle_next(int n) {
    std::lock_guard lock(mu_);
    throttle_next_ = n;
  }
  // Says "long_poll": true but answers every poll at once (holds nothing).
  void answer_long_poll_at_once() {
    std::lock_guard lock(mu_);
    answers_long_poll_ = true;
  }

 private:
  std::mutex mu_;
  std::vector<Json> jobs_;
  Json policy_ = {{"interval_s", 3600}, {"on_power_on", true}};
  std::set<std::string> stored_;
  int reception_ = 1000;
  int enrolls_ = 0;
  int status_override_ = 0;
  bool corrupt_next_ = false;
  int throttle_next_ = 0;
  bool answers_long_poll_ = false;
};

// A device for the hooks: fixed counters, a sleep_min schema, records panel replies.
struct TestDevice {
  std::atomic<int> panel_replies{0};
  std::atomic<long> total_pages{12345};
  std::string last_reply;
  std::mutex mu;
};

pr_device_hooks hooks_for(TestDevice* d) {
  pr_device_hooks h{};
  h.user = d;
  h.read_data_set = [](void*, const char* name, pr_buffer* out) -> int {
    std::string n = name;
    if (n != "counters" && n != "supplies") return 1;
    std::string body = n == "counters"
                           ? R"({"total":12345,"copy":2000})"
                           : R"({"supplies":[{"name":"toner-black","level_pct":40,"state":"ok"}]})";
    pr_buffer_set(out, body.data(), body.size());
    return 0;
  };
  h.apply_settings = [](void*, const char* json, int, pr_buffer* reason) -> int {
    auto j = Json::parse(json);
    if (j.value("sleep_min", 0) >= 1 && j.value("sleep_min", 0) <= 240) return 0;
    const char* why = "sleep_min must be an integer 1-240";
    pr_buffer_set(reason, why, std::strlen(why));
    return 1;
  };
  h.read_counters = [](void* user, pr_buffer* out) -> int {
    std::string body = Json{{"total", static_cast<TestDevice*>(user)->total_pages.load()}}.dump();
    pr_buffer_set(out, body.data(), body.size());
    return 0;
  };
  h.current_state = [](void*, pr_buffer* out) -> int {
    pr_buffer_set(out, "idle", 4);
    return 0;
  };
  h.panel_reply = [](void* user, const char* reply) {
    auto* dev = static_cast<TestDevice*>(user);
    std::lock_guard lock(dev->mu);
    dev->last_reply = reply;
    ++dev->panel_replies;
  };
  return h;
}

struct Agent {
  pr_agent* a = nullptr;
  Agent(const std::vector<std::string>& urls, const std::filesystem::path& dir, TestDevice* dev,
        const std::string& job_key_file = {}, int long_poll_wait_s = 0) {
    std::vector<const char*> u;
    for (const auto& s : urls) u.push_back(s.c_str());
    std::string d = dir.string();
    pr_agent_config c;
    pr_agent_config_init(&c);
    c.relay_urls = u.data();
    c.relay_url_count = u.size();
    c.serial = "SIM-0001";
    c.model = "MX-4070";
    c.enrollment_code = "k3y";
    c.state_dir = d.c_str();
    c.long_poll_wait_s = long_poll_wait_s;
    c.connect_timeout_ms = 500;
    const char* key_files[] = {job_key_file.c_str()};
    if (!job_key_file.empty()) {
      c.job_key_files = key_files;
      c.job_key_count = 1;
    }
    pr_device_hooks h = hooks_for(dev);
    EXPECT_EQ(pr_agent_create(&c, &h, &a), PR_OK);
  }
  ~Agent() { pr_agent_destroy(a); }
  std::string submit(const char* kind, const char* urgency, const char* body) {
    char id[80] = {0};
    EXPECT_EQ(pr_agent_submit_report(a, kind, urgency, body, id, sizeof id), PR_OK);
    return id;
  }
};

// Reports (as JSON) that reached the relay, in order, with their request time.
std::vector<std::pair<Json, std::chrono::steady_clock::time_point>> reports_seen(
    const FakeRelay& relay) {
  std::vector<std::pair<Json, std::chrono::steady_clock::time_point>> out;
  for (const auto& r : relay.requests_to("/v1/device/reports")) {
    const Json batch = Json::parse(r.body);
    for (const auto& rep : batch["reports"]) out.emplace_back(rep, r.at);
  }
  return out;
}

bool saw_report(const std::vector<FakeRequest>& reqs, const std::string& id) {
  for (const auto& r : reqs) {
    if (r.path == "/v1/device/reports" && r.body.find(id) != std::string::npos) return true;
  }
  return false;
}

std::size_t lines_in(const std::filesystem::path& p) {
  auto text = agent::read_file(p);
  if (!text) return 0;
  return std::size_t(std::count(text->begin(), text->end(), '\n'));
}

TEST(Agent, FatalFaultReachesTheRelayWellUnderASecond) {
  FakeDeviceApi api;
  FakeRelay relay(std::ref(api));
  TempDir dir;
  TestDevice dev;
  Agent agent({relay.url()}, dir.path(), &dev);
  ASSERT_EQ(pr_agent_start(agent.a), PR_OK);
  ASSERT_TRUE(relay.wait_for([](const auto& reqs) {
    return std::any_of(reqs.begin(), reqs.end(),
                       [](const FakeRequest& r) { return r.path == "/v1/device/poll"; });
  }));
  pr_fault f{};
  f.severity = PR_FAULT_FATAL;
  f.type = "service_call";
  f.code = "SC542";
  f.sc_type = "A";
  f.message = "fusing temperature abnormal";
  char id[80] = {0};
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(pr_agent_report_fault(agent.a, &f, id, sizeof id), PR_OK);
  ASSERT_TRUE(relay.wait_for([&](const auto& reqs) { return saw_report(reqs, id); }));
  auto seen = reports_seen(relay);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_LT(seen[0].second - t0, 1000ms);
  const Json& rep = seen[0].first;
  EXPECT_EQ(rep["kind"], "alert");
  EXPECT_EQ(rep["urgency"], "fatal");
  EXPECT_EQ(rep["body"]["type"], "service_call");
  EXPECT_EQ(rep["body"]["code"], "SC542");
  EXPECT_EQ(rep["body"]["sc_type"], "A");
  EXPECT_EQ(rep["body"]["message"], "fusing temperature abnormal");
}

std::size_t polls(const std::vector<FakeRequest>& reqs) {
  return std::size_t(std::count_if(
      reqs.begin(), reqs.end(), [](const FakeRequest& r) { return r.path == "/v1/device/poll"; }));
}

// Seed 001 claim 18: besides its interval (an hour here), the device calls the relay at power-on,
// when a counter reaches a value, and when a given error occurs.
TEST(Agent, PollPolicyConditionsCallTheRelayEarly) {
  FakeDeviceApi api;
  api.set_policy(Json::parse(R"({"interval_s": 3600, "on_power_on": true, "conditions": [
      {"kind": "counter_at_least", "counter": "total", "value": 20000},
      {"kind": "error_code", "code": "J-101"}]})"));
  FakeRelay relay(std::ref(api));
  TempDir dir;
  TestDevice dev;
  Agent agent({relay.url()}, dir.path(), &dev);
  ASSERT_EQ(pr_agent_start(agent.a), PR_OK);
  ASSERT_TRUE(relay.wait_for([](const auto& reqs) { return polls(reqs) >= 1; }));  // power-on
  std::this_thread::sleep_for(1500ms);  // the counter condition is checked every second
  EXPECT_EQ(polls(relay.requests()), 1u) << "below the threshold nothing should call early";

  dev.total_pages = 20001;
  ASSERT_TRUE(relay.wait_for([](const auto& reqs) { return polls(reqs) >= 2; }))
      << "the counter reaching its value did not make the device call";

  pr_fault jam{};
  jam.severity = PR_FAULT_RECOVERED;
  jam.type = "jam";
  jam.code = "J-101";
  jam.location = "tray2";
  char id[80] = {0};
  ASSERT_EQ(pr_agent_report_fault(agent.a, &jam, id, sizeof id), PR_OK);
  ASSERT_TRUE(relay.wait_for([](const auto& reqs) { return polls(reqs) >= 3; }))
      << "the error code condition did not make the device call";
}

TEST(Agent, RecoveredJamIsLoggedButNotAlerted) {
  FakeDeviceApi api;
  FakeRelay relay(std::ref(api));
  TempDir dir;
  TestDevice dev;
  Agent agent({relay.url()}, dir.path(), &dev);
  ASSERT_EQ(pr_agent_start(agent.a), PR_OK);
  pr_fault f{};
  f.severity = PR_FAULT_RECOVERED;
  f.type = "jam";
  f.code = "J-TRAY2";
  f.location = "tray2";
  char id[80] = "unchanged";
  ASSERT_EQ(pr_agent_report_fault(agent.a, &f, id, sizeof id), PR_OK);
  EXPECT_STREQ(id, "");
  std::string marker = agent.submit("counters", "normal", R"({"total":1})");
  ASSERT_TRUE(relay.wait_for([&](const auto& reqs) { return saw_report(reqs, marker); }));
  for (const auto& [rep, at] : reports_seen(relay)) EXPECT_NE(rep["kind"], "alert");
  auto log = agent::read_file(dir.path() / "error_log.json");
  ASSERT_TRUE(log.ok());
  auto entries = Json::parse(*log);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["code"], "J-TRAY2");
  EXPECT_EQ(entries[0]["location"], "tray2");
  EXPECT_EQ(entries[0]["severity"], "recovered");
}

TEST(Agent, PanelReplyIsKeptAndShown) {
  FakeDeviceApi api;
  FakeRelay relay(std::ref(api));
  TempDir dir;
  TestDevice dev;
  {
    Agent agent({relay.url()}, dir.path(), &dev);
    char buf[512];
    EXPECT_EQ(pr_agent_last_panel_reply(agent.a, buf, sizeof buf), PR_ERR_NOT_FOUND);
    ASSERT_EQ(pr_agent_start(agent.a), PR_OK);
    std::string id = agent.submit("order", "normal", R"({"item":"toner-black","quantity":2})");
    ASSERT_TRUE(relay.wait_for([&](const auto& reqs) { return saw_report(reqs, id); }));
    for (int i = 0; i < 100 && dev.panel_replies == 0; ++i) std::this_thread::sleep_for(20ms);
    ASSERT_EQ(pr_agent_last_panel_reply(agent.a, buf, sizeof buf), PR_OK);
    auto reply = Json::parse(buf);
    EXPECT_EQ(reply["report_id"], id);
    EXPECT_EQ(reply["reception_no"], "R-1001");
    EXPECT_EQ(reply["description"], "Thank you, a technician will call");
    EXPECT_EQ(dev.panel_replies.load(), 1);
    EXPECT_EQ(pr_agent_last_panel_reply(agent.a, buf, 8), PR_ERR_BUFFER);
  }
  // Still shown after a restart.
  Agent again({relay.url()}, dir.path(), &dev);
  char buf[512];
  ASSERT_EQ(pr_agent_last_panel_reply(again.a, buf, sizeof buf), PR_OK);
  EXPECT_EQ(Json::parse(buf)["reception_no"], "R-1001");
}

TEST(Agent, FailsOverToTheSecondRelay) {
  FakeDeviceApi broken;
  broken.set_status_override(503);
  FakeRelay first(std::ref(broken));
  FakeDeviceApi api;
  FakeRelay second(std::ref(api));
  TempDir dir;
  TestDevice dev;
  Agent agent({first.url(), second.url()}, dir.path(), &dev);
  ASSERT_EQ(pr_agent_start(agent.a), PR_OK);
  std::string id = agent.submit("counters", "normal", R"({"total":7})");
  ASSERT_TRUE(second.wait_for([&](const auto& reqs) { return saw_report(reqs, id); }));
  EXPECT_FALSE(first.requests().empty());  // it was tried first
  char buf[2048];
  ASSERT_EQ(pr_agent_status(agent.a, buf, sizeof buf), PR_OK);
  EXPECT_EQ(Json::parse(buf)["relay_url"], second.url());
}

TEST(Agent, ReportWithAWrongReceiptHashIsSentAgain) {
  FakeDeviceApi api;
  api.corrupt_next_sha();
  FakeRelay relay(std::ref(api));
  TempDir dir;
  TestDevice dev;
  Agent agent({relay.url()}, dir.path(), &dev);
  ASSERT_EQ(pr_agent_start(agent.a), PR_OK);
  std::string id = agent.submit("counters", "normal", R"({"total":99})");
  ASSERT_TRUE(relay.wait_for([&](const auto& reqs) {
    return std::count_if(reqs.begin(), reqs.end(), [&](const FakeRequest& r) {
             return r.path == "/v1/device/reports" && r.body.find(id) != std::string::npos;
           }) >= 2;
  }));
  for (int i = 0; i < 100 && lines_in(dir.path() / "receipts.log") == 0; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  auto log = agent::read_file(dir.path() / "receipts.log");
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(lines_in(dir.path() / "receipts.log"), 1u);
  auto line = Json::parse(log->substr(0, log->find('\n')));
  EXPECT_EQ(line["report_id"], id);
  EXPECT_EQ(line["duplicate"], true);  // the relay had it from the first send
}

TEST(Agent, OutboxSurvivesARestartAndIsDeliveredLater) {
  TempDir dir;
  TestDevice dev;
  std::vector<std::string> ids;
  {
    // Nothing listens on port 9 of the loopback: every send fails, reports stay queued.
    Agent offline({"http://127.0.0.1:9"}, dir.path(), &dev);
    ASSERT_EQ(pr_agent_start(offline.a), PR_OK);
    for (int i = 0; i < 3; ++i) {
      ids.push_back(
          offline.submit("counters", "normal", ("{\"total\":" + std::to_string(i) + "}").c_str()));
    }
  }
  FakeDeviceApi api;
  FakeRelay relay(std::ref(api));
  Agent online({relay.url()}, dir.path(), &dev);
  ASSERT_EQ(pr_agent_start(online.a), PR_OK);
  ASSERT_TRUE(relay.wait_for([&](const auto& reqs) {
    return std::all_of(ids.begin(), ids.end(),
                       [&](const auto& id) { return saw_report(reqs, id); });
  }));
  auto seen = reports_seen(relay);
  ASSERT_EQ(seen.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(seen[i].first["id"], ids[i]);  // FIFO
}

TEST(Agent, CollectJobReportsArriveBeforeItsSucceededEvent) {
  FakeDeviceApi api;
  api.add_job({{"id", "j-1"},
               {"serial", "SIM-0001"},
               {"kind", "collect"},
               {"params", {{"data_sets", {"counters", "supplies"}}}},
               {"state", "waiting"},
               {"not_before", format_time(0)},
               {"execute_at", nullptr},
               {"expires_at", nullptr},
               {"created_at", format_time(0)}});
  api.add_job({{"id", "j-2"},
               {"serial", "SIM-0001"},
               {"kind", "configure"},
               {"params", {{"settings", {{"sleep_min", 500}}}}},
               {"state", "waiting"},
               {"not_before", format_time(0)},
               {"created_at", format_time(0)}});
  FakeRelay relay(std::ref(api));
  TempDir dir;
  TestDevice dev;
  Agent agent({relay.url()}, dir.path(), &dev);
  ASSERT_EQ(pr_agent_start(agent.a), PR_OK);
  auto terminal = [](const std::vector<FakeRequest>& reqs, const std::string& job) {
    return std::any_of(reqs.begin(), reqs.end(), [&](const FakeRequest& r) {
      return r.path == "/v1/device/jobs/" + job + "/events" &&
             (r.body.find("\"succeeded\"") != std::string::npos ||
              r.body.find("\"failed\"") != std::string::npos);
    });
  };
  ASSERT_TRUE(relay.wait_for(
      [&](const auto& reqs) { return terminal(reqs, "j-1") && terminal(reqs, "j-2"); }));

  std::vector<std::string> j1_trace;
  std::set<std::string> report_ids;
  Json succeeded, failed;
  for (const auto& r : relay.requests()) {
    if (r.path == "/v1/device/reports") {
      const Json batch = Json::parse(r.body);
      for (const auto& rep : batch["reports"]) {
        if (rep.value("job_id", "") != "j-1") continue;
        j1_trace.push_back("report:" + rep["kind"].get<std::string>());
        report_ids.insert(rep["id"].get<std::string>());
      }
    } else if (r.path == "/v1/device/jobs/j-1/events") {
      auto ev = Json::parse(r.body);
      j1_trace.push_back("event:" + ev["type"].get<std::string>());
      if (ev["type"] == "succeeded") succeeded = ev;
    } else if (r.path == "/v1/device/jobs/j-2/events") {
      auto ev = Json::parse(r.body);
      if (ev["type"] == "failed") failed = ev;
    }
  }
  EXPECT_EQ(j1_trace,
            (std::vector<std::string>{"event:acquired", "event:started", "report:counters",
                                      "report:supplies", "event:succeeded"}));
  std::set<std::string> listed;
  for (const auto& id : succeeded["detail"]["report_ids"]) listed.insert(id.get<std::string>());
  EXPECT_EQ(listed, report_ids);
  EXPECT_EQ(succeeded["event_id"], "j-1.succeeded");
  EXPECT_EQ(failed["reason"], "sleep_min must be an integer 1-240");
}

Json status_of(pr_agent* a) {
  std::string buf(16384, '\0');
  EXPECT_EQ(pr_agent_status(a, buf.data(), buf.size()), PR_OK);
  return Json::parse(buf.c_str());
}

bool has_terminal_event(const std::vector<FakeRequest>& reqs, const std::string& job,
                        const std::string& type) {
  return std::any_of(reqs.begin(), reqs.end(), [&](const FakeRequest& r) {
    return r.path == "/v1/device/jobs/" + job + "/events" &&
           r.body.find("\"" + type + "\"") != std::string::npos;
  });
}

// Threat model: with service-center keys the relay is untrusted. Its poll_policy (here: one poll
// a week) would silence the device; only a signed schedule job changes the policy.
TEST(Agent, WithServiceCenterKeysOnlyASignedScheduleJobChangesThePollPolicy) {
  TempDir dir;
  auto key = *make_signing_key();
  const auto pub = dir.path() / "service.pub";
  std::ofstream(pub) << key.public_pem;
  FakeDeviceApi api;
  api.set_policy({{"interval_s", 604800}, {"on_power_on", true}});
  // Unsigned, so refused: its failed event shows the poll answer was handled.
  api.add_job({{"id", "j-1"},
               {"serial", "SIM-0001"},
               {"kind", "reboot"},
               {"params", Json::object()},
               {"state", "waiting"},
               {"not_before", format_time(0)},
               {"created_at", format_time(0)}});
  FakeRelay relay(std::ref(api));
  TestDevice dev;
  Agent agent({relay.url()}, dir.path() / "state", &dev, pub.string());
  ASSERT_EQ(pr_agent_start(agent.a), PR_OK);
  ASSERT_TRUE(relay.wait_for([](const auto& r) { return has_terminal_event(r, "j-1", "failed"); }));
  EXPECT_EQ(status_of(agent.a)["poll_policy"]["interval_s"], 900);  // kept what it had
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "state" / "poll_policy.json"));

  const TimeMs now = wall_clock_ms();
  JobEnvelope e;
  e.id = "env-schedule-0123456789";
  e.serial = "SIM-0001";
  e.kind = JobKind::kSchedule;
  e.params = {{"poll_policy", {{"interval_s", 120}}}};
  e.expires_at = now + 3'600'000;
  e.key_id = *key_id(key.public_pem);
  e.signed_at = now;
  const std::string text = *envelope_text(e);
  api.add_job({{"id", "j-2"},
               {"serial", "SIM-0001"},
               {"kind", "schedule"},
               {"params",
                {{"poll_policy", {{"interval_s", 120}}},
                 {"envelope", {{"text", text}, {"signature", *sign_text(text, key.private_pem)}}}}},
               {"state", "waiting"},
               {"not_before", format_time(0)},
               {"expires_at", format_time(*e.expires_at)},
               {"created_at", format_time(0)}});
  ASSERT_EQ(pr_agent_poll_now(agent.a), PR_OK);
  ASSERT_TRUE(
      relay.wait_for([](const auto& r) { return has_terminal_event(r, "j-2", "succeeded"); }));
  EXPECT_EQ(status_of(agent.a)["poll_policy"]["interval_s"], 120);
}

// The state directory holds the device tokens: it is made 0700.
TEST(Agent, TheStateDirectoryIsPrivate) {
  TempDir dir;
  TestDevice dev;
  Agent agent({"http://127.0.0.1:9"}, dir.path() / "state", &dev);
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

// State files are read with the nesting limit of core/json_text.h, like everything from outside.
TEST(Agent, AStateFileNestedTooDeepIsIgnored) {
  TempDir dir;
  std::string deep = "{\"report_id\":\"r-1\",\"x\":";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += "}";
  ASSERT_TRUE(agent::write_durably(dir.path() / "panel_reply.json", deep));
  TestDevice dev;
  Agent agent({"http://127.0.0.1:9"}, dir.path(), &dev);
  char out[4096];
  EXPECT_EQ(pr_agent_last_panel_reply(agent.a, out, sizeof out), PR_ERR_NOT_FOUND);
}

TEST(Agent, HonoursRetryAfter) {
  FakeDeviceApi api;
  api.throttle_next(1);
  FakeRelay relay(std::ref(api));
  TempDir dir;
  TestDevice dev;
  Agent agent({relay.url()}, dir.path(), &dev);
  ASSERT_EQ(pr_agent_start(agent.a), PR_OK);
  agent.submit("counters", "normal", R"({"total":1})");
  ASSERT_TRUE(relay.wait_for([](const auto& reqs) {
    return std::count_if(reqs.begin(), reqs.end(),
                         [](const FakeRequest& r) { return r.path == "/v1/device/reports"; }) >= 2;
  }));
  auto posts = relay.requests_to("/v1/device/reports");
  EXPECT_GE(posts[1].at - posts[0].at, 900ms);
}

// A relay that offers long-polls but answers each at once cannot make the device poll back to
// back: the agent backs off, 1 s and then 2 s (the gaps can only grow on a loaded machine).
TEST(Agent, ALongPollAnsweredAtOnceBacksOff) {
  FakeDeviceApi api;
  api.answer_long_poll_at_once();
  FakeRelay relay(std::ref(api));
  TempDir dir;
  TestDevice dev;
  Agent agent({relay.url()}, dir.path(), &dev, {}, /*long_poll_wait_s=*/20);
  ASSERT_EQ(pr_agent_start(agent.a), PR_OK);
  ASSERT_TRUE(relay.wait_for(
      [](const auto& reqs) {
        return std::count_if(reqs.begin(), reqs.end(),
                             [](const FakeRequest& r) { return r.path == "/v1/device/poll"; }) >= 4;
      },
      30s));
  auto polls = relay.requests_to("/v1/device/poll");
  EXPECT_EQ(Json::parse(polls[1].body)["wait_s"], 20);  // it did ask for a long-poll
  EXPECT_GE(polls[2].at - polls[1].at, 900ms);
  EXPECT_GE(polls[3].at - polls[2].at, 1900ms);
}

TEST(Agent, CEdgeRejectsBadInputWithoutThrowing) {
  TempDir dir;
  TestDevice dev;
  Agent agent({"http://127.0.0.1:9"}, dir.path(), &dev);
  char id[80];
  EXPECT_EQ(pr_agent_submit_report(agent.a, "counters", "normal", "not json", id, sizeof id),
            PR_ERR_INVALID);
  EXPECT_EQ(pr_agent_submit_report(agent.a, "nonsense", "normal", "{}", id, sizeof id),
            PR_ERR_INVALID);
  EXPECT_EQ(pr_agent_submit_report(agent.a, "counters", "urgent!", "{}", id, sizeof id),
            PR_ERR_INVALID);
  EXPECT_EQ(pr_agent_submit_report(agent.a, "counters", nullptr, "[1]", id, sizeof id),
            PR_ERR_INVALID);
  EXPECT_EQ(pr_agent_submit_report(nullptr, "counters", nullptr, "{}", id, sizeof id),
            PR_ERR_INVALID);
  EXPECT_EQ(pr_agent_submit_report(agent.a, "counters", nullptr, "{}", id, 4), PR_ERR_BUFFER);
  EXPECT_EQ(pr_agent_start(agent.a), PR_OK);
  EXPECT_EQ(pr_agent_start(agent.a), PR_ERR_STATE);
  pr_agent_config c;
  pr_agent_config_init(&c);
  pr_agent* out = nullptr;
  EXPECT_EQ(pr_agent_create(&c, nullptr, &out), PR_ERR_INVALID);
  EXPECT_EQ(out, nullptr);
}

}  // namespace
}  // namespace printrelay
