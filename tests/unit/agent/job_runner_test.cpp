#include "agent/job_runner.h"

#include <gtest/gtest.h>

#include <chrono>

#include "agent/durable_file.h"
#include "clock/wall_clock.h"
#include "core/codec.h"
#include "core/firmware_job.h"
#include "core/sha256.h"
#include "net/signing.h"
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

// ---- signed jobs (docs/protocol.md "Signed job envelopes") ----

struct SignedFixture {
  TempDir dir;
  FakeDevice device;
  SigningKey key = *make_signing_key();
  std::unique_ptr<Outbox> box = std::move(*Outbox::open(dir.path()));
  std::unique_ptr<JobRunner> runner = make_runner();
  const TimeMs now = wall_clock_ms();

  std::unique_ptr<JobRunner> make_runner() {
    return std::make_unique<JobRunner>(*box, device, dir.path() / "jobs_done.json",
                                       JobTrust{"SIM-0001", {key.public_pem}});
  }
  // A reboot job whose envelope the service center signed.
  Job signed_reboot(const std::string& job_id, std::optional<TimeMs> expires_at,
                    const std::string& envelope_id = "env-0123456789abcdef") {
    JobEnvelope e;
    e.id = envelope_id;
    e.serial = "SIM-0001";
    e.kind = JobKind::kReboot;
    e.expires_at = expires_at;
    e.key_id = *key_id(key.public_pem);
    e.signed_at = now;
    auto text = envelope_text(e);
    EXPECT_TRUE(text) << text.error().message;
    Job j = make_job(
        job_id, JobKind::kReboot,
        {{"envelope", {{"text", *text}, {"signature", *sign_text(*text, key.private_pem)}}}});
    j.expires_at = expires_at;
    return j;
  }
  // The reason of the job's failed event, or "" when it did not fail.
  std::string failure(const std::string& job_id) {
    for (const auto& e : drain(*box).entries) {
      if (e.event && e.event->job_id == job_id && e.event->type == JobEventType::kFailed)
        return e.event->reason;
    }
    return "";
  }
};

TEST(JobRunner, ASignedJobWithoutAnExpiryIsRefused) {
  SignedFixture f;
  f.runner->on_poll({f.signed_reboot("j-20", std::nullopt)}, f.now);
  f.runner->run_due(f.now);
  EXPECT_EQ(f.device.reboots, 0);
  EXPECT_NE(f.failure("j-20").find("has no expiry"), std::string::npos);
}

TEST(JobRunner, ASignedJobExpiringOver400DaysAheadIsRefused) {
  SignedFixture f;
  f.runner->on_poll({f.signed_reboot("j-21", f.now + kMaxEnvelopeLifetimeMs + 60'000)}, f.now);
  f.runner->run_due(f.now);
  EXPECT_EQ(f.device.reboots, 0);
  EXPECT_NE(f.failure("j-21").find("more than 400 days ahead"), std::string::npos);

  f.runner->on_poll({f.signed_reboot("j-22", f.now + 3'600'000, "env-other-0123456789")}, f.now);
  f.runner->run_due(f.now);
  EXPECT_EQ(f.device.reboots, 1);
}

// Finished job ids are kept only for the last 1,000 jobs; the envelope itself is remembered until
// it expires, so a relay that hands an old job back under its old id cannot run it again.
TEST(JobRunner, AnEnvelopeRunsOnceEvenWhenItsJobIdIsForgotten) {
  SignedFixture f;
  auto job = f.signed_reboot("j-23", f.now + 3'600'000);
  f.runner->on_poll({job}, f.now);
  f.runner->run_due(f.now);
  EXPECT_EQ(f.device.reboots, 1);
  drain(*f.box);

  std::filesystem::remove(f.dir.path() / "jobs_done.json");  // as if 1,000 jobs had run since
  f.runner = f.make_runner();
  EXPECT_FALSE(f.runner->is_known("j-23"));
  f.runner->on_poll({job}, f.now + 1000);
  f.runner->run_due(f.now + 1000);
  EXPECT_EQ(f.device.reboots, 1);
  EXPECT_NE(f.failure("j-23").find("replayed"), std::string::npos);
}

TEST(JobRunner, UsedEnvelopesAreRememberedDurablyUntilTheyExpire) {
  SignedFixture f;
  const TimeMs expires = f.now + 3'600'000;
  f.runner->on_poll({f.signed_reboot("j-24", expires)}, f.now);
  f.runner->run_due(f.now);
  auto used = Json::parse(*read_file(f.dir.path() / "envelopes_used.json"));
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0]["id"], "env-0123456789abcdef");
  EXPECT_EQ(used[0]["expires_at"], expires);
  EXPECT_EQ(used[0]["finished"], true);

  // Past its expiry it is refused as expired, so it is forgotten with the next envelope.
  f.runner->on_poll({f.signed_reboot("j-25", expires + 3'600'000, "env-later-0123456789")},
                    expires + 1);
  used = Json::parse(*read_file(f.dir.path() / "envelopes_used.json"));
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0]["id"], "env-later-0123456789");
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
