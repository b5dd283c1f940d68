#include "agent/relay_client.h"

#include "agent/agent_log.h"
#include "agent/durable_file.h"
#include "core/codec.h"

namespace printrelay::agent {

RelayRoster::RelayRoster(std::vector<std::string> urls, std::filesystem::path tokens_file,
                         Enrollment enrollment)
    : urls_(std::move(urls)),
      tokens_file_(std::move(tokens_file)),
      enrollment_(std::move(enrollment)) {
  auto text = read_file(tokens_file_);
  if (!text) return;
  auto j = parse_body(*text);
  if (!j) {
    LogLine(LogLevel::kWarn) << "agent: ignoring unreadable " << tokens_file_;
    return;
  }
  for (const auto& [url, tok] : j->items()) {
    if (tok.is_string()) tokens_[url] = tok.get<std::string>();
  }
}

void RelayRoster::return_to_first_if_due_locked() const {
  if (current_ != 0 && std::chrono::steady_clock::now() - left_first_at_ >= return_after_) {
    current_ = 0;
  }
}

std::size_t RelayRoster::current() const {
  std::lock_guard lock(mu_);
  return_to_first_if_due_locked();
  return current_;
}

std::string RelayRoster::current_url() const {
  std::lock_guard lock(mu_);
  return_to_first_if_due_locked();
  return urls_.empty() ? std::string() : urls_[current_];
}

void RelayRoster::advance_from(std::size_t failed) {
  std::lock_guard lock(mu_);
  if (current_ == failed && !urls_.empty()) {
    current_ = (current_ + 1) % urls_.size();
    if (failed == 0) left_first_at_ = std::chrono::steady_clock::now();
  }
}

void RelayRoster::set_return_after(std::chrono::milliseconds d) {
  std::lock_guard lock(mu_);
  return_after_ = d;
}

std::optional<std::string> RelayRoster::token(const std::string& url) const {
  std::lock_guard lock(mu_);
  auto it = tokens_.find(url);
  if (it != tokens_.end()) return it->second;
  // Relays of one tree (or nodes of one store) share the device's credential: a relay this
  // device never used is tried with the credential it has, and enrolled at only if that one is
  // refused. A relay replaces a used credential only after the service center revoked it.
  for (const auto& u : urls_) {
    if (auto known = tokens_.find(u); known != tokens_.end()) return known->second;
  }
  return std::nullopt;
}

void RelayRoster::set_token(const std::string& url, const std::string& token) {
  std::lock_guard lock(mu_);
  tokens_[url] = token;
  persist_locked();
}

void RelayRoster::persist_locked() const {
  Json j = Json::object();
  for (const auto& [url, tok] : tokens_) j[url] = tok;
  if (auto st = write_durably(tokens_file_, j.dump()); !st) {
    LogLine(LogLevel::kError) << "agent: " << st.error().message;
  }
}

RelayClient::RelayClient(RelayRoster& roster, Transport transport)
    : roster_(roster), transport_(std::move(transport)) {}

Status RelayClient::enroll(const std::string& url) {
  const auto& e = roster_.enrollment();
  HttpRequest req;
  req.method = "POST";
  req.url = url + "/v1/device/enroll";
  req.headers = {{"Content-Type", "application/json"}};
  req.body =
      Json{{"serial", e.serial}, {"model", e.model}, {"enrollment_code", e.enrollment_code}}.dump();
  req.timeout_ms = 15000;
  auto resp = transport_(req);
  if (!resp) return resp.error();
  if (resp->status >= 500)
    return unavailable("enroll at " + url + ": HTTP " + std::to_string(resp->status));
  if (resp->status == 404) return not_found("enroll at " + url + ": serial not registered");
  if (resp->status != 200 && resp->status != 201) {
    return forbidden("enroll at " + url + ": HTTP " + std::to_string(resp->status) + " " +
                     resp->body.substr(0, 200));
  }
  auto j = parse_body(resp->body);
  if (!j || !j->contains("device_token") || !(*j)["device_token"].is_string()) {
    return unavailable("enroll at " + url + ": answer without device_token");
  }
  roster_.set_token(url, (*j)["device_token"].get<std::string>());
  return ok_status();
}

Result<std::string> RelayClient::ensure_token(const std::string& url,
                                              const std::optional<std::string>& stale) {
  std::lock_guard lock(roster_.enroll_mutex());
  auto current = roster_.token(url);
  if (current && (!stale || *current != *stale)) return *current;
  if (auto st = enroll(url); !st) return st.error();
  auto fresh = roster_.token(url);
  if (!fresh) return unavailable("enroll at " + url + ": no token stored");
  return *fresh;
}

Result<HttpResponse> RelayClient::call(const std::string& method, const std::string& path,
                                       const Json& body, long timeout_ms) {
  if (roster_.size() == 0) return unavailable("no relay URL configured");
  std::string last_error = "no relay answered";
  const std::string payload = body.dump();
  for (std::size_t attempt = 0; attempt < roster_.size(); ++attempt) {
    const std::size_t index = roster_.current();
    const std::string& url = roster_.url(index);
    auto token = ensure_token(url, std::nullopt);
    if (!token) {
      last_error = token.error().message;
      roster_.advance_from(index);
      continue;
    }
    HttpRequest req;
    req.method = method;
    req.url = url + path;
    req.body = payload;
    req.timeout_ms = timeout_ms;
    req.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + *token}};
    auto resp = transport_(req);
    if (resp && resp->status == 401) {
      // The relay does not know this token (a relay with its own store, or a token replaced by
      // a later enrollment): enroll there again with the registration and retry once.
      auto renewed = ensure_token(url, *token);
      if (!renewed) {
        last_error = renewed.error().message;
        roster_.advance_from(index);
        continue;
      }
      req.headers[1].second = "Bearer " + *renewed;
      resp = transport_(req);
    }
    if (!resp) {
      last_error = resp.error().message;
      roster_.advance_from(index);
      continue;
    }
    if (resp->status >= 500) {
      last_error = method + " " + req.url + ": HTTP " + std::to_string(resp->status);
      roster_.advance_from(index);
      continue;
    }
    last_url_ = url;
    return resp;
  }
  return unavailable(last_error);
}

int retry_after_s(const HttpResponse& resp, int fallback_s) {
  const std::string v = resp.header("retry-after");
  if (v.empty()) return fallback_s;
  try {
    int s = std::stoi(v);
    return s < 0 ? fallback_s : std::min(s, 3600);
  } catch (...) {
    return fallback_s;
  }
}

}  // namespace printrelay::agent
