// HTTP/1.1 server on Boost.Beast/Asio with C++20 coroutines, TLS by default.
//
// One coroutine per connection owns its socket and buffer and runs on its own strand, so a
// handler may wait (long-poll, event stream) without blocking other connections. Handlers see a
// transport-neutral Exchange: answer once with respond(), or open a stream (Server-Sent Events)
// and write to it until the client leaves.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace printrelay {

namespace http = boost::beast::http;
using HttpRequestMsg = http::request<http::string_body>;
using HttpResponseMsg = http::response<http::string_body>;

// One request and the means to answer it. Lives for the duration of the handler call.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const HttpRequestMsg& request() const = 0;
  virtual const std::string& remote_address() const = 0;
  // Path without the query string, and the decoded query parameters.
  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& query() const { return query_; }
  std::string query_value(const std::string& key, const std::string& fallback = "") const;

  // Sends a complete response. Call at most once, and not after open_stream().
  virtual boost::asio::awaitable<void> respond(HttpResponseMsg response) = 0;
  // Starts a streamed response (chunked) with the given content type; returns false if the
  // client is gone. Then write() chunks; write() returns false once the client is gone.
  virtual boost::asio::awaitable<bool> open_stream(const std::string& content_type) = 0;
  virtual boost::asio::awaitable<bool> write(std::string chunk) = 0;

  void set_target(std::string path, std::map<std::string, std::string> query) {
    path_ = std::move(path);
    query_ = std::move(query);
  }

 private:
  std::string path_;
  std::map<std::string, std::string> query_;
};

using RequestHandler = std::function<boost::asio::awaitable<void>(Exchange&)>;

struct ServerOptions {
  std::string listen_address = "127.0.0.1";
  unsigned short port = 8443;
  bool tls = true;
  std::string cert_file;  // PEM chain; required with tls
  std::string key_file;
  std::size_t body_limit_bytes = 1 << 20;
  // Requests whose target starts with this prefix (artifact uploads) may carry up to
  // large_body_limit_bytes; the body is still read into memory.
  std::string large_body_path_prefix;
  std::size_t large_body_limit_bytes = 0;
  int idle_timeout_s = 75;     // keep-alive connections idle longer are closed
  int request_timeout_s = 30;  // to read one request
};

// Binds and accepts on `ioc`. Throws std::runtime_error at construction when the address cannot
// be bound or the certificate cannot be loaded (a startup error).
class HttpServer {
 public:
  // Serves on one io_context that any number of threads may run (connections use strands).
  HttpServer(boost::asio::io_context& ioc, ServerOptions options, RequestHandler handler);
  // Serves on several io_contexts, one acceptor each on the same port (SO_REUSEPORT). Each
  // context must be run by exactly one thread: connections then need no strands.
  HttpServer(std::vector<boost::asio::io_context*> contexts, ServerOptions options,
             RequestHandler handler);
  ~HttpServer();
  unsigned short port() const;  // the bound port (useful with port 0)
  void start();
  void stop();

 private:
  HttpServer(std::vector<boost::asio::io_context*> contexts, bool strands, ServerOptions options,
             RequestHandler handler);
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Splits "/a/b?x=1&y=%20" into path and decoded query.
void split_target(std::string_view target, std::string& path,
                  std::map<std::string, std::string>& query);

}  // namespace printrelay
