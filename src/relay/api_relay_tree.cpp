// The relay tree's API: a child relay's sync (held until there is news for it) and the service
// center's handling of child relay credentials (decisions 0007, 0012).
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

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
    CountedSlot slot(long_polls_, options_.max_long_polls);
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

}  // namespace printrelay
