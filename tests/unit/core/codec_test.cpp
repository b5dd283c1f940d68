#include "core/codec.h"

#include <gtest/gtest.h>

#include "core/sha256.h"

namespace printrelay {

Json good_report() {
  return Json::parse(R"({"id":"r-1","kind":"counters","created_at":"2026-11-23T09:00:00Z",
                         "body":{"total":10}})");
}

TEST(Codec, ParsesAReport) {
  auto r = parse_report(good_report());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->id, "r-1");
  EXPECT_EQ(r->urgency, Urgency::kNormal);
  EXPECT_EQ(r->body["total"], 10);
}

TEST(Codec, CanonicalFormIsStableAcrossKeyOrder) {
  auto a = parse_report(good_report());
  auto b = parse_report(Json::parse(
      R"({"body":{"total":10},"created_at":"2026-11-23T09:00:00.000Z","kind":"counters","id":"r-1"})"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(canonical_report(*a), canonical_report(*b));
  EXPECT_EQ(sha256_hex(canonical_report(*a)).size(), 64u);
}

TEST(Codec, RejectsBadReports) {
  auto bad = [](const char* patch) {
    Json j = good_report();
    j.merge_patch(Json::parse(patch));
    return parse_report(j);
  };
  EXPECT_FALSE(bad(R"({"id": null})").ok());
  EXPECT_FALSE(bad(R"({"id": "has space"})").ok());
  EXPECT_FALSE(bad(R"({"id": 7})").ok());
  EXPECT_FALSE(bad(R"({"kind": "weather"})").ok());
  EXPECT_FALSE(bad(R"({"created_at": "soon"})").ok());
  EXPECT_FALSE(bad(R"({"urgency": "meh"})").ok());
  EXPECT_FALSE(bad(R"({"body": [1,2]})").ok());
  Json big = good_report();
  big["body"]["blob"] = std::string(kMaxReportBodyBytes, 'x');
  auto r = parse_report(big);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kTooLarge);
}

TEST(Codec, ParseBodyRejectsNonObjectsAndOversize) {
  EXPECT_FALSE(parse_body("{").ok());
  EXPECT_FALSE(parse_body("[1]").ok());
  EXPECT_TRUE(parse_body("{}").ok());
  auto r = parse_body(std::string(kMaxBodyBytes + 1, ' '));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kTooLarge);
}

// A job from a parent relay is parsed without checking its params: writing it back must not
// throw on a data set that is not a string (found by fuzz_body).
TEST(Codec, AJobWithOddParamsIsWrittenBackWithoutThrowing) {
  auto job = parse_job(Json::parse(
      R"({"id":"job-1","serial":"MFP-0001","kind":"collect","params":{"data_sets":[1,"counters"]}})"));
  ASSERT_TRUE(job.ok()) << job.error().message;
  Json out;
  EXPECT_NO_THROW(out = to_json(*job));
  EXPECT_EQ(out["serial"], "MFP-0001");
}

TEST(Codec, JobRequestValidatesParamsPerKind) {
  TimeMs now = 1795000000000;
  auto req = [&](const char* s) { return parse_job_request(Json::parse(s), now); };
  EXPECT_TRUE(req(R"({"serial":"S1","kind":"collect","params":{"data_sets":["counters"]}})").ok());
  EXPECT_FALSE(req(R"({"serial":"S1","kind":"collect","params":{"data_sets":[]}})").ok());
  EXPECT_FALSE(req(R"({"serial":"S1","kind":"collect","params":{"data_sets":["weather"]}})").ok());
  EXPECT_TRUE(
      req(R"({"serial":"S1","kind":"configure","params":{"settings":{"sleep_min":5}}})").ok());
  EXPECT_FALSE(req(R"({"serial":"S1","kind":"configure","params":{"settings":{"x":[1]}}})").ok());
  EXPECT_TRUE(
      req(R"({"serial":"S1","kind":"schedule","params":{"poll_policy":{"interval_s":60}}})").ok());
  EXPECT_FALSE(
      req(R"({"serial":"S1","kind":"schedule","params":{"poll_policy":{"interval_s":1}}})").ok());
  EXPECT_FALSE(req(R"({"serial":"S1","kind":"teleport"})").ok());
  EXPECT_FALSE(req(R"({"kind":"reboot"})").ok());
  EXPECT_FALSE(req(R"({"serial":"S1","kind":"reboot","expires_at":"2000-01-01T00:00:00Z"})").ok());
  auto j = req(R"({"serial":"S1","kind":"reboot"})");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->not_before, now);
}

TEST(Codec, PollPolicyRoundTrip) {
  auto p = parse_poll_policy(Json::parse(
      R"({"interval_s":600,"times_of_day":["02:00"],"on_power_on":false,
          "conditions":[{"kind":"counter_at_least","counter":"total","value":5},
                        {"kind":"error_code","code":"SC542"}]})"));
  ASSERT_TRUE(p.ok()) << p.error().message;
  auto again = parse_poll_policy(to_json(*p));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(to_json(*again), to_json(*p));
  EXPECT_FALSE(parse_poll_policy(Json::parse(R"({"times_of_day":["25:00"]})")).ok());
  EXPECT_FALSE(parse_poll_policy(Json::parse(R"({"conditions":[{"kind":"moon"}]})")).ok());
}

TEST(Codec, JobEventNeedsReasonWhenFailed) {
  EXPECT_FALSE(parse_job_event(Json::parse(R"({"event_id":"e1","type":"failed"})"), "j").ok());
  EXPECT_TRUE(
      parse_job_event(Json::parse(R"({"event_id":"e1","type":"failed","reason":"x"})"), "j").ok());
  EXPECT_FALSE(parse_job_event(Json::parse(R"({"event_id":"e1","type":"exploded"})"), "j").ok());
}

TEST(Codec, ErrorJsonShape) {
  auto j = error_json(bad_input("nope"));
  EXPECT_EQ(j["error"]["code"], "bad_input");
  EXPECT_EQ(j["error"]["message"], "nope");
}

}  // namespace printrelay

namespace printrelay {

TEST(Codec, LenientAccessorsNeverThrowOnWrongTypes) {
  Json j = {{"s", 5}, {"i", "x"}, {"b", 1}};
  EXPECT_EQ(text_field(j, "s", "fb"), "fb");
  EXPECT_EQ(int_field(j, "i", 7), 7);
  EXPECT_TRUE(bool_field(j, "b", true));
  EXPECT_EQ(text_field(Json::array(), "s"), "");
  EXPECT_EQ(text_field(Json{{"s", "ok"}}, "s"), "ok");
}

TEST(Codec, PollConditionWithNumericKindIsBadInputNotACrash) {
  auto p = parse_poll_policy(Json::parse(R"({"conditions":[{"kind":7}]})"));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().kind, ErrorKind::kBadInput);
}

}  // namespace printrelay
