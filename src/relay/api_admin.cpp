// The service center's API (docs/protocol.md): devices, reports and billing, jobs, alerts,
// registrations and credentials, the monitoring center's tables and notifications, firmware
// campaigns, and the event stream. Each route names the least role it needs (Access); the
// handler only parses and calls the domain.
// Boost 1.74's asio headers use std::exchange without including <utility>.
#include <utility>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <iostream>

#include "relay/api.h"
#include "relay/api_internal.h"
#include "relay/billing_export.h"
#include "relay/monitoring_center.h"

namespace printrelay {

namespace asio = boost::asio;
using namespace api_detail;

namespace {

// "?limit=N" with a default when absent (the domain call judges the range).
int limit_or(const std::string& text, int fallback) {
  return text.empty() ? fallback : std::atoi(text.c_str());
}

}  // namespace

void RelayApi::add_admin_routes() {
  using http::verb;
  routes_.add(verb::get, "/v1/whoami", Access::kViewer, [this](Call& c) {
    return ok_reply(200, Json{{"name", c.user()}, {"role", to_string(c.who->role)}});
  });
  routes_.add(verb::get, "/v1/events", Access::kViewer, [](Call& c) {
    Reply r;
    r.special = Reply::kEvents;
    r.serial = c.user();  // streams are counted per credential
    return r;
  });

  // ---- devices ----
  routes_.add(verb::get, "/v1/devices", Access::kViewer, [this](Call& c) {
    return result_reply(relay_.list_devices(c.query("q"), c.query("state"), c.now));
  });
  routes_.add(verb::get, "/v1/devices/{serial}", Access::kViewer,
              [this](Call& c) { return result_reply(relay_.get_device(c.params[0], c.now)); });
  routes_.add(verb::get, "/v1/devices/{serial}/monitoring", Access::kViewer, [this](Call& c) {
    if (!options_.monitoring) return error_reply(not_found("this relay runs no monitoring"));
    return result_reply(options_.monitoring->device_monitoring(c.params[0], c.now));
  });
  routes_.add(verb::post, "/v1/devices/{serial}/revoke", Access::kAdmin, [this](Call& c) {
    return result_reply(relay_.revoke_device(c.params[0], c.user(), c.now));
  });
  routes_.add(verb::get, "/v1/devices/{serial}/firmware-history", Access::kViewer, [this](Call& c) {
    if (!options_.firmware) return error_reply(not_found("this relay keeps no firmware"));
    return result_reply(options_.firmware->history(c.params[0], limit_or(c.query("limit"), 100)));
  });

  // ---- firmware campaigns ----
  auto campaigns = [this](Call& c, const std::function<Result<Json>(Campaigns&, Call&)>& act,
                          int ok_status = 200) -> Reply {
    if (!options_.campaigns) return error_reply(not_found("this relay runs no campaigns"));
    return result_reply(act(*options_.campaigns, c), ok_status);
  };
  routes_.add(verb::get, "/v1/campaigns", Access::kViewer, [campaigns](Call& c) {
    return campaigns(c, [](Campaigns& cs, Call& c) { return cs.list(c.now); });
  });
  routes_.add(verb::post, "/v1/campaigns/plan", Access::kOperator, [campaigns](Call& c) {
    return campaigns(c, [](Campaigns& cs, Call& c) -> Result<Json> {
      auto body = c.body();
      if (!body) return body.error();
      return cs.plan(*body, c.now);
    });
  });
  routes_.add(verb::get, "/v1/campaigns/{id}", Access::kViewer, [campaigns](Call& c) {
    return campaigns(c, [](Campaigns& cs, Call& c) { return cs.get(c.params[0], c.now); });
  });
  routes_.add(verb::post, "/v1/campaigns", Access::kOperator, [campaigns](Call& c) {
    return campaigns(
        c,
        [](Campaigns& cs, Call& c) -> Result<Json> {
          auto body = c.body();
          if (!body) return body.error();
          return cs.create(*body, c.user(), c.now);
        },
        201);
  });
  routes_.add(verb::post, "/v1/campaigns/{id}/resume", Access::kOperator, [campaigns](Call& c) {
    return campaigns(
        c, [](Campaigns& cs, Call& c) { return cs.resume(c.params[0], c.user(), c.now); });
  });
  routes_.add(verb::post, "/v1/campaigns/{id}/cancel", Access::kOperator, [campaigns](Call& c) {
    return campaigns(
        c, [](Campaigns& cs, Call& c) { return cs.cancel(c.params[0], c.user(), c.now); });
  });

  // ---- reports and billing ----
  routes_.add(verb::get, "/v1/reports", Access::kViewer,
              [this](Call& c) { return result_reply(relay_.list_reports(c.ex.query())); });
  routes_.add(verb::get, "/v1/billing", Access::kViewer, [this](Call& c) {
    auto query = parse_billing_query(c.ex.query());
    if (!query) return error_reply(query.error());
    auto rows = billing_export(relay_.store(), *query);
    if (!rows) return error_reply(rows.error());
    if (!query->csv) return ok_reply(200, billing_json(*query, *rows));
    Reply r;
    r.text = to_csv(std::move(*rows));
    r.content_type = "text/csv; charset=utf-8";
    r.content_disposition = "attachment; filename=\"" + billing_csv_filename(query->period) + "\"";
    return r;
  });

  // ---- jobs ----
  routes_.add(verb::post, "/v1/jobs", Access::kOperator, [this](Call& c) {
    auto body = c.body();
    if (!body) return error_reply(body.error());
    return result_reply(relay_.create_job(*body, c.user(), c.now), 201);
  });
  routes_.add(verb::get, "/v1/jobs", Access::kViewer,
              [this](Call& c) { return result_reply(relay_.list_jobs(c.ex.query(), c.now)); });
  routes_.add(verb::get, "/v1/jobs/{id}", Access::kViewer,
              [this](Call& c) { return result_reply(relay_.get_job(c.params[0])); });
  routes_.add(verb::post, "/v1/jobs/{id}/cancel", Access::kOperator, [this](Call& c) {
    return result_reply(relay_.cancel_job(c.params[0], c.user(), c.now));
  });
  routes_.add(verb::post, "/v1/jobs/{id}/ack", Access::kOperator, [this](Call& c) {
    return result_reply(relay_.acknowledge_job(c.params[0], c.user(), c.now));
  });

  // ---- alerts ----
  routes_.add(verb::get, "/v1/alerts", Access::kViewer, [this](Call& c) {
    auto listed = relay_.list_alerts(c.query("serial"), c.flag("all"));
    if (!listed) return error_reply(listed.error());
    Json alerts = std::move(*listed);
    // The error-content table's text and what to do, for the dispatcher (seed 002).
    if (options_.monitoring && alerts.contains("alerts")) {
      for (auto& a : alerts["alerts"]) {
        Json content = options_.monitoring->error_content(text_field(a, "code"));
        if (!content.is_null()) a["content"] = std::move(content);
      }
    }
    return ok_reply(200, std::move(alerts));
  });
  routes_.add(verb::post, "/v1/alerts/{id}/ack", Access::kOperator, [this](Call& c) {
    return result_reply(relay_.acknowledge_alert(c.params[0], c.user(), c.now));
  });

  // ---- the monitoring center's tables and notifications ----
  auto monitoring = [this](Call& c,
                           const std::function<Result<Json>(MonitoringCenter&, Call&)>& act) {
    if (!options_.monitoring) return error_reply(not_found("this relay runs no monitoring"));
    return result_reply(act(*options_.monitoring, c));
  };
  routes_.add(verb::get, "/v1/notifications", Access::kViewer, [monitoring](Call& c) {
    return monitoring(c, [](MonitoringCenter& mc, Call& c) {
      return mc.list_notifications(c.query("serial"), limit_or(c.query("limit"), 200));
    });
  });
  routes_.add(verb::get, "/v1/tables", Access::kViewer, [monitoring](Call& c) {
    return monitoring(c, [](MonitoringCenter& mc, Call&) { return mc.list_tables(); });
  });
  routes_.add(verb::get, "/v1/tables/{name}", Access::kViewer, [monitoring](Call& c) {
    return monitoring(c, [](MonitoringCenter& mc, Call& c) { return mc.get_table(c.params[0]); });
  });
  routes_.add(verb::put, "/v1/tables/{name}", Access::kOperator, [monitoring](Call& c) {
    return monitoring(c, [](MonitoringCenter& mc, Call& c) -> Result<Json> {
      auto body = c.body();
      if (!body) return body.error();
      return mc.put_table(c.params[0], *body, c.user(), c.now);
    });
  });

  // ---- registrations and credentials ----
  routes_.add(verb::get, "/v1/registrations", Access::kViewer,
              [this](Call&) { return result_reply(relay_.list_registrations()); });
  routes_.add(verb::post, "/v1/registrations", Access::kOperator, [this](Call& c) {
    auto body = c.body();
    if (!body) return error_reply(body.error());
    return result_reply(relay_.put_registration(*body, c.now), 201);
  });
  routes_.add(verb::delete_, "/v1/registrations/{serial}", Access::kAdmin, [this](Call& c) {
    if (auto st = relay_.delete_registration(c.params[0], c.user(), c.now); !st)
      return error_reply(st.error());
    return ok_reply(200, Json{{"deleted", c.params[0]}});
  });
  routes_.add(verb::get, "/v1/credentials", Access::kAdmin,
              [this](Call&) { return result_reply(relay_.list_credentials()); });
  routes_.add(verb::post, "/v1/credentials", Access::kAdmin, [this](Call& c) {
    auto body = c.body();
    if (!body) return error_reply(body.error());
    auto role = role_from(body->value("role", ""));
    if (!role || *role == Role::kRelay) {
      return error_reply(
          bad_input("role must be viewer, operator or admin (child relays: POST /v1/relays)"));
    }
    std::string name = (*body)["name"].is_string() ? (*body)["name"].get<std::string>() : "";
    auto token = relay_.create_admin_credential(name, *role, c.now);
    if (!token) return error_reply(token.error());
    return ok_reply(201, Json{{"name", name}, {"role", to_string(*role)}, {"token", *token}});
  });
  routes_.add(verb::delete_, "/v1/credentials/{name}", Access::kAdmin, [this](Call& c) {
    if (c.params[0] == c.user()) {
      return error_reply(conflict("a credential cannot revoke itself (" + c.user() +
                                  "); use another admin credential"));
    }
    if (auto st = relay_.revoke_admin_credential(c.params[0], c.user(), /*relay=*/false); !st)
      return error_reply(st.error());
    return ok_reply(200, Json{{"revoked", c.params[0]}});
  });
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

}  // namespace printrelay
