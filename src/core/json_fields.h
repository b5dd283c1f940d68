// Reading the fields of JSON objects that people and peers write: rule tables, service tables,
// manifests, signed envelopes. Strict: a field the reader does not know is refused, never skipped
// (a misspelt "recomended" must not silently drop a rule, and an envelope must carry nothing its
// signer's tools did not check). Each reader returns a bad_input Error naming the field at fault
// ("jam_rate.count must be an integer 1..10000"); none throws.
//
// Report bodies from devices are read leniently instead (string_or_empty()): one malformed entry
// in a stored report must not hide all the others.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/result.h"
#include "core/time.h"

namespace printrelay {

// Bad input "<what> has an unknown field '<key>' (known: <known, joined by ", ">)" for the first
// key of `object`, in key order, that `known` does not list. The key is outside text: the message
// quotes at most its first 64 bytes, made valid UTF-8 (valid_utf8() in json_text.h), so that the
// error can be written as JSON. Ok when every key is known, and for a value that is not an object
// (the caller refuses that in its own words).
Status check_fields(const Json& object, std::string_view what,
                    std::span<const std::string_view> known);
inline Status check_fields(const Json& object, std::string_view what,
                           std::initializer_list<std::string_view> known) {
  return check_fields(object, what, std::span<const std::string_view>(known.begin(), known.size()));
}

// The readers below take the value of one field and the name to give it in a message ("field").

// true or false.
Result<bool> read_bool(const Json& v, const std::string& field);
// An integer lo..hi ("field must be an integer lo..hi").
Result<std::int64_t> read_integer(const Json& v, const std::string& field, std::int64_t lo,
                                  std::int64_t hi);
// A finite number lo..hi, fractions allowed ("field must be a number lo..hi").
Result<double> read_number(const Json& v, const std::string& field, double lo, double hi);
// A duration given in `unit_ms` units (hours, days), fractions allowed, rounded to milliseconds
// and then required to be lo_ms..hi_ms; `range_text` says the range in the message ("0..365
// days").
Result<TimeMs> read_duration(const Json& v, const std::string& field, TimeMs unit_ms, TimeMs lo_ms,
                             TimeMs hi_ms, const char* range_text);
// A duration back in `unit_ms` units, as read_duration() reads it: an integer when whole, else a
// fraction.
Json duration_json(TimeMs ms, TimeMs unit_ms);
// A string of 1..max_len bytes without control characters.
Result<std::string> read_text(const Json& v, const std::string& field, std::size_t max_len);
// One such string, or an array of at most `max_items` of them (an empty array is an empty list).
Result<std::vector<std::string>> read_text_list(const Json& v, const std::string& field,
                                                std::size_t max_items, std::size_t max_len);
// "low", "normal", "high" or "fatal".
Result<Urgency> read_urgency(const Json& v, const std::string& field);

// Lenient: the string at `key` of `object`, or "" when there is none or it is not a string.
std::string string_or_empty(const Json& object, const char* key);

}  // namespace printrelay
