// One relay node as relayd runs it: the Relay over a store, the parts that hang off it (firmware
// catalog, campaigns, monitoring center; in the child role the upstream link and the relay
// updater), the HTTP API and metrics listeners and the housekeeping timer, wired in the order
// they need each other, started as one and shut down in the reverse order.
//
// relayd's `run` parses its flags into RelayNodeOptions, opens the store and hands both over; the
// wiring lives here so that a unit test can start and stop a node (tests/unit/relay/
// relay_node_test.cpp) without a process around it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "relay/monitoring_center.h"

namespace printrelay {

class Store;
class Relay;

struct RelayNodeOptions {
  std::string data_dir;  // absolute: artifacts/, tls/, bin/ and relay-update files live here
  std::string relay_id = "root-1";
  std::string version = "dev";    // what /healthz reports: "1.4.0 (build dev)"
  std::string build = "dev";      // the build this process runs (a relay-update's artifact id)
  std::vector<std::string> argv;  // as started, for a relay-update's new build

  // The API listener. port 0 picks a free one (RelayNode::port()).
  std::string listen_host = "127.0.0.1";
  unsigned short listen_port = 8443;
  bool plain_http = false;          // the caller allows it on loopback only
  std::string cert_file;            // empty: DATA_DIR/tls/server.pem
  std::string key_file;             // empty: DATA_DIR/tls/server.key
  int threads = 0;                  // I/O threads; 0: one per core
  std::size_t max_connections = 0;  // 0: from the file descriptor limit
  int header_timeout_s = 5;
  std::size_t max_artifact_bytes = std::size_t(512) << 20;
  // A plain listener serving /metrics only; empty host: none.
  std::string metrics_host;
  unsigned short metrics_port = 0;

  // The relay and its API (relay/relay.h, relay/api.h).
  TimeMs job_retention_ms = 24 * 3600 * 1000;
  int poll_interval_s = 900;
  bool offer_long_poll = true;
  double device_rate_per_s = 20;
  int max_bulk_inflight = 64;
  int max_long_polls = 20000;
  int retry_after_s = 5;
  int max_event_streams = 8;
  bool metrics_open = false;
  std::string web_dir;  // non-empty: serve the dashboard from this directory (development)

  // Notifications; relay_id is set from above.
  MonitoringOptions monitoring;

  // The child role: the ordered parents (none: a root relay) and how to reach them.
  std::vector<std::string> upstream_urls;
  std::string upstream_token;
  std::string upstream_ca;
  std::string upstream_proxy;
  int sync_interval_s = 60;
  std::vector<std::string> sync_at;  // HH:MM UTC, checked by the caller
  bool upstream_long_poll = true;
  // PEM Ed25519 keys a relay-update build, and any artifact fetched from the parent, must be
  // signed by.
  std::vector<std::string> trusted_update_keys;
  // The child's copy of its parent's artifacts: images no open job needs are removed beyond
  // this many MiB; 0: no bound.
  std::int64_t artifact_cache_mb = 0;

  // SIGINT and SIGTERM stop the node (relayd); a test stops it with stop().
  bool stop_on_signals = true;
};

class RelayNode {
 public:
  // Wires the parts; nothing listens or runs yet. `store` outlives the node; `store_name` and
  // `store_where` ("sqlite", its file) are what /healthz and the start line say about it.
  RelayNode(Store& store, std::string store_name, std::string store_where,
            RelayNodeOptions options);
  ~RelayNode();
  RelayNode(const RelayNode&) = delete;
  RelayNode& operator=(const RelayNode&) = delete;

  // Binds the listeners and starts the parts: campaigns, monitoring, housekeeping; in the child
  // role the relay-update completion protocol (a build started by an update reports it done, an
  // update cut off while starting is failed, a download is resumed) and then the upstream link.
  // Fails, with nothing left listening, when a listener cannot bind or its certificate cannot be
  // read, or when this relay's own jobs cannot be read.
  Status start();

  // Serves until stop() (or a signal): the I/O threads serve the API, the calling thread runs
  // housekeeping (last-seen writes every second, job expiry). Then shuts down in order: the
  // listeners close, held polls and event streams end, campaigns and monitoring stop, the
  // relay updater and the upstream link stop, the cross-node wake-up ends, and the last
  // sightings are written. Returns at once when start() did not succeed.
  void run();

  // Ends run(). Safe from any thread, also from a request handler or before run().
  void stop();

  // The API listener's bound port; 0 before start().
  unsigned short port() const;
  // The metrics listener's bound port; 0 when there is none.
  unsigned short metrics_port() const;
  // The start line: "root-1 listening on https://HOST:PORT (store sqlite FILE, schema 7, ...)".
  std::string describe() const;

  Relay& relay();

 private:
  struct Parts;
  std::unique_ptr<Parts> p_;
};

}  // namespace printrelay
