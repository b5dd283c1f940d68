#include "agent/outbox.h"

#include <gtest/gtest.h>

#include <fstream>

#include "agent/durable_file.h"
#include "agent/job_runner.h"
#include "core/codec.h"
#include "core/sha256.h"
#include "temp_dir.h"

namespace printrelay::agent {
namespace {

using printrelay::testing::TempDir;

Receipt receipt_for(const Report& r, bool corrupt = false) {
  Receipt rc;
  rc.report_id = r.id;
  rc.reception_no = "17";
  rc.sha256 = sha256_hex(canonical_report(r));
  if (corrupt) rc.sha256[0] = rc.sha256[0] == 'a' ? 'b' : 'a';
  return rc;
}

std::vector<std::string> ids(const OutboxBatch& b) {
  std::vector<std::string> out;
  for (const auto& e : b.reports) out.push_back(e.report->id);
  return out;
}

std::size_t files_in(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir))
    n += f.path().extension() == ".json";
  return n;
}

TEST(Outbox, ReportsAreOnDiskBeforeAddReturnsAndSurviveReopen) {
  TempDir dir;
  Report a = make_report("counters", Urgency::kNormal, {{"total", 1}});
  Report b = make_report("supplies", Urgency::kNormal, {{"supplies", Json::array()}});
  {
    auto box = Outbox::open(dir.path());
    ASSERT_TRUE(box.ok());
    ASSERT_TRUE((*box)->add_report(a).ok());
    ASSERT_TRUE((*box)->add_report(b).ok());
    EXPECT_EQ(files_in(dir.path() / "outbox"), 2u);
  }
  // A leftover temp file (a crash before rename) is not an entry.
  std::ofstream(dir.path() / "outbox" / "0000000000000099.json.tmp") << "{\"seq\": 9";
  auto box = Outbox::open(dir.path());
  ASSERT_TRUE(box.ok());
  EXPECT_EQ((*box)->size(), 2u);
  auto batch = (*box)->next_batch(64);
  EXPECT_EQ(ids(batch), (std::vector<std::string>{a.id, b.id}));
  // The reloaded report hashes to the same canonical bytes as the one sent.
  EXPECT_EQ(canonical_report(*batch.reports[0].report), canonical_report(a));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "outbox" / "0000000000000099.json.tmp"));
  // New entries continue after the reloaded ones.
  Report c = make_report("counters", Urgency::kNormal, {{"total", 2}});
  ASSERT_TRUE((*box)->add_report(c).ok());
  EXPECT_EQ(ids((*box)->next_batch(64)).back(), c.id);
}

TEST(Outbox, RemovesOnlyOnMatchingShaAndLogsTheReceipt) {
  TempDir dir;
  auto box = std::move(*Outbox::open(dir.path()));
  Report a = make_report("counters", Urgency::kNormal, {{"total", 12345}, {"paper", {{"A4", 3}}}});
  ASSERT_TRUE(box->add_report(a).ok());

  auto wrong = box->confirm({receipt_for(a, /*corrupt=*/true)});
  EXPECT_FALSE(wrong[0].has_value());
  EXPECT_EQ(box->size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "receipts.log"));

  auto unknown = receipt_for(a);
  unknown.report_id = "r-other";
  EXPECT_FALSE(box->confirm({unknown})[0].has_value());
  EXPECT_EQ(box->size(), 1u);

  auto right = box->confirm({receipt_for(a)});
  ASSERT_TRUE(right[0].has_value());
  EXPECT_EQ(right[0]->id, a.id);
  EXPECT_EQ(box->size(), 0u);
  EXPECT_EQ(files_in(dir.path() / "outbox"), 0u);
  auto log = read_file(dir.path() / "receipts.log");
  ASSERT_TRUE(log.ok());
  auto line = Json::parse(log->substr(0, log->find('\n')));
  EXPECT_EQ(line["report_id"], a.id);
  EXPECT_EQ(line["reception_no"], "17");
  EXPECT_EQ(line["sha256"], sha256_hex(canonical_report(a)));
  EXPECT_EQ(line["duplicate"], false);

  // Gone for good: a reopened outbox does not resend it.
  auto again = Outbox::open(dir.path());
  EXPECT_EQ((*again)->size(), 0u);
}

TEST(Outbox, AlertsGoFirstThenFifo) {
  TempDir dir;
  auto box = std::move(*Outbox::open(dir.path()));
  Report n1 = make_report("counters", Urgency::kNormal, {{"total", 1}});
  Report n2 = make_report("supplies", Urgency::kLow, {{"x", 1}});
  Report fatal =
      make_report("alert", Urgency::kFatal, {{"type", "service_call"}, {"code", "SC542"}});
  Report high = make_report("alert", Urgency::kHigh, {{"type", "supply_empty"}, {"code", "t"}});
  for (const auto& r : {n1, n2, fatal, high}) ASSERT_TRUE(box->add_report(r).ok());

  auto first = box->next_batch(64);
  EXPECT_TRUE(first.alerts_only);
  EXPECT_EQ(ids(first), (std::vector<std::string>{fatal.id, high.id}));
  box->confirm({receipt_for(fatal), receipt_for(high)});
  auto second = box->next_batch(64);
  EXPECT_FALSE(second.alerts_only);
  EXPECT_EQ(ids(second), (std::vector<std::string>{n1.id, n2.id}));
}

TEST(Outbox, JobEventWaitsForTheReportsBeforeIt) {
  TempDir dir;
  auto box = std::move(*Outbox::open(dir.path()));
  Report a = make_report("counters", Urgency::kNormal, {{"total", 1}});
  Report b = make_report("counters", Urgency::kNormal, {{"total", 2}});
  JobEvent done;
  done.event_id = "j-1.succeeded";
  done.job_id = "j-1";
  done.type = JobEventType::kSucceeded;
  done.detail = {{"report_ids", {a.id}}};
  ASSERT_TRUE(box->add_report(a).ok());
  ASSERT_TRUE(box->add_event(done).ok());
  ASSERT_TRUE(box->add_report(b).ok());

  auto first = box->next_batch(64);
  EXPECT_EQ(ids(first), std::vector<std::string>{a.id});
  EXPECT_FALSE(first.event.has_value());
  // Unconfirmed, the same report comes again, and the event still waits.
  EXPECT_EQ(ids(box->next_batch(64)), std::vector<std::string>{a.id});
  box->confirm({receipt_for(a)});
  auto second = box->next_batch(64);
  ASSERT_TRUE(second.event.has_value());
  EXPECT_TRUE(second.reports.empty());
  EXPECT_EQ(second.event->event->event_id, "j-1.succeeded");
  EXPECT_EQ(second.event->event->detail["report_ids"][0], a.id);
  box->remove(second.event->seq);
  EXPECT_EQ(ids(box->next_batch(64)), std::vector<std::string>{b.id});
}

TEST(Outbox, EventsSurviveReopenWithTheirJob) {
  TempDir dir;
  {
    auto box = std::move(*Outbox::open(dir.path()));
    JobEvent e;
    e.event_id = "j-9.failed";
    e.job_id = "j-9";
    e.type = JobEventType::kFailed;
    e.reason = "sleep_min must be an integer 1-240";
    ASSERT_TRUE(box->add_event(e).ok());
  }
  auto box = std::move(*Outbox::open(dir.path()));
  auto b = box->next_batch(64);
  ASSERT_TRUE(b.event.has_value());
  EXPECT_EQ(b.event->event->job_id, "j-9");
  EXPECT_EQ(b.event->event->reason, "sleep_min must be an integer 1-240");
}

TEST(Outbox, BatchesAreLimited) {
  TempDir dir;
  auto box = std::move(*Outbox::open(dir.path()));
  for (int i = 0; i < 70; ++i) {
    ASSERT_TRUE(box->add_report(make_report("counters", Urgency::kNormal, {{"total", i}})).ok());
  }
  EXPECT_EQ(box->next_batch(64).reports.size(), 64u);
}

TEST(Outbox, UnreadableEntryIsSetAsideNotBlocking) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "outbox");
  std::ofstream(dir.path() / "outbox" / "0000000000000001.json") << "not json";
  auto box = Outbox::open(dir.path());
  ASSERT_TRUE(box.ok());
  EXPECT_EQ((*box)->size(), 0u);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "outbox" / "0000000000000001.json.bad"));
  Report a = make_report("counters", Urgency::kNormal, {{"total", 1}});
  ASSERT_TRUE((*box)->add_report(a).ok());
  EXPECT_EQ(ids((*box)->next_batch(64)), std::vector<std::string>{a.id});
}

}  // namespace
}  // namespace printrelay::agent
