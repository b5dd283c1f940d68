#include "core/supply_forecast.h"

#include <algorithm>
#include <cmath>

#include "core/json_fields.h"
#include "core/rule_text.h"

namespace printrelay {

namespace {

Status check_forecast_policy(const ForecastPolicy& p) {
  if (p.lead_time_ms < 0 || p.lead_time_ms > kYearMs) {
    return bad_input("lead_time_days must be 0..365");
  }
  if (!std::isfinite(p.low_pct) || p.low_pct < 0 || p.low_pct > 100) {
    return bad_input("low_pct must be 0..100");
  }
  if (p.min_readings < 2 || p.min_readings > 1000) return bad_input("min_readings must be 2..1000");
  if (p.min_span_ms < 0 || p.min_span_ms > kYearMs) return bad_input("min_span_h must be 0..8760");
  if (!std::isfinite(p.replacement_jump_pct) || p.replacement_jump_pct < 1 ||
      p.replacement_jump_pct > 100) {
    return bad_input("replacement_jump_pct must be 1..100");
  }
  return ok_status();
}

// By time; at one time the higher level first, so a tie never looks like a replacement. Exact
// duplicates (the same report read twice) once.
void sort_readings(std::vector<SupplyReading>& readings) {
  std::sort(readings.begin(), readings.end(), [](const SupplyReading& a, const SupplyReading& b) {
    return a.at != b.at ? a.at < b.at : a.level_pct > b.level_pct;
  });
  readings.erase(std::unique(readings.begin(), readings.end(),
                             [](const SupplyReading& a, const SupplyReading& b) {
                               return a.at == b.at && a.level_pct == b.level_pct;
                             }),
                 readings.end());
}

// The index of the first reading after the last replacement (a rise of at least
// replacement_jump_pct over the reading before), 0 when none was seen. `readings` sorted.
std::size_t replacement_start(const std::vector<SupplyReading>& readings, double jump_pct) {
  std::size_t start = 0;
  for (std::size_t i = 1; i < readings.size(); ++i) {
    if (readings[i].level_pct - readings[i - 1].level_pct >= jump_pct) start = i;
  }
  return start;
}

// Consumption in percentage points a day: minus the least-squares slope of (days since the first
// reading, level). `used` spans more than zero time.
double consumption_pct_per_day(const std::vector<SupplyReading>& used) {
  const SupplyReading& first = used.front();
  double n = double(used.size()), mean_t = 0, mean_y = 0;
  for (const auto& r : used) {
    mean_t += double(r.at - first.at) / double(kDayMs);
    mean_y += r.level_pct;
  }
  mean_t /= n;
  mean_y /= n;
  double sxy = 0, sxx = 0;
  for (const auto& r : used) {
    double dt = double(r.at - first.at) / double(kDayMs) - mean_t;
    sxy += dt * (r.level_pct - mean_y);
    sxx += dt * dt;
  }
  return -(sxy / sxx) + 0.0;  // + 0.0: a flat series is 0, not -0
}

// The reason of a forecast above the low threshold, and whether it is low by the lead time.
// `f` has its confidence, rate and empty date; `level` is "<supply> at <n>%".
void explain_above_threshold(SupplyForecast& f, const ForecastPolicy& policy,
                             const std::string& level, TimeMs span, TimeMs now) {
  switch (f.confidence) {
    case ForecastConfidence::kOk: {
      std::string rate = "using " + number_text(*f.pct_per_day, 2) + "% a day";
      std::string when = "empty in about " + number_text(*f.days_until_empty) + " days (" +
                         format_time(*f.empty_at).substr(0, 10) + ")";
      f.low = double(*f.empty_at - now) < double(policy.lead_time_ms);
      f.reason = level + ", " + rate + ": " + when +
                 (f.low ? ", within the lead time of " + duration_text(policy.lead_time_ms) : "");
      return;
    }
    case ForecastConfidence::kTooFewReadings:
      f.reason = level + ": " + std::to_string(f.readings_used) + " reading" +
                 (f.readings_used == 1 ? "" : "s") +
                 (f.replaced_at ? " since the replacement" : "") + ", " +
                 std::to_string(policy.min_readings) + " needed for a forecast";
      return;
    case ForecastConfidence::kSpanTooShort:
      f.reason = level + ": readings span " + duration_text(span) + ", " +
                 duration_text(policy.min_span_ms) + " needed for a forecast";
      return;
    case ForecastConfidence::kNotFalling:
      f.reason = level + ": the level is not falling, no empty date";
      return;
    case ForecastConfidence::kNoReadings:
      return;
  }
}

}  // namespace

Result<ForecastPolicy> parse_forecast_policy(const Json& j) {
  ForecastPolicy p;
  if (j.is_null()) return p;
  if (!j.is_object()) return bad_input("forecast policy must be an object");
  if (auto st = check_fields(
          j, "forecast policy",
          {"lead_time_days", "low_pct", "min_readings", "min_span_h", "replacement_jump_pct"});
      !st) {
    return st.error();
  }
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const Json& v = item.value();
    if (key == "lead_time_days") {
      auto d = read_duration(v, key, kDayMs, 0, kYearMs, "0..365 days");
      if (!d) return d.error();
      p.lead_time_ms = *d;
    } else if (key == "low_pct") {
      auto n = read_number(v, key, 0, 100);
      if (!n) return n.error();
      p.low_pct = *n;
    } else if (key == "min_readings") {
      auto n = read_integer(v, key, 2, 1000);
      if (!n) return n.error();
      p.min_readings = *n;
    } else if (key == "min_span_h") {
      auto d = read_duration(v, key, kHourMs, 0, kYearMs, "0..8760 hours");
      if (!d) return d.error();
      p.min_span_ms = *d;
    } else {  // replacement_jump_pct
      auto n = read_number(v, key, 1, 100);
      if (!n) return n.error();
      p.replacement_jump_pct = *n;
    }
  }
  return p;
}

Json to_json(const ForecastPolicy& p) {
  return {{"lead_time_days", duration_json(p.lead_time_ms, kDayMs)},
          {"low_pct", p.low_pct},
          {"min_readings", p.min_readings},
          {"min_span_h", duration_json(p.min_span_ms, kHourMs)},
          {"replacement_jump_pct", p.replacement_jump_pct}};
}

const char* to_string(ForecastConfidence c) {
  switch (c) {
    case ForecastConfidence::kOk:
      return "ok";
    case ForecastConfidence::kNoReadings:
      return "no_readings";
    case ForecastConfidence::kTooFewReadings:
      return "too_few_readings";
    case ForecastConfidence::kSpanTooShort:
      return "span_too_short";
    case ForecastConfidence::kNotFalling:
      return "not_falling";
  }
  return "unknown";
}

Result<SupplyForecast> forecast_supply(const ForecastPolicy& policy, const std::string& supply,
                                       std::vector<SupplyReading> readings, TimeMs now) {
  if (auto st = check_forecast_policy(policy); !st) return st.error();
  for (const auto& r : readings) {
    if (!std::isfinite(r.level_pct) || r.level_pct < 0 || r.level_pct > 100) {
      return bad_input(supply + ": level " + number_text(r.level_pct, 2) + "% at " +
                       format_time(r.at) + " is outside 0..100");
    }
  }
  SupplyForecast f;
  f.supply = supply;
  if (readings.empty()) {
    f.reason = supply + ": no readings";
    return f;
  }
  sort_readings(readings);
  const std::size_t start = replacement_start(readings, policy.replacement_jump_pct);
  if (start > 0) f.replaced_at = readings[start].at;
  const std::vector<SupplyReading> used(readings.begin() + std::ptrdiff_t(start), readings.end());
  const SupplyReading& first = used.front();
  const SupplyReading& last = used.back();
  f.level_pct = last.level_pct;
  f.last_reading_at = last.at;
  f.readings_used = std::int64_t(used.size());
  const std::string level = supply + " at " + number_text(last.level_pct) + "%";

  const TimeMs span = last.at - first.at;
  if (f.readings_used < policy.min_readings) {
    f.confidence = ForecastConfidence::kTooFewReadings;
  } else if (span <= 0 || span < policy.min_span_ms) {
    f.confidence = ForecastConfidence::kSpanTooShort;
  } else {
    f.pct_per_day = consumption_pct_per_day(used);
    f.confidence = *f.pct_per_day > 0 ? ForecastConfidence::kOk : ForecastConfidence::kNotFalling;
  }

  if (last.level_pct <= 0) {
    auto empty_since = std::find_if(used.begin(), used.end(),
                                    [](const SupplyReading& r) { return r.level_pct <= 0; });
    f.empty_at = empty_since->at;
    f.days_until_empty = 0;
    f.low = true;
    f.reason = supply + " is empty since " + format_time(empty_since->at);
    return f;
  }
  if (f.confidence == ForecastConfidence::kOk) {
    double ms_left = last.level_pct / *f.pct_per_day * double(kDayMs);
    f.empty_at = last.at + TimeMs(std::llround(ms_left));
    f.days_until_empty = std::max(0.0, double(*f.empty_at - now) / double(kDayMs));
  }
  if (last.level_pct <= policy.low_pct) {
    f.low = true;
    f.reason = level + ": at or below the " + number_text(policy.low_pct) + "% threshold";
    if (f.days_until_empty) {
      f.reason += ", empty in about " + number_text(*f.days_until_empty) + " days";
    }
    return f;
  }
  explain_above_threshold(f, policy, level, span, now);
  return f;
}

Json to_json(const SupplyForecast& f) {
  auto opt_time = [](const std::optional<TimeMs>& t) {
    return t ? Json(format_time(*t)) : Json(nullptr);
  };
  auto opt_num = [](const std::optional<double>& d) { return d ? Json(*d) : Json(nullptr); };
  return {{"supply", f.supply},
          {"confidence", to_string(f.confidence)},
          {"level_pct", opt_num(f.level_pct)},
          {"last_reading_at", opt_time(f.last_reading_at)},
          {"replaced_at", opt_time(f.replaced_at)},
          {"readings_used", f.readings_used},
          {"pct_per_day", opt_num(f.pct_per_day)},
          {"days_until_empty", opt_num(f.days_until_empty)},
          {"empty_at", opt_time(f.empty_at)},
          {"low", f.low},
          {"reason", f.reason}};
}

SupplySeries supply_readings_from_reports(const std::vector<Report>& reports) {
  SupplySeries s;
  for (const auto& r : reports) {
    if (r.kind != "supplies") continue;
    const std::string where = report_name(r);
    auto list = r.body.is_object() ? r.body.find("supplies") : r.body.end();
    if (!r.body.is_object() || list == r.body.end() || !list->is_array()) {
      s.notes.push_back(where + ": no 'supplies' array, skipped");
      continue;
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
      const Json& e = (*list)[i];
      std::string at_where = where + " supplies " + std::to_string(i);
      std::string name = e.is_object() ? string_or_empty(e, "name") : std::string();
      if (name.empty()) {
        s.notes.push_back(at_where + ": no name, skipped");
        continue;
      }
      auto level = e.find("level_pct");
      if (level == e.end() || !level->is_number() || !std::isfinite(level->get<double>()) ||
          level->get<double>() < 0 || level->get<double>() > 100) {
        s.notes.push_back(at_where + ": level_pct is not a number 0..100, skipped");
        continue;
      }
      s.readings[name].push_back({r.created_at, level->get<double>()});
    }
  }
  for (auto& [name, list] : s.readings) sort_readings(list);
  return s;
}

}  // namespace printrelay
