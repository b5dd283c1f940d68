#include "cli/render.h"

#include <gtest/gtest.h>

#include <sstream>

#include "cli/relay_client.h"
#include "core/time.h"

namespace printrelay::cli {
namespace {

Json report(const char* kind, Json body) {
  return {{"kind", kind}, {"body", std::move(body)}, {"created_at", "2026-11-23T09:15:00.000Z"}};
}

TEST(ReportSummary, PerKind) {
  EXPECT_EQ(report_summary(report("counters", {{"total", 12345}, {"color", 345}, {"mono", 12000}})),
            "total=12345 color=345 mono=12000");
  EXPECT_EQ(report_summary(report("counters", {{"total", 5}})), "total=5 color=- mono=-");
  EXPECT_EQ(report_summary(
                report("supplies", {{"supplies",
                                     {{{"name", "toner-black"}, {"level", 40}},
                                      {{"name", "toner-cyan"}, {"level", 12}},
                                      {{"name", "drum"}, {"level", 300}, {"capacity", 1000}}}}})),
            "lowest toner-cyan 12%");
  EXPECT_EQ(report_summary(report(
                "supplies", {{"toner-black", {{"level_pct", 7}}}, {"waste", {{"level", 50}}}})),
            "lowest toner-black 7%");
  EXPECT_EQ(
      report_summary(report(
          "alert", {{"type", "service_call"}, {"code", "SC542"}, {"message", "fusing unit"}})),
      "SC542 service_call fusing unit");
  EXPECT_EQ(report_summary(report("message", {{"text", "paper tray 2 is broken"}})),
            "paper tray 2 is broken");
  EXPECT_EQ(report_summary(report("order", {{"item", "toner-black"}, {"quantity", 2}})),
            "toner-black x 2");
  EXPECT_EQ(report_summary(report("identification", {{"a", 1}, {"b", 2}, {"c", 3}})), "3 keys");
}

TEST(ItemsOf, BareOrWrapped) {
  Json rows = Json::array({{{"id", 1}}});
  EXPECT_EQ(items_of(rows, "jobs"), rows);
  EXPECT_EQ(items_of(Json{{"jobs", rows}}, "jobs"), rows);
  EXPECT_EQ(items_of(Json{{"items", rows}, {"count", 1}}, "jobs"), rows);
  EXPECT_TRUE(items_of(Json::object(), "jobs").empty());
}

TEST(PrintJobs, Fig9Columns) {
  Json job = {{"id", "j-1"},
              {"serial", "SIM-0001"},
              {"place", "Floor 3"},
              {"kind", "collect"},
              {"data_type", "counters,supplies"},
              {"managing_relay", "root-1"},
              {"instructing_user", "admin"},
              {"not_before", "2026-11-23T10:00:00.000Z"},
              {"executed_at", nullptr},
              {"state", "waiting"}};
  std::ostringstream out;
  print_jobs(Json::array({job}), out);
  EXPECT_EQ(out.str(),
            "ID   SERIAL    PLACE    INSTRUCTION  DATA TYPE          RELAY   USER   "
            "INSTRUCTED           EXECUTED  STATUS\n"
            "j-1  SIM-0001  Floor 3  collect      counters,supplies  root-1  admin  "
            "2026-11-23 10:00:00  -         waiting\n");
}

TEST(PrintDevices, CountsOpenAlertsAndShowsTimes) {
  Json d = {{"serial", "SIM-0001"}, {"model", "MX-4070"},
            {"place", ""},          {"last_seen", "2026-11-23T09:15:00.000Z"},
            {"state", "idle"},      {"open_alerts", Json::array({{{"id", 1}}, {{"id", 2}}})}};
  std::ostringstream out;
  print_devices(Json::array({d}), out);
  EXPECT_EQ(out.str(),
            "SERIAL    MODEL    PLACE  CUSTOMER  STATE  LAST SEEN            ALERTS\n"
            "SIM-0001  MX-4070  -      -         idle   2026-11-23 09:15:00  2\n");
}

TEST(PrintJobDetail, ListsTransitions) {
  Json reply = {{"job", {{"id", "j-1"}, {"state", "acquired"}}},
                {"transitions",
                 {{{"at", "2026-11-23T09:15:00.000Z"},
                   {"from", "waiting"},
                   {"to", "waiting"},
                   {"cause", "created"}},
                  {{"at", "2026-11-23T09:16:00.000Z"},
                   {"from", "waiting"},
                   {"to", "acquired"},
                   {"cause", "device: acquired"}}}}};
  std::ostringstream out;
  print_job_detail(reply, out);
  EXPECT_NE(out.str().find("AT                   FROM     TO        CAUSE\n"
                           "2026-11-23 09:15:00  waiting  waiting   created\n"
                           "2026-11-23 09:16:00  waiting  acquired  device: acquired\n"),
            std::string::npos)
      << out.str();
}

TEST(PrintDeviceDetail, ShowsSectionsFromLatestReports) {
  Json reply = {
      {"device",
       {{"serial", "SIM-0001"},
        {"model", "MX-4070"},
        {"state", "idle"},
        {"last_seen", "2026-11-23T09:15:00.000Z"},
        {"firmware", {{"main", "1.0.3"}}}}},
      {"registration", {{"place", "Floor 3"}, {"customer", "ACME"}}},
      {"latest",
       {{"counters", report("counters", {{"total", 10}, {"paper", {{"A4", 7}}}})},
        {"supplies",
         report("supplies",
                {{"supplies", {{{"name", "toner-black"}, {"level", 40}, {"state", "ok"}}}}})}}},
      {"open_alerts", Json::array()},
      {"poll_policy",
       {{"interval_s", 900},
        {"times_of_day", {"02:00"}},
        {"on_power_on", true},
        {"conditions", {{{"kind", "error_code"}, {"code", "SC542"}}}}}}};
  std::ostringstream out;
  print_device_detail(reply, out);
  std::string s = out.str();
  EXPECT_NE(s.find("PLACE      Floor 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("FIRMWARE   main=1.0.3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("COUNTERS (2026-11-23 09:15:00)\n  paper.A4  7\n  total     10\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("  toner-black  40%    ok\n"), std::string::npos) << s;
  EXPECT_NE(s.find("  interval     900 s\n"), std::string::npos) << s;
  EXPECT_NE(s.find("  conditions   error SC542\n"), std::string::npos) << s;
}

TEST(EventLine, PerKind) {
  const TimeMs now = *parse_time("2026-11-23T12:00:00Z");
  Json job_event = {{"job", {{"id", "j-1"}, {"serial", "SIM-1"}, {"kind", "collect"}}},
                    {"transition",
                     {{"at", "2026-11-23T09:16:00.000Z"},
                      {"from", "waiting"},
                      {"to", "acquired"},
                      {"cause", "device: acquired"}}}};
  EXPECT_EQ(event_line("job", job_event, now),
            "2026-11-23 09:16:00 JOB SIM-1 j-1 collect waiting->acquired (device: acquired)");
  Json alert_event = {{"serial", "SIM-3"},
                      {"alert",
                       {{"code", "SC542"},
                        {"type", "service_call"},
                        {"message", "fuser"},
                        {"raised_at", "2026-11-23T09:17:00.000Z"}}}};
  EXPECT_EQ(event_line("alert", alert_event, now),
            "2026-11-23 09:17:00 ALERT SIM-3 SC542 service_call fuser");
  Json report_event = {{"serial", "SIM-3"},
                       {"report", {{"kind", "message"}, {"body", {{"text", "hi"}}}}}};
  EXPECT_EQ(event_line("report", report_event, now), "2026-11-23 12:00:00 REPORT SIM-3 message hi");
}

TEST(HttpError, UsesServerErrorBody) {
  EXPECT_EQ(
      describe_http_error(404, R"({"error": {"code": "not_found", "message": "no job j-9"}})"),
      "no job j-9 (not_found, HTTP 404)");
  EXPECT_EQ(describe_http_error(502, "Bad Gateway\n"), "relay answered HTTP 502: Bad Gateway");
}

}  // namespace
}  // namespace printrelay::cli
