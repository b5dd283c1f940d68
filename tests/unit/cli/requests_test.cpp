#include "cli/requests.h"

#include <gtest/gtest.h>

#include "core/time.h"

namespace printrelay::cli {
namespace {

const TimeMs kNow = *parse_time("2026-11-23T09:15:00Z");

TEST(TimeInput, AbsoluteAndRelative) {
  EXPECT_EQ(*parse_time_input("2026-11-23T10:00:00Z", kNow), "2026-11-23T10:00:00.000Z");
  EXPECT_EQ(*parse_time_input("+10m", kNow), "2026-11-23T09:25:00.000Z");
  EXPECT_EQ(*parse_time_input("+2h", kNow), "2026-11-23T11:15:00.000Z");
  EXPECT_EQ(*parse_time_input("+1d", kNow), "2026-11-24T09:15:00.000Z");
  EXPECT_EQ(*parse_time_input("+30s", kNow), "2026-11-23T09:15:30.000Z");
  EXPECT_EQ(*parse_time_input("-1d", kNow), "2026-11-22T09:15:00.000Z");
  for (const char* bad : {"+", "+m", "+10", "+10w", "+-1h", "--1h", "10m", "2026-11-23 10:00:00",
                          "2026-11-23T10:00:00+02:00"}) {
    EXPECT_FALSE(parse_time_input(bad, kNow).ok()) << bad;
  }
}

TEST(Setting, ValuesAreTyped) {
  auto s = parse_setting("energy_saver=true");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->first, "energy_saver");
  EXPECT_EQ(s->second, Json(true));
  EXPECT_EQ(parse_setting("sleep_min=-15")->second, Json(-15));
  EXPECT_TRUE(parse_setting("sleep_min=15")->second.is_number_integer());
  EXPECT_EQ(parse_setting("name=Floor 3=east")->second, Json("Floor 3=east"));
  EXPECT_EQ(parse_setting("v=1.5")->second, Json("1.5"));
  EXPECT_EQ(parse_setting("v=True")->second, Json("True"));
  EXPECT_EQ(parse_setting("v=")->second, Json(""));
  EXPECT_FALSE(parse_setting("novalue").ok());
  EXPECT_FALSE(parse_setting("=x").ok());
}

TEST(Query, EncodesAndSkipsEmpty) {
  EXPECT_EQ(with_query("/v1/devices", {{"state", ""}, {"q", "Floor 3&east"}}),
            "/v1/devices?q=Floor%203%26east");
  EXPECT_EQ(with_query("/v1/jobs", {{"serial", "SIM-1"}, {"all", "1"}}),
            "/v1/jobs?serial=SIM-1&all=1");
  EXPECT_EQ(with_query("/v1/jobs", {}), "/v1/jobs");
}

TEST(CollectJob, MapsToProtocolBody) {
  CollectJobArgs a{"SIM-0001", "counters, supplies", {"+10m", "", "2026-11-24T10:00:00Z"}};
  auto call = collect_job_call(a, kNow);
  ASSERT_TRUE(call.ok()) << call.error().message;
  EXPECT_EQ(call->method, "POST");
  EXPECT_EQ(call->path, "/v1/jobs");
  EXPECT_EQ(*call->body, (Json{{"serial", "SIM-0001"},
                               {"kind", "collect"},
                               {"params", {{"data_sets", {"counters", "supplies"}}}},
                               {"not_before", "2026-11-23T09:25:00.000Z"},
                               {"expires_at", "2026-11-24T10:00:00.000Z"}}));
}

TEST(CollectJob, RejectsUnknownDataSetsBadSerialAndBadTimes) {
  EXPECT_FALSE(collect_job_call({"SIM-1", "counters,toner", {}}, kNow).ok());
  EXPECT_FALSE(collect_job_call({"SIM-1", "counters,,supplies", {}}, kNow).ok());
  EXPECT_FALSE(collect_job_call({"SIM 1", "counters", {}}, kNow).ok());
  EXPECT_FALSE(collect_job_call({"", "counters", {}}, kNow).ok());
  auto bad_time = collect_job_call({"SIM-1", "counters", {"", "tomorrow", ""}}, kNow);
  ASSERT_FALSE(bad_time.ok());
  EXPECT_NE(bad_time.error().message.find("--execute-at"), std::string::npos);
}

TEST(ConfigureJob, CollectsSettings) {
  auto call =
      configure_job_call({"SIM-1", {"duplex=true", "sleep_min=15", "name=Lobby"}, {}}, kNow);
  ASSERT_TRUE(call.ok());
  EXPECT_EQ((*call->body)["params"],
            (Json{{"settings", {{"duplex", true}, {"sleep_min", 15}, {"name", "Lobby"}}}}));
  EXPECT_FALSE((*call->body).contains("not_before"));
  EXPECT_FALSE(configure_job_call({"SIM-1", {}, {}}, kNow).ok());
  EXPECT_FALSE(configure_job_call({"SIM-1", {"a=1", "a=2"}, {}}, kNow).ok());
}

TEST(ScheduleJob, BuildsPollPolicy) {
  ScheduleJobArgs a;
  a.serial = "SIM-1";
  a.interval_s = 600;
  a.times_of_day = "02:00,14:30";
  a.on_power_on = "false";
  a.when_counter = {"total>=100000"};
  a.when_error = {"SC542"};
  auto call = schedule_job_call(a, kNow);
  ASSERT_TRUE(call.ok()) << call.error().message;
  EXPECT_EQ((*call->body)["kind"], "schedule");
  EXPECT_EQ((*call->body)["params"]["poll_policy"],
            (Json{{"interval_s", 600},
                  {"times_of_day", {"02:00", "14:30"}},
                  {"on_power_on", false},
                  {"conditions",
                   {{{"kind", "counter_at_least"}, {"counter", "total"}, {"value", 100000}},
                    {{"kind", "error_code"}, {"code", "SC542"}}}}}));
}

TEST(ScheduleJob, RejectsBadInput) {
  ScheduleJobArgs a;
  a.serial = "SIM-1";
  EXPECT_FALSE(schedule_job_call(a, kNow).ok());  // nothing to change
  a.interval_s = 2;
  EXPECT_FALSE(schedule_job_call(a, kNow).ok());
  a.interval_s = 60;
  a.times_of_day = "25:00";
  EXPECT_FALSE(schedule_job_call(a, kNow).ok());
  a.times_of_day = "";
  a.on_power_on = "yes";
  EXPECT_FALSE(schedule_job_call(a, kNow).ok());
  a.on_power_on = "";
  a.when_counter = {"total>100"};
  EXPECT_FALSE(schedule_job_call(a, kNow).ok());
  a.when_counter = {"total>=100"};
  EXPECT_TRUE(schedule_job_call(a, kNow).ok());
}

TEST(RebootJob, HasEmptyParams) {
  auto call = reboot_job_call("SIM-1", {}, kNow);
  ASSERT_TRUE(call.ok());
  EXPECT_EQ(*call->body,
            (Json{{"serial", "SIM-1"}, {"kind", "reboot"}, {"params", Json::object()}}));
}

TEST(RegistrationCsv, ParsesQuotedFieldsAnyColumnOrder) {
  auto import = parse_registrations_csv(
      "model,serial,enrollment_code,place,customer,contact\r\n"
      "MX-4070,SIM-0001,k3y-2026,\"Floor 3, east\",ACME,\"Ann \"\"the admin\"\"\"\r\n"
      "\r\n"
      "MX-4070,SIM-0002,k4y-2026,,,\n");
  ASSERT_TRUE(import.problems.empty()) << import.problems[0];
  ASSERT_EQ(import.rows.size(), 2u);
  EXPECT_EQ(import.rows[0].first, 2);
  EXPECT_EQ(import.rows[0].second.serial, "SIM-0001");
  EXPECT_EQ(import.rows[0].second.place, "Floor 3, east");
  EXPECT_EQ(import.rows[0].second.contact, "Ann \"the admin\"");
  EXPECT_EQ(import.rows[1].first, 4);
  EXPECT_EQ(import.rows[1].second.enrollment_code, "k4y-2026");
  EXPECT_EQ(*registration_call(import.rows[1].second).body,
            (Json{{"serial", "SIM-0002"},
                  {"model", "MX-4070"},
                  {"place", ""},
                  {"customer", ""},
                  {"contact", ""},
                  {"enrollment_code", "k4y-2026"}}));
}

TEST(RegistrationCsv, ReportsEveryBadLineByNumber) {
  auto import = parse_registrations_csv(
      "serial,model,place,customer,contact,enrollment_code\n"
      "SIM-1,MX,,,,code\n"
      "SIM 2,MX,,,,code\n"
      "SIM-3,,,,,code\n"
      "SIM-4,MX,,,\n"
      "SIM-1,MX,,,,code\n"
      "SIM-6,MX,,,,abc\n");
  ASSERT_EQ(import.problems.size(), 5u);
  EXPECT_EQ(import.problems[0].rfind("line 3: serial", 0), 0u) << import.problems[0];
  EXPECT_EQ(import.problems[1].rfind("line 4: model", 0), 0u) << import.problems[1];
  EXPECT_EQ(import.problems[2].rfind("line 5: expected 6 fields", 0), 0u) << import.problems[2];
  EXPECT_EQ(import.problems[3].rfind("line 6: serial SIM-1 appears twice", 0), 0u);
  EXPECT_EQ(import.problems[4].rfind("line 7: enrollment_code", 0), 0u);
}

TEST(RegistrationCsv, RejectsBadHeader) {
  EXPECT_FALSE(parse_registrations_csv("serial,model,colour\nS,M,x\n").problems.empty());
  EXPECT_FALSE(parse_registrations_csv("serial,place\nS,x\n").problems.empty());
  EXPECT_FALSE(parse_registrations_csv("serial,model,enrollment_code\n").problems.empty());
  auto quoted = parse_registrations_csv("serial,model,enrollment_code\n\"S,M,c\n");
  ASSERT_EQ(quoted.problems.size(), 1u);
  EXPECT_NE(quoted.problems[0].find("unterminated"), std::string::npos);
}

}  // namespace
}  // namespace printrelay::cli
