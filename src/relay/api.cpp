#include "relay/api.h"

#include <algorithm>
#include <iostream>
#include <random>

#include "clock/wall_clock.h"
#include "core/codec.h"
#include "net/http_errors.h"
#include "relay/api_internal.h"
#include "relay/dashboard_assets.h"
#include "relay/transfer_rates.h"

namespace printrelay {

namespace asio = boost::asio;
using namespace api_detail;

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
      auth_by_address_(1.0, options_.auth_failures_per_address) {
  if (options_.firmware) {
    FirmwareCatalog* catalog = options_.firmware;
    children_.set_catalog([catalog] { return catalog->images(""); });
  }
  add_routes();
}

bool RelayApi::take_token(const std::string& serial) {
  if (options_.device_rate_per_s <= 0) return true;
  std::lock_guard lock(buckets_mu_);
  return device_buckets_.take(serial, steady_ms());
}

RelayApi::Reply RelayApi::auth_failure(const Exchange& ex, const Error& e) {
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
    const auto sending = std::chrono::steady_clock::now();
    const std::uint64_t sent = co_await ex.respond_file(
        std::move(res.base()), r.file->fd(), std::uint64_t(r.file_offset),
        std::uint64_t(r.file_length),
        [this](std::uint64_t n) { metrics_.count_artifact_bytes_sent(n); });
    // A device's own download is the measure of the LAN to it (seed 004 claim 5).
    if (options_.rates && !r.serial.empty()) {
      options_.rates->note_lan(
          r.serial, std::int64_t(sent),
          std::chrono::duration<double>(std::chrono::steady_clock::now() - sending).count(),
          wall_clock_ms());
    }
  } else {
    co_await ex.respond(make_response(ex.request(), r));
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_.observe(route_name, status, secs);
}

Result<Json> RelayApi::Call::body() const { return parse_body(ex.request().body()); }

bool RelayApi::Call::flag(const char* key) const {
  auto v = ex.query_value(key);
  return !v.empty() && v != "0" && v != "false";
}

std::vector<RelayApi::RouteInfo> RelayApi::route_list() const {
  std::vector<RouteInfo> out;
  for (const auto& r : routes_.routes()) out.push_back(RouteInfo{r.method, r.pattern, r.access});
  return out;
}

// In match order. The device routes come first: the poll is most of the traffic.
void RelayApi::add_routes() {
  add_device_routes();
  add_relay_tree_routes();
  add_artifact_routes();
  using http::verb;
  routes_.add(verb::get, "/healthz", Access::kPublic, [this](Call&) {
    return ok_reply(200, Json{{"status", "ok"},
                              {"version", options_.version},
                              {"store", options_.store_name},
                              {"schema_version", options_.schema_version}});
  });
  routes_.add(verb::get, "/metrics", Access::kPublic, [this](Call& c) {
    // What the relay holds and for whom is the operator's business: a viewer credential or
    // above, unless metrics are open (relayd --metrics-open) or served apart (--metrics-listen).
    if (!options_.metrics_open) {
      if (auto refused = check_access(Access::kViewer, c)) return *refused;
    }
    Reply r;
    r.text = metrics_text();
    return r;
  });
  // The dashboard's files need no credential: the page asks for one and sends it with every
  // API call it makes.
  auto dashboard = [this](const std::string& name, const std::string& path) {
    auto file = dashboard_file(name, options_.web_dir);
    if (!file) return error_reply(not_found("no such dashboard file: " + path));
    Reply r;
    r.text = std::move(file->body);
    r.content_type = std::move(file->content_type);
    r.page = true;
    return r;
  };
  routes_.add(
      verb::get, "/", Access::kPublic,
      [dashboard](Call& c) { return dashboard("index.html", c.ex.path()); }, "/ui");
  routes_.add(
      verb::get, "/index.html", Access::kPublic,
      [dashboard](Call& c) { return dashboard("index.html", c.ex.path()); }, "/ui");
  routes_.add(
      verb::get, "/ui/{file}", Access::kPublic,
      [dashboard](Call& c) { return dashboard(c.params[0], c.ex.path()); }, "/ui");
  add_admin_routes();
}

std::optional<RelayApi::Reply> RelayApi::check_access(Access access, Call& call) {
  const std::string token = bearer(call.ex.request());
  switch (access) {
    case Access::kPublic:
      return std::nullopt;
    case Access::kDevice: {
      auto serial = relay_.authenticate_device(token);
      if (!serial) return auth_failure(call.ex, serial.error());
      if (!take_token(*serial)) {
        return error_reply(
            Error{ErrorKind::kRateLimited, "too many requests for this device credential"});
      }
      call.serial = std::move(*serial);
      return std::nullopt;
    }
    case Access::kChildRelay: {
      auto child = relay_.authenticate_admin(token);
      if (!child) return auth_failure(call.ex, child.error());
      if (child->role != Role::kRelay) {
        return error_reply(forbidden("relay sync needs a relay credential; " + child->name +
                                     " is " + to_string(child->role)));
      }
      call.who = std::move(*child);
      return std::nullopt;
    }
    case Access::kViewer:
    case Access::kOperator:
    case Access::kAdmin: {
      auto admin = relay_.authenticate_admin(token);
      if (!admin) return auth_failure(call.ex, admin.error());
      if (admin->role == Role::kRelay) {
        return error_reply(
            forbidden("a relay credential (" + admin->name + ") may only use the relay-sync API"));
      }
      const Role need = access == Access::kViewer     ? Role::kViewer
                        : access == Access::kOperator ? Role::kOperator
                                                      : Role::kAdmin;
      if (!role_allows(admin->role, need)) {
        return error_reply(forbidden(std::string("this needs the ") + to_string(need) + " role; " +
                                     admin->name + " is " + to_string(admin->role)));
      }
      call.who = std::move(*admin);
      return std::nullopt;
    }
  }
  return error_reply(forbidden("unknown access rule"));
}

RelayApi::Reply RelayApi::unrouted(Exchange& ex, const std::vector<std::string>& seg, TimeMs now) {
  const auto method = ex.request().method();
  if (seg.empty() || seg[0] != "v1")
    return error_reply(not_found("no such endpoint: " + ex.path()));
  Call call{ex, RouteParams(), now, {}, {}};
  if (seg.size() >= 2 && seg[1] == "device") {
    if (method != http::verb::post) return error_reply(not_found("device endpoints take POST"));
    if (auto refused = check_access(Access::kDevice, call)) return *refused;
    return error_reply(not_found("no such endpoint: " + ex.path()));
  }
  if (seg.size() == 3 && seg[1] == "relay" && seg[2] == "sync") {
    return error_reply(not_found("relay sync takes POST"));
  }
  if (auto refused = check_access(Access::kViewer, call)) return *refused;
  return error_reply(not_found("no such endpoint: " + std::string(ex.request().method_string()) +
                               " " + ex.path()));
}

// Decides the answer synchronously; held requests (poll, sync) and the event stream are marked
// for handle().
RelayApi::Reply RelayApi::dispatch(Exchange& ex, std::string& route_name) {
  const auto seg = path_segments(ex.path());
  const TimeMs now = wall_clock_ms();
  auto match = routes_.find(ex.request().method(), seg);
  if (!match.route) return unrouted(ex, seg, now);
  route_name = match.route->name;
  Call call{ex, std::move(match.params), now, {}, {}};
  if (auto refused = check_access(match.route->access, call)) return *refused;
  return match.route->handler(call);
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
  std::string text = metrics_.render(gauges);
  if (options_.more_metrics) text += options_.more_metrics();
  return text;
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
  const auto seg = path_segments(path);
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
