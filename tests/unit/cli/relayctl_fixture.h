// What the relayctl command tests share: running relayctl in-process on captured streams with a
// given environment, stdin and the fixed clock kNow; and RelayctlFixture, a test with a keys
// directory holding one key and a fake relay (tests/unit/agent/fake_relay.h) answering through
// the fixture's answer().
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../agent/fake_relay.h"
#include "../agent/temp_dir.h"
#include "cli/relayctl.h"
#include "core/time.h"

namespace printrelay::cli {

inline constexpr TimeMs kNow = 1'795'428'000'789;  // 2026-11-23T10:00:00.789Z

// Environment variables relayctl sees; nothing else of the process environment leaks in.
using Env = std::map<std::string, std::string>;

// A relay URL nothing listens on, and a token: commands get as far as connecting.
Env unreachable_relay_env();

struct Run {
  int rc;
  std::string out;
  std::string err;
};

// `relayctl ARGS...` with `env`, `stdin_text` on standard input and the clock at kNow.
Run run(std::vector<const char*> args, const Env& env = {}, const std::string& stdin_text = "");

// The bytes of a file ("" when it cannot be read).
std::string text_of(const std::filesystem::path& p);

class RelayctlFixture : public ::testing::Test {
 protected:
  // `key_name`: the signing key made in keys_dir_ before each test.
  explicit RelayctlFixture(std::string key_name) : key_name_(std::move(key_name)) {}

  // Makes the key and starts the relay. The relay stops in TearDown, before the derived
  // fixture's members that answer() uses are destroyed.
  void SetUp() override;
  void TearDown() override { relay_.reset(); }

  // What the fake relay answers; called on its thread, one request at a time.
  virtual testing::FakeResponse answer(const testing::FakeRequest& req) = 0;

  // PRINTRELAY_URL of the fake relay, an admin token and PRINTRELAY_KEYS_DIR.
  Env env() const;
  std::string public_pem() const;
  // The fake relay records a request after answering it: waits until `n` have been recorded.
  std::vector<testing::FakeRequest> requests(std::size_t n) const;

  testing::TempDir tmp_;
  const std::string keys_dir_ = (tmp_.path() / "keys").string();
  std::optional<testing::FakeRelay> relay_;  // from SetUp to TearDown

 private:
  std::string key_name_;
};

}  // namespace printrelay::cli
