// HTTP(S) client on libcurl, used by the agent, child relays and relayctl.
// One HttpClient owns one connection (kept alive between calls); it is not thread-safe: use one
// per thread. Transport failures (refused, timeout, TLS) come back as ErrorKind::kUnavailable
// with curl's message; any HTTP status, including 4xx/5xx, is a successful HttpResponse.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace printrelay {

struct ClientOptions {
  std::string ca_file;    // PEM bundle to verify the relay; empty: system store
  bool insecure = false;  // skip verification (tests only)
  std::string proxy;      // e.g. "http://proxy.lan:3128"; empty: none ("" ignores env too)
  long connect_timeout_ms = 5000;
  // When set and it turns true, a request in flight ends with kUnavailable within about a
  // second (an agent stopping must not wait out a 25 s long-poll). Must outlive the client.
  const std::atomic<bool>* abort = nullptr;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  long timeout_ms = 30000;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string header(const std::string& name) const;
};

class HttpClient {
 public:
  explicit HttpClient(ClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Result<HttpResponse> send(const HttpRequest& req);

  // Streams the body to `on_data` as it arrives (Server-Sent Events). Returns when the server
  // closes, on a transport error, or when on_data returns false (then Ok).
  Result<int> stream(const HttpRequest& req, const std::function<bool(std::string_view)>& on_data);

  // A download: a 2xx body goes to `on_data` as it arrives (false stops it, then Ok); any other
  // status comes back with its body (up to 4 KiB) in the response and `on_data` is not called.
  // The response's body is empty for a 2xx answer.
  Result<HttpResponse> download(const HttpRequest& req,
                                const std::function<bool(std::string_view)>& on_data);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace printrelay
