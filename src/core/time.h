// Wall-clock times are int64 milliseconds since the Unix epoch (UTC) everywhere in printrelay;
// on the wire they are RFC 3339 strings in UTC with milliseconds ("2026-11-23T09:15:00.000Z").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace printrelay {

using TimeMs = std::int64_t;

std::string format_time(TimeMs t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fff]Z" (also with "+00:00"). Anything else is bad input.
Result<TimeMs> parse_time(std::string_view s);

// Minutes after midnight UTC for "HH:MM", or bad input.
Result<int> parse_time_of_day(std::string_view s);

}  // namespace printrelay
