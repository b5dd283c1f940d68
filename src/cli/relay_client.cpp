#include "cli/relay_client.h"

#include <chrono>

#include "core/json_text.h"
#include "net/http_client.h"

namespace printrelay::cli {
namespace {

// A refusal is bad input to the caller, except a conflict: the caller may read again and retry.
ErrorKind refusal_kind(int status) {
  return status == 409 ? ErrorKind::kConflict : ErrorKind::kBadInput;
}

}  // namespace

std::string describe_http_error(int status, const std::string& body) {
  // A relay's answer is outside text: parsed with the nesting limit (core/json_text.h).
  auto parsed = parse_json(body);
  const Json j = parsed ? std::move(*parsed) : Json();
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const Json& e = j["error"];
    std::string message = e.value("message", "");
    std::string code = e.value("code", "");
    return (message.empty() ? "request failed" : message) + " (" + (code.empty() ? "error" : code) +
           ", HTTP " + std::to_string(status) + ")";
  }
  std::string excerpt = body.substr(0, 200);
  while (!excerpt.empty() && (excerpt.back() == '\n' || excerpt.back() == '\r')) excerpt.pop_back();
  return "relay answered HTTP " + std::to_string(status) + (excerpt.empty() ? "" : ": " + excerpt);
}

RelayClient::RelayClient(Connection connection)
    : connection_(std::move(connection)),
      http_(std::make_unique<HttpClient>(
          ClientOptions{connection_.ca, connection_.insecure, connection_.proxy})) {}

RelayClient::~RelayClient() = default;

std::string RelayClient::transport_error(const Error& e, const std::string& method,
                                         const std::string& full_url) const {
  // HttpClient prefixes curl's message with "<method> <url>: "; the URL is said once here.
  std::string detail = e.message;
  std::string prefix = method + " " + full_url + ": ";
  if (detail.rfind(prefix, 0) == 0) detail = detail.substr(prefix.size());
  return "cannot reach relay at " + connection_.url + ": " + detail;
}

Result<Json> RelayClient::call(const ApiCall& call) {
  HttpRequest req;
  req.method = call.method;
  req.url = connection_.url + call.path;
  if (call.body) {
    req.body = call.body->dump();
    req.headers.emplace_back("Content-Type", "application/json");
  }
  return exchange(req);
}

Result<Json> RelayClient::upload(UploadCall call) {
  HttpRequest req;
  req.method = call.method;
  req.url = connection_.url + call.path;
  req.body = std::move(call.body);
  req.timeout_ms = call.timeout_ms;
  req.headers = std::move(call.headers);
  req.headers.emplace_back("Content-Type", call.content_type);
  return exchange(req);
}

Result<std::string> RelayClient::fetch_text(const ApiCall& call, const std::string& accept,
                                            long timeout_ms) {
  HttpRequest req;
  req.method = call.method;
  req.url = connection_.url + call.path;
  req.timeout_ms = timeout_ms;
  if (call.body) {
    req.body = call.body->dump();
    req.headers.emplace_back("Content-Type", "application/json");
  }
  auto resp = send(req, accept);
  if (!resp) return resp.error();
  return std::move(resp->body);
}

Result<HttpResponse> RelayClient::send(HttpRequest& req, const std::string& accept) {
  req.headers.emplace_back("Authorization", "Bearer " + connection_.token);
  req.headers.emplace_back("Accept", accept);
  auto resp = http_->send(req);
  if (!resp) return unavailable(transport_error(resp.error(), req.method, req.url));
  if (resp->status < 200 || resp->status > 299) {
    return Error{refusal_kind(resp->status), describe_http_error(resp->status, resp->body)};
  }
  return std::move(*resp);
}

Result<Json> RelayClient::exchange(HttpRequest& req) {
  auto resp = send(req, "application/json");
  if (!resp) return resp.error();
  if (resp->body.empty()) return Json();
  auto j = parse_json(resp->body);
  if (!j) {
    return unavailable("relay answered HTTP " + std::to_string(resp->status) +
                       " with a body that is not JSON: " + j.error().message);
  }
  return std::move(*j);
}

Result<bool> RelayClient::follow(const std::string& path, long timeout_ms,
                                 const std::function<bool(const SseEvent&)>& on_event,
                                 bool* timed_out) {
  using Clock = std::chrono::steady_clock;
  *timed_out = false;
  HttpRequest req;
  req.url = connection_.url + path;
  req.timeout_ms = timeout_ms;
  req.headers = {{"Authorization", "Bearer " + connection_.token}, {"Accept", "text/event-stream"}};
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  SseParser parser;
  std::string head;  // first bytes, to explain a non-200 answer
  bool stopped = false;
  auto status = http_->stream(req, [&](std::string_view chunk) {
    if (head.size() < 4096) head.append(chunk.substr(0, 4096 - head.size()));
    for (const auto& event : parser.feed(chunk)) {
      if (!on_event(event)) {
        stopped = true;
        return false;
      }
    }
    // Keepalives arrive every 15 s; they let a --timeout-s end even on a quiet stream.
    if (timeout_ms > 0 && Clock::now() >= deadline) {
      *timed_out = true;
      return false;
    }
    return true;
  });
  if (stopped) return true;
  if (!status) {
    if (timeout_ms > 0 && Clock::now() + std::chrono::milliseconds(50) >= deadline) {
      *timed_out = true;
      return false;
    }
    return unavailable(transport_error(status.error(), req.method, req.url));
  }
  if (*timed_out) return false;
  if (*status < 200 || *status > 299) {
    return Error{refusal_kind(*status), describe_http_error(*status, head)};
  }
  return false;
}

}  // namespace printrelay::cli
