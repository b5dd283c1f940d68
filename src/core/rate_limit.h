// Token buckets by key (a device serial, a source address), with the clock passed in: the
// relay's per-device request rate and its limits on failed enrolments and failed credentials.
// Not thread-safe: the caller holds its lock.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>

#include "core/model.h"

namespace printrelay {

class TokenBuckets {
 public:
  // Each key starts with `burst` tokens and gains `rate_per_s` a second up to `burst`. At most
  // `max_keys` keys are tracked: past that, keys whose bucket has refilled are forgotten (they
  // would start full anyway), so a flood of new keys costs bounded memory.
  TokenBuckets(double rate_per_s, double burst, std::size_t max_keys = 100000);

  // Takes one token from `key`'s bucket; false (nothing taken) when it has less than one.
  bool take(const std::string& key, TimeMs now);
  // True when `key` could take a token now (nothing is taken).
  bool has_token(const std::string& key, TimeMs now);
  // Whole seconds until `key` has a token again (0: it has one now).
  int seconds_until_token(const std::string& key, TimeMs now);
  std::size_t tracked_keys() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    TimeMs at = 0;
  };
  Bucket& refilled(const std::string& key, TimeMs now);
  void forget_full(TimeMs now);

  double rate_per_s_;
  double burst_;
  std::size_t max_keys_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace printrelay
