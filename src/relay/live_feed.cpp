#include "relay/live_feed.h"

#include <boost/asio/post.hpp>

namespace printrelay {

std::shared_ptr<LiveFeed::Waiter> LiveFeed::watch_device(const std::string& serial,
                                                         boost::asio::any_io_executor ex) {
  auto w = std::make_shared<Waiter>(ex);
  std::lock_guard lock(mu_);
  waiters_.emplace(serial, w);
  return w;
}

void LiveFeed::unwatch_device(const std::string& serial, const std::shared_ptr<Waiter>& w) {
  std::lock_guard lock(mu_);
  auto [b, e] = waiters_.equal_range(serial);
  for (auto it = b; it != e; ++it) {
    if (it->second == w) {
      waiters_.erase(it);
      return;
    }
  }
}

std::shared_ptr<LiveFeed::Waiter> LiveFeed::watch_devices(const std::vector<std::string>& serials,
                                                          boost::asio::any_io_executor ex) {
  auto w = std::make_shared<Waiter>(ex);
  std::lock_guard lock(mu_);
  for (const auto& s : serials) waiters_.emplace(s, w);
  return w;
}

void LiveFeed::hold(const std::string& holder, const std::shared_ptr<Waiter>& w) {
  std::lock_guard lock(mu_);
  auto& slot = holders_[holder];
  if (slot && slot != w) {
    auto old = slot;
    old->replaced = true;
    boost::asio::post(old->timer.get_executor(), [old] { old->timer.cancel(); });
  }
  slot = w;
}

void LiveFeed::release(const std::string& holder, const std::shared_ptr<Waiter>& w) {
  std::lock_guard lock(mu_);
  auto it = holders_.find(holder);
  if (it != holders_.end() && it->second == w) holders_.erase(it);
}

void LiveFeed::unwatch_devices(const std::vector<std::string>& serials,
                               const std::shared_ptr<Waiter>& w) {
  for (const auto& s : serials) unwatch_device(s, w);
}

std::shared_ptr<LiveFeed::Subscriber> LiveFeed::subscribe(boost::asio::any_io_executor ex) {
  auto s = std::make_shared<Subscriber>(ex);
  std::lock_guard lock(mu_);
  subscribers_.insert(s);
  return s;
}

void LiveFeed::unsubscribe(const std::shared_ptr<Subscriber>& s) {
  std::lock_guard lock(mu_);
  subscribers_.erase(s);
}

void LiveFeed::publish(const std::string& kind, const Json& data) {
  std::string frame = "event: " + kind + "\ndata: " + data.dump() + "\n\n";
  std::lock_guard lock(mu_);
  for (const auto& s : subscribers_) {
    {
      std::lock_guard sl(s->mu);
      if (s->overflowed || s->pending_bytes + frame.size() > max_pending_bytes_) {
        s->overflowed = true;
      } else {
        s->pending.push_back(frame);
        s->pending_bytes += frame.size();
      }
    }
    boost::asio::post(s->timer.get_executor(), [s] { s->timer.cancel(); });
  }
}

void LiveFeed::wake_device(const std::string& serial) {
  std::lock_guard lock(mu_);
  auto [b, e] = waiters_.equal_range(serial);
  for (auto it = b; it != e; ++it) {
    auto w = it->second;
    w->woken = true;
    boost::asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
  }
}

void LiveFeed::drop_all() {
  std::lock_guard lock(mu_);
  waiters_.clear();
  subscribers_.clear();
  holders_.clear();
}

std::size_t LiveFeed::waiting_devices() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

std::size_t LiveFeed::subscribers() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

}  // namespace printrelay
