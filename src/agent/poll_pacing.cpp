#include "agent/poll_pacing.h"

#include <algorithm>
#include <cmath>

namespace printrelay::agent {

double regular_poll_delay_s(const Json& next_poll_s, int interval_s) {
  const double interval = std::clamp(interval_s, kMinPollDelayS, kMaxPollDelayS);
  if (!next_poll_s.is_number()) return interval;
  const double hint = next_poll_s.get<double>();
  if (!std::isfinite(hint) || hint <= 0) return interval;
  const double longest = std::min<double>(kMaxPollStretch * interval, kMaxPollDelayS);
  return std::clamp<double>(hint, kMinPollDelayS, longest);
}

}  // namespace printrelay::agent
