// How the core rules word what they find and refuse: one spelling of numbers, durations and lists
// for the texts operators read (findings, forecasts, notification lines, error messages). For the
// .cpp files of core only; no public header includes it, so its names and the time units below
// stay out of the modules that include core. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/time.h"

namespace printrelay {

inline constexpr TimeMs kMinuteMs = 60 * 1000;
inline constexpr TimeMs kHourMs = 60 * kMinuteMs;
inline constexpr TimeMs kDayMs = 24 * kHourMs;
inline constexpr TimeMs kYearMs = 365 * kDayMs;

// ASCII letters lower-cased; every other byte unchanged.
std::string lower(std::string_view s);
// "a, b, c" for join({"a", "b", "c"}, ", "); "" for no parts.
std::string join(const std::vector<std::string>& parts, const char* sep);
// "90 s" (anything not whole minutes), "45 min", "1 h 30 min", "24 h", "7 days" (whole days from
// two days up; one day is "24 h").
std::string duration_text(TimeMs ms);
// "1 time", "3 times".
std::string times_text(std::int64_t n);
// A number with at most `decimals` decimals, trailing zeros dropped: 2.5, 14, 0.33; never "-0".
std::string number_text(double v, int decimals = 1);
// "report <id> (<kind>)", how notes about a stored report name it.
std::string report_name(const Report& r);

}  // namespace printrelay
