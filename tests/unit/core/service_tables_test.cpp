#include "core/service_tables.h"

#include <gtest/gtest.h>

namespace printrelay {
namespace {

TEST(ErrorContentTable, ParsesAndRoundTrips) {
  Json j = Json::parse(R"([
    {"code": "SC542", "text": "Fuser temperature abnormal", "action": "Replace the thermistor",
     "urgency": "high"},
    {"code": "J-TRAY2", "text": "Paper jam at tray 2 \u2013 pickup"}])");
  auto t = parse_error_content_table(j);
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ(t->at("SC542").action, "Replace the thermistor");
  EXPECT_EQ(t->at("SC542").urgency, Urgency::kHigh);
  EXPECT_FALSE(t->at("J-TRAY2").urgency);
  auto again = parse_error_content_table(to_json(*t));
  ASSERT_TRUE(again);
  EXPECT_EQ(to_json(*again), to_json(*t));
}

TEST(ErrorContentTable, RefusesBadEntriesNamingThem) {
  auto expect_bad = [](const char* text, const char* needle) {
    auto t = parse_error_content_table(Json::parse(text));
    ASSERT_FALSE(t) << text;
    EXPECT_EQ(t.error().kind, ErrorKind::kBadInput);
    EXPECT_NE(t.error().message.find(needle), std::string::npos) << t.error().message;
  };
  expect_bad(R"({"code": "SC1"})", "array");
  expect_bad(R"([{"code": "SC1", "text": "a", "acton": "typo"}])",
             "error_codes[0] has an unknown field 'acton' (known: code, text, action, urgency)");
  expect_bad(R"([{"text": "a"}])", "'code' is required");
  expect_bad(R"([{"code": "SC 1", "text": "a"}])", "code must be");
  expect_bad(R"([{"code": "SC1", "text": ""}])", "text must be");
  expect_bad(R"([{"code": "SC1", "text": "a\nBcc: x@y"}])", "text must be");
  expect_bad(R"([{"code": "SC1", "text": "a", "urgency": "urgent"}])", "urgency");
  expect_bad(R"([{"code": "SC1", "text": "a"}, {"code": "SC1", "text": "b"}])", "listed twice");
  std::string bad_utf8 = "[{\"code\": \"SC1\", \"text\": \"ok\"}]";
  auto t = parse_error_content_table(
      Json::array({Json{{"code", "SC1"}, {"text", std::string("caf\xc3", 4)}}}));
  EXPECT_FALSE(t);
}

TEST(OrderContentTable, RepliesWithThePartName) {
  auto t = parse_order_content_table(
      Json::parse(R"([{"code": "TYPE2-K", "text": "Toner cartridge Type 2, black"}])"));
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(order_reply_text(*t, "TYPE2-K", 2),
            "Order accepted: 2 x Toner cartridge Type 2, black (TYPE2-K). Delivery will be "
            "arranged.");
  EXPECT_EQ(order_reply_text(*t, "staples", 1),
            "Order accepted: 1 x staples. Delivery will be arranged.");
  EXPECT_FALSE(parse_order_content_table(
      Json::parse(R"([{"code": "TYPE2-K", "text": "x", "action": "no such field"}])")));
}

JobEnvelope authorisation(const std::string& id, std::map<std::string, std::string> versions,
                          std::optional<TimeMs> expires = 1'800'000'000'000) {
  JobEnvelope e;
  e.id = id;
  e.serial = kAnyDevice;
  e.kind = JobKind::kFirmware;
  Json comps = Json::array();
  for (const auto& [c, v] : versions)
    comps.push_back({{"component", c}, {"version", v}, {"artifact", std::string(64, 'a')}});
  e.params = {{"components", comps}};
  e.expires_at = expires;
  e.key_id = "0011223344556677";
  e.signed_at = 1'790'000'000'000;
  return e;
}

Json entry(const std::string& model, const JobEnvelope& e) {
  return {{"model", model},
          {"envelope", {{"text", *envelope_text(e)}, {"signature", std::string(128, 'b')}}}};
}

TEST(AutoUpdateAuthorisations, ParseAndFindTheOneThatFits) {
  Json j =
      Json::array({entry("MX-4070", authorisation("auth-adf-only-000001", {{"adf", "1.0.0"}})),
                   entry("MX-4070", authorisation("auth-adf-main-000002",
                                                  {{"adf", "1.0.0"}, {"main", "2.0.0"}})),
                   entry("MX-5000", authorisation("auth-other-model-003", {{"adf", "1.0.0"}}))});
  auto list = parse_auto_update_authorisations(j);
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 3u);
  const TimeMs now = 1'795'000'000'000;
  auto* exact = find_authorisation(*list, "MX-4070", {{"adf", "1.0.0"}}, now);
  ASSERT_NE(exact, nullptr);
  EXPECT_EQ(exact->parsed.id, "auth-adf-only-000001");
  auto* both = find_authorisation(*list, "MX-4070", {{"adf", "1.0.0"}, {"main", "2.0.0"}}, now);
  ASSERT_NE(both, nullptr);
  EXPECT_EQ(both->parsed.id, "auth-adf-main-000002");
  EXPECT_EQ(find_authorisation(*list, "MX-4070", {{"main", "2.0.0"}}, now)->parsed.id,
            "auth-adf-main-000002");
  EXPECT_EQ(find_authorisation(*list, "MX-4070", {{"adf", "1.0.1"}}, now), nullptr);
  EXPECT_EQ(find_authorisation(*list, "MX-9", {{"adf", "1.0.0"}}, now), nullptr);
  // Expired authorisations are never used.
  EXPECT_EQ(find_authorisation(*list, "MX-4070", {{"adf", "1.0.0"}}, 1'800'000'000'000), nullptr);
  EXPECT_EQ(to_json(*list), j);
}

TEST(AutoUpdateAuthorisations, RefuseEnvelopesForOneDeviceAndDuplicates) {
  auto one = authorisation("auth-one-device-00001", {{"adf", "1.0.0"}});
  one.serial = "SIM-0001";
  auto r = parse_auto_update_authorisations(Json::array({entry("MX-4070", one)}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("serial *"), std::string::npos) << r.error().message;
  auto a = authorisation("auth-dup-00000000001", {{"adf", "1.0.0"}});
  auto b = authorisation("auth-dup-00000000002", {{"adf", "1.0.0"}});
  auto dup =
      parse_auto_update_authorisations(Json::array({entry("MX-4070", a), entry("MX-4070", b)}));
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("already has"), std::string::npos);
  Json no_model = entry("MX-4070", a);
  no_model.erase("model");
  EXPECT_FALSE(parse_auto_update_authorisations(Json::array({no_model})));
}

}  // namespace
}  // namespace printrelay
