#include "core/poll_schedule.h"

#include <gtest/gtest.h>

namespace printrelay {

TEST(PollSchedule, JitterStaysWithinTenPercent) {
  PollPolicy p;
  p.interval_s = 900;
  EXPECT_EQ(jittered_interval_s(p, 0.0), 810);
  EXPECT_EQ(jittered_interval_s(p, 0.5), 900);
  EXPECT_EQ(jittered_interval_s(p, 0.999999), 990);
  EXPECT_NE(jittered_interval_s(p, 0.1), jittered_interval_s(p, 0.9));
}

TEST(PollSchedule, NextTimeOfDay) {
  PollPolicy p;
  EXPECT_FALSE(next_time_of_day(p, 0).has_value());
  p.times_of_day = {"02:00", "14:30"};
  TimeMs day = 86400000;
  TimeMs at_0100 = 10 * day + 3600000;
  EXPECT_EQ(*next_time_of_day(p, at_0100), 10 * day + 2 * 3600000);
  TimeMs at_1500 = 10 * day + 15 * 3600000;
  EXPECT_EQ(*next_time_of_day(p, at_1500), 11 * day + 2 * 3600000);
}

TEST(PollSchedule, Conditions) {
  PollPolicy p;
  p.conditions.push_back({"counter_at_least", "total", 100, ""});
  p.conditions.push_back({"error_code", "", 0, "SC542"});
  EXPECT_FALSE(condition_fires(p, Json{{"total", 99}}, ""));
  EXPECT_TRUE(condition_fires(p, Json{{"total", 100}}, ""));
  EXPECT_TRUE(condition_fires(p, Json::object(), "SC542"));
  EXPECT_FALSE(condition_fires(p, Json::object(), "SC100"));
}

}  // namespace printrelay
