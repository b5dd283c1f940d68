// The device API (docs/protocol.md): enrolment with its failure limits, the poll (answered at
// once or held until a job comes), reports, update checks and job events.
// Boost 1.74's asio headers use std::exchange without including <utility>.
#include <utility>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>
#include <optional>

#include "relay/api.h"
#include "relay/api_internal.h"
#include "relay/artifact_fetcher.h"

namespace printrelay {

namespace asio = boost::asio;
using namespace api_detail;

// The device API: enrolment (no credential), then everything a device credential may do. The
// poll is answered by device_poll() (it may be held).
void RelayApi::add_device_routes() {
  using http::verb;
  routes_.add(verb::post, "/v1/device/poll", Access::kDevice, [this](Call& c) {
    auto body = c.body();
    if (!body) return error_reply(body.error());
    Reply r;
    r.special = Reply::kPoll;
    r.serial = c.serial;
    r.body = std::move(*body);
    return r;
  });
  routes_.add(verb::post, "/v1/device/enroll", Access::kPublic, [this](Call& c) {
    auto body = c.body();
    if (!body) return error_reply(body.error());
    return enroll(c.ex, *body, c.now);
  });
  routes_.add(verb::post, "/v1/device/reports", Access::kDevice, [this](Call& c) {
    auto body = c.body();
    if (!body) return error_reply(body.error());
    // Alerts always go through; bulk uploads are shed past max_bulk_inflight (429).
    const bool urgent = alerts_only(*body);
    std::optional<CountedSlot> bulk;
    if (!urgent) {
      bulk.emplace(bulk_inflight_, options_.max_bulk_inflight);
      if (!*bulk) {
        return error_reply(Error{ErrorKind::kRateLimited,
                                 "relay is busy; retry later (alerts are still accepted)"});
      }
    }
    auto r = relay_.accept_reports(c.serial, *body, c.now);
    if (r) {
      std::size_t fresh = 0;
      for (const auto& rc : (*r)["receipts"]) fresh += rc.value("duplicate", false) ? 0 : 1;
      metrics_.count_reports(fresh);
    }
    return result_reply(std::move(r));
  });
  routes_.add(verb::post, "/v1/device/firmware-check", Access::kDevice, [this](Call& c) {
    if (!options_.firmware) return error_reply(not_found("this relay keeps no firmware"));
    auto body = c.body();
    if (!body) return error_reply(body.error());
    auto checked = options_.firmware->check(c.serial, *body, c.now);
    // A child relay starts fetching what it offers, so the bytes are here when the device asks.
    if (checked && options_.fetcher) {
      for (const auto& o : (*checked)["offers"]) options_.fetcher->want(o.value("artifact", ""));
    }
    return result_reply(std::move(checked));
  });
  routes_.add(verb::post, "/v1/device/jobs/{id}/events", Access::kDevice, [this](Call& c) {
    auto body = c.body();
    if (!body) return error_reply(body.error());
    return result_reply(relay_.record_job_event(c.serial, c.params[0], *body, c.now));
  });
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
    answer.emplace(relay_.poll_answer(serial, wall_clock_ms()));
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
  TimeMs now = wall_clock_ms();
  auto answer = relay_.poll(serial, body, now, wait_s);
  if (!answer) {
    const Reply refused = error_reply(answer.error());
    co_await ex.respond(make_response(req, refused));
    co_return refused.status;
  }
  // Answer at once when there is a job, no wait was asked, or too many polls are held already
  // (the device then comes back after next_poll_s).
  if (wait_s == 0 || answer->has_jobs) {
    co_await ex.respond(raw_json_response(req, 200, std::move(answer->body)));
    co_return 200;
  }
  CountedSlot slot(long_polls_, options_.max_long_polls);
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
    auto due =
        held.replaced() ? Result<bool>(true) : relay_.has_deliverable_jobs(serial, wall_clock_ms());
    if (due && !*due) {
      held.timer().expires_after(std::chrono::seconds(wait_s));
      boost::system::error_code ec;
      co_await held.timer().async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  // The credential may have been revoked while the poll was held: no jobs for it then.
  co_return co_await answer_held_poll(ex, serial);
}

}  // namespace printrelay
