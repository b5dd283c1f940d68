// Request counters and latency histograms in the Prometheus text format. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace printrelay {

class Metrics {
 public:
  void observe(const std::string& route, int status, double seconds);
  void count_reports(std::size_t n);
  // Bytes of artifact data written to clients (GET /v1/artifacts/{sha}/data), counted per chunk
  // as they go out: an interrupted download counts what was written before it broke off. Lock-free.
  void count_artifact_bytes_sent(std::uint64_t n) {
    artifact_bytes_sent_.fetch_add(n, std::memory_order_relaxed);
  }
  // Renders everything, plus the gauges passed in (name -> value).
  std::string render(const std::map<std::string, double>& gauges) const;

 private:
  static constexpr std::array<double, 10> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                      0.025,  0.05,  0.1,    0.5,   2.5};
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::uint64_t reports_stored_ = 0;
  std::atomic<std::uint64_t> artifact_bytes_sent_{0};
};

}  // namespace printrelay
