// How long a device waits before its next regular poll, given the relay's pacing hint
// (`next_poll_s` in the poll answer, docs/protocol.md "POST /v1/device/poll"). Pure.
//
// A relay may slow a device down (under load) or speed it up a little, but a relay that is
// compromised must not be able to silence a device or make it hammer the network: the hint is
// clamped to [kMinPollDelayS, min(kMaxPollStretch x interval_s, kMaxPollDelayS)], where interval_s
// is the device's own policy interval. A hint that is missing, not a number or not positive means
// "the policy interval".
#pragma once

#include "core/model.h"

namespace printrelay::agent {

inline constexpr int kMinPollDelayS = 5;           // the shortest policy interval
inline constexpr int kMaxPollStretch = 4;          // a relay may at most quadruple the interval
inline constexpr int kMaxPollDelayS = 7 * 86'400;  // the longest policy interval

// The delay in seconds for the hint `next_poll_s` (any JSON value) and the policy interval.
double regular_poll_delay_s(const Json& next_poll_s, int interval_s);

}  // namespace printrelay::agent
