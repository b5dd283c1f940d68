#include "relay/api.h"

#include <algorithm>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>
#include <random>
#include <sstream>

#include "core/artifact.h"
#include "core/byte_range.h"
#include "core/codec.h"
#include "relay/billing_export.h"
#include "relay/dashboard_assets.h"
#include "relay/monitoring_center.h"

namespace printrelay {

namespace asio = boost::asio;

namespace {

// How `relayctl artifact push` sends an artifact's manifest and signature with its bytes.
constexpr const char* kManifestHeader = "X-Artifact-Manifest";
constexpr const char* kSignatureHeader = "X-Artifact-Signature";

TimeMs now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The rate limits' clock: never jumps with the wall clock.
TimeMs steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

HttpResponseMsg raw_json_response(const HttpRequestMsg& req, int status, std::string body) {
  HttpResponseMsg res{static_cast<http::status>(status), req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::server, "relayd");
  res.body() = std::move(body);
  return res;
}

HttpResponseMsg json_response(const HttpRequestMsg& req, int status, const Json& body) {
  return raw_json_response(req, status, body.dump());
}

std::string bearer(const http::request_header<>& req) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return "";
  std::string_view v(it->value().data(), it->value().size());
  if (v.size() < 7 || (v.substr(0, 7) != "Bearer " && v.substr(0, 7) != "bearer ")) return "";
  return std::string(v.substr(7));
}

// Splits "/v1/jobs/j-1/cancel" into {"v1","jobs","j-1","cancel"}.
std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    std::size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

bool role_allows(Role have, Role need) {
  if (have == Role::kRelay || need == Role::kRelay) return have == need;
  return static_cast<int>(have) >= static_cast<int>(need);
}

// A held request's place in the long-poll count (ApiOptions::max_long_polls): taken at
// construction when the count is below `limit`, given back when this goes out of scope, however
// the coroutine leaves it (a throw included).
class LongPollSlot {
 public:
  LongPollSlot(std::atomic<int>& count, int limit) : count_(count) {
    taken_ = count_.fetch_add(1) < limit;
    if (!taken_) count_.fetch_sub(1);
  }
  ~LongPollSlot() {
    if (taken_) count_.fetch_sub(1);
  }
  LongPollSlot(const LongPollSlot&) = delete;
  LongPollSlot& operator=(const LongPollSlot&) = delete;
  explicit operator bool() const { return taken_; }

 private:
  std::atomic<int>& count_;
  bool taken_ = false;
};

// A held request's waiter: watching `keys` in the feed and `holder`'s one held request (a newer
// one of the same holder replaces it); both undone when this goes out of scope.
class HeldWait {
 public:
  HeldWait(LiveFeed& feed, std::vector<std::string> keys, std::string holder,
           asio::any_io_executor executor)
      : feed_(feed),
        keys_(std::move(keys)),
        holder_(std::move(holder)),
        waiter_(feed_.watch_devices(keys_, std::move(executor))) {
    feed_.hold(holder_, waiter_);
  }
  ~HeldWait() {
    feed_.release(holder_, waiter_);
    feed_.unwatch_devices(keys_, waiter_);
  }
  HeldWait(const HeldWait&) = delete;
  HeldWait& operator=(const HeldWait&) = delete;
  asio::steady_timer& timer() { return waiter_->timer; }
  bool replaced() const { return waiter_->replaced; }

 private:
  LiveFeed& feed_;
  std::vector<std::string> keys_;
  std::string holder_;
  std::shared_ptr<LiveFeed::Waiter> waiter_;
};

// One event stream among its credential's (ApiOptions::max_event_streams_per_credential): at
// the cap the oldest of them is marked replaced and woken (it closes), so a dashboard reloaded
// again and again, whose old streams the relay cannot see closed until a write fails, is never
// locked out. Taken back when this goes out of scope.
class StreamSlot {
 public:
  using Streams = std::map<std::string, std::deque<std::shared_ptr<LiveFeed::Subscriber>>>;
  StreamSlot(std::mutex& mu, Streams& streams, std::string credential, int limit,
             std::shared_ptr<LiveFeed::Subscriber> sub)
      : mu_(mu), streams_(streams), credential_(std::move(credential)), sub_(std::move(sub)) {
    std::lock_guard lock(mu_);
    auto& mine = streams_[credential_];
    while (!mine.empty() && int(mine.size()) >= limit) {
      auto oldest = mine.front();
      mine.pop_front();
      oldest->replaced = true;
      boost::asio::post(oldest->timer.get_executor(), [oldest] { oldest->timer.cancel(); });
    }
    mine.push_back(sub_);
  }
  ~StreamSlot() {
    std::lock_guard lock(mu_);
    auto it = streams_.find(credential_);
    if (it == streams_.end()) return;
    std::erase(it->second, sub_);
    if (it->second.empty()) streams_.erase(it);
  }
  StreamSlot(const StreamSlot&) = delete;
  StreamSlot& operator=(const StreamSlot&) = delete;

 private:
  std::mutex& mu_;
  Streams& streams_;
  std::string credential_;
  std::shared_ptr<LiveFeed::Subscriber> sub_;
};

bool alerts_only(const Json& body) {
  auto it = body.find("reports");
  if (it == body.end() || !it->is_array() || it->empty()) return false;
  for (const auto& r : *it) {
    if (text_field(r, "kind") != "alert") return false;
  }
  return true;
}

}  // namespace

RelayApi::Reply RelayApi::ok_reply(int status, Json body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

RelayApi::Reply RelayApi::error_reply(const Error& e) {
  Reply r;
  r.status = http_status(e.kind);
  if (e.kind == ErrorKind::kUnavailable) {
    // Store and upstream errors name hosts, SQL and server text: the log gets them, the client
    // a generic answer it can act on.
    std::cerr << "relayd: answered 503: " << e.message << std::endl;
    r.body = error_json(Error{ErrorKind::kUnavailable,
                              "temporarily unavailable (the relay logged the cause); retry later"});
    r.retry_after_s = retry_after();
    return r;
  }
  if (e.kind == ErrorKind::kConflict && e.message.starts_with("store: ")) {
    // A constraint the store itself refused (both stores prefix their own messages so): the
    // text holds SQL and server wording, which stays in the log.
    std::cerr << "relayd: answered 409: " << e.message << std::endl;
    r.body = error_json(Error{ErrorKind::kConflict,
                              "the change conflicts with what the store holds (the relay logged "
                              "the details); read the current state and retry"});
    return r;
  }
  r.body = error_json(e);
  if (e.kind == ErrorKind::kRateLimited) r.retry_after_s = retry_after();
  r.www_authenticate = e.kind == ErrorKind::kUnauthorized;
  return r;
}

RelayApi::Reply RelayApi::result_reply(Result<Json> res, int ok_status) {
  if (!res) return error_reply(res.error());
  return ok_reply(ok_status, std::move(res).value());
}

HttpResponseMsg RelayApi::make_response(const HttpRequestMsg& req, const Reply& r) {
  if (!r.text.empty() || !r.content_type.empty()) {
    HttpResponseMsg res{static_cast<http::status>(r.status), req.version()};
    res.set(http::field::content_type,
            r.content_type.empty() ? "text/plain; version=0.0.4" : r.content_type);
    if (!r.content_range.empty()) res.set(http::field::content_range, r.content_range);
    if (!r.content_disposition.empty())
      res.set(http::field::content_disposition, r.content_disposition);
    if (r.page) {
      // The dashboard loads only its own files and talks only to this relay.
      res.set("Content-Security-Policy",
              "default-src 'self'; img-src 'self' data:; style-src 'self'; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
      res.set("X-Content-Type-Options", "nosniff");
      res.set("Referrer-Policy", "no-referrer");
      res.set(http::field::cache_control, "no-cache");
    } else if (r.status == 200 || r.status == 206) {
      res.set(http::field::accept_ranges, "bytes");
    }
    res.body() = r.text;
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return res;
  }
  auto res = json_response(req, r.status, r.body);
  if (r.retry_after_s) res.set(http::field::retry_after, std::to_string(r.retry_after_s));
  if (r.www_authenticate) res.set(http::field::www_authenticate, "Bearer");
  return res;
}

RelayApi::RelayApi(Relay& relay, LiveFeed& feed, Metrics& metrics, ApiOptions options)
    : relay_(relay),
      feed_(feed),
      metrics_(metrics),
      options_(std::move(options)),
      device_buckets_(options_.device_rate_per_s, options_.device_burst),
      enroll_by_address_(1.0 / std::max(1, options_.enroll_failure_period_s),
                         options_.enroll_failures_per_address),
      enroll_by_serial_(1.0 / std::max(1, options_.enroll_serial_period_s),
                        options_.enroll_failures_per_serial),
      auth_by_address_(1.0, options_.auth_failures_per_address) {}

bool RelayApi::take_token(const std::string& serial) {
  if (options_.device_rate_per_s <= 0) return true;
  std::lock_guard lock(buckets_mu_);
  return device_buckets_.take(serial, steady_ms());
}

RelayApi::Reply RelayApi::enroll(Exchange& ex, const Json& body, TimeMs now) {
  const std::string& address = ex.remote_address();
  const std::string serial = text_field(body, "serial");
  const TimeMs t = steady_ms();
  {
    // Past its failures an address or a serial is refused before its code is looked at.
    std::lock_guard lock(buckets_mu_);
    const int wait_s = std::max(enroll_by_address_.seconds_until_token(address, t),
                                enroll_by_serial_.seconds_until_token(serial, t));
    if (wait_s > 0) {
      Reply r = error_reply(Error{ErrorKind::kRateLimited,
                                  "too many failed enrolments from this address or for this "
                                  "serial; retry later"});
      r.retry_after_s = wait_s;
      return r;
    }
  }
  auto enrolled = relay_.enroll(body, now);
  if (enrolled) return ok_reply(201, std::move(enrolled).value());
  const Error& e = enrolled.error();
  if (e.kind == ErrorKind::kForbidden || e.kind == ErrorKind::kConflict) {
    bool address_left = false, serial_left = false;
    {
      std::lock_guard lock(buckets_mu_);
      address_left = enroll_by_address_.take(address, t);
      serial_left = enroll_by_serial_.take(serial, t);
    }
    std::cerr << "relayd: enrolment refused for serial '" << serial.substr(0, 64) << "' from "
              << address << ": " << e.message
              << (address_left && serial_left ? "" : " (now rate-limited)") << std::endl;
  }
  return error_reply(e);
}

RelayApi::Reply RelayApi::auth_failure(const Exchange& ex, const Error& e, TimeMs now) {
  (void)now;
  return refused_credential(ex.remote_address(), e);
}

int RelayApi::retry_after() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return options_.retry_after_s +
         std::uniform_int_distribution<int>(0, options_.retry_after_s)(rng);
}

asio::awaitable<void> RelayApi::handle(Exchange& ex) {
  auto start = std::chrono::steady_clock::now();
  std::string route_name = "other";
  Reply r = dispatch(ex, route_name);
  int status = r.status;
  if (r.special == Reply::kPoll) {
    status = co_await device_poll(ex, r.serial, r.body);
  } else if (r.special == Reply::kEvents) {
    status = co_await event_stream(ex, r.serial);
  } else if (r.special == Reply::kSync) {
    status = co_await relay_sync(ex, r.serial, r.body);
  } else if (r.file) {
    // Artifact data: from disk one chunk at a time, counted as it goes out.
    auto res = make_response(ex.request(), r);
    co_await ex.respond_file(std::move(res.base()), r.file->fd(), std::uint64_t(r.file_offset),
                             std::uint64_t(r.file_length),
                             [this](std::uint64_t n) { metrics_.count_artifact_bytes_sent(n); });
  } else {
    co_await ex.respond(make_response(ex.request(), r));
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_.observe(route_name, status, secs);
}

// Decides the answer synchronously; long-poll and the event stream are marked for handle().
RelayApi::Reply RelayApi::dispatch(Exchange& ex, std::string& route_name) {
  const auto& req = ex.request();
  auto method = req.method();
  auto seg = segments(ex.path());
  TimeMs now = now_ms();

  auto body_json = [&]() -> Result<Json> { return parse_body(req.body()); };

  if (seg.size() == 1 && seg[0] == "healthz" && method == http::verb::get) {
    route_name = "/healthz";
    return ok_reply(200, Json{{"status", "ok"},
                              {"version", options_.version},
                              {"store", options_.store_name},
                              {"schema_version", options_.schema_version}});
  }
  if (seg.size() == 1 && seg[0] == "metrics" && method == http::verb::get) {
    route_name = "/metrics";
    // What the relay holds and for whom is the operator's business: a viewer credential or
    // above, unless metrics are open (relayd --metrics-open) or served apart (--metrics-listen).
    if (!options_.metrics_open) {
      auto reader = relay_.authenticate_admin(bearer(req));
      if (!reader) return auth_failure(ex, reader.error(), now);
      if (!role_allows(reader->role, Role::kViewer)) {
        return error_reply(forbidden("/metrics needs a viewer, operator or admin credential; " +
                                     reader->name + " is " + to_string(reader->role)));
      }
    }
    Reply r;
    r.text = metrics_text();
    return r;
  }
  // The dashboard's files need no credential: the page asks for one and sends it with every
  // API call it makes.
  if (method == http::verb::get &&
      (seg.empty() || (seg.size() == 2 && seg[0] == "ui") || ex.path() == "/index.html")) {
    route_name = "/ui";
    auto file = dashboard_file(seg.size() == 2 ? seg[1] : "index.html", options_.web_dir);
    if (!file) return error_reply(not_found("no such dashboard file: " + ex.path()));
    Reply r;
    r.text = std::move(file->body);
    r.content_type = std::move(file->content_type);
    r.page = true;
    return r;
  }
  if (seg.empty() || seg[0] != "v1") {
    return error_reply(not_found("no such endpoint: " + ex.path()));
  }

  // ---- artifacts: devices, child relays and the service center download them ----
  if (seg.size() >= 3 && seg[1] == "artifacts" && method == http::verb::get) {
    route_name = seg.size() == 4 ? "/v1/artifacts/{sha}/data" : "/v1/artifacts/{sha}";
    return artifact_download(ex, seg);
  }

  // ---- device API ----
  if (seg.size() >= 2 && seg[1] == "device") {
    if (method != http::verb::post) return error_reply(not_found("device endpoints take POST"));
    if (seg.size() == 3 && seg[2] == "enroll") {
      route_name = "/v1/device/enroll";
      auto body = body_json();
      if (!body) return error_reply(body.error());
      return enroll(ex, *body, now);
    }
    auto serial = relay_.authenticate_device(bearer(req));
    if (!serial) return auth_failure(ex, serial.error(), now);
    if (!take_token(*serial)) {
      return error_reply(
          Error{ErrorKind::kRateLimited, "too many requests for this device credential"});
    }
    if (seg.size() == 3 && seg[2] == "poll") {
      route_name = "/v1/device/poll";
      auto body = body_json();
      if (!body) return error_reply(body.error());
      Reply r;
      r.special = Reply::kPoll;
      r.serial = *serial;
      r.body = std::move(*body);
      return r;
    }
    if (seg.size() == 3 && seg[2] == "reports") {
      route_name = "/v1/device/reports";
      auto body = body_json();
      if (!body) return error_reply(body.error());
      bool urgent = alerts_only(*body);
      if (!urgent && bulk_inflight_.load() >= options_.max_bulk_inflight) {
        return error_reply(Error{ErrorKind::kRateLimited,
                                 "relay is busy; retry later (alerts are still accepted)"});
      }
      if (!urgent) ++bulk_inflight_;
      auto r = relay_.accept_reports(*serial, *body, now);
      if (!urgent) --bulk_inflight_;
      if (r) {
        std::size_t fresh = 0;
        for (const auto& rc : (*r)["receipts"]) fresh += rc.value("duplicate", false) ? 0 : 1;
        metrics_.count_reports(fresh);
      }
      return result_reply(std::move(r));
    }
    if (seg.size() == 3 && seg[2] == "firmware-check") {
      route_name = "/v1/device/firmware-check";
      if (!options_.firmware) return error_reply(not_found("this relay keeps no firmware"));
      auto body = body_json();
      if (!body) return error_reply(body.error());
      return result_reply(options_.firmware->check(*serial, *body, now));
    }
    if (seg.size() == 5 && seg[2] == "jobs" && seg[4] == "events") {
      route_name = "/v1/device/jobs/{id}/events";
      auto body = body_json();
      if (!body) return error_reply(body.error());
      return result_reply(relay_.record_job_event(*serial, seg[3], *body, now));
    }
    return error_reply(not_found("no such endpoint: " + ex.path()));
  }

  // ---- relay-sync API (a child relay's credential) ----
  if (seg.size() == 3 && seg[1] == "relay" && seg[2] == "sync") {
    route_name = "/v1/relay/sync";
    if (method != http::verb::post) return error_reply(not_found("relay sync takes POST"));
    auto child = relay_.authenticate_admin(bearer(req));
    if (!child) return auth_failure(ex, child.error(), now);
    if (child->role != Role::kRelay)
      return error_reply(forbidden("relay sync needs a relay credential; " + child->name + " is " +
                                   to_string(child->role)));
    auto body = body_json();
    if (!body) return error_reply(body.error());
    Reply r;
    r.special = Reply::kSync;
    r.serial = child->name;
    r.body = std::move(*body);
    return r;
  }

  // ---- admin API ----
  auto admin = relay_.authenticate_admin(bearer(req));
  if (!admin) return auth_failure(ex, admin.error(), now);
  if (admin->role == Role::kRelay) {
    return error_reply(
        forbidden("a relay credential (" + admin->name + ") may only use the relay-sync API"));
  }
  auto need = [&](Role r) -> std::optional<Error> {
    if (role_allows(admin->role, r)) return std::nullopt;
    return forbidden(std::string("this needs the ") + to_string(r) + " role; " + admin->name +
                     " is " + to_string(admin->role));
  };
  const auto& q = ex.query();
  auto flag = [&](const char* k) {
    auto v = ex.query_value(k);
    return !v.empty() && v != "0" && v != "false";
  };
  const std::string res = seg.size() >= 2 ? seg[1] : "";

  if (res == "whoami" && seg.size() == 2 && method == http::verb::get) {
    route_name = "/v1/whoami";
    return ok_reply(200, Json{{"name", admin->name}, {"role", to_string(admin->role)}});
  }
  if (res == "events" && seg.size() == 2 && method == http::verb::get) {
    route_name = "/v1/events";
    Reply r;
    r.special = Reply::kEvents;
    r.serial = admin->name;  // streams are counted per credential
    return r;
  }
  if (res == "devices" && (method == http::verb::get || method == http::verb::post)) {
    if (seg.size() == 2 && method == http::verb::get) {
      route_name = "/v1/devices";
      return result_reply(relay_.list_devices(ex.query_value("q"), ex.query_value("state"), now));
    }
    if (seg.size() == 3 && method == http::verb::get) {
      route_name = "/v1/devices/{serial}";
      return result_reply(relay_.get_device(seg[2], now));
    }
    if (seg.size() == 4 && seg[3] == "monitoring" && method == http::verb::get) {
      route_name = "/v1/devices/{serial}/monitoring";
      if (!options_.monitoring) return error_reply(not_found("this relay runs no monitoring"));
      return result_reply(options_.monitoring->device_monitoring(seg[2], now));
    }
    if (seg.size() == 4 && seg[3] == "revoke" && method == http::verb::post) {
      route_name = "/v1/devices/{serial}/revoke";
      if (auto e = need(Role::kAdmin)) return error_reply(*e);
      return result_reply(relay_.revoke_device(seg[2], admin->name, now));
    }
    if (seg.size() == 4 && seg[3] == "firmware-history" && method == http::verb::get) {
      route_name = "/v1/devices/{serial}/firmware-history";
      if (!options_.firmware) return error_reply(not_found("this relay keeps no firmware"));
      const std::string limit = ex.query_value("limit");
      return result_reply(
          options_.firmware->history(seg[2], limit.empty() ? 100 : std::atoi(limit.c_str())));
    }
  }
  if (res == "campaigns") {
    if (!options_.campaigns) return error_reply(not_found("this relay runs no campaigns"));
    Campaigns& campaigns = *options_.campaigns;
    if (seg.size() == 2 && method == http::verb::get) {
      route_name = "/v1/campaigns";
      return result_reply(campaigns.list(now));
    }
    if (seg.size() == 3 && method == http::verb::get) {
      route_name = "/v1/campaigns/{id}";
      return result_reply(campaigns.get(seg[2], now));
    }
    if (method == http::verb::post) {
      if (auto e = need(Role::kOperator)) return error_reply(*e);
      if (seg.size() == 2 || (seg.size() == 3 && seg[2] == "plan")) {
        route_name = seg.size() == 2 ? "/v1/campaigns" : "/v1/campaigns/plan";
        auto body = body_json();
        if (!body) return error_reply(body.error());
        if (seg.size() == 3) return result_reply(campaigns.plan(*body, now));
        return result_reply(campaigns.create(*body, admin->name, now), 201);
      }
      if (seg.size() == 4 && (seg[3] == "resume" || seg[3] == "cancel")) {
        route_name = "/v1/campaigns/{id}/" + seg[3];
        return result_reply(seg[3] == "resume" ? campaigns.resume(seg[2], admin->name, now)
                                               : campaigns.cancel(seg[2], admin->name, now));
      }
    }
  }
  if (res == "reports" && seg.size() == 2 && method == http::verb::get) {
    route_name = "/v1/reports";
    return result_reply(relay_.list_reports(q));
  }
  if (res == "billing" && seg.size() == 2 && method == http::verb::get) {
    route_name = "/v1/billing";
    auto query = parse_billing_query(q);
    if (!query) return error_reply(query.error());
    auto rows = billing_export(relay_.store(), *query);
    if (!rows) return error_reply(rows.error());
    if (!query->csv) return ok_reply(200, billing_json(*query, *rows));
    Reply r;
    r.text = to_csv(std::move(*rows));
    r.content_type = "text/csv; charset=utf-8";
    r.content_disposition = "attachment; filename=\"" + billing_csv_filename(query->period) + "\"";
    return r;
  }
  if (res == "jobs") {
    if (seg.size() == 2 && method == http::verb::post) {
      route_name = "/v1/jobs";
      if (auto e = need(Role::kOperator)) return error_reply(*e);
      auto body = body_json();
      if (!body) return error_reply(body.error());
      return result_reply(relay_.create_job(*body, admin->name, now), 201);
    }
    if (seg.size() == 2 && method == http::verb::get) {
      route_name = "/v1/jobs";
      return result_reply(relay_.list_jobs(q, now));
    }
    if (seg.size() == 3 && method == http::verb::get) {
      route_name = "/v1/jobs/{id}";
      return result_reply(relay_.get_job(seg[2]));
    }
    if (seg.size() == 4 && method == http::verb::post && (seg[3] == "cancel" || seg[3] == "ack")) {
      route_name = "/v1/jobs/{id}/" + seg[3];
      if (auto e = need(Role::kOperator)) return error_reply(*e);
      if (seg[3] == "cancel") return result_reply(relay_.cancel_job(seg[2], admin->name, now));
      return result_reply(relay_.acknowledge_job(seg[2], admin->name, now));
    }
  }
  if (res == "alerts") {
    if (seg.size() == 2 && method == http::verb::get) {
      route_name = "/v1/alerts";
      auto listed = relay_.list_alerts(ex.query_value("serial"), flag("all"));
      if (!listed) return error_reply(listed.error());
      Json alerts = std::move(*listed);
      // The error-content table's text and what to do, for the dispatcher (seed 002).
      if (options_.monitoring && alerts.contains("alerts")) {
        for (auto& a : alerts["alerts"]) {
          Json c = options_.monitoring->error_content(text_field(a, "code"));
          if (!c.is_null()) a["content"] = std::move(c);
        }
      }
      return ok_reply(200, std::move(alerts));
    }
    if (seg.size() == 4 && seg[3] == "ack" && method == http::verb::post) {
      route_name = "/v1/alerts/{id}/ack";
      if (auto e = need(Role::kOperator)) return error_reply(*e);
      return result_reply(relay_.acknowledge_alert(seg[2], admin->name, now));
    }
  }
  if (res == "tables" || res == "notifications") {
    if (!options_.monitoring) return error_reply(not_found("this relay runs no monitoring"));
    MonitoringCenter& mc = *options_.monitoring;
    if (res == "notifications" && seg.size() == 2 && method == http::verb::get) {
      route_name = "/v1/notifications";
      const std::string limit = ex.query_value("limit");
      return result_reply(mc.list_notifications(ex.query_value("serial"),
                                                limit.empty() ? 200 : std::atoi(limit.c_str())));
    }
    if (res == "tables" && seg.size() == 2 && method == http::verb::get) {
      route_name = "/v1/tables";
      return result_reply(mc.list_tables());
    }
    if (res == "tables" && seg.size() == 3 && method == http::verb::get) {
      route_name = "/v1/tables/{name}";
      return result_reply(mc.get_table(seg[2]));
    }
    if (res == "tables" && seg.size() == 3 && method == http::verb::put) {
      route_name = "/v1/tables/{name}";
      if (auto e = need(Role::kOperator)) return error_reply(*e);
      auto body = body_json();
      if (!body) return error_reply(body.error());
      return result_reply(mc.put_table(seg[2], *body, admin->name, now));
    }
  }
  if (res == "registrations") {
    if (seg.size() == 2 && method == http::verb::get) {
      route_name = "/v1/registrations";
      return result_reply(relay_.list_registrations());
    }
    if (seg.size() == 2 && method == http::verb::post) {
      route_name = "/v1/registrations";
      if (auto e = need(Role::kOperator)) return error_reply(*e);
      auto body = body_json();
      if (!body) return error_reply(body.error());
      return result_reply(relay_.put_registration(*body, now), 201);
    }
    if (seg.size() == 3 && method == http::verb::delete_) {
      route_name = "/v1/registrations/{serial}";
      if (auto e = need(Role::kAdmin)) return error_reply(*e);
      auto st = relay_.delete_registration(seg[2], admin->name, now);
      if (!st) return error_reply(st.error());
      return ok_reply(200, Json{{"deleted", seg[2]}});
    }
  }
  if (res == "credentials" && seg.size() == 3 && method == http::verb::delete_) {
    route_name = "/v1/credentials/{name}";
    if (auto e = need(Role::kAdmin)) return error_reply(*e);
    if (seg[2] == admin->name) {
      return error_reply(conflict("a credential cannot revoke itself (" + admin->name +
                                  "); use another admin credential"));
    }
    auto st = relay_.revoke_admin_credential(seg[2], admin->name, /*relay=*/false);
    if (!st) return error_reply(st.error());
    return ok_reply(200, Json{{"revoked", seg[2]}});
  }
  if (res == "credentials" && seg.size() == 2) {
    route_name = "/v1/credentials";
    if (auto e = need(Role::kAdmin)) return error_reply(*e);
    if (method == http::verb::get) return result_reply(relay_.list_credentials());
    if (method == http::verb::post) {
      auto body = body_json();
      if (!body) return error_reply(body.error());
      auto role = role_from(body->value("role", ""));
      if (!role || *role == Role::kRelay) {
        return error_reply(
            bad_input("role must be viewer, operator or admin (child relays: POST /v1/relays)"));
      }
      std::string name = (*body)["name"].is_string() ? (*body)["name"].get<std::string>() : "";
      auto token = relay_.create_admin_credential(name, *role, now);
      if (!token) return error_reply(token.error());
      return ok_reply(201, Json{{"name", name}, {"role", to_string(*role)}, {"token", *token}});
    }
  }
  if (res == "artifacts" && seg.size() == 2 && method == http::verb::get) {
    route_name = "/v1/artifacts";
    if (!options_.artifacts) return ok_reply(200, Json{{"artifacts", Json::array()}});
    Json list = Json::array();
    for (auto& m : options_.artifacts->list()) list.push_back(std::move(m));
    return ok_reply(200, Json{{"artifacts", std::move(list)}});
  }
  if (res == "artifacts" && seg.size() == 3 && method == http::verb::put) {
    route_name = "/v1/artifacts/{sha}";
    if (auto e = need(Role::kAdmin)) return error_reply(*e);
    return artifact_upload(ex, seg[2]);
  }
  if (res == "relays" && seg.size() == 2) {
    route_name = "/v1/relays";
    if (method == http::verb::get) return result_reply(children_.list(now));
    if (method == http::verb::post) {
      if (auto e = need(Role::kAdmin)) return error_reply(*e);
      auto body = body_json();
      if (!body) return error_reply(body.error());
      std::string id = text_field(*body, "id");
      std::vector<std::string> customers;
      if (auto c = body->find("customers"); c != body->end()) {
        if (!c->is_array()) return error_reply(bad_input("field 'customers' must be an array"));
        for (const auto& v : *c) {
          if (!v.is_string()) return error_reply(bad_input("field 'customers' must hold names"));
          customers.push_back(v.get<std::string>());
        }
      }
      auto token = relay_.create_relay_credential(id, customers, now);
      if (!token) return error_reply(token.error());
      return ok_reply(
          201, Json{{"id", id}, {"role", "relay"}, {"customers", customers}, {"token", *token}});
    }
  }
  if (res == "relays" && seg.size() == 3 && method == http::verb::delete_) {
    route_name = "/v1/relays/{id}";
    if (auto e = need(Role::kAdmin)) return error_reply(*e);
    if (auto st = relay_.revoke_admin_credential(seg[2], admin->name, /*relay=*/true); !st)
      return error_reply(st.error());
    return ok_reply(200, Json{{"revoked", seg[2]}});
  }
  return error_reply(
      not_found("no such endpoint: " + std::string(req.method_string()) + " " + ex.path()));
}

RelayApi::Reply RelayApi::artifact_upload(Exchange& ex, const std::string& sha) {
  const auto& req = ex.request();
  if (!options_.artifacts) return error_reply(not_found("this relay keeps no artifacts"));
  auto manifest_text = std::string(req[kManifestHeader]);
  auto signature = std::string(req[kSignatureHeader]);
  auto parsed = parse_body(manifest_text);
  if (manifest_text.empty() || !parsed) {
    return error_reply(bad_input(std::string("header ") + kManifestHeader +
                                 " must hold the artifact's manifest (JSON)"));
  }
  auto manifest = parse_manifest(*parsed);
  if (!manifest) return error_reply(manifest.error());
  if ((*manifest)["sha256"] != sha) {
    return error_reply(bad_input("the manifest's sha256 is not the one in the path"));
  }
  // Under the large-body path the server wrote the body to a file in the blob directory and
  // hashed it on the way; only an empty body is left in memory.
  const auto& spooled = ex.spooled_body();
  const auto body_bytes =
      spooled ? std::int64_t(spooled->size_bytes) : std::int64_t(req.body().size());
  if ((*manifest)["size"].get<std::int64_t>() != body_bytes) {
    return error_reply(bad_input("the manifest's size is not the body's size (" +
                                 std::to_string(body_bytes) + " bytes)"));
  }
  const bool hex_sig =
      signature.size() == 128 && std::all_of(signature.begin(), signature.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      });
  if (!hex_sig) {
    return error_reply(bad_input(std::string("header ") + kSignatureHeader +
                                 " must hold the Ed25519 signature (128 hex)"));
  }
  // The relay does not judge the signature: devices and child relays verify it against the keys
  // they trust, so a tampered relay cannot make them install anything.
  Json meta = *manifest;
  meta["signature"] = signature;
  auto stored = spooled
                    ? options_.artifacts->put_file(sha, spooled->path, meta, spooled->sha256_hex)
                    : options_.artifacts->put(sha, req.body(), meta);
  if (!stored) return error_reply(stored.error());
  return ok_reply(201, Json{{"artifact", meta}});
}

RelayApi::Reply RelayApi::artifact_download(Exchange& ex, const std::vector<std::string>& seg) {
  const auto& req = ex.request();
  const auto token = bearer(req);
  const bool admin = static_cast<bool>(relay_.authenticate_admin(token));
  auto device = admin ? Result<std::string>(unauthorized("")) : relay_.authenticate_device(token);
  if (!admin && !device) {
    return error_reply(unauthorized("artifacts need a device, relay or admin credential"));
  }
  if (!options_.artifacts) return error_reply(not_found("this relay keeps no artifacts"));
  const std::string& sha = seg[2];
  auto meta = options_.artifacts->meta(sha);
  if (!meta) return error_reply(meta.error());
  if (seg.size() == 3) return ok_reply(200, Json{{"artifact", *meta}});
  if (seg.size() != 4 || seg[3] != "data") return error_reply(not_found("no such endpoint"));
  // The size of the open file: a concurrent put() of the same blob cannot change what is sent.
  auto file = options_.artifacts->open(sha);
  if (!file) return error_reply(file.error());
  const std::int64_t size = file->size_bytes();
  std::int64_t from = 0, to = size - 1;
  const std::string range(req[http::field::range]);
  Reply r;
  r.status = 200;
  if (!range.empty()) {
    // One range, strictly (core/byte_range.h): malformed is 400, no byte of the file is 416.
    auto spec = parse_range_header(range);
    if (!spec) return error_reply(spec.error());
    auto bytes = resolve_range(*spec, size);
    if (!bytes) {
      Reply bad = error_reply(bad_input("range " + range + " is not satisfiable: the file has " +
                                        std::to_string(size) + " bytes"));
      bad.status = 416;
      return bad;
    }
    from = bytes->first;
    to = bytes->last;
    r.status = 206;
    r.content_range =
        "bytes " + std::to_string(from) + "-" + std::to_string(to) + "/" + std::to_string(size);
  }
  r.file = std::make_shared<BlobFile>(std::move(*file));
  r.file_offset = from;
  r.file_length = to - from + 1;
  // The update history records every image a device fetched, and from where (seed 002).
  if (device && options_.firmware && meta->value("kind", "") == "firmware") {
    options_.firmware->record_sent(*device, sha, from, r.file_length, now_ms());
  }
  r.content_type = "application/octet-stream";
  return r;
}

asio::awaitable<int> RelayApi::relay_sync(Exchange& ex, const std::string& child_id,
                                          const Json& body) {
  const auto& req = ex.request();
  auto parsed = parse_sync_request(body);
  if (!parsed) {
    co_await ex.respond(
        json_response(req, http_status(parsed.error().kind), error_json(parsed.error())));
    co_return http_status(parsed.error().kind);
  }
  auto synced = children_.sync(child_id, *parsed, now_ms());
  if (!synced) {
    co_await ex.respond(
        json_response(req, http_status(synced.error().kind), error_json(synced.error())));
    co_return http_status(synced.error().kind);
  }
  SyncAnswer answer = std::move(*synced);
  int status = 200;
  // A sync is held only when it brought no items, so a downward read that fails while held
  // loses nothing: the wait ends with that error and the child syncs again.
  auto read_downward = [&]() -> bool {
    auto down = children_.downward(child_id, *parsed, now_ms());
    if (down) {
      answer = std::move(*down);
      return true;
    }
    status = http_status(down.error().kind);
    answer.body = error_json(down.error());
    return false;
  };
  if (!answer.has_news && parsed->wait_s > 0) {
    LongPollSlot slot(long_polls_, options_.max_long_polls);
    if (slot) {
      auto keys = parsed->serials;
      keys.push_back(kDirectoryWakeKey);
      keys.push_back(child_id);  // a job for the child itself
      // One held sync per child relay: a newer one (the child reconnected) answers this at once.
      HeldWait held(feed_, std::move(keys), "relay:" + child_id,
                    co_await asio::this_coro::executor);
      // Anything that became deliverable between the first answer and the watch is seen here.
      if (read_downward() && !answer.has_news && !held.replaced()) {
        held.timer().expires_after(std::chrono::seconds(parsed->wait_s));
        boost::system::error_code ec;
        co_await held.timer().async_wait(asio::redirect_error(asio::use_awaitable, ec));
        // Revoked while held (a revocation wakes held syncs: it changes the directory)?
        if (auto revoked = revoked_while_held(req, child_id)) {
          status = revoked->status;
          answer.body = std::move(revoked->body);
        } else {
          read_downward();
        }
      }
      if (status == 200) {
        answer.body["acked_seq"] = 0;
        answer.body["rejected"] = Json::array();
        answer.body["receipts"] = Json::array();
      }
    }
  }
  co_await ex.respond(json_response(req, status, answer.body));
  co_return status;
}

std::optional<RelayApi::Reply> RelayApi::revoked_while_held(const HttpRequestMsg& req,
                                                            const std::string& holder) {
  const std::string token = bearer(req);
  if (token.starts_with("dt_")) {
    auto serial = relay_.authenticate_device(token);
    if (!serial) return error_reply(serial.error());
    if (*serial != holder) return error_reply(unauthorized("credential revoked"));
    return std::nullopt;
  }
  auto admin = relay_.authenticate_admin(token);
  if (!admin) return error_reply(admin.error());
  if (admin->name != holder) return error_reply(unauthorized("credential revoked"));
  return std::nullopt;
}

asio::awaitable<int> RelayApi::answer_held_poll(Exchange& ex, const std::string& serial) {
  const auto& req = ex.request();
  std::optional<Reply> refused = revoked_while_held(req, serial);
  std::optional<Result<PollAnswer>> answer;
  if (!refused) {
    answer.emplace(relay_.poll_answer(serial, now_ms()));
    if (!*answer) refused = error_reply(answer->error());
  }
  const int status = refused ? refused->status : 200;
  HttpResponseMsg res = refused ? make_response(req, *refused)
                                : raw_json_response(req, 200, std::move((*answer)->body));
  co_await ex.respond(std::move(res));
  co_return status;
}

asio::awaitable<int> RelayApi::device_poll(Exchange& ex, const std::string& serial,
                                           const Json& body) {
  const auto& req = ex.request();
  int wait_s = 0;
  TimeMs now = now_ms();
  auto answer = relay_.poll(serial, body, now, wait_s);
  if (!answer) {
    auto res = json_response(req, http_status(answer.error().kind), error_json(answer.error()));
    co_await ex.respond(std::move(res));
    co_return http_status(answer.error().kind);
  }
  // Answer at once when there is a job, no wait was asked, or too many polls are held already
  // (the device then comes back after next_poll_s).
  if (wait_s == 0 || answer->has_jobs) {
    co_await ex.respond(raw_json_response(req, 200, std::move(answer->body)));
    co_return 200;
  }
  LongPollSlot slot(long_polls_, options_.max_long_polls);
  if (!slot) {
    co_await ex.respond(raw_json_response(req, 200, std::move(answer->body)));
    co_return 200;
  }
  {
    // One held poll per device: a newer one (the device reconnected) answers this at once.
    // (A named vector: GCC 12 cannot compile an initializer list as a coroutine temporary.)
    std::vector<std::string> keys(1, serial);
    auto executor = co_await asio::this_coro::executor;
    HeldWait held(feed_, std::move(keys), "device:" + serial, executor);
    // A job created between the first answer and the watch must not be missed.
    // A failed read answers now: the answer then reports the failure, and the device retries.
    auto due = held.replaced() ? Result<bool>(true) : relay_.has_deliverable_jobs(serial, now_ms());
    if (due && !*due) {
      held.timer().expires_after(std::chrono::seconds(wait_s));
      boost::system::error_code ec;
      co_await held.timer().async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  // The credential may have been revoked while the poll was held: no jobs for it then.
  co_return co_await answer_held_poll(ex, serial);
}

asio::awaitable<int> RelayApi::event_stream(Exchange& ex, const std::string& credential) {
  auto executor = co_await asio::this_coro::executor;
  co_return co_await stream_events(ex, credential, feed_.subscribe(executor));
}

asio::awaitable<int> RelayApi::stream_events(Exchange& ex, const std::string& credential,
                                             std::shared_ptr<LiveFeed::Subscriber> sub) {
  StreamSlot slot(streams_mu_, streams_, credential, options_.max_event_streams_per_credential,
                  sub);
  const std::string content_type = "text/event-stream";
  std::string hello = ": connected\n\n";
  bool open = co_await ex.open_stream(content_type);
  if (open) open = co_await ex.write(std::move(hello));
  const std::string token = bearer(ex.request());
  while (open) {
    // A credential revoked while its stream is open gets nothing more: checked before every
    // write (a cache hit while it is valid; at most one keep-alive period after a revocation).
    if (auto still = relay_.authenticate_admin(token); !still) {
      std::cerr << "relayd: event stream of " << credential << " closed: " << still.error().message
                << std::endl;
      break;
    }
    if (sub->replaced) break;  // the credential opened one stream too many: this, the oldest, goes
    std::deque<std::string> frames;
    bool overflowed = false;
    {
      std::lock_guard lock(sub->mu);
      frames.swap(sub->pending);
      sub->pending_bytes = 0;
      overflowed = sub->overflowed;
    }
    if (overflowed) {
      std::cerr << "relayd: event stream of " << credential << " from " << ex.remote_address()
                << ": the reader is too slow (more than " << feed_.max_pending_bytes()
                << " bytes of events waiting); disconnected" << std::endl;
      break;
    }
    if (!frames.empty()) {
      std::string chunk;
      for (auto& f : frames) chunk += f;
      open = co_await ex.write(std::move(chunk));
      continue;
    }
    sub->timer.expires_after(std::chrono::seconds(15));
    boost::system::error_code ec;
    co_await sub->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    bool have = false;
    {
      std::lock_guard lock(sub->mu);
      have = !sub->pending.empty() || sub->overflowed;
    }
    if (!have && !ec) {
      std::string keepalive = ": keepalive\n\n";
      open = co_await ex.write(std::move(keepalive));
    }
  }
  feed_.unsubscribe(sub);
  co_return 200;
}

std::string RelayApi::metrics_text() {
  std::map<std::string, double> gauges{
      {"printrelay_devices_seen", double(relay_.devices_seen())},
      {"printrelay_long_polls_waiting", double(feed_.waiting_devices())},
      {"printrelay_sse_clients", double(feed_.subscribers())},
      {"printrelay_bulk_uploads_inflight", double(bulk_inflight_.load())}};
  // A gauge the store cannot answer is left out (absent, not a false zero), and
  // printrelay_store_readable says why: what an alert rule keys on.
  bool readable = true;
  if (auto open = relay_.open_job_count(); open) {
    gauges["printrelay_open_jobs"] = double(*open);
  } else {
    readable = false;
  }
  if (!relay_.options().forward_upstream) {
    gauges["printrelay_upstream_backlog"] = 0.0;
  } else if (auto backlog = relay_.store().count_upstream(); backlog) {
    gauges["printrelay_upstream_backlog"] = double(*backlog);
  } else {
    readable = false;
  }
  gauges["printrelay_store_readable"] = readable ? 1.0 : 0.0;
  return metrics_.render(gauges);
}

asio::awaitable<void> RelayApi::serve_metrics(Exchange& ex) {
  auto start = std::chrono::steady_clock::now();
  Reply r;
  if (ex.path() == "/metrics" && ex.request().method() == http::verb::get) {
    r.text = metrics_text();
  } else {
    r = error_reply(not_found("this listener serves GET /metrics only"));
  }
  co_await ex.respond(make_response(ex.request(), r));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_.observe("/metrics", r.status, secs);
}

std::optional<HttpResponseMsg> RelayApi::admit(const http::request_header<>& header,
                                               const std::string& path, bool has_body,
                                               const std::string& remote) {
  const auto seg = segments(path);
  // Every body under /v1/artifacts/ is spooled to disk (the server's large-body path), whatever
  // the method or the rest of the path: only an admin credential may send one.
  const bool upload = seg.size() >= 2 && seg[0] == "v1" && seg[1] == "artifacts" &&
                      (has_body || header.method() == http::verb::put);
  const bool enrolment =
      seg.size() == 3 && seg[0] == "v1" && seg[1] == "device" && seg[2] == "enroll";
  if (!upload && (!has_body || enrolment)) return std::nullopt;
  const std::string token = bearer(header);
  Reply refusal;
  std::string route = "other";
  if (upload) {
    // The one large body: its bytes would go to disk, so its credential is checked first.
    route = "/v1/artifacts/{sha}";
    auto admin = relay_.authenticate_admin(token);
    if (!admin) {
      refusal = refused_credential(remote, admin.error());
    } else if (admin->role == Role::kRelay || !role_allows(admin->role, Role::kAdmin)) {
      refusal = error_reply(forbidden(std::string("this needs the ") + to_string(Role::kAdmin) +
                                      " role; " + admin->name + " is " + to_string(admin->role)));
    } else {
      return std::nullopt;
    }
  } else if (token.empty()) {
    // Every request with a body but enrolment needs a credential: refused before the body.
    refusal =
        refused_credential(remote, unauthorized("missing credential (Authorization: Bearer)"));
  } else {
    // A credential the relay does not know is refused before its body (up to 1 MiB) is read.
    // Only whether it exists is judged here (cached: no store query for a known one); the
    // handler checks the kind and role once the body is read. The prefix says which kind it
    // claims to be ("dt_" devices, "at_" admins, "rt_" child relays).
    Error unknown = unauthorized("unknown credential");
    if (token.starts_with("dt_")) {
      auto d = relay_.authenticate_device(token);
      if (d) return std::nullopt;
      unknown = d.error();
    } else {
      auto a = relay_.authenticate_admin(token);
      if (a) return std::nullopt;
      unknown = a.error();
    }
    // A store that cannot answer: the handler answers (503) as it would without this check.
    if (unknown.kind != ErrorKind::kUnauthorized) return std::nullopt;
    refusal = refused_credential(remote, unknown);
  }
  HttpRequestMsg like;
  like.version(header.version());
  auto res = make_response(like, refusal);
  metrics_.observe(route, refusal.status, 0.0);
  return res;
}

RelayApi::Reply RelayApi::refused_credential(const std::string& address, const Error& e) {
  // Only a credential the relay does not know counts; a store that could not answer is a 503.
  // auth_failure() and admission share the count: answering from the header is no way around it.
  if (e.kind != ErrorKind::kUnauthorized) return error_reply(e);
  bool left = true;
  {
    std::lock_guard lock(buckets_mu_);
    left = auth_by_address_.take(address, steady_ms());
  }
  if (left) return error_reply(e);
  Reply r = error_reply(
      Error{ErrorKind::kRateLimited, "too many requests with unknown credentials from " + address});
  r.retry_after_s = 1;
  return r;
}

}  // namespace printrelay
