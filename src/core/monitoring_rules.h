// The pure rules of the monitoring center (DESIGN.md §9, issue 4; seeds 002 and 003): compatibility
// of a device's units and software judged from its structure, troubles judged from its error logs,
// supply forecasts from its level readings, and the routing of notifications to e-mail addresses
// and webhooks.
//
// No I/O and no clock: every time is passed in as TimeMs (UTC milliseconds). Every function is
// deterministic (same input, same output, in the same order), so the relay, relayctl and the tests
// reach the same answer. Rule tables come from operators as JSON: their parsers refuse unknown keys
// (a misspelt "recomended" must not silently drop a rule) and return a typed bad_input Error naming
// the field at fault; nothing here throws on bad input. Each parse_* has a to_json() that
// parse_* reads back to the same value.
//
// Report bodies from devices are read leniently by the converters (events_from_reports(),
// supply_readings_from_reports()): a malformed entry in a stored report is skipped with a note,
// because one bad entry must not hide the troubles in all the others.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/result.h"
#include "core/time.h"

namespace printrelay {

// ===== 1. Compatibility of units and software (seed 003 claims 6-16) =====
//
// A table of rules per model says which versions of each unit's software are compatible, which
// one is recommended, and which combinations of units are required together:
//
//   {"model": "MX-4070",
//    "units": {"main": {"compatible": ["1.0.3", ">=2.0.0 <3"], "recommended": "2.0.0"},
//              "controller": {"compatible": [">=2.1.0"], "recommended": "2.1.0",
//                             "vendors": ["0x1A2B"], "required": true}},
//    "requires": [{"if": {"main": ">=2.0.0"}, "then": {"controller": ">=2.1.0"}}],
//    "unknown_units": "ignore",
//    "auto_update": true,
//    "allow_downgrade": false}
//
// Version ranges: one or more clauses separated by spaces, all of which must hold; a clause is a
// version with an optional operator "=", ">=", ">", "<=", "<" (none means "="), or "*" for any
// version. ">=2.0.0 <3" is 2.0.0 up to but excluding 3. Versions compare with compare_versions()
// (firmware_job.h): by numeric dotted segments, so "2.0" equals "2.0.0" and "1.10" > "1.9". A
// version is 1..64 characters of [A-Za-z0-9._+-] without empty segments.
// A list of ranges ("compatible", or an array in "if"/"then") matches when any range matches.

inline constexpr std::size_t kMaxVersionLength = 64;
inline constexpr std::size_t kMaxCompatibilityModels = 1000;
inline constexpr std::size_t kMaxUnitsPerModel = 64;
inline constexpr std::size_t kMaxRangesPerList = 64;
inline constexpr std::size_t kMaxRequiresPerModel = 64;

struct VersionClause {
  enum class Op { kAny, kEq, kGe, kGt, kLe, kLt } op = Op::kAny;
  std::string version;  // empty for kAny
};

// All clauses must hold. Never empty once parsed ("*" is one kAny clause).
struct VersionRange {
  std::vector<VersionClause> clauses;
};

// Bad input naming the clause at fault for an empty text, an unknown operator or a bad version.
Result<VersionRange> parse_version_range(std::string_view text);
// Canonical text: clauses joined by one space, "=" left out (">=2.0.0 <3", "1.0.3", "*").
std::string to_text(const VersionRange& r);
// Whether `version` satisfies every clause. An empty version satisfies only "*".
bool satisfies(const VersionRange& r, std::string_view version);
// Whether `version` satisfies any of `ranges` (false for an empty list).
bool satisfies_any(const std::vector<VersionRange>& ranges, std::string_view version);

struct UnitRule {
  std::vector<VersionRange> compatible;  // empty: any version is compatible
  std::string recommended;               // empty: none; otherwise one of `compatible`
  std::vector<std::string> vendors;      // empty: any vendor id; compared exactly. A unit
                                         // that reports no vendor id is not judged on it.
  bool required = false;                 // the model does not work without this unit
};

// "if every condition holds, every consequence must hold". A condition on a unit that is not
// fitted (or reports no version) does not hold; a consequence on such a unit is not met.
struct UnitRequirement {
  std::map<std::string, std::vector<VersionRange>> if_units;    // 1..kMaxUnitsPerModel
  std::map<std::string, std::vector<VersionRange>> then_units;  // 1..kMaxUnitsPerModel
};

struct CompatibilityRules {
  std::string model;
  std::map<std::string, UnitRule> units;      // by unit id ("main", "controller", "adf", ...)
  std::vector<UnitRequirement> requirements;  // "requires" in JSON
  // A fitted unit the rules do not name: ignored (default), or incompatible (this model takes only
  // the units listed; seed 003 claim 6, compatibility between the device and its units).
  bool unknown_units_incompatible = false;
  bool auto_update = false;      // seed 003 claims 12 and 16: download the right version at once
  bool allow_downgrade = false;  // see StructureVerdict::updates
};

// Rules by model.
using CompatibilityTable = std::map<std::string, CompatibilityRules>;

// One model's object as above. "model" and "units" are required, the rest optional (defaults
// above); unknown keys refused. A recommended version must be one of its unit's compatible
// versions, and the recommended versions of all units together must meet "requires" (the table
// must be able to fix what it finds).
Result<CompatibilityRules> parse_compatibility_rules(const Json& j);
Json to_json(const CompatibilityRules& r);
// An array of model objects (at most kMaxCompatibilityModels, each model once) or one object.
Result<CompatibilityTable> parse_compatibility_table(const Json& j);
Json to_json(const CompatibilityTable& t);  // an array, by model

// A unit as the device reports it in its "structure" report ({"model", "units": [{"id", "name",
// "serial", "software_version", "vendor_id"}]}), or as read from a firmware summary
// ({"main": "1.0.3", ...}: Device::firmware, a boot report's "firmware").
struct DeviceUnit {
  std::string id;
  std::string version;  // empty: the unit reported no software version
  std::string serial;
  std::string vendor_id;
};

// Reads either form: an object with a "units" array is a structure body, any other object is a
// firmware summary of unit -> version strings. Bad input for a unit without an id, a unit listed
// twice, a version that is not a string, or anything that is not an object. `model` is set from a
// structure body's "model" (empty otherwise).
struct DeviceStructure {
  std::string model;
  std::vector<DeviceUnit> units;  // in the order reported
};
Result<DeviceStructure> parse_device_structure(const Json& structure_or_firmware);

enum class Compatibility {
  kCompatible,    // every unit and requirement holds (findings may still recommend updates)
  kIncompatible,  // at least one finding is incompatible
  kNoRules,       // the table has no rules for the model: nothing was judged
};
const char* to_string(Compatibility c);  // "compatible", "incompatible", "no_rules"

enum class UnitFindingKind {
  kVersionIncompatible,  // the unit's version is not in its compatible list
  kVersionUnknown,       // the rules list versions for the unit but it reported none
  kVendorNotAllowed,     // the unit's vendor id is not in the rule's vendors
  kMissingUnit,          // a required unit is not fitted
  kUnknownUnit,          // a fitted unit the rules do not name, with unknown_units "incompatible"
  kRequirementNotMet,    // a "requires" consequence fails
  kNotRecommended,       // compatible, but not the recommended version (not incompatible)
};
// "version_incompatible", "version_unknown", "vendor_not_allowed", "missing_unit", "unknown_unit",
// "requirement_not_met", "not_recommended".
const char* to_string(UnitFindingKind k);

struct UnitFinding {
  std::string unit;
  std::string found_version;  // empty when not fitted or not reported
  UnitFindingKind kind = UnitFindingKind::kVersionIncompatible;
  bool incompatible = true;
  std::string why;          // "main 1.0.2 is not compatible with MX-4070 (compatible: 1.0.3, ...)"
  std::string recommended;  // the unit's recommended version, empty when the rules have none
};

struct StructureVerdict {
  std::string model;
  Compatibility verdict = Compatibility::kNoRules;
  std::vector<UnitFinding> findings;  // by unit id, then in kind order
  // The firmware to install, unit -> recommended version: every fitted unit whose version differs
  // from its recommended one, except that a compatible unit newer than recommended is only
  // downgraded when the rules allow_downgrade (an incompatible one always is: that is the fix).
  std::map<std::string, std::string> updates;
  // The rules ask for an automatic firmware job (auto_update) and `updates` is not empty. When
  // false and `updates` is not empty, the service center notifies instead (seed 003 claim 13).
  bool auto_update = false;
  std::string summary;  // one line for the dashboard and notifications
};

// Judges a device of `model` from its structure report body or firmware summary (see
// parse_device_structure()). Bad input when the body is malformed or names another model.
// `table` must be as parse_compatibility_table() returns it.
Result<StructureVerdict> judge_structure(const CompatibilityTable& table, const std::string& model,
                                         const Json& structure_or_firmware);
// The same on already parsed units and one model's rules.
StructureVerdict judge_units(const CompatibilityRules& rules, const std::vector<DeviceUnit>& units);
// {"model", "verdict", "findings": [{"unit", "found_version", "kind", "incompatible", "why",
//  "recommended"}], "updates": {unit: version}, "auto_update", "summary"}.
Json to_json(const StructureVerdict& v);

// ===== 2. Trouble judgment from error logs (seed 003 claims 17-23, DESIGN.md §9) =====

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

// ===== 3. Supply forecasting (seed 002: toner low, order before it runs out) =====

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

// ===== 4. Notification routing (DESIGN.md §9: e-mail and webhooks to several addresses) =====

// The event types a rule may name; a rule naming another is refused (it would never match).
inline const std::vector<std::string>& notification_event_types() {
  static const std::vector<std::string> k = {
      "alert",   "supply_low", "supply_empty",    "part_eol",       "incompatible", "update_ready",
      "trouble", "job_failed", "campaign_paused", "device_offline", "message",      "order"};
  return k;
}

inline constexpr std::size_t kMaxNotificationRules = 256;
inline constexpr std::size_t kMaxTargetsPerRule = 32;
inline constexpr std::size_t kMaxMatchValues = 1000;

// A rule matches an event when every condition it sets holds; an empty list matches anything.
struct NotificationRule {
  std::string name;  // unique, 1..64 characters
  bool enabled = true;
  std::vector<std::string> types;  // event types
  std::optional<Urgency> min_urgency;
  std::vector<std::string> customers;  // exact registration customer names
  std::vector<std::string> models;
  std::vector<std::string> serials;
  std::vector<std::string> emails;    // addresses, domain lower-cased
  std::vector<std::string> webhooks;  // http(s) URLs
  bool contact = false;  // also mail the device's registered contact (seed 002: the installer)
};

// An array of {"name", "enabled", "types", "min_urgency", "customers", "models", "serials",
// "emails", "webhooks", "contact"}: list fields take an array of strings or one string; "name" and
// at least one target required; unknown keys refused. At most kMaxNotificationRules rules and
// kMaxTargetsPerRule targets per rule; names unique; a target listed twice in one rule refused.
// Addresses: local@domain, no spaces, quotes, angle brackets or control characters (they would let
// a rule inject mail headers), at most 254 characters. Webhooks: http:// or https:// with a host,
// printable ASCII, at most 2048 characters.
Result<std::vector<NotificationRule>> parse_notification_rules(const Json& j);
Json to_json(const std::vector<NotificationRule>& rules);

struct NotificationEvent {
  std::string type;  // one of notification_event_types()
  Urgency urgency = Urgency::kNormal;
  std::string serial;
  std::string model;
  std::string customer;
  std::string contact;  // the registration's contact; used when it is an e-mail address
};

enum class Channel { kEmail, kWebhook };
const char* to_string(Channel c);  // "email", "webhook"

struct RouteTarget {
  Channel channel = Channel::kEmail;
  std::string target;
  std::string rule;  // the first rule (in list order) that routed the event there
  bool operator==(const RouteTarget&) const = default;
};

// Who gets `event`: the targets of every enabled matching rule, in rule order and, within a rule,
// e-mails, then the contact, then webhooks. Each target once (e-mail addresses compared without
// case), credited to the first rule that named it. A contact that is not an e-mail address is
// skipped. Bad input for an event type that is not one of notification_event_types().
Result<std::vector<RouteTarget>> route(const std::vector<NotificationRule>& rules,
                                       const NotificationEvent& event);
Json to_json(const RouteTarget& t);  // {"channel", "target", "rule"}

}  // namespace printrelay
