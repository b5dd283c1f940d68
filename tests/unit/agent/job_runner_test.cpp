#include "agent/job_runner.h"

#include <gtest/gtest.h>

#include "core/codec.h"
#include "core/sha256.h"
#include "temp_dir.h"

namespace printrelay::agent {
namespace {

using printrelay::testing::TempDir;

// A device with two data sets and a one-setting schema (sleep_min 1-240).
class FakeDevice : public JobHost {
 public:
  Result<Json> read_data_set(const std::string& name) override {
    if (name == "counters") return Json{{"total", 4242}};
    if (name == "supplies")
      return Json{{"supplies", {{{"name", "toner-black"}, {"level_pct", 40}}}}};
    return not_found("no " + name);
  }
  Status apply_settings(const Json& settings, bool validate_only) override {
    for (const auto& [k, v] : settings.items()) {
      if (k != "sleep_min") return bad_input("unknown setting '" + k + "'");
      if (!v.is_number_integer() || v.get<int>() < 1 || v.get<int>() > 240) {
        return bad_input("sleep_min must be an integer 1-240");
      }
    }
    if (!validate_only) applied.push_back(settings);
    return ok_status();
  }
  Status apply_poll_policy(const PollPolicy& p) override {
    policies.push_back(p);
    return ok_status();
  }
  Status reboot() override {
    ++reboots;
    return ok_status();
  }
  std::vector<Json> applied;
  std::vector<PollPolicy> policies;
  int reboots = 0;
};

Job make_job(const std::string& id, JobKind kind, Json params) {
  Job j;
  j.id = id;
  j.serial = "SIM-0001";
  j.kind = kind;
  j.params = std::move(params);
  return j;
}

// Drains the outbox in sending order, confirming reports, and returns a trace like
// {"event:acquired", "report:counters", ...} plus the entries themselves.
struct Drained {
  std::vector<std::string> trace;
  std::vector<OutboxEntry> entries;
};
Drained drain(Outbox& box) {
  Drained d;
  for (int guard = 0; guard < 100; ++guard) {
    auto b = box.next_batch(64);
    if (b.empty()) break;
    if (b.event) {
      d.trace.push_back(std::string("event:") + to_string(b.event->event->type));
      d.entries.push_back(*b.event);
      box.remove(b.event->seq);
      continue;
    }
    std::vector<Receipt> receipts;
    for (const auto& e : b.reports) {
      d.trace.push_back("report:" + e.report->kind);
      d.entries.push_back(e);
      receipts.push_back(
          {e.report->id, "1", 0, sha256_hex(canonical_report(*e.report)), false, {}});
    }
    box.confirm(receipts);
  }
  return d;
}

struct Fixture {
  TempDir dir;
  FakeDevice device;
  std::unique_ptr<Outbox> box = std::move(*Outbox::open(dir.path()));
  std::unique_ptr<JobRunner> runner =
      std::make_unique<JobRunner>(*box, device, dir.path() / "jobs_done.json");
};

TEST(JobRunner, CollectSendsTheDataSetsThenSucceedsWithTheirIds) {
  Fixture f;
  auto job = make_job("j-1", JobKind::kCollect, {{"data_sets", {"counters", "supplies"}}});
  EXPECT_EQ(f.runner->on_poll({job}, 1000), 1u);
  EXPECT_EQ(f.runner->run_due(1000), 1u);
  auto d = drain(*f.box);
  EXPECT_EQ(d.trace, (std::vector<std::string>{"event:acquired", "event:started", "report:counters",
                                               "report:supplies", "event:succeeded"}));
  const auto& counters = *d.entries[2].report;
  EXPECT_EQ(counters.job_id, "j-1");
  EXPECT_EQ(counters.body["total"], 4242);
  const auto& done = *d.entries[4].event;
  EXPECT_EQ(done.event_id, "j-1.succeeded");
  EXPECT_EQ(done.detail["report_ids"], (Json{d.entries[2].report->id, d.entries[3].report->id}));
}

TEST(JobRunner, CollectOfNothingAvailableFails) {
  Fixture f;
  f.runner->on_poll({make_job("j-2", JobKind::kCollect, {{"data_sets", {"adjustment"}}})}, 0);
  f.runner->run_due(0);
  auto d = drain(*f.box);
  ASSERT_EQ(d.trace.back(), "event:failed");
  EXPECT_NE(d.entries.back().event->reason.find("adjustment"), std::string::npos);
}

TEST(JobRunner, ConfigureAppliesValidSettings) {
  Fixture f;
  f.runner->on_poll({make_job("j-3", JobKind::kConfigure, {{"settings", {{"sleep_min", 30}}}})}, 0);
  f.runner->run_due(0);
  auto d = drain(*f.box);
  EXPECT_EQ(d.trace.back(), "event:succeeded");
  EXPECT_EQ(d.entries.back().event->detail["result"], "OK");
  ASSERT_EQ(f.device.applied.size(), 1u);
  EXPECT_EQ(f.device.applied[0]["sleep_min"], 30);
}

TEST(JobRunner, ConfigureRefusedByTheDeviceFailsWithTheReason) {
  Fixture f;
  f.runner->on_poll({make_job("j-4", JobKind::kConfigure, {{"settings", {{"sleep_min", 500}}}})},
                    0);
  f.runner->run_due(0);
  auto d = drain(*f.box);
  ASSERT_EQ(d.trace.back(), "event:failed");
  EXPECT_EQ(d.entries.back().event->reason, "sleep_min must be an integer 1-240");
  EXPECT_EQ(d.entries.back().event->detail["result"], "NG");
  EXPECT_TRUE(f.device.applied.empty());  // validation failed: nothing applied
}

TEST(JobRunner, ScheduleAdoptsThePolicy) {
  Fixture f;
  Json policy = {{"interval_s", 60},
                 {"times_of_day", {"02:00"}},
                 {"conditions", {{{"kind", "error_code"}, {"code", "SC542"}}}}};
  f.runner->on_poll({make_job("j-5", JobKind::kSchedule, {{"poll_policy", policy}})}, 0);
  f.runner->run_due(0);
  auto d = drain(*f.box);
  EXPECT_EQ(d.trace.back(), "event:succeeded");
  ASSERT_EQ(f.device.policies.size(), 1u);
  EXPECT_EQ(f.device.policies[0].interval_s, 60);
  EXPECT_EQ(f.device.policies[0].times_of_day, std::vector<std::string>{"02:00"});

  f.runner->on_poll({make_job("j-6", JobKind::kSchedule, {{"poll_policy", {{"interval_s", 1}}}})},
                    0);
  f.runner->run_due(0);
  EXPECT_EQ(drain(*f.box).trace.back(), "event:failed");
  EXPECT_EQ(f.device.policies.size(), 1u);
}

TEST(JobRunner, AJobIsTakenOnceEvenAcrossRestarts) {
  Fixture f;
  auto job = make_job("j-7", JobKind::kReboot, Json::object());
  EXPECT_EQ(f.runner->on_poll({job}, 0), 1u);
  EXPECT_EQ(f.runner->on_poll({job}, 0), 0u);  // delivered again before it ran
  f.runner->run_due(0);
  EXPECT_EQ(f.device.reboots, 1);
  EXPECT_EQ(f.runner->on_poll({job}, 0), 0u);  // delivered again until the relay has the result
  EXPECT_EQ(f.runner->run_due(0), 0u);

  JobRunner restarted(*f.box, f.device, f.dir.path() / "jobs_done.json");
  EXPECT_TRUE(restarted.is_known("j-7"));
  EXPECT_EQ(restarted.on_poll({job}, 0), 0u);
  EXPECT_EQ(restarted.run_due(0), 0u);
  EXPECT_EQ(f.device.reboots, 1);
}

TEST(JobRunner, WaitsForExecuteAtAndDropsAJobNoLongerListed) {
  Fixture f;
  auto later = make_job("j-8", JobKind::kReboot, Json::object());
  later.execute_at = 60000;
  f.runner->on_poll({later}, 1000);
  EXPECT_EQ(f.runner->run_due(1000), 0u);
  EXPECT_EQ(f.runner->next_due(), 60000);
  auto d = drain(*f.box);
  EXPECT_EQ(d.trace, std::vector<std::string>{"event:acquired"});
  EXPECT_EQ(d.entries[0].event->detail["execute_at"], format_time(60000));

  f.runner->on_poll({}, 2000);  // cancelled at the relay: no longer delivered
  EXPECT_EQ(f.runner->pending_count(), 0u);
  EXPECT_EQ(f.runner->run_due(70000), 0u);
  EXPECT_EQ(f.device.reboots, 0);
}

TEST(JobRunner, RunsAtExecuteAtAndDropOnConflictStopsIt) {
  Fixture f;
  auto a = make_job("j-9", JobKind::kReboot, Json::object());
  a.execute_at = 5000;
  auto b = make_job("j-10", JobKind::kReboot, Json::object());
  b.execute_at = 5000;
  f.runner->on_poll({a, b}, 0);
  f.runner->drop("j-10");  // the relay answered 409 to its acquired event
  EXPECT_EQ(f.runner->run_due(4999), 0u);
  EXPECT_EQ(f.runner->run_due(5000), 1u);
  EXPECT_EQ(f.device.reboots, 1);
  EXPECT_TRUE(f.runner->is_known("j-10"));
}

TEST(JobRunner, EventIdsAreStableAndValid) {
  EXPECT_EQ(event_id("j-1", JobEventType::kStarted), "j-1.started");
  std::string long_id(60, 'x');
  auto id = event_id(long_id, JobEventType::kSucceeded);
  EXPECT_LE(id.size(), kMaxIdLength);
  EXPECT_TRUE(is_valid_id(id));
  EXPECT_EQ(id, event_id(long_id, JobEventType::kSucceeded));
}

}  // namespace
}  // namespace printrelay::agent
