// Supply forecasts from a device's level readings (seed 002: toner low, order before it runs
// out): the consumption rate since the last replacement and the day the supply runs empty.
//
// Pure: no I/O and no clock (times are passed in as TimeMs, UTC milliseconds); deterministic, so
// the relay, relayctl and the tests reach the same answer. Rule tables come from operators as JSON:
// their parsers refuse unknown keys and return a bad_input Error naming the field at fault (see
// json_fields.h); nothing here throws on bad input. Each parse_* has a to_json() that parse_* reads
// back to the same value.
//
// Report bodies from devices are read leniently (supply_readings_from_reports()): a malformed
// entry is skipped with a note.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/result.h"
#include "core/time.h"

namespace printrelay {

struct SupplyReading {
  TimeMs at = 0;
  double level_pct = 0;  // 0..100
};

struct ForecastPolicy {
  TimeMs lead_time_ms = 7 * 24 * 3600 * 1000LL;  // low when empty sooner than this
  double low_pct = 10;                           // low at or below this level, whatever the rate
  std::int64_t min_readings = 2;                 // readings since the last replacement
  TimeMs min_span_ms = 24 * 3600 * 1000LL;       // from the first to the last of them
  double replacement_jump_pct = 10;  // a rise of at least this many points is a replacement;
                                     // smaller rises are sensor noise
};
// {"lead_time_days", "low_pct", "min_readings", "min_span_h", "replacement_jump_pct"}: every key
// optional, unknown keys refused. Ranges: lead_time_days 0..365, low_pct 0..100, min_readings
// 2..1000 (integer), min_span_h 0..8760, replacement_jump_pct 1..100 (fractions allowed).
Result<ForecastPolicy> parse_forecast_policy(const Json& j);
Json to_json(const ForecastPolicy& p);

enum class ForecastConfidence {
  kOk,              // a consumption rate and an empty date were estimated
  kNoReadings,      // nothing to go on
  kTooFewReadings,  // fewer than min_readings since the last replacement
  kSpanTooShort,    // the readings since the last replacement span less than min_span
  kNotFalling,      // the level is steady or rising: no empty date
};
// "ok", "no_readings", "too_few_readings", "span_too_short", "not_falling".
const char* to_string(ForecastConfidence c);

struct SupplyForecast {
  std::string supply;
  ForecastConfidence confidence = ForecastConfidence::kNoReadings;
  std::optional<double> level_pct;  // the last reading
  std::optional<TimeMs> last_reading_at;
  std::optional<TimeMs> replaced_at;       // the first reading after the last replacement seen
  std::int64_t readings_used = 0;          // since the last replacement
  std::optional<double> pct_per_day;       // least-squares consumption; <= 0 when not falling
  std::optional<double> days_until_empty;  // from `now`, >= 0; only when kOk (or empty: 0)
  std::optional<TimeMs> empty_at;
  bool low = false;  // level <= low_pct, or days_until_empty < lead time
  std::string reason;
};

// Estimates one supply from its readings (any order). The rate is the least-squares slope of the
// readings since the last replacement (a rise of at least replacement_jump_pct over the reading
// before); the empty date is where that rate takes the last reading to 0. A supply at 0% is empty:
// low, 0 days. Bad input for an invalid policy, a level outside 0..100 or not finite.
Result<SupplyForecast> forecast_supply(const ForecastPolicy& policy, const std::string& supply,
                                       std::vector<SupplyReading> readings, TimeMs now);
// {"supply", "confidence", "level_pct", "last_reading_at", "replaced_at", "readings_used",
//  "pct_per_day", "days_until_empty", "empty_at", "low", "reason"}; absent values are null.
Json to_json(const SupplyForecast& f);

// Readings per supply name from "supplies" reports ({"supplies": [{"name", "level_pct"}]} at the
// report's time); other kinds ignored, exact duplicates dropped, malformed entries skipped with a
// note.
struct SupplySeries {
  std::map<std::string, std::vector<SupplyReading>> readings;  // sorted by time
  std::vector<std::string> notes;
};
SupplySeries supply_readings_from_reports(const std::vector<Report>& reports);

}  // namespace printrelay
