#include "relay/metrics.h"

#include <sstream>

namespace printrelay {

void Metrics::observe(const std::string& route, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{route, status}];
  auto& h = latency_[route];
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++h.buckets[i];
  }
  ++h.count;
  h.sum += seconds;
}

void Metrics::count_reports(std::size_t n) {
  std::lock_guard lock(mu_);
  reports_stored_ += n;
}

std::string Metrics::render(const std::map<std::string, double>& gauges) const {
  std::ostringstream out;
  std::lock_guard lock(mu_);
  out << "# HELP printrelay_http_requests_total HTTP requests by route and status.\n"
         "# TYPE printrelay_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out << "printrelay_http_requests_total{route=\"" << key.first << "\",status=\"" << key.second
        << "\"} " << n << "\n";
  }
  out << "# HELP printrelay_http_request_duration_seconds Time to answer, by route.\n"
         "# TYPE printrelay_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      out << "printrelay_http_request_duration_seconds_bucket{route=\"" << route << "\",le=\""
          << kBuckets[i] << "\"} " << h.buckets[i] << "\n";
    }
    out << "printrelay_http_request_duration_seconds_bucket{route=\"" << route << "\",le=\"+Inf\"} "
        << h.count << "\n";
    out << "printrelay_http_request_duration_seconds_sum{route=\"" << route << "\"} " << h.sum
        << "\n";
    out << "printrelay_http_request_duration_seconds_count{route=\"" << route << "\"} " << h.count
        << "\n";
  }
  out << "# TYPE printrelay_reports_stored_total counter\nprintrelay_reports_stored_total "
      << reports_stored_ << "\n";
  out << "# HELP printrelay_artifact_bytes_sent_total Artifact data bytes written to clients.\n"
         "# TYPE printrelay_artifact_bytes_sent_total counter\n"
         "printrelay_artifact_bytes_sent_total "
      << artifact_bytes_sent_.load(std::memory_order_relaxed) << "\n";
  for (const auto& [name, v] : gauges)
    out << "# TYPE " << name << " gauge\n" << name << " " << v << "\n";
  return out.str();
}

}  // namespace printrelay
