#include "relay/monitoring_center.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "clock/wall_clock.h"
#include "core/codec.h"
#include "core/time.h"
#include "must.h"
#include "store/sqlite/sqlite_store.h"

namespace printrelay {
namespace {

struct RecordedEvents : RelayEvents {
  std::vector<std::pair<std::string, Json>> published;
  void publish(const std::string& kind, const Json& data) override {
    published.emplace_back(kind, data);
  }
  void wake_device(const std::string&) override {}
};

// The center on a real SQLite store and a real relay; the worker's rounds are run by the test
// (run_once) so every step is deterministic. No mail server is configured: e-mails end recorded
// as not sent, which is what an operator who forgot --smtp-url must see.
class MonitoringCenterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ =
        std::filesystem::temp_directory_path() / ("monitoring_test_" + std::to_string(::getpid()) +
                                                  "_" + std::to_string(counter_++) + ".db");
    store_ = open_sqlite_store(path_.string());
    RelayOptions ro;
    ro.order_reply = [this](const std::string& item, std::int64_t quantity) {
      return center_->order_reply(item, quantity);
    };
    ro.on_reports_stored = [this](const std::string& serial, const std::vector<Report>& fresh,
                                  const std::vector<Alert>& opened) {
      center_->reports_stored(serial, fresh, opened);
    };
    relay_ = std::make_unique<Relay>(*store_, ro, events_);
    MonitoringOptions mo;
    mo.retry_base_ms = 1000;
    // The rules' webhook is on loopback (nothing listens): a passing failure, not a refusal.
    mo.webhook.target_policy.allow = *parse_address_ranges({"127.0.0.0/8"});
    center_ = std::make_unique<MonitoringCenter>(*relay_, *store_, events_, mo);
    ASSERT_TRUE(relay_
                    ->put_registration(Json{{"serial", "S1"},
                                            {"model", "MX"},
                                            {"enrollment_code", "code-1"},
                                            {"place", "HQ 3F"},
                                            {"customer", "Acme"},
                                            {"contact", "it@acme.test"}},
                                       now_)
                    .ok());
    ASSERT_TRUE(
        relay_->enroll(Json{{"serial", "S1"}, {"model", "MX"}, {"enrollment_code", "code-1"}}, now_)
            .ok());
  }
  void TearDown() override {
    center_.reset();
    relay_.reset();
    store_.reset();
    for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_.string() + suffix);
  }

  Result<Json> put(const std::string& name, Json body) {
    auto current = center_->get_table(name);
    if (!current) return current.error();
    return center_->put_table(
        name, Json{{"body", std::move(body)}, {"revision", (*current)["revision"]}}, "alice", now_);
  }
  Result<Json> send(const std::string& kind, Json body) {
    Json r = {{"id", "r-" + std::to_string(++report_no_)},
              {"kind", kind},
              {"created_at", format_time(now_)},
              {"urgency", "normal"},
              {"body", std::move(body)}};
    return relay_->accept_reports("S1", Json{{"reports", Json::array({r})}}, now_);
  }
  Json structure(const std::string& adf) {
    return {{"model", "MX"},
            {"units", Json::array({{{"id", "main"}, {"software_version", "1.0.3"}},
                                   {{"id", "adf"}, {"software_version", adf}}})}};
  }
  std::vector<Alert> open_of_type(const std::string& type) {
    std::vector<Alert> out;
    for (auto& a : must(store_->list_alerts("S1", true)))
      if (a.type == type) out.push_back(a);
    return out;
  }
  void rules_for_adf() {
    ASSERT_TRUE(put("compatibility",
                    Json::parse(R"([{"model": "MX", "units": {"adf": {"compatible": [">=1.0.0"],
                                     "recommended": "1.0.0"}}, "auto_update": true}])"))
                    .ok());
    ASSERT_TRUE(put("notification_rules",
                    Json::parse(R"([{"name": "desk", "types": ["incompatible", "job_failed"],
                                     "emails": ["desk@service.test"],
                                     "webhooks": ["http://127.0.0.1:9/hook"]},
                                    {"name": "acme", "customers": ["Acme"], "contact": true,
                                     "types": ["incompatible"]}])"))
                    .ok());
  }

  static inline int counter_ = 0;
  std::filesystem::path path_;
  std::unique_ptr<Store> store_;
  RecordedEvents events_;
  std::unique_ptr<Relay> relay_;
  std::unique_ptr<MonitoringCenter> center_;
  TimeMs now_ = wall_clock_ms();
  int report_no_ = 0;
};

TEST_F(MonitoringCenterTest, TablesAreValidatedAndGuardedByRevision) {
  auto listed = must(center_->list_tables())["tables"];
  ASSERT_EQ(listed.size(), service_table_names().size());
  EXPECT_EQ(listed[0]["revision"], 0);
  auto bad = put("error_codes", Json::parse(R"([{"code": "SC1", "txt": "typo"}])"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kBadInput);
  EXPECT_NE(bad.error().message.find("'txt'"), std::string::npos) << bad.error().message;
  EXPECT_EQ((*center_->get_table("error_codes"))["revision"], 0);
  auto ok = put("error_codes", Json::parse(R"([{"code": "SC1", "text": "Fuser"}])"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ((*ok)["revision"], 1);
  auto stale = center_->put_table("error_codes", Json{{"body", Json::array()}, {"revision", 0}},
                                  "bob", now_);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(center_->get_table("nope").error().kind, ErrorKind::kNotFound);
  EXPECT_FALSE(center_->put_table("error_codes", Json{{"body", Json::array()}}, "bob", now_));
  EXPECT_EQ(center_->error_content("SC1"), (Json{{"text", "Fuser"}, {"action", ""}}));
  EXPECT_TRUE(center_->error_content("SC2").is_null());
}

TEST_F(MonitoringCenterTest, IncompatibleStructureOpensOneAlertAndNotifiesEachTargetOnce) {
  rules_for_adf();
  ASSERT_TRUE(send("structure", structure("0.9.4")));
  center_->run_once(now_);
  auto open = open_of_type("incompatible");
  ASSERT_EQ(open.size(), 1u);
  EXPECT_NE(open[0].message.find("adf 0.9.4"), std::string::npos) << open[0].message;
  // No authorisation was signed: nothing automatic, and the notification says so.
  EXPECT_TRUE(must(store_->open_jobs("S1")).empty());

  // The same finding on the next report: no second alert, no second notification.
  ASSERT_TRUE(send("structure", structure("0.9.4")));
  center_->run_once(now_ + 1000);
  EXPECT_EQ(open_of_type("incompatible").size(), 1u);

  auto sent = must(store_->list_notifications("S1", 100));
  ASSERT_EQ(sent.size(), 3u);  // desk e-mail, desk webhook, Acme's contact
  std::map<std::string, NotificationRecord> by_target;
  for (auto& n : sent) by_target[n.target] = n;
  ASSERT_TRUE(by_target.count("desk@service.test"));
  ASSERT_TRUE(by_target.count("it@acme.test"));
  ASSERT_TRUE(by_target.count("http://127.0.0.1:9/hook"));
  const auto& mail = by_target["desk@service.test"];
  EXPECT_EQ(mail.state, "failed");  // no SMTP server: recorded, not retried
  EXPECT_NE(mail.last_error.find("no SMTP server"), std::string::npos);
  EXPECT_NE(mail.subject.find("S1"), std::string::npos);
  EXPECT_NE(mail.text.find("HQ 3F"), std::string::npos);
  EXPECT_NE(mail.text.find("no signed authorisation"), std::string::npos) << mail.text;
  EXPECT_EQ(by_target["it@acme.test"].rule, "acme");
  // Nothing listens on port 9: a passing failure, retried later.
  const auto& hook = by_target["http://127.0.0.1:9/hook"];
  EXPECT_EQ(hook.state, "pending");
  EXPECT_EQ(hook.attempts, 1);
  EXPECT_FALSE(hook.last_error.empty());
  EXPECT_EQ(hook.payload["type"], "incompatible");
  EXPECT_EQ(hook.payload["customer"], "Acme");
}

TEST_F(MonitoringCenterTest, CompatibleStructureClosesTheAlert) {
  rules_for_adf();
  ASSERT_TRUE(send("structure", structure("0.9.4")));
  center_->run_once(now_);
  ASSERT_EQ(open_of_type("incompatible").size(), 1u);
  ASSERT_TRUE(send("structure", structure("1.0.0")));
  center_->run_once(now_ + 1000);
  EXPECT_TRUE(open_of_type("incompatible").empty());
  auto all = must(store_->list_alerts("S1", false));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].acknowledged_by, "monitoring center");
  auto page = center_->device_monitoring("S1", now_ + 2000);
  ASSERT_TRUE(page);
  EXPECT_EQ((*page)["compatibility"]["verdict"], "compatible");
}

TEST_F(MonitoringCenterTest, OrderRepliesNameThePartAndFailedJobsAreNotified) {
  ASSERT_TRUE(put("order_codes", Json::parse(R"([{"code": "T2-K", "text": "Toner Type 2"}])")));
  rules_for_adf();
  auto r = send("order", Json{{"item", "T2-K"}, {"quantity", 2}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)["receipts"][0]["reply"]["description"],
            "Order accepted: 2 x Toner Type 2 (T2-K). Delivery will be arranged.");

  Job job;
  job.id = "j-1";
  job.serial = "S1";
  job.kind = JobKind::kCollect;
  center_->job_changed(job, JobTransition{"j-1", now_, JobState::kRunning, JobState::kFailed,
                                          "device: failed: no such data set"});
  center_->run_once(now_);
  bool notified = false;
  for (const auto& n : must(store_->list_notifications("S1", 100))) {
    if (n.event_type == "job_failed" && n.target == "desk@service.test") notified = true;
  }
  EXPECT_TRUE(notified);
}

TEST_F(MonitoringCenterTest, RepeatedJamsBecomeOneTroubleAlert) {
  for (int i = 0; i < 3; ++i) {
    now_ += 60'000;
    ASSERT_TRUE(send("alert", Json{{"type", "jam"}, {"code", "J-TRAY2"}, {"location", "tray2"}}));
  }
  center_->run_once(now_);
  auto trouble = open_of_type("trouble");
  ASSERT_EQ(trouble.size(), 1u);
  EXPECT_EQ(trouble[0].code, "repeated_jams:tray2");
  ASSERT_TRUE(send("alert", Json{{"type", "jam"}, {"code", "J-TRAY2"}, {"location", "tray2"}}));
  center_->run_once(now_ + 1000);
  EXPECT_EQ(open_of_type("trouble").size(), 1u);
}

}  // namespace
}  // namespace printrelay
