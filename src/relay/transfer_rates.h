// Measured transfer rates at a child relay or gateway (seed 004 claim 5): the WAN rate (parent to
// this relay, from its artifact fetches) and the LAN rate to each device (from the device's own
// artifact downloads). They are what the service center computes transmission and update times
// from; a child reports them upward with its sync, and the parent keeps the latest per child.
//
// A transfer shorter than kMinMeasuredBytes says more about latency than about the link and is
// not taken. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "core/model.h"
#include "core/time.h"

namespace printrelay {

inline constexpr std::int64_t kMinMeasuredBytes = 256 * 1024;

struct MeasuredRate {
  double bytes_per_s = 0;
  std::int64_t bytes = 0;  // of the transfer it was measured on
  TimeMs at = 0;
};

class TransferRates {
 public:
  // A transfer of `bytes` took `seconds`: taken when it is long enough to measure a link.
  void note_wan(std::int64_t bytes, double seconds, TimeMs now);
  void note_lan(const std::string& serial, std::int64_t bytes, double seconds, TimeMs now);

  // {"wan": {"bytes_per_s", "bytes", "at"} | null, "devices": [{"serial", "bytes_per_s",
  // "bytes", "at"}]} (devices by serial), as a sync carries it upward.
  Json to_json() const;

 private:
  mutable std::mutex mu_;
  MeasuredRate wan_;
  std::map<std::string, MeasuredRate> lan_;
};

// The JSON of one measured rate; `at` as an RFC 3339 time.
Json rate_json(const MeasuredRate& r);

}  // namespace printrelay
