// HTTP/1.1 server on Boost.Beast/Asio with C++20 coroutines, TLS by default.
//
// One coroutine per connection owns its socket and buffer and runs on its own strand, so a
// handler may wait (long-poll, event stream) without blocking other connections. Handlers see a
// transport-neutral Exchange: answer once with respond() or respond_file(), or open a stream
// (Server-Sent Events) and write to it until the client leaves. Large bodies are never held in
// memory: uploads to the large-body path are written to a file as they arrive (spooled_body()),
// and respond_file() sends a file range chunk by chunk.
//
// What one client can hold is bounded: connections at once (max_connections), the time to send
// a header (header_timeout_s), the time to send a body (request_timeout_s), and an admission hook
// refuses a request from its header before any body byte is read. Malformed targets are answered
// 400 here, before any handler sees them.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace printrelay {

namespace http = boost::beast::http;
using HttpRequestMsg = http::request<http::string_body>;
using HttpResponseMsg = http::response<http::string_body>;
using HttpResponseHeader = http::response_header<>;

// A request body the server wrote to a file instead of memory (ServerOptions::large_body_*).
struct SpooledBody {
  std::string path;  // a temporary file in ServerOptions::large_body_dir
  std::uint64_t size_bytes = 0;
  std::string sha256_hex;  // of the bytes, computed while they were written
};

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

  // The body of a request to the large-body path, when it had one: the server wrote it to a
  // temporary file and request().body() is empty. The handler may rename the file away (into a
  // blob directory); whatever is still at `path` is removed after the handler returns.
  const std::optional<SpooledBody>& spooled_body() const { return spooled_; }

  // Sends a complete response. Call at most once, and not after open_stream().
  virtual boost::asio::awaitable<void> respond(HttpResponseMsg response) = 0;
  // Sends `header` (status and fields as given; Content-Length is set here) and then `length`
  // bytes of the open file `fd` from `offset`, read and written one bounded chunk at a time
  // (kFileChunkBytes), so a file of any size costs one chunk of memory. `on_written(n)` is called
  // after each chunk with the bytes the transport took. Returns the body bytes written: fewer
  // than `length` when the client left or the file could not be read, and then the connection is
  // closed (the promised length cannot be kept); otherwise keep-alive goes on as after respond().
  // A client that takes nothing for ServerOptions::file_stall_timeout_s is cut off.
  // `fd` must stay open until this completes. Call at most once, instead of respond().
  virtual boost::asio::awaitable<std::uint64_t> respond_file(
      HttpResponseHeader header, int fd, std::uint64_t offset, std::uint64_t length,
      std::function<void(std::uint64_t)> on_written = {}) = 0;
  static constexpr std::size_t kFileChunkBytes = 64 * 1024;
  // Starts a streamed response (chunked) with the given content type; returns false if the
  // client is gone. Then write() chunks; write() returns false once the client is gone.
  virtual boost::asio::awaitable<bool> open_stream(const std::string& content_type) = 0;
  virtual boost::asio::awaitable<bool> write(std::string chunk) = 0;

  void set_target(std::string path, std::map<std::string, std::string> query) {
    path_ = std::move(path);
    query_ = std::move(query);
  }
  void set_spooled_body(SpooledBody body) { spooled_ = std::move(body); }

 private:
  std::string path_;
  std::map<std::string, std::string> query_;
  std::optional<SpooledBody> spooled_;
};

using RequestHandler = std::function<boost::asio::awaitable<void>(Exchange&)>;

// Decides on a request from its header alone: called once the header is read, before any
// "100 Continue" and before any body byte is read or spooled. `path` is the decoded path (the
// target was valid), `has_body` whether a body follows (Content-Length > 0 or chunked), `remote`
// the client's address. Not called when nothing is left to save: a body outside the large-body
// path that arrived whole with its header (the handler judges that request as it would anyway,
// and a device poll does not pay for its credential check twice). A response returned is sent at
// once (Connection: close) and the connection is closed without reading the body; nullopt lets the
// request go on. Runs on the connection's thread: it must not block long.
using AdmissionHook = std::function<std::optional<HttpResponseMsg>(
    const http::request_header<>& header, const std::string& path, bool has_body,
    const std::string& remote)>;

struct ServerOptions {
  std::string listen_address = "127.0.0.1";
  unsigned short port = 8443;
  bool tls = true;
  std::string cert_file;  // PEM chain; required with tls
  std::string key_file;
  std::size_t body_limit_bytes = 1 << 20;
  // Requests whose target starts with this prefix (artifact uploads) may carry up to
  // large_body_limit_bytes. Such a body is not read into memory: it is written to a temporary
  // file ".tmp-upload-XXXXXX" in large_body_dir (required with the prefix) while it is hashed,
  // and the handler finds it in Exchange::spooled_body(). Reading it times out only when no
  // bytes arrive for request_timeout_s. A file that cannot be written is answered with 503.
  std::string large_body_path_prefix;
  std::size_t large_body_limit_bytes = 0;
  std::string large_body_dir;
  // A keep-alive connection that sends no byte of a next request for this long is closed.
  int idle_timeout_s = 75;
  // Once a request's first byte has arrived (and for the first request of a connection, from the
  // moment it is accepted; with TLS also for the handshake), its whole header must arrive within
  // this: a client trickling a header (slowloris) is cut off after it.
  int header_timeout_s = 5;
  int request_timeout_s = 30;  // to read one (in-memory) body; a spooled body: per chunk
  // Connections open at once, over every acceptor of this server. One more is accepted and
  // closed at once (logged once until the count goes down again). 0: sized for the process's
  // file descriptor limit (connections_for_fd_limit).
  std::size_t max_connections = 0;
  AdmissionHook admit;  // none: every request is read
  // A file response (respond_file) the client takes no bytes of for this long is cut off; it
  // is checked once per period, so the cut comes after one to two periods.
  int file_stall_timeout_s = 30;
};

// Binds and accepts on `ioc`. Throws std::runtime_error at construction when the address cannot
// be bound, the certificate cannot be loaded or a large-body prefix has no directory (a startup
// error).
class HttpServer {
 public:
  // Serves on one io_context that any number of threads may run (connections use strands).
  HttpServer(boost::asio::io_context& ioc, ServerOptions options, RequestHandler handler);
  // Serves on several io_contexts, one acceptor each on the same port (SO_REUSEPORT). Each
  // context must be run by exactly one thread: connections then need no strands.
  HttpServer(std::vector<boost::asio::io_context*> contexts, ServerOptions options,
             RequestHandler handler);
  ~HttpServer();
  unsigned short port() const;          // the bound port (useful with port 0)
  std::size_t max_connections() const;  // the limit in force (ServerOptions::max_connections)
  void start();
  void stop();

 private:
  HttpServer(std::vector<boost::asio::io_context*> contexts, bool strands, ServerOptions options,
             RequestHandler handler);
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// A request target split into its decoded path and query.
struct RequestTarget {
  std::string path;
  std::map<std::string, std::string> query;
};
constexpr std::size_t kMaxTargetBytes = 8192;
// Splits "/a/b?x=1&y=%20" into path and decoded query ('+' is a space in the query). A malformed
// target is a kBadInput error: longer than kMaxTargetBytes, a '%' not followed by two hex digits,
// or a path, key or value that is not valid UTF-8 or holds a NUL byte once decoded.
Result<RequestTarget> parse_target(std::string_view target);

// The connections a process may hold open with `fd_limit` file descriptors (RLIMIT_NOFILE):
// the limit less a reserve for the store, artifacts, logs and spooled uploads (a tenth, at least
// 32), and never below 16.
std::size_t connections_for_fd_limit(std::uint64_t fd_limit);

}  // namespace printrelay
