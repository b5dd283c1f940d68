// A relay node as relayd runs it: started on a free loopback port, it serves; stopped, it closes
// what it holds and its listener, and run() returns; a start that cannot listen leaves nothing.
#include "relay/relay_node.h"
#include "clock/wall_clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "core/codec.h"
#include "must.h"
#include "net/http_client.h"
#include "relay/relay.h"
#include "store/sqlite/sqlite_store.h"

namespace fs = std::filesystem;

namespace printrelay {
namespace {

class RelayNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("relay_node_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = open_sqlite_store((dir_ / "relayd.db").string());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  RelayNodeOptions options() const {
    RelayNodeOptions o;
    o.data_dir = dir_.string();
    o.relay_id = "root-t";
    o.version = "9.9.9";
    o.build = "test";
    o.listen_host = "127.0.0.1";
    o.listen_port = 0;
    o.plain_http = true;
    o.threads = 2;
    o.stop_on_signals = false;
    return o;
  }

  static Result<HttpResponse> get(unsigned short port, const std::string& path,
                                  const std::string& token = "") {
    HttpClient client(ClientOptions{});
    HttpRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(port) + path;
    req.timeout_ms = 10000;
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    return client.send(req);
  }

  fs::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(RelayNodeTest, AStartedNodeServesItsApiUntilStopped) {
  RelayNode node(*store_, "sqlite", (dir_ / "relayd.db").string(), options());
  ASSERT_TRUE(node.start());
  ASSERT_NE(node.port(), 0);
  auto served = std::async(std::launch::async, [&node] { node.run(); });

  const auto health = must(get(node.port(), "/healthz"));
  EXPECT_EQ(health.status, 200);
  const Json body = Json::parse(health.body);
  EXPECT_EQ(body["version"], "9.9.9 (build test)");
  EXPECT_EQ(body["store"], "sqlite");
  EXPECT_NE(
      node.describe().find("root-t listening on http://127.0.0.1:" + std::to_string(node.port())),
      std::string::npos)
      << node.describe();

  const unsigned short port = node.port();
  node.stop();
  served.get();  // run() returned
  const auto after = get(port, "/healthz");
  ASSERT_FALSE(after) << "the listener still answers after the node stopped: " << after->status;
  EXPECT_EQ(after.error().kind, ErrorKind::kUnavailable);
}

TEST_F(RelayNodeTest, RunReturnsWhileAStreamIsHeldAndTheNodeClosesItWhenDestroyed) {
  auto node =
      std::make_unique<RelayNode>(*store_, "sqlite", (dir_ / "relayd.db").string(), options());
  const std::string admin =
      must(node->relay().create_admin_credential("ops", Role::kAdmin, wall_clock_ms()));
  ASSERT_TRUE(node->start());
  auto served = std::async(std::launch::async, [&node] { node->run(); });

  // The dashboard's live stream, held open by the node.
  std::promise<void> opened;
  const unsigned short port = node->port();
  auto stream = std::async(std::launch::async, [&] {
    HttpClient client(ClientOptions{});
    HttpRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/events";
    req.headers.emplace_back("Authorization", "Bearer " + admin);
    req.timeout_ms = 600000;  // far beyond the test: only the node's close ends it
    bool first = true;
    return client.stream(req, [&](std::string_view) {
      if (first) opened.set_value();
      first = false;
      return true;
    });
  });
  opened.get_future().get();  // the stream said hello: it is held now

  node->stop();
  served.get();  // run() does not wait for held requests to end
  node.reset();  // the I/O contexts go, and the connections with them
  const auto ended = stream.get();
  if (!ended) {
    EXPECT_EQ(ended.error().message.find("Timeout"), std::string::npos) << ended.error().message;
  }
}

TEST_F(RelayNodeTest, StopBeforeRunMakesRunReturnAtOnce) {
  RelayNode node(*store_, "sqlite", (dir_ / "relayd.db").string(), options());
  ASSERT_TRUE(node.start());
  node.stop();
  node.run();
  EXPECT_FALSE(node.start()) << "a node starts once";
}

TEST_F(RelayNodeTest, AStartThatCannotListenFailsAndLeavesNothingRunning) {
  auto o = options();
  o.listen_host = "192.0.2.1";  // TEST-NET-1: not an address of this machine
  RelayNode node(*store_, "sqlite", (dir_ / "relayd.db").string(), o);
  const auto started = node.start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().kind, ErrorKind::kUnavailable);
  EXPECT_NE(started.error().message.find("cannot listen"), std::string::npos)
      << started.error().message;
  EXPECT_EQ(node.port(), 0);
  node.run();  // returns at once: nothing was started
}

TEST_F(RelayNodeTest, ATlsNodeWithoutItsCertificateDoesNotStart) {
  auto o = options();
  o.plain_http = false;  // DATA_DIR/tls/server.pem does not exist
  RelayNode node(*store_, "sqlite", (dir_ / "relayd.db").string(), o);
  const auto started = node.start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("cannot listen"), std::string::npos)
      << started.error().message;
}

}  // namespace
}  // namespace printrelay
