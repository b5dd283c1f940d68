// The HTTP face of the relay: routes, credentials and roles, long-poll, the event stream,
// load shaping (per-credential rate, bulk shedding with 429 + Retry-After, alerts first),
// /healthz and /metrics.
//
// Layout: the route table (relay/router.h) is filled by one add_*_routes() per resource, each in
// its own file: api_device.cpp (the device API), api_admin.cpp (the service center's API),
// api_artifacts.cpp, api_relay_tree.cpp (child relays); api.cpp holds the table's dispatch, the
// credential checks every route declares, the replies, and admission. Every Error becomes an HTTP
// answer in error_reply() (its status from net/http_errors.h).
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/rate_limit.h"
#include "net/http_server.h"
#include "relay/campaigns.h"
#include "relay/child_relays.h"
#include "relay/firmware_catalog.h"
#include "relay/live_feed.h"
#include "relay/metrics.h"
#include "relay/relay.h"
#include "relay/router.h"
#include "store/blob_dir.h"

namespace printrelay {

class MonitoringCenter;
class ArtifactFetcher;
class TransferRates;

struct ApiOptions {
  int max_bulk_inflight = 64;  // concurrent non-alert report uploads before 429
  int max_long_polls = 20000;  // concurrent held polls before 429
  // Event streams (GET /v1/events) one admin credential may hold at once; one more closes the
  // oldest of them.
  int max_event_streams_per_credential = 8;
  // /metrics on the API listener without a credential; false: it needs viewer or above (a
  // separate plain listener, serve_metrics(), needs none).
  bool metrics_open = false;
  double device_rate_per_s = 20;  // per device credential; 0 disables
  double device_burst = 40;
  // Failed enrolments (unknown serial, wrong code, refused re-enrolment) allowed per source
  // address and per serial: a burst, then one per period. Past them the relay answers 429
  // without looking at the code, so codes cannot be guessed faster than this.
  double enroll_failures_per_address = 10;
  int enroll_failure_period_s = 6;  // per source address: one more failure every 6 s
  double enroll_failures_per_serial = 5;
  int enroll_serial_period_s = 60;  // per serial: one more failure a minute
  // Requests with an unknown credential allowed per source address before 429 (then one a
  // second). Valid credentials from the same address are never held back by this.
  double auth_failures_per_address = 50;
  int retry_after_s = 5;  // base of the Retry-After we hand out (jittered up to 2x)
  std::string store_name = "sqlite";
  BlobDirectory* artifacts = nullptr;  // signed artifacts (firmware, relay builds); none: 404
  // A child relay: what is not in `artifacts` is fetched from the parent when asked for (until
  // it is here, a download is answered 503 with the progress); none: 404.
  ArtifactFetcher* fetcher = nullptr;
  // A child relay: device downloads measure the LAN rate to each device; none: not measured.
  TransferRates* rates = nullptr;
  FirmwareCatalog* firmware = nullptr;     // update checks and history; none: 404
  Campaigns* campaigns = nullptr;          // firmware campaigns; none: 404
  MonitoringCenter* monitoring = nullptr;  // tables, judgments, notifications; none: 404
  std::string version;                     // this relayd's version, in /healthz
  int schema_version = 0;
  // Serve the dashboard from this folder instead of the copy built in (development).
  std::filesystem::path web_dir;
  // More Prometheus text for /metrics, with its own # TYPE lines (a child's upstream link:
  // upstream_metrics_text()); empty: none.
  std::function<std::string()> more_metrics;
};

class RelayApi {
 public:
  RelayApi(Relay& relay, LiveFeed& feed, Metrics& metrics, ApiOptions options);
  boost::asio::awaitable<void> handle(Exchange& ex);
  // The child relays of this node (for a child of its own: which relays are below it).
  ChildRelays& child_relays() { return children_; }
  // ServerOptions::admit: refuses from the header alone, with the error JSON and status the
  // handler would answer, before a body is read: an artifact upload without an admin
  // credential of the admin role (401/403; nothing is spooled, no 100 Continue), and any other
  // request with a body but no credential or one the relay does not know (except enrolment,
  // which needs none). Unknown credentials count against the address like auth_failure().
  std::optional<HttpResponseMsg> admit(const http::request_header<>& header,
                                       const std::string& path, bool has_body,
                                       const std::string& remote);
  // The separate metrics listener (relayd --metrics-listen): GET /metrics with no credential;
  // anything else 404.
  boost::asio::awaitable<void> serve_metrics(Exchange& ex);

  // Every route, in match order. docs/protocol.md lists each of them with the role it needs
  // (router_test holds the two together).
  struct RouteInfo {
    http::verb method;
    std::string pattern;
    Access access;
  };
  std::vector<RouteInfo> route_list() const;

 private:
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
  // One request on its way to a handler, after the route's credential check.
  struct Call {
    Exchange& ex;
    RouteParams params;  // the route's `{name}` segments
    TimeMs now;
    std::string serial;  // Access::kDevice: the device's serial
    // Admin routes: the admin credential; kChildRelay: the child relay's (its name is its id).
    std::optional<AdminCredential> who;
    const std::string& user() const { return who->name; }
    Result<Json> body() const;
    std::string query(const char* key) const { return ex.query_value(key); }
    bool flag(const char* key) const;  // "?all=1": present and not 0/false
  };
  using Handler = std::function<Reply(Call&)>;
  void add_routes();  // all of them, in match order
  void add_device_routes();
  void add_admin_routes();
  void add_artifact_routes();
  void add_relay_tree_routes();
  // The route's credential check; nullopt when the caller may go on (call.serial / call.who set).
  std::optional<Reply> check_access(Access access, Call& call);
  // No route matched: 404, after the credential check the path's API would have made (so an
  // unknown path tells a caller without a credential nothing).
  Reply unrouted(Exchange& ex, const std::vector<std::string>& seg, TimeMs now);

  // Enrolment with its limits on failures (per source address and serial) and its log lines.
  Reply enroll(Exchange& ex, const Json& body, TimeMs now);
  // An authentication failure from `address`: the error to answer (429 once the address has
  // failed too often), and a log line for the first failures of each burst.
  Reply auth_failure(const Exchange& ex, const Error& e);
  Reply dispatch(Exchange& ex, std::string& route_name);
  // GET /v1/artifacts/{sha} (manifest) and, with `data`, /v1/artifacts/{sha}/data (bytes, HTTP
  // Range).
  Reply artifact_download(Exchange& ex, const std::string& sha, bool data);
  Reply artifact_upload(Exchange& ex, const std::string& sha);
  Reply ok_reply(int status, Json body);
  Reply error_reply(const Error& e);
  Reply result_reply(Result<Json> r, int ok_status = 200);
  static HttpResponseMsg make_response(const HttpRequestMsg& req, const Reply& r);
  boost::asio::awaitable<int> device_poll(Exchange& ex, const std::string& serial,
                                          const Json& body);
  // The answer to a poll that was held: the jobs now, or 401 when the credential was revoked
  // meanwhile.
  boost::asio::awaitable<int> answer_held_poll(Exchange& ex, const std::string& serial);
  // The error to answer a held request (a poll, a child's sync) whose credential no longer
  // names `holder` (a serial, a child relay's id): revoked while it was held. nullopt: still valid.
  std::optional<Reply> revoked_while_held(const HttpRequestMsg& req, const std::string& holder);
  // `credential`: the admin credential's name, whose streams are counted.
  boost::asio::awaitable<int> event_stream(Exchange& ex, const std::string& credential);
  // The stream itself, once event_stream() has the credential's slot. (A separate coroutine:
  // GCC 12 warns of a mismatched frame delete when both are one.)
  boost::asio::awaitable<int> stream_events(Exchange& ex, const std::string& credential,
                                            std::shared_ptr<LiveFeed::Subscriber> sub);
  std::string metrics_text();
  // An admission refused for its credential (admit()), counted per source address like
  // auth_failure(): 429 once the address has failed too often.
  Reply refused_credential(const std::string& address, const Error& e);
  boost::asio::awaitable<int> relay_sync(Exchange& ex, const std::string& child_id,
                                         const Json& body);

  Relay& relay_;
  ChildRelays children_{relay_};
  LiveFeed& feed_;
  Metrics& metrics_;
  ApiOptions options_;
  RouteTable<Handler> routes_;
  std::atomic<int> bulk_inflight_{0};
  std::atomic<int> long_polls_{0};
  std::mutex streams_mu_;
  // Open event streams per admin credential name, oldest first.
  std::map<std::string, std::deque<std::shared_ptr<LiveFeed::Subscriber>>> streams_;
  std::mutex buckets_mu_;  // guards the buckets below
  TokenBuckets device_buckets_;
  TokenBuckets enroll_by_address_;
  TokenBuckets enroll_by_serial_;
  TokenBuckets auth_by_address_;
};

}  // namespace printrelay
