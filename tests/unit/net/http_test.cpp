#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/beast/core.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/codec.h"
#include "core/json_text.h"
#include "core/sha256.h"
#include "net/http_client.h"
#include "net/http_errors.h"
#include "net/http_server.h"
#include "net/tls.h"

namespace printrelay {
namespace {

TEST(ParseTarget, DecodesPathAndQuery) {
  auto t = parse_target("/v1/jobs?serial=S%201&all=1&x&name=a+b");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->path, "/v1/jobs");
  EXPECT_EQ(t->query["serial"], "S 1");
  EXPECT_EQ(t->query["all"], "1");
  EXPECT_EQ(t->query.count("x"), 1u);
  EXPECT_EQ(t->query["name"], "a b");
}

TEST(ParseTarget, PlusIsLiteralInThePath) {
  auto t = parse_target("/v1/devices/A+B");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/v1/devices/A+B");
}

TEST(ParseTarget, RefusesMalformedTargets) {
  for (const char* bad : {"/v1/%FF%FE", "/v1/%zz", "/v1/abc%4", "/v1/a%00b", "/v1/x?k=%C0%AF",
                          "/v1/%ED%A0%80", "/v1/x?%F8=1"}) {
    auto t = parse_target(bad);
    ASSERT_FALSE(t) << bad;
    EXPECT_EQ(t.error().kind, ErrorKind::kBadInput) << bad;
  }
  EXPECT_FALSE(parse_target("/" + std::string(kMaxTargetBytes, 'a')));
  EXPECT_TRUE(parse_target("/v1/caf%C3%A9"));
}

// Every error the relay or its server answers has the status of its kind and the one body shape
// {"error": {"code", "message"}} that clients (relayctl, the dashboard, agents) read.
TEST(HttpErrors, EachKindHasItsStatusAndOneBodyShape) {
  const std::vector<std::pair<ErrorKind, int>> kinds{
      {ErrorKind::kBadInput, 400},    {ErrorKind::kUnauthorized, 401}, {ErrorKind::kForbidden, 403},
      {ErrorKind::kNotFound, 404},    {ErrorKind::kConflict, 409},     {ErrorKind::kTooLarge, 413},
      {ErrorKind::kRateLimited, 429}, {ErrorKind::kUnavailable, 503}};
  for (const auto& [kind, status] : kinds) {
    EXPECT_EQ(http_status(kind), status);
    auto body = parse_json(error_body(Error{kind, "what went wrong"}));
    ASSERT_TRUE(body.ok());
    EXPECT_EQ((*body)["error"]["code"], error_code(kind));
    EXPECT_EQ((*body)["error"]["message"], "what went wrong");
  }
  auto internal = parse_json(internal_error_body());
  ASSERT_TRUE(internal.ok());
  EXPECT_EQ((*internal)["error"]["code"], "internal");
}

TEST(ConnectionsForFdLimit, KeepsAReserve) {
  EXPECT_EQ(connections_for_fd_limit(20000), 18000u);
  EXPECT_EQ(connections_for_fd_limit(100), 68u);
  EXPECT_EQ(connections_for_fd_limit(10), 16u);
}

// A real TLS server and the libcurl client talking over loopback with the quick-start PKI.
TEST(HttpServer, ServesTlsWithQuickstartCertificates) {
  auto dir = std::filesystem::temp_directory_path() / ("http_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  write_quickstart_pki(dir.string(), {"localhost", "127.0.0.1"});
  boost::asio::io_context ioc;
  ServerOptions o;
  o.port = 0;
  o.cert_file = (dir / "server.pem").string();
  o.key_file = (dir / "server.key").string();
  o.body_limit_bytes = 1024;
  HttpServer server(ioc, o, [](Exchange& ex) -> boost::asio::awaitable<void> {
    HttpResponseMsg res{http::status::ok, ex.request().version()};
    res.body() = ex.path() + "|" + ex.query_value("a") + "|" + ex.request().body();
    co_await ex.respond(std::move(res));
  });
  server.start();
  std::thread t([&] { ioc.run(); });

  ClientOptions co;
  co.ca_file = (dir / "ca.pem").string();
  HttpClient client(co);
  std::string base = "https://localhost:" + std::to_string(server.port());
  auto r = client.send({"POST", base + "/x?a=1", "hello", {}, 5000});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "/x|1|hello");
  // Keep-alive: a second request on the same client.
  auto r2 = client.send({"GET", base + "/y", "", {}, 5000});
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->body, "/y||");
  // Over the body limit: 413 and nothing reaches the handler.
  auto big = client.send({"POST", base + "/z", std::string(4096, 'x'), {}, 5000});
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_EQ(big->status, 413);

  // A client that does not trust the CA is refused.
  HttpClient untrusting(ClientOptions{});
  auto bad = untrusting.send({"GET", base + "/y", "", {}, 5000});
  EXPECT_FALSE(bad.ok());

  server.stop();
  ioc.stop();
  t.join();
  std::filesystem::remove_all(dir);
}

TEST(Tokens, AreRandomAndPrefixed) {
  auto a = random_token("dt_");
  auto b = random_token("dt_");
  EXPECT_EQ(a.size(), 3u + 64u);
  EXPECT_EQ(a.substr(0, 3), "dt_");
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace printrelay

namespace printrelay {
namespace {

// A relay that accepts the connection but never answers: the abort flag ends the wait.
TEST(HttpClient, AbortFlagEndsARequestInFlight) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor silent(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  std::atomic<bool> stop{false};
  ClientOptions o;
  o.abort = &stop;
  HttpClient client(o);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
  });
  auto r = client.send({"GET",
                        "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/",
                        "",
                        {},
                        60000});
  stopper.join();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("aborted"), std::string::npos) << r.error().message;
  // Once stopping, new requests are refused without touching the network.
  auto again = client.send({"GET", "http://127.0.0.1:1/", "", {}, 1000});
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("stopping"), std::string::npos);
}

}  // namespace
}  // namespace printrelay

namespace printrelay {
namespace {

// Two relays' quick-start CAs in one bundle: the client must still verify each server.
TEST(QuickstartPki, TwoCasShareOneTrustBundle) {
  auto base = std::filesystem::temp_directory_path() / ("pki_test_" + std::to_string(::getpid()));
  std::vector<std::unique_ptr<boost::asio::io_context>> iocs;
  std::vector<std::unique_ptr<HttpServer>> servers;
  std::vector<std::thread> threads;
  std::string bundle;
  for (const char* name : {"a", "b"}) {
    auto dir = base / name;
    std::filesystem::create_directories(dir);
    write_quickstart_pki(dir.string(), {"localhost"});
    std::ifstream ca(dir / "ca.pem");
    // Newest first: with identical CA names this order made both servers fail to verify.
    bundle.insert(0, std::string(std::istreambuf_iterator<char>(ca), {}));
    iocs.push_back(std::make_unique<boost::asio::io_context>());
    ServerOptions o;
    o.port = 0;
    o.cert_file = (dir / "server.pem").string();
    o.key_file = (dir / "server.key").string();
    servers.push_back(std::make_unique<HttpServer>(
        *iocs.back(), o, [](Exchange& ex) -> boost::asio::awaitable<void> {
          HttpResponseMsg res{http::status::ok, ex.request().version()};
          co_await ex.respond(std::move(res));
        }));
    servers.back()->start();
  }
  for (auto& io : iocs) threads.emplace_back([&io] { io->run(); });
  std::ofstream(base / "bundle.pem") << bundle;
  ClientOptions co;
  co.ca_file = (base / "bundle.pem").string();
  for (auto& s : servers) {
    HttpClient client(co);
    auto r =
        client.send({"GET", "https://localhost:" + std::to_string(s->port()) + "/", "", {}, 5000});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
  }
  for (auto& s : servers) s->stop();
  for (auto& io : iocs) io->stop();
  for (auto& t : threads) t.join();
  std::filesystem::remove_all(base);
}

}  // namespace
}  // namespace printrelay

namespace printrelay {
namespace {

namespace beast = boost::beast;
namespace fs = std::filesystem;

constexpr std::uint64_t kBigFile = 256 << 20;  // sparse: more than any socket buffers hold

// A plain-HTTP server whose large-body path spools uploads into a directory, and a handler that
// reports what it saw: the spooled file, or a file range sent with respond_file().
class LargeBodyServer {
 public:
  LargeBodyServer() {
    dir_ = fs::temp_directory_path() / ("http_spool_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "spool");
    ServerOptions o;
    o.tls = false;
    o.port = 0;
    o.body_limit_bytes = 1024;
    o.large_body_path_prefix = "/big/";
    o.large_body_limit_bytes = 4 << 20;
    o.large_body_dir = (dir_ / "spool").string();
    o.file_stall_timeout_s = 1;
    file_ = std::string(1 << 20, '\0');
    for (std::size_t i = 0; i < file_.size(); ++i) file_[i] = char('a' + (i * 31 + i / 977) % 26);
    std::ofstream((dir_ / "served").string(), std::ios::binary) << file_;
    { std::ofstream create((dir_ / "big").string()); }
    fs::resize_file(dir_ / "big", kBigFile);
    server_ =
        std::make_unique<HttpServer>(ioc_, o, [this](Exchange& ex) -> boost::asio::awaitable<void> {
          if (ex.path() != "/file") {
            co_await ex.respond(describe(ex));
            co_return;
          }
          const auto name = ex.query_value("big") == "1" ? "big" : "served";
          const int fd = ::open((dir_ / name).c_str(), O_RDONLY | O_CLOEXEC);
          HttpResponseHeader header;
          header.result(http::status::ok);
          header.set(http::field::content_type, "application/octet-stream");
          co_await ex.respond_file(std::move(header), fd, std::stoull(ex.query_value("offset")),
                                   std::stoull(ex.query_value("length")),
                                   [this](std::uint64_t n) { written_ += n; });
          ::close(fd);
        });
    server_->start();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~LargeBodyServer() {
    server_->stop();
    ioc_.stop();
    thread_.join();
    fs::remove_all(dir_);
  }
  unsigned short port() const { return server_->port(); }
  const std::string& file() const { return file_; }
  std::vector<std::string> spooled_files() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_ / "spool"))
      names.push_back(e.path().filename());
    return names;
  }
  // The spool directory once it lists `want`, or as it is after 10 s. The server removes a
  // spooled body after the response is written, so the client may read the answer first.
  std::vector<std::string> spool_once(const std::vector<std::string>& want) const {
    auto names = spooled_files();
    for (int i = 0; i < 2000 && names != want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      names = spooled_files();
    }
    return names;
  }
  std::uint64_t written() const { return written_; }

 private:
  // What the handler saw of a request's body.
  HttpResponseMsg describe(const Exchange& ex) {
    HttpResponseMsg res{http::status::ok, ex.request().version()};
    const auto& sp = ex.spooled_body();
    if (!sp) {
      res.body() = "in memory|" + ex.request().body();
      return res;
    }
    std::ifstream in(sp->path, std::ios::binary);
    std::string on_disk((std::istreambuf_iterator<char>(in)), {});
    const bool same = on_disk.size() == sp->size_bytes && sha256_hex(on_disk) == sp->sha256_hex;
    res.body() = fs::path(sp->path).parent_path().filename().string() + "|" +
                 std::to_string(sp->size_bytes) + "|" + sp->sha256_hex + "|" +
                 (same ? "same" : "differs") + "|" + std::to_string(ex.request().body().size());
    if (ex.query_value("keep") == "1") fs::rename(sp->path, dir_ / "spool" / "kept");
    return res;
  }

  boost::asio::io_context ioc_;
  fs::path dir_;
  std::string file_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::atomic<std::uint64_t> written_{0};
};

// Uploads under the large-body prefix go to a file, hashed on the way, and the file is gone
// once the handler is done with it; other paths and the limits behave as before.
TEST(HttpServer, SpoolsLargeBodiesToAFile) {
  LargeBodyServer server;
  HttpClient client(ClientOptions{});
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  std::string body(3 << 20, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = char(i * 7 + i / 1000);

  auto r = client.send({"PUT", base + "/big/a", body, {}, 10000});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "spool|" + std::to_string(body.size()) + "|" + sha256_hex(body) + "|same|0");
  EXPECT_TRUE(server.spool_once({}).empty()) << "the spooled body outlived its request";

  // A handler that moves the file away keeps it.
  r = client.send({"PUT", base + "/big/b?keep=1", "small", {}, 10000});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "spool|5|" + sha256_hex("small") + "|same|0");
  EXPECT_EQ(server.spool_once({"kept"}), std::vector<std::string>{"kept"});

  // No body: nothing spooled. Other paths: in memory, with the normal limit.
  r = client.send({"PUT", base + "/big/c", "", {}, 10000});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "in memory|");
  r = client.send({"POST", base + "/small", "hello", {}, 10000});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "in memory|hello");
  r = client.send({"POST", base + "/small", std::string(2048, 'x'), {}, 10000});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 413);
  // Over the large limit: 413 from the header, before any byte of the body is sent or stored.
  // The client waits for "100 Continue" as long as it takes (curl waits one second and then
  // sends the body anyway, which on a loaded machine met the server's close: "Failed sending
  // data to the peer").
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(
      boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()));
  http::request<http::empty_body> put{http::verb::put, "/big/d", 11};
  put.set(http::field::host, "localhost");
  put.set(http::field::expect, "100-continue");
  put.content_length(std::uint64_t(5) << 20);
  http::request_serializer<http::empty_body> header(put);
  http::write_header(stream, header);
  beast::flat_buffer buffer;
  http::response<http::string_body> refused;
  http::read(stream, buffer, refused);
  EXPECT_EQ(refused.result(), http::status::payload_too_large);
  EXPECT_EQ(server.spool_once({"kept"}), std::vector<std::string>{"kept"});
}

// One keep-alive connection: a client that sends the whole body at once after
// "Expect: 100-continue" gets the interim answer, then file ranges of several sizes, then a
// normal request on the same connection.
TEST(HttpServer, SendsFileRangesAndKeepsTheConnection) {
  LargeBodyServer server;
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(
      boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()));
  beast::flat_buffer buffer;

  http::request<http::string_body> put{http::verb::put, "/big/x", 11};
  put.set(http::field::host, "localhost");
  put.set(http::field::expect, "100-continue");
  put.body() = std::string(100000, 'u');
  put.prepare_payload();
  http::write(stream, put);
  http::response<http::string_body> interim;
  http::read(stream, buffer, interim);
  EXPECT_EQ(interim.result(), http::status::continue_);
  http::response<http::string_body> stored;
  http::read(stream, buffer, stored);
  EXPECT_EQ(stored.body(), "spool|100000|" + sha256_hex(std::string(100000, 'u')) + "|same|0");

  const std::uint64_t size = server.file().size();
  std::uint64_t expected_written = 0;
  for (auto [offset, length] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {0, size}, {1000, 10}, {size - 300000, 300000}, {12345, 0}, {7, 2 * 256 * 1024}}) {
    http::request<http::empty_body> get{
        http::verb::get,
        "/file?offset=" + std::to_string(offset) + "&length=" + std::to_string(length), 11};
    get.set(http::field::host, "localhost");
    http::write(stream, get);
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 << 20);
    http::read(stream, buffer, parser);
    auto res = parser.release();
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res[http::field::content_length], std::to_string(length));
    EXPECT_EQ(res[http::field::content_type], "application/octet-stream");
    EXPECT_TRUE(res.keep_alive());
    EXPECT_TRUE(res.body() == server.file().substr(offset, length))
        << "range " << offset << "+" << length;
    expected_written += length;
  }
  EXPECT_EQ(server.written(), expected_written);

  http::request<http::string_body> post{http::verb::post, "/small", 11};
  post.set(http::field::host, "localhost");
  post.body() = "still here";
  post.prepare_payload();
  http::write(stream, post);
  http::response<http::string_body> last;
  http::read(stream, buffer, last);
  EXPECT_EQ(last.body(), "in memory|still here");
}

// A client that leaves during a large file response: the server writes what it can, counts it,
// and keeps serving others.
TEST(HttpServer, FileResponseToAClientThatLeaves) {
  LargeBodyServer server;
  {
    boost::asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()));
    http::request<http::empty_body> get{http::verb::get, "/file?offset=0&length=1048576", 11};
    get.set(http::field::host, "localhost");
    http::write(stream, get);
    char first[1000];
    boost::asio::read(stream, boost::asio::buffer(first));
    stream.socket().set_option(boost::asio::socket_base::linger(true, 0));  // reset on close
  }
  HttpClient client(ClientOptions{});
  auto r =
      client.send({"GET",
                   "http://127.0.0.1:" + std::to_string(server.port()) + "/file?offset=0&length=10",
                   "",
                   {},
                   5000});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, server.file().substr(0, 10));
  // The first response ends (and is counted) when its write fails, whenever that is noticed.
  for (int i = 0; i < 500 && server.written() < 1000u + 10u; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(server.written(), 1000u + 10u);
  EXPECT_LE(server.written(), 1048576u + 10u);
}

// A client that stops reading in the middle of a file response is cut off after the stall
// timeout (1 s here), and the server goes on serving others meanwhile.
TEST(HttpServer, FileResponseToAStalledClientIsCutOff) {
  LargeBodyServer server;
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(
      boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()));
  http::request<http::empty_body> get{
      http::verb::get, "/file?big=1&offset=0&length=" + std::to_string(kBigFile), 11};
  get.set(http::field::host, "localhost");
  http::write(stream, get);
  // Not reading: the socket buffers fill up and the server's write waits.
  HttpClient client(ClientOptions{});
  auto r =
      client.send({"GET",
                   "http://127.0.0.1:" + std::to_string(server.port()) + "/file?offset=5&length=3",
                   "",
                   {},
                   5000});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, server.file().substr(5, 3));
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  // Now the client reads what was sent before the cut, and then finds the connection closed.
  std::uint64_t got = 0;
  std::vector<char> buf(1 << 20);
  beast::error_code ec;
  while (!ec) got += stream.socket().read_some(boost::asio::buffer(buf), ec);
  EXPECT_TRUE(ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset)
      << ec.message();
  EXPECT_LT(got, kBigFile);
  EXPECT_LT(server.written(), kBigFile);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace printrelay
