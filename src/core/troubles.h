// Troubles judged from a device's error logs (seed 003 claims 17-23, DESIGN.md §9): frequent and
// repeated jams, service calls that come back after a reset, and rising error counts, each with
// what it means and what to do.
//
// Pure: no I/O and no clock (times are passed in as TimeMs, UTC milliseconds); deterministic, so
// the relay, relayctl and the tests reach the same answer. Rule tables come from operators as JSON:
// their parsers refuse unknown keys and return a bad_input Error naming the field at fault (see
// json_fields.h); nothing here throws on bad input. Each parse_* has a to_json() that parse_* reads
// back to the same value.
//
// Report bodies from devices are read leniently (events_from_reports()): a malformed entry in a
// stored report is skipped with a note, because one bad entry must not hide the troubles in all
// the others.
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

struct Jam {
  TimeMs at = 0;
  std::string location;  // "tray2", "fuser", ...; empty when unknown
  std::string code;      // "J-TRAY2"
};

enum class ClearedBy { kNotCleared, kReset, kReboot, kOther };
const char* to_string(ClearedBy c);  // "not_cleared", "reset", "reboot", "other"

struct ServiceCall {
  TimeMs at = 0;
  std::string code;     // "SC542"
  std::string sc_type;  // "A".."D", empty when unknown
  std::optional<TimeMs> cleared_at;
  ClearedBy cleared_by = ClearedBy::kNotCleared;  // kNotCleared exactly when !cleared_at
};

// One device's recent events, each list in any order.
struct DeviceEvents {
  std::vector<Jam> jams;
  std::vector<ServiceCall> calls;
  std::vector<TimeMs> reboots;     // boot reports
  std::vector<std::string> notes;  // entries the converter skipped, and why
};

// Builds a device's events from its stored reports (any kinds, any order; other kinds ignored):
// - "alert" {type: "jam" | "service_call", code, location?, sc_type?} at the report's time;
// - "error-log" {entries: [{at, type: "jam" | "service_call", code, location?, sc_type?}]};
// - "jams" {recent: [{at, location, code}]};
// - "calls" {service_calls: [{at, code, sc_type, cleared_at (time or null),
//   cleared_by? ("reset", "reboot" or "power_cycle", other text)}]};
// - "boot" at the report's time: a reboot.
// The same event often arrives twice (an alert and the error-log entry written with it, or two
// error-log reports that overlap): jams at the same location with the same code, and service calls
// with the same code, within kSameEventToleranceMs of each other are one event (the earliest time;
// a clearing time from any of them). A call with a cleared_at but no cleared_by was cleared by a
// reboot when a boot report lies within kClearedByRebootToleranceMs of that time, otherwise by
// something else (a technician, a part). A call never cleared is cleared by the first reboot after
// it. Sorted by time. Never fails: a malformed entry is skipped with a note.
inline constexpr TimeMs kSameEventToleranceMs = 5 * 1000;
inline constexpr TimeMs kClearedByRebootToleranceMs = 10 * 60 * 1000;
DeviceEvents events_from_reports(const std::vector<Report>& reports);

// Thresholds of the trouble rules. Windows are closed: an event exactly `window` old counts, and
// an event stamped after `now` (a device clock running ahead) counts as recent. Windows are given
// in hours in JSON (fractions allowed, at least one minute, at most 8760 h, a year).
struct JamRateRule {  // N jams anywhere within the last window
  bool enabled = true;
  std::int64_t count = 5;
  TimeMs window_ms = 24 * 3600 * 1000LL;
  Urgency urgency = Urgency::kNormal;
};
struct RepeatedJamsRule {  // N jams at one location within the last window
  bool enabled = true;
  std::int64_t count = 3;
  TimeMs window_ms = 7 * 24 * 3600 * 1000LL;
  Urgency urgency = Urgency::kNormal;
};
// An SC code that comes back within `window` after it was cleared by one of `cleared_by` (a reset
// only hid the fault). Counted when the call that came back lies within the last `lookback`;
// flagged when it came back at least `count` times.
struct ScRecurrenceRule {
  bool enabled = true;
  std::int64_t count = 1;
  TimeMs window_ms = 24 * 3600 * 1000LL;
  TimeMs lookback_ms = 7 * 24 * 3600 * 1000LL;
  std::vector<ClearedBy> cleared_by = {ClearedBy::kReset, ClearedBy::kReboot};
  Urgency urgency = Urgency::kHigh;
};
// Jams, and service calls, separately: the count within the last window against the average of
// the `baseline_windows` windows before it. Flagged when count >= min_count and count >= factor ×
// average (from an average of zero, reaching min_count is enough). Pass at least
// (1 + baseline_windows) windows of history, or the baseline looks quieter than it was.
struct RisingErrorsRule {
  bool enabled = true;
  std::int64_t min_count = 5;
  TimeMs window_ms = 7 * 24 * 3600 * 1000LL;
  std::int64_t baseline_windows = 3;
  double factor = 2.0;
  Urgency urgency = Urgency::kNormal;
};

struct TroubleThresholds {
  JamRateRule jam_rate;
  RepeatedJamsRule repeated_jams;
  ScRecurrenceRule sc_recurrence;
  RisingErrorsRule rising_errors;
  // What to check for jams at a location, by location; replaces or adds to the built-in advice
  // (tray*: pickup roller, fuser, duplex, adf, exit, manual/bypass).
  std::map<std::string, std::string> location_advice;
};

// {"jam_rate": {"enabled", "count", "window_h", "urgency"},
//  "repeated_jams": {"enabled", "count", "window_h", "urgency"},
//  "sc_recurrence": {"enabled", "count", "window_h", "lookback_h", "cleared_by": ["reset",
//                    "reboot", "other"], "urgency"},
//  "rising_errors": {"enabled", "min_count", "window_h", "baseline_windows", "factor", "urgency"},
//  "location_advice": {"tray2": "check the pickup roller"}}
// Every key optional (defaults above); unknown keys refused. Ranges: counts 1..10000 (integers),
// windows as above, baseline_windows 1..52, factor 1..100, urgency low|normal|high|fatal, advice
// 1..500 characters.
Result<TroubleThresholds> parse_trouble_thresholds(const Json& j);
Json to_json(const TroubleThresholds& t);

enum class TroubleType { kJamRate, kRepeatedJams, kScRecurrence, kRisingErrors };
// "jam_rate", "repeated_jams", "sc_recurrence", "rising_errors".
const char* to_string(TroubleType t);

struct TroubleFinding {
  TroubleType type = TroubleType::kJamRate;
  std::string subject;     // the location (repeated_jams), the SC code (sc_recurrence),
                           // "jams" or "service_calls" (rising_errors), "" (jam_rate)
  std::int64_t count = 0;  // events counted (recurrences for sc_recurrence)
  TimeMs window_ms = 0;
  TimeMs first_at = 0;  // the first and last counted event
  TimeMs last_at = 0;
  Urgency urgency = Urgency::kNormal;
  std::string meaning;  // what it means: "paper jams at tray 2 keep happening"
  std::string action;   // what to do: "check the pickup roller"
  std::string text;     // one line: "Repeated jams at tray 2: check the pickup roller; 3 in 7 days"
};

// Applies every enabled rule at `now`. Findings in the order jam_rate, repeated_jams (by
// location), sc_recurrence (by code), rising_errors (jams, then service calls). Bad input when the
// thresholds are out of the ranges above.
Result<std::vector<TroubleFinding>> judge_troubles(const TroubleThresholds& thresholds,
                                                   const DeviceEvents& events, TimeMs now);
// {"type", "subject", "count", "window_h" (or "window_s" when not whole hours), "first_at",
//  "last_at", "urgency", "meaning", "action", "text"}.
Json to_json(const TroubleFinding& f);

}  // namespace printrelay
