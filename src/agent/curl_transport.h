// The agent's HTTP transport: libcurl with the same options as net/HttpClient (CA file,
// insecure, proxy, TLS 1.2+), plus an abort flag checked while a request is in flight, so that
// stopping an agent does not wait for a 25 s long-poll to end. One per thread, like HttpClient.
#pragma once

#include <atomic>
#include <functional>

#include "net/http_client.h"

namespace printrelay::agent {

// What the relay client sends through; tests substitute a function.
using Transport = std::function<Result<HttpResponse>(const HttpRequest&)>;

class CurlTransport {
 public:
  // `abort` must outlive the transport; when it turns true, a request in flight ends with
  // ErrorKind::kUnavailable within about a second.
  CurlTransport(ClientOptions options, const std::atomic<bool>* abort);
  ~CurlTransport();
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  Result<HttpResponse> send(const HttpRequest& req);

 private:
  ClientOptions options_;
  const std::atomic<bool>* abort_;
  void* curl_ = nullptr;
};

}  // namespace printrelay::agent
