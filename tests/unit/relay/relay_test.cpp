#include "relay/relay.h"

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <filesystem>

#include "core/codec.h"
#include "core/sha256.h"
#include "must.h"
#include "store/sqlite/sqlite_store.h"

namespace printrelay {
namespace {

struct RecordedEvents : RelayEvents {
  std::vector<std::pair<std::string, Json>> published;
  std::vector<std::string> woken;
  void publish(const std::string& kind, const Json& data) override {
    published.emplace_back(kind, data);
  }
  void wake_device(const std::string& serial) override {
    if (serial != kDirectoryWakeKey) woken.push_back(serial);
  }
};

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("relay_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++) + ".db");
    store_ = open_sqlite_store(path_.string());
    relay_ = std::make_unique<Relay>(*store_, RelayOptions{}, events_);
    ASSERT_TRUE(relay_
                    ->put_registration(Json{{"serial", "S1"},
                                            {"model", "MX"},
                                            {"enrollment_code", "code-1"},
                                            {"place", "HQ"}},
                                       now_)
                    .ok());
    ASSERT_TRUE(
        relay_
            ->put_registration(
                Json{{"serial", "S2"}, {"model", "MX"}, {"enrollment_code", "code-2"}}, now_)
            .ok());
    token1_ = enroll("S1", "code-1");
    token2_ = enroll("S2", "code-2");
  }
  void TearDown() override {
    relay_.reset();
    store_.reset();
    for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_.string() + suffix);
  }
  std::string enroll(const std::string& serial, const std::string& code) {
    auto r =
        relay_->enroll(Json{{"serial", serial}, {"model", "MX"}, {"enrollment_code", code}}, now_);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? (*r)["device_token"].get<std::string>() : "";
  }
  Json report(const std::string& id, const std::string& kind, Json body,
              const char* urgency = "normal") {
    return Json{{"id", id},
                {"kind", kind},
                {"created_at", "2026-11-23T10:00:00Z"},
                {"urgency", urgency},
                {"body", std::move(body)}};
  }

  static inline int counter_ = 0;
  std::filesystem::path path_;
  std::unique_ptr<Store> store_;
  RecordedEvents events_;
  std::unique_ptr<Relay> relay_;
  TimeMs now_ = 1795400000000;
  std::string token1_, token2_;
};

TEST_F(RelayTest, EnrollChecksRegistrationCodeAndModel) {
  auto unknown =
      relay_->enroll(Json{{"serial", "NOPE"}, {"model", "MX"}, {"enrollment_code", "x"}}, now_);
  ASSERT_FALSE(unknown.ok());
  auto wrong =
      relay_->enroll(Json{{"serial", "S1"}, {"model", "MX"}, {"enrollment_code", "bad"}}, now_);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().kind, ErrorKind::kForbidden);
  // An unknown serial answers exactly as a wrong code does: serials cannot be enumerated.
  EXPECT_EQ(unknown.error().kind, wrong.error().kind);
  EXPECT_EQ(unknown.error().message, wrong.error().message);
  auto model = relay_->enroll(
      Json{{"serial", "S1"}, {"model", "OTHER"}, {"enrollment_code", "code-1"}}, now_);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.error().kind, ErrorKind::kForbidden);
  EXPECT_EQ(*relay_->authenticate_device(token1_), "S1");
  EXPECT_FALSE(relay_->authenticate_device("dt_forged").ok());
}

TEST_F(RelayTest, ReEnrollReplacesATokenThatWasNeverUsed) {
  // The first answer may have been lost on the way: the device enrols again.
  auto fresh = enroll("S1", "code-1");
  EXPECT_FALSE(relay_->authenticate_device(token1_).ok());
  EXPECT_EQ(*relay_->authenticate_device(fresh), "S1");
}

TEST_F(RelayTest, AUsedCredentialIsReplacedOnlyAfterTheServiceCenterRevokesIt) {
  int wait_s = 0;
  ASSERT_TRUE(relay_->poll("S1", Json{{"state", "idle"}}, now_ + 1000, wait_s).ok());
  auto again = relay_->enroll(
      Json{{"serial", "S1"}, {"model", "MX"}, {"enrollment_code", "code-1"}}, now_ + 2000);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(*relay_->authenticate_device(token1_), "S1");  // nothing changed

  ASSERT_TRUE(relay_->revoke_device("S1", "admin-1", now_ + 3000).ok());
  EXPECT_FALSE(relay_->authenticate_device(token1_).ok());
  auto fresh = relay_->enroll(
      Json{{"serial", "S1"}, {"model", "MX"}, {"enrollment_code", "code-1"}}, now_ + 4000);
  ASSERT_TRUE(fresh.ok()) << fresh.error().message;
  EXPECT_EQ(*relay_->authenticate_device((*fresh)["device_token"].get<std::string>()), "S1");
}

TEST_F(RelayTest, DeletingARegistrationRevokesTheDevicesCredential) {
  ASSERT_TRUE(relay_->delete_registration("S2", "admin-1", now_ + 1000).ok());
  EXPECT_FALSE(relay_->authenticate_device(token2_).ok());
  // A fresh relay on the same store (another node) does not accept it either.
  Relay other(*store_, RelayOptions{}, events_);
  EXPECT_FALSE(other.authenticate_device(token2_).ok());
  EXPECT_EQ(*other.authenticate_device(token1_), "S1");
}

TEST_F(RelayTest, EnrollmentCodesAreStoredAsSaltedSlowHashes) {
  auto r = store_->get_registration("S1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->enrollment_code_hash.rfind("pbkdf2-sha256$", 0), 0u) << r->enrollment_code_hash;
}

TEST_F(RelayTest, ARevokedAdminCredentialStopsAtOnce) {
  auto tok = relay_->create_admin_credential("ops-1", Role::kOperator, now_);
  ASSERT_TRUE(tok.ok());
  ASSERT_TRUE(relay_->authenticate_admin(*tok).ok());
  EXPECT_EQ(relay_->revoke_admin_credential("ops-1", "admin-1", /*relay=*/true).error().kind,
            ErrorKind::kNotFound);  // not a child relay's credential
  ASSERT_TRUE(relay_->revoke_admin_credential("ops-1", "admin-1", /*relay=*/false).ok());
  EXPECT_FALSE(relay_->authenticate_admin(*tok).ok());
}

TEST_F(RelayTest, ReceiptHashMatchesWhatTheDeviceSent) {
  Json r = report("r-1", "counters", Json{{"total", 5}});
  auto ans = relay_->accept_reports("S1", Json{{"reports", Json::array({r})}}, now_);
  ASSERT_TRUE(ans.ok()) << ans.error().message;
  auto receipt = (*ans)["receipts"][0];
  EXPECT_EQ(receipt["sha256"], sha256_hex(canonical_report(*parse_report(r))));
  EXPECT_FALSE(receipt["duplicate"].get<bool>());
  auto again = relay_->accept_reports("S1", Json{{"reports", Json::array({r})}}, now_ + 5000);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)["receipts"][0]["duplicate"].get<bool>());
  EXPECT_EQ((*again)["receipts"][0]["reception_no"], receipt["reception_no"]);
  EXPECT_EQ((*again)["receipts"][0]["server_time"], receipt["server_time"]);
  EXPECT_EQ(must(store_->count_reports("S1")), 1);
}

TEST_F(RelayTest, BadBatchStoresNothing) {
  Json good = report("r-1", "counters", Json{{"total", 5}});
  Json bad = report("r-2", "weather", Json::object());
  auto ans = relay_->accept_reports("S1", Json{{"reports", Json::array({good, bad})}}, now_);
  ASSERT_FALSE(ans.ok());
  EXPECT_EQ(ans.error().kind, ErrorKind::kBadInput);
  EXPECT_NE(ans.error().message.find("reports[1]"), std::string::npos);
  EXPECT_EQ(must(store_->count_reports("S1")), 0);
  Json many = Json::array();
  for (int i = 0; i < 257; ++i)
    many.push_back(report("r" + std::to_string(i), "counters", Json::object()));
  auto big = relay_->accept_reports("S1", Json{{"reports", many}}, now_);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().kind, ErrorKind::kTooLarge);
}

TEST_F(RelayTest, FatalAlertOpensAnAlertAndIsPublished) {
  Json a = report("a-1", "alert",
                  Json{{"type", "service_call"}, {"code", "SC542"}, {"sc_type", "A"}}, "fatal");
  ASSERT_TRUE(relay_->accept_reports("S1", Json{{"reports", Json::array({a})}}, now_).ok());
  auto alerts = must(relay_->list_alerts("S1", false))["alerts"];
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0]["code"], "SC542");
  bool published = false;
  for (const auto& [kind, data] : events_.published) published |= kind == "alert";
  EXPECT_TRUE(published);
  auto ack = relay_->acknowledge_alert(std::to_string(alerts[0]["id"].get<int>()), "op", now_);
  ASSERT_TRUE(ack.ok());
  EXPECT_TRUE(must(relay_->list_alerts("S1", false))["alerts"].empty());
}

TEST_F(RelayTest, PanelMessageAndOrderGetAReply) {
  Json m = report("m-1", "message", Json{{"text", "paper jam again"}});
  Json o = report("o-1", "order", Json{{"item", "toner-black"}, {"quantity", 2}});
  auto ans = relay_->accept_reports("S1", Json{{"reports", Json::array({m, o})}}, now_);
  ASSERT_TRUE(ans.ok());
  auto receipts = (*ans)["receipts"];
  EXPECT_EQ(receipts[0]["reply"]["reception_no"].get<std::string>().substr(0, 2), "M-");
  EXPECT_NE(receipts[1]["reply"]["description"].get<std::string>().find("toner-black"),
            std::string::npos);
}

TEST_F(RelayTest, JobLifecycleAndOwnership) {
  auto job = relay_->create_job(
      Json{{"serial", "S1"}, {"kind", "collect"}, {"params", {{"data_sets", {"counters"}}}}},
      "alice", now_);
  ASSERT_TRUE(job.ok()) << job.error().message;
  std::string id = (*job)["id"];
  EXPECT_EQ((*job)["place"], "HQ");
  EXPECT_EQ(events_.woken, std::vector<std::string>{"S1"});
  int wait = 0;
  auto poll = relay_->poll("S1", Json{{"state", "idle"}}, now_ + 1, wait);
  ASSERT_TRUE(poll.ok());
  EXPECT_TRUE(poll->has_jobs);
  ASSERT_EQ(Json::parse(poll->body)["jobs"].size(), 1u);
  auto other = relay_->poll("S2", Json::object(), now_ + 1, wait);
  EXPECT_FALSE(other->has_jobs);
  EXPECT_TRUE(Json::parse(other->body)["jobs"].empty());
  auto stolen =
      relay_->record_job_event("S2", id, Json{{"event_id", "e0"}, {"type", "acquired"}}, now_);
  ASSERT_FALSE(stolen.ok());
  EXPECT_EQ(stolen.error().kind, ErrorKind::kForbidden);
  ASSERT_TRUE(
      relay_->record_job_event("S1", id, Json{{"event_id", "e1"}, {"type", "started"}}, now_ + 2)
          .ok());
  auto cancel = relay_->cancel_job(id, "bob", now_ + 3);
  ASSERT_FALSE(cancel.ok());
  EXPECT_EQ(cancel.error().kind, ErrorKind::kConflict);
  auto done =
      relay_->record_job_event("S1", id, Json{{"event_id", "e2"}, {"type", "succeeded"}}, now_ + 4);
  ASSERT_TRUE(done.ok());
  auto dup =
      relay_->record_job_event("S1", id, Json{{"event_id", "e2"}, {"type", "succeeded"}}, now_ + 5);
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE((*dup)["duplicate"].get<bool>());
  auto full = relay_->get_job(id);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ((*full)["job"]["state"], "succeeded");
  EXPECT_EQ((*full)["transitions"].size(), 3u);  // created, running, succeeded
  auto none = relay_->poll("S1", Json::object(), now_ + 6, wait);
  EXPECT_TRUE(Json::parse(none->body)["jobs"].empty());
}

TEST_F(RelayTest, JobForUnknownDeviceIsNotFound) {
  auto job = relay_->create_job(Json{{"serial", "GHOST"}, {"kind", "reboot"}}, "alice", now_);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.error().kind, ErrorKind::kNotFound);
}

TEST_F(RelayTest, ScheduleJobChangesThePolicyHandedOut) {
  auto job = relay_->create_job(Json{{"serial", "S1"},
                                     {"kind", "schedule"},
                                     {"params", {{"poll_policy", {{"interval_s", 60}}}}}},
                                "alice", now_);
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(relay_
                  ->record_job_event("S1", (*job)["id"],
                                     Json{{"event_id", "s1"}, {"type", "succeeded"}}, now_)
                  .ok());
  int wait = 0;
  auto poll = relay_->poll("S1", Json::object(), now_, wait);
  Json answer = Json::parse(poll->body);
  EXPECT_EQ(answer["poll_policy"]["interval_s"], 60);
  EXPECT_GE(answer["next_poll_s"].get<int>(), 54);
  EXPECT_LE(answer["next_poll_s"].get<int>(), 66);
}

TEST_F(RelayTest, IdlePollAnswerIsCanonicalJson) {
  int wait = 0;
  auto poll = relay_->poll("S1", Json{{"state", "idle"}}, now_, wait);
  ASSERT_TRUE(poll.ok());
  Json parsed = Json::parse(poll->body);
  EXPECT_EQ(parsed.dump(), poll->body);  // the same bytes nlohmann would write
  EXPECT_EQ(parsed["server_time"], format_time(now_));
  EXPECT_TRUE(parsed["long_poll"].get<bool>());
}

TEST_F(RelayTest, PollRejectsOutOfRangeWait) {
  int wait = 0;
  auto r = relay_->poll("S1", Json{{"wait_s", 999}}, now_, wait);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kBadInput);
}

TEST_F(RelayTest, ExpiredJobsLeaveTheDeliveryList) {
  auto job = relay_->create_job(
      Json{{"serial", "S1"}, {"kind", "reboot"}, {"expires_at", format_time(now_ + 1000)}}, "alice",
      now_);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(must(relay_->expire_jobs(now_ + 500)), 0);
  EXPECT_EQ(must(relay_->expire_jobs(now_ + 1000)), 1);
  EXPECT_EQ((*relay_->get_job((*job)["id"]))["job"]["state"], "expired");
}

}  // namespace
}  // namespace printrelay

namespace printrelay {
namespace {

TEST_F(RelayTest, OddlyTypedBodyFieldsAreStoredNotFatal) {
  Json a =
      report("a-9", "alert", Json{{"type", 5}, {"code", 542}, {"message", Json::array()}}, "fatal");
  Json o = report("o-9", "order", Json{{"item", 1}, {"quantity", "two"}});
  auto ans = relay_->accept_reports("S1", Json{{"reports", Json::array({a, o})}}, now_);
  ASSERT_TRUE(ans.ok()) << ans.error().message;
  EXPECT_EQ(must(relay_->list_alerts("S1", false))["alerts"][0]["type"], "alert");
  EXPECT_NE((*ans)["receipts"][1]["reply"]["description"].get<std::string>().find("1 x supplies"),
            std::string::npos);
}

}  // namespace
}  // namespace printrelay

namespace printrelay {
namespace {

TEST_F(RelayTest, AStateChangeIsAnnouncedOnceAndAnIdlePollIsNot) {
  auto device_events = [&] {
    std::vector<Json> out;
    for (const auto& [kind, data] : events_.published)
      if (kind == "device") out.push_back(data);
    return out;
  };
  int wait = 0;
  ASSERT_TRUE(relay_->poll("S1", Json{{"state", "idle"}}, now_ + 1, wait));
  ASSERT_TRUE(relay_->poll("S1", Json{{"state", "idle"}}, now_ + 2, wait));
  ASSERT_TRUE(relay_->poll("S1", Json::object(), now_ + 3, wait));
  ASSERT_EQ(device_events().size(), 1u);
  ASSERT_TRUE(relay_->poll("S1", Json{{"state", "error"}}, now_ + 4, wait));
  auto events = device_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1]["serial"], "S1");
  EXPECT_EQ(events[1]["state"], "error");
  EXPECT_EQ(events[1]["last_seen"], format_time(now_ + 4));
}

// Renames a table of the relay's database through a second connection, as an operator's
// sqlite3 shell would: while it is away every read of it fails, and it comes back unchanged.
void rename_table(const std::filesystem::path& db, const std::string& from, const std::string& to) {
  sqlite3* c = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db.c_str(), &c, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  char* error = nullptr;
  const std::string sql = "ALTER TABLE " + from + " RENAME TO " + to;
  EXPECT_EQ(sqlite3_exec(c, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(c);
}

// A store hiccup while a device polls must not lose its job: the poll is refused (the device
// retries) and the device stays marked as having jobs, so the next poll delivers it.
TEST_F(RelayTest, APollThatCannotReadTheJobsFailsAndTheJobIsDeliveredLater) {
  auto job = relay_->create_job(Json{{"serial", "S1"}, {"kind", "reboot"}}, "alice", now_);
  ASSERT_TRUE(job.ok()) << job.error().message;
  rename_table(path_, "jobs", "jobs_away");
  int wait = 0;
  auto refused = relay_->poll("S1", Json::object(), now_ + 1, wait);
  ASSERT_FALSE(refused.ok()) << "answered " << refused->body;
  EXPECT_EQ(refused.error().kind, ErrorKind::kUnavailable);
  rename_table(path_, "jobs_away", "jobs");
  auto delivered = relay_->poll("S1", Json::object(), now_ + 2, wait);
  ASSERT_TRUE(delivered.ok()) << delivered.error().message;
  EXPECT_TRUE(delivered->has_jobs);
  auto jobs = Json::parse(delivered->body)["jobs"];
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["id"], (*job)["id"]);
}

// Admin lists answer the failure (the API turns it into 503), not an empty fleet.
TEST_F(RelayTest, AdminListsOfAStoreThatCannotBeReadAreErrors) {
  rename_table(path_, "devices", "devices_away");
  auto devices = relay_->list_devices("", "", now_);
  ASSERT_FALSE(devices.ok()) << devices->dump();
  EXPECT_EQ(devices.error().kind, ErrorKind::kUnavailable);
  rename_table(path_, "devices_away", "devices");
  EXPECT_EQ(must(relay_->list_devices("", "", now_))["devices"].size(), 2u);
}

// A relay that could not fill its caches would turn every device away without knowing why: it
// does not start, and says what it could not read.
TEST_F(RelayTest, ARelayDoesNotStartOnAStoreItCannotRead) {
  rename_table(path_, "admin_credentials", "admin_credentials_away");
  try {
    Relay second(*store_, RelayOptions{}, events_);
    FAIL() << "a relay started without its admin credentials";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("admin credentials"), std::string::npos) << e.what();
  }
  rename_table(path_, "admin_credentials_away", "admin_credentials");
}

}  // namespace
}  // namespace printrelay
