#include "core/rule_text.h"

#include <gtest/gtest.h>

namespace printrelay {
namespace {

TEST(RuleText, DurationsInTheLargestWholeUnit) {
  EXPECT_EQ(duration_text(90 * 1000), "90 s");
  EXPECT_EQ(duration_text(45 * kMinuteMs), "45 min");
  EXPECT_EQ(duration_text(90 * kMinuteMs), "1 h 30 min");
  EXPECT_EQ(duration_text(kDayMs), "24 h");
  EXPECT_EQ(duration_text(2 * kDayMs), "2 days");
  EXPECT_EQ(duration_text(7 * kDayMs), "7 days");
  EXPECT_EQ(duration_text(36 * kHourMs), "36 h");
}

TEST(RuleText, NumbersWithoutTrailingZerosOrMinusZero) {
  EXPECT_EQ(number_text(2.5), "2.5");
  EXPECT_EQ(number_text(14.0), "14");
  EXPECT_EQ(number_text(1.0 / 3, 2), "0.33");
  EXPECT_EQ(number_text(-0.01), "0");
  EXPECT_EQ(number_text(100, 3), "100");
}

TEST(RuleText, ListsCountsCaseAndReportNames) {
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(join({}, ", "), "");
  EXPECT_EQ(times_text(1), "1 time");
  EXPECT_EQ(times_text(3), "3 times");
  EXPECT_EQ(lower("Tray2-ADF"), "tray2-adf");
  Report r;
  r.id = "r7";
  r.kind = "jams";
  EXPECT_EQ(report_name(r), "report r7 (jams)");
}

}  // namespace
}  // namespace printrelay
