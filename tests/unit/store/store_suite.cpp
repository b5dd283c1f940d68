// The Store conformance tests. Every test runs against each instantiated backend; nothing here
// knows which one (see store_suite.h).
#include "store_suite.h"

#include <algorithm>
#include <set>
#include <thread>

#include "core/codec.h"
#include "core/job_flow.h"
#include "core/sha256.h"
#include "must.h"

namespace printrelay::testing {
namespace {

constexpr TimeMs kT0 = 1'800'000'000'000;  // 2027-01-15, an arbitrary fixed clock
constexpr TimeMs kHour = 3600 * 1000;

IncomingReport incoming(const std::string& id, const std::string& kind, TimeMs created_at,
                        Json body = {{"total", 1}}) {
  IncomingReport in;
  in.report.id = id;
  in.report.kind = kind;
  in.report.created_at = created_at;
  in.report.body = std::move(body);
  in.sha256 = sha256_hex(canonical_report(in.report));
  return in;
}

IncomingReport with_alert(IncomingReport in, const std::string& code) {
  Alert a;
  a.code = code;
  a.type = "service_call";
  a.urgency = Urgency::kFatal;
  a.message = "fuser unit failure";
  a.raised_at = in.report.created_at;
  in.alert = a;
  in.report.urgency = Urgency::kFatal;
  in.sha256 = sha256_hex(canonical_report(in.report));
  return in;
}

Job make_job(const std::string& id, const std::string& serial, TimeMs created_at) {
  Job j;
  j.id = id;
  j.serial = serial;
  j.kind = JobKind::kCollect;
  j.params = {{"data_sets", {"counters", "supplies"}}};
  j.instructing_user = "alice";
  j.managing_relay = "root";
  j.created_at = created_at;
  j.not_before = created_at;
  j.updated_at = created_at;
  return j;
}

JobTransition created_transition(const Job& j) {
  return JobTransition{j.id, j.created_at, JobState::kWaiting, JobState::kWaiting, "created"};
}

// Stores `j` and then moves it to `state` at `at` through update_job, as the relay would.
void put_job_in_state(Store& s, Job j, JobState state, TimeMs at) {
  ASSERT_TRUE(s.create_job(j, created_transition(j)).ok());
  if (state == JobState::kWaiting) return;
  JobTransition t{j.id, at, j.state, state, "test"};
  j.state = state;
  j.updated_at = at;
  if (is_terminal(state)) j.executed_at = at;
  ASSERT_TRUE(s.update_job(j, t).ok());
}

std::vector<std::string> ids(const std::vector<Job>& jobs) {
  std::vector<std::string> out;
  for (const auto& j : jobs) out.push_back(j.id);
  return out;
}

Device make_device(const std::string& serial) {
  Device d;
  d.serial = serial;
  d.model = "MX-4071";
  d.token_hash = sha256_hex("token-" + serial);
  d.enrolled_at = kT0;
  d.last_seen = kT0;
  d.state = "idle";
  d.boot_id = "boot-1";
  d.firmware = {{"main", "1.0.0"}};
  return d;
}

// --- schema ---

TEST_P(StoreSuite, SchemaVersionIsPositive) { EXPECT_GT(store().schema_version(), 0); }

TEST_P(StoreSuite, EmptyStoreAnswersEmpty) {
  EXPECT_EQ(must(store().count_reports("")), 0);
  EXPECT_TRUE(must(store().list_reports({})).empty());
  EXPECT_TRUE(must(store().latest_reports("MX-1")).empty());
  EXPECT_TRUE(must(store().list_jobs({})).empty());
  EXPECT_TRUE(must(store().list_devices()).empty());
  EXPECT_TRUE(must(store().open_alert_counts()).empty());
  EXPECT_EQ(store().get_device("MX-1").error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(store().get_job("j-1").error().kind, ErrorKind::kNotFound);
  EXPECT_FALSE(must(store().get_poll_policy("MX-1")).has_value());
}

// A read that cannot be done is an error, never "nothing there": a caller that took an empty
// answer for the truth would drop a device's pending jobs or show an empty fleet.
TEST_P(StoreSuite, ReadsOfStorageThatFailsAreErrorsNotEmpty) {
  Registration r;
  r.serial = "MX-1";
  r.model = "MX-4071";
  ASSERT_TRUE(store().put_registration(r).ok());
  ASSERT_TRUE(store()
                  .create_job(make_job("j-1", "MX-1", kT0),
                              created_transition(make_job("j-1", "MX-1", kT0)))
                  .ok());
  ASSERT_TRUE(store().append_reports("MX-1", {incoming("r-1", "counters", kT0)}, kT0).ok());

  backend_->break_storage();

  auto unavailable = [](const auto& result, const char* call) {
    EXPECT_FALSE(result.ok()) << call << " answered as if the storage were readable";
    if (!result.ok()) {
      EXPECT_EQ(result.error().kind, ErrorKind::kUnavailable) << call;
    }
  };
  ReportQuery reports;
  JobQuery jobs;
  jobs.all = true;
  unavailable(store().list_registrations(), "list_registrations");
  unavailable(store().list_devices(), "list_devices");
  unavailable(store().get_poll_policy("MX-1"), "get_poll_policy");
  unavailable(store().list_reports(reports), "list_reports");
  unavailable(store().latest_reports("MX-1"), "latest_reports");
  unavailable(store().latest_of_kind("counters"), "latest_of_kind");
  unavailable(store().count_reports(""), "count_reports");
  unavailable(store().count_reports("MX-1"), "count_reports(serial)");
  unavailable(store().list_jobs(jobs), "list_jobs");
  unavailable(store().open_jobs("MX-1"), "open_jobs");
  unavailable(store().count_open_jobs(), "count_open_jobs");
  unavailable(store().open_jobs_of_kind(JobKind::kFirmware), "open_jobs_of_kind");
  unavailable(store().expirable_jobs(), "expirable_jobs");
  unavailable(store().list_transitions("j-1"), "list_transitions");
  unavailable(store().list_alerts("", false), "list_alerts");
  unavailable(store().open_alert_counts(), "open_alert_counts");
  unavailable(store().peek_upstream(10), "peek_upstream");
  unavailable(store().count_upstream(), "count_upstream");
  unavailable(store().list_firmware_history("", 10), "list_firmware_history");
  unavailable(store().list_campaigns(), "list_campaigns");
  unavailable(store().list_settings(), "list_settings");
  unavailable(store().claim_notifications(kT0, kT0 + 1000, 10), "claim_notifications");
  unavailable(store().list_notifications("", 10), "list_notifications");
  unavailable(store().list_admin_credentials(), "list_admin_credentials");
  unavailable(store().get_registration("MX-1"), "get_registration");
  unavailable(store().get_job("j-1"), "get_job");
}

// --- reports ---

TEST_P(StoreSuite, AppendReturnsReceiptWithSeqTimeAndHash) {
  auto in = incoming("r-1", "counters", kT0, {{"total", 1042}, {"color", 311}});
  auto res = store().append_reports("MX-1", {in}, kT0 + 5);
  ASSERT_TRUE(res.ok()) << res.error().message;
  ASSERT_EQ(res->size(), 1u);
  const auto& r = res->front();
  EXPECT_EQ(r.report_id, "r-1");
  EXPECT_GT(r.seq, 0);
  EXPECT_EQ(r.received_at, kT0 + 5);
  EXPECT_EQ(r.sha256, in.sha256);
  EXPECT_FALSE(r.duplicate);
  EXPECT_FALSE(r.alert_id.has_value());

  auto listed = must(store().list_reports({}));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].seq, r.seq);
  EXPECT_EQ(listed[0].serial, "MX-1");
  EXPECT_EQ(listed[0].received_at, kT0 + 5);
  EXPECT_EQ(listed[0].sha256, in.sha256);
  EXPECT_EQ(listed[0].report.id, "r-1");
  EXPECT_EQ(listed[0].report.kind, "counters");
  EXPECT_EQ(listed[0].report.created_at, kT0);
  EXPECT_EQ(listed[0].report.body["total"], 1042);
  // What is stored hashes to the receipt's hash: the sender can trust the receipt.
  EXPECT_EQ(sha256_hex(canonical_report(listed[0].report)), r.sha256);
}

TEST_P(StoreSuite, AppendIsIdempotentByReportId) {
  auto first = store().append_reports("MX-1", {incoming("r-1", "counters", kT0)}, kT0 + 1);
  ASSERT_TRUE(first.ok());
  // A retry after a lost answer, even with a changed body, stores nothing new.
  auto retry = incoming("r-1", "counters", kT0, {{"total", 99}});
  auto second = store().append_reports("MX-1", {retry}, kT0 + 1000);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1u);
  EXPECT_TRUE(second->front().duplicate);
  EXPECT_EQ(second->front().seq, first->front().seq);
  EXPECT_EQ(second->front().received_at, kT0 + 1);
  EXPECT_EQ(second->front().sha256, first->front().sha256);
  EXPECT_EQ(must(store().count_reports("MX-1")), 1);
  EXPECT_EQ(must(store().list_reports({}))[0].report.body["total"], 1);
}

TEST_P(StoreSuite, SameReportIdOnAnotherDeviceIsAnotherReport) {
  auto a = store().append_reports("MX-1", {incoming("r-1", "counters", kT0)}, kT0);
  auto b = store().append_reports("MX-2", {incoming("r-1", "counters", kT0)}, kT0);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(b->front().duplicate);
  EXPECT_NE(a->front().seq, b->front().seq);
  EXPECT_EQ(must(store().count_reports("")), 2);
}

TEST_P(StoreSuite, DuplicateInsideOneBatchGetsTheFirstSeq) {
  auto res = store().append_reports(
      "MX-1", {incoming("r-1", "counters", kT0), incoming("r-1", "counters", kT0)}, kT0);
  ASSERT_TRUE(res.ok());
  ASSERT_EQ(res->size(), 2u);
  EXPECT_FALSE((*res)[0].duplicate);
  EXPECT_TRUE((*res)[1].duplicate);
  EXPECT_EQ((*res)[0].seq, (*res)[1].seq);
  EXPECT_EQ(must(store().count_reports("MX-1")), 1);
}

TEST_P(StoreSuite, SeqIncreasesStrictlyInReceptionOrder) {
  std::int64_t last = 0;
  for (int batch = 0; batch < 5; ++batch) {
    std::vector<IncomingReport> in;
    for (int i = 0; i < 3; ++i) {
      // created_at runs backwards: seq follows reception, not creation.
      in.push_back(
          incoming("r-" + std::to_string(batch * 3 + i), "counters", kT0 - batch * 10 - i));
    }
    auto res = store().append_reports("MX-1", in, kT0 + batch);
    ASSERT_TRUE(res.ok());
    for (const auto& r : *res) {
      EXPECT_GT(r.seq, last);
      last = r.seq;
    }
  }
}

TEST_P(StoreSuite, BatchIsAllOrNothing) {
  ASSERT_TRUE(store().append_reports("MX-1", {incoming("r-0", "counters", kT0)}, kT0).ok());
  // The last report of the batch cannot be stored (every store refuses a report without an id,
  // which could never be deduplicated): the reports and the alert before it must leave no trace.
  std::vector<IncomingReport> batch = {incoming("r-1", "counters", kT0),
                                       with_alert(incoming("r-2", "alert", kT0), "SC542")};
  IncomingReport bad = incoming("r-3", "counters", kT0);
  bad.report.id.clear();
  batch.push_back(bad);
  auto res = store().append_reports("MX-1", batch, kT0);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind, ErrorKind::kBadInput);
  EXPECT_EQ(must(store().count_reports("MX-1")), 1);
  EXPECT_TRUE(must(store().list_alerts("MX-1", false)).empty());
  // The failed batch consumed nothing visible: a retry of the good part works normally.
  batch.pop_back();
  auto retry = store().append_reports("MX-1", batch, kT0);
  ASSERT_TRUE(retry.ok());
  EXPECT_FALSE((*retry)[0].duplicate);
  EXPECT_FALSE((*retry)[1].duplicate);
  EXPECT_EQ(must(store().count_reports("MX-1")), 3);
}

TEST_P(StoreSuite, AlertOpensOnlyForNewReports) {
  auto in = with_alert(incoming("r-9", "alert", kT0, {{"code", "SC542"}}), "SC542");
  auto first = store().append_reports("MX-1", {in}, kT0 + 1);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->front().alert_id.has_value());
  auto again = store().append_reports("MX-1", {in}, kT0 + 2);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->front().duplicate);
  EXPECT_FALSE(again->front().alert_id.has_value());

  auto alerts = must(store().list_alerts("MX-1", true));
  ASSERT_EQ(alerts.size(), 1u);
  const Alert& a = alerts[0];
  EXPECT_EQ(a.id, *first->front().alert_id);
  EXPECT_EQ(a.serial, "MX-1");
  EXPECT_EQ(a.report_id, "r-9");
  EXPECT_EQ(a.code, "SC542");
  EXPECT_EQ(a.type, "service_call");
  EXPECT_EQ(a.urgency, Urgency::kFatal);
  EXPECT_EQ(a.message, "fuser unit failure");
  EXPECT_EQ(a.raised_at, kT0);
  EXPECT_TRUE(a.open);
  EXPECT_FALSE(a.acknowledged_at.has_value());
  EXPECT_EQ(must(store().open_alert_counts()), (std::map<std::string, int>{{"MX-1", 1}}));
}

TEST_P(StoreSuite, ListReportsFilters) {
  // MX-1: counters at t0, t0+1h, t0+2h; supplies at t0+1h. MX-2: counters at t0.
  ASSERT_TRUE(
      store()
          .append_reports(
              "MX-1",
              {incoming("a", "counters", kT0), incoming("b", "counters", kT0 + kHour),
               incoming("c", "supplies", kT0 + kHour), incoming("d", "counters", kT0 + 2 * kHour)},
              kT0 + 3 * kHour)
          .ok());
  ASSERT_TRUE(store().append_reports("MX-2", {incoming("e", "counters", kT0)}, kT0).ok());

  auto all = must(store().list_reports({}));
  ASSERT_EQ(all.size(), 5u);
  for (std::size_t i = 1; i < all.size(); ++i)
    EXPECT_GT(all[i - 1].seq, all[i].seq);  // newest first

  ReportQuery by_serial;
  by_serial.serial = "MX-1";
  EXPECT_EQ(must(store().list_reports(by_serial)).size(), 4u);

  ReportQuery by_kind;
  by_kind.serial = "MX-1";
  by_kind.kind = "counters";
  auto counters = must(store().list_reports(by_kind));
  ASSERT_EQ(counters.size(), 3u);
  EXPECT_EQ(counters[0].report.id, "d");
  EXPECT_EQ(counters[2].report.id, "a");

  ReportQuery window;
  window.serial = "MX-1";
  window.since = kT0 + kHour;      // inclusive
  window.until = kT0 + 2 * kHour;  // exclusive
  auto in_window = must(store().list_reports(window));
  std::set<std::string> got;
  for (const auto& r : in_window) got.insert(r.report.id);
  EXPECT_EQ(got, (std::set<std::string>{"b", "c"}));

  ReportQuery limited;
  limited.limit = 2;
  auto newest = must(store().list_reports(limited));
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[0].report.id, "e");
  EXPECT_EQ(newest[1].report.id, "d");

  EXPECT_EQ(must(store().count_reports("MX-1")), 4);
  EXPECT_EQ(must(store().count_reports("MX-2")), 1);
  EXPECT_EQ(must(store().count_reports("")), 5);
}

TEST_P(StoreSuite, ListReportsAfterSeqPagesOldestFirst) {
  std::vector<IncomingReport> in;
  for (int i = 0; i < 7; ++i) in.push_back(incoming("r-" + std::to_string(i), "counters", kT0 + i));
  ASSERT_TRUE(store().append_reports("MX-1", in, kT0).ok());

  // A child relay or an exporter follows the stream: pages of 3 after the last seq seen.
  std::vector<std::string> seen;
  ReportQuery q;
  q.after_seq = 0;
  q.limit = 3;
  for (int page = 0; page < 5; ++page) {
    auto rows = must(store().list_reports(q));
    if (rows.empty()) break;
    EXPECT_LE(rows.size(), 3u);
    for (const auto& r : rows) {
      EXPECT_GT(r.seq, *q.after_seq);
      q.after_seq = r.seq;
      seen.push_back(r.report.id);
    }
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"r-0", "r-1", "r-2", "r-3", "r-4", "r-5", "r-6"}));
}

TEST_P(StoreSuite, LatestReportsIsNewestPerKind) {
  ASSERT_TRUE(store()
                  .append_reports("MX-1",
                                  {incoming("c1", "counters", kT0, {{"total", 100}}),
                                   incoming("c2", "counters", kT0 + kHour, {{"total", 200}}),
                                   incoming("s1", "supplies", kT0, {{"black", 40}})},
                                  kT0 + kHour)
                  .ok());
  // A backlog report created earlier arrives later: it is not the latest.
  ASSERT_TRUE(store()
                  .append_reports("MX-1",
                                  {incoming("c0", "counters", kT0 - kHour, {{"total", 50}})},
                                  kT0 + 2 * kHour)
                  .ok());
  ASSERT_TRUE(store().append_reports("MX-2", {incoming("x", "boot", kT0 + 9 * kHour)}, kT0).ok());

  auto latest = must(store().latest_reports("MX-1"));
  ASSERT_EQ(latest.size(), 2u);
  EXPECT_EQ(latest.at("counters").report.id, "c2");
  EXPECT_EQ(latest.at("counters").report.body["total"], 200);
  EXPECT_EQ(latest.at("supplies").report.id, "s1");
  EXPECT_EQ(latest.count("boot"), 0u);
}

TEST_P(StoreSuite, ConcurrentAppendsGetDistinctIncreasingSeqs) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  constexpr int kBatch = 10;  // 20 transactions per thread, 80 in all
  std::vector<std::vector<std::int64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string serial = "MX-" + std::to_string(t);
      for (int b = 0; b < kPerThread / kBatch; ++b) {
        std::vector<IncomingReport> in;
        for (int i = 0; i < kBatch; ++i) {
          in.push_back(incoming("r-" + std::to_string(b * kBatch + i), "counters", kT0));
        }
        auto res = store().append_reports(serial, in, kT0);
        if (!res.ok()) {
          ADD_FAILURE() << res.error().message;
          return;
        }
        for (const auto& r : *res) seqs[t].push_back(r.seq);
      }
    });
  }
  for (auto& th : threads) th.join();

  std::set<std::int64_t> distinct;
  for (const auto& per_thread : seqs) {
    ASSERT_EQ(per_thread.size(), static_cast<std::size_t>(kPerThread));
    // Within one thread, later calls commit later, so their numbers are higher.
    EXPECT_TRUE(std::is_sorted(per_thread.begin(), per_thread.end()));
    distinct.insert(per_thread.begin(), per_thread.end());
  }
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(must(store().count_reports("")), kThreads * kPerThread);
}

// --- jobs ---

TEST_P(StoreSuite, JobRoundTripsEveryField) {
  Job j = make_job("j-1", "MX-1", kT0);
  j.kind = JobKind::kConfigure;
  j.params = {{"settings", {{"sleep_min", 5}, {"duplex_default", true}}}};
  j.execute_at = kT0 + kHour;
  j.expires_at = kT0 + 24 * kHour;
  j.result = {{"note", "x"}};
  ASSERT_TRUE(store().create_job(j, created_transition(j)).ok());
  auto got = store().get_job("j-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->id, "j-1");
  EXPECT_EQ(got->serial, "MX-1");
  EXPECT_EQ(got->kind, JobKind::kConfigure);
  EXPECT_EQ(got->params, j.params);
  EXPECT_EQ(got->state, JobState::kWaiting);
  EXPECT_EQ(got->instructing_user, "alice");
  EXPECT_EQ(got->managing_relay, "root");
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->not_before, kT0);
  EXPECT_EQ(got->execute_at, kT0 + kHour);
  EXPECT_EQ(got->expires_at, kT0 + 24 * kHour);
  EXPECT_FALSE(got->executed_at.has_value());
  EXPECT_EQ(got->updated_at, kT0);
  EXPECT_FALSE(got->acknowledged);
  EXPECT_EQ(got->result, j.result);

  auto ts = must(store().list_transitions("j-1"));
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].cause, "created");
  EXPECT_EQ(ts[0].at, kT0);
}

TEST_P(StoreSuite, CreateJobWithExistingIdConflicts) {
  Job j = make_job("j-1", "MX-1", kT0);
  ASSERT_TRUE(store().create_job(j, created_transition(j)).ok());
  Job other = make_job("j-1", "MX-2", kT0 + 1);
  auto st = store().create_job(other, created_transition(other));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(store().get_job("j-1")->serial, "MX-1");
  EXPECT_EQ(must(store().list_transitions("j-1")).size(), 1u);
}

TEST_P(StoreSuite, ListJobsDefaultListHidesOldFinishedAndAcknowledgedFailures) {
  const TimeMs now = kT0 + 100 * kHour;
  const TimeMs retention = 24 * kHour;
  put_job_in_state(store(), make_job("waiting", "MX-1", kT0 + 1), JobState::kWaiting, 0);
  put_job_in_state(store(), make_job("running", "MX-1", kT0 + 2), JobState::kRunning, kT0 + 3);
  put_job_in_state(store(), make_job("ok-old", "MX-1", kT0 + 3), JobState::kSucceeded,
                   now - retention - 1);
  put_job_in_state(store(), make_job("ok-new", "MX-1", kT0 + 4), JobState::kSucceeded,
                   now - retention + 1);
  put_job_in_state(store(), make_job("cancel-old", "MX-2", kT0 + 5), JobState::kCancelled,
                   now - 2 * retention);
  put_job_in_state(store(), make_job("expired-new", "MX-2", kT0 + 6), JobState::kExpired, now - 1);
  put_job_in_state(store(), make_job("failed-old", "MX-2", kT0 + 7), JobState::kFailed,
                   now - 10 * retention);
  Job acked = make_job("failed-acked", "MX-2", kT0 + 8);
  put_job_in_state(store(), acked, JobState::kFailed, now - 1);
  acked = *store().get_job("failed-acked");
  acked.acknowledged = true;
  ASSERT_TRUE(store().update_job(acked, std::nullopt).ok());

  JobQuery q;
  q.now = now;
  q.retention_ms = retention;
  // Newest created first.
  EXPECT_EQ(
      ids(must(store().list_jobs(q))),
      (std::vector<std::string>{"failed-old", "expired-new", "ok-new", "running", "waiting"}));
  // Cross-check against the one definition in core.
  JobQuery all = q;
  all.all = true;
  auto every = must(store().list_jobs(all));
  EXPECT_EQ(every.size(), 8u);
  for (const auto& j : every) {
    auto listed = ids(must(store().list_jobs(q)));
    bool in_list = std::find(listed.begin(), listed.end(), j.id) != listed.end();
    EXPECT_EQ(in_list, in_default_list(j, now, retention)) << j.id;
  }

  JobQuery mx2 = q;
  mx2.serial = "MX-2";
  EXPECT_EQ(ids(must(store().list_jobs(mx2))),
            (std::vector<std::string>{"failed-old", "expired-new"}));

  JobQuery failed = all;
  failed.state = JobState::kFailed;
  EXPECT_EQ(ids(must(store().list_jobs(failed))),
            (std::vector<std::string>{"failed-acked", "failed-old"}));

  JobQuery limited = all;
  limited.limit = 3;
  EXPECT_EQ(ids(must(store().list_jobs(limited))),
            (std::vector<std::string>{"failed-acked", "failed-old", "expired-new"}));
}

TEST_P(StoreSuite, OpenJobsAreNonTerminalOfOneDeviceOldestFirst) {
  put_job_in_state(store(), make_job("j-3", "MX-1", kT0 + 3), JobState::kAcquired, kT0 + 4);
  put_job_in_state(store(), make_job("j-1", "MX-1", kT0 + 1), JobState::kWaiting, 0);
  put_job_in_state(store(), make_job("j-2", "MX-1", kT0 + 2), JobState::kSucceeded, kT0 + 5);
  put_job_in_state(store(), make_job("j-4", "MX-1", kT0 + 4), JobState::kRunning, kT0 + 5);
  put_job_in_state(store(), make_job("j-5", "MX-2", kT0 + 1), JobState::kWaiting, 0);
  EXPECT_EQ(ids(must(store().open_jobs("MX-1"))), (std::vector<std::string>{"j-1", "j-3", "j-4"}));
  EXPECT_EQ(ids(must(store().open_jobs("MX-2"))), (std::vector<std::string>{"j-5"}));
  EXPECT_TRUE(must(store().open_jobs("MX-9")).empty());
  EXPECT_EQ(must(store().count_open_jobs()), 4);
}

TEST_P(StoreSuite, OpenJobsOfKindAreNonTerminalJobsOfThatKindOnEveryDeviceOldestFirst) {
  auto firmware = [](const std::string& id, const std::string& serial, TimeMs created_at) {
    Job j = make_job(id, serial, created_at);
    j.kind = JobKind::kFirmware;
    return j;
  };
  put_job_in_state(store(), firmware("f-3", "MX-1", kT0 + 3), JobState::kRunning, kT0 + 4);
  put_job_in_state(store(), firmware("f-1", "MX-2", kT0 + 1), JobState::kWaiting, 0);
  put_job_in_state(store(), firmware("f-2", "MX-3", kT0 + 2), JobState::kAcquired, kT0 + 3);
  put_job_in_state(store(), firmware("f-0", "MX-4", kT0 + 1), JobState::kWaiting, 0);
  put_job_in_state(store(), firmware("f-done", "MX-1", kT0), JobState::kSucceeded, kT0 + 1);
  put_job_in_state(store(), firmware("f-failed", "MX-2", kT0), JobState::kFailed, kT0 + 1);
  put_job_in_state(store(), make_job("c-1", "MX-1", kT0), JobState::kWaiting, 0);
  // Same created_at: by id.
  EXPECT_EQ(ids(must(store().open_jobs_of_kind(JobKind::kFirmware))),
            (std::vector<std::string>{"f-0", "f-1", "f-2", "f-3"}));
  EXPECT_EQ(ids(must(store().open_jobs_of_kind(JobKind::kCollect))),
            (std::vector<std::string>{"c-1"}));
  EXPECT_TRUE(must(store().open_jobs_of_kind(JobKind::kReboot)).empty());
}

TEST_P(StoreSuite, ExpirableJobsAreOpenJobsWithAnExpiry) {
  Job a = make_job("a", "MX-1", kT0);
  a.expires_at = kT0 + 2 * kHour;
  Job b = make_job("b", "MX-2", kT0);
  b.expires_at = kT0 + kHour;
  Job c = make_job("c", "MX-1", kT0);  // no expiry
  Job d = make_job("d", "MX-1", kT0);
  d.expires_at = kT0 + kHour;
  put_job_in_state(store(), a, JobState::kWaiting, 0);
  put_job_in_state(store(), b, JobState::kAcquired, kT0 + 1);
  put_job_in_state(store(), c, JobState::kWaiting, 0);
  put_job_in_state(store(), d, JobState::kSucceeded, kT0 + 1);
  auto got = ids(must(store().expirable_jobs()));
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b"}));
}

TEST_P(StoreSuite, RecordJobEventIsIdempotentByEventId) {
  Job j = make_job("j-1", "MX-1", kT0);
  ASSERT_TRUE(store().create_job(j, created_transition(j)).ok());

  JobEvent e;
  e.event_id = "ev-1";
  e.job_id = "j-1";
  e.type = JobEventType::kAcquired;
  e.at = kT0 + 10;
  auto t = apply_event(j, e, kT0 + 10);
  ASSERT_TRUE(t.ok() && t->has_value());
  auto first = store().record_job_event(e, j, *t);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(*first);
  EXPECT_EQ(store().get_job("j-1")->state, JobState::kAcquired);

  // The device retries the same event after a lost answer; the relay re-applies it to the job
  // it read, which must not be written again.
  Job stale = j;
  stale.state = JobState::kFailed;
  stale.updated_at = kT0 + 99;
  JobTransition bogus{"j-1", kT0 + 99, JobState::kAcquired, JobState::kFailed, "should not appear"};
  auto again = store().record_job_event(e, stale, bogus);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  auto stored = store().get_job("j-1");
  EXPECT_EQ(stored->state, JobState::kAcquired);
  EXPECT_EQ(stored->updated_at, kT0 + 10);
  auto ts = must(store().list_transitions("j-1"));
  ASSERT_EQ(ts.size(), 2u);
  EXPECT_EQ(ts[1].from, JobState::kWaiting);
  EXPECT_EQ(ts[1].to, JobState::kAcquired);
  EXPECT_EQ(ts[1].cause, "device: acquired");

  // A progress event changes the job without a transition.
  JobEvent p = e;
  p.event_id = "ev-2";
  p.type = JobEventType::kProgress;
  p.detail = {{"percent", 40}};
  auto pt = apply_event(j, p, kT0 + 20);
  ASSERT_TRUE(pt.ok());
  EXPECT_FALSE(pt->has_value());
  auto progress = store().record_job_event(p, j, *pt);
  ASSERT_TRUE(progress.ok());
  EXPECT_TRUE(*progress);
  EXPECT_EQ(store().get_job("j-1")->result["percent"], 40);
  EXPECT_EQ(must(store().list_transitions("j-1")).size(), 2u);
}

TEST_P(StoreSuite, RecordJobEventForUnknownJobWritesNothing) {
  Job ghost = make_job("ghost", "MX-1", kT0);
  JobEvent e;
  e.event_id = "ev-1";
  e.job_id = "ghost";
  e.type = JobEventType::kStarted;
  auto res = store().record_job_event(e, ghost, std::nullopt);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind, ErrorKind::kNotFound);
  // The event id was not consumed: once the job exists the same event is recorded.
  ASSERT_TRUE(store().create_job(ghost, created_transition(ghost)).ok());
  auto later = store().record_job_event(e, ghost, std::nullopt);
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(*later);
}

TEST_P(StoreSuite, CancelThroughUpdateJobStoresStateAndTransition) {
  Job j = make_job("j-1", "MX-1", kT0);
  ASSERT_TRUE(store().create_job(j, created_transition(j)).ok());
  auto t = cancel_job(j, "bob", kT0 + 50);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(store().update_job(j, *t).ok());
  auto got = store().get_job("j-1");
  EXPECT_EQ(got->state, JobState::kCancelled);
  EXPECT_EQ(got->executed_at, kT0 + 50);
  EXPECT_EQ(got->updated_at, kT0 + 50);
  EXPECT_TRUE(must(store().open_jobs("MX-1")).empty());
  auto ts = must(store().list_transitions("j-1"));
  ASSERT_EQ(ts.size(), 2u);
  EXPECT_EQ(ts[0].cause, "created");
  EXPECT_EQ(ts[1].from, JobState::kWaiting);
  EXPECT_EQ(ts[1].to, JobState::kCancelled);
  EXPECT_EQ(ts[1].cause, "cancelled by bob");
  EXPECT_EQ(ts[1].at, kT0 + 50);
}

TEST_P(StoreSuite, UpdateUnknownJobIsNotFoundAndWritesNoTransition) {
  Job j = make_job("nope", "MX-1", kT0);
  auto st = store().update_job(
      j, JobTransition{"nope", kT0, JobState::kWaiting, JobState::kCancelled, "cancelled by bob"});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::kNotFound);
  EXPECT_TRUE(must(store().list_transitions("nope")).empty());
}

TEST_P(StoreSuite, TransitionsListInInsertionOrder) {
  Job j = make_job("j-1", "MX-1", kT0);
  ASSERT_TRUE(store().create_job(j, created_transition(j)).ok());
  const std::vector<std::pair<JobEventType, std::string>> events = {
      {JobEventType::kAcquired, ""},
      {JobEventType::kDeferred, "user pressed defer"},
      {JobEventType::kStarted, ""},
      {JobEventType::kFailed, "paper jam J-101"}};
  int n = 0;
  for (const auto& [type, reason] : events) {
    JobEvent e;
    e.event_id = "ev-" + std::to_string(++n);
    e.job_id = "j-1";
    e.type = type;
    e.reason = reason;
    // Same timestamp for all: order must come from insertion, not from time.
    auto t = apply_event(j, e, kT0 + 100);
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE(store().record_job_event(e, j, *t).ok());
  }
  auto ts = must(store().list_transitions("j-1"));
  ASSERT_EQ(ts.size(), 5u);
  EXPECT_EQ(ts[1].to, JobState::kAcquired);
  EXPECT_EQ(ts[2].from, JobState::kAcquired);
  EXPECT_EQ(ts[2].to, JobState::kAcquired);
  EXPECT_EQ(ts[2].cause, "device: deferred: user pressed defer");
  EXPECT_EQ(ts[3].to, JobState::kRunning);
  EXPECT_EQ(ts[4].to, JobState::kFailed);
  EXPECT_EQ(store().get_job("j-1")->result["reason"], "paper jam J-101");
}

// --- alerts ---

TEST_P(StoreSuite, AcknowledgeAlertClosesItOnce) {
  ASSERT_TRUE(store()
                  .append_reports("MX-1",
                                  {with_alert(incoming("a1", "alert", kT0), "SC542"),
                                   with_alert(incoming("a2", "alert", kT0 + 1), "J-101")},
                                  kT0)
                  .ok());
  ASSERT_TRUE(store()
                  .append_reports("MX-2", {with_alert(incoming("a3", "alert", kT0), "SC101")}, kT0)
                  .ok());
  EXPECT_EQ(must(store().open_alert_counts()),
            (std::map<std::string, int>{{"MX-1", 2}, {"MX-2", 1}}));

  auto open = must(store().list_alerts("MX-1", true));
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[0].report_id, "a2");  // newest first
  auto acked = store().acknowledge_alert(open[0].id, "carol", kT0 + 500);
  ASSERT_TRUE(acked.ok());
  EXPECT_FALSE(acked->open);
  EXPECT_EQ(acked->acknowledged_at, kT0 + 500);
  EXPECT_EQ(acked->acknowledged_by, "carol");

  // A second acknowledgement keeps the first one.
  auto twice = store().acknowledge_alert(open[0].id, "dave", kT0 + 900);
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->acknowledged_by, "carol");
  EXPECT_EQ(twice->acknowledged_at, kT0 + 500);

  EXPECT_EQ(must(store().list_alerts("MX-1", true)).size(), 1u);
  EXPECT_EQ(must(store().list_alerts("MX-1", false)).size(), 2u);
  EXPECT_EQ(must(store().list_alerts("", false)).size(), 3u);
  EXPECT_EQ(must(store().open_alert_counts()),
            (std::map<std::string, int>{{"MX-1", 1}, {"MX-2", 1}}));

  auto missing = store().acknowledge_alert(987654, "carol", kT0);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
}

// --- registrations ---

TEST_P(StoreSuite, RegistrationsCrud) {
  Registration r;
  r.serial = "MX-1";
  r.model = "MX-4071";
  r.place = "3F copy room";
  r.customer = "Acme";
  r.contact = "it@acme.example";
  r.enrollment_code_hash = sha256_hex("code-1");
  r.created_at = kT0;
  ASSERT_TRUE(store().put_registration(r).ok());
  Registration r2 = r;
  r2.serial = "MX-0";
  ASSERT_TRUE(store().put_registration(r2).ok());

  auto got = store().get_registration("MX-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->model, "MX-4071");
  EXPECT_EQ(got->place, "3F copy room");
  EXPECT_EQ(got->customer, "Acme");
  EXPECT_EQ(got->contact, "it@acme.example");
  EXPECT_EQ(got->enrollment_code_hash, r.enrollment_code_hash);
  EXPECT_EQ(got->created_at, kT0);

  r.place = "2F reception";  // replace
  ASSERT_TRUE(store().put_registration(r).ok());
  EXPECT_EQ(store().get_registration("MX-1")->place, "2F reception");
  auto list = must(store().list_registrations());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].serial, "MX-0");
  EXPECT_EQ(list[1].serial, "MX-1");

  ASSERT_TRUE(store().delete_registration("MX-1").ok());
  EXPECT_EQ(store().get_registration("MX-1").error().kind, ErrorKind::kNotFound);
  auto again = store().delete_registration("MX-1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(must(store().list_registrations()).size(), 1u);
}

// --- devices ---

TEST_P(StoreSuite, PutDeviceEnrolsAndReEnrolReplacesToken) {
  ASSERT_TRUE(store().put_device(make_device("MX-2")).ok());
  ASSERT_TRUE(store().put_device(make_device("MX-1")).ok());
  auto got = store().get_device("MX-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->model, "MX-4071");
  EXPECT_EQ(got->token_hash, sha256_hex("token-MX-1"));
  EXPECT_EQ(got->enrolled_at, kT0);
  EXPECT_EQ(got->firmware, (Json{{"main", "1.0.0"}}));

  Device again = make_device("MX-1");
  again.token_hash = sha256_hex("new token");
  again.enrolled_at = kT0 + kHour;
  ASSERT_TRUE(store().put_device(again).ok());
  EXPECT_EQ(store().get_device("MX-1")->token_hash, sha256_hex("new token"));
  auto by_token = store().find_device_by_token_hash(sha256_hex("new token"));
  ASSERT_TRUE(by_token.ok());
  EXPECT_EQ(by_token->serial, "MX-1");
  auto old = store().find_device_by_token_hash(sha256_hex("token-MX-1"));
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.error().kind, ErrorKind::kNotFound);
  auto list = must(store().list_devices());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].serial, "MX-1");
  EXPECT_EQ(list[1].serial, "MX-2");
}

TEST_P(StoreSuite, SightingsUpdateKnownDevicesOnly) {
  ASSERT_TRUE(store().put_device(make_device("MX-1")).ok());
  ASSERT_TRUE(store().put_device(make_device("MX-2")).ok());
  std::vector<DeviceSighting> batch = {
      {"MX-1", kT0 + 60'000, "printing", "boot-2", {{"main", "1.1.0"}}},
      {"MX-2", kT0 + 30'000, "error", "boot-1", {{"main", "1.0.0"}}},
      {"MX-404", kT0 + 60'000, "idle", "boot-9", Json::object()},
  };
  ASSERT_TRUE(store().record_sightings(batch).ok());
  auto d1 = store().get_device("MX-1");
  EXPECT_EQ(d1->last_seen, kT0 + 60'000);
  EXPECT_EQ(d1->state, "printing");
  EXPECT_EQ(d1->boot_id, "boot-2");
  EXPECT_EQ(d1->firmware, (Json{{"main", "1.1.0"}}));
  EXPECT_EQ(d1->token_hash, sha256_hex("token-MX-1"));  // untouched
  EXPECT_EQ(store().get_device("MX-2")->state, "error");
  EXPECT_EQ(store().get_device("MX-404").error().kind, ErrorKind::kNotFound);

  // A sighting flushed late never moves last-seen back.
  ASSERT_TRUE(store().record_sightings({{"MX-1", kT0 + 1, "idle", "boot-1", Json::object()}}).ok());
  EXPECT_EQ(store().get_device("MX-1")->last_seen, kT0 + 60'000);
  EXPECT_EQ(store().get_device("MX-1")->state, "printing");
}

TEST_P(StoreSuite, PollPolicyRoundTripsAndReplaces) {
  PollPolicy p;
  p.interval_s = 300;
  p.times_of_day = {"08:00", "17:30"};
  p.on_power_on = false;
  p.conditions = {{"counter_at_least", "total", 50000, ""}, {"error_code", "", 0, "SC542"}};
  ASSERT_TRUE(store().set_poll_policy("MX-1", p).ok());
  auto got = must(store().get_poll_policy("MX-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(to_json(*got), to_json(p));
  EXPECT_FALSE(must(store().get_poll_policy("MX-2")).has_value());

  PollPolicy q;
  q.interval_s = 60;
  ASSERT_TRUE(store().set_poll_policy("MX-1", q).ok());
  EXPECT_EQ(must(store().get_poll_policy("MX-1"))->interval_s, 60);
  EXPECT_TRUE(must(store().get_poll_policy("MX-1"))->times_of_day.empty());
}

// --- admin credentials ---

TEST_P(StoreSuite, AdminCredentialsAreUniqueByName) {
  AdminCredential c{"alice", Role::kAdmin, sha256_hex("tok-a"), kT0};
  ASSERT_TRUE(store().put_admin_credential(c).ok());
  ASSERT_TRUE(store().put_admin_credential({"bob", Role::kViewer, sha256_hex("tok-b"), kT0}).ok());
  auto dup = store().put_admin_credential({"alice", Role::kViewer, sha256_hex("other"), kT0});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind, ErrorKind::kConflict);

  auto found = store().find_admin_by_token_hash(sha256_hex("tok-a"));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->name, "alice");
  EXPECT_EQ(found->role, Role::kAdmin);  // the failed put changed nothing
  EXPECT_EQ(found->created_at, kT0);
  EXPECT_EQ(store().find_admin_by_token_hash(sha256_hex("other")).error().kind,
            ErrorKind::kNotFound);
  auto list = must(store().list_admin_credentials());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "alice");
  EXPECT_EQ(list[1].role, Role::kViewer);
}

TEST_P(StoreSuite, RelayCredentialKeepsItsCustomers) {
  AdminCredential c{"gw-acme", Role::kRelay, sha256_hex("tok-r"), kT0, {"ACME", "Beta GmbH"}};
  ASSERT_TRUE(store().put_admin_credential(c).ok());
  ASSERT_TRUE(store().put_admin_credential({"alice", Role::kAdmin, sha256_hex("tok-a"), kT0}).ok());
  auto found = store().find_admin_by_token_hash(sha256_hex("tok-r"));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->customers, (std::vector<std::string>{"ACME", "Beta GmbH"}));
  auto list = must(store().list_admin_credentials());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_TRUE(list[0].customers.empty());  // alice: not a relay
  EXPECT_EQ(list[1].customers.size(), 2u);
}

TEST_P(StoreSuite, DeletedAdminCredentialNoLongerAuthenticates) {
  ASSERT_TRUE(store().put_admin_credential({"alice", Role::kAdmin, sha256_hex("tok-a"), kT0}).ok());
  ASSERT_TRUE(store().put_admin_credential({"bob", Role::kViewer, sha256_hex("tok-b"), kT0}).ok());
  ASSERT_TRUE(store().delete_admin_credential("alice").ok());
  EXPECT_EQ(store().find_admin_by_token_hash(sha256_hex("tok-a")).error().kind,
            ErrorKind::kNotFound);
  EXPECT_TRUE(store().find_admin_by_token_hash(sha256_hex("tok-b")).ok());
  EXPECT_EQ(store().delete_admin_credential("alice").error().kind, ErrorKind::kNotFound);
  ASSERT_EQ(must(store().list_admin_credentials()).size(), 1u);
}

// --- upstream outbox ---

TEST_P(StoreSuite, UpstreamOutboxKeepsOrderUntilAcknowledged) {
  EXPECT_EQ(must(store().count_upstream()), 0);
  EXPECT_TRUE(must(store().peek_upstream(10)).empty());
  ASSERT_TRUE(store()
                  .enqueue_upstream({{0, "device", "MX-1", {{"serial", "MX-1"}}, kT0},
                                     {0, "reports", "MX-1", {{"reports", Json::array()}}, kT0}})
                  .ok());
  ASSERT_TRUE(
      store().enqueue_upstream({{0, "event", "MX-2", {{"event_id", "e-1"}}, kT0 + 1}}).ok());
  auto all = must(store().peek_upstream(10));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].kind, "device");
  EXPECT_EQ(all[1].kind, "reports");
  EXPECT_EQ(all[2].kind, "event");
  EXPECT_EQ(all[2].serial, "MX-2");
  EXPECT_EQ(all[2].body["event_id"], "e-1");
  EXPECT_EQ(all[2].queued_at, kT0 + 1);
  EXPECT_LT(all[0].seq, all[1].seq);
  EXPECT_LT(all[1].seq, all[2].seq);
  EXPECT_EQ(must(store().peek_upstream(2)).size(), 2u);

  ASSERT_TRUE(store().ack_upstream(all[1].seq).ok());
  auto rest = must(store().peek_upstream(10));
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].seq, all[2].seq);
  EXPECT_EQ(must(store().count_upstream()), 1);

  // Numbers keep rising after an acknowledgement and across a reopen.
  reopen();
  ASSERT_EQ(must(store().count_upstream()), 1);
  ASSERT_TRUE(store().enqueue_upstream({{0, "event", "MX-3", Json::object(), kT0 + 2}}).ok());
  auto after = must(store().peek_upstream(10));
  ASSERT_EQ(after.size(), 2u);
  EXPECT_GT(after[1].seq, all[2].seq);
}

// --- firmware update history ---

FirmwareHistoryEntry history_entry(const std::string& serial, TimeMs at, const std::string& event,
                                   const std::string& version) {
  FirmwareHistoryEntry e;
  e.serial = serial;
  e.at = at;
  e.event = event;
  e.component = "main";
  e.version = version;
  if (event != "checked") e.artifact = sha256_hex("artifact-" + version);
  return e;
}

std::vector<std::int64_t> history_ids(const std::vector<FirmwareHistoryEntry>& entries) {
  std::vector<std::int64_t> out;
  for (const auto& e : entries) out.push_back(e.id);
  return out;
}

TEST_P(StoreSuite, FirmwareHistoryRoundTripsEveryField) {
  FirmwareHistoryEntry e = history_entry("MX-1", kT0, "failed", "2.1.0");
  e.component = "scanner";
  e.job_id = "j-7";
  e.detail = {{"reason", "signature mismatch"},
              {"slots", {{"a", "2.0.0"}, {"b", nullptr}}},
              {"tries", Json::array({1, 2, 3})},
              {"note", "Ünïcödé ✓"}};
  auto id = store().append_firmware_history(e);
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_GT(*id, 0);

  auto list = must(store().list_firmware_history("MX-1", 10));
  ASSERT_EQ(list.size(), 1u);
  const auto& got = list[0];
  EXPECT_EQ(got.id, *id);
  EXPECT_EQ(got.serial, "MX-1");
  EXPECT_EQ(got.at, kT0);
  EXPECT_EQ(got.event, "failed");
  EXPECT_EQ(got.component, "scanner");
  EXPECT_EQ(got.version, "2.1.0");
  EXPECT_EQ(got.artifact, e.artifact);
  EXPECT_EQ(got.job_id, "j-7");
  EXPECT_EQ(got.detail, e.detail);

  // The defaults of a "checked" line: no artifact, no job, an empty detail object.
  auto checked = store().append_firmware_history(history_entry("MX-1", kT0 + 1, "checked", "2.2"));
  ASSERT_TRUE(checked.ok());
  auto newest = must(store().list_firmware_history("MX-1", 1));
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0].id, *checked);
  EXPECT_EQ(newest[0].artifact, "");
  EXPECT_EQ(newest[0].job_id, "");
  EXPECT_EQ(newest[0].detail, Json::object());
}

TEST_P(StoreSuite, FirmwareHistoryListsNewestFirstPerDeviceOrAll) {
  EXPECT_TRUE(must(store().list_firmware_history("", 10)).empty());
  std::vector<std::int64_t> appended;
  // Interleaved devices; `at` deliberately out of order: the order is the store's, by id.
  const std::vector<std::pair<std::string, std::string>> lines = {{"MX-1", "checked"},
                                                                  {"MX-2", "checked"},
                                                                  {"MX-1", "sent"},
                                                                  {"MX-1", "installed"},
                                                                  {"MX-2", "sent"}};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto id = store().append_firmware_history(history_entry(
        lines[i].first, kT0 - static_cast<TimeMs>(i), lines[i].second, "3.0." + std::to_string(i)));
    ASSERT_TRUE(id.ok()) << id.error().message;
    appended.push_back(*id);
  }
  EXPECT_TRUE(std::is_sorted(appended.begin(), appended.end()));
  EXPECT_EQ(std::set<std::int64_t>(appended.begin(), appended.end()).size(), appended.size());

  auto all = must(store().list_firmware_history("", 100));
  EXPECT_EQ(history_ids(all), (std::vector<std::int64_t>{appended[4], appended[3], appended[2],
                                                         appended[1], appended[0]}));

  auto mx1 = must(store().list_firmware_history("MX-1", 100));
  EXPECT_EQ(history_ids(mx1), (std::vector<std::int64_t>{appended[3], appended[2], appended[0]}));
  for (const auto& e : mx1) EXPECT_EQ(e.serial, "MX-1");
  EXPECT_EQ(mx1[0].event, "installed");

  EXPECT_EQ(history_ids(must(store().list_firmware_history("MX-1", 2))),
            (std::vector<std::int64_t>{appended[3], appended[2]}));
  EXPECT_EQ(history_ids(must(store().list_firmware_history("", 1))),
            (std::vector<std::int64_t>{appended[4]}));
  EXPECT_TRUE(must(store().list_firmware_history("MX-1", 0)).empty());
  EXPECT_TRUE(must(store().list_firmware_history("MX-9", 100)).empty());
}

TEST_P(StoreSuite, FirmwareHistoryIdsKeepRisingAcrossReopen) {
  auto first = store().append_firmware_history(history_entry("MX-1", kT0, "sent", "1.0"));
  ASSERT_TRUE(first.ok());
  reopen();
  auto second = store().append_firmware_history(history_entry("MX-1", kT0, "installed", "1.0"));
  ASSERT_TRUE(second.ok());
  EXPECT_GT(*second, *first);
  EXPECT_EQ(must(store().list_firmware_history("MX-1", 10)).size(), 2u);
}

// --- firmware campaigns ---

CampaignRecord make_campaign(const std::string& id, TimeMs created_at) {
  CampaignRecord c;
  c.id = id;
  c.name = "Spring rollout " + id;
  c.state = "running";
  c.created_at = created_at;
  c.updated_at = created_at;
  c.revision = 42;  // ignored by create_campaign
  c.doc = {{"target", {{"component", "main"}, {"version", "4.2.0"}}},
           {"waves", Json::array({{{"size", 5}, {"jobs", {{"MX-1", "j-1"}, {"MX-2", "j-2"}}}},
                                  {{"size", 50}, {"jobs", Json::object()}}})},
           {"paused_reason", nullptr},
           {"note", "Ünïcödé ✓"}};
  return c;
}

TEST_P(StoreSuite, CampaignCreateStoresRevisionOneAndRoundTrips) {
  const CampaignRecord c = make_campaign("c-1", kT0);
  ASSERT_TRUE(store().create_campaign(c).ok());
  auto got = store().get_campaign("c-1");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->id, "c-1");
  EXPECT_EQ(got->name, c.name);
  EXPECT_EQ(got->state, "running");
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->updated_at, kT0);
  EXPECT_EQ(got->revision, 1);
  EXPECT_EQ(got->doc, c.doc);

  EXPECT_EQ(store().get_campaign("c-9").error().kind, ErrorKind::kNotFound);
}

TEST_P(StoreSuite, CreateCampaignWithExistingIdConflictsAndKeepsTheFirst) {
  ASSERT_TRUE(store().create_campaign(make_campaign("c-1", kT0)).ok());
  CampaignRecord other = make_campaign("c-1", kT0 + 1);
  other.name = "other";
  other.doc = {{"other", true}};
  auto st = store().create_campaign(other);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::kConflict);
  auto got = store().get_campaign("c-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "Spring rollout c-1");
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->revision, 1);
  EXPECT_EQ(must(store().list_campaigns()).size(), 1u);
}

TEST_P(StoreSuite, ListCampaignsIsNewestFirst) {
  EXPECT_TRUE(must(store().list_campaigns()).empty());
  ASSERT_TRUE(store().create_campaign(make_campaign("c-b", kT0 + 2 * kHour)).ok());
  ASSERT_TRUE(store().create_campaign(make_campaign("c-a", kT0)).ok());
  ASSERT_TRUE(store().create_campaign(make_campaign("c-c", kT0 + kHour)).ok());
  auto list = must(store().list_campaigns());
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].id, "c-b");
  EXPECT_EQ(list[1].id, "c-c");
  EXPECT_EQ(list[2].id, "c-a");
  EXPECT_EQ(list[1].doc, make_campaign("c-c", 0).doc);
  EXPECT_EQ(list[1].revision, 1);
}

TEST_P(StoreSuite, UpdateCampaignIsCompareAndSetOnRevision) {
  ASSERT_TRUE(store().create_campaign(make_campaign("c-1", kT0)).ok());
  CampaignRecord c = *store().get_campaign("c-1");

  c.name = "renamed";
  c.state = "paused";
  c.updated_at = kT0 + kHour;
  c.doc["paused_reason"] = "failure rate 12% over 10%";
  auto rev = store().update_campaign(c);
  ASSERT_TRUE(rev.ok()) << rev.error().message;
  EXPECT_EQ(*rev, 2);
  auto got = store().get_campaign("c-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "renamed");
  EXPECT_EQ(got->state, "paused");
  EXPECT_EQ(got->created_at, kT0);  // not the caller's to change
  EXPECT_EQ(got->updated_at, kT0 + kHour);
  EXPECT_EQ(got->revision, 2);
  EXPECT_EQ(got->doc, c.doc);

  // A second writer still holding revision 1 loses, and writes nothing.
  CampaignRecord stale = c;
  stale.revision = 1;
  stale.state = "cancelled";
  stale.updated_at = kT0 + 2 * kHour;
  stale.doc = {{"lost", true}};
  auto lost = store().update_campaign(stale);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().kind, ErrorKind::kConflict);
  auto after = store().get_campaign("c-1");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, "paused");
  EXPECT_EQ(after->updated_at, kT0 + kHour);
  EXPECT_EQ(after->revision, 2);
  EXPECT_EQ(after->doc, c.doc);

  // A revision from the future is no better than a stale one.
  stale.revision = 3;
  EXPECT_EQ(store().update_campaign(stale).error().kind, ErrorKind::kConflict);
  EXPECT_EQ(store().get_campaign("c-1")->revision, 2);

  // The writer that re-read goes through.
  c = *store().get_campaign("c-1");
  c.state = "running";
  auto next = store().update_campaign(c);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 3);
  EXPECT_EQ(store().get_campaign("c-1")->state, "running");
}

TEST_P(StoreSuite, UpdateUnknownCampaignIsNotFoundAndCreatesNothing) {
  CampaignRecord c = make_campaign("c-9", kT0);
  c.revision = 1;
  auto res = store().update_campaign(c);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(store().get_campaign("c-9").error().kind, ErrorKind::kNotFound);
  EXPECT_TRUE(must(store().list_campaigns()).empty());
}

// Writers that re-read and retry on conflict lose no update: every increment lands exactly once
// and the revision counts them.
TEST_P(StoreSuite, ConcurrentCampaignUpdatesLoseNothing) {
  CampaignRecord c = make_campaign("c-1", kT0);
  c.doc = {{"count", 0}};
  ASSERT_TRUE(store().create_campaign(c).ok());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        for (;;) {
          auto cur = store().get_campaign("c-1");
          if (!cur.ok()) {
            ADD_FAILURE() << cur.error().message;
            return;
          }
          cur->doc["count"] = cur->doc["count"].get<int>() + 1;
          auto res = store().update_campaign(*cur);
          if (res.ok()) break;
          if (res.error().kind != ErrorKind::kConflict) {
            ADD_FAILURE() << res.error().message;
            return;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  auto got = store().get_campaign("c-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->doc["count"], kThreads * kPerThread);
  EXPECT_EQ(got->revision, 1 + kThreads * kPerThread);
}

// --- durability ---

TEST_P(StoreSuite, LatestOfKindIsEachDevicesNewestReportOfThatKind) {
  ASSERT_TRUE(store().put_device(make_device("MX-1")).ok());
  ASSERT_TRUE(store().put_device(make_device("MX-2")).ok());
  ASSERT_TRUE(store().put_device(make_device("MX-3")).ok());
  ASSERT_TRUE(store()
                  .append_reports("MX-1",
                                  {incoming("r-1", "supplies", kT0, {{"n", 1}}),
                                   incoming("r-2", "supplies", kT0 + 20, {{"n", 2}}),
                                   incoming("r-3", "counters", kT0 + 30, {{"n", 3}})},
                                  kT0)
                  .ok());
  // Sent late but made earlier: the newest by the device's time wins.
  ASSERT_TRUE(
      store()
          .append_reports("MX-1", {incoming("r-4", "supplies", kT0 + 10, {{"n", 4}})}, kT0 + 50)
          .ok());
  ASSERT_TRUE(
      store().append_reports("MX-2", {incoming("r-5", "supplies", kT0, {{"n", 5}})}, kT0).ok());
  auto latest = must(store().latest_of_kind("supplies"));
  ASSERT_EQ(latest.size(), 2u);  // MX-3 has none
  EXPECT_EQ(latest["MX-1"].report.id, "r-2");
  EXPECT_EQ(latest["MX-2"].report.id, "r-5");
  EXPECT_EQ(latest["MX-2"].serial, "MX-2");
  EXPECT_TRUE(must(store().latest_of_kind("structure")).empty());
}

SettingsDoc settings_doc(const std::string& name, Json body, TimeMs at) {
  SettingsDoc d;
  d.name = name;
  d.updated_at = at;
  d.updated_by = "alice";
  d.body = std::move(body);
  return d;
}

TEST_P(StoreSuite, SettingsAreCompareAndSetOnRevision) {
  EXPECT_EQ(store().get_settings("error_codes").error().kind, ErrorKind::kNotFound);
  const Json v1 = Json::array({{{"code", "SC542"}, {"text", "Fuser"}}});
  auto r1 = store().put_settings(settings_doc("error_codes", v1, kT0), 0);
  ASSERT_TRUE(r1.ok()) << r1.error().message;
  EXPECT_EQ(*r1, 1);
  // A second "create" and a stale revision both conflict and change nothing.
  auto again = store().put_settings(settings_doc("error_codes", Json::array(), kT0 + 1), 0);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::kConflict);
  const Json v2 = Json::array({{{"code", "SC543"}, {"text", "Fuser 2"}}});
  auto r2 = store().put_settings(settings_doc("error_codes", v2, kT0 + 2), 1);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(*r2, 2);
  auto stale = store().put_settings(settings_doc("error_codes", v1, kT0 + 3), 1);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().kind, ErrorKind::kConflict);
  auto got = store().get_settings("error_codes");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->revision, 2);
  EXPECT_EQ(got->body, v2);
  EXPECT_EQ(got->updated_at, kT0 + 2);
  EXPECT_EQ(got->updated_by, "alice");
  ASSERT_TRUE(store().put_settings(settings_doc("compatibility", Json::array(), kT0), 0).ok());
  auto all = must(store().list_settings());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "compatibility");
  EXPECT_EQ(all[1].name, "error_codes");
}

Alert rule_alert(const std::string& serial, const std::string& type, const std::string& code,
                 TimeMs at) {
  Alert a;
  a.serial = serial;
  a.type = type;
  a.code = code;
  a.urgency = Urgency::kNormal;
  a.message = type + " " + code;
  a.raised_at = at;
  return a;
}

TEST_P(StoreSuite, RaiseAlertOpensOncePerSerialTypeAndCode) {
  auto first = store().raise_alert(rule_alert("MX-1", "incompatible", "adf", kT0));
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_TRUE(first->has_value());
  auto repeat = store().raise_alert(rule_alert("MX-1", "incompatible", "adf", kT0 + 1));
  ASSERT_TRUE(repeat.ok());
  EXPECT_FALSE(repeat->has_value());
  // Another code, another device: new alerts.
  EXPECT_TRUE(store().raise_alert(rule_alert("MX-1", "incompatible", "main", kT0))->has_value());
  EXPECT_TRUE(store().raise_alert(rule_alert("MX-2", "incompatible", "adf", kT0))->has_value());
  auto open = must(store().list_alerts("MX-1", true));
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[1].id, **first);
  EXPECT_EQ(open[1].raised_at, kT0);
  EXPECT_EQ(open[1].report_id, "");

  // Resolving closes the matching open alerts only, and returns them closed.
  auto closed = store().resolve_alerts("MX-1", "incompatible", "adf", "monitoring", kT0 + 5);
  ASSERT_TRUE(closed.ok()) << closed.error().message;
  ASSERT_EQ(closed->size(), 1u);
  EXPECT_FALSE((*closed)[0].open);
  EXPECT_EQ((*closed)[0].acknowledged_by, "monitoring");
  EXPECT_EQ(must(store().list_alerts("MX-1", true)).size(), 1u);
  EXPECT_EQ(must(store().list_alerts("MX-2", true)).size(), 1u);
  // Once closed, the same finding opens a new alert.
  EXPECT_TRUE(store().raise_alert(rule_alert("MX-1", "incompatible", "adf", kT0 + 9))->has_value());
  // An empty code closes every open alert of the type.
  auto all = store().resolve_alerts("MX-1", "incompatible", "", "monitoring", kT0 + 10);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  EXPECT_TRUE(must(store().list_alerts("MX-1", true)).empty());
}

NotificationRecord pending_notification(const std::string& serial, const std::string& target,
                                        TimeMs due) {
  NotificationRecord n;
  n.created_at = due;
  n.event_type = "incompatible";
  n.serial = serial;
  n.channel = "email";
  n.target = target;
  n.rule = "service";
  n.subject = "MX-1: adf 0.9.4 incompatible";
  n.text = "Body \u00e9";
  n.payload = {{"type", "incompatible"}};
  n.next_attempt_at = due;
  return n;
}

TEST_P(StoreSuite, NotificationsAreClaimedOnceAndRecorded) {
  auto ids = store().enqueue_notifications({pending_notification("MX-1", "a@x.test", kT0),
                                            pending_notification("MX-1", "b@x.test", kT0 + 100),
                                            pending_notification("MX-2", "c@x.test", kT0)});
  ASSERT_TRUE(ids.ok()) << ids.error().message;
  ASSERT_EQ(ids->size(), 3u);
  EXPECT_LT((*ids)[0], (*ids)[1]);
  // Due at kT0: two; the lease hides them from a second claim until it runs out.
  auto claimed = must(store().claim_notifications(kT0, kT0 + 1000, 10));
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].target, "a@x.test");
  EXPECT_EQ(claimed[1].target, "c@x.test");
  EXPECT_EQ(claimed[0].next_attempt_at, kT0 + 1000);
  EXPECT_EQ(claimed[0].payload, (Json{{"type", "incompatible"}}));
  auto second = must(store().claim_notifications(kT0 + 200, kT0 + 1200, 10));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].target, "b@x.test");

  auto sent = claimed[0];
  sent.state = "sent";
  sent.attempts = 1;
  sent.sent_at = kT0 + 5;
  ASSERT_TRUE(store().update_notification(sent).ok());
  auto retry = claimed[1];
  retry.attempts = 1;
  retry.last_error = "smtp 451";
  retry.next_attempt_at = kT0 + 50;
  ASSERT_TRUE(store().update_notification(retry).ok());
  auto again = must(store().claim_notifications(kT0 + 60, kT0 + 2000, 10));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, retry.id);
  EXPECT_EQ(again[0].last_error, "smtp 451");
  EXPECT_EQ(again[0].attempts, 1);

  auto mx1 = must(store().list_notifications("MX-1", 10));
  ASSERT_EQ(mx1.size(), 2u);
  EXPECT_EQ(mx1[0].target, "b@x.test");  // newest first
  EXPECT_EQ(mx1[1].state, "sent");
  EXPECT_EQ(mx1[1].sent_at, kT0 + 5);
  EXPECT_EQ(mx1[1].text, "Body \u00e9");
  EXPECT_EQ(must(store().list_notifications("", 10)).size(), 3u);
  EXPECT_EQ(must(store().list_notifications("", 1)).size(), 1u);
  NotificationRecord missing = sent;
  missing.id = 999999;
  EXPECT_EQ(store().update_notification(missing).error().kind, ErrorKind::kNotFound);
}

TEST_P(StoreSuite, DataSurvivesCloseAndReopen) {
  const int version = store().schema_version();
  auto receipt = store().append_reports(
      "MX-1", {with_alert(incoming("r-1", "alert", kT0, {{"code", "SC542"}}), "SC542")}, kT0);
  ASSERT_TRUE(receipt.ok());
  Job j = make_job("j-1", "MX-1", kT0);
  ASSERT_TRUE(store().create_job(j, created_transition(j)).ok());
  ASSERT_TRUE(store().put_device(make_device("MX-1")).ok());
  PollPolicy p;
  p.interval_s = 120;
  ASSERT_TRUE(store().set_poll_policy("MX-1", p).ok());
  ASSERT_TRUE(store().put_admin_credential({"alice", Role::kAdmin, "h", kT0}).ok());
  ASSERT_TRUE(store().append_firmware_history(history_entry("MX-1", kT0, "sent", "2.0")).ok());
  ASSERT_TRUE(store().create_campaign(make_campaign("c-1", kT0)).ok());

  reopen();

  EXPECT_EQ(store().schema_version(), version);
  auto reports = must(store().list_reports({}));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].seq, receipt->front().seq);
  EXPECT_EQ(reports[0].sha256, receipt->front().sha256);
  // Idempotency holds across a restart, and numbering continues upward.
  auto dup = store().append_reports("MX-1", {incoming("r-1", "alert", kT0)}, kT0 + 9);
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(dup->front().duplicate);
  EXPECT_EQ(dup->front().seq, receipt->front().seq);
  auto next = store().append_reports("MX-1", {incoming("r-2", "counters", kT0)}, kT0 + 9);
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->front().seq, receipt->front().seq);

  EXPECT_EQ(store().get_job("j-1")->instructing_user, "alice");
  EXPECT_EQ(must(store().list_transitions("j-1")).size(), 1u);
  EXPECT_EQ(store().get_device("MX-1")->model, "MX-4071");
  EXPECT_EQ(must(store().get_poll_policy("MX-1"))->interval_s, 120);
  EXPECT_EQ(must(store().list_alerts("MX-1", true)).size(), 1u);
  EXPECT_TRUE(store().find_admin_by_token_hash("h").ok());
  EXPECT_EQ(must(store().list_firmware_history("MX-1", 10)).size(), 1u);
  EXPECT_EQ(store().get_campaign("c-1")->doc, make_campaign("c-1", kT0).doc);
}

}  // namespace
}  // namespace printrelay::testing
