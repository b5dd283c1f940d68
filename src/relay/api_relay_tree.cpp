// The relay tree's API: a child relay's sync (held until there is news for it) and the service
// center's handling of child relay credentials (decisions 0007, 0012).
// Boost 1.74's asio headers use std::exchange without including <utility>.
#include <utility>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "relay/api.h"
#include "relay/api_internal.h"
#include "relay/child_relays.h"

namespace printrelay {

namespace asio = boost::asio;
using namespace api_detail;

// Child relays: their sync (answered by relay_sync(), which may hold it), and the service
// center's list, creation and revocation of their credentials.
void RelayApi::add_relay_tree_routes() {
  using http::verb;
  routes_.add(verb::post, "/v1/relay/sync", Access::kChildRelay, [this](Call& c) {
    auto body = c.body();
    if (!body) return error_reply(body.error());
    Reply r;
    r.special = Reply::kSync;
    r.serial = c.user();  // the child's id
    r.body = std::move(*body);
    return r;
  });
  routes_.add(verb::get, "/v1/relays", Access::kViewer,
              [this](Call& c) { return result_reply(children_.list(c.now)); });
  routes_.add(verb::get, "/v1/relays/{id}/rates", Access::kViewer,
              [this](Call& c) { return result_reply(children_.rates(c.params[0])); });
  routes_.add(verb::post, "/v1/relays", Access::kAdmin, [this](Call& c) {
    auto body = c.body();
    if (!body) return error_reply(body.error());
    std::string id = text_field(*body, "id");
    std::vector<std::string> customers;
    if (auto it = body->find("customers"); it != body->end()) {
      if (!it->is_array()) return error_reply(bad_input("field 'customers' must be an array"));
      for (const auto& v : *it) {
        if (!v.is_string()) return error_reply(bad_input("field 'customers' must hold names"));
        customers.push_back(v.get<std::string>());
      }
    }
    auto token = relay_.create_relay_credential(id, customers, c.now);
    if (!token) return error_reply(token.error());
    return ok_reply(
        201, Json{{"id", id}, {"role", "relay"}, {"customers", customers}, {"token", *token}});
  });
  routes_.add(verb::delete_, "/v1/relays/{id}", Access::kAdmin, [this](Call& c) {
    if (auto st = relay_.revoke_admin_credential(c.params[0], c.user(), /*relay=*/true); !st)
      return error_reply(st.error());
    return ok_reply(200, Json{{"revoked", c.params[0]}});
  });
}

asio::awaitable<int> RelayApi::relay_sync(Exchange& ex, const std::string& child_id,
                                          const Json& body) {
  const auto& req = ex.request();
  auto parsed = parse_sync_request(body);
  if (!parsed) {
    const Reply refused = error_reply(parsed.error());
    co_await ex.respond(make_response(req, refused));
    co_return refused.status;
  }
  auto synced = children_.sync(child_id, *parsed, wall_clock_ms());
  if (!synced) {
    const Reply refused = error_reply(synced.error());
    co_await ex.respond(make_response(req, refused));
    co_return refused.status;
  }
  SyncAnswer answer = std::move(*synced);
  std::optional<Reply> refused;  // the sync's items were taken; the answer is this error
  // A sync is held only when it brought no items, so a downward read that fails while held
  // loses nothing: the wait ends with that error and the child syncs again.
  auto read_downward = [&]() -> bool {
    auto down = children_.downward(child_id, *parsed, wall_clock_ms());
    if (down) {
      answer = std::move(*down);
      return true;
    }
    refused = error_reply(down.error());
    return false;
  };
  if (!answer.has_news && parsed->wait_s > 0) {
    CountedSlot slot(long_polls_, options_.max_long_polls);
    if (slot) {
      auto keys = parsed->serials;
      keys.push_back(kDirectoryWakeKey);
      keys.push_back(child_id);                                // a job for the child itself
      for (const auto& r : parsed->relays) keys.push_back(r);  // or for a relay below it
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
          refused = std::move(revoked);
        } else {
          read_downward();
        }
      }
      if (!refused) {
        answer.body["acked_seq"] = 0;
        answer.body["rejected"] = Json::array();
        answer.body["receipts"] = Json::array();
      }
    }
  }
  if (refused) {
    co_await ex.respond(make_response(req, *refused));
    co_return refused->status;
  }
  co_await ex.respond(json_response(req, 200, answer.body));
  co_return 200;
}

}  // namespace printrelay
