// When a device should next call the relay, from its PollPolicy (seed 001 claim 18).
// Pure functions; the random part is passed in so tests are deterministic.
#pragma once

#include "core/model.h"

namespace printrelay {

// The relay's answer to "when next": the interval spread by +-`jitter_fraction` using
// `unit_random` in [0, 1). A fleet that comes back after a power cut spreads out instead of
// arriving in step.
int jittered_interval_s(const PollPolicy& p, double unit_random, double jitter_fraction = 0.1);

// The next time of day in the policy strictly after `now` (UTC), or nullopt when it lists none.
std::optional<TimeMs> next_time_of_day(const PollPolicy& p, TimeMs now);

// Whether a counter or an error code fires one of the policy's conditions.
// `counters` is a counters report body; `error_code` may be empty.
bool condition_fires(const PollPolicy& p, const Json& counters, const std::string& error_code);

}  // namespace printrelay
