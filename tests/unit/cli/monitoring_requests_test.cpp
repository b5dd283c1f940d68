// The pure side of relayctl's monitoring commands: table files (JSON, `tables show --json`
// answers, code-table CSV) and the calls made for tables, notifications and a device's monitoring.
#include "cli/monitoring_requests.h"

#include <gtest/gtest.h>

namespace printrelay::cli {
namespace {

TEST(TableFile, JsonBodyIsSentAsItIs) {
  auto f = parse_table_file("troubles", "  {\"jam_rate\": {\"count\": 4}}\n");
  ASSERT_TRUE(f.problems.empty()) << f.problems[0];
  EXPECT_EQ(f.body, (Json{{"jam_rate", {{"count", 4}}}}));
  EXPECT_FALSE(f.revision);

  // A body is not judged here: the relay names the entry at fault.
  f = parse_table_file("error_codes", R"([{"code": "SC542"}])");
  ASSERT_TRUE(f.problems.empty());
  EXPECT_EQ(f.body, (Json{{{"code", "SC542"}}}));
}

TEST(TableFile, ShowAnswerGivesTheBodyAndTheRevisionItWasReadAt) {
  auto f = parse_table_file("forecast",
                            R"({"name": "forecast", "revision": 7, "entries": 1, "updated_at": null,
                      "updated_by": "", "body": {"lead_time_days": 10}})");
  ASSERT_TRUE(f.problems.empty()) << f.problems[0];
  EXPECT_EQ(f.body, (Json{{"lead_time_days", 10}}));
  EXPECT_EQ(f.revision, 7);

  f = parse_table_file("troubles", R"({"name": "forecast", "revision": 7, "body": {}})");
  ASSERT_EQ(f.problems.size(), 1u);
  EXPECT_EQ(f.problems[0], "the file holds table forecast, not troubles");
  f = parse_table_file("forecast", R"({"name": "forecast", "revision": -1, "body": {}})");
  ASSERT_EQ(f.problems.size(), 1u);
}

TEST(TableFile, BadJsonSaysWhere) {
  auto f = parse_table_file("troubles", "{\"jam_rate\": }");
  ASSERT_EQ(f.problems.size(), 1u);
  EXPECT_EQ(f.problems[0].rfind("not valid JSON: parse error at line 1, column 14", 0), 0u)
      << f.problems[0];
  f = parse_table_file("order_codes", "  \n");
  ASSERT_EQ(f.problems.size(), 1u);
  EXPECT_EQ(f.problems[0], "the file is empty");
}

TEST(TableFile, CodeTableCsvInFileOrderWithOptionalColumns) {
  auto f = parse_table_file("error_codes",
                            "text,code\n"
                            "\"Jam, tray 2\",J-TRAY2\n"
                            "Fuser,SC542\n");
  ASSERT_TRUE(f.problems.empty()) << f.problems[0];
  EXPECT_EQ(f.body, (Json{{{"code", "J-TRAY2"}, {"text", "Jam, tray 2"}},
                          {{"code", "SC542"}, {"text", "Fuser"}}}));

  f = parse_table_file("order_codes", "code,text,action\nA,B,C\n");
  ASSERT_EQ(f.problems.size(), 1u);
  EXPECT_EQ(f.problems[0], "line 1: unknown column 'action' (header: code,text)");
  f = parse_table_file("error_codes", "code,action\nA,B\n");
  ASSERT_EQ(f.problems.size(), 1u);
  EXPECT_EQ(f.problems[0], "line 1: missing column 'text' (header: code,text,action,urgency)");
  f = parse_table_file("error_codes", "code,text\n");
  ASSERT_EQ(f.problems.size(), 1u);
  EXPECT_EQ(f.problems[0], "no rows after the header");
  f = parse_table_file("error_codes", "code,text\n\"SC 542\",Fuser\nSC543,\"open\n");
  ASSERT_EQ(f.problems.size(), 2u);
  EXPECT_EQ(f.problems[0], "line 2: code must be 1-32 printable characters without spaces");
  EXPECT_EQ(f.problems[1], "line 3: unterminated quoted field");
}

TEST(TableFile, OnlyCodeTablesTakeCsv) {
  EXPECT_TRUE(is_code_table("error_codes"));
  EXPECT_TRUE(is_code_table("order_codes"));
  EXPECT_FALSE(is_code_table("auto_updates"));
  auto f = parse_table_file("notification_rules", "name,emails\nops,ops@example.com\n");
  ASSERT_EQ(f.problems.size(), 1u);
  EXPECT_EQ(f.problems[0].rfind("not valid JSON: ", 0), 0u) << f.problems[0];
}

TEST(MonitoringCalls, PathsAndChecks) {
  const ApiCall put = table_put_call("error_codes", Json::array(), 3);
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(put.path, "/v1/tables/error_codes");
  EXPECT_EQ(put.body, (Json{{"body", Json::array()}, {"revision", 3}}));

  EXPECT_EQ(notifications_call("", std::nullopt)->path, "/v1/notifications");
  EXPECT_EQ(notifications_call("SIM-1", 5)->path, "/v1/notifications?serial=SIM-1&limit=5");
  EXPECT_FALSE(notifications_call("SIM 1", std::nullopt));
  EXPECT_FALSE(notifications_call("", 1001));

  EXPECT_EQ(device_monitoring_call("SIM-1")->path, "/v1/devices/SIM-1/monitoring");
  EXPECT_FALSE(device_monitoring_call("../x"));
}

}  // namespace
}  // namespace printrelay::cli
