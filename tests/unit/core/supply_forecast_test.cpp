#include "core/supply_forecast.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "rule_test_support.h"

namespace printrelay {
namespace {

using namespace rule_test;

TEST(ForecastPolicy, DefaultsRoundTripAndErrors) {
  auto d = parse_forecast_policy(Json::object());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->lead_time_ms, 7 * kDay);
  EXPECT_DOUBLE_EQ(d->low_pct, 10);
  EXPECT_EQ(d->min_readings, 2);
  auto p = parse_forecast_policy(Json::parse(
      R"({"lead_time_days": 10, "low_pct": 5.5, "min_readings": 3, "min_span_h": 12,
          "replacement_jump_pct": 20})"));
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->lead_time_ms, 10 * kDay);
  EXPECT_EQ(p->min_span_ms, 12 * kHour);
  auto back = parse_forecast_policy(to_json(*p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(to_json(*back), to_json(*p));
  EXPECT_TRUE(parse_forecast_policy(nullptr).ok());

  expect_bad_input(parse_forecast_policy({{"lead_days", 7}}), "unknown field 'lead_days'");
  expect_bad_input(parse_forecast_policy({{"min_readings", 1}}),
                   "min_readings must be an integer 2..1000");
  expect_bad_input(parse_forecast_policy({{"low_pct", 101}}), "low_pct must be a number 0..100");
  expect_bad_input(parse_forecast_policy({{"lead_time_days", -1}}),
                   "lead_time_days must be 0..365");
  expect_bad_input(parse_forecast_policy({{"min_span_h", "1d"}}), "min_span_h must be a number");
  expect_bad_input(parse_forecast_policy({{"replacement_jump_pct", 0}}),
                   "replacement_jump_pct must be a number 1..100");
  expect_bad_input(parse_forecast_policy(Json::array()), "must be an object");
}

SupplyForecast forecast(std::vector<SupplyReading> readings, TimeMs now = kNow,
                        const ForecastPolicy& p = ForecastPolicy{}) {
  auto f = forecast_supply(p, "toner-black", std::move(readings), now);
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
  return f.ok() ? *f : SupplyForecast{};
}

TEST(ForecastSupply, NoOrFewReadings) {
  auto none = forecast({});
  EXPECT_EQ(none.confidence, ForecastConfidence::kNoReadings);
  EXPECT_FALSE(none.low);
  EXPECT_FALSE(none.level_pct);
  EXPECT_EQ(none.reason, "toner-black: no readings");

  auto one = forecast({{kNow, 50}});
  EXPECT_EQ(one.confidence, ForecastConfidence::kTooFewReadings);
  EXPECT_EQ(one.level_pct, 50);
  EXPECT_FALSE(one.low);
  EXPECT_FALSE(one.days_until_empty);
  EXPECT_EQ(one.reason, "toner-black at 50%: 1 reading, 2 needed for a forecast");

  // The threshold alone makes a supply low: at it, not just above.
  EXPECT_TRUE(forecast({{kNow, 10}}).low);
  EXPECT_FALSE(forecast({{kNow, 10.5}}).low);
  EXPECT_EQ(forecast({{kNow, 10}}).reason, "toner-black at 10%: at or below the 10% threshold");
}

TEST(ForecastSupply, LinearUseAndTheLeadTimeBoundary) {
  // 100% -> 90% in one day: 10% a day, empty 9 days after the last reading.
  TimeMs t0 = kNow - 10 * kDay;
  std::vector<SupplyReading> r = {{t0, 100}, {t0 + kDay, 90}};
  TimeMs empty = t0 + 10 * kDay;
  auto f = forecast(r, empty - 7 * kDay);  // exactly the lead time left: not low
  EXPECT_EQ(f.confidence, ForecastConfidence::kOk);
  ASSERT_TRUE(f.pct_per_day);
  EXPECT_DOUBLE_EQ(*f.pct_per_day, 10);
  EXPECT_EQ(f.empty_at, empty);
  EXPECT_DOUBLE_EQ(*f.days_until_empty, 7);
  EXPECT_FALSE(f.low);
  EXPECT_EQ(f.readings_used, 2);
  EXPECT_FALSE(f.replaced_at);
  EXPECT_EQ(f.reason, "toner-black at 90%, using 10% a day: empty in about 7 days (2026-11-23)");

  auto g = forecast(r, empty - 7 * kDay + 1);
  EXPECT_TRUE(g.low);
  EXPECT_NE(g.reason.find("within the lead time of 7 days"), std::string::npos) << g.reason;

  // Past the forecast empty date the days left are 0, not negative.
  EXPECT_DOUBLE_EQ(*forecast(r, empty + kDay).days_until_empty, 0);

  // A lead time of 0 never makes a supply low by forecast.
  ForecastPolicy p;
  p.lead_time_ms = 0;
  EXPECT_FALSE(forecast(r, empty - 1, p).low);
}

TEST(ForecastSupply, LeastSquaresIsRobustToNoiseAndOrder) {
  TimeMs t0 = kNow - 3 * kDay;
  std::vector<SupplyReading> r = {
      {t0 + 2 * kDay, 79}, {t0, 90}, {t0 + 3 * kDay, 70}, {t0 + kDay, 81}};
  auto f = forecast(r);
  ASSERT_TRUE(f.pct_per_day);
  EXPECT_NEAR(*f.pct_per_day, 6.2, 1e-9);  // -sum(dt dy) / sum(dt^2) = 31 / 5
  EXPECT_EQ(f.level_pct, 70);              // the last reading, whatever the input order
  EXPECT_EQ(f.readings_used, 4);
  std::reverse(r.begin(), r.end());
  EXPECT_EQ(to_json(forecast(r)), to_json(f));
  // A small rise (sensor noise, below the jump) is not a replacement.
  r.push_back({t0 + 3 * kDay + kHour, 75});
  auto noisy = forecast(r);
  EXPECT_FALSE(noisy.replaced_at);
  EXPECT_EQ(noisy.readings_used, 5);
}

TEST(ForecastSupply, ReplacementStartsAFreshSeries) {
  TimeMs t0 = kNow - 5 * kDay;
  std::vector<SupplyReading> r = {{t0, 30}, {t0 + kDay, 20}, {t0 + 2 * kDay, 100}};
  auto just = forecast(r);
  EXPECT_EQ(just.replaced_at, t0 + 2 * kDay);
  EXPECT_EQ(just.readings_used, 1);
  EXPECT_EQ(just.confidence, ForecastConfidence::kTooFewReadings);
  EXPECT_EQ(just.reason,
            "toner-black at 100%: 1 reading since the replacement, 2 needed for a forecast");
  r.push_back({t0 + 4 * kDay, 96});
  auto f = forecast(r);
  EXPECT_EQ(f.confidence, ForecastConfidence::kOk);
  EXPECT_DOUBLE_EQ(*f.pct_per_day, 2);  // only since the replacement
  EXPECT_EQ(f.readings_used, 2);

  // A rise of exactly the jump is a replacement; just below is not.
  ForecastPolicy p;
  p.min_span_ms = 0;
  auto exact = forecast({{t0, 40}, {t0 + kHour, 50}, {t0 + 2 * kHour, 49}}, kNow, p);
  EXPECT_EQ(exact.replaced_at, t0 + kHour);
  auto below = forecast({{t0, 40}, {t0 + kHour, 49.5}, {t0 + 2 * kHour, 49}}, kNow, p);
  EXPECT_FALSE(below.replaced_at);
}

TEST(ForecastSupply, ConfidenceFlags) {
  auto short_span = forecast({{kNow - kHour, 60}, {kNow, 59}});
  EXPECT_EQ(short_span.confidence, ForecastConfidence::kSpanTooShort);
  EXPECT_FALSE(short_span.days_until_empty);
  EXPECT_EQ(short_span.reason, "toner-black at 59%: readings span 1 h, 24 h needed for a forecast");
  // Exactly the minimum span is enough.
  EXPECT_EQ(forecast({{kNow - kDay, 60}, {kNow, 59}}).confidence, ForecastConfidence::kOk);
  // Same time twice: no span at all, even with a zero minimum.
  ForecastPolicy p;
  p.min_span_ms = 0;
  EXPECT_EQ(forecast({{kNow, 60}, {kNow, 59}}, kNow, p).confidence,
            ForecastConfidence::kSpanTooShort);

  auto flat = forecast({{kNow - 2 * kDay, 50}, {kNow, 50}});
  EXPECT_EQ(flat.confidence, ForecastConfidence::kNotFalling);
  EXPECT_DOUBLE_EQ(*flat.pct_per_day, 0);
  EXPECT_FALSE(flat.days_until_empty);
  EXPECT_FALSE(flat.low);
  EXPECT_EQ(flat.reason, "toner-black at 50%: the level is not falling, no empty date");
  EXPECT_EQ(forecast({{kNow - 2 * kDay, 50}, {kNow, 55}}).confidence,
            ForecastConfidence::kNotFalling);

  ForecastPolicy three;
  three.min_readings = 3;
  EXPECT_EQ(forecast({{kNow - 2 * kDay, 50}, {kNow, 40}}, kNow, three).confidence,
            ForecastConfidence::kTooFewReadings);
}

TEST(ForecastSupply, EmptySupplyAndBadInput) {
  auto e = forecast({{kNow - 2 * kDay, 10}, {kNow - kDay, 0}, {kNow, 0}});
  EXPECT_TRUE(e.low);
  EXPECT_DOUBLE_EQ(*e.days_until_empty, 0);
  EXPECT_EQ(e.empty_at, kNow - kDay);
  EXPECT_EQ(e.reason, "toner-black is empty since " + format_time(kNow - kDay));

  ForecastPolicy p;
  expect_bad_input(forecast_supply(p, "toner-cyan", {{kNow, 101}}, kNow),
                   "toner-cyan: level 101% at");
  expect_bad_input(forecast_supply(p, "toner-cyan", {{kNow, -1}}, kNow), "outside 0..100");
  expect_bad_input(forecast_supply(p, "toner-cyan", {{kNow, std::nan("")}}, kNow),
                   "outside 0..100");
  p.min_readings = 1;
  expect_bad_input(forecast_supply(p, "toner-cyan", {}, kNow), "min_readings must be 2..1000");
}

TEST(ForecastSupply, Json) {
  Json none = to_json(forecast({}));
  EXPECT_EQ(none["confidence"], "no_readings");
  EXPECT_TRUE(none["level_pct"].is_null());
  EXPECT_TRUE(none["empty_at"].is_null());
  EXPECT_EQ(none["low"], false);
  Json ok = to_json(forecast({{kNow - kDay, 100}, {kNow, 90}}));
  EXPECT_EQ(ok["confidence"], "ok");
  EXPECT_EQ(ok["level_pct"], 90.0);
  EXPECT_EQ(ok["pct_per_day"], 10.0);
  EXPECT_EQ(ok["days_until_empty"], 9.0);
  EXPECT_EQ(ok["empty_at"], format_time(kNow + 9 * kDay));
  EXPECT_EQ(ok["readings_used"], 2);
}

TEST(SupplyReadings, FromTheSimulatorsSuppliesReports) {
  auto body = [](int black, int cyan) {
    return Json{{"supplies",
                 {{{"name", "toner-black"}, {"level_pct", black}, {"state", "ok"}},
                  {{"name", "toner-cyan"}, {"level_pct", cyan}, {"state", "ok"}}}},
                {"parts", Json::array()}};
  };
  auto s = supply_readings_from_reports({
      report("r2", "supplies", kNow, body(80, 60)),
      report("r1", "supplies", kNow - kDay, body(90, 61)),
      report("r1b", "supplies", kNow - kDay, body(90, 61)),  // the same reading again
      report("r3", "counters", kNow, {{"total", 1}}),
      report("r4", "supplies", kNow,
             {{"supplies", {{{"level_pct", 5}}, {{"name", "drum"}, {"level_pct", "5%"}}}}}),
      report("r5", "supplies", kNow, Json::array()),
  });
  ASSERT_EQ(s.readings.size(), 2u);
  const auto& black = s.readings["toner-black"];
  ASSERT_EQ(black.size(), 2u);
  EXPECT_EQ(black[0].at, kNow - kDay);
  EXPECT_DOUBLE_EQ(black[0].level_pct, 90);
  EXPECT_DOUBLE_EQ(black[1].level_pct, 80);
  ASSERT_EQ(s.notes.size(), 3u);
  EXPECT_NE(s.notes[0].find("report r4 (supplies) supplies 0: no name"), std::string::npos);
  EXPECT_NE(s.notes[1].find("level_pct is not a number 0..100"), std::string::npos);
  EXPECT_NE(s.notes[2].find("report r5 (supplies): no 'supplies' array"), std::string::npos);
  EXPECT_TRUE(supply_readings_from_reports({}).readings.empty());
}

}  // namespace
}  // namespace printrelay
