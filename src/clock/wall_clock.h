// The wall clock, read in one place. `core` never reads it: its rules take `now` as an argument,
// and the parts that act in real time (the relay, the agent, the simulator, relayctl, the stores'
// migration records) pass wall_clock_ms() in.
#pragma once

#include "core/time.h"

namespace printrelay {

// Now, in milliseconds since the Unix epoch (UTC), from the system clock: it may step when the
// host's time is set, so measure durations and deadlines on std::chrono::steady_clock instead.
TimeMs wall_clock_ms();

}  // namespace printrelay
