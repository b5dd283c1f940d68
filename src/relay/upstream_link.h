// A child relay's link to its parents (seed 001 claims 26-34): it polls the parent like a device
// does, only ever opening connections outward.
//
// - Upward: what devices left here waits in the store's upstream outbox and goes up in batches,
//   in the order it was accepted, aggregated per device (claims 26, 31). An item leaves the
//   outbox only when the parent answered that it stored it, so a child killed at any point
//   sends again what was not confirmed, and the parent drops repeats by their ids.
// - Downward: jobs for the devices this relay serves (and their cancellations) and the
//   directory (registrations, device credentials) come back in every answer. With long-poll a
//   second connection waits at the parent, so a job reaches this relay as soon as it is posted.
// - When: at once when there is something to send (alerts first), every `policy.interval_s`, and
//   at the policy's times of day (claims 33-34).
// - Failover: parents are tried in order; after a failure the next one (claim 32). The first
//   parent is tried again every `return_to_first_s`.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/model.h"
#include "net/http_client.h"
#include "relay/relay.h"

namespace printrelay {

struct UpstreamOptions {
  std::vector<std::string> urls;  // ordered parents, e.g. https://root.example:8443
  std::string token;              // this relay's credential at the parents
  std::string ca_file;            // to verify the parents; empty: system store
  std::string proxy;              // outbound proxy, as for devices
  PollPolicy policy;              // interval and times of day of the regular sync
  bool long_poll = true;
  int wait_s = 20;
  std::size_t batch_items = 200;
  TimeMs served_window_ms = 15 * 60 * 1000;  // a device is ours if it polled within this
  int return_to_first_s = 300;
  std::string version;
  // A job addressed to this relay itself (relay-update), once it has been stored here.
  std::function<void(const Job&)> on_own_job;
  // The relays that synced with this one since the given time (its children): the parent sends
  // their jobs through this relay. Unset: none.
  std::function<std::vector<std::string>(TimeMs)> relays_below;
  // The measured transfer rates (TransferRates::to_json), sent with every regular sync (not
  // with the held one). Unset: none.
  std::function<Json()> rates;
  // Every job received from the parent, once stored here (the artifacts it names are fetched).
  std::function<void(const Job&)> on_job;
  // The parent's firmware catalog (signed manifests), when it changed since the last sync. The
  // callee returns false when it could not take it: the parent then sends it again.
  std::function<bool(const Json&)> on_catalog;
};

class UpstreamLink {
 public:
  UpstreamLink(Relay& relay, UpstreamOptions options);
  ~UpstreamLink();
  UpstreamLink(const UpstreamLink&) = delete;
  UpstreamLink& operator=(const UpstreamLink&) = delete;

  void start();
  void stop();  // ends in-flight requests within about a second and joins
  // Something was queued; `urgent` (an alert) skips the short wait that gathers a batch.
  void nudge(bool urgent);

  struct Status {
    std::string parent;                   // URL in use
    std::optional<std::int64_t> backlog;  // nullopt: the store could not count it
    std::int64_t syncs_ok = 0;
    std::int64_t syncs_failed = 0;
    std::int64_t items_sent = 0;
    std::int64_t items_rejected = 0;
    TimeMs last_ok = 0;
    std::string last_error;
  };
  Status status();

  // How to reach the parent in use now (for downloads beside the sync).
  struct ParentAccess {
    std::string url;
    std::string token;
    std::string ca_file;
    std::string proxy;
  };
  ParentAccess parent_access();

 private:
  void send_loop();
  void listen_loop();
  // One sync: builds the request around `items`, sends it to the parents in failover order,
  // applies the answer. Returns the answer's acked_seq (0 when none), or the error.
  Result<std::int64_t> sync_once(HttpClient& client, const std::vector<UpstreamItem>& items,
                                 int wait_s);
  Result<Json> post(HttpClient& client, const std::string& body, long timeout_ms);
  void apply(const Json& answer, TimeMs now);
  bool stopping() const { return stop_.load(); }

  Relay& relay_;
  UpstreamOptions options_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool nudged_ = false;
  bool urgent_ = false;
  std::size_t current_ = 0;  // index into urls of the parent in use
  TimeMs left_first_at_ = 0;
  std::string directory_version_;
  std::string catalog_version_;
  Status status_;
  std::thread sender_;
  std::thread listener_;
};

// A child's link to its parents in Prometheus text: printrelay_upstream_syncs_total{result="ok"|
// "failed"}, printrelay_upstream_items_sent_total, printrelay_upstream_items_rejected_total
// (counters since start) and printrelay_upstream_last_sync_timestamp_seconds (0: none yet). An
// alert on "no sync for N minutes" keys on the last; a parent that refuses items shows in the
// rejected count.
std::string upstream_metrics_text(const UpstreamLink::Status& status);

}  // namespace printrelay
