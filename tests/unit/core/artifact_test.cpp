#include "core/artifact.h"

#include <gtest/gtest.h>

#include <functional>

#include "core/codec.h"

namespace printrelay {
namespace {

const std::string kSha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

Json firmware_manifest() {
  return Json{{"component", "main"}, {"key_id", "3f9a0c1d2e4b5a67"},
              {"kind", "firmware"},  {"model", "MX-4070"},
              {"sha256", kSha},      {"signed_at", "2026-11-23T10:00:00Z"},
              {"size", 104857600},   {"version", "2.14.0"}};
}

// The message of parse_manifest's error after `change` is applied to a valid manifest.
std::string refusal(const std::function<void(Json&)>& change) {
  Json m = firmware_manifest();
  change(m);
  auto r = parse_manifest(m);
  if (r) return "(accepted)";
  EXPECT_EQ(r.error().kind, ErrorKind::kBadInput);
  return r.error().message;
}

TEST(ArtifactNames, Sha256AndKeyIdAreLowerCaseHexOfTheirLength) {
  EXPECT_TRUE(is_sha256_hex(kSha));
  EXPECT_FALSE(is_sha256_hex(kSha.substr(1)));
  EXPECT_FALSE(is_sha256_hex(kSha + "0"));
  std::string upper = kSha;
  upper[0] = 'F';
  EXPECT_FALSE(is_sha256_hex(upper));
  EXPECT_FALSE(is_sha256_hex("../../../../etc/passwd"));
  EXPECT_TRUE(is_key_id("3f9a0c1d2e4b5a67"));
  EXPECT_FALSE(is_key_id("3f9a0c1d2e4b5a6"));
  EXPECT_FALSE(is_key_id("3f9a0c1d2e4b5a6g"));
}

TEST(ParseManifest, AcceptsFirmwareAndRelayManifests) {
  auto firmware = parse_manifest(firmware_manifest());
  ASSERT_TRUE(firmware) << firmware.error().message;
  EXPECT_EQ(*firmware, firmware_manifest());

  Json relay = firmware_manifest();
  relay["kind"] = "relay";
  relay["model"] = "";
  relay["component"] = "";
  relay["size"] = 0;
  relay["signed_at"] = "2026-11-23T10:00:00.123Z";
  EXPECT_TRUE(parse_manifest(relay)) << parse_manifest(relay).error().message;
}

TEST(ParseManifest, RefusesMissingUnknownAndMistypedFields) {
  EXPECT_FALSE(parse_manifest(Json::array()));
  EXPECT_FALSE(parse_manifest(Json("text")));
  EXPECT_NE(refusal([](Json& m) { m.erase("signed_at"); }).find("lacks signed_at"),
            std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["signature"] = "00"; }).find("unknown field 'signature'"),
            std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["sha256"] = 5; }).find("sha256"), std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["version"] = 2; }).find("version"), std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["model"] = nullptr; }).find("model"), std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["key_id"] = Json::array(); }).find("key_id"),
            std::string::npos);
  // An unknown field cut at 64 bytes inside a character: the message stays valid UTF-8, so the
  // error can be written as JSON (found by fuzz_manifest; it made the answer throw).
  const std::string message = refusal([](Json& m) { m[std::string(63, 'x') + "\xC3\xA9"] = 1; });
  EXPECT_NE(message.find("unknown field"), std::string::npos);
  EXPECT_NO_THROW((void)error_json(Error{ErrorKind::kBadInput, message}).dump());
  EXPECT_EQ(message.find("\xC3"), std::string::npos);
}

TEST(ParseManifest, RefusesOutOfRangeValues) {
  EXPECT_NE(refusal([](Json& m) { m["sha256"] = std::string(64, 'A'); }).find("sha256"),
            std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["size"] = -1; }).find("size"), std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["size"] = 1.5; }).find("size"), std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["size"] = "10"; }).find("size"), std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["size"] = std::uint64_t(1) << 63; }).find("size"),
            std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["kind"] = "bootloader"; }).find("kind"), std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["version"] = ""; }).find("version"), std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["version"] = std::string(65, '1'); }).find("version"),
            std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["version"] = "2.0\n"; }).find("printable"), std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["model"] = std::string(65, 'M'); }).find("model"),
            std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["model"] = ""; }).find("model must not be empty"),
            std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["component"] = ""; }).find("component"), std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["key_id"] = "3F9A0C1D2E4B5A67"; }).find("key_id"),
            std::string::npos);
  EXPECT_NE(refusal([](Json& m) { m["signed_at"] = "yesterday"; }).find("signed_at"),
            std::string::npos);
  // 64 characters is the limit, not over it.
  EXPECT_EQ(refusal([](Json& m) { m["model"] = std::string(64, 'M'); }), "(accepted)");
}

TEST(ParseManifestText, AcceptsOnlyTheCanonicalText) {
  const std::string text = firmware_manifest().dump();
  EXPECT_EQ(text.find(' '), std::string::npos) << text;
  auto m = parse_manifest_text(text);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(*m, firmware_manifest());

  // Same manifest, other text: the signature over the text would not cover the stored dump().
  EXPECT_FALSE(parse_manifest_text(firmware_manifest().dump(1)));
  std::string escaped = text;
  escaped.replace(escaped.find("MX-4070"), 2, "\\u004dX");
  ASSERT_EQ(Json::parse(escaped), firmware_manifest());
  EXPECT_FALSE(parse_manifest_text(escaped));

  EXPECT_FALSE(parse_manifest_text("{not json"));
  EXPECT_FALSE(parse_manifest_text(std::string(5000, ' ')));
}

TEST(CheckDescription, AppliesTheManifestRulesToTheUploadersFields) {
  EXPECT_TRUE(check_description({"relay", "", "", "0.2.0"}));
  EXPECT_TRUE(check_description({"firmware", "MX-4070", "main", "2.14.0"}));
  EXPECT_FALSE(check_description({"firmware", "", "main", "2.14.0"}));
  EXPECT_FALSE(check_description({"firmware", "MX-4070", "", "2.14.0"}));
  EXPECT_FALSE(check_description({"Relay", "", "", "0.2.0"}));
  EXPECT_FALSE(check_description({"relay", "", "", ""}));
  EXPECT_FALSE(check_description({"relay", "", "", std::string(65, '1')}));
  EXPECT_FALSE(check_description({"relay", "caf\xc3\xa9", "", "1"}));
}

TEST(MakeManifest, BuildsTheSignedFieldsWithWholeSecondTime) {
  ArtifactDescription d{"relay", "", "", "0.2.0"};
  auto m = make_manifest(d, kSha, 1234, "3f9a0c1d2e4b5a67", TimeMs{1'795'428'000'789});
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->dump(),
            "{\"component\":\"\",\"key_id\":\"3f9a0c1d2e4b5a67\",\"kind\":\"relay\",\"model\":\"\","
            "\"sha256\":\"" +
                kSha +
                "\",\"signed_at\":\"2026-11-23T10:00:00Z\",\"size\":1234,\"version\":"
                "\"0.2.0\"}");
  EXPECT_TRUE(parse_manifest_text(m->dump()));

  d.kind = "firmware";
  auto no_model = make_manifest(d, kSha, 1234, "3f9a0c1d2e4b5a67", 0);
  ASSERT_FALSE(no_model);
  EXPECT_NE(no_model.error().message.find("model"), std::string::npos);
}

}  // namespace
}  // namespace printrelay
