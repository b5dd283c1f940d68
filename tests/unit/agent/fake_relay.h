// A tiny HTTP/1.1 server on 127.0.0.1 for the agent tests: one thread, one request per
// connection ("Connection: close"), answers from a handler the test supplies, and records every
// request so that tests can assert what reached the relay and in which order.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace printrelay::testing {

struct FakeRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::chrono::steady_clock::time_point at;
};

struct FakeResponse {
  int status = 200;
  std::string body = "{}";
  std::vector<std::pair<std::string, std::string>> headers;
};

class FakeRelay {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;

  explicit FakeRelay(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 64);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeRelay() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<FakeRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<FakeRequest> requests_to(const std::string& path_prefix) const {
    std::lock_guard lock(mu_);
    std::vector<FakeRequest> out;
    for (const auto& r : requests_) {
      if (r.path.rfind(path_prefix, 0) == 0) out.push_back(r);
    }
    return out;
  }
  // Waits until `pred(requests)` holds or `timeout` passes; returns whether it held.
  bool wait_for(const std::function<bool(const std::vector<FakeRequest>&)>& pred,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(requests_); });
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      handle(c);
      ::close(c);
    }
  }

  void handle(int c) {
    std::string data;
    char buf[65536];
    std::size_t header_end = std::string::npos;
    std::size_t content_length = 0;
    for (;;) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) return;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      data.append(buf, std::size_t(n));
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end == std::string::npos) continue;
        auto cl = lower(data.substr(0, header_end)).find("content-length:");
        if (cl != std::string::npos) content_length = std::stoul(data.substr(cl + 15));
      }
      if (data.size() >= header_end + 4 + content_length) break;
    }
    FakeRequest req;
    req.at = std::chrono::steady_clock::now();
    auto line_end = data.find("\r\n");
    auto first = data.substr(0, line_end);
    auto sp1 = first.find(' ');
    auto sp2 = first.find(' ', sp1 + 1);
    req.method = first.substr(0, sp1);
    req.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t pos = line_end + 2;
    while (pos < header_end) {
      auto e = data.find("\r\n", pos);
      auto h = data.substr(pos, e - pos);
      auto colon = h.find(':');
      if (colon != std::string::npos) {
        auto v = h.substr(colon + 1);
        v.erase(0, v.find_first_not_of(' '));
        req.headers[lower(h.substr(0, colon))] = v;
      }
      pos = e + 2;
    }
    req.body = data.substr(header_end + 4, content_length);
    FakeResponse resp = handler_(req);
    std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " X\r\n";
    out += "Content-Type: application/json\r\nConnection: close\r\n";
    for (const auto& [k, v] : resp.headers) out += k + ": " + v + "\r\n";
    out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n\r\n" + resp.body;
    // Recorded before it is answered: a client that has its answer finds its request here.
    {
      std::lock_guard lock(mu_);
      requests_.push_back(req);
    }
    cv_.notify_all();
    ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
  }

  static std::string lower(std::string s) {
    for (auto& ch : s) ch = char(::tolower(ch));
    return s;
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<FakeRequest> requests_;
};

}  // namespace printrelay::testing
