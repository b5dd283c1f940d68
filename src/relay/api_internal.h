// What the api*.cpp files of RelayApi share and nothing else includes: the clocks, response and
// credential helpers, and the RAII holders of a held request's places (a long-poll slot, a
// feed watch, an event-stream slot), so that however a coroutine leaves, what it took is
// given back.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "clock/wall_clock.h"
#include "core/codec.h"
#include "net/http_server.h"
#include "relay/live_feed.h"

namespace printrelay::api_detail {

namespace asio = boost::asio;

// How `relayctl artifact push` sends an artifact's manifest and signature with its bytes.
inline constexpr const char* kManifestHeader = "X-Artifact-Manifest";
inline constexpr const char* kSignatureHeader = "X-Artifact-Signature";

// The rate limits' clock: never jumps with the wall clock.
inline TimeMs steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline HttpResponseMsg raw_json_response(const HttpRequestMsg& req, int status, std::string body) {
  HttpResponseMsg res{static_cast<http::status>(status), req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::server, "relayd");
  res.body() = std::move(body);
  return res;
}

inline HttpResponseMsg json_response(const HttpRequestMsg& req, int status, const Json& body) {
  return raw_json_response(req, status, body.dump());
}

inline std::string bearer(const http::request_header<>& req) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return "";
  std::string_view v(it->value().data(), it->value().size());
  if (v.size() < 7 || (v.substr(0, 7) != "Bearer " && v.substr(0, 7) != "bearer ")) return "";
  return std::string(v.substr(7));
}

inline bool role_allows(Role have, Role need) {
  if (have == Role::kRelay || need == Role::kRelay) return have == need;
  return static_cast<int>(have) >= static_cast<int>(need);
}

// A place in a bounded count (held long polls and child syncs, ApiOptions::max_long_polls; bulk
// report uploads, max_bulk_inflight): taken at construction when the count is below `limit`,
// given back when this goes out of scope, however the caller leaves (a throw included).
class CountedSlot {
 public:
  CountedSlot(std::atomic<int>& count, int limit) : count_(count) {
    taken_ = count_.fetch_add(1) < limit;
    if (!taken_) count_.fetch_sub(1);
  }
  ~CountedSlot() {
    if (taken_) count_.fetch_sub(1);
  }
  CountedSlot(const CountedSlot&) = delete;
  CountedSlot& operator=(const CountedSlot&) = delete;
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

inline bool alerts_only(const Json& body) {
  auto it = body.find("reports");
  if (it == body.end() || !it->is_array() || it->empty()) return false;
  for (const auto& r : *it) {
    if (text_field(r, "kind") != "alert") return false;
  }
  return true;
}

}  // namespace printrelay::api_detail
