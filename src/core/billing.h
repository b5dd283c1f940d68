// Billing by counted pages (seed 002): what each counter of a device advanced during a period,
// from the device's counters reports, with everything a biller must look at flagged. Pure: the
// relay (relay/billing_export.h) reads the reports and the registrations; this computes.
//
// The rules, for a period [from, to):
// - The start reading is the last reading at or before `from`; when there is none, the first
//   reading inside the period, flagged "start_late" (pages printed before it are not counted).
// - The end reading is the last reading before `to`; "end_early" when it is more than the maximum
//   gap before `to` (pages printed after it are not counted).
// - A counter's difference is the sum of its positive steps between consecutive readings from the
//   start reading to the end reading. A step down is a counter reset (a replaced controller, a
//   service reset): flagged "reset" with the counter, time and both values, and counting goes on
//   from the new value; the step itself adds nothing, so a reset never bills negative pages and
//   never bills pages nobody can prove were printed.
// - "gap": two consecutive readings used further apart than the maximum gap (default 2 days);
//   the flag says between which readings. Pages in a gap are counted, but their time is unknown.
// - "no_readings": the device has no reading at all before `to`.
// Counters are the integer leaves of a counters report body; nested objects are flattened with
// "." ({"paper": {"A4": 3}} is "paper.A4"). Other values (text, fractions, lists) are ignored.
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

inline constexpr TimeMs kDefaultBillingMaxGapMs = 2LL * 24 * 3600 * 1000;

struct BillingPeriod {
  TimeMs from = 0;  // inclusive
  TimeMs to = 0;    // exclusive
};

// Bad input when from >= to.
Result<BillingPeriod> billing_period(TimeMs from, TimeMs to);
// From RFC 3339 UTC times (core/time.h); bad input naming `from` or `to` when one does not parse.
Result<BillingPeriod> parse_billing_period(std::string_view from, std::string_view to);

// One counters report of a device, reduced to its counters.
struct MeterReading {
  TimeMs at = 0;
  std::map<std::string, std::int64_t> counters;
};

// The integer leaves of a counters report body, flattened with ".". Empty for a non-object.
std::map<std::string, std::int64_t> flatten_counters(const Json& body);

struct BillingFlag {
  std::string kind;     // "no_readings" | "start_late" | "end_early" | "gap" | "reset"
  std::string counter;  // reset: the counter that went down
  TimeMs at = 0;        // start_late/end_early: the reading; gap: the earlier reading; reset: when
  std::optional<TimeMs> until;                            // gap: the later reading
  std::optional<std::int64_t> value_before, value_after;  // reset: the two readings' values
};

// "gap@<at>/<until>", "reset@<at>", "start_late@<at>", "end_early@<at>", "no_readings"
// (times RFC 3339 UTC): one token of the CSV's flags column, which joins them with ";".
std::string flag_text(const BillingFlag& f);

struct CounterUsage {
  std::string counter;
  TimeMs start_at = 0;  // the reading the start value comes from
  std::int64_t start = 0;
  TimeMs end_at = 0;
  std::int64_t end = 0;
  std::int64_t difference = 0;
  std::vector<BillingFlag> resets;  // in time order
};

struct DeviceUsage {
  BillingPeriod period;
  std::optional<TimeMs> start_at, end_at;  // the start and end readings, if any
  std::vector<CounterUsage> counters;      // ordered by counter name
  std::vector<BillingFlag> flags;          // no_readings, start_late, end_early, gap (time order)
};

struct BillingOptions {
  TimeMs max_gap_ms = kDefaultBillingMaxGapMs;
};

// The usage of one device in `period` from its readings, in any order (sorted here by time;
// readings with equal times keep their given order). Readings at or after `to`, and those before
// the start reading, are ignored. Bad input when max_gap_ms is not positive.
Result<DeviceUsage> compute_usage(const std::vector<MeterReading>& readings,
                                  const BillingPeriod& period, const BillingOptions& options = {});

// Who a device is, from its registration (or its enrolment when it has none).
struct BillingDevice {
  std::string serial;
  std::string model;
  std::string customer;
  std::string place;
};

// One line of the export: a device and one of its counters, or the device alone (empty counter,
// no values) when it has no counters to show (no readings).
struct BillingRow {
  std::string serial, model, customer, place;
  std::string counter;
  std::optional<TimeMs> start_at, end_at;
  std::optional<std::int64_t> start, end, difference;
  std::vector<BillingFlag> flags;  // the device's flags, then this counter's resets
};

// The rows of one device, ordered by counter.
std::vector<BillingRow> billing_rows(const BillingDevice& device, const DeviceUsage& usage);

// {"kind", "counter"?, "at"?, "until"?, "value_before"?, "value_after"?} (times RFC 3339).
Json to_json(const BillingFlag& f);
// {"serial", "model", "customer", "place", "counter", "start_at", "start", "end_at", "end",
//  "difference", "flags": [...], "flags_text"}; absent values are null.
Json to_json(const BillingRow& r);

inline constexpr const char* kBillingCsvHeader =
    "serial,model,customer,place,counter,start_at,start,end_at,end,difference,flags";

// RFC 4180: the header, then one line per row ordered by (serial, counter), lines ending in CRLF,
// fields with a comma, quote, CR or LF quoted with inner quotes doubled. Flags are flag_text()
// tokens joined with ";"; absent values are empty fields. Text cells (serial, model, customer,
// place, counter, flags: chosen by devices and customers) go through csv_text_field, so none can
// be taken for a spreadsheet formula; numbers and times are written as they are.
std::string to_csv(std::vector<BillingRow> rows);

// One CSV field, quoted when RFC 4180 requires it.
std::string csv_field(std::string_view value);

// One CSV text cell that a spreadsheet shows as text, never evaluates (OWASP "CSV Injection"):
// a value starting with '=', '+', '-', '@', tab or CR gets a leading single quote and is quoted
// ("=1+1" -> "\"'=1+1\""); anything else is csv_field(value).
std::string csv_text_field(std::string_view value);

}  // namespace printrelay
