#include "cli/table.h"

#include <gtest/gtest.h>

#include <sstream>

namespace printrelay::cli {
namespace {

TEST(Table, AlignsColumnsUnderHeaderAndShowsEmptyAsDash) {
  Table t({"SERIAL", "MODEL", "LAST SEEN"});
  t.add_row({"SIM-0001", "MX-4070", "2026-11-23 09:15:00"});
  t.add_row({"S2", "", "x\ty"});
  t.add_row({"S3"});
  std::ostringstream out;
  t.print(out);
  EXPECT_EQ(out.str(),
            "SERIAL    MODEL    LAST SEEN\n"
            "SIM-0001  MX-4070  2026-11-23 09:15:00\n"
            "S2        -        x y\n"
            "S3        -        -\n");
}

TEST(Table, WidthCountsUtf8CodePoints) {
  Table t({"PLACE", "X"});
  t.add_row({"Zürich", "1"});
  t.add_row({"Bern", "2"});
  std::ostringstream out;
  t.print(out);
  EXPECT_EQ(out.str(), "PLACE   X\nZürich  1\nBern    2\n");
}

TEST(DisplayTime, WireTimesShowAsUtcWithoutMillis) {
  EXPECT_EQ(display_time("2026-11-23T09:15:00.123Z"), "2026-11-23 09:15:00");
  EXPECT_EQ(display_time("2026-11-23T09:15:00+00:00"), "2026-11-23 09:15:00");
  EXPECT_EQ(display_time(Json()), "-");
  EXPECT_EQ(display_time(""), "-");
  EXPECT_EQ(display_time("yesterday"), "yesterday");
}

TEST(Display, ValuesAsCells) {
  EXPECT_EQ(display(Json()), "-");
  EXPECT_EQ(display(""), "-");
  EXPECT_EQ(display(42), "42");
  EXPECT_EQ(display(true), "yes");
  EXPECT_EQ(cell(Json{{"a", "b"}}, "a"), "b");
  EXPECT_EQ(cell(Json{{"a", "b"}}, "missing"), "-");
}

}  // namespace
}  // namespace printrelay::cli
