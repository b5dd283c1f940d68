#include "core/job_flow.h"

#include <gtest/gtest.h>

namespace printrelay {

JobEvent ev(JobEventType t, std::string reason = "") {
  JobEvent e;
  e.event_id = "e";
  e.type = t;
  e.reason = std::move(reason);
  return e;
}

TEST(JobFlow, FullHappyPath) {
  Job j;
  j.id = "j1";
  auto t1 = apply_event(j, ev(JobEventType::kAcquired), 10);
  ASSERT_TRUE(t1.ok() && t1->has_value());
  EXPECT_EQ((*t1)->from, JobState::kWaiting);
  EXPECT_EQ(j.state, JobState::kAcquired);
  ASSERT_TRUE(apply_event(j, ev(JobEventType::kStarted), 20).ok());
  EXPECT_EQ(j.state, JobState::kRunning);
  auto t3 = apply_event(j, ev(JobEventType::kSucceeded), 30);
  ASSERT_TRUE(t3.ok());
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.executed_at, 30);
  auto late = apply_event(j, ev(JobEventType::kFailed, "x"), 40);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().kind, ErrorKind::kConflict);
}

TEST(JobFlow, DeferralIsRecordedWithoutStateChange) {
  Job j;
  j.state = JobState::kAcquired;
  auto t = apply_event(j, ev(JobEventType::kDeferred, "busy printing"), 5);
  ASSERT_TRUE(t.ok() && t->has_value());
  EXPECT_EQ((*t)->from, (*t)->to);
  EXPECT_NE((*t)->cause.find("busy printing"), std::string::npos);
  EXPECT_EQ(j.state, JobState::kAcquired);
}

TEST(JobFlow, CancelOnlyBeforeRunning) {
  Job j;
  ASSERT_TRUE(cancel_job(j, "alice", 1).ok());
  EXPECT_EQ(j.state, JobState::kCancelled);
  Job r;
  r.state = JobState::kRunning;
  auto c = cancel_job(r, "alice", 1);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::kConflict);
}

TEST(JobFlow, ExpiryAndDelivery) {
  Job j;
  j.not_before = 100;
  j.expires_at = 200;
  EXPECT_FALSE(is_deliverable(j, 50));
  EXPECT_TRUE(is_deliverable(j, 150));
  EXPECT_FALSE(expire_if_due(j, 150).has_value());
  auto t = expire_if_due(j, 200);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(j.state, JobState::kExpired);
  EXPECT_FALSE(is_deliverable(j, 150));
}

TEST(JobFlow, DefaultListRetention) {
  Job ok;
  ok.state = JobState::kSucceeded;
  ok.updated_at = 1000;
  EXPECT_TRUE(in_default_list(ok, 1500, 1000));
  EXPECT_FALSE(in_default_list(ok, 2500, 1000));
  Job bad;
  bad.state = JobState::kFailed;
  bad.updated_at = 0;
  EXPECT_TRUE(in_default_list(bad, 1000000, 1000));
  bad.acknowledged = true;
  EXPECT_FALSE(in_default_list(bad, 1000000, 1000));
}

}  // namespace printrelay
