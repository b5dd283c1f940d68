#include "core/poll_schedule.h"

#include <algorithm>
#include <cmath>

namespace printrelay {

int jittered_interval_s(const PollPolicy& p, double unit_random, double jitter_fraction) {
  double spread = p.interval_s * jitter_fraction;
  double v = p.interval_s - spread + 2 * spread * std::clamp(unit_random, 0.0, 1.0);
  return std::max(1, int(std::lround(v)));
}

std::optional<TimeMs> next_time_of_day(const PollPolicy& p, TimeMs now) {
  constexpr TimeMs kDay = 86400000;
  TimeMs midnight = now - ((now % kDay) + kDay) % kDay;
  std::optional<TimeMs> best;
  for (const auto& t : p.times_of_day) {
    auto m = parse_time_of_day(t);
    if (!m) continue;
    TimeMs at = midnight + TimeMs(*m) * 60000;
    if (at <= now) at += kDay;
    if (!best || at < *best) best = at;
  }
  return best;
}

bool condition_fires(const PollPolicy& p, const Json& counters, const std::string& error_code) {
  for (const auto& c : p.conditions) {
    if (c.kind == "counter_at_least") {
      auto it = counters.find(c.counter);
      if (it != counters.end() && it->is_number() && it->get<std::int64_t>() >= c.value) {
        return true;
      }
    } else if (c.kind == "error_code" && !error_code.empty() && error_code == c.code) {
      return true;
    }
  }
  return false;
}

}  // namespace printrelay
