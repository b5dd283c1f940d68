// The relay tree without HTTP: a parent Relay with its ChildRelays and a child Relay that
// forwards upstream, each on its own SQLite store. What the child's UpstreamLink would send is
// built here from the child's outbox, so every rule of the sync is checked on real stores.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "core/codec.h"
#include "core/sha256.h"
#include "must.h"
#include "relay/child_relays.h"
#include "relay/relay.h"
#include "store/sqlite/sqlite_store.h"

namespace printrelay {
namespace {

struct QuietEvents : RelayEvents {
  std::vector<std::string> woken;
  std::vector<std::string> kinds;
  void publish(const std::string& kind, const Json&) override { kinds.push_back(kind); }
  void wake_device(const std::string& serial) override { woken.push_back(serial); }
};

class RelayTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto base = std::filesystem::temp_directory_path() /
                      ("relay_tree_" + std::to_string(::getpid()) + "_" + std::to_string(n_++));
    parent_path_ = base.string() + "-parent.db";
    child_path_ = base.string() + "-child.db";
    parent_store_ = open_sqlite_store(parent_path_);
    child_store_ = open_sqlite_store(child_path_);
    RelayOptions po;
    po.relay_id = "root-1";
    parent_ = std::make_unique<Relay>(*parent_store_, po, parent_events_);
    RelayOptions co;
    co.relay_id = "child-1";
    co.forward_upstream = true;
    co.on_upstream_queued = [this](bool urgent) { urgent_seen_ = urgent_seen_ || urgent; };
    child_ = std::make_unique<Relay>(*child_store_, co, child_events_);
    children_ = std::make_unique<ChildRelays>(*parent_);
    ASSERT_TRUE(parent_
                    ->put_registration(Json{{"serial", "S1"},
                                            {"model", "MX"},
                                            {"enrollment_code", "code-1"},
                                            {"place", "HQ"},
                                            {"customer", "ACME"}},
                                       now_)
                    .ok());
    ASSERT_TRUE(parent_
                    ->put_registration(Json{{"serial", "OTHER-1"},
                                            {"model", "MX"},
                                            {"enrollment_code", "code-other"},
                                            {"customer", "Beta"}},
                                       now_)
                    .ok());
    ASSERT_TRUE(parent_->create_relay_credential("child-1", {"ACME"}, now_).ok());
  }
  void TearDown() override {
    children_.reset();
    parent_.reset();
    child_.reset();
    parent_store_.reset();
    child_store_.reset();
    for (const auto& p : {parent_path_, child_path_})
      for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p + suffix);
  }

  // Copies the parent's directory into the child as the link does (registrations only here).
  void give_child_the_registration() {
    Registration r;
    r.serial = "S1";
    r.model = "MX";
    r.place = "HQ";
    r.customer = "ACME";
    r.enrollment_code_hash = sha256_hex("code-1");  // a row from before salted hashes
    ASSERT_TRUE(child_store_->put_registration(r).ok());
  }

  // One sync as the child's link would send it: its whole outbox, its served devices and held
  // jobs. Acknowledges what the parent acknowledged.
  Json sync(TimeMs now) {
    Json items = Json::array();
    for (const auto& it : must(child_store_->peek_upstream(500)))
      items.push_back(
          {{"seq", it.seq}, {"kind", it.kind}, {"serial", it.serial}, {"body", it.body}});
    Json held = Json::array();
    JobQuery q;
    q.all = true;
    for (const auto& j : must(child_store_->list_jobs(q)))
      if (!is_terminal(j.state)) held.push_back(j.id);
    auto req = parse_sync_request(Json{{"version", "test"},
                                       {"serials", child_->served_devices(0)},
                                       {"held_jobs", held},
                                       {"items", items}});
    EXPECT_TRUE(req.ok()) << (req.ok() ? "" : req.error().message);
    auto answer = must(children_->sync("child-1", *req, now)).body;
    if (answer["acked_seq"].get<std::int64_t>() > 0) {
      EXPECT_TRUE(child_store_->ack_upstream(answer["acked_seq"]).ok());
    }
    return answer;
  }

  static inline int n_ = 0;
  std::string parent_path_, child_path_;
  std::unique_ptr<Store> parent_store_, child_store_;
  QuietEvents parent_events_, child_events_;
  std::unique_ptr<Relay> parent_, child_;
  std::unique_ptr<ChildRelays> children_;
  bool urgent_seen_ = false;
  TimeMs now_ = 1795400000000;
};

TEST_F(RelayTreeTest, EnrolmentReportsAndJobRoundTripThroughTheChild) {
  give_child_the_registration();
  auto enrolled =
      child_->enroll(Json{{"serial", "S1"}, {"model", "MX"}, {"enrollment_code", "code-1"}}, now_);
  ASSERT_TRUE(enrolled.ok()) << enrolled.error().message;
  const std::string token = (*enrolled)["device_token"];
  Json reports = Json::array({Json{{"id", "r-1"},
                                   {"kind", "counters"},
                                   {"created_at", "2026-11-23T10:00:00Z"},
                                   {"body", {{"total", 10}}}},
                              Json{{"id", "r-2"},
                                   {"kind", "alert"},
                                   {"created_at", "2026-11-23T10:00:01Z"},
                                   {"urgency", "fatal"},
                                   {"body", {{"code", "SC542"}, {"type", "A"}}}}});
  ASSERT_TRUE(child_->accept_reports("S1", Json{{"reports", reports}}, now_ + 1).ok());
  EXPECT_TRUE(urgent_seen_) << "an alert must ask the link to send at once";
  ASSERT_EQ(must(child_store_->count_upstream()), 2);  // the enrolment, the report batch

  auto answer = sync(now_ + 2);
  EXPECT_TRUE(answer["rejected"].empty()) << answer.dump();
  EXPECT_EQ(must(child_store_->count_upstream()), 0);
  // The parent trusts the device's credential and holds both reports, hashes as the child's.
  auto who = parent_->authenticate_device(token);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(*who, "S1");
  ASSERT_EQ(must(parent_store_->count_reports("S1")), 2);
  ASSERT_EQ(answer["receipts"].size(), 1u);
  EXPECT_EQ(answer["receipts"][0]["sha256"][1],
            sha256_hex(canonical_report(*parse_report(reports[1]))));
  EXPECT_EQ(must(parent_store_->list_alerts("S1", true)).size(), 1u);

  // A job posted at the parent goes down to the child that serves S1, once.
  auto job = parent_->create_job(
      Json{{"serial", "S1"}, {"kind", "collect"}, {"params", {{"data_sets", {"counters"}}}}},
      "alice", now_ + 3);
  ASSERT_TRUE(job.ok());
  const std::string id = (*job)["id"];
  answer = sync(now_ + 4);
  ASSERT_EQ(answer["jobs"].size(), 1u) << answer.dump();
  auto handed = parse_job(answer["jobs"][0]);
  ASSERT_TRUE(handed.ok());
  EXPECT_EQ(handed->managing_relay, "root-1 > child-1");
  EXPECT_EQ(parent_store_->get_job(id)->managing_relay, "root-1 > child-1");
  ASSERT_TRUE(child_->adopt_job(*handed, "received from parent relay test", now_ + 5).ok());
  EXPECT_TRUE(sync(now_ + 6)["jobs"].empty()) << "a held job must not be sent again";

  // The device runs it at the child; the events go up and end the job at the parent.
  for (const auto& [i, type] : std::vector<std::pair<int, std::string>>{
           {1, "acquired"}, {2, "started"}, {3, "succeeded"}}) {
    Json ev{{"event_id", "e-" + std::to_string(i)}, {"type", type}};
    if (type == "succeeded") ev["detail"] = {{"report_ids", Json::array()}};
    ASSERT_TRUE(child_->record_job_event("S1", id, ev, now_ + 10 + i).ok());
  }
  sync(now_ + 20);
  EXPECT_EQ(parent_store_->get_job(id)->state, JobState::kSucceeded);
  EXPECT_EQ(must(child_store_->count_upstream()), 0);
}

TEST_F(RelayTreeTest, CancellationAtTheParentEndsTheChildsCopy) {
  give_child_the_registration();
  ASSERT_TRUE(
      child_->enroll(Json{{"serial", "S1"}, {"model", "MX"}, {"enrollment_code", "code-1"}}, now_)
          .ok());
  sync(now_ + 1);
  auto job = parent_->create_job(
      Json{{"serial", "S1"}, {"kind", "collect"}, {"params", {{"data_sets", {"counters"}}}}},
      "alice", now_ + 2);
  const std::string id = (*job)["id"];
  auto answer = sync(now_ + 3);
  ASSERT_EQ(answer["jobs"].size(), 1u);
  ASSERT_TRUE(child_->adopt_job(*parse_job(answer["jobs"][0]), "from parent", now_ + 3).ok());
  ASSERT_TRUE(parent_->cancel_job(id, "bob", now_ + 4).ok());
  answer = sync(now_ + 5);
  ASSERT_EQ(answer["job_updates"].size(), 1u) << answer.dump();
  EXPECT_EQ(answer["job_updates"][0]["state"], "cancelled");
  ASSERT_TRUE(child_
                  ->end_job_from_parent(id, JobState::kCancelled, answer["job_updates"][0]["cause"],
                                        now_ + 5)
                  .ok());
  EXPECT_EQ(child_store_->get_job(id)->state, JobState::kCancelled);
  EXPECT_TRUE(must(child_->deliverable_jobs("S1", now_ + 6)).empty());
}

TEST_F(RelayTreeTest, RepeatedItemsAreStoredOnceAndBadOnesAreRefusedNotRetried) {
  give_child_the_registration();
  ASSERT_TRUE(
      child_->enroll(Json{{"serial", "S1"}, {"model", "MX"}, {"enrollment_code", "code-1"}}, now_)
          .ok());
  Json rep = Json::array({Json{{"id", "r-9"},
                               {"kind", "counters"},
                               {"created_at", "2026-11-23T10:00:00Z"},
                               {"body", {{"total", 1}}}}});
  // The same report twice (a device retry the child answered as a duplicate) and an event for a
  // job the parent never made.
  Json items = Json::array({
      Json{{"seq", 1}, {"kind", "reports"}, {"serial", "S1"}, {"body", {{"reports", rep}}}},
      Json{{"seq", 2}, {"kind", "reports"}, {"serial", "S1"}, {"body", {{"reports", rep}}}},
      Json{{"seq", 3},
           {"kind", "event"},
           {"serial", "S1"},
           {"body", {{"job_id", "j-none"}, {"event", {{"event_id", "e"}, {"type", "started"}}}}}},
  });
  auto req = parse_sync_request(Json{{"items", items}});
  ASSERT_TRUE(req.ok());
  auto answer = must(children_->sync("child-1", *req, now_)).body;
  EXPECT_EQ(answer["acked_seq"], 3);
  ASSERT_EQ(answer["rejected"].size(), 1u);
  EXPECT_EQ(answer["rejected"][0]["seq"], 3);
  EXPECT_EQ(must(parent_store_->count_reports("S1")), 1);
}

// A middle relay (a child that is itself a parent) passes a grandchild's enrolment on upward,
// so the root and every other relay of the tree accept that device's credential.
TEST_F(RelayTreeTest, AMiddleRelayPassesEnrolmentsFromBelowUpward) {
  give_child_the_registration();
  ASSERT_TRUE(child_->create_relay_credential("grandchild-1", {"*"}, now_).ok());
  ChildRelays grandchildren(*child_);
  Json item{{"seq", 1},
            {"kind", "device"},
            {"serial", "S1"},
            {"body",
             {{"serial", "S1"},
              {"model", "MX"},
              {"token_hash", sha256_hex("grandchild token")},
              {"enrolled_at", now_},
              {"enrollment_code", "code-1"}}}};
  auto req = parse_sync_request(Json{{"items", Json::array({item})}});
  ASSERT_TRUE(req.ok());
  auto answer = must(grandchildren.sync("grandchild-1", *req, now_)).body;
  EXPECT_EQ(answer["acked_seq"], 1);
  auto queued = must(child_store_->peek_upstream(10));
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].kind, "device");
  EXPECT_EQ(queued[0].body["token_hash"], sha256_hex("grandchild token"));
  sync(now_ + 1);
  auto who = parent_->authenticate_device("grandchild token");
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(*who, "S1");
  // The same enrolment again changes nothing and is not passed on again.
  must(grandchildren.sync("grandchild-1", *req, now_ + 2));
  EXPECT_EQ(must(child_store_->count_upstream()), 0);
}

TEST(SyncRequest, BadInputIsRefusedWithTheReason) {
  auto check = [](Json body, const std::string& needle) {
    auto r = parse_sync_request(body);
    ASSERT_FALSE(r.ok()) << body.dump();
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  check(Json::array(), "object");
  check(Json{{"wait_s", 999}}, "wait_s");
  check(Json{{"wait_s", 4294967296LL}}, "wait_s");  // not read as 0 (found by fuzz_sync)
  check(Json{{"serials", {"ok", "bad serial"}}}, "serials");
  check(Json{{"items",
              {{{"seq", 2}, {"kind", "reports"}, {"serial", "S"}, {"body", Json::object()}},
               {{"seq", 1}, {"kind", "reports"}, {"serial", "S"}, {"body", Json::object()}}}}},
        "increase");
  check(
      Json{{"items", {{{"seq", 1}, {"kind", "nope"}, {"serial", "S"}, {"body", Json::object()}}}}},
      "kind");
  Json many = Json::array();
  for (int i = 1; i <= int(kMaxSyncItems) + 1; ++i)
    many.push_back({{"seq", i}, {"kind", "event"}, {"serial", "S"}, {"body", Json::object()}});
  auto r = parse_sync_request(Json{{"items", many}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kTooLarge);
}

// A child relay is trusted only for the devices of its customers, and enrols only devices that
// proved their enrollment code.
TEST_F(RelayTreeTest, AHostileChildCanActOnlyForItsOwnDevicesWithProof) {
  auto other = parent_->enroll(
      Json{{"serial", "OTHER-1"}, {"model", "MX"}, {"enrollment_code", "code-other"}}, now_);
  ASSERT_TRUE(other.ok());
  const std::string other_token = (*other)["device_token"];
  int wait_s = 0;
  ASSERT_TRUE(parent_->poll("OTHER-1", Json{{"state", "idle"}}, now_ + 1, wait_s).ok());
  auto job = parent_->create_job(
      Json{{"serial", "OTHER-1"}, {"kind", "collect"}, {"params", {{"data_sets", {"counters"}}}}},
      "alice", now_ + 2);
  ASSERT_TRUE(job.ok());
  const std::string job_id = (*job)["id"];
  Json rep = Json::array({Json{{"id", "r-x"},
                               {"kind", "counters"},
                               {"created_at", "2026-11-23T10:00:00Z"},
                               {"body", {{"total", 1}}}}});
  auto device_item = [&](const std::string& serial, const std::string& code) {
    Json body{{"serial", serial},
              {"model", "MX"},
              {"token_hash", sha256_hex("stolen")},
              {"enrolled_at", now_ + 99999999}};
    if (!code.empty()) body["enrollment_code"] = code;
    return body;
  };
  Json items = Json::array({
      // Another customer's device: a credential, reports, an event that ends its job.
      Json{{"seq", 1},
           {"kind", "device"},
           {"serial", "OTHER-1"},
           {"body", device_item("OTHER-1", "code-other")}},
      Json{{"seq", 2}, {"kind", "reports"}, {"serial", "OTHER-1"}, {"body", {{"reports", rep}}}},
      Json{{"seq", 3},
           {"kind", "event"},
           {"serial", "OTHER-1"},
           {"body",
            {{"job_id", job_id},
             {"event",
              {{"event_id", "e-1"},
               {"type", "succeeded"},
               {"detail", {{"report_ids", Json::array()}}}}}}}},
      // Its own device, without the code and with a wrong one.
      Json{{"seq", 4}, {"kind", "device"}, {"serial", "S1"}, {"body", device_item("S1", "")}},
      Json{{"seq", 5}, {"kind", "device"}, {"serial", "S1"}, {"body", device_item("S1", "guess")}},
  });
  auto req = parse_sync_request(Json{
      {"items", items},
      {"serials", {"OTHER-1", "S1"}},
      {"sightings", {{{"serial", "OTHER-1"}, {"last_seen", now_ + 999999}, {"state", "idle"}}}}});
  ASSERT_TRUE(req.ok());
  auto answer = must(children_->sync("child-1", *req, now_ + 3)).body;
  EXPECT_EQ(answer["acked_seq"], 5);
  std::set<std::int64_t> refused;
  for (const auto& r : answer["rejected"])
    if (r.contains("seq")) refused.insert(r["seq"].get<std::int64_t>());
  EXPECT_EQ(refused, (std::set<std::int64_t>{1, 2, 3, 4, 5})) << answer["rejected"].dump();
  EXPECT_TRUE(answer["jobs"].empty()) << "another customer's job must not go down";
  // Nothing changed at the parent.
  EXPECT_EQ(*parent_->authenticate_device(other_token), "OTHER-1");
  EXPECT_FALSE(parent_->authenticate_device("stolen").ok());
  EXPECT_EQ(must(parent_store_->count_reports("OTHER-1")), 0);
  EXPECT_EQ(parent_store_->get_job(job_id)->state, JobState::kWaiting);
  // The directory carries only the child's customer.
  ASSERT_TRUE(answer.contains("directory"));
  for (const auto& r : answer["directory"]["registrations"]) EXPECT_EQ(r["serial"], "S1");
  for (const auto& d : answer["directory"]["devices"]) EXPECT_EQ(d["serial"], "S1");
}

}  // namespace
}  // namespace printrelay
