#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "net/http_client.h"
#include "net/http_server.h"
#include "net/tls.h"

namespace printrelay {
namespace {

TEST(SplitTarget, DecodesPathAndQuery) {
  std::string path;
  std::map<std::string, std::string> q;
  split_target("/v1/jobs?serial=S%201&all=1&x", path, q);
  EXPECT_EQ(path, "/v1/jobs");
  EXPECT_EQ(q["serial"], "S 1");
  EXPECT_EQ(q["all"], "1");
  EXPECT_EQ(q.count("x"), 1u);
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
