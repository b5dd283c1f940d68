// The HTTP face of the relay: routes, credentials and roles, long-poll, the event stream,
// load shaping (per-credential rate, bulk shedding with 429 + Retry-After, alerts first),
// /healthz and /metrics. Maps every Error kind to its status in one place (core/result.h).
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "net/http_server.h"
#include "relay/campaigns.h"
#include "relay/child_relays.h"
#include "relay/firmware_catalog.h"
#include "relay/live_feed.h"
#include "relay/metrics.h"
#include "relay/relay.h"
#include "store/blob_dir.h"

namespace printrelay {

class MonitoringCenter;

struct ApiOptions {
  int max_bulk_inflight = 64;     // concurrent non-alert report uploads before 429
  int max_long_polls = 20000;     // concurrent held polls before 429
  double device_rate_per_s = 20;  // per device credential; 0 disables
  double device_burst = 40;
  int retry_after_s = 5;  // base of the Retry-After we hand out (jittered up to 2x)
  std::string store_name = "sqlite";
  BlobDirectory* artifacts = nullptr;      // signed artifacts (firmware, relay builds); none: 404
  FirmwareCatalog* firmware = nullptr;     // update checks and history; none: 404
  Campaigns* campaigns = nullptr;          // firmware campaigns; none: 404
  MonitoringCenter* monitoring = nullptr;  // tables, judgments, notifications; none: 404
  std::string version;                     // this relayd's version, in /healthz
  int schema_version = 0;
  // Serve the dashboard from this folder instead of the copy built in (development).
  std::filesystem::path web_dir;
};

class RelayApi {
 public:
  RelayApi(Relay& relay, LiveFeed& feed, Metrics& metrics, ApiOptions options);
  boost::asio::awaitable<void> handle(Exchange& ex);

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
  };
  bool take_token(const std::string& serial);
  int retry_after();
  // What dispatch() decided: a complete JSON (or text) answer, or a held request.
  struct Reply {
    enum Special { kNone, kPoll, kEvents, kSync };
    int status = 200;
    Json body;
    std::string text;          // non-JSON body (metrics, artifact data)
    std::string content_type;  // of `text`; default text/plain (Prometheus)
    std::string content_range;
    std::string content_disposition;  // a download's file name (billing CSV)
    bool page = false;                // a dashboard file: sent with the browser security headers
    // Artifact data: `file_length` bytes of this open blob from `file_offset`, streamed by
    // handle() instead of `text` (content_type and content_range still apply).
    std::shared_ptr<BlobFile> file;
    std::int64_t file_offset = 0;
    std::int64_t file_length = 0;
    int retry_after_s = 0;
    bool www_authenticate = false;
    Special special = kNone;
    std::string serial;
  };
  Reply dispatch(Exchange& ex, std::string& route_name);
  // GET /v1/artifacts/{sha} (manifest) and /v1/artifacts/{sha}/data (bytes, HTTP Range).
  Reply artifact_download(Exchange& ex, const std::vector<std::string>& seg);
  Reply artifact_upload(Exchange& ex, const std::string& sha);
  Reply ok_reply(int status, Json body);
  Reply error_reply(const Error& e);
  Reply result_reply(Result<Json> r, int ok_status = 200);
  static HttpResponseMsg make_response(const HttpRequestMsg& req, const Reply& r);
  boost::asio::awaitable<int> device_poll(Exchange& ex, const std::string& serial,
                                          const Json& body);
  boost::asio::awaitable<int> event_stream(Exchange& ex);
  boost::asio::awaitable<int> relay_sync(Exchange& ex, const std::string& child_id,
                                         const Json& body);

  Relay& relay_;
  ChildRelays children_{relay_};
  LiveFeed& feed_;
  Metrics& metrics_;
  ApiOptions options_;
  std::atomic<int> bulk_inflight_{0};
  std::atomic<int> long_polls_{0};
  std::mutex buckets_mu_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace printrelay
