#include "cli/connection.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace printrelay::cli {
namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("relayctl-conn-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  std::filesystem::path dir_;
};

TEST_F(ConnectionTest, FlagsBeatEnvironmentBeatsConfigFile) {
  auto config = write("relayctl.json",
                      R"({"url": "https://file:1/", "token": "file-token", "ca": "ca.pem"})");
  auto env = env_of({{"PRINTRELAY_CONFIG", config}, {"PRINTRELAY_TOKEN", "env-token"}});
  auto c = resolve_connection({}, env);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->url, "https://file:1");  // trailing slash dropped
  EXPECT_EQ(c->token, "env-token");
  EXPECT_EQ(c->ca, (dir_ / "ca.pem").string());  // relative to the config file

  ConnectionFlags flags;
  flags.url = "https://flag:2";
  flags.ca = "/etc/ca.pem";
  flags.insecure = true;
  c = resolve_connection(flags, env);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->url, "https://flag:2");
  EXPECT_EQ(c->token, "env-token");
  EXPECT_EQ(c->ca, "/etc/ca.pem");
  EXPECT_TRUE(c->insecure);
}

// The service center reaches the relay through its own proxy (seed 001 Fig. 1).
TEST_F(ConnectionTest, ProxyComesFromFlagEnvironmentOrConfigFile) {
  auto config = write("relayctl.json", R"({"url": "https://r:1", "token": "t",
                                           "proxy": "http://file-proxy:3128"})");
  auto c = resolve_connection({}, env_of({{"PRINTRELAY_CONFIG", config}}));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->proxy, "http://file-proxy:3128");
  c = resolve_connection(
      {}, env_of({{"PRINTRELAY_CONFIG", config}, {"PRINTRELAY_PROXY", "http://env-proxy:8080"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->proxy, "http://env-proxy:8080");
  ConnectionFlags flags;
  flags.proxy = "http://flag-proxy:3128";
  c = resolve_connection(flags, env_of({{"PRINTRELAY_CONFIG", config}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->proxy, "http://flag-proxy:3128");
  flags.proxy = "proxy.lan:3128";
  c = resolve_connection(flags, env_of({{"PRINTRELAY_CONFIG", config}}));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("proxy URL"), std::string::npos);
}

TEST_F(ConnectionTest, ConfigFlagBeatsConfigEnv) {
  auto a = write("a.json", R"({"url": "https://a:1", "token": "ta"})");
  auto b = write("b.json", R"({"url": "https://b:1", "token": "tb"})");
  ConnectionFlags flags;
  flags.config = b;
  auto c = resolve_connection(flags, env_of({{"PRINTRELAY_CONFIG", a}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->url, "https://b:1");
  EXPECT_EQ(c->token, "tb");
}

TEST_F(ConnectionTest, MissingSettingsNameTheFlagAndVariable) {
  auto no_url = resolve_connection({}, env_of({{"PRINTRELAY_TOKEN", "t"}}));
  ASSERT_FALSE(no_url.ok());
  EXPECT_NE(no_url.error().message.find("PRINTRELAY_URL"), std::string::npos);
  EXPECT_NE(no_url.error().message.find("--url"), std::string::npos);
  auto no_token = resolve_connection({}, env_of({{"PRINTRELAY_URL", "https://r:1"}}));
  ASSERT_FALSE(no_token.ok());
  EXPECT_NE(no_token.error().message.find("PRINTRELAY_TOKEN"), std::string::npos);
  EXPECT_NE(no_token.error().message.find("--token"), std::string::npos);
}

TEST_F(ConnectionTest, BadConfigFileIsNamed) {
  ConnectionFlags flags;
  flags.config = write("bad.json", "{not json");
  auto c = resolve_connection(flags, env_of({}));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("bad.json"), std::string::npos);
  flags.config = (dir_ / "missing.json").string();
  EXPECT_FALSE(resolve_connection(flags, env_of({})).ok());
  flags.config = write("typed.json", R"({"url": 5})");
  EXPECT_FALSE(resolve_connection(flags, env_of({})).ok());
}

TEST_F(ConnectionTest, UrlNeedsAScheme) {
  ConnectionFlags flags;
  flags.url = "relay:8443";
  flags.token = "t";
  EXPECT_FALSE(resolve_connection(flags, env_of({})).ok());
}

// The key that signs jobs: --sign-key, else PRINTRELAY_SIGN_KEY, else the config file.
TEST_F(ConnectionTest, SignKeyFromFlagEnvironmentOrConfigFile) {
  ConnectionFlags flags;
  flags.config =
      write("relayctl.json", R"({"url": "https://r:1", "token": "t", "sign_key": "file"})");
  auto name = resolve_sign_key_name("", flags, env_of({}));
  ASSERT_TRUE(name.ok()) << name.error().message;
  EXPECT_EQ(*name, "file");
  EXPECT_EQ(*resolve_sign_key_name("", flags, env_of({{"PRINTRELAY_SIGN_KEY", "env"}})), "env");
  EXPECT_EQ(*resolve_sign_key_name("flag", flags, env_of({{"PRINTRELAY_SIGN_KEY", "env"}})),
            "flag");
  EXPECT_EQ(*resolve_sign_key_name("", {}, env_of({})), "");  // none: jobs go unsigned
  EXPECT_EQ(*resolve_sign_key_name("", {}, env_of({{"PRINTRELAY_CONFIG", flags.config}})), "file");
  flags.config = write("typed.json", R"({"sign_key": 5})");
  EXPECT_FALSE(resolve_sign_key_name("", flags, env_of({})).ok());
  // A malformed file is wrong for every setting read from it.
  EXPECT_FALSE(
      resolve_connection({"https://r:1", "t", "", "", flags.config, false}, env_of({})).ok());
}

}  // namespace
}  // namespace printrelay::cli
