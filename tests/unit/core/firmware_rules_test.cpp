#include "core/firmware_rules.h"

#include <gtest/gtest.h>

namespace printrelay {
namespace {

constexpr TimeMs kMin = 60 * 1000;
constexpr TimeMs kHour = 60 * kMin;

// 2026-11-23 is a Monday.
TimeMs at(const char* rfc3339) {
  auto t = parse_time(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return t.ok() ? *t : 0;
}

ForbiddenWindow window(const char* text, int offset_min = 0) {
  auto w = parse_forbidden_window_text(text, offset_min);
  EXPECT_TRUE(w.ok()) << text << ": " << (w.ok() ? "" : w.error().message);
  return w.ok() ? *w : ForbiddenWindow{};
}

void expect_bad_input(const Error& e, const std::string& part) {
  EXPECT_EQ(e.kind, ErrorKind::kBadInput);
  EXPECT_NE(e.message.find(part), std::string::npos) << e.message;
}

WeekdaySet day_bits(std::initializer_list<int> days) {
  WeekdaySet s = 0;
  for (int d : days) s = WeekdaySet(s | (1u << d));
  return s;
}

// ----- 1. windows: parsing -----

TEST(ForbiddenWindowParse, TextForms) {
  auto w = window("09:00-17:00");
  EXPECT_EQ(w.from_min, 9 * 60);
  EXPECT_EQ(w.to_min, 17 * 60);
  EXPECT_EQ(w.days, kEveryDay);
  EXPECT_EQ(w.utc_offset_min, 0);

  EXPECT_EQ(window("mon-fri 09:00-17:00").days, day_bits({1, 2, 3, 4, 5}));
  EXPECT_EQ(window("sat,sun 00:00-24:00").to_min, kMinutesPerDay);
  EXPECT_EQ(window("sat,sun 00:00-24:00").days, day_bits({0, 6}));
  EXPECT_EQ(window("fri-mon 22:00-06:00").days, day_bits({5, 6, 0, 1}));  // wraps the weekend
  EXPECT_EQ(window("Monday, WED 08:00-09:00").days, day_bits({1, 3}));
  EXPECT_EQ(window("  tue-tue 08:00-09:00 ").days, day_bits({2}));
  EXPECT_EQ(window("09:00-17:00", 60).utc_offset_min, 60);
}

TEST(ForbiddenWindowParse, TextErrorsAreClear) {
  struct Case {
    const char* text;
    const char* part;
  };
  for (auto [text, part] : std::initializer_list<Case>{
           {"9:00-17:00", "like \"09:00-17:00\""},
           {"09:00-17:00x", "like \"09:00-17:00\""},
           {"09:00 17:00", "unknown day"},
           {"", "like \"09:00-17:00\""},
           {"09:00-09:00", "is empty; use 00:00-24:00"},
           {"24:00-06:00", "24:00 is allowed as an end only"},
           {"25:00-26:00", "out of range"},
           {"09:00-17:60", "out of range"},
           {"funday 09:00-17:00", "unknown day 'funday'"},
           {"mon-xyz 09:00-17:00", "unknown day range"},
           {"mon-fri", "like \"09:00-17:00\""},
       }) {
    auto w = parse_forbidden_window_text(text);
    ASSERT_FALSE(w.ok()) << text;
    expect_bad_input(w.error(), part);
  }
  auto off = parse_forbidden_window_text("09:00-17:00", 841);
  ASSERT_FALSE(off.ok());
  expect_bad_input(off.error(), "utc_offset_min must be -720..840");
}

TEST(ForbiddenWindowParse, JsonObject) {
  auto w = parse_forbidden_window(
      Json{{"from", "09:00"}, {"to", "17:00"}, {"days", {"mon", "tue", "thu-fri"}}});
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_EQ(w->from_min, 540);
  EXPECT_EQ(w->to_min, 1020);
  EXPECT_EQ(w->days, day_bits({1, 2, 4, 5}));

  auto s = parse_forbidden_window(Json{{"from", "22:00"}, {"to", "06:00"}, {"days", "mon-fri"}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->days, day_bits({1, 2, 3, 4, 5}));

  // The customer's offset applies unless the window names its own.
  auto c = parse_forbidden_window(Json{{"from", "09:00"}, {"to", "17:00"}}, 60);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->utc_offset_min, 60);
  auto o = parse_forbidden_window(
      Json{{"from", "09:00"}, {"to", "17:00"}, {"utc_offset_min", -300}}, 60);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->utc_offset_min, -300);

  auto str = parse_forbidden_window(Json("mon-fri 09:00-17:00"));
  ASSERT_TRUE(str.ok());
  EXPECT_EQ(str->days, day_bits({1, 2, 3, 4, 5}));
}

TEST(ForbiddenWindowParse, JsonErrorsAreClear) {
  struct Case {
    Json j;
    const char* part;
  };
  std::vector<Case> cases = {
      {Json{{"from", "09:00"}, {"to", "17:00"}, {"dayz", {"mon"}}}, "unknown field 'dayz'"},
      {Json{{"to", "17:00"}}, "needs \"from\""},
      {Json{{"from", "09:00"}}, "needs \"to\""},
      {Json{{"from", 9}, {"to", "17:00"}}, "needs \"from\""},
      {Json{{"from", "24:00"}, {"to", "06:00"}}, "24:00 is allowed as an end only"},
      {Json{{"from", "09:00"}, {"to", "17:61"}}, "to: time of day out of range"},
      {Json{{"from", "09:00"}, {"to", "17:00"}, {"days", Json::array()}}, "days is empty"},
      {Json{{"from", "09:00"}, {"to", "17:00"}, {"days", {1, 2}}}, "names like \"mon\""},
      {Json{{"from", "09:00"}, {"to", "17:00"}, {"days", 5}}, "must be an array"},
      {Json{{"from", "09:00"}, {"to", "17:00"}, {"days", {"mon", "someday"}}}, "'someday'"},
      {Json{{"from", "09:00"}, {"to", "17:00"}, {"utc_offset_min", "+01:00"}},
       "utc_offset_min must be an integer"},
      {Json{{"from", "09:00"}, {"to", "17:00"}, {"utc_offset_min", -721}}, "-720..840: -721"},
      {Json{{"from", "09:00"}, {"to", "09:00"}}, "is empty"},
      {Json(42), "must be a string"},
  };
  for (const auto& c : cases) {
    auto w = parse_forbidden_window(c.j);
    ASSERT_FALSE(w.ok()) << c.j.dump();
    expect_bad_input(w.error(), c.part);
  }
}

TEST(ForbiddenWindowParse, Lists) {
  auto none = parse_forbidden_windows(Json(nullptr));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  auto one = parse_forbidden_windows(Json("09:00-17:00"));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);

  auto two = parse_forbidden_windows(
      Json::array({"mon-fri 09:00-17:00", Json{{"from", "22:00"}, {"to", "06:00"}}}), 60);
  ASSERT_TRUE(two.ok()) << two.error().message;
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].from_min, 22 * 60);
  EXPECT_EQ((*two)[1].utc_offset_min, 60);

  auto bad = parse_forbidden_windows(Json::array({"09:00-17:00", "9-17"}));
  ASSERT_FALSE(bad.ok());
  expect_bad_input(bad.error(), "forbidden_windows[1]:");

  Json many = Json::array();
  for (std::size_t i = 0; i <= kMaxForbiddenWindows; ++i) many.push_back("09:00-10:00");
  auto too_many = parse_forbidden_windows(many);
  ASSERT_FALSE(too_many.ok());
  expect_bad_input(too_many.error(), "at most 32");

  // A set that leaves no minute of the week is refused: the update could never run.
  auto whole = parse_forbidden_windows(Json::array({"00:00-12:00", "12:00-24:00"}));
  ASSERT_FALSE(whole.ok());
  expect_bad_input(whole.error(), "cover the whole week");
  auto weekdays_only = parse_forbidden_windows(Json::array({"mon-fri 00:00-24:00"}));
  EXPECT_TRUE(weekdays_only.ok());

  auto bad_offset = parse_forbidden_windows(Json(nullptr), 900);
  ASSERT_FALSE(bad_offset.ok());
  expect_bad_input(bad_offset.error(), "utc_offset_min");
}

TEST(ForbiddenWindowParse, TextAndJsonRoundTrip) {
  for (const char* text : {"09:00-17:00", "mon-fri 09:00-17:00", "sat,sun 00:00-24:00",
                           "mon,wed,fri 22:00-06:00", "mon,tue,thu-sun 12:30-13:15"}) {
    auto w = window(text);
    EXPECT_EQ(to_text(w), text);
    auto back = parse_forbidden_window(to_json(w));
    ASSERT_TRUE(back.ok()) << to_json(w).dump();
    EXPECT_EQ(to_text(*back), text);
    EXPECT_EQ(back->days, w.days);
  }
  // Input ranges are normalised to Monday-first text.
  EXPECT_EQ(to_text(window("fri-mon 22:00-06:00")), "mon,fri-sun 22:00-06:00");
  EXPECT_EQ(to_json(window("09:00-17:00", 60)),
            (Json{{"from", "09:00"}, {"to", "17:00"}, {"utc_offset_min", 60}}));
  EXPECT_EQ(to_json(window("sat,sun 00:00-24:00"))["days"], (Json{"sat", "sun"}));
}

// ----- 1. windows: next allowed time -----

TEST(NextAllowedTime, NoWindowsOrOutsideKeepsTheTime) {
  TimeMs t = at("2026-11-23T10:00:00Z");
  EXPECT_EQ(next_allowed_time({}, t), t);
  std::vector<ForbiddenWindow> ws = {window("09:00-17:00")};
  EXPECT_EQ(next_allowed_time(ws, at("2026-11-23T08:59:59.999Z")), at("2026-11-23T08:59:59.999Z"));
  auto move = plan_update_time(ws, at("2026-11-23T18:00:00Z"));
  ASSERT_TRUE(move.ok());
  EXPECT_FALSE(move->moved());
  EXPECT_TRUE(move->reason.empty());
  EXPECT_TRUE(move->windows.empty());
}

TEST(NextAllowedTime, StartIsForbiddenEndIsAllowed) {
  std::vector<ForbiddenWindow> ws = {window("09:00-17:00")};
  EXPECT_EQ(next_allowed_time(ws, at("2026-11-23T09:00:00Z")), at("2026-11-23T17:00:00Z"));
  EXPECT_EQ(next_allowed_time(ws, at("2026-11-23T16:59:59.999Z")), at("2026-11-23T17:00:00Z"));
  EXPECT_EQ(next_allowed_time(ws, at("2026-11-23T17:00:00Z")), at("2026-11-23T17:00:00Z"));
}

TEST(NextAllowedTime, MoveIsExplained) {
  std::vector<ForbiddenWindow> ws = {window("09:00-17:00")};
  auto move = plan_update_time(ws, at("2026-11-23T10:00:00Z"));
  ASSERT_TRUE(move.ok());
  EXPECT_TRUE(move->moved());
  EXPECT_EQ(move->wanted, at("2026-11-23T10:00:00Z"));
  EXPECT_EQ(move->at, at("2026-11-23T17:00:00Z"));
  EXPECT_EQ(move->windows, std::vector<std::size_t>{0});
  EXPECT_EQ(move->reason, "moved from 10:00 to 17:00: inside forbidden window 09:00-17:00");
}

TEST(NextAllowedTime, WindowWrappingMidnight) {
  std::vector<ForbiddenWindow> ws = {window("22:00-06:00")};
  EXPECT_EQ(next_allowed_time(ws, at("2026-11-23T21:59:00Z")), at("2026-11-23T21:59:00Z"));
  EXPECT_EQ(next_allowed_time(ws, at("2026-11-23T22:00:00Z")), at("2026-11-24T06:00:00Z"));
  EXPECT_EQ(next_allowed_time(ws, at("2026-11-24T03:00:00Z")), at("2026-11-24T06:00:00Z"));
  EXPECT_EQ(next_allowed_time(ws, at("2026-11-24T06:00:00Z")), at("2026-11-24T06:00:00Z"));
  auto move = plan_update_time(ws, at("2026-11-23T23:30:00Z"));
  ASSERT_TRUE(move.ok());
  EXPECT_EQ(move->reason,
            "moved from 2026-11-23 23:30 to 2026-11-24 06:00: inside forbidden window 22:00-06:00");
  // Within one local day the reason keeps to times of day.
  EXPECT_EQ(plan_update_time(ws, at("2026-11-24T03:00:00Z"))->reason,
            "moved from 03:00 to 06:00: inside forbidden window 22:00-06:00");
}

TEST(NextAllowedTime, ChainedAndOverlappingWindows) {
  std::vector<ForbiddenWindow> chained = {window("09:00-12:00"), window("12:00-17:00")};
  auto move = plan_update_time(chained, at("2026-11-23T10:00:00Z"));
  ASSERT_TRUE(move.ok());
  EXPECT_EQ(move->at, at("2026-11-23T17:00:00Z"));
  EXPECT_EQ(move->windows, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(move->reason,
            "moved from 10:00 to 17:00: inside forbidden windows 09:00-12:00, 12:00-17:00");

  // The order of the list does not matter.
  std::vector<ForbiddenWindow> reversed = {window("12:00-17:00"), window("09:00-12:00")};
  EXPECT_EQ(next_allowed_time(reversed, at("2026-11-23T10:00:00Z")), at("2026-11-23T17:00:00Z"));

  std::vector<ForbiddenWindow> overlapping = {window("09:00-13:00"), window("12:00-17:00")};
  EXPECT_EQ(next_allowed_time(overlapping, at("2026-11-23T09:30:00Z")), at("2026-11-23T17:00:00Z"));
  // A window inside another does not shorten it.
  std::vector<ForbiddenWindow> nested = {window("09:00-17:00"), window("10:00-11:00")};
  EXPECT_EQ(next_allowed_time(nested, at("2026-11-23T10:30:00Z")), at("2026-11-23T17:00:00Z"));

  // Evening and night windows chain over midnight into the next day.
  std::vector<ForbiddenWindow> night = {window("18:00-24:00"), window("00:00-08:00")};
  EXPECT_EQ(next_allowed_time(night, at("2026-11-23T19:00:00Z")), at("2026-11-24T08:00:00Z"));
}

TEST(NextAllowedTime, WeekdayFilter) {
  std::vector<ForbiddenWindow> ws = {window("mon-fri 09:00-17:00")};
  EXPECT_EQ(next_allowed_time(ws, at("2026-11-27T10:00:00Z")), at("2026-11-27T17:00:00Z"));  // Fri
  EXPECT_EQ(next_allowed_time(ws, at("2026-11-28T10:00:00Z")), at("2026-11-28T10:00:00Z"));  // Sat
  EXPECT_EQ(next_allowed_time(ws, at("2026-11-29T10:00:00Z")), at("2026-11-29T10:00:00Z"));  // Sun

  // A wrapping window belongs to the day it starts on.
  std::vector<ForbiddenWindow> fri_night = {window("fri 22:00-06:00")};
  EXPECT_EQ(next_allowed_time(fri_night, at("2026-11-28T03:00:00Z")),
            at("2026-11-28T06:00:00Z"));  // Saturday early: Friday's window
  EXPECT_EQ(next_allowed_time(fri_night, at("2026-11-27T03:00:00Z")),
            at("2026-11-27T03:00:00Z"));  // Friday early: Thursday's, not selected

  // Business evenings and the whole weekend chain from Friday evening to Monday 00:00 and on
  // into Monday's early window.
  std::vector<ForbiddenWindow> chain = {window("mon-fri 17:00-24:00"),
                                        window("sat,sun 00:00-24:00"), window("mon 00:00-06:00")};
  auto move = plan_update_time(chain, at("2026-11-27T17:30:00Z"));
  ASSERT_TRUE(move.ok());
  EXPECT_EQ(move->at, at("2026-11-30T06:00:00Z"));
  EXPECT_EQ(move->windows, (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(move->reason,
            "moved from 2026-11-27 17:30 to 2026-11-30 06:00: inside forbidden windows "
            "mon-fri 17:00-24:00, sat,sun 00:00-24:00, mon 00:00-06:00");
}

TEST(NextAllowedTime, UtcOffsets) {
  // CET (+01:00): 09:00-17:00 local is 08:00-16:00 UTC.
  std::vector<ForbiddenWindow> cet = {window("09:00-17:00", 60)};
  EXPECT_EQ(next_allowed_time(cet, at("2026-11-23T07:59:00Z")), at("2026-11-23T07:59:00Z"));
  EXPECT_EQ(next_allowed_time(cet, at("2026-11-23T08:00:00Z")), at("2026-11-23T16:00:00Z"));
  EXPECT_EQ(next_allowed_time(cet, at("2026-11-23T16:00:00Z")), at("2026-11-23T16:00:00Z"));
  auto move = plan_update_time(cet, at("2026-11-23T09:00:00Z"));
  ASSERT_TRUE(move.ok());
  EXPECT_EQ(move->reason,
            "moved from 10:00 to 17:00 (UTC+01:00): inside forbidden window 09:00-17:00");

  // EST (-05:00): 09:00-17:00 local is 14:00-22:00 UTC.
  std::vector<ForbiddenWindow> est = {window("09:00-17:00", -300)};
  EXPECT_EQ(next_allowed_time(est, at("2026-11-23T13:59:00Z")), at("2026-11-23T13:59:00Z"));
  EXPECT_EQ(next_allowed_time(est, at("2026-11-23T21:00:00Z")), at("2026-11-23T22:00:00Z"));
  EXPECT_NE(plan_update_time(est, at("2026-11-23T21:00:00Z"))->reason.find("(UTC-05:00)"),
            std::string::npos);

  // The weekday is the local one: Monday 00:00-06:00 in Tokyo (+09:00) starts Sunday 15:00 UTC.
  std::vector<ForbiddenWindow> tokyo = {window("mon 00:00-06:00", 540)};
  EXPECT_EQ(next_allowed_time(tokyo, at("2026-11-22T16:00:00Z")), at("2026-11-22T21:00:00Z"));
  EXPECT_EQ(next_allowed_time(tokyo, at("2026-11-23T16:00:00Z")), at("2026-11-23T16:00:00Z"));
  // A half-hour offset (India, +05:30).
  std::vector<ForbiddenWindow> india = {window("09:00-17:00", 330)};
  EXPECT_EQ(next_allowed_time(india, at("2026-11-23T04:00:00Z")), at("2026-11-23T11:30:00Z"));
}

TEST(NextAllowedTime, TimesBeforeTheEpochStillWork) {
  std::vector<ForbiddenWindow> ws = {window("thu 09:00-17:00")};
  // 1969-12-25 was a Thursday.
  EXPECT_EQ(next_allowed_time(ws, at("1969-12-25T10:00:00Z")), at("1969-12-25T17:00:00Z"));
  EXPECT_EQ(next_allowed_time(ws, at("1969-12-26T10:00:00Z")), at("1969-12-26T10:00:00Z"));
}

TEST(NextAllowedTime, WholeWeekForbiddenNeverAllows) {
  std::vector<ForbiddenWindow> all = {window("00:00-24:00")};
  TimeMs t = at("2026-11-23T10:00:00Z");
  EXPECT_EQ(next_allowed_time(all, t), kNeverAllowed);
  auto move = plan_update_time(all, t);
  ASSERT_FALSE(move.ok());
  expect_bad_input(move.error(), "cover the whole week");

  // One free minute a week is found, however far ahead.
  std::vector<ForbiddenWindow> almost = {window("mon,wed-sun 00:00-24:00"),
                                         window("tue 00:00-23:59")};
  EXPECT_EQ(next_allowed_time(almost, t), at("2026-11-24T23:59:00Z"));
  EXPECT_EQ(next_allowed_time(almost, at("2026-11-25T00:00:00Z")), at("2026-12-01T23:59:00Z"));
}

TEST(NextAllowedTime, InvalidWindowIsBadInput) {
  ForbiddenWindow w;
  w.from_min = 600;
  w.to_min = 600;
  auto move = plan_update_time({window("09:00-10:00"), w}, 0);
  ASSERT_FALSE(move.ok());
  expect_bad_input(move.error(), "forbidden_windows[1]: forbidden window 10:00-10:00 is empty");
  w.to_min = 700;
  w.days = 0;
  EXPECT_FALSE(check_forbidden_window(w).ok());
  w.days = 0x80;
  EXPECT_FALSE(check_forbidden_window(w).ok());
  w.days = kEveryDay;
  EXPECT_TRUE(check_forbidden_window(w).ok());
  w.to_min = 1441;
  EXPECT_FALSE(check_forbidden_window(w).ok());
}

// ----- 2. deferral -----

DeferralPolicy policy(int max_count, TimeMs max_period_ms, TimeMs step_ms,
                      DeferralPolicy::WhenExhausted when) {
  DeferralPolicy p;
  p.max_count = max_count;
  p.max_period_ms = max_period_ms;
  p.step_ms = step_ms;
  p.when_exhausted = when;
  return p;
}
constexpr auto kProceed = DeferralPolicy::WhenExhausted::kProceed;
constexpr auto kFail = DeferralPolicy::WhenExhausted::kFail;

TEST(Deferral, FirstDeferralMovesByTheStep) {
  TimeMs now = at("2026-11-23T18:00:00Z");
  auto d = decide_deferral(DeferralPolicy{}, {}, now);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->outcome, DeferralOutcome::kDefer);
  EXPECT_EQ(d->until, now + 20 * kMin);  // seed 004 Fig. 36: 20 min
  EXPECT_EQ(d->reason, "deferred until 2026-11-23T18:20:00.000Z (deferral 1 of at most 3)");
}

TEST(Deferral, CountExhausted) {
  TimeMs first = at("2026-11-23T18:00:00Z");
  TimeMs now = first + kHour;
  auto fail = policy(3, 24 * kHour, 20 * kMin, kFail);
  auto two = decide_deferral(fail, {2, first}, now);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->outcome, DeferralOutcome::kDefer);
  EXPECT_EQ(two->until, now + 20 * kMin);

  auto three = decide_deferral(fail, {3, first}, now);
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->outcome, DeferralOutcome::kFail);
  EXPECT_EQ(three->until, now);
  EXPECT_EQ(three->reason, "deferred 3 times, the maximum");

  auto proceed = decide_deferral(policy(3, 24 * kHour, 20 * kMin, kProceed), {3, first}, now);
  ASSERT_TRUE(proceed.ok());
  EXPECT_EQ(proceed->outcome, DeferralOutcome::kProceed);
  EXPECT_EQ(proceed->until, now);
  EXPECT_EQ(proceed->reason, "deferred 3 times, the maximum; the update proceeds");

  auto once = decide_deferral(policy(1, 24 * kHour, 20 * kMin, kFail), {1, first}, now);
  ASSERT_TRUE(once.ok());
  EXPECT_EQ(once->reason, "deferred 1 time, the maximum");
}

TEST(Deferral, PeriodExhaustedAndLastDeferralCut) {
  TimeMs first = at("2026-11-23T18:00:00Z");
  auto p = policy(10, kHour, 20 * kMin, kFail);
  // 50 min in: the step would overrun the period, so the deferral ends with it.
  auto cut = decide_deferral(p, {3, first}, first + 50 * kMin);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->outcome, DeferralOutcome::kDefer);
  EXPECT_EQ(cut->until, first + kHour);
  auto last_ms = decide_deferral(p, {3, first}, first + kHour - 1);
  ASSERT_TRUE(last_ms.ok());
  EXPECT_EQ(last_ms->outcome, DeferralOutcome::kDefer);
  EXPECT_EQ(last_ms->until, first + kHour);
  // At the end of the period exactly, no more deferral.
  auto end = decide_deferral(p, {3, first}, first + kHour);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->outcome, DeferralOutcome::kFail);
  EXPECT_EQ(end->reason, "deferred for 1 h since 2026-11-23T18:00:00.000Z, the maximum period");
  auto proceed =
      decide_deferral(policy(10, 90 * kMin, 20 * kMin, kProceed), {3, first}, first + 2 * kHour);
  ASSERT_TRUE(proceed.ok());
  EXPECT_EQ(proceed->outcome, DeferralOutcome::kProceed);
  EXPECT_NE(proceed->reason.find("deferred for 1 h 30 min since"), std::string::npos);
  // Whole days from two days up are said in days, as every rule text says them (rule_text.h).
  auto days =
      decide_deferral(policy(10, 48 * kHour, 20 * kMin, kFail), {3, first}, first + 48 * kHour);
  ASSERT_TRUE(days.ok());
  EXPECT_NE(days->reason.find("deferred for 2 days since"), std::string::npos) << days->reason;
}

TEST(Deferral, ZeroLimitsAllowNoDeferral) {
  TimeMs now = at("2026-11-23T18:00:00Z");
  auto no_count = decide_deferral(policy(0, kHour, 20 * kMin, kFail), {}, now);
  ASSERT_TRUE(no_count.ok());
  EXPECT_EQ(no_count->outcome, DeferralOutcome::kFail);
  EXPECT_EQ(no_count->reason, "the job allows no deferral");
  auto no_period = decide_deferral(policy(3, 0, 20 * kMin, kProceed), {}, now);
  ASSERT_TRUE(no_period.ok());
  EXPECT_EQ(no_period->outcome, DeferralOutcome::kProceed);
}

TEST(Deferral, ClockBehindFirstDeferralCountsAsNoTimeElapsed) {
  TimeMs first = at("2026-11-23T18:00:00Z");
  auto p = policy(3, kHour, 20 * kMin, kFail);
  auto d = decide_deferral(p, {1, first}, first - 5 * kMin);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->outcome, DeferralOutcome::kDefer);
  EXPECT_EQ(d->until, first + 15 * kMin);
}

TEST(Deferral, BadInput) {
  TimeMs now = 1000;
  expect_bad_input(decide_deferral(policy(3, kHour, 0, kFail), {}, now).error(), "step");
  expect_bad_input(decide_deferral(policy(-1, kHour, kMin, kFail), {}, now).error(), "max_count");
  expect_bad_input(decide_deferral(policy(3, -1, kMin, kFail), {}, now).error(), "max_period");
  expect_bad_input(decide_deferral(DeferralPolicy{}, {-1, now}, now).error(), "count");
  expect_bad_input(decide_deferral(DeferralPolicy{}, {2, std::nullopt}, now).error(),
                   "first deferral");
  auto weird = policy(3, kHour, kMin, static_cast<DeferralPolicy::WhenExhausted>(7));
  expect_bad_input(decide_deferral(weird, {}, now).error(), "when_exhausted");
}

TEST(Deferral, RecordKeepsTheFirstTime) {
  DeferralHistory h;
  h = record_deferral(h, 100);
  EXPECT_EQ(h.count, 1);
  EXPECT_EQ(h.first_deferred_at, 100);
  h = record_deferral(h, 200);
  EXPECT_EQ(h.count, 2);
  EXPECT_EQ(h.first_deferred_at, 100);
}

TEST(Deferral, PolicyJson) {
  auto d = parse_deferral_policy(Json::object());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->max_count, 3);
  EXPECT_EQ(d->step_ms, 20 * kMin);
  EXPECT_EQ(d->when_exhausted, kProceed);

  Json j = {{"max_count", 5}, {"max_period_s", 7200}, {"step_s", 600}, {"when_exhausted", "fail"}};
  auto p = parse_deferral_policy(j);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->max_count, 5);
  EXPECT_EQ(p->max_period_ms, 2 * kHour);
  EXPECT_EQ(p->step_ms, 10 * kMin);
  EXPECT_EQ(p->when_exhausted, kFail);
  EXPECT_EQ(to_json(*p), j);

  struct Case {
    Json j;
    const char* part;
  };
  std::vector<Case> cases = {
      {Json(3), "must be an object"},
      {Json{{"max_count", -1}}, "max_count must be an integer 0..100"},
      {Json{{"max_count", 101}}, "max_count must be an integer 0..100"},
      {Json{{"max_count", "3"}}, "max_count must be an integer"},
      {Json{{"step_s", 0}}, "step_s must be an integer 1..604800"},
      {Json{{"max_period_s", 30 * 86400 + 1}}, "max_period_s must be an integer 0..2592000"},
      {Json{{"when_exhausted", "later"}}, "\"proceed\" or \"fail\""},
      {Json{{"max_defer", 3}}, "unknown field 'max_defer'"},
  };
  for (const auto& c : cases) {
    auto r = parse_deferral_policy(c.j);
    ASSERT_FALSE(r.ok()) << c.j.dump();
    expect_bad_input(r.error(), c.part);
  }
}

// ----- 3. busy check -----

TEST(BusyCheck, IdleDeviceStartsEvenWithDeferralUsedUp) {
  TimeMs now = at("2026-11-23T18:20:00Z");
  auto d = decide_update_start({}, policy(3, kHour, 20 * kMin, kFail), {3, now - kHour}, now);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->start, UpdateStart::kStartNow);
  EXPECT_EQ(d->until, now);
}

TEST(BusyCheck, BusyDeviceDefersByTheDefermentPeriod) {
  TimeMs now = at("2026-11-23T18:20:00Z");
  BusySignals printing;
  printing.printing = true;
  auto d = decide_update_start(printing, DeferralPolicy{}, {}, now);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->start, UpdateStart::kDefer);
  EXPECT_EQ(d->until, now + 20 * kMin);  // seed 004 Fig. 34-35: 18:20 -> 18:40
  EXPECT_EQ(d->reason,
            "device busy (printing): deferred until 2026-11-23T18:40:00.000Z (deferral 1 of at "
            "most 3)");
}

TEST(BusyCheck, UsedUpDeferralProceedsOrFails) {
  TimeMs now = at("2026-11-23T19:20:00Z");
  BusySignals panel;
  panel.user_at_panel = true;
  auto go =
      decide_update_start(panel, policy(3, 24 * kHour, 20 * kMin, kProceed), {3, now - kHour}, now);
  ASSERT_TRUE(go.ok());
  EXPECT_EQ(go->start, UpdateStart::kStartNow);
  EXPECT_EQ(go->reason,
            "device busy (a user at the panel) but deferred 3 times, the maximum; the update "
            "proceeds");

  BusySignals both;
  both.printing = true;
  both.user_at_panel = true;
  auto fail =
      decide_update_start(both, policy(3, 24 * kHour, 20 * kMin, kFail), {3, now - kHour}, now);
  ASSERT_TRUE(fail.ok());
  EXPECT_EQ(fail->start, UpdateStart::kFail);
  EXPECT_EQ(fail->reason,
            "device busy (printing and a user at the panel) and deferred 3 times, the maximum");
}

TEST(BusyCheck, PanelDeferralsAndBusyDeferralsShareTheLimit) {
  auto p = policy(3, 24 * kHour, 20 * kMin, kFail);
  TimeMs now = at("2026-11-23T18:00:00Z");
  DeferralHistory h;
  // The user presses "defer" on the panel once...
  auto panel = decide_deferral(p, h, now);
  ASSERT_EQ(panel->outcome, DeferralOutcome::kDefer);
  h = record_deferral(h, now);
  now = panel->until;
  // ...then the device is printing at each of the next two update times...
  BusySignals printing;
  printing.printing = true;
  for (int i = 0; i < 2; ++i) {
    auto d = decide_update_start(printing, p, h, now);
    ASSERT_TRUE(d.ok());
    ASSERT_EQ(d->start, UpdateStart::kDefer);
    h = record_deferral(h, now);
    now = d->until;
  }
  EXPECT_EQ(now, at("2026-11-23T19:00:00Z"));
  EXPECT_EQ(h.first_deferred_at, at("2026-11-23T18:00:00Z"));
  // ...and the third busy check finds the limit used up.
  auto last = decide_update_start(printing, p, h, now);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->start, UpdateStart::kFail);
}

TEST(BusyCheck, InvalidPolicyIsBadInputEvenWhenIdle) {
  auto d = decide_update_start({}, policy(3, kHour, 0, kFail), {}, 0);
  ASSERT_FALSE(d.ok());
  expect_bad_input(d.error(), "step");
}

// ----- 4. retry bound -----

TEST(Retry, BoundedByCount) {
  auto first = decide_retry(0, 3, std::nullopt, 0);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->allowed);
  EXPECT_EQ(first->reason, "attempt 1 of 3");
  EXPECT_TRUE(decide_retry(2, 3, std::nullopt, 0)->allowed);
  auto over = decide_retry(3, 3, std::nullopt, 0);
  ASSERT_TRUE(over.ok());
  EXPECT_FALSE(over->allowed);
  EXPECT_EQ(over->reason, "attempted 3 times, the maximum");
  EXPECT_FALSE(decide_retry(4, 3, std::nullopt, 0)->allowed);
  EXPECT_EQ(decide_retry(1, 1, std::nullopt, 0)->reason, "attempted 1 time, the maximum");
}

TEST(Retry, BoundedByExpiry) {
  TimeMs expiry = at("2026-11-30T00:00:00Z");
  EXPECT_TRUE(decide_retry(1, 5, expiry, expiry - 1)->allowed);
  auto at_expiry = decide_retry(1, 5, expiry, expiry);
  ASSERT_TRUE(at_expiry.ok());
  EXPECT_FALSE(at_expiry->allowed);
  EXPECT_EQ(at_expiry->reason, "the job expired at 2026-11-30T00:00:00.000Z");
  EXPECT_FALSE(decide_retry(1, 5, expiry, expiry + kHour)->allowed);
  // The count is reported first when both are used up.
  EXPECT_EQ(decide_retry(5, 5, expiry, expiry)->reason, "attempted 5 times, the maximum");
}

TEST(Retry, BadInput) {
  expect_bad_input(decide_retry(0, 0, std::nullopt, 0).error(), "max_attempts");
  expect_bad_input(decide_retry(-1, 3, std::nullopt, 0).error(), "attempts made");
}

// ----- 5. waves -----

std::vector<std::string> serials(int n) {
  std::vector<std::string> s;
  for (int i = 0; i < n; ++i) s.push_back("A123-" + std::to_string(100000 + i));
  return s;
}

std::vector<WaveSize> sizes(std::initializer_list<const char*> texts) {
  std::vector<WaveSize> out;
  for (const char* t : texts) {
    auto s = parse_wave_size(std::string_view(t));
    EXPECT_TRUE(s.ok()) << t;
    if (s.ok()) out.push_back(*s);
  }
  return out;
}

std::vector<std::size_t> wave_lengths(const std::vector<Wave>& waves) {
  std::vector<std::size_t> n;
  for (const auto& w : waves) n.push_back(w.serials.size());
  return n;
}

TEST(WaveSizeParse, Forms) {
  auto n = parse_wave_size(std::string_view("25"));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->kind, WaveSize::Kind::kCount);
  EXPECT_EQ(n->count, 25);
  auto p = parse_wave_size(std::string_view("10%"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->kind, WaveSize::Kind::kPercent);
  EXPECT_EQ(p->percent_hundredths, 1000);
  EXPECT_EQ(parse_wave_size(std::string_view("0.5%"))->percent_hundredths, 50);
  EXPECT_EQ(parse_wave_size(std::string_view("12.25%"))->percent_hundredths, 1225);
  EXPECT_EQ(parse_wave_size(std::string_view("100%"))->percent_hundredths, 10000);
  EXPECT_EQ(parse_wave_size(std::string_view("0.01%"))->percent_hundredths, 1);
  EXPECT_EQ(parse_wave_size(std::string_view("rest"))->kind, WaveSize::Kind::kRest);
  EXPECT_EQ(parse_wave_size(std::string_view("REST"))->kind, WaveSize::Kind::kRest);
  EXPECT_EQ(parse_wave_size(Json(5))->count, 5);
  EXPECT_EQ(parse_wave_size(Json("1%"))->percent_hundredths, 100);

  for (const char* bad : {"0", "0%", "0.00%", "101%", "100.01%", "1.234%", "1.%", "-1", "abc", "%",
                          "", "1e3", "10 %", "1234567890"}) {
    auto r = parse_wave_size(std::string_view(bad));
    ASSERT_FALSE(r.ok()) << bad;
    expect_bad_input(r.error(), "wave size must be");
  }
  for (const Json& bad : {Json(0), Json(-3), Json(1.5), Json(true), Json(nullptr)}) {
    auto r = parse_wave_size(bad);
    ASSERT_FALSE(r.ok()) << bad.dump();
    expect_bad_input(r.error(), "wave size must be");
  }
}

TEST(WaveSizeParse, TextRoundTrip) {
  for (const char* t : {"25", "10%", "0.5%", "12.25%", "100%", "rest"}) {
    EXPECT_EQ(to_text(*parse_wave_size(std::string_view(t))), t);
  }
}

TEST(PlanWaves, CanaryTenPercentRest) {
  auto targets = serials(200);
  auto waves = plan_waves(targets, sizes({"1%", "10%", "rest"}));
  ASSERT_TRUE(waves.ok()) << waves.error().message;
  EXPECT_EQ(wave_lengths(*waves), (std::vector<std::size_t>{2, 20, 178}));
  EXPECT_EQ((*waves)[0].number, 1);
  EXPECT_EQ((*waves)[2].number, 3);
  // Order is kept: the waves concatenate back to the targets.
  std::vector<std::string> all;
  for (const auto& w : *waves) all.insert(all.end(), w.serials.begin(), w.serials.end());
  EXPECT_EQ(all, targets);
}

TEST(PlanWaves, PercentagesRoundUpNeverEmpty) {
  EXPECT_EQ(wave_lengths(*plan_waves(serials(50), sizes({"1%", "10%", "rest"}))),
            (std::vector<std::size_t>{1, 5, 44}));
  EXPECT_EQ(wave_lengths(*plan_waves(serials(3), sizes({"1%", "10%", "rest"}))),
            (std::vector<std::size_t>{1, 1, 1}));
  // Fewer targets than waves: no empty waves.
  EXPECT_EQ(wave_lengths(*plan_waves(serials(2), sizes({"1%", "10%", "rest"}))),
            (std::vector<std::size_t>{1, 1}));
  EXPECT_EQ(wave_lengths(*plan_waves(serials(1), sizes({"1%", "10%", "rest"}))),
            (std::vector<std::size_t>{1}));
  EXPECT_TRUE(plan_waves({}, sizes({"1%", "rest"}))->empty());
}

TEST(PlanWaves, LastSizeRepeats) {
  // 10% of 25 is 2.5, so 3 a wave: 8 waves of 3 and one of 1.
  auto tenth = plan_waves(serials(25), sizes({"10%"}));
  ASSERT_TRUE(tenth.ok());
  ASSERT_EQ(tenth->size(), 9u);
  EXPECT_EQ(tenth->front().serials.size(), 3u);
  EXPECT_EQ(tenth->back().serials.size(), 1u);
  EXPECT_EQ(wave_lengths(*plan_waves(serials(12), sizes({"1", "5"}))),
            (std::vector<std::size_t>{1, 5, 5, 1}));
  EXPECT_EQ(wave_lengths(*plan_waves(serials(12), sizes({"100", "rest"}))),
            (std::vector<std::size_t>{12}));
  EXPECT_EQ(wave_lengths(*plan_waves(serials(10), sizes({"100%"}))),
            (std::vector<std::size_t>{10}));
}

TEST(PlanWaves, BadInput) {
  expect_bad_input(plan_waves(serials(5), {}).error(), "at least one wave size");
  expect_bad_input(plan_waves(serials(5), sizes({"rest", "10%"})).error(),
                   "wave 1: \"rest\" may only be the last wave");
  expect_bad_input(plan_waves({"A", "B", "A"}, sizes({"rest"})).error(), "serial A twice");
  expect_bad_input(plan_waves({"A", ""}, sizes({"rest"})).error(), "empty serial");
  WaveSize zero;
  zero.kind = WaveSize::Kind::kCount;
  zero.count = 0;
  expect_bad_input(plan_waves(serials(5), {zero}).error(), "wave 1: a wave must have at least 1");
  WaveSize big;
  big.kind = WaveSize::Kind::kPercent;
  big.percent_hundredths = 10001;
  expect_bad_input(plan_waves(serials(5), {*parse_wave_size(std::string_view("1")), big}).error(),
                   "wave 2: a wave percentage");
}

// ----- 5. verdict -----

std::vector<DeviceOutcome> outcomes(int completed, int waiting, int error, int pending) {
  std::vector<DeviceOutcome> o;
  o.insert(o.end(), std::size_t(completed), DeviceOutcome::kCompleted);
  o.insert(o.end(), std::size_t(waiting), DeviceOutcome::kWaitingForReupdate);
  o.insert(o.end(), std::size_t(error), DeviceOutcome::kError);
  o.insert(o.end(), std::size_t(pending), DeviceOutcome::kPending);
  return o;
}

FailureThreshold threshold(const Json& j) {
  auto t = parse_failure_threshold(j);
  EXPECT_TRUE(t.ok()) << j.dump();
  return t.ok() ? *t : FailureThreshold{};
}

TEST(CampaignVerdict, CountThresholdPausesWhenReached) {
  auto below = campaign_verdict(outcomes(10, 0, 2, 88), threshold(Json(3)));
  ASSERT_TRUE(below.ok());
  EXPECT_EQ(below->action, CampaignAction::kContinue);
  EXPECT_EQ(below->reason,
            "10 of 100 devices completed, 0 waiting for re-update, 2 in error (threshold 3 "
            "devices)");
  auto reached = campaign_verdict(outcomes(10, 0, 3, 87), threshold(Json(3)));
  ASSERT_TRUE(reached.ok());
  EXPECT_EQ(reached->action, CampaignAction::kPause);
  EXPECT_EQ(reached->reason, "3 of 100 devices in error, the threshold (3 devices)");
  EXPECT_EQ(campaign_verdict(outcomes(10, 0, 4, 86), threshold(Json(3)))->action,
            CampaignAction::kPause);
  EXPECT_EQ(campaign_verdict(outcomes(0, 0, 1, 5), threshold(Json(1)))->reason,
            "1 of 6 devices in error, the threshold (1 device)");
}

TEST(CampaignVerdict, PercentThresholdOfAllTargets) {
  // 5% of 200 is 10 devices: 9 continue, 10 pause.
  auto nine = campaign_verdict(outcomes(150, 0, 9, 41), threshold(Json("5%")));
  ASSERT_TRUE(nine.ok());
  EXPECT_EQ(nine->action, CampaignAction::kContinue);
  auto ten = campaign_verdict(outcomes(150, 0, 10, 40), threshold(Json("5%")));
  ASSERT_TRUE(ten.ok());
  EXPECT_EQ(ten->action, CampaignAction::kPause);
  EXPECT_EQ(ten->reason, "10 of 200 devices in error, the threshold (5% = 10 devices)");
  // Rounded up, and never below one device.
  EXPECT_EQ(threshold_devices(threshold(Json("5%")), 30), 2);
  EXPECT_EQ(threshold_devices(threshold(Json("0.5%")), 10), 1);
  EXPECT_EQ(threshold_devices(threshold(Json("0.5%")), 0), 0);
  EXPECT_EQ(campaign_verdict(outcomes(1, 0, 1, 28), threshold(Json("5%")))->action,
            CampaignAction::kContinue);
  EXPECT_EQ(campaign_verdict(outcomes(1, 0, 2, 27), threshold(Json("5%")))->action,
            CampaignAction::kPause);
}

TEST(CampaignVerdict, WaitingForReupdateIsNotAFailureYet) {
  auto v = campaign_verdict(outcomes(90, 5, 2, 3), threshold(Json(3)));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->action, CampaignAction::kContinue);
  EXPECT_EQ(v->tally.waiting_for_reupdate, 5);
  // Nothing pending but devices still to be re-updated: not done.
  EXPECT_EQ(campaign_verdict(outcomes(95, 3, 2, 0), threshold(Json(3)))->action,
            CampaignAction::kContinue);
}

TEST(CampaignVerdict, DoneWhenEveryDeviceFinished) {
  auto v = campaign_verdict(outcomes(98, 0, 2, 0), threshold(Json(3)));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->action, CampaignAction::kDone);
  EXPECT_EQ(v->reason, "all 100 devices finished: 98 completed, 2 in error");
  // A finished campaign at its threshold is paused, so an operator looks at it.
  EXPECT_EQ(campaign_verdict(outcomes(97, 0, 3, 0), threshold(Json(3)))->action,
            CampaignAction::kPause);
  auto empty = campaign_verdict({}, threshold(Json("5%")));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->action, CampaignAction::kDone);
}

TEST(CampaignVerdict, TwoHundredDevicesWithBadBoots) {
  // 200 devices in waves 1%/10%/rest; every 20th device's image fails to boot for good (5%).
  auto targets = serials(200);
  auto waves = plan_waves(targets, sizes({"1%", "10%", "rest"}));
  ASSERT_TRUE(waves.ok());
  auto limit = threshold(Json("3%"));  // 6 devices
  std::vector<DeviceOutcome> state(targets.size(), DeviceOutcome::kPending);
  std::size_t index = 0;
  std::optional<CampaignVerdict> paused;
  for (const auto& wave : *waves) {
    for (std::size_t k = 0; k < wave.serials.size() && !paused; ++k, ++index) {
      state[index] = index % 20 == 19 ? DeviceOutcome::kError : DeviceOutcome::kCompleted;
      auto v = campaign_verdict(state, limit);
      ASSERT_TRUE(v.ok());
      if (v->action == CampaignAction::kPause) paused = *v;
    }
    if (paused) break;
  }
  ASSERT_TRUE(paused.has_value());
  EXPECT_EQ(index, 120u);  // the 6th error is device #120
  EXPECT_EQ(paused->tally.completed, 114);
  EXPECT_EQ(paused->tally.error, 6);
  EXPECT_EQ(paused->tally.pending, 80);
  EXPECT_EQ(paused->reason, "6 of 200 devices in error, the threshold (3% = 6 devices)");
}

TEST(CampaignVerdict, ThresholdParsingAndBadInput) {
  auto count = threshold(Json(12));
  EXPECT_EQ(count.kind, FailureThreshold::Kind::kCount);
  EXPECT_EQ(count.count, 12);
  EXPECT_EQ(to_text(count), "12");
  EXPECT_EQ(threshold(Json("12")).count, 12);
  EXPECT_EQ(to_text(threshold(Json("2.5%"))), "2.5%");
  for (const Json& bad : {Json(0), Json("rest"), Json("0%"), Json("150%"), Json(nullptr)}) {
    auto r = parse_failure_threshold(bad);
    ASSERT_FALSE(r.ok()) << bad.dump();
    expect_bad_input(r.error(), "failure threshold must be");
  }
  FailureThreshold zero;
  zero.count = 0;
  expect_bad_input(campaign_verdict(outcomes(1, 0, 0, 0), zero).error(), "at least 1 device");
  FailureThreshold pct;
  pct.kind = FailureThreshold::Kind::kPercent;
  pct.percent_hundredths = 0;
  expect_bad_input(campaign_verdict(outcomes(1, 0, 0, 0), pct).error(), "percentage");
}

TEST(CampaignVerdict, OutcomeNamesAndFig46Labels) {
  for (auto o : {DeviceOutcome::kPending, DeviceOutcome::kCompleted,
                 DeviceOutcome::kWaitingForReupdate, DeviceOutcome::kError}) {
    EXPECT_EQ(device_outcome_from(to_string(o)), o);
  }
  EXPECT_FALSE(device_outcome_from("done").has_value());
  EXPECT_STREQ(to_string(DeviceOutcome::kWaitingForReupdate), "waiting-for-re-update");
  EXPECT_STREQ(result_label(DeviceOutcome::kCompleted), "updating completed");
  EXPECT_STREQ(result_label(DeviceOutcome::kWaitingForReupdate), "waiting for re-updating");
  EXPECT_STREQ(result_label(DeviceOutcome::kError), "error");
  EXPECT_STREQ(to_string(CampaignAction::kPause), "pause");
  EXPECT_STREQ(to_string(UpdateStart::kDefer), "defer");
  EXPECT_STREQ(to_string(DeferralOutcome::kProceed), "proceed");
}

// ----- 6. version cells -----

TEST(VersionChange, Fig20Cells) {
  EXPECT_EQ(*version_change_text("A", "C"), "VerA\u2192C");
  EXPECT_EQ(*version_change_text("C", "C"), "VerC");
  EXPECT_EQ(*version_change_text("", "C"), "Ver?\u2192C");
  EXPECT_EQ(*version_change_text("1.0.3", "1.1.0"), "Ver1.0.3\u21921.1.0");
  expect_bad_input(version_change_text("A", "").error(), "target version is empty");
}

TEST(VersionChange, CellsFromTheDeviceFirmwareSummary) {
  Json firmware = {{"main", "1.0.3"}, {"controller", "2.1.0"}, {"adf", 7}};
  auto cells = version_change_cells(
      firmware, {{"main", "1.1.0"}, {"controller", "2.1.0"}, {"adf", "1.0"}, {"finisher", "3"}});
  ASSERT_TRUE(cells.ok()) << cells.error().message;
  EXPECT_EQ(cells->at("main"), "Ver1.0.3\u21921.1.0");
  EXPECT_EQ(cells->at("controller"), "Ver2.1.0");
  EXPECT_EQ(cells->at("adf"), "Ver?\u21921.0");  // not a string: unknown
  EXPECT_EQ(cells->at("finisher"), "Ver?\u21923");
  EXPECT_TRUE(version_change_cells(Json(nullptr), {{"main", "A"}}).ok());
  expect_bad_input(version_change_cells(Json("x"), {{"main", "A"}}).error(), "must be an object");
  expect_bad_input(version_change_cells(firmware, {{"main", ""}}).error(),
                   "component main: target version is empty");
  expect_bad_input(version_change_cells(firmware, {{"", "A"}}).error(), "component name");
}

}  // namespace
}  // namespace printrelay
