#include "core/time.h"

#include <gtest/gtest.h>

namespace printrelay {

TEST(Time, FormatsAndParsesRoundTrip) {
  TimeMs t = 1795432500123;  // 2026-11-23T...
  auto s = format_time(t);
  auto back = parse_time(s);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, t);
  EXPECT_EQ(format_time(0), "1970-01-01T00:00:00.000Z");
}

// Every field zero-padded to its width, milliseconds always three digits.
TEST(Time, FormatsEveryFieldPadded) {
  EXPECT_EQ(format_time(1796599999007), "2026-12-06T23:33:19.007Z");
  EXPECT_EQ(format_time(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(format_time(253402300799999), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(format_time(-1), "1969-12-31T23:59:59.999Z");
}

TEST(Time, AcceptsWithoutFractionAndOffsetZero) {
  EXPECT_EQ(*parse_time("1970-01-01T00:00:01Z"), 1000);
  EXPECT_EQ(*parse_time("1970-01-01T00:00:01+00:00"), 1000);
  EXPECT_EQ(*parse_time("1970-01-01T00:00:01.5Z"), 1500);
}

TEST(Time, RejectsGarbage) {
  EXPECT_FALSE(parse_time("yesterday").ok());
  EXPECT_FALSE(parse_time("2026-02-30T00:00:00Z").ok());
  EXPECT_FALSE(parse_time("2026-11-23T25:00:00Z").ok());
  EXPECT_FALSE(parse_time("2026-11-23T10:00:00+09:00").ok());
  EXPECT_FALSE(parse_time("2026-11-23T10:00:00").ok());
}

// sscanf alone would read these (found by fuzz_envelope): one text is one time.
TEST(Time, RejectsSpacesAndSignsInsideTheFields) {
  for (const char* bad : {"2026- 5-28T 9:00:00Z", "2026-+5-28T09:-0:00Z", "-999-01-01T00:00:00Z",
                          " 2026-05-28T09:00:00Z", "2026-05-28t09:00:00Z", "2026-05-28T09:00:0Z"}) {
    EXPECT_FALSE(parse_time(bad).ok()) << bad;
  }
  EXPECT_TRUE(parse_time("2026-05-28T09:00:00Z").ok());
}

TEST(Time, TimeOfDay) {
  EXPECT_EQ(*parse_time_of_day("02:30"), 150);
  EXPECT_FALSE(parse_time_of_day("24:00").ok());
  EXPECT_FALSE(parse_time_of_day("2:30").ok());
}

}  // namespace printrelay
