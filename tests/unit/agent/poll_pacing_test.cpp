#include "agent/poll_pacing.h"

#include <gtest/gtest.h>

#include <limits>

namespace printrelay::agent {
namespace {

TEST(PollPacing, TheRelaysHintIsUsedWithinItsBounds) {
  EXPECT_EQ(regular_poll_delay_s(873, 900), 873);
  EXPECT_EQ(regular_poll_delay_s(3000, 900), 3000);  // slowed down under load
}

// A compromised relay cannot silence a device: at most four intervals, never over a week.
TEST(PollPacing, ALongHintIsClampedToASmallMultipleOfTheInterval) {
  EXPECT_EQ(regular_poll_delay_s(10'000'000, 900), kMaxPollStretch * 900);
  EXPECT_EQ(regular_poll_delay_s(1e300, 900), kMaxPollStretch * 900);
  EXPECT_EQ(regular_poll_delay_s(10'000'000, 3 * 86'400), kMaxPollDelayS);
}

TEST(PollPacing, AShortHintIsRaisedToTheMinimum) {
  EXPECT_EQ(regular_poll_delay_s(1, 900), kMinPollDelayS);
  EXPECT_EQ(regular_poll_delay_s(0.01, 900), kMinPollDelayS);
}

TEST(PollPacing, AMissingOrNonsenseHintMeansTheInterval) {
  EXPECT_EQ(regular_poll_delay_s(Json(), 900), 900);
  EXPECT_EQ(regular_poll_delay_s(0, 900), 900);
  EXPECT_EQ(regular_poll_delay_s(-5, 900), 900);
  EXPECT_EQ(regular_poll_delay_s("3600", 900), 900);
  EXPECT_EQ(regular_poll_delay_s(Json::array({1}), 900), 900);
  EXPECT_EQ(regular_poll_delay_s(std::numeric_limits<double>::quiet_NaN(), 900), 900);
}

}  // namespace
}  // namespace printrelay::agent
