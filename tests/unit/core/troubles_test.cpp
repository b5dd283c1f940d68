#include "core/troubles.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "rule_test_support.h"

namespace printrelay {
namespace {

using namespace rule_test;

TEST(EventsFromReports, ReadsAlertsErrorLogsJamsCallsAndBoots) {
  std::vector<Report> reports = {
      report("r1", "error-log", kNow,
             {{"entries",
               {{{"at", "2026-11-23T08:00:00.000Z"},
                 {"type", "jam"},
                 {"code", "J-TRAY2"},
                 {"severity", "recovered"},
                 {"location", "tray2"}},
                {{"at", "2026-11-23T09:00:00.000Z"},
                 {"type", "service_call"},
                 {"code", "SC542"},
                 {"severity", "fatal"},
                 {"sc_type", "A"}},
                {{"at", "2026-11-23T09:30:00.000Z"},
                 {"type", "supply_empty"},
                 {"code", "toner-black-empty"}}}}}),
      // The alert the agent sent with the SC542 entry, stamped a moment later.
      report("r2", "alert", at("2026-11-23T09:00:00.004Z"),
             {{"type", "service_call"}, {"code", "SC542"}, {"sc_type", "A"}, {"message", "x"}}),
      report("r3", "boot", at("2026-11-23T10:00:00Z"), {{"reason", "power_on"}}),
      report(
          "r4", "jams", kNow,
          {{"total", 2},
           {"recent",
            {{{"at", "2026-11-22T07:00:00.000Z"}, {"location", "fuser"}, {"code", "J-FUSER"}}}}}),
      report("r5", "calls", kNow,
             {{"service_calls",
               {{{"code", "SC672"},
                 {"sc_type", "B"},
                 {"at", "2026-11-21T07:00:00.000Z"},
                 {"cleared_at", "2026-11-21T07:15:00.000Z"},
                 {"cleared_by", "reset"}},
                {{"code", "SC620"},
                 {"sc_type", "C"},
                 {"at", "2026-11-20T07:00:00.000Z"},
                 {"cleared_at", "2026-11-21T07:00:00.000Z"}}}}}),
      report("r6", "counters", kNow, {{"total", 5}}),
  };
  auto e = events_from_reports(reports);
  EXPECT_TRUE(e.notes.empty()) << e.notes.front();
  ASSERT_EQ(e.jams.size(), 2u);
  EXPECT_EQ(e.jams[0].location, "fuser");  // sorted by time
  EXPECT_EQ(e.jams[1].location, "tray2");
  EXPECT_EQ(e.jams[1].code, "J-TRAY2");
  EXPECT_EQ(e.jams[1].at, at("2026-11-23T08:00:00Z"));
  ASSERT_EQ(e.reboots.size(), 1u);
  ASSERT_EQ(e.calls.size(), 3u);
  EXPECT_EQ(e.calls[0].code, "SC620");
  EXPECT_EQ(e.calls[0].cleared_by, ClearedBy::kOther);  // no reboot near its clearing
  EXPECT_EQ(e.calls[1].code, "SC672");
  EXPECT_EQ(e.calls[1].cleared_by, ClearedBy::kReset);
  EXPECT_EQ(e.calls[1].cleared_at, at("2026-11-21T07:15:00Z"));
  // SC542 came twice (error-log and alert) and is one call, cleared by the boot that followed.
  EXPECT_EQ(e.calls[2].code, "SC542");
  EXPECT_EQ(e.calls[2].at, at("2026-11-23T09:00:00Z"));
  EXPECT_EQ(e.calls[2].sc_type, "A");
  EXPECT_EQ(e.calls[2].cleared_by, ClearedBy::kReboot);
  EXPECT_EQ(e.calls[2].cleared_at, at("2026-11-23T10:00:00Z"));
}

TEST(EventsFromReports, MergesDuplicatesWithinToleranceOnly) {
  Json entry = {{"at", "2026-11-23T08:00:00.000Z"},
                {"type", "jam"},
                {"code", "J-TRAY2"},
                {"location", "tray2"}};
  Json later = entry;
  later["at"] = "2026-11-23T08:00:05.000Z";  // exactly the tolerance: the same jam
  Json separate = entry;
  separate["at"] = "2026-11-23T08:00:10.001Z";  // 5.001 s after the last copy: another jam
  Json elsewhere = entry;
  elsewhere["location"] = "tray1";
  elsewhere["code"] = "J-TRAY1";
  // Two overlapping error-log reports (a periodic one and a collected full log).
  auto e = events_from_reports(
      {report("a", "error-log", kNow, {{"entries", {entry, later}}}),
       report("b", "error-log", kNow, {{"entries", {entry, later, separate, elsewhere}}})});
  ASSERT_EQ(e.jams.size(), 3u);
  EXPECT_EQ(e.jams[0].location, "tray1");
  EXPECT_EQ(e.jams[1].at, at("2026-11-23T08:00:00Z"));
  EXPECT_EQ(e.jams[2].at, at("2026-11-23T08:00:10.001Z"));
}

TEST(EventsFromReports, ClearingByRebootIsInferred) {
  auto calls = [](const char* cleared_at) {
    Json c = {{"code", "SC672"}, {"sc_type", "B"}, {"at", "2026-11-23T07:00:00.000Z"}};
    c["cleared_at"] = cleared_at ? Json(cleared_at) : Json();
    return Json{{"service_calls", {c}}};
  };
  TimeMs boot = at("2026-11-23T07:20:00Z");
  // Cleared 10 min from a boot report: by that reboot.
  auto near = events_from_reports({report("c", "calls", kNow, calls("2026-11-23T07:10:00.000Z")),
                                   report("b", "boot", boot, Json::object())});
  ASSERT_EQ(near.calls.size(), 1u);
  EXPECT_EQ(near.calls[0].cleared_by, ClearedBy::kReboot);
  EXPECT_EQ(near.calls[0].cleared_at, at("2026-11-23T07:10:00Z"));
  // 10 min 1 ms from it: something else cleared it.
  auto far = events_from_reports({report("c", "calls", kNow, calls("2026-11-23T07:09:59.999Z")),
                                  report("b", "boot", boot, Json::object())});
  EXPECT_EQ(far.calls[0].cleared_by, ClearedBy::kOther);
  // Never cleared, no boot after it: still open.
  auto open =
      events_from_reports({report("c", "calls", kNow, calls(nullptr)),
                           report("b", "boot", at("2026-11-23T06:00:00Z"), Json::object())});
  EXPECT_EQ(open.calls[0].cleared_by, ClearedBy::kNotCleared);
  EXPECT_FALSE(open.calls[0].cleared_at);
}

TEST(EventsFromReports, SkipsMalformedEntriesWithNotes) {
  auto e = events_from_reports({
      report("r1", "error-log", kNow,
             {{"entries",
               {{{"at", "yesterday"}, {"type", "jam"}, {"code", "J-1"}},
                {{"at", "2026-11-23T08:00:00Z"}, {"type", "service_call"}},
                "not an object",
                {{"at", "2026-11-23T08:00:00Z"}, {"type", "jam"}, {"code", "J-OK"}}}}}),
      report("r2", "error-log", kNow, {{"entries", "none"}}),
      report("r3", "alert", kNow, Json::array()),
      report("r4", "calls", kNow,
             {{"service_calls",
               {{{"code", "SC1"},
                 {"at", "2026-11-23T08:00:00Z"},
                 {"cleared_at", "2026-11-23T07:00:00Z"}},
                {{"code", "SC2"}, {"at", "2026-11-23T08:00:00Z"}, {"cleared_by", "reset"}},
                {{"code", "SC3"},
                 {"at", "2026-11-23T08:00:00Z"},
                 {"cleared_at", "2026-11-23T09:00:00Z"},
                 {"cleared_by", "magic"}}}}}),
      report("r5", "alert", kNow, {{"type", "part_eol"}, {"code", "drum-eol"}}),
  });
  ASSERT_EQ(e.jams.size(), 1u);
  EXPECT_EQ(e.jams[0].code, "J-OK");
  ASSERT_EQ(e.calls.size(), 3u);
  EXPECT_FALSE(e.calls[0].cleared_at);  // cleared before it happened: ignored
  EXPECT_FALSE(e.calls[1].cleared_at);  // cleared_by alone: ignored
  EXPECT_EQ(e.calls[2].cleared_by, ClearedBy::kOther);
  std::string all;
  for (const auto& n : e.notes) all += n + "\n";
  EXPECT_EQ(e.notes.size(), 8u) << all;
  for (const char* part :
       {"report r1 (error-log) entry 0: no RFC 3339 'at'", "entry 1: a service_call without a code",
        "entry 2: no RFC 3339 'at'", "report r2 (error-log): no 'entries' array",
        "report r3 (alert): body is not an object", "cleared_at before the call",
        "cleared_by without cleared_at", "cleared_by is not reset, reboot or other"}) {
    EXPECT_NE(all.find(part), std::string::npos) << part << "\n" << all;
  }
  EXPECT_TRUE(events_from_reports({}).jams.empty());
}

TEST(TroubleThresholds, DefaultsAndRoundTrip) {
  auto d = parse_trouble_thresholds(Json::object());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->jam_rate.count, 5);
  EXPECT_EQ(d->jam_rate.window_ms, 24 * kHour);
  EXPECT_EQ(d->repeated_jams.count, 3);
  EXPECT_EQ(d->repeated_jams.window_ms, 7 * kDay);
  EXPECT_EQ(d->sc_recurrence.urgency, Urgency::kHigh);
  EXPECT_TRUE(parse_trouble_thresholds(nullptr).ok());

  Json j = Json::parse(R"({
    "jam_rate": {"count": 8, "window_h": 12, "urgency": "high"},
    "repeated_jams": {"enabled": false},
    "sc_recurrence": {"count": 2, "window_h": 0.5, "lookback_h": 72, "cleared_by": "other"},
    "rising_errors": {"min_count": 3, "window_h": 24, "baseline_windows": 6, "factor": 1.5},
    "location_advice": {"tray2": "replace the tray 2 separation pad"}
  })");
  auto t = parse_trouble_thresholds(j);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->jam_rate.count, 8);
  EXPECT_EQ(t->jam_rate.window_ms, 12 * kHour);
  EXPECT_EQ(t->jam_rate.urgency, Urgency::kHigh);
  EXPECT_FALSE(t->repeated_jams.enabled);
  EXPECT_EQ(t->sc_recurrence.window_ms, 30 * kMin);
  EXPECT_EQ(t->sc_recurrence.cleared_by, std::vector<ClearedBy>{ClearedBy::kOther});
  EXPECT_EQ(t->rising_errors.baseline_windows, 6);
  EXPECT_DOUBLE_EQ(t->rising_errors.factor, 1.5);
  Json out = to_json(*t);
  EXPECT_EQ(out["sc_recurrence"]["window_h"], 0.5);
  auto back = parse_trouble_thresholds(out);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_json(*back), out);
}

TEST(TroubleThresholds, RefusesUnknownKeysAndOutOfRangeValues) {
  struct Case {
    const char* json;
    const char* part;
  };
  for (const auto& c : std::initializer_list<Case>{
           {R"({"jam_rates": {}})", "trouble thresholds has an unknown field 'jam_rates'"},
           {R"({"jam_rate": {"cnt": 5}})", "jam_rate has an unknown field 'cnt'"},
           {R"({"jam_rate": {"count": 0}})", "jam_rate.count must be an integer 1..10000"},
           {R"({"jam_rate": {"count": 2.5}})", "jam_rate.count must be an integer"},
           {R"({"jam_rate": 5})", "jam_rate must be an object"},
           {R"({"repeated_jams": {"window_h": 0}})", "repeated_jams.window_h must be"},
           {R"({"repeated_jams": {"window_h": 8761}})", "repeated_jams.window_h must be"},
           {R"({"repeated_jams": {"window_h": "7d"}})", "repeated_jams.window_h must be a number"},
           {R"({"repeated_jams": {"urgency": "urgent"}})",
            "repeated_jams.urgency must be low, normal, high or fatal"},
           {R"({"sc_recurrence": {"cleared_by": ["reset", "panic"]}})",
            "'panic' is not reset, reboot or other"},
           {R"({"sc_recurrence": {"cleared_by": []}})", "cleared_by must not be empty"},
           {R"({"sc_recurrence": {"lookback_h": -1}})", "sc_recurrence.lookback_h must be"},
           {R"({"rising_errors": {"factor": 0.5}})",
            "rising_errors.factor must be a number 1..100"},
           {R"({"rising_errors": {"baseline_windows": 0}})",
            "rising_errors.baseline_windows must be an integer 1..52"},
           {R"({"rising_errors": {"enabled": "yes"}})",
            "rising_errors.enabled must be true or false"},
           {R"({"location_advice": {"tray2": 5}})", "location_advice.tray2 must be a string"},
           {R"({"location_advice": []})", "location_advice must be an object"},
           {R"([])", "must be an object"},
       }) {
    expect_bad_input(parse_trouble_thresholds(Json::parse(c.json)), c.part);
  }
}

std::vector<Jam> jams_at(const std::string& location, std::initializer_list<TimeMs> ages) {
  std::vector<Jam> out;
  for (TimeMs age : ages) out.push_back({kNow - age, location, "J-" + location});
  return out;
}

std::vector<TroubleFinding> judge(const TroubleThresholds& t, const DeviceEvents& e,
                                  TimeMs now = kNow) {
  auto r = judge_troubles(t, e, now);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : std::vector<TroubleFinding>{};
}

TroubleThresholds only(TroubleType type) {
  TroubleThresholds t;
  t.jam_rate.enabled = type == TroubleType::kJamRate;
  t.repeated_jams.enabled = type == TroubleType::kRepeatedJams;
  t.sc_recurrence.enabled = type == TroubleType::kScRecurrence;
  t.rising_errors.enabled = type == TroubleType::kRisingErrors;
  return t;
}

TEST(JudgeTroubles, NothingFromNothing) {
  EXPECT_TRUE(judge(TroubleThresholds{}, DeviceEvents{}).empty());
}

TEST(JudgeTroubles, JamRateAtTheThresholdAndWindowEdges) {
  auto t = only(TroubleType::kJamRate);
  DeviceEvents e;
  e.jams = jams_at("tray2", {0, kHour, 2 * kHour, 3 * kHour});
  EXPECT_TRUE(judge(t, e).empty());  // 4 < 5
  // The fifth exactly 24 h old counts: windows are closed.
  e.jams.push_back({kNow - 24 * kHour, "fuser", "J-FUSER"});
  auto f = judge(t, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, TroubleType::kJamRate);
  EXPECT_EQ(f[0].subject, "");
  EXPECT_EQ(f[0].count, 5);
  EXPECT_EQ(f[0].window_ms, 24 * kHour);
  EXPECT_EQ(f[0].first_at, kNow - 24 * kHour);
  EXPECT_EQ(f[0].last_at, kNow);
  EXPECT_EQ(f[0].urgency, Urgency::kNormal);
  EXPECT_EQ(f[0].text,
            "Frequent jams: 5 in 24 h (threshold 5); check the paper (type, storage, humidity), "
            "then the rollers where it jams most (tray 2 4, fuser 1)");
  // One millisecond older and it is out.
  e.jams.back().at -= 1;
  EXPECT_TRUE(judge(t, e).empty());
  // A jam stamped after `now` (device clock ahead) counts as recent.
  e.jams.back().at = kNow + kMin;
  EXPECT_EQ(judge(t, e).size(), 1u);
}

TEST(JudgeTroubles, RepeatedJamsAtOneLocation) {
  auto t = only(TroubleType::kRepeatedJams);
  DeviceEvents e;
  e.jams = jams_at("tray2", {kHour, 3 * kDay, 7 * kDay});
  auto more = jams_at("fuser", {kHour, 2 * kHour});
  e.jams.insert(e.jams.end(), more.begin(), more.end());
  e.jams.push_back({kNow, "", "J-UNKNOWN"});  // no location: not a place
  auto f = judge(t, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, TroubleType::kRepeatedJams);
  EXPECT_EQ(f[0].subject, "tray2");
  EXPECT_EQ(f[0].count, 3);
  EXPECT_EQ(f[0].meaning, "paper keeps jamming at tray 2");
  EXPECT_EQ(f[0].action, "check the pickup roller");
  EXPECT_EQ(f[0].text, "Repeated jams at tray 2: check the pickup roller; 3 in 7 days");

  e.jams[2].at -= 1;  // the oldest falls out of the 7 days
  EXPECT_TRUE(judge(t, e).empty());

  // Built-in advice per place, and the operator's own.
  DeviceEvents places;
  for (const char* loc : {"fuser", "duplex", "adf", "exit", "bypass", "chute"}) {
    auto j = jams_at(loc, {1, 2, 3});
    places.jams.insert(places.jams.end(), j.begin(), j.end());
  }
  t.location_advice["chute"] = "clear the chute sensor";
  auto g = judge(t, places);
  ASSERT_EQ(g.size(), 6u);  // by location
  EXPECT_EQ(g[0].text,
            "Repeated jams at ADF: clean or replace the document feeder rollers; 3 in 7 days");
  EXPECT_EQ(g[1].action, "check the bypass tray pickup roller and the paper loaded");
  EXPECT_EQ(g[2].action, "clear the chute sensor");
  EXPECT_EQ(g[3].action, "check the duplex unit and its rollers");
  EXPECT_EQ(g[4].action, "check the exit rollers and the output tray");
  EXPECT_EQ(g[5].action, "check the fuser unit and that the paper type matches the setting");
}

ServiceCall call(const char* code, TimeMs at_ms, std::optional<TimeMs> cleared_at = std::nullopt,
                 ClearedBy by = ClearedBy::kNotCleared) {
  ServiceCall c;
  c.at = at_ms;
  c.code = code;
  c.sc_type = "B";
  c.cleared_at = cleared_at;
  c.cleared_by = cleared_at ? by : ClearedBy::kNotCleared;
  return c;
}

TEST(JudgeTroubles, ScCodeBackWithinTheWindowAfterAReboot) {
  auto t = only(TroubleType::kScRecurrence);
  TimeMs cleared = kNow - 2 * kDay;
  DeviceEvents e;
  e.calls = {call("SC672", cleared - kHour, cleared, ClearedBy::kReboot),
             call("SC672", cleared + 24 * kHour),  // exactly the window after: counts
             call("SC542", cleared + kHour)};      // another code
  auto f = judge(t, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, TroubleType::kScRecurrence);
  EXPECT_EQ(f[0].subject, "SC672");
  EXPECT_EQ(f[0].count, 1);
  EXPECT_EQ(f[0].first_at, cleared + 24 * kHour);
  EXPECT_EQ(f[0].urgency, Urgency::kHigh);
  EXPECT_EQ(f[0].text,
            "SC672 (type B) came back 1 time within 24 h of being cleared by a reboot; send a "
            "technician to find and fix the cause instead of resetting again");

  e.calls[1].at += 1;  // 24 h 1 ms after: not within the window
  EXPECT_TRUE(judge(t, e).empty());
}

TEST(JudgeTroubles, ScRecurrenceCountsOnlyTheClearingsAsked) {
  auto t = only(TroubleType::kScRecurrence);
  TimeMs c1 = kNow - 3 * kDay;
  DeviceEvents e;
  e.calls = {call("SC542", c1 - kHour, c1, ClearedBy::kOther),  // a repair, not a reset
             call("SC542", c1 + kHour)};
  EXPECT_TRUE(judge(t, e).empty());
  t.sc_recurrence.cleared_by = {ClearedBy::kOther};
  auto f = judge(t, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].text.find("cleared by a repair"), std::string::npos) << f[0].text;

  // An open call re-reported is not a recurrence: it was never cleared.
  DeviceEvents open;
  open.calls = {call("SC542", kNow - 2 * kHour), call("SC542", kNow - kHour)};
  EXPECT_TRUE(judge(only(TroubleType::kScRecurrence), open).empty());
}

TEST(JudgeTroubles, ScRecurrenceCountAndLookback) {
  auto t = only(TroubleType::kScRecurrence);
  t.sc_recurrence.count = 2;
  DeviceEvents e;
  TimeMs a = kNow - 6 * kDay, b = kNow - 2 * kDay;
  e.calls = {call("SC672", a, a + kMin, ClearedBy::kReset),
             call("SC672", a + kHour, a + 2 * kHour, ClearedBy::kReboot),
             call("SC672", b, b + kMin, ClearedBy::kReboot), call("SC672", b + 3 * kHour)};
  auto f = judge(t, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].count, 2);
  EXPECT_EQ(f[0].first_at, a + kHour);
  EXPECT_EQ(f[0].last_at, b + 3 * kHour);
  EXPECT_NE(f[0].text.find("cleared by a reset or a reboot"), std::string::npos) << f[0].text;

  // With a 5-day lookback the first recurrence (6 days ago) no longer counts.
  t.sc_recurrence.lookback_ms = 5 * kDay;
  EXPECT_TRUE(judge(t, e).empty());
}

TEST(JudgeTroubles, RisingErrorsAgainstTheBaseline) {
  auto t = only(TroubleType::kRisingErrors);  // 7-day windows, 3 baseline windows, 2x, min 5
  DeviceEvents e;
  auto week = [](int w, TimeMs offset) { return TimeMs(w) * 7 * kDay + offset; };
  // Baseline: 3 jams in the three weeks before (1 a week); recent: 5.
  e.jams = jams_at("tray1", {kHour, 2 * kHour, kDay, 2 * kDay, 7 * kDay, week(1, kHour),
                             week(2, kHour), week(3, 0)});
  auto f = judge(t, e);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, TroubleType::kRisingErrors);
  EXPECT_EQ(f[0].subject, "jams");
  EXPECT_EQ(f[0].count, 5);  // the one exactly 7 days old is recent
  EXPECT_EQ(f[0].text,
            "Rising jams: 5 in the last 7 days against 1 per 7 days before (threshold 2x); find "
            "what changed: paper, settings, worn rollers");

  // Just below min_count, even from a quiet baseline.
  DeviceEvents few;
  few.jams = jams_at("tray1", {1, 2, 3, 4});
  EXPECT_TRUE(judge(t, few).empty());
  few.jams.push_back({kNow, "tray1", "J-TRAY1"});
  EXPECT_EQ(judge(t, few).size(), 1u);  // 5 from an average of zero

  // Exactly the factor: 6 recent against 9 before (3 a week): 6 >= 2 x 3.
  DeviceEvents calls;
  for (int i = 0; i < 6; ++i) calls.calls.push_back(call("SC995", kNow - i * kHour));
  for (int i = 0; i < 9; ++i) calls.calls.push_back(call("SC995", kNow - 8 * kDay - i * kDay));
  auto g = judge(t, calls);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].subject, "service_calls");
  EXPECT_NE(g[0].text.find("6 in the last 7 days against 3 per 7 days"), std::string::npos)
      << g[0].text;
  calls.calls.push_back(call("SC995", kNow - 9 * kDay - kHour));  // 10 before: 6 < 2 x 3.33
  EXPECT_TRUE(judge(t, calls).empty());
  // Events older than the baseline do not count at all.
  calls.calls.pop_back();
  calls.calls.push_back(call("SC995", kNow - 28 * kDay - 1));
  EXPECT_EQ(judge(t, calls).size(), 1u);
}

TEST(JudgeTroubles, AllRulesInOrderDisabledAndInvalid) {
  DeviceEvents e;
  e.jams = jams_at("tray2", {1, 2, 3, 4, 5});
  TimeMs c = kNow - kDay;
  e.calls = {call("SC672", c - kHour, c, ClearedBy::kReboot), call("SC672", c + kHour)};
  auto f = judge(TroubleThresholds{}, e);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].type, TroubleType::kJamRate);
  EXPECT_EQ(f[1].type, TroubleType::kRepeatedJams);
  EXPECT_EQ(f[2].type, TroubleType::kScRecurrence);
  EXPECT_EQ(f[3].type, TroubleType::kRisingErrors);

  Json j = to_json(f[1]);
  EXPECT_EQ(j["type"], "repeated_jams");
  EXPECT_EQ(j["subject"], "tray2");
  EXPECT_EQ(j["count"], 5);
  EXPECT_EQ(j["window_h"], 168);
  EXPECT_EQ(j["urgency"], "normal");
  EXPECT_EQ(j["first_at"], format_time(kNow - 5));
  EXPECT_EQ(j["text"], "Repeated jams at tray 2: check the pickup roller; 5 in 7 days");

  TroubleThresholds off;
  off.jam_rate.enabled = off.repeated_jams.enabled = false;
  off.sc_recurrence.enabled = off.rising_errors.enabled = false;
  EXPECT_TRUE(judge(off, e).empty());

  TroubleThresholds bad;
  bad.jam_rate.count = 0;
  expect_bad_input(judge_troubles(bad, e, kNow), "jam_rate.count must be 1..10000");
  bad = TroubleThresholds{};
  bad.rising_errors.factor = std::nan("");
  expect_bad_input(judge_troubles(bad, e, kNow), "rising_errors.factor");
  bad = TroubleThresholds{};
  bad.sc_recurrence.cleared_by.clear();
  expect_bad_input(judge_troubles(bad, e, kNow), "sc_recurrence.cleared_by");
  bad = TroubleThresholds{};
  bad.repeated_jams.window_ms = 0;
  expect_bad_input(judge_troubles(bad, e, kNow), "repeated_jams.window_h");
}

}  // namespace
}  // namespace printrelay
