// The device's view of its relays: an ordered list of URLs, a device token per URL, and the
// failover rule of seed 001 claim 24 — on a transport failure or a 5xx answer, move to the next
// relay in the list; after the last one, wrap around (the caller backs off before trying again).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <functional>

#include "core/model.h"
#include "net/http_client.h"

namespace printrelay::agent {

// What the relay client sends through: an HttpClient in the agent, a function in tests.
using Transport = std::function<Result<HttpResponse>(const HttpRequest&)>;

struct Enrollment {
  std::string serial;
  std::string model;
  std::string enrollment_code;
};

// Shared by the poller and the sender: which relay is in use and the tokens. Thread-safe.
// Tokens persist in <state>/tokens.json as {"<url>": "<token>"}.
class RelayRoster {
 public:
  RelayRoster(std::vector<std::string> urls, std::filesystem::path tokens_file,
              Enrollment enrollment);

  std::size_t size() const { return urls_.size(); }
  const std::string& url(std::size_t i) const { return urls_[i]; }
  const Enrollment& enrollment() const { return enrollment_; }

  // The relay in use. After `return_after` away from the first URL (the device's configured
  // relay, seed 001 claim 30) the first is tried again; if it still fails, advance_from moves on
  // and the clock starts over.
  std::size_t current() const;
  std::string current_url() const;
  // Moves on from `failed` to the next URL, unless another thread already moved on.
  void advance_from(std::size_t failed);
  void set_return_after(std::chrono::milliseconds d);

  // The token for `url`; for a URL never enrolled at, the token of the first URL that has one.
  std::optional<std::string> token(const std::string& url) const;
  // Held while enrolling: the relay replaces a device's token on every enrollment, so two threads
  // enrolling at once would each invalidate the other's token.
  std::mutex& enroll_mutex() { return enroll_mu_; }
  void set_token(const std::string& url, const std::string& token);

 private:
  void persist_locked() const;

  const std::vector<std::string> urls_;
  const std::filesystem::path tokens_file_;
  const Enrollment enrollment_;
  mutable std::mutex mu_;
  std::mutex enroll_mu_;
  void return_to_first_if_due_locked() const;

  mutable std::size_t current_ = 0;
  mutable std::chrono::steady_clock::time_point left_first_at_;
  std::chrono::milliseconds return_after_{std::chrono::minutes(5)};
  std::map<std::string, std::string> tokens_;
};

// One per thread. Calls a device API path on the relay in use, with failover and enrollment.
class RelayClient {
 public:
  RelayClient(RelayRoster& roster, Transport transport);

  // Sends `body` to `path` (e.g. "/v1/device/poll"). Tries each relay at most once, starting
  // with the one in use: transport failures and 5xx move to the next; a 401 re-enrolls at that
  // URL and retries once. Returns the first other answer (2xx, 4xx, 429) as is, or unavailable
  // when every relay failed (the caller backs off).
  Result<HttpResponse> call(const std::string& method, const std::string& path, const Json& body,
                            long timeout_ms);

  // URL of the relay that gave the last answer.
  const std::string& last_url() const { return last_url_; }

  // Enrolls at `url` (serial, model, code) and stores the token. Not found / forbidden when the
  // relay does not know this device or the code; unavailable on transport failure.
  Status enroll(const std::string& url);

 private:
  // A usable token for `url`: the stored one unless it equals `stale` (refused with 401), else a
  // new enrollment. Another thread's fresh token is reused instead of enrolling again.
  Result<std::string> ensure_token(const std::string& url, const std::optional<std::string>& stale);

  RelayRoster& roster_;
  Transport transport_;
  std::string last_url_;
};

// Retry-After in seconds from a 429 answer (default when missing or not a number).
int retry_after_s(const HttpResponse& resp, int fallback_s = 5);

}  // namespace printrelay::agent
