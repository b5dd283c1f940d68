#include "core/notification_routing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "rule_test_support.h"

namespace printrelay {
namespace {

using namespace rule_test;

Json rules_json() {
  return Json::parse(R"([
    {"name": "acme-urgent", "types": ["alert", "trouble"], "min_urgency": "high",
     "customers": ["ACME"], "emails": ["ops@Acme.Example", "dealer@example.com"],
     "webhooks": "https://hooks.example.com/acme"},
    {"name": "toner", "types": "supply_low", "emails": ["supplies@example.com"], "contact": true},
    {"name": "all-4070", "models": ["MX-4070"], "emails": ["DEALER@example.com"],
     "webhooks": ["https://hooks.example.com/fleet"]},
    {"name": "old", "enabled": false, "emails": ["old@example.com"]}
  ])");
}

std::vector<NotificationRule> rules() {
  auto r = parse_notification_rules(rules_json());
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : std::vector<NotificationRule>{};
}

NotificationEvent event(const std::string& type, Urgency u, const std::string& customer = "ACME",
                        const std::string& model = "MX-4070") {
  NotificationEvent e;
  e.type = type;
  e.urgency = u;
  e.serial = "SIM-0001";
  e.model = model;
  e.customer = customer;
  e.contact = "Installer@Customer.Example";
  return e;
}

TEST(NotificationRules, ParseNormalisesAndRoundTrips) {
  auto r = rules();
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].emails, (std::vector<std::string>{"ops@acme.example", "dealer@example.com"}));
  EXPECT_EQ(r[0].webhooks, std::vector<std::string>{"https://hooks.example.com/acme"});
  EXPECT_EQ(r[0].min_urgency, Urgency::kHigh);
  EXPECT_EQ(r[1].types, std::vector<std::string>{"supply_low"});
  EXPECT_TRUE(r[1].contact);
  EXPECT_FALSE(r[3].enabled);
  Json j = to_json(r);
  auto back = parse_notification_rules(j);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_json(*back), j);
  auto none = parse_notification_rules(Json::array());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(parse_notification_rules(nullptr).ok());
}

TEST(NotificationRules, RefusesBadRulesNamingTheField) {
  struct Case {
    const char* json;
    const char* part;
  };
  for (const auto& c : std::initializer_list<Case>{
           {R"([{"name": "a", "emails": ["x@y.z"], "emial": []}])",
            "notification rule 1 ('a') has an unknown field 'emial'"},
           {R"([{"emails": ["x@y.z"]}])", "notification rule 1 needs a 'name'"},
           {R"([{"name": "", "emails": ["x@y.z"]}])", "name must be 1..64 characters"},
           {R"([{"name": "a"}])", "has no target"},
           {R"([{"name": "a", "emails": []}])", "has no target"},
           {R"([{"name": "a", "emails": ["x@y.z"]}, {"name": "a", "emails": ["x@y.z"]}])",
            "two rules named 'a'"},
           {R"([{"name": "a", "types": ["alrt"], "emails": ["x@y.z"]}])",
            "types: unknown event type 'alrt'"},
           {R"([{"name": "a", "min_urgency": "urgent", "emails": ["x@y.z"]}])",
            "min_urgency must be low, normal, high or fatal"},
           {R"([{"name": "a", "emails": ["not-an-address"]}])", "is not an e-mail address"},
           {R"([{"name": "a", "emails": ["Bob <bob@x.example>"]}])", "is not an e-mail address"},
           {R"([{"name": "a", "emails": ["bob@x.example\r\nBcc: all@x.example"]}])",
            "must not contain control characters"},
           {R"([{"name": "a", "emails": ["a@b@c"]}])", "is not an e-mail address"},
           {R"([{"name": "a", "emails": ["a@-b.example"]}])", "is not an e-mail address"},
           {R"([{"name": "a", "emails": ["a..b@c.example"]}])", "is not an e-mail address"},
           {R"([{"name": "a", "emails": ["x@y.z", "X@Y.z"]}])", "lists 'X@Y.z' twice"},
           {R"([{"name": "a", "webhooks": ["ftp://x.example/h"]}])",
            "is not an http:// or https://"},
           {R"([{"name": "a", "webhooks": ["https://"]}])", "is not an http:// or https://"},
           {R"([{"name": "a", "webhooks": ["https://x.example/a b"]}])",
            "is not an http:// or https://"},
           {R"([{"name": "a", "webhooks": ["https://:443/x"]}])", "is not an http:// or https://"},
           {R"([{"name": "a", "webhooks": ["https://h.example", "https://h.example"]}])",
            "lists 'https://h.example' twice"},
           {R"([{"name": "a", "emails": ["x@y.z"], "enabled": "no"}])",
            "enabled must be true or false"},
           {R"([{"name": "a", "emails": ["x@y.z"], "customers": [""]}])",
            "customers[0] must be 1..128"},
           {R"([{"name": "a", "emails": ["x@y.z"], "models": 4070}])",
            "models must be a string or an array of strings"},
           {R"(["a"])", "notification rule 1 must be an object"},
           {R"({"name": "a"})", "must be an array"},
       }) {
    expect_bad_input(parse_notification_rules(Json::parse(c.json)), c.part);
  }
  Json many = Json::array();
  Json one = {{"name", "n"}, {"emails", Json::array()}};
  for (int i = 0; i < 33; ++i) one["emails"].push_back("a" + std::to_string(i) + "@x.example");
  many.push_back(one);
  expect_bad_input(parse_notification_rules(many), "has more than 32 entries");
  one["emails"].erase(0);
  one["webhooks"] = {"https://x.example"};
  many[0] = one;
  expect_bad_input(parse_notification_rules(many), "has more than 32 targets");
  Json lots = Json::array();
  for (int i = 0; i < 257; ++i) {
    lots.push_back({{"name", "r" + std::to_string(i)}, {"emails", {"a@x.example"}}});
  }
  expect_bad_input(parse_notification_rules(lots), "at most 256 notification rules");
  // Accepted forms at the edges.
  EXPECT_TRUE(parse_notification_rules(Json::parse(R"([{"name": "a", "emails": ["a@b"],
                                   "webhooks": ["HTTP://user:pw@[::1]:8080/h?x=1"]}])"))
                  .ok());
}

TEST(Route, MatchesTypeUrgencyCustomerAndModelDeduplicated) {
  auto r = rules();
  // A fatal alert at ACME: the urgent rule, then the 4070 rule (its dealer address is the same
  // mailbox in other case: once, credited to the first rule).
  auto t = route(r, event("alert", Urgency::kFatal));
  ASSERT_TRUE(t.ok()) << t.error().message;
  std::vector<RouteTarget> want = {
      {Channel::kEmail, "ops@acme.example", "acme-urgent"},
      {Channel::kEmail, "dealer@example.com", "acme-urgent"},
      {Channel::kWebhook, "https://hooks.example.com/acme", "acme-urgent"},
      {Channel::kWebhook, "https://hooks.example.com/fleet", "all-4070"},
  };
  EXPECT_EQ(*t, want);

  // Urgency exactly at the minimum matches; one below does not.
  EXPECT_EQ(route(r, event("alert", Urgency::kHigh))->size(), 4u);
  auto normal = route(r, event("alert", Urgency::kNormal));
  ASSERT_TRUE(normal.ok());
  std::vector<RouteTarget> fleet_only = {
      {Channel::kEmail, "DEALER@example.com", "all-4070"},
      {Channel::kWebhook, "https://hooks.example.com/fleet", "all-4070"},
  };
  EXPECT_EQ(*normal, fleet_only);

  // Another customer and model: nothing but what matches everything (the disabled rule never).
  auto other = route(r, event("trouble", Urgency::kFatal, "Globex", "MX-3050"));
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());

  // Supply low mails the device's contact too (seed 002: the installer), domain lower-cased.
  auto toner = route(r, event("supply_low", Urgency::kNormal, "Globex", "MX-3050"));
  ASSERT_TRUE(toner.ok());
  std::vector<RouteTarget> toner_want = {
      {Channel::kEmail, "supplies@example.com", "toner"},
      {Channel::kEmail, "Installer@customer.example", "toner"},
  };
  EXPECT_EQ(*toner, toner_want);
  auto no_contact = event("supply_low", Urgency::kNormal, "Globex", "MX-3050");
  no_contact.contact = "call Bob on 555-1234";
  EXPECT_EQ(route(r, no_contact)->size(), 1u);

  expect_bad_input(route(r, event("alrt", Urgency::kFatal)), "unknown notification event type");
  auto empty = route({}, event("alert", Urgency::kFatal));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(to_json(want[0]),
            Json({{"channel", "email"}, {"target", "ops@acme.example"}, {"rule", "acme-urgent"}}));
}

TEST(Route, SerialsAndEmptyConditionsMatchEverything) {
  auto r = parse_notification_rules(Json::parse(R"([
    {"name": "one-device", "serials": ["SIM-0002"], "webhooks": ["https://h.example/one"]},
    {"name": "everything", "emails": "noc@example.com"}
  ])"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  for (const auto& type : notification_event_types()) {
    auto t = route(*r, event(type, Urgency::kLow, "", ""));
    ASSERT_TRUE(t.ok());
    ASSERT_EQ(t->size(), 1u) << type;
    EXPECT_EQ((*t)[0].rule, "everything");
  }
  auto e = event("job_failed", Urgency::kLow);
  e.serial = "SIM-0002";
  auto t = route(*r, e);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].rule, "one-device");
}

}  // namespace
}  // namespace printrelay
