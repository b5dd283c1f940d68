#include "net/http_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/sha256.h"
#include "net/http_errors.h"
#include "net/tls.h"

namespace printrelay {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
// Completion token that reports errors in `ec` instead of throwing.
inline auto no_throw(beast::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes, and '+' as a space where `plus_is_space` (a query); nullopt when a '%'
// is not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) {
        return std::nullopt;
      }
      out += char(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF) without NUL: what
// a path or query may hold once decoded. Handlers put paths into JSON error messages, and the
// JSON writer throws on invalid UTF-8.
bool clean_text(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // cut short
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// Decodes one part of a target; nullopt when it is malformed (see parse_target).
std::optional<std::string> decode_part(std::string_view s, bool plus_is_space) {
  auto out = percent_decode(s, plus_is_space);
  if (!out || !clean_text(*out)) return std::nullopt;
  return out;
}

// Writes all of `bytes` to `fd`; false, with errno set, on failure.
bool write_all(int fd, const char* bytes, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, bytes, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    bytes += w;
    n -= std::size_t(w);
  }
  return true;
}

// A request body being written to disk. The file is removed when this goes out of scope, unless
// the handler moved it away first (then the name is no longer this file's, and may already name
// another upload's: only the same inode is removed).
class SpoolFile {
 public:
  SpoolFile() = default;
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;
  ~SpoolFile() {
    if (fd_ < 0) return;
    struct stat mine {};
    struct stat there {};
    if (::fstat(fd_, &mine) == 0 && ::stat(path_.c_str(), &there) == 0 &&
        mine.st_dev == there.st_dev && mine.st_ino == there.st_ino) {
      ::unlink(path_.c_str());
    }
    ::close(fd_);
  }
  // Creates dir/.tmp-upload-XXXXXX; false on failure (then error() says why).
  bool create(const std::string& dir) {
    path_ = dir + "/.tmp-upload-XXXXXX";
    fd_ = ::mkostemp(path_.data(), O_CLOEXEC);
    if (fd_ < 0)
      error_ = std::string("cannot create a file in ") + dir + ": " + std::strerror(errno);
    return fd_ >= 0;
  }
  bool append(std::string_view bytes) {
    hasher_.update(bytes);
    if (write_all(fd_, bytes.data(), bytes.size())) return true;
    error_ = "cannot write " + path_ + ": " + std::strerror(errno);
    return false;
  }
  const std::string& error() const { return error_; }
  SpooledBody finish() { return SpooledBody{path_, hasher_.size_bytes(), hasher_.hex_digest()}; }

 private:
  std::string path_;
  int fd_ = -1;
  Sha256Hasher hasher_;
  std::string error_;
};

// Holds back partial TCP segments while a file response is written (TLS records, the header):
// the kernel sends full segments, and whatever is left when this goes out of scope.
class TcpCork {
 public:
  explicit TcpCork(int fd) : fd_(fd) { set(1); }
  ~TcpCork() { set(0); }
  TcpCork(const TcpCork&) = delete;
  TcpCork& operator=(const TcpCork&) = delete;

 private:
  void set(int on) { ::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &on, sizeof on); }
  int fd_;
};

// How far a file response has got, shared with its watchdog timer.
struct FileProgress {
  std::uint64_t sent = 0;
  std::uint64_t seen = 0;  // `sent` at the watchdog's previous look
  bool done = false;       // the response ended; the stream may be gone
};
// Every `period`, checks that the response moved; if not (the client takes nothing),
// cancels the stream's operations, so the pending write fails and the connection is closed.
// Handlers run on the connection's executor, like the response itself.
void watch(asio::steady_timer& timer, std::chrono::seconds period,
           std::shared_ptr<FileProgress> progress, beast::tcp_stream& lowest) {
  timer.expires_after(period);
  timer.async_wait([&timer, period, progress, &lowest](beast::error_code ec) {
    if (ec || progress->done) return;
    if (progress->sent == progress->seen) {
      lowest.cancel();
      return;
    }
    progress->seen = progress->sent;
    watch(timer, period, progress, lowest);
  });
}

// One connection's place in the count of open connections (ServerOptions::max_connections),
// given back however the connection ends, also when its coroutine is destroyed with its
// io_context. It holds the count, not the server: a connection may outlive the server at exit.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(std::shared_ptr<std::atomic<std::size_t>> open)
      : open_(std::move(open)) {}
  ConnectionSlot(ConnectionSlot&& other) noexcept : open_(std::move(other.open_)) {}
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot() {
    if (open_) open_->fetch_sub(1);
  }

 private:
  std::shared_ptr<std::atomic<std::size_t>> open_;
};

// The bytes of a response with a Content-Length (after prepare_payload()), as Beast's serializer
// would write them: status line, the fields in their order, the body.
std::string serialize_response(const HttpResponseMsg& res) {
  const std::string_view reason =
      res.reason().empty() ? http::obsolete_reason(res.result()) : res.reason();
  std::size_t size = 32 + reason.size() + res.body().size();
  for (const auto& f : res) size += f.name_string().size() + f.value().size() + 4;
  std::string wire;
  wire.reserve(size);
  wire += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  wire += std::to_string(res.result_int());
  wire += ' ';
  wire += reason;
  wire += "\r\n";
  for (const auto& f : res) {
    wire += f.name_string();
    wire += ": ";
    wire += f.value();
    wire += "\r\n";
  }
  wire += "\r\n";
  wire += res.body();
  return wire;
}

bool expects_continue(const http::request_header<>& h) {
  auto it = h.find(http::field::expect);
  return h.version() == 11 && it != h.end() && beast::iequals(it->value(), "100-continue");
}

}  // namespace

Result<RequestTarget> parse_target(std::string_view target) {
  // The messages quote nothing of the target: it is not known to be printable.
  if (target.size() > kMaxTargetBytes) {
    return bad_input("the request target is longer than " + std::to_string(kMaxTargetBytes) +
                     " bytes");
  }
  constexpr const char* kMalformed =
      "malformed request target: bad percent-encoding, a NUL byte or invalid UTF-8";
  RequestTarget out;
  auto q = target.find('?');
  auto path = decode_part(target.substr(0, q), false);
  if (!path) return bad_input(kMalformed);
  out.path = std::move(*path);
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (!pair.empty()) {
      auto key = decode_part(pair.substr(0, eq), true);
      auto value = eq == std::string_view::npos ? std::optional<std::string>("")
                                                : decode_part(pair.substr(eq + 1), true);
      if (!key || !value) return bad_input(kMalformed);
      out.query[std::move(*key)] = std::move(*value);
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return out;
}

std::size_t connections_for_fd_limit(std::uint64_t fd_limit) {
  const std::uint64_t reserve = std::max<std::uint64_t>(32, fd_limit / 10);
  return std::size_t(std::max<std::uint64_t>(16, fd_limit > reserve ? fd_limit - reserve : 0));
}

std::string Exchange::query_value(const std::string& key, const std::string& fallback) const {
  auto it = query_.find(key);
  return it == query_.end() ? fallback : it->second;
}

// The connection-specific half of an Exchange, for plain TCP or TLS streams.
template <typename Stream>
class StreamExchange final : public Exchange {
 public:
  StreamExchange(Stream& stream, HttpRequestMsg& req, const std::string& remote,
                 int file_stall_timeout_s)
      : stream_(stream), req_(req), remote_(remote), file_stall_timeout_s_(file_stall_timeout_s) {}

  const HttpRequestMsg& request() const override { return req_; }
  const std::string& remote_address() const override { return remote_; }

  asio::awaitable<void> respond(HttpResponseMsg response) override {
    responded_ = true;
    response.version(req_.version());
    response.keep_alive(req_.keep_alive() && keep_alive_);
    response.prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
    beast::error_code ec;
    if (response.chunked()) {
      co_await http::async_write(stream_, response, no_throw(ec));
    } else {
      // One buffer, one write: Beast's serializer walks a view of many small buffers, a good
      // part of what an idle poll costs.
      const std::string wire = serialize_response(response);
      co_await asio::async_write(stream_, asio::buffer(wire), no_throw(ec));
    }
    if (ec) failed_ = true;
    close_after_ = !response.keep_alive();
  }

  asio::awaitable<std::uint64_t> respond_file(
      HttpResponseHeader header, int fd, std::uint64_t offset, std::uint64_t length,
      std::function<void(std::uint64_t)> on_written) override {
    responded_ = true;
    http::response<http::empty_body> res{std::move(header)};
    res.version(req_.version());
    res.keep_alive(req_.keep_alive() && keep_alive_);
    res.content_length(length);
    close_after_ = !res.keep_alive();
    http::response_serializer<http::empty_body> sr{res};
    auto& lowest = beast::get_lowest_layer(stream_);
    TcpCork cork(lowest.socket().native_handle());
    lowest.expires_after(std::chrono::seconds(30));
    beast::error_code ec;
    co_await http::async_write_header(stream_, sr, no_throw(ec));
    if (ec) {
      failed_ = true;
      co_return 0;
    }
    // The header went out with Content-Length; from here the body is raw bytes on the stream.
    // The stream's own timeout would arm and cancel a timer around every write (every TLS
    // record: a syscall and a handler each); one watchdog per response checks progress instead.
    lowest.expires_never();
    auto progress = std::make_shared<FileProgress>();
    asio::steady_timer watchdog(co_await asio::this_coro::executor);
    watch(watchdog, std::chrono::seconds(file_stall_timeout_s_), progress, lowest);
    std::vector<char> chunk(std::size_t(std::min<std::uint64_t>(kFileChunkBytes, length)));
    while (progress->sent < length) {
      const std::uint64_t at = offset + progress->sent;
      const auto want = std::size_t(std::min<std::uint64_t>(chunk.size(), length - progress->sent));
      ssize_t n = ::pread(fd, chunk.data(), want, off_t(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        std::cerr << "relayd: file response: cannot read at offset " << at << ": "
                  << (n < 0 ? std::strerror(errno) : "the file is shorter than announced")
                  << "; closing the connection\n";
        failed_ = true;
        break;
      }
      const std::size_t wrote = co_await asio::async_write(
          stream_, asio::buffer(chunk.data(), std::size_t(n)), no_throw(ec));
      progress->sent += wrote;
      if (on_written && wrote > 0) on_written(wrote);
      if (ec) {
        failed_ = true;
        break;
      }
    }
    progress->done = true;  // before the timer goes: a handler already queued must not act
    co_return progress->sent;
  }

  asio::awaitable<bool> open_stream(const std::string& content_type) override {
    responded_ = true;
    streaming_ = true;
    close_after_ = true;
    http::response<http::empty_body> res{http::status::ok, req_.version()};
    res.set(http::field::content_type, content_type);
    res.set(http::field::cache_control, "no-cache");
    res.chunked(true);
    serializer_.emplace(res);
    beast::get_lowest_layer(stream_).expires_never();
    beast::error_code ec;
    co_await http::async_write_header(stream_, *serializer_, no_throw(ec));
    if (ec) failed_ = true;
    co_return !ec;
  }

  asio::awaitable<bool> write(std::string chunk) override {
    if (failed_ || !streaming_) co_return false;
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
    beast::error_code ec;
    co_await asio::async_write(stream_, http::make_chunk(asio::buffer(chunk)), no_throw(ec));
    beast::get_lowest_layer(stream_).expires_never();
    if (ec) failed_ = true;
    co_return !ec;
  }

  void set_keep_alive(bool k) { keep_alive_ = k; }
  bool responded() const { return responded_; }
  bool close_after() const { return close_after_ || failed_; }

 private:
  Stream& stream_;
  HttpRequestMsg& req_;
  const std::string& remote_;
  int file_stall_timeout_s_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  bool responded_ = false;
  bool streaming_ = false;
  bool failed_ = false;
  bool close_after_ = false;
  bool keep_alive_ = true;
};

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  std::vector<asio::io_context*> contexts;
  bool use_strands;  // false when each context is run by exactly one thread
  ServerOptions options;
  RequestHandler handler;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::optional<asio::ssl::context> ssl;
  std::atomic<bool> stopped{false};
  std::size_t max_connections = 0;  // resolved from options (0: from the fd limit)
  std::shared_ptr<std::atomic<std::size_t>> open_connections =
      std::make_shared<std::atomic<std::size_t>>(0);
  // Each condition is logged once when it starts, not once per connection or per retry.
  std::atomic<bool> at_connection_limit{false};
  // Accept failures come in episodes: even while accepting, odd while accept() fails. Acceptors
  // run on several threads, so an accept that began before a failure can complete after it; only
  // one that began inside the episode may end it (else "again" would be logged, then the failure
  // a second time, though nothing changed).
  std::atomic<std::uint64_t> accept_episode{0};

  Impl(std::vector<asio::io_context*> ctxs, bool strands, ServerOptions opts, RequestHandler h)
      : contexts(std::move(ctxs)),
        use_strands(strands),
        options(std::move(opts)),
        handler(std::move(h)) {}

  // Sends `res` and ends the connection. The client may still be sending a body: read (and
  // drop) a bounded amount for a bounded time, since clients that send the whole body before
  // reading would otherwise see a reset instead of the answer.
  template <typename Stream>
  asio::awaitable<void> answer_and_close(Stream& stream, HttpResponseMsg res) {
    res.keep_alive(false);
    res.prepare_payload();
    beast::error_code wec;
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    co_await http::async_write(stream, res, no_throw(wec));
    std::size_t drained = 0;
    std::array<char, 16384> sink;
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    while (!wec && drained < 4 * options.body_limit_bytes) {
      drained += co_await stream.async_read_some(asio::buffer(sink), no_throw(wec));
    }
  }

  // Answers `e` (net/http_errors.h) and ends the connection as answer_and_close() does. (`e` by
  // reference to a named Error: GCC 12 destroys a by-value or temporary class argument of a
  // coroutine twice.)
  template <typename Stream>
  asio::awaitable<void> refuse_and_close(Stream& stream, const Error& e) {
    HttpResponseMsg res{static_cast<http::status>(http_status(e.kind)), 11};
    res.set(http::field::content_type, "application/json");
    res.body() = error_body(e);
    co_await answer_and_close(stream, std::move(res));
  }

  // Reads the rest of a request body (the header is in `header_parser`) into `spool`, chunk by
  // chunk, hashing as it goes. Sets `ec` on a read error (http::error::body_limit past `limit`);
  // returns false when the file cannot be written (spool.error() says why).
  template <typename Stream>
  asio::awaitable<bool> spool_body(Stream& stream, beast::flat_buffer& buffer,
                                   http::request_parser<http::string_body>& header_parser,
                                   std::size_t limit, HttpRequestMsg& req, SpoolFile& spool,
                                   beast::error_code& ec) {
    // A parser that has read only the header may change its body type (Beast: "Change Body
    // Type"); buffer_body hands the body over one caller-owned chunk at a time.
    http::request_parser<http::buffer_body> parser{std::move(header_parser)};
    parser.body_limit(limit);
    std::vector<char> chunk(64 * 1024);
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      // Per chunk: an upload of any size is fine as long as it keeps moving.
      beast::get_lowest_layer(stream).expires_after(
          std::chrono::seconds(options.request_timeout_s));
      co_await http::async_read(stream, buffer, parser, no_throw(ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return true;
      const std::size_t n = chunk.size() - parser.get().body().size;
      if (!spool.append(std::string_view(chunk.data(), n))) co_return false;
    }
    req = HttpRequestMsg(std::move(parser.release().base()));
    co_return true;
  }

  template <typename Stream>
  asio::awaitable<void> serve(Stream& stream, std::string remote) {
    static constexpr std::size_t kHeaderLimit = 16 * 1024;
    beast::flat_buffer buffer;
    auto& lowest = beast::get_lowest_layer(stream);
    for (bool first = true;; first = false) {
      beast::error_code ec;
      // Between requests a keep-alive connection may idle for idle_timeout_s; the header
      // deadline starts with a request's first byte (the first request's: at the accept).
      if (!first && buffer.size() == 0) {
        lowest.expires_after(std::chrono::seconds(options.idle_timeout_s));
        const std::size_t n =
            co_await stream.async_read_some(buffer.prepare(kHeaderLimit), no_throw(ec));
        buffer.commit(n);
        if (ec) co_return;  // closed or idle too long
      }
      http::request_parser<http::string_body> parser;
      // The parser checks Content-Length against its limit while reading the header, so it
      // starts with the larger limit; other paths are held to the normal one below.
      parser.body_limit(std::max(options.body_limit_bytes, options.large_body_limit_bytes));
      parser.header_limit(kHeaderLimit);
      // The header first: uploads to the large-body path get their own (larger) limit. It has
      // usually arrived whole with the bytes the idle wait read: parsed here, without an
      // asynchronous read that would complete at once.
      if (buffer.size() > 0) {
        buffer.consume(parser.put(buffer.data(), ec));
        if (ec == http::error::need_more) ec = {};
      }
      if (!ec && !parser.is_header_done()) {
        lowest.expires_after(std::chrono::seconds(options.header_timeout_s));
        co_await http::async_read_header(stream, buffer, parser, no_throw(ec));
      }
      RequestTarget target;
      if (!ec) {
        auto parsed = parse_target(parser.get().target());
        if (!parsed) {
          const Error& refusal = parsed.error();  // `parsed` lives in this frame until co_return
          co_await refuse_and_close(stream, refusal);
          co_return;
        }
        target = std::move(*parsed);
        // Before any "100 Continue" and any body byte: a request refused from its header costs
        // no disk and no body reading.
        const bool has_body = !parser.is_done();
        const bool body_in_buffer =
            has_body && parser.content_length() && buffer.size() >= *parser.content_length();
        const bool large_path = !options.large_body_path_prefix.empty() &&
                                parser.get().target().starts_with(options.large_body_path_prefix);
        if (options.admit && (large_path || (has_body && !body_in_buffer))) {
          if (auto refusal = options.admit(parser.get(), target.path, has_body, remote)) {
            co_await answer_and_close(stream, std::move(*refusal));
            co_return;
          }
        }
      }
      const bool large = !ec && !options.large_body_path_prefix.empty() &&
                         parser.get().target().starts_with(options.large_body_path_prefix);
      const std::size_t limit =
          large ? std::max(options.body_limit_bytes, options.large_body_limit_bytes)
                : options.body_limit_bytes;
      HttpRequestMsg req;
      SpoolFile spool;  // removes an upload's file after the handler, unless moved away
      bool spooled = false;
      if (!ec) {
        parser.body_limit(limit);  // counts chunked bodies from here
        if (parser.content_length() && *parser.content_length() > limit) {
          ec = http::error::body_limit;
        } else if (!parser.is_done() && expects_continue(parser.get())) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          co_await asio::async_write(stream, asio::buffer(kContinue), no_throw(ec));
        }
      }
      if (!ec && large && !parser.is_done()) {
        const std::string target(parser.get().target());  // the parser moves on in spool_body
        bool stored = spool.create(options.large_body_dir);
        if (stored) stored = co_await spool_body(stream, buffer, parser, limit, req, spool, ec);
        if (!stored) {
          std::cerr << "relayd: request body of " << target << ": " << spool.error() << "\n";
          const Error refusal = unavailable("the relay cannot store the body (see its log)");
          co_await refuse_and_close(stream, refusal);
          co_return;
        }
        spooled = !ec;
      } else if (!ec) {
        // A small body has usually come with its header: taken from the buffer the same way.
        if (!parser.is_done() && buffer.size() > 0) {
          parser.eager(true);
          buffer.consume(parser.put(buffer.data(), ec));
          if (ec == http::error::need_more) ec = {};
        }
        if (!ec && !parser.is_done()) {
          lowest.expires_after(std::chrono::seconds(options.request_timeout_s));
          co_await http::async_read(stream, buffer, parser, no_throw(ec));
        }
        if (!ec) req = parser.release();
      }
      if (ec == http::error::body_limit) {
        const Error refusal{ErrorKind::kTooLarge,
                            "body is larger than " + std::to_string(limit) + " bytes"};
        co_await refuse_and_close(stream, refusal);
        co_return;
      }
      if (ec) co_return;  // closed, timed out or malformed: nothing to answer
      StreamExchange<Stream> ex(stream, req, remote, options.file_stall_timeout_s);
      ex.set_target(std::move(target.path), std::move(target.query));
      if (spooled) ex.set_spooled_body(spool.finish());
      try {
        co_await handler(ex);
      } catch (const std::exception& e) {
        // A handler bug must not take the relay down; the client gets a 500 below.
        std::cerr << "relayd: handler failed on " << req.target() << ": " << e.what() << "\n";
      }
      if (!ex.responded()) {
        HttpResponseMsg res{http::status::internal_server_error, req.version()};
        res.set(http::field::content_type, "application/json");
        res.body() = internal_error_body();
        co_await ex.respond(std::move(res));
      }
      if (ex.close_after()) break;
    }
    beast::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  // `slot` is held in the coroutine frame: the connection counts until it ends.
  asio::awaitable<void> run_connection(tcp::socket socket, [[maybe_unused]] ConnectionSlot slot) {
    beast::error_code ec_ep;
    auto ep = socket.remote_endpoint(ec_ep);
    std::string remote = ec_ep ? "" : ep.address().to_string();
    socket.set_option(tcp::no_delay(true), ec_ep);
    if (!ssl) {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(stream, remote);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *ssl);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(options.header_timeout_s));
    beast::error_code ec;
    co_await stream.async_handshake(asio::ssl::stream_base::server, no_throw(ec));
    if (ec) co_return;
    co_await serve(stream, remote);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    beast::error_code sec;
    co_await stream.async_shutdown(no_throw(sec));
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, asio::io_context& ioc) {
    auto self = shared_from_this();
    asio::steady_timer backoff(ioc);
    while (!stopped) {
      beast::error_code ec;
      tcp::socket socket(ioc);
      const std::uint64_t episode_at_start = accept_episode.load();
      if (use_strands) {
        socket = co_await acceptor.async_accept(asio::make_strand(ioc), no_throw(ec));
      } else {
        socket = co_await acceptor.async_accept(ioc, no_throw(ec));
      }
      if (ec) {
        if (stopped || ec == asio::error::operation_aborted) co_return;
        // Out of file descriptors (EMFILE, ENFILE) or kernel memory: the connection stays in the
        // listen queue and the next accept would fail at once, a busy loop. Wait a little and
        // keep serving the connections we have; those that end free descriptors.
        std::uint64_t episode = accept_episode.load();
        if (episode % 2 == 0 && accept_episode.compare_exchange_strong(episode, episode + 1)) {
          // One write: the other acceptors' threads log too.
          std::cerr << "relayd: cannot accept connections on port " + std::to_string(options.port) +
                           ": " + ec.message() +
                           "; retrying every 100 ms (logged once until it works)\n"
                    << std::flush;
        }
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(no_throw(ec));
        continue;
      }
      std::uint64_t episode = episode_at_start;
      if (episode % 2 == 1 && accept_episode.compare_exchange_strong(episode, episode + 1)) {
        std::cerr << "relayd: accepting connections again\n" << std::flush;
      }
      const std::size_t open = open_connections->fetch_add(1);
      ConnectionSlot slot(open_connections);
      if (open >= max_connections) {
        // Closed at once: a refused client retries (devices back off), a stalled one would hold
        // its place in the listen queue and the others' behind it.
        if (!at_connection_limit.exchange(true)) {
          std::cerr << "relayd: " << max_connections
                    << " connections open, the limit (--max-connections): closing new ones at "
                       "once until fewer are open"
                    << std::endl;
        }
        beast::error_code ignored;
        socket.close(ignored);
        continue;
      }
      if (open < max_connections - max_connections / 10) at_connection_limit = false;
      auto exec = socket.get_executor();
      asio::co_spawn(exec, self->run_connection(std::move(socket), std::move(slot)),
                     asio::detached);
    }
  }
};

HttpServer::HttpServer(asio::io_context& ioc, ServerOptions options, RequestHandler handler)
    : HttpServer(std::vector<asio::io_context*>{&ioc}, true, std::move(options),
                 std::move(handler)) {}

HttpServer::HttpServer(std::vector<asio::io_context*> contexts, ServerOptions options,
                       RequestHandler handler)
    : HttpServer(std::move(contexts), false, std::move(options), std::move(handler)) {}

HttpServer::HttpServer(std::vector<asio::io_context*> contexts, bool strands, ServerOptions options,
                       RequestHandler handler)
    : impl_(std::make_shared<Impl>(std::move(contexts), strands, std::move(options),
                                   std::move(handler))) {
  auto& o = impl_->options;
  if (!o.large_body_path_prefix.empty() && o.large_body_dir.empty()) {
    throw std::runtime_error("server options: large_body_path_prefix " + o.large_body_path_prefix +
                             " needs a large_body_dir");
  }
  impl_->max_connections = o.max_connections;
  if (impl_->max_connections == 0) {
    rlimit fds{};
    const bool known = ::getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur != RLIM_INFINITY;
    impl_->max_connections = connections_for_fd_limit(known ? fds.rlim_cur : 1 << 20);
  }
  if (o.tls) {
    impl_->ssl.emplace(asio::ssl::context::tls_server);
    auto& ctx = *impl_->ssl;
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::single_dh_use);
    // Protocols, suites and their order: restrict_server_tls (net/tls.h).
    restrict_server_tls(ctx.native_handle());
    beast::error_code ec;
    ctx.use_certificate_chain_file(o.cert_file, ec);
    if (ec)
      throw std::runtime_error("cannot load TLS certificate " + o.cert_file + ": " + ec.message());
    ctx.use_private_key_file(o.key_file, asio::ssl::context::pem, ec);
    if (ec) throw std::runtime_error("cannot load TLS key " + o.key_file + ": " + ec.message());
  }
  beast::error_code ec;
  auto addr = asio::ip::make_address(o.listen_address, ec);
  if (ec) throw std::runtime_error("bad listen address '" + o.listen_address + "'");
  tcp::endpoint ep(addr, o.port);
  using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
  // One acceptor per context on the same port (SO_REUSEPORT): the kernel spreads connections
  // and each connection stays on one thread.
  for (auto* ctx : impl_->contexts) {
    auto acc = std::make_unique<tcp::acceptor>(*ctx);
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && impl_->contexts.size() > 1) acc->set_option(reuse_port(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw std::runtime_error("cannot listen on " + o.listen_address + ":" +
                               std::to_string(ep.port()) + ": " + ec.message());
    }
    ep.port(acc->local_endpoint().port());  // port 0: the others join the one chosen
    impl_->acceptors.push_back(std::move(acc));
  }
}

HttpServer::~HttpServer() = default;

unsigned short HttpServer::port() const {
  return impl_->acceptors.front()->local_endpoint().port();
}

std::size_t HttpServer::max_connections() const { return impl_->max_connections; }

void HttpServer::start() {
  for (std::size_t i = 0; i < impl_->acceptors.size(); ++i) {
    asio::co_spawn(*impl_->contexts[i],
                   impl_->accept_loop(*impl_->acceptors[i], *impl_->contexts[i]), asio::detached);
  }
}

void HttpServer::stop() {
  impl_->stopped = true;
  for (auto& acc : impl_->acceptors) {
    // Close on the acceptor's own thread: acceptors are not thread-safe.
    asio::post(acc->get_executor(), [a = acc.get()] {
      beast::error_code ec;
      a->close(ec);
    });
  }
}

}  // namespace printrelay
