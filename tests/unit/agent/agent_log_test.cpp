// The agent's log messages reach the embedder's pr_log_fn, at their level, and nothing else is
// written to stderr; without a callback they go to stderr as before.
#include "agent/agent_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "printrelay/agent.h"
#include "temp_dir.h"

namespace printrelay {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

// What the callback received, one (level, message) per call.
struct Received {
  std::mutex mu;
  std::vector<std::pair<int, std::string>> lines;

  static void record(void* user, int level, const char* message) {
    auto* self = static_cast<Received*>(user);
    std::lock_guard lock(self->mu);
    self->lines.emplace_back(level, message);
  }
  // The first line containing `text`, or {-1, ""}.
  std::pair<int, std::string> find(const std::string& text) {
    std::lock_guard lock(mu);
    for (const auto& l : lines) {
      if (l.second.find(text) != std::string::npos) return l;
    }
    return {-1, ""};
  }
};

// Installs the callback for one test and restores stderr logging after it, since the sink is
// process-wide.
struct CallbackSet {
  explicit CallbackSet(Received& r) { pr_agent_set_log_callback(&Received::record, &r); }
  ~CallbackSet() { pr_agent_set_log_callback(nullptr, nullptr); }
};

// Points fd 2 at a file while it lives; text() is what was written meanwhile.
class StderrCapture {
 public:
  explicit StderrCapture(const std::filesystem::path& file) : file_(file) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    const int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    std::ifstream in(file_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::filesystem::path file_;
  int saved_ = -1;
};

// A config for one device whose relay refuses connections (nothing listens on port 1).
struct Config {
  std::string state_dir;
  const char* urls[1] = {"http://127.0.0.1:1"};
  std::string key_file;
  const char* key_files[1] = {nullptr};
  pr_agent_config c;

  explicit Config(const TempDir& dir) : state_dir((dir.path() / "state").string()) {
    pr_agent_config_init(&c);
    c.relay_urls = urls;
    c.relay_url_count = 1;
    c.serial = "LOG-0001";
    c.model = "MX-4070";
    c.enrollment_code = "k3y";
    c.state_dir = state_dir.c_str();
    c.connect_timeout_ms = 500;
  }
  // A vendor key file that holds no PEM key: pr_agent_create refuses it and says why.
  void with_bad_vendor_key(const TempDir& dir) {
    key_file = (dir.path() / "vendor.pem").string();
    std::ofstream(key_file) << "not a key\n";
    key_files[0] = key_file.c_str();
    c.vendor_key_files = key_files;
    c.vendor_key_count = 1;
  }
};

TEST(AgentLog, BadConfigIsAnErrorToTheCallbackNotToStderr) {
  TempDir dir;
  Received received;
  CallbackSet set(received);
  Config config(dir);
  config.with_bad_vendor_key(dir);
  StderrCapture err(dir.path() / "stderr.txt");

  pr_agent* a = nullptr;
  EXPECT_EQ(pr_agent_create(&config.c, nullptr, &a), PR_ERR_INVALID);
  EXPECT_EQ(a, nullptr);

  EXPECT_EQ(err.text(), "");
  auto line = received.find("holds no PEM public key");
  EXPECT_EQ(line.first, PR_LOG_ERROR);
  EXPECT_EQ(line.second, "printrelay agent: " + config.key_file + " holds no PEM public key");
}

TEST(AgentLog, UnreachableRelayIsAWarningNamingTheSerial) {
  TempDir dir;
  Received received;
  CallbackSet set(received);
  Config config(dir);
  StderrCapture err(dir.path() / "stderr.txt");

  pr_agent* a = nullptr;
  ASSERT_EQ(pr_agent_create(&config.c, nullptr, &a), PR_OK);
  ASSERT_EQ(pr_agent_start(a), PR_OK);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (received.find("agent LOG-0001: poll: ").first < 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  pr_agent_destroy(a);

  EXPECT_EQ(err.text(), "");
  auto line = received.find("agent LOG-0001: poll: ");
  EXPECT_EQ(line.first, PR_LOG_WARN) << line.second;
  EXPECT_EQ(line.second.find('\n'), std::string::npos) << "a message is one line, unterminated";
}

TEST(AgentLog, WithoutACallbackMessagesGoToStderrOneLineEach) {
  TempDir dir;
  pr_agent_set_log_callback(nullptr, nullptr);
  Config config(dir);
  config.with_bad_vendor_key(dir);
  StderrCapture err(dir.path() / "stderr.txt");

  pr_agent* a = nullptr;
  EXPECT_EQ(pr_agent_create(&config.c, nullptr, &a), PR_ERR_INVALID);

  EXPECT_EQ(err.text(), "printrelay agent: " + config.key_file + " holds no PEM public key\n");
}

TEST(AgentLog, LevelsAreThoseOfTheCHeader) {
  Received received;
  CallbackSet set(received);
  agent::log(agent::LogLevel::kError, "e");
  agent::log(agent::LogLevel::kWarn, "w");
  agent::log(agent::LogLevel::kInfo, "i");
  agent::LogLine(agent::LogLevel::kDebug) << "d" << 1;
  EXPECT_EQ(received.find("e").first, PR_LOG_ERROR);
  EXPECT_EQ(received.find("w").first, PR_LOG_WARN);
  EXPECT_EQ(received.find("i").first, PR_LOG_INFO);
  EXPECT_EQ(received.find("d1").first, PR_LOG_DEBUG);
}

}  // namespace
}  // namespace printrelay
