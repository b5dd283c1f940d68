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

TEST(RenderCampaignPlan, ObjectListExcludedAndWaves) {
  const std::string sha(64, 'a');
  Json plan = {
      {"name", "spring"},
      {"model", "MX-4070"},
      {"components",
       {{{"component", "main"}, {"version", "2.0.0"}, {"artifact", sha}, {"size", 10}},
        {{"component", "controller"}, {"version", "2.2.0"}, {"artifact", sha}, {"size", 10}}}},
      {"job_params",
       {{"forbidden_windows",
         {{{"from", "09:00"}, {"to", "17:00"}, {"days", {"mon-fri"}}, {"utc_offset_min", 60}}}},
        {"deferral",
         {{"max_count", 2}, {"max_period_s", 7200}, {"step_s", 600}, {"when_exhausted", "fail"}}},
        {"max_attempts", 3}}},
      {"expires_at", "2026-11-26T10:00:00.000Z"},
      {"transmit_at", nullptr},
      {"wave_sizes", {"1", "rest"}},
      {"failure_threshold", "5%"},
      {"threshold_devices", 1},
      {"targets",
       {{{"serial", "SIM-0002"},
         {"model", "MX-4070"},
         {"place", "Floor 2"},
         {"cells", {{"main", "Ver1.0.3\u21922.0.0"}, {"controller", "Ver2.1.0\u21922.2.0"}}}},
        {{"serial", "SIM-0003"},
         {"model", "MX-4070"},
         {"place", ""},
         {"cells", {{"main", "Ver?\u21922.0.0"}, {"controller", "Ver2.2.0"}}}}}},
      {"excluded",
       {{{"serial", "GHOST-1"},
         {"reason", "offline"},
         {"detail", "registered but never enrolled"}}}},
      {"waves",
       {{{"number", 1}, {"serials", {"SIM-0002"}}}, {{"number", 2}, {"serials", {"SIM-0003"}}}}}};
  std::ostringstream out;
  print_campaign_plan(plan, out);
  const std::string text = out.str();
  EXPECT_NE(text.find("COMPONENTS   main 2.0.0 (aaaaaaaaaaaa), controller 2.2.0 (aaaaaaaaaaaa)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("FORBIDDEN    mon-fri 09:00-17:00 (UTC+01:00)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("DEFERRAL     at most 2, within 7200 s, 600 s each, then fail\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("THRESHOLD    5% (1 device in error)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("OBJECTS: 2 devices\n"
                      "SERIAL    MODEL    PLACE    MAIN            CONTROLLER\n"
                      "SIM-0002  MX-4070  Floor 2  Ver1.0.3\u21922.0.0  Ver2.1.0\u21922.2.0\n"
                      "SIM-0003  MX-4070  -        Ver?\u21922.0.0      Ver2.2.0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("EXCLUDED: 1 device\n"
                      "SERIAL   REASON   DETAIL\n"
                      "GHOST-1  offline  registered but never enrolled\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("WAVES\nWAVE  DEVICES\n1     1\n2     1\n"), std::string::npos) << text;
}

TEST(RenderCampaigns, ListWithTallies) {
  std::ostringstream out;
  print_campaigns(Json::array({{{"id", "c-1"},
                                {"name", "spring"},
                                {"state", "paused"},
                                {"model", "MX-4070"},
                                {"created_at", "2026-11-23T10:00:00.000Z"},
                                {"tally",
                                 {{"total", 200},
                                  {"pending", 150},
                                  {"completed", 30},
                                  {"waiting_for_re_update", 10},
                                  {"error", 10}}}}}),
                  out);
  EXPECT_EQ(
      out.str(),
      "ID   NAME    STATE   MODEL    TOTAL  COMPLETED  WAITING FOR RE-UPDATE  ERROR  PENDING  "
      "CREATED\n"
      "c-1  spring  paused  MX-4070  200    30         10                     10     150      "
      "2026-11-23 10:00:00\n");
}

TEST(RenderCampaignDetail, HeaderDevicesAndResultsOfFig46) {
  Json c = {
      {"id", "c-1"},
      {"name", "spring"},
      {"state", "paused"},
      {"paused_reason", "1 of 3 devices in error"},
      {"model", "MX-4070"},
      {"components",
       {{{"component", "main"}, {"version", "2.0.0"}, {"artifact", std::string(64, 'b')}}}},
      {"failure_threshold", "1"},
      {"threshold_devices", 1},
      {"update_at", "2026-11-23T17:00:00.000Z"},
      {"expires_at", "2026-11-26T10:00:00.000Z"},
      {"created_at", "2026-11-23T10:00:00.000Z"},
      {"created_by", "admin"},
      {"waves",
       {{{"number", 1}, {"devices", 1}, {"started_at", "2026-11-23T10:00:00.000Z"}},
        {{"number", 2}, {"devices", 2}, {"started_at", nullptr}}}},
      {"tally",
       {{"total", 3},
        {"pending", 1},
        {"completed", 1},
        {"waiting_for_re_update", 0},
        {"error", 1}}},
      {"devices",
       {{{"serial", "SIM-1"},
         {"place", "Floor 1"},
         {"wave", 1},
         {"status", "succeeded"},
         {"update_at", "2026-11-23T17:00:00.000Z"},
         {"expected_end", "2026-11-23T17:02:00.000Z"},
         {"cells", {{"main", "Ver1.0\u21922.0.0"}}},
         {"result", "updating completed"},
         {"reason", ""}},
        {{"serial", "SIM-2"},
         {"place", ""},
         {"wave", 1},
         {"status", "failed"},
         {"update_at", nullptr},
         {"expected_end", nullptr},
         {"cells", {{"main", "Ver1.0\u21922.0.0"}}},
         {"result", "error"},
         {"reason", "did not boot"}}}},
      {"excluded", Json::array()},
      {"results",
       {{"completed", {"SIM-1"}}, {"waiting_for_re_update", Json::array()}, {"error", {"SIM-2"}}}},
      {"log", {{{"at", "2026-11-23T10:00:00.000Z"}, {"text", "created by admin for 3 devices"}}}}};
  std::ostringstream out;
  print_campaign_detail(Json{{"campaign", c}}, out);
  const std::string text = out.str();
  EXPECT_EQ(text.rfind("ID           c-1\nNAME         spring\nSTATE        paused\n"
                       "PAUSED       1 of 3 devices in error\n",
                       0),
            0u)
      << text;
  EXPECT_NE(text.find("UPDATE AT    2026-11-23 17:00:00\n"), std::string::npos) << text;
  EXPECT_NE(text.find("TALLY        3 devices: 1 completed, 0 waiting for re-updating, 1 error, 1 "
                      "pending\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("WAVE  DEVICES  STARTED\n1     1        2026-11-23 10:00:00\n"
                      "2     2        not yet\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("SERIAL  PLACE    WAVE  STATUS     UPDATE AT            EXPECTED END         "
                      "MAIN          RESULT              REASON\n"
                      "SIM-1   Floor 1  1     succeeded  2026-11-23 17:00:00  2026-11-23 17:02:00  "
                      "Ver1.0\u21922.0.0  updating completed  -\n"
                      "SIM-2   -        1     failed     -                    -                    "
                      "Ver1.0\u21922.0.0  error               did not boot\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("EXCLUDED: 0 devices\n"), std::string::npos) << text;
  EXPECT_NE(text.find("RESULTS\n"
                      "RESULT                   COUNT  SERIALS\n"
                      "updating completed       1      SIM-1\n"
                      "waiting for re-updating  0      -\n"
                      "error                    1      SIM-2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("LOG\nAT                   TEXT\n2026-11-23 10:00:00  created by admin"),
            std::string::npos)
      << text;
}

TEST(RenderFirmwareHistory, DetailPerEvent) {
  auto entry = [](const char* event, Json detail) {
    return Json{{"event", event}, {"detail", std::move(detail)}};
  };
  EXPECT_EQ(firmware_history_detail(entry("sent", {{"from", 1048576}, {"bytes", 524288}})),
            "512.0 KiB from 1048576");
  EXPECT_EQ(firmware_history_detail(entry(
                "checked", {{"offers",
                             {{{"component", "main"}, {"current", "1.0.3"}, {"version", "2.0.0"}},
                              {{"component", "adf"}, {"current", "0.9"}, {"version", "1.0"}}}}})),
            "offers main 1.0.3\u21922.0.0, adf 0.9\u21921.0");
  EXPECT_EQ(firmware_history_detail(entry("checked", {{"offers", Json::array()}})), "no offers");
  EXPECT_EQ(firmware_history_detail(entry("installed", {{"previous", "1.0.3"}})), "previous 1.0.3");
  EXPECT_EQ(
      firmware_history_detail(entry("failed", {{"previous", "1.0.3"}, {"reason", "bad boot"}})),
      "bad boot (previous 1.0.3)");
  EXPECT_EQ(firmware_history_detail(entry("failed", {{"previous", ""}, {"reason", "expired"}})),
            "expired");
  EXPECT_EQ(firmware_history_detail(entry("rolled-back", {{"to", "1.0"}})), "{\"to\":\"1.0\"}");

  std::ostringstream out;
  print_firmware_history(Json::array({{{"at", "2026-11-23T10:00:00.000Z"},
                                       {"event", "installed"},
                                       {"component", "main"},
                                       {"version", "2.0.0"},
                                       {"artifact", std::string(64, 'a')},
                                       {"job_id", "j-1"},
                                       {"detail", {{"previous", "1.0.3"}}}},
                                      {{"at", "2026-11-23T09:00:00.000Z"},
                                       {"event", "checked"},
                                       {"component", ""},
                                       {"version", ""},
                                       {"artifact", ""},
                                       {"job_id", ""},
                                       {"detail", {{"offers", Json::array()}}}}}),
                         out);
  EXPECT_EQ(
      out.str(),
      "AT                   EVENT      COMPONENT  VERSION  ARTIFACT      JOB  DETAIL\n"
      "2026-11-23 10:00:00  installed  main       2.0.0    aaaaaaaaaaaa  j-1  previous 1.0.3\n"
      "2026-11-23 09:00:00  checked    -          -        -             -    no offers\n");
}

TEST(RenderCreatedJob, PlannedTimeSignerAndCause) {
  Json job = {
      {"id", "j-1"},
      {"serial", "SIM-1"},
      {"kind", "firmware"},
      {"state", "waiting"},
      {"execute_at", "2026-11-23T17:00:00.000Z"},
      {"expires_at", "2026-11-26T10:00:00.000Z"},
      {"params",
       {{"envelope",
         {{"text", R"({"id":"0123456789abcdef0123456789abcdef","key_id":"3f9a0c1d2e4b5a67"})"},
          {"signature", std::string(128, 'a')}}}}}};
  std::ostringstream out;
  print_created_job(job,
                    Json::array({{{"cause",
                                   "created by admin; update at 2026-11-23T17:00:00.000Z; "
                                   "moved from 10:00 to 17:00"}}}),
                    out);
  const std::string text = out.str();
  EXPECT_EQ(text.rfind("j-1\nID ", 0), 0u) << text;
  EXPECT_NE(
      text.find("execute at  2026-11-23 17:00:00\n"
                "expires at  2026-11-26 10:00:00\n"
                "signed by   key 3f9a0c1d2e4b5a67 (envelope 0123456789abcdef0123456789abcdef)\n"
                "created     created by admin; update at 2026-11-23T17:00:00.000Z; moved from "
                "10:00 to 17:00\n"),
      std::string::npos)
      << text;
}

TEST(RenderBilling, PeriodRowsAndFlags) {
  Json reply = {
      {"from", "2026-11-01T00:00:00.000Z"},
      {"to", "2026-12-01T00:00:00.000Z"},
      {"rows",
       {{{"serial", "S-1"},
         {"counter", "total"},
         {"start", 1000},
         {"end", 80},
         {"difference", 250},
         {"flags",
          {{{"kind", "gap"},
            {"at", "2026-11-02T00:00:00.000Z"},
            {"until", "2026-11-06T00:00:00.000Z"}},
           {{"kind", "reset"}, {"counter", "total"}, {"at", "2026-11-08T00:00:00.000Z"}}}}},
        {{"serial", "S-2"},
         {"counter", ""},
         {"start", nullptr},
         {"end", nullptr},
         {"difference", nullptr},
         {"flags", {{{"kind", "no_readings"}}}}}}}};
  std::ostringstream out;
  print_billing(reply, out);
  const std::string text = out.str();
  EXPECT_EQ(
      text.rfind("period 2026-11-01 00:00:00 to 2026-12-01 00:00:00\nSERIAL  COUNTER  START  END"
                 "  DIFFERENCE  FLAGS\n",
                 0),
      0u)
      << text;
  EXPECT_NE(text.find("S-1     total    1000   80   250         gap 2026-11-02 00:00:00 to "
                      "2026-11-06 00:00:00, reset 2026-11-08 00:00:00\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("S-2     -        -      -    -           no_readings\n"), std::string::npos)
      << text;
}

TEST(RenderMonitoring, BeforeAnyStructureReportAndWithNotes) {
  std::ostringstream out;
  print_device_monitoring({{"serial", "SIM-2"},
                           {"model", "MX-4070"},
                           {"compatibility", nullptr},
                           {"structure_at", nullptr},
                           {"troubles", Json::array()},
                           {"forecasts",
                            {{{"supply", "drum"},
                              {"confidence", "too_few_readings"},
                              {"level_pct", 80},
                              {"pct_per_day", nullptr},
                              {"days_until_empty", nullptr},
                              {"empty_at", nullptr},
                              {"low", false},
                              {"reason", "1 reading since the last replacement"}}}},
                           {"notes", {"troubles: window_h must be at least one minute"}}},
                          out);
  EXPECT_EQ(out.str(),
            "SERIAL         SIM-2\n"
            "MODEL          MX-4070\n"
            "STRUCTURE      -\n"
            "COMPATIBILITY  - (no structure report yet)\n"
            "\nTROUBLES\n"
            "  -\n"
            "\nSUPPLY FORECASTS\n"
            "SUPPLY  LEVEL  USE/DAY  DAYS LEFT  EMPTY AT  LOW  REASON\n"
            "drum    80%    -        -          -         no   1 reading since the last "
            "replacement\n"
            "\nNOTES\n"
            "  troubles: window_h must be at least one minute\n");
}

TEST(RenderAuthorisations, ValidExpiredAndUnreadable) {
  std::ostringstream out;
  print_authorisations(
      {{{"model", "MX-4070"},
        {"versions", {{"adf", "1.0.0"}, {"main", "2.0.0"}}},
        {"expires_at", "2026-12-23T10:00:00.000Z"},
        {"expired", true},
        {"envelope_id", "e1"},
        {"key_id", "k1"},
        {"signed_at", "2026-11-23T10:00:00.000Z"}},
       {{"model", "MX-5000"}, {"problem", "the envelope is not an authorisation"}}},
      out);
  EXPECT_EQ(out.str(),
            "MODEL    VERSIONS               EXPIRES              STATE                          "
            "       ENVELOPE  KEY ID  SIGNED AT\n"
            "MX-4070  adf=1.0.0, main=2.0.0  2026-12-23 10:00:00  expired                        "
            "       e1        k1      2026-11-23 10:00:00\n"
            "MX-5000  -                      -                    the envelope is not an "
            "authorisation  -         -       -\n");
}

}  // namespace
}  // namespace printrelay::cli
