// What wakes waiting requests: long-polling devices (woken when a job for them appears) and
// event-stream subscribers (fed every report, alert and job transition).
//
// Thread-safe. Waiters and subscribers live on their connection's strand; the feed posts wake-ups
// to that strand, so a wake-up never races the coroutine that waits.
//
// Bounds: one held request per holder (hold(): a device's poll, a child relay's sync; the newer
// replaces the older), and a subscriber's frames not yet written at most max_pending_bytes (a
// slower reader is marked overflowed, and its stream is closed).
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "relay/relay.h"

namespace printrelay {

class LiveFeed final : public RelayEvents {
 public:
  struct Waiter {
    explicit Waiter(boost::asio::any_io_executor ex) : timer(ex) {}
    boost::asio::steady_timer timer;
    std::atomic<bool> woken{false};
    std::atomic<bool> replaced{false};  // a newer request of the same holder took its place
  };
  struct Subscriber {
    explicit Subscriber(boost::asio::any_io_executor ex) : timer(ex) {}
    boost::asio::steady_timer timer;
    std::mutex mu;
    std::deque<std::string> pending;    // ready-to-send SSE frames
    std::size_t pending_bytes = 0;      // of `pending`; the reader resets it with the swap
    bool overflowed = false;            // too slow a reader: the stream is closed
    std::atomic<bool> replaced{false};  // its credential opened a newer one past the cap
  };

  // What a subscriber may have waiting: 8 MiB is dozens of the largest reports (256 KiB).
  static constexpr std::size_t kMaxPendingBytes = 8 << 20;
  explicit LiveFeed(std::size_t max_pending_bytes = kMaxPendingBytes)
      : max_pending_bytes_(max_pending_bytes) {}
  std::size_t max_pending_bytes() const { return max_pending_bytes_; }

  std::shared_ptr<Waiter> watch_device(const std::string& serial, boost::asio::any_io_executor ex);
  void unwatch_device(const std::string& serial, const std::shared_ptr<Waiter>& w);
  // One waiter woken by a job for any of `serials` (a child relay's sync long-poll).
  std::shared_ptr<Waiter> watch_devices(const std::vector<std::string>& serials,
                                        boost::asio::any_io_executor ex);
  void unwatch_devices(const std::vector<std::string>& serials, const std::shared_ptr<Waiter>& w);
  // Makes `w` the one held request of `holder` ("device:SERIAL", "relay:ID"). The one it
  // replaces, if any, is marked replaced and woken, so that it answers at once.
  void hold(const std::string& holder, const std::shared_ptr<Waiter>& w);
  // Ends `w`'s hold, if it still is `holder`'s (not replaced meanwhile).
  void release(const std::string& holder, const std::shared_ptr<Waiter>& w);
  std::shared_ptr<Subscriber> subscribe(boost::asio::any_io_executor ex);
  void unsubscribe(const std::shared_ptr<Subscriber>& s);

  void publish(const std::string& kind, const Json& data) override;
  void wake_device(const std::string& serial) override;

  // Forgets every waiter and subscriber. Call when the I/O threads have stopped and before their
  // io_contexts are destroyed: a waiter's timer must not outlive its io_context.
  void drop_all();

  std::size_t waiting_devices() const;
  std::size_t subscribers() const;

 private:
  mutable std::mutex mu_;
  std::multimap<std::string, std::shared_ptr<Waiter>> waiters_;
  std::set<std::shared_ptr<Subscriber>> subscribers_;
  std::map<std::string, std::shared_ptr<Waiter>> holders_;
  const std::size_t max_pending_bytes_;
};

}  // namespace printrelay
