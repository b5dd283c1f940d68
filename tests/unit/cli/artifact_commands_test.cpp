// `relayctl keys` and `relayctl artifact`: the signed upload built for a file, its rendering, and
// the commands end to end against a fake relay that records what it received.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/relayctl.h"
#include "cli/render.h"
#include "cli/requests.h"
#include "cli/signing_keys.h"
#include "core/sha256.h"
#include "net/signing.h"
#include "relayctl_fixture.h"

namespace printrelay::cli {
namespace {

namespace fs = std::filesystem;

TEST(ArtifactPushCall, SignsTheManifestOfTheBytes) {
  auto key = make_signing_key();
  ASSERT_TRUE(key);
  const std::string bytes = "relayd build 0.2.0";
  auto push = artifact_push_call(bytes, {"relay", "", "", "0.2.0"}, key->private_pem, kNow);
  ASSERT_TRUE(push) << push.error().message;

  const std::string sha = sha256_hex(bytes);
  EXPECT_EQ(push->manifest, (Json{{"component", ""},
                                  {"key_id", *key_id(key->public_pem)},
                                  {"kind", "relay"},
                                  {"model", ""},
                                  {"sha256", sha},
                                  {"signed_at", "2026-11-23T10:00:00Z"},
                                  {"size", bytes.size()},
                                  {"version", "0.2.0"}}));
  EXPECT_EQ(push->call.method, "PUT");
  EXPECT_EQ(push->call.path, "/v1/artifacts/" + sha);
  EXPECT_EQ(push->call.body, bytes);
  EXPECT_EQ(push->call.content_type, "application/octet-stream");
  EXPECT_EQ(push->call.timeout_ms, upload_timeout_ms(std::int64_t(bytes.size())));
  ASSERT_EQ(push->call.headers.size(), 2u);
  EXPECT_EQ(push->call.headers[0].first, "X-Artifact-Manifest");
  EXPECT_EQ(push->call.headers[0].second, push->manifest.dump());
  EXPECT_EQ(push->call.headers[1].first, "X-Artifact-Signature");
  EXPECT_EQ(push->call.headers[1].second, push->signature);
  // What the relay will check: the header text is a canonical manifest signed by the key.
  EXPECT_TRUE(parse_manifest_text(push->call.headers[0].second));
  auto verified = verify_text(push->call.headers[0].second, push->signature, key->public_pem);
  ASSERT_TRUE(verified);
  EXPECT_TRUE(*verified);
}

TEST(ArtifactPushCall, RefusesBadDescriptionsAndKeys) {
  auto key = make_signing_key();
  ASSERT_TRUE(key);
  auto no_model = artifact_push_call("x", {"firmware", "", "main", "1.0"}, key->private_pem, kNow);
  ASSERT_FALSE(no_model);
  EXPECT_NE(no_model.error().message.find("model"), std::string::npos);
  EXPECT_FALSE(artifact_push_call("x", {"bootloader", "", "", "1.0"}, key->private_pem, kNow));
  auto public_only = artifact_push_call("x", {"relay", "", "", "1.0"}, key->public_pem, kNow);
  ASSERT_FALSE(public_only);
  EXPECT_EQ(public_only.error().kind, ErrorKind::kBadInput);
}

TEST(UploadTimeout, GrowsWithTheSize) {
  EXPECT_EQ(upload_timeout_ms(0), 60'000);
  EXPECT_EQ(upload_timeout_ms(512ll << 20), 60'000 + 2048 * 1000);
}

TEST(RenderArtifacts, TableWithShortShaAndHumanSizes) {
  const std::string sha = sha256_hex("x");
  Json artifacts = Json::array(
      {{{"sha256", sha},
        {"kind", "firmware"},
        {"model", "MX-4070"},
        {"component", "main"},
        {"version", "2.14.0"},
        {"size", 104857600},
        {"key_id", "3f9a0c1d2e4b5a67"},
        {"signed_at", "2026-11-23T10:00:00Z"},
        {"signature", std::string(128, 'a')}},
       {{"sha256", sha}, {"kind", "relay"}, {"model", ""}, {"version", "0.2.0"}, {"size", 12}}});
  std::ostringstream out;
  print_artifacts(artifacts, out);
  const std::string text = out.str();
  EXPECT_EQ(text.rfind("SHA256        KIND      MODEL    COMPONENT  VERSION  SIZE       KEY ID"
                       "            SIGNED AT\n",
                       0),
            0u)
      << text;
  EXPECT_NE(text.find(sha.substr(0, 12) + "  firmware  MX-4070  main       2.14.0   100.0 MiB  "
                                          "3f9a0c1d2e4b5a67  2026-11-23 10:00:00\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(sha.substr(0, 12) + "  relay     -        -          0.2.0    12 B"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find(sha.substr(12)), std::string::npos);
}

TEST(RenderKeys, NameIdAndPrivatePresence) {
  std::ostringstream out;
  print_keys(Json::array({{{"name", "vendor"}, {"key_id", "3f9a0c1d2e4b5a67"}, {"private", true}},
                          {{"name", "partner"}, {"key_id", ""}, {"private", false}}}),
             out);
  EXPECT_EQ(out.str(),
            "NAME     KEY ID            PRIVATE\n"
            "vendor   3f9a0c1d2e4b5a67  yes\n"
            "partner  -                 no\n");
  EXPECT_EQ(size_text(Json(1023)), "1023 B");
  EXPECT_EQ(size_text(Json(1536)), "1.5 KiB");
  EXPECT_EQ(size_text(Json(std::int64_t(3) << 30)), "3.0 GiB");
  EXPECT_EQ(size_text(Json()), "-");
}

TEST(RelayctlKeys, CreateThenListLocally) {
  testing::TempDir tmp;
  const std::string dir = (tmp.path() / "keys").string();
  // No URL or token: keys never talk to a relay.
  auto created = run({"keys", "create", "vendor", "--dir", dir.c_str()});
  ASSERT_EQ(created.rc, kExitOk) << created.err;
  const std::string id = created.out.substr(0, created.out.find('\n'));
  EXPECT_EQ(id, *key_id(text_of(fs::path(dir) / "vendor.pub")));
  EXPECT_NE(created.err.find("vendor.key"), std::string::npos) << created.err;

  auto again = run({"keys", "create", "vendor", "--dir", dir.c_str()});
  EXPECT_EQ(again.rc, kExitFailed);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  EXPECT_EQ(run({"keys", "create", "../x", "--dir", dir.c_str()}).rc, kExitUsage);

  auto listed = run({"keys", "list"}, {{"PRINTRELAY_KEYS_DIR", dir}});
  ASSERT_EQ(listed.rc, kExitOk) << listed.err;
  EXPECT_EQ(listed.out, "NAME    KEY ID            PRIVATE\nvendor  " + id + "  yes\n");
  auto as_json = run({"keys", "--json"}, {{"HOME", tmp.path().string()}});
  ASSERT_EQ(as_json.rc, kExitOk) << as_json.err;
  EXPECT_EQ(Json::parse(as_json.out)["keys"], Json::array());  // ~/.config/... has none yet
  EXPECT_EQ(run({"keys", "list"}).rc, kExitUsage);             // no --dir, variable or HOME
}

// A relay that keeps the last artifact pushed and lists it.
class RelayctlArtifactPush : public RelayctlFixture {
 protected:
  RelayctlArtifactPush() : RelayctlFixture("vendor") {}

  void SetUp() override {
    RelayctlFixture::SetUp();
    std::ofstream(file_, std::ios::binary) << payload_;
  }

  testing::FakeResponse answer(const testing::FakeRequest& req) override {
    if (req.method == "GET") {
      return testing::FakeResponse{200, Json{{"artifacts", Json::array({answer_})}}.dump()};
    }
    Json manifest = Json::parse(req.headers.at("x-artifact-manifest"));
    answer_ = manifest;
    answer_["signature"] = req.headers.at("x-artifact-signature");
    return testing::FakeResponse{201, Json{{"artifact", answer_}}.dump()};
  }

  const std::string file_ = (tmp_.path() / "relayd-0.2.0").string();
  const std::string payload_ = std::string(200000, 'r') + std::string("\n\0\xff binary", 10);
  Json answer_;
};

TEST_F(RelayctlArtifactPush, UploadsTheBytesWithSignedManifestHeaders) {
  auto r = run({"artifact", "push", file_.c_str(), "--kind", "relay", "--version", "0.2.0", "--key",
                "vendor"},
               env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  const std::string sha = sha256_hex(payload_);
  EXPECT_EQ(r.out, sha + "\n");
  EXPECT_NE(r.err.find("uploading " + file_), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("uploaded "), std::string::npos) << r.err;

  // The fake relay records a request after answering it.
  relay_->wait_for([](const auto& r) { return !r.empty(); });
  auto requests = relay_->requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& put = requests[0];
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(put.path, "/v1/artifacts/" + sha);
  EXPECT_EQ(put.body, payload_);
  EXPECT_EQ(put.headers.at("authorization"), "Bearer at_admin");
  EXPECT_EQ(put.headers.at("content-type"), "application/octet-stream");
  auto manifest = parse_manifest_text(put.headers.at("x-artifact-manifest"));
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ((*manifest)["sha256"], sha);
  EXPECT_EQ((*manifest)["size"], payload_.size());
  EXPECT_EQ((*manifest)["signed_at"], "2026-11-23T10:00:00Z");
  EXPECT_EQ((*manifest)["key_id"], *key_id(public_pem()));
  auto verified = verify_text(put.headers.at("x-artifact-manifest"),
                              put.headers.at("x-artifact-signature"), public_pem());
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_TRUE(*verified);

  auto listed = run({"artifact", "list"}, env());
  ASSERT_EQ(listed.rc, kExitOk) << listed.err;
  EXPECT_NE(listed.out.find(sha.substr(0, 12) + "  relay"), std::string::npos) << listed.out;
  auto as_json = run({"artifacts", "--json"}, env());
  ASSERT_EQ(as_json.rc, kExitOk) << as_json.err;
  EXPECT_EQ(Json::parse(as_json.out)["artifacts"][0]["sha256"], sha);
}

TEST_F(RelayctlArtifactPush, JsonPrintsTheRelaysAnswer) {
  auto r = run({"artifact", "push", file_.c_str(), "--kind", "firmware", "--model", "MX-4070",
                "--component", "main", "--version", "2.14.0", "--key", "vendor", "--json"},
               env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  Json answer = Json::parse(r.out);
  EXPECT_EQ(answer["artifact"]["model"], "MX-4070");
  EXPECT_EQ(answer["artifact"]["signature"].get<std::string>().size(), 128u);
}

TEST_F(RelayctlArtifactPush, LocalProblemsAreUsageErrorsAndSendNothing) {
  auto push = [&](std::vector<const char*> extra, const Env& e) {
    std::vector<const char*> args = {"artifact", "push", file_.c_str()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args, e);
  };
  auto no_model = push({"--kind", "firmware", "--version", "1", "--key", "vendor"}, env());
  EXPECT_EQ(no_model.rc, kExitUsage);
  EXPECT_NE(no_model.err.find("model"), std::string::npos) << no_model.err;
  EXPECT_EQ(push({"--kind", "boot", "--version", "1", "--key", "vendor"}, env()).rc, kExitUsage);
  auto no_key = push({"--kind", "relay", "--version", "1", "--key", "nobody"}, env());
  EXPECT_EQ(no_key.rc, kExitUsage);
  EXPECT_NE(no_key.err.find("relayctl keys create nobody"), std::string::npos) << no_key.err;
  EXPECT_EQ(push({"--kind", "relay", "--version", "1"}, env()).rc, kExitUsage);  // --key needed
  auto e = env();
  e.erase("PRINTRELAY_URL");
  EXPECT_EQ(push({"--kind", "relay", "--version", "1", "--key", "vendor"}, e).rc, kExitUsage);
  auto missing = run({"artifact", "push", "/nonexistent/file", "--kind", "relay", "--version", "1",
                      "--key", "vendor"},
                     env());
  EXPECT_EQ(missing.rc, kExitUsage);
  EXPECT_NE(missing.err.find("cannot read /nonexistent/file"), std::string::npos) << missing.err;
  EXPECT_TRUE(relay_->requests().empty());
}

TEST_F(RelayctlArtifactPush, RelayRefusalIsExit1WithItsMessage) {
  testing::FakeRelay refusing([](const testing::FakeRequest&) {
    return testing::FakeResponse{
        400, R"({"error":{"code":"bad_input","message":"signature does not verify"}})"};
  });
  auto e = env();
  e["PRINTRELAY_URL"] = refusing.url();
  auto r = run({"artifact", "push", file_.c_str(), "--kind", "relay", "--version", "0.2.0", "--key",
                "vendor"},
               e);
  EXPECT_EQ(r.rc, kExitFailed);
  EXPECT_NE(r.err.find("error: signature does not verify (bad_input, HTTP 400)"), std::string::npos)
      << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace
}  // namespace printrelay::cli
