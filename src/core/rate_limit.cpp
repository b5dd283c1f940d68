#include "core/rate_limit.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <utility>
#include <vector>

namespace printrelay {

TokenBuckets::TokenBuckets(double rate_per_s, double burst, std::size_t max_keys)
    : rate_per_s_(rate_per_s), burst_(burst), max_keys_(max_keys) {}

TokenBuckets::Bucket& TokenBuckets::refilled(const std::string& key, TimeMs now) {
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) forget_full(now);
    it = buckets_.emplace(key, Bucket{burst_, now}).first;
    return it->second;
  }
  Bucket& b = it->second;
  // A clock that went back refills nothing (and takes nothing back).
  const double dt_s = now > b.at ? double(now - b.at) / 1000.0 : 0.0;
  b.tokens = std::min(burst_, b.tokens + dt_s * rate_per_s_);
  b.at = std::max(b.at, now);
  return b;
}

void TokenBuckets::forget_full(TimeMs now) {
  // Buckets that have refilled would start full anyway: forgetting them changes nothing. When
  // that frees less than a tenth of the room (a flood of keys that each failed once), the
  // fullest of the rest go too, so that this O(n) sweep runs at most once per tenth of
  // max_keys insertions and memory stays bounded; the emptiest buckets (the keys that failed
  // most) are the last to be forgotten.
  const auto projected = [&](const Bucket& b) {
    const double dt_s = now > b.at ? double(now - b.at) / 1000.0 : 0.0;
    return std::min(burst_, b.tokens + dt_s * rate_per_s_);
  };
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = projected(it->second) >= burst_ ? buckets_.erase(it) : std::next(it);
  }
  const std::size_t room = std::max<std::size_t>(1, max_keys_ / 10);
  if (buckets_.size() + room <= max_keys_) return;
  const std::size_t drop = buckets_.size() + room - max_keys_;
  std::vector<std::pair<double, std::string>> fullest;
  fullest.reserve(buckets_.size());
  for (const auto& [key, b] : buckets_) fullest.emplace_back(projected(b), key);
  std::nth_element(fullest.begin(), fullest.begin() + std::ptrdiff_t(drop - 1), fullest.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; i < drop; ++i) buckets_.erase(fullest[i].second);
}

bool TokenBuckets::take(const std::string& key, TimeMs now) {
  Bucket& b = refilled(key, now);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

bool TokenBuckets::has_token(const std::string& key, TimeMs now) {
  auto it = buckets_.find(key);
  if (it == buckets_.end()) return burst_ >= 1;
  return refilled(key, now).tokens >= 1;
}

int TokenBuckets::seconds_until_token(const std::string& key, TimeMs now) {
  auto it = buckets_.find(key);
  if (it == buckets_.end()) return 0;
  const Bucket& b = refilled(key, now);
  if (b.tokens >= 1) return 0;
  if (rate_per_s_ <= 0) return 3600;
  return int(std::ceil((1 - b.tokens) / rate_per_s_));
}

}  // namespace printrelay
