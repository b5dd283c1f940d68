#include "agent/relay_client.h"

#include <gtest/gtest.h>

#include "core/codec.h"
#include "temp_dir.h"

namespace printrelay::agent {
namespace {

using printrelay::testing::TempDir;

// A scripted network: per relay URL, what its device API does.
struct ScriptedRelays {
  // kSharesCredentials: a relay of the same tree, which accepts a token any relay issued.
  enum class Mode { kDown, k503, kOk, kForgetsTokens, kSharesCredentials };
  std::map<std::string, Mode> mode;
  std::map<std::string, int> enrolls;
  std::vector<std::string> calls;  // "<url><path>" in order

  Result<HttpResponse> operator()(const HttpRequest& req) {
    auto slash = req.url.find('/', 8);
    std::string base = req.url.substr(0, slash);
    std::string path = req.url.substr(slash);
    calls.push_back(req.url);
    Mode m = mode[base];
    if (m == Mode::kDown) return unavailable("connection refused");
    if (m == Mode::k503) return HttpResponse{503, R"({"error":{"code":"unavailable"}})", {}};
    if (path == "/v1/device/enroll") {
      auto body = Json::parse(req.body);
      if (body["enrollment_code"] != "k3y") return HttpResponse{403, "{}", {}};
      int n = ++enrolls[base];
      return HttpResponse{201, Json{{"device_token", base + "#" + std::to_string(n)}}.dump(), {}};
    }
    std::string auth;
    for (const auto& [k, v] : req.headers) {
      if (k == "Authorization") auth = v;
    }
    std::string expected = "Bearer " + base + "#" + std::to_string(enrolls[base]);
    if (m == Mode::kForgetsTokens && enrolls[base] < 2) expected = "never";
    bool issued_elsewhere = false;
    for (const auto& [url, n] : enrolls) {
      if (n > 0 && auth == "Bearer " + url + "#" + std::to_string(n)) issued_elsewhere = true;
    }
    if (m == Mode::kSharesCredentials && issued_elsewhere) expected = auth;
    if (auth != expected) return HttpResponse{401, "{}", {}};
    return HttpResponse{200, Json{{"served_by", base}}.dump(), {}};
  }
};

struct Fixture {
  TempDir dir;
  ScriptedRelays net;
  std::vector<std::string> urls = {"http://a", "http://b", "http://c"};
  std::unique_ptr<RelayRoster> roster;
  std::unique_ptr<RelayClient> client;
  explicit Fixture(std::string code = "k3y") {
    roster = std::make_unique<RelayRoster>(urls, dir.path() / "tokens.json",
                                           Enrollment{"SIM-0001", "MX-4070", code});
    client = std::make_unique<RelayClient>(*roster, std::ref(net));
  }
};

std::string served_by(const Result<HttpResponse>& r) {
  return Json::parse(r->body)["served_by"].get<std::string>();
}

TEST(RelayClient, MovesDownTheListOnTransportFailureAnd5xx) {
  Fixture f;
  f.net.mode = {{"http://a", ScriptedRelays::Mode::kDown},
                {"http://b", ScriptedRelays::Mode::k503},
                {"http://c", ScriptedRelays::Mode::kOk}};
  auto r = f.client->call("POST", "/v1/device/poll", Json::object(), 1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(served_by(r), "http://c");
  EXPECT_EQ(f.roster->current_url(), "http://c");
  EXPECT_EQ(f.client->last_url(), "http://c");
  // a and b were each tried once, in order, before c.
  ASSERT_GE(f.net.calls.size(), 3u);
  EXPECT_EQ(f.net.calls[0], "http://a/v1/device/enroll");
  EXPECT_EQ(f.net.calls[1], "http://b/v1/device/enroll");
  EXPECT_EQ(f.net.calls[2], "http://c/v1/device/enroll");

  // The next call starts with the relay that worked.
  f.net.calls.clear();
  ASSERT_TRUE(f.client->call("POST", "/v1/device/poll", Json::object(), 1000).ok());
  EXPECT_EQ(f.net.calls, std::vector<std::string>{"http://c/v1/device/poll"});
}

// Seed 001 claim 30: the device's configured relay is the first choice; after failing over it
// goes back to try it once the return delay has passed, and stays where it is before that.
TEST(RelayClient, ReturnsToTheFirstRelayAfterTheDelay) {
  Fixture f;
  f.net.mode = {{"http://a", ScriptedRelays::Mode::kDown},
                {"http://b", ScriptedRelays::Mode::kOk},
                {"http://c", ScriptedRelays::Mode::kOk}};
  auto r = f.client->call("POST", "/v1/device/poll", Json::object(), 1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(served_by(r), "http://b");
  f.net.mode["http://a"] = ScriptedRelays::Mode::kOk;  // the first relay is back
  r = f.client->call("POST", "/v1/device/poll", Json::object(), 1000);
  EXPECT_EQ(served_by(r), "http://b") << "returned before the delay";
  f.roster->set_return_after(std::chrono::milliseconds(0));
  r = f.client->call("POST", "/v1/device/poll", Json::object(), 1000);
  EXPECT_EQ(served_by(r), "http://a");
  // Still down when tried again: on to the next, and the clock starts over.
  f.net.mode["http://a"] = ScriptedRelays::Mode::kDown;
  f.roster->set_return_after(std::chrono::hours(1));
  r = f.client->call("POST", "/v1/device/poll", Json::object(), 1000);
  EXPECT_EQ(served_by(r), "http://b");
  EXPECT_EQ(f.roster->current(), 1u);
}

TEST(RelayClient, WrapsAroundToTheFirstRelay) {
  Fixture f;
  f.net.mode = {{"http://a", ScriptedRelays::Mode::kOk},
                {"http://b", ScriptedRelays::Mode::kOk},
                {"http://c", ScriptedRelays::Mode::kOk}};
  ASSERT_TRUE(f.client->call("POST", "/v1/device/poll", Json::object(), 1000).ok());
  f.net.mode["http://a"] = ScriptedRelays::Mode::kDown;
  f.net.mode["http://b"] = ScriptedRelays::Mode::kDown;
  f.net.mode["http://c"] = ScriptedRelays::Mode::kDown;
  // a fails: moved to b (enroll fails), then c; all down -> unavailable, back at a.
  auto r = f.client->call("POST", "/v1/device/poll", Json::object(), 1000);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(f.roster->current_url(), "http://a");
  // c comes back: after a fails again, the call reaches c.
  f.net.mode["http://c"] = ScriptedRelays::Mode::kOk;
  auto again = f.client->call("POST", "/v1/device/poll", Json::object(), 1000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(served_by(again), "http://c");
}

TEST(RelayClient, A4xxIsAnAnswerNotAFailover) {
  Fixture f;
  f.net.mode = {{"http://a", ScriptedRelays::Mode::kOk}, {"http://b", ScriptedRelays::Mode::kOk}};
  ASSERT_TRUE(f.client->call("POST", "/v1/device/poll", Json::object(), 1000).ok());
  // 401 with a working re-enrollment is retried at the same relay, not failed over.
  f.net.enrolls["http://a"] = 7;  // the relay forgot the token we hold
  auto r = f.client->call("POST", "/v1/device/poll", Json::object(), 1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(served_by(r), "http://a");
  EXPECT_EQ(f.net.enrolls["http://a"], 8);
  EXPECT_EQ(f.roster->current_url(), "http://a");
}

TEST(RelayClient, TokensArePerRelayAndPersisted) {
  Fixture f;
  f.net.mode = {{"http://a", ScriptedRelays::Mode::kDown},
                {"http://b", ScriptedRelays::Mode::kOk},
                {"http://c", ScriptedRelays::Mode::kOk}};
  ASSERT_TRUE(f.client->call("POST", "/v1/device/poll", Json::object(), 1000).ok());
  EXPECT_EQ(f.roster->token("http://b"), "http://b#1");
  // A relay never used is tried with the credential the device has (see the next test).
  EXPECT_EQ(f.roster->token("http://c"), "http://b#1");
  f.net.mode["http://b"] = ScriptedRelays::Mode::kDown;
  ASSERT_TRUE(f.client->call("POST", "/v1/device/poll", Json::object(), 1000).ok());
  EXPECT_EQ(f.roster->token("http://c"), "http://c#1");

  // A restarted agent reloads both and does not enroll again.
  RelayRoster reloaded(f.urls, f.dir.path() / "tokens.json", {"SIM-0001", "MX-4070", "k3y"});
  EXPECT_EQ(reloaded.token("http://b"), "http://b#1");
  EXPECT_EQ(reloaded.token("http://c"), "http://c#1");
}

// A relay of the same tree knows the credential: the device is not enrolled there again (a
// relay refuses to replace a used credential until the service center revokes it).
TEST(RelayClient, ARelayNeverUsedIsTriedWithTheCredentialTheDeviceHas) {
  Fixture f;
  f.net.mode = {{"http://a", ScriptedRelays::Mode::kOk},
                {"http://b", ScriptedRelays::Mode::kSharesCredentials},
                {"http://c", ScriptedRelays::Mode::kOk}};
  ASSERT_TRUE(f.client->call("POST", "/v1/device/poll", Json::object(), 1000).ok());
  f.net.mode["http://a"] = ScriptedRelays::Mode::kDown;
  auto r = f.client->call("POST", "/v1/device/poll", Json::object(), 1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(served_by(r), "http://b");
  EXPECT_EQ(f.net.enrolls["http://b"], 0);
}

TEST(RelayClient, WrongEnrollmentCodeFailsEverywhere) {
  Fixture f("wrong");
  f.net.mode = {{"http://a", ScriptedRelays::Mode::kOk},
                {"http://b", ScriptedRelays::Mode::kOk},
                {"http://c", ScriptedRelays::Mode::kOk}};
  auto r = f.client->call("POST", "/v1/device/poll", Json::object(), 1000);
  EXPECT_FALSE(r.ok());
  for (const auto& c : f.net.calls) EXPECT_NE(c.find("/enroll"), std::string::npos);
}

TEST(RelayClient, RetryAfterIsReadFromTheHeader) {
  HttpResponse r{429, "{}", {{"retry-after", "7"}}};
  EXPECT_EQ(retry_after_s(r), 7);
  HttpResponse none{429, "{}", {}};
  EXPECT_EQ(retry_after_s(none, 3), 3);
  HttpResponse junk{429, "{}", {{"retry-after", "soon"}}};
  EXPECT_EQ(retry_after_s(junk, 4), 4);
}

}  // namespace
}  // namespace printrelay::agent
