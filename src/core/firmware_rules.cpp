#include "core/firmware_rules.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <set>

#include "core/json_fields.h"
#include "core/rule_text.h"

namespace printrelay {

namespace {

constexpr TimeMs kWeekMs = 7 * kDayMs;

// Day names in c_encoding order (0 = Sunday).
constexpr std::array<const char*, 7> kDayShort = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
constexpr std::array<const char*, 7> kDayLong = {"sunday",   "monday", "tuesday", "wednesday",
                                                 "thursday", "friday", "saturday"};

TimeMs floor_div(TimeMs a, TimeMs b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Weekday (c_encoding) of a day counted from 1970-01-01, which was a Thursday.
int weekday_of(TimeMs day_index) { return int(((day_index % 7) + 7 + 4) % 7); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string hh_mm(int minutes) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d", minutes / 60, minutes % 60);
  return buf;
}

std::string offset_text(int offset_min) {
  int a = offset_min < 0 ? -offset_min : offset_min;
  return std::string("UTC") + (offset_min < 0 ? "-" : "+") + hh_mm(a);
}

std::string devices_text(std::int64_t n) {
  return std::to_string(n) + (n == 1 ? " device" : " devices");
}

std::optional<int> day_from_name(std::string_view name) {
  std::string n = lower(trim(name));
  for (int d = 0; d < 7; ++d) {
    if (n == kDayShort[std::size_t(d)] || n == kDayLong[std::size_t(d)]) return d;
  }
  return std::nullopt;
}

// One item of a day list: "mon" or a range "mon-fri" / "fri-mon" (wrapping over the weekend).
Result<WeekdaySet> parse_day_item(std::string_view item) {
  item = trim(item);
  auto dash = item.find('-');
  if (dash == std::string_view::npos) {
    auto d = day_from_name(item);
    if (!d) return bad_input("unknown day '" + std::string(item) + "' (use mon, tue, ... sun)");
    return WeekdaySet(1u << *d);
  }
  auto a = day_from_name(item.substr(0, dash));
  auto b = day_from_name(item.substr(dash + 1));
  if (!a || !b) {
    return bad_input("unknown day range '" + std::string(item) + "' (use e.g. mon-fri)");
  }
  WeekdaySet set = 0;
  for (int d = *a;; d = (d + 1) % 7) {
    set = WeekdaySet(set | (1u << d));
    if (d == *b) break;
  }
  return set;
}

// "mon-fri", "sat,sun", "mon,wed,fri" (comma-separated items as parse_day_item()).
Result<WeekdaySet> parse_day_list(std::string_view text) {
  WeekdaySet set = 0;
  while (true) {
    auto comma = text.find(',');
    auto item = parse_day_item(text.substr(0, comma));
    if (!item) return item.error();
    set = WeekdaySet(set | *item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return set;
}

// Monday-first, runs of three or more days as a range: "mon-fri", "sat,sun".
std::string day_list_text(WeekdaySet days) {
  constexpr std::array<int, 7> kOrder = {1, 2, 3, 4, 5, 6, 0};
  std::string out;
  std::size_t i = 0;
  while (i < kOrder.size()) {
    if (!(days & (1u << kOrder[i]))) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j + 1 < kOrder.size() && (days & (1u << kOrder[j + 1]))) ++j;
    auto add = [&](std::size_t k) {
      if (!out.empty()) out += ",";
      out += kDayShort[std::size_t(kOrder[k])];
    };
    if (j - i >= 2) {
      add(i);
      out += "-";
      out += kDayShort[std::size_t(kOrder[j])];
    } else {
      for (std::size_t k = i; k <= j; ++k) add(k);
    }
    i = j + 1;
  }
  return out;
}

Result<int> parse_window_end(std::string_view s) {
  if (s == "24:00") return kMinutesPerDay;
  return parse_time_of_day(s);
}

Status check_offset(std::int64_t offset_min) {
  if (offset_min < kMinUtcOffsetMin || offset_min > kMaxUtcOffsetMin) {
    return bad_input("utc_offset_min must be " + std::to_string(kMinUtcOffsetMin) + ".." +
                     std::to_string(kMaxUtcOffsetMin) + ": " + std::to_string(offset_min));
  }
  return ok_status();
}

// The UTC end of the occurrence of `w` that contains `t`, if one does. An occurrence lasts at most
// a day, so only those starting on t's local day and the day before can contain it.
std::optional<TimeMs> occurrence_end(const ForbiddenWindow& w, TimeMs t) {
  TimeMs offset = TimeMs(w.utc_offset_min) * kMinuteMs;
  TimeMs local = t + offset;
  TimeMs day = floor_div(local, kDayMs);
  int length_min =
      w.to_min > w.from_min ? w.to_min - w.from_min : w.to_min + kMinutesPerDay - w.from_min;
  for (TimeMs d : {day - 1, day}) {
    if (!(w.days & (1u << weekday_of(d)))) continue;
    TimeMs start = d * kDayMs + TimeMs(w.from_min) * kMinuteMs;
    TimeMs end = start + TimeMs(length_min) * kMinuteMs;
    if (start <= local && local < end) return end - offset;
  }
  return std::nullopt;
}

// Local "HH:MM" or "YYYY-MM-DD HH:MM" of a UTC time.
std::string local_text(TimeMs t, int offset_min, bool with_date) {
  std::string s = format_time(t + TimeMs(offset_min) * kMinuteMs);  // "YYYY-MM-DDTHH:MM:SS.mmmZ"
  if (with_date) return s.substr(0, 10) + " " + s.substr(11, 5);
  return s.substr(11, 5);
}

// "12.5%" -> 1250; "100%" -> 10000. At most two decimals, > 0 and <= 100.
std::optional<std::int64_t> parse_percent_hundredths(std::string_view s) {
  if (s.size() < 2 || s.back() != '%') return std::nullopt;
  s.remove_suffix(1);
  std::int64_t whole = 0;
  std::size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    whole = whole * 10 + (s[i] - '0');
    if (whole > 100) return std::nullopt;
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::int64_t frac = 0;
  if (i < s.size()) {
    if (s[i] != '.') return std::nullopt;
    std::size_t digits = s.size() - i - 1;
    if (digits < 1 || digits > 2) return std::nullopt;
    for (std::size_t k = i + 1; k < s.size(); ++k) {
      if (!std::isdigit(static_cast<unsigned char>(s[k]))) return std::nullopt;
      frac = frac * 10 + (s[k] - '0');
    }
    if (digits == 1) frac *= 10;
  }
  std::int64_t v = whole * 100 + frac;
  if (v < 1 || v > 10000) return std::nullopt;
  return v;
}

// Plain positive integer of at most 9 digits.
std::optional<std::int64_t> parse_device_count(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < 1) return std::nullopt;
  return v;
}

std::string percent_text(std::int64_t hundredths) {
  std::string s = std::to_string(hundredths / 100);
  if (std::int64_t frac = hundredths % 100; frac != 0) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%02lld", static_cast<long long>(frac));
    std::string f(buf);
    if (f.back() == '0') f.pop_back();
    s += "." + f;
  }
  return s + "%";
}

// ceil(total * hundredths / 10000), exact.
std::int64_t percent_of(std::int64_t total, std::int64_t hundredths) {
  return (total * hundredths + 9999) / 10000;
}

Status check_wave_size(const WaveSize& s) {
  switch (s.kind) {
    case WaveSize::Kind::kCount:
      if (s.count < 1) return bad_input("a wave must have at least 1 device");
      return ok_status();
    case WaveSize::Kind::kPercent:
      if (s.percent_hundredths < 1 || s.percent_hundredths > 10000) {
        return bad_input("a wave percentage must be more than 0% and at most 100%");
      }
      return ok_status();
    case WaveSize::Kind::kRest:
      return ok_status();
  }
  return bad_input("unknown wave size kind");
}

Status check_threshold(const FailureThreshold& t) {
  if (t.kind == FailureThreshold::Kind::kCount && t.count < 1) {
    return bad_input("failure threshold must be at least 1 device");
  }
  if (t.kind == FailureThreshold::Kind::kPercent &&
      (t.percent_hundredths < 1 || t.percent_hundredths > 10000)) {
    return bad_input("failure threshold percentage must be more than 0% and at most 100%");
  }
  return ok_status();
}

}  // namespace

// ===== 1. Forbidden update windows =====

Status check_forbidden_window(const ForbiddenWindow& w) {
  if (w.from_min < 0 || w.from_min >= kMinutesPerDay) {
    return bad_input("forbidden window start must be 00:00..23:59");
  }
  if (w.to_min < 0 || w.to_min > kMinutesPerDay) {
    return bad_input("forbidden window end must be 00:00..24:00");
  }
  if (w.from_min == w.to_min) {
    return bad_input("forbidden window " + hh_mm(w.from_min) + "-" + hh_mm(w.to_min) +
                     " is empty; use 00:00-24:00 for a whole day");
  }
  if (w.days == 0 || (w.days & ~kEveryDay) != 0) {
    return bad_input("forbidden window days must name at least one weekday");
  }
  return check_offset(w.utc_offset_min);
}

Result<ForbiddenWindow> parse_forbidden_window_text(std::string_view text, int utc_offset_min) {
  std::string_view s = trim(text);
  ForbiddenWindow w;
  w.utc_offset_min = utc_offset_min;
  std::string_view times = s;
  if (auto space = s.find_last_of(" \t"); space != std::string_view::npos) {
    times = s.substr(space + 1);
    auto days = parse_day_list(trim(s.substr(0, space)));
    if (!days)
      return bad_input("forbidden window '" + std::string(s) + "': " + days.error().message);
    w.days = *days;
  }
  if (times.size() != 11 || times[5] != '-') {
    return bad_input("forbidden window must be like \"09:00-17:00\" or \"mon-fri 09:00-17:00\": '" +
                     std::string(s) + "'");
  }
  if (times.substr(0, 5) == "24:00") {
    return bad_input("forbidden window '" + std::string(s) + "': 24:00 is allowed as an end only");
  }
  auto from = parse_time_of_day(times.substr(0, 5));
  if (!from) return bad_input("forbidden window '" + std::string(s) + "': " + from.error().message);
  auto to = parse_window_end(times.substr(6));
  if (!to) return bad_input("forbidden window '" + std::string(s) + "': " + to.error().message);
  w.from_min = *from;
  w.to_min = *to;
  if (auto st = check_forbidden_window(w); !st) return st.error();
  return w;
}

Result<ForbiddenWindow> parse_forbidden_window(const Json& j, int utc_offset_min) {
  if (j.is_string()) return parse_forbidden_window_text(j.get<std::string>(), utc_offset_min);
  if (!j.is_object()) {
    return bad_input("forbidden window must be a string \"09:00-17:00\" or an object with from/to");
  }
  if (auto st = check_fields(j, "forbidden window", {"from", "to", "days", "utc_offset_min"});
      !st) {
    return st.error();
  }
  auto from_it = j.find("from");
  auto to_it = j.find("to");
  if (from_it == j.end() || !from_it->is_string()) {
    return bad_input("forbidden window needs \"from\" as \"HH:MM\"");
  }
  if (to_it == j.end() || !to_it->is_string()) {
    return bad_input("forbidden window needs \"to\" as \"HH:MM\" (or \"24:00\")");
  }
  ForbiddenWindow w;
  w.utc_offset_min = utc_offset_min;
  auto from_text = from_it->get<std::string>();
  if (from_text == "24:00")
    return bad_input("forbidden window from: 24:00 is allowed as an end only");
  auto from = parse_time_of_day(from_text);
  if (!from) return bad_input("forbidden window from: " + from.error().message);
  auto to = parse_window_end(to_it->get<std::string>());
  if (!to) return bad_input("forbidden window to: " + to.error().message);
  w.from_min = *from;
  w.to_min = *to;
  if (auto it = j.find("days"); it != j.end()) {
    if (it->is_string()) {
      auto days = parse_day_list(it->get<std::string>());
      if (!days) return bad_input("forbidden window days: " + days.error().message);
      w.days = *days;
    } else if (it->is_array()) {
      if (it->empty()) return bad_input("forbidden window days is empty: it would never apply");
      w.days = 0;
      for (const auto& d : *it) {
        if (!d.is_string()) return bad_input("forbidden window days must be names like \"mon\"");
        auto item = parse_day_item(d.get<std::string>());
        if (!item) return bad_input("forbidden window days: " + item.error().message);
        w.days = WeekdaySet(w.days | *item);
      }
    } else {
      return bad_input("forbidden window days must be an array like [\"mon\", \"tue\"]");
    }
  }
  if (auto it = j.find("utc_offset_min"); it != j.end()) {
    if (!it->is_number_integer()) return bad_input("utc_offset_min must be an integer");
    auto v = it->get<std::int64_t>();
    if (auto st = check_offset(v); !st) return st.error();
    w.utc_offset_min = int(v);
  }
  if (auto st = check_forbidden_window(w); !st) return st.error();
  return w;
}

Result<std::vector<ForbiddenWindow>> parse_forbidden_windows(const Json& j, int utc_offset_min) {
  if (auto st = check_offset(utc_offset_min); !st) return st.error();
  std::vector<ForbiddenWindow> windows;
  if (j.is_null()) return windows;
  if (!j.is_array()) {
    auto w = parse_forbidden_window(j, utc_offset_min);
    if (!w) return w.error();
    windows.push_back(*w);
  } else {
    if (j.size() > kMaxForbiddenWindows) {
      return bad_input("at most " + std::to_string(kMaxForbiddenWindows) +
                       " forbidden windows are allowed");
    }
    for (std::size_t i = 0; i < j.size(); ++i) {
      auto w = parse_forbidden_window(j[i], utc_offset_min);
      if (!w) {
        return bad_input("forbidden_windows[" + std::to_string(i) + "]: " + w.error().message);
      }
      windows.push_back(*w);
    }
  }
  if (auto move = plan_update_time(windows, 0); !move) return move.error();
  return windows;
}

std::string to_text(const ForbiddenWindow& w) {
  std::string t = hh_mm(w.from_min) + "-" + hh_mm(w.to_min);
  if (w.days == kEveryDay) return t;
  return day_list_text(w.days) + " " + t;
}

Json to_json(const ForbiddenWindow& w) {
  Json j = {{"from", hh_mm(w.from_min)}, {"to", hh_mm(w.to_min)}};
  if (w.days != kEveryDay) {
    Json days = Json::array();
    constexpr std::array<int, 7> kOrder = {1, 2, 3, 4, 5, 6, 0};
    for (int d : kOrder) {
      if (w.days & (1u << d)) days.push_back(kDayShort[std::size_t(d)]);
    }
    j["days"] = days;
  }
  if (w.utc_offset_min != 0) j["utc_offset_min"] = w.utc_offset_min;
  return j;
}

Result<UpdateTimeMove> plan_update_time(const std::vector<ForbiddenWindow>& windows,
                                        TimeMs wanted) {
  for (std::size_t i = 0; i < windows.size(); ++i) {
    if (auto st = check_forbidden_window(windows[i]); !st) {
      return bad_input("forbidden_windows[" + std::to_string(i) + "]: " + st.error().message);
    }
  }
  UpdateTimeMove move;
  move.wanted = wanted;
  TimeMs t = wanted;
  // Each pass moves t to the end of every window occurrence it is in; t only grows. The windows
  // repeat every week, so a forbidden stretch of a whole week means no allowed time at all.
  bool inside = true;
  while (inside) {
    inside = false;
    for (std::size_t i = 0; i < windows.size(); ++i) {
      auto end = occurrence_end(windows[i], t);
      if (!end) continue;
      t = *end;
      inside = true;
      if (std::find(move.windows.begin(), move.windows.end(), i) == move.windows.end()) {
        move.windows.push_back(i);
      }
    }
    if (t - wanted >= kWeekMs) {
      return bad_input("the forbidden windows cover the whole week: no time is left for an update");
    }
  }
  move.at = t;
  if (!move.moved()) return move;

  int offset = windows[move.windows.front()].utc_offset_min;
  TimeMs offset_ms = TimeMs(offset) * kMinuteMs;
  bool same_day = floor_div(wanted + offset_ms, kDayMs) == floor_div(t + offset_ms, kDayMs);
  std::string reason = "moved from " + local_text(wanted, offset, !same_day) + " to " +
                       local_text(t, offset, !same_day);
  if (offset != 0) reason += " (" + offset_text(offset) + ")";
  reason += move.windows.size() == 1 ? ": inside forbidden window " : ": inside forbidden windows ";
  for (std::size_t k = 0; k < move.windows.size(); ++k) {
    if (k > 0) reason += ", ";
    reason += to_text(windows[move.windows[k]]);
  }
  move.reason = std::move(reason);
  return move;
}

TimeMs next_allowed_time(const std::vector<ForbiddenWindow>& windows, TimeMs wanted) {
  auto move = plan_update_time(windows, wanted);
  return move ? move->at : kNeverAllowed;
}

// ===== 2. Deferral =====

Status check_deferral_policy(const DeferralPolicy& p) {
  if (p.max_count < 0) return bad_input("deferral max_count must be >= 0");
  if (p.max_period_ms < 0) return bad_input("deferral max_period must be >= 0");
  if (p.step_ms <= 0) return bad_input("deferral step (the deferment period) must be > 0");
  if (p.when_exhausted != DeferralPolicy::WhenExhausted::kProceed &&
      p.when_exhausted != DeferralPolicy::WhenExhausted::kFail) {
    return bad_input("deferral when_exhausted must be proceed or fail");
  }
  return ok_status();
}

Result<DeferralPolicy> parse_deferral_policy(const Json& j) {
  if (!j.is_object()) return bad_input("deferral policy must be an object");
  if (auto st = check_fields(j, "deferral policy",
                             {"max_count", "max_period_s", "step_s", "when_exhausted"});
      !st) {
    return st.error();
  }
  DeferralPolicy p;
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const Json& value = item.value();
    const std::string field = "deferral " + key;
    if (key == "max_count") {
      auto v = read_integer(value, field, 0, 100);
      if (!v) return v.error();
      p.max_count = int(*v);
    } else if (key == "max_period_s") {
      auto v = read_integer(value, field, 0, 30 * 86400);
      if (!v) return v.error();
      p.max_period_ms = *v * 1000;
    } else if (key == "step_s") {
      auto v = read_integer(value, field, 1, 7 * 86400);
      if (!v) return v.error();
      p.step_ms = *v * 1000;
    } else if (key == "when_exhausted") {
      if (value == "proceed") {
        p.when_exhausted = DeferralPolicy::WhenExhausted::kProceed;
      } else if (value == "fail") {
        p.when_exhausted = DeferralPolicy::WhenExhausted::kFail;
      } else {
        return bad_input("deferral when_exhausted must be \"proceed\" or \"fail\"");
      }
    }
  }
  return p;
}

Json to_json(const DeferralPolicy& p) {
  return {{"max_count", p.max_count},
          {"max_period_s", p.max_period_ms / 1000},
          {"step_s", p.step_ms / 1000},
          {"when_exhausted",
           p.when_exhausted == DeferralPolicy::WhenExhausted::kFail ? "fail" : "proceed"}};
}

const char* to_string(DeferralOutcome o) {
  switch (o) {
    case DeferralOutcome::kDefer:
      return "defer";
    case DeferralOutcome::kProceed:
      return "proceed";
    case DeferralOutcome::kFail:
      return "fail";
  }
  return "unknown";
}

Result<DeferralDecision> decide_deferral(const DeferralPolicy& policy,
                                         const DeferralHistory& history, TimeMs now) {
  if (auto st = check_deferral_policy(policy); !st) return st.error();
  if (history.count < 0) return bad_input("deferral count must be >= 0");
  if (history.count > 0 && !history.first_deferred_at) {
    return bad_input("a deferred job must have the time of its first deferral");
  }
  auto exhausted = [&](std::string why) -> DeferralDecision {
    if (policy.when_exhausted == DeferralPolicy::WhenExhausted::kFail) {
      return {DeferralOutcome::kFail, now, std::move(why)};
    }
    return {DeferralOutcome::kProceed, now, why + "; the update proceeds"};
  };
  if (policy.max_count == 0 || policy.max_period_ms == 0) {
    return exhausted("the job allows no deferral");
  }
  if (history.count >= policy.max_count) {
    return exhausted("deferred " + times_text(history.count) + ", the maximum");
  }
  TimeMs first = history.first_deferred_at.value_or(now);
  TimeMs deadline = first + policy.max_period_ms;
  if (now >= deadline) {
    return exhausted("deferred for " + duration_text(policy.max_period_ms) + " since " +
                     format_time(first) + ", the maximum period");
  }
  TimeMs until = std::min(now + policy.step_ms, deadline);
  return DeferralDecision{DeferralOutcome::kDefer, until,
                          "deferred until " + format_time(until) + " (deferral " +
                              std::to_string(history.count + 1) + " of at most " +
                              std::to_string(policy.max_count) + ")"};
}

DeferralHistory record_deferral(DeferralHistory history, TimeMs now) {
  if (history.count == 0 || !history.first_deferred_at) history.first_deferred_at = now;
  ++history.count;
  return history;
}

// ===== 3. Busy check =====

const char* to_string(UpdateStart s) {
  switch (s) {
    case UpdateStart::kStartNow:
      return "start";
    case UpdateStart::kDefer:
      return "defer";
    case UpdateStart::kFail:
      return "fail";
  }
  return "unknown";
}

Result<UpdateStartDecision> decide_update_start(const BusySignals& busy,
                                                const DeferralPolicy& policy,
                                                const DeferralHistory& history, TimeMs now) {
  if (auto st = check_deferral_policy(policy); !st) return st.error();
  if (!busy.busy()) return UpdateStartDecision{UpdateStart::kStartNow, now, "device not busy"};
  std::string what = busy.printing && busy.user_at_panel ? "printing and a user at the panel"
                     : busy.printing                     ? "printing"
                                                         : "a user at the panel";
  auto d = decide_deferral(policy, history, now);
  if (!d) return d.error();
  switch (d->outcome) {
    case DeferralOutcome::kDefer:
      return UpdateStartDecision{UpdateStart::kDefer, d->until,
                                 "device busy (" + what + "): " + d->reason};
    case DeferralOutcome::kProceed:
      return UpdateStartDecision{UpdateStart::kStartNow, now,
                                 "device busy (" + what + ") but " + d->reason};
    case DeferralOutcome::kFail:
      return UpdateStartDecision{UpdateStart::kFail, now,
                                 "device busy (" + what + ") and " + d->reason};
  }
  return bad_input("unknown deferral outcome");
}

// ===== 4. Retry bound =====

Result<RetryDecision> decide_retry(int attempts_made, int max_attempts,
                                   std::optional<TimeMs> expires_at, TimeMs attempt_at) {
  if (max_attempts < 1) return bad_input("max_attempts must be at least 1");
  if (attempts_made < 0) return bad_input("attempts made must be >= 0");
  if (attempts_made >= max_attempts) {
    return RetryDecision{false, "attempted " + times_text(attempts_made) + ", the maximum"};
  }
  if (expires_at && attempt_at >= *expires_at) {
    return RetryDecision{false, "the job expired at " + format_time(*expires_at)};
  }
  return RetryDecision{
      true, "attempt " + std::to_string(attempts_made + 1) + " of " + std::to_string(max_attempts)};
}

// ===== 5. Campaign waves and the failure threshold =====

Result<WaveSize> parse_wave_size(std::string_view text) {
  std::string_view s = trim(text);
  WaveSize w;
  if (lower(s) == "rest") return w;
  if (auto p = parse_percent_hundredths(s)) {
    w.kind = WaveSize::Kind::kPercent;
    w.percent_hundredths = *p;
    return w;
  }
  if (auto n = parse_device_count(s)) {
    w.kind = WaveSize::Kind::kCount;
    w.count = *n;
    return w;
  }
  return bad_input(
      "wave size must be a number of devices (\"25\"), a percentage (\"10%\", "
      "\"0.5%\", more than 0% and at most 100%) or \"rest\": '" +
      std::string(s) + "'");
}

Result<WaveSize> parse_wave_size(const Json& j) {
  if (j.is_string()) return parse_wave_size(std::string_view(j.get_ref<const std::string&>()));
  if (j.is_number_integer()) {
    auto v = j.get<std::int64_t>();
    if (v < 1 || v > 999999999) return bad_input("wave size must be 1..999999999 devices");
    WaveSize w;
    w.kind = WaveSize::Kind::kCount;
    w.count = v;
    return w;
  }
  return bad_input("wave size must be an integer or a string like \"10%\" or \"rest\"");
}

std::string to_text(const WaveSize& s) {
  switch (s.kind) {
    case WaveSize::Kind::kCount:
      return std::to_string(s.count);
    case WaveSize::Kind::kPercent:
      return percent_text(s.percent_hundredths);
    case WaveSize::Kind::kRest:
      return "rest";
  }
  return "?";
}

Result<std::vector<Wave>> plan_waves(const std::vector<std::string>& targets,
                                     const std::vector<WaveSize>& sizes) {
  if (sizes.empty()) return bad_input("a campaign needs at least one wave size");
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (auto st = check_wave_size(sizes[i]); !st) {
      return bad_input("wave " + std::to_string(i + 1) + ": " + st.error().message);
    }
    if (sizes[i].kind == WaveSize::Kind::kRest && i + 1 != sizes.size()) {
      return bad_input("wave " + std::to_string(i + 1) + ": \"rest\" may only be the last wave");
    }
  }
  std::set<std::string_view> seen;
  for (const auto& serial : targets) {
    if (serial.empty()) return bad_input("campaign targets contain an empty serial");
    if (!seen.insert(serial).second) {
      return bad_input("campaign targets list serial " + serial + " twice");
    }
  }
  const auto total = std::int64_t(targets.size());
  std::vector<Wave> waves;
  std::int64_t next = 0;
  for (std::size_t i = 0; next < total; ++i) {
    const WaveSize& size = sizes[std::min(i, sizes.size() - 1)];
    std::int64_t n = size.kind == WaveSize::Kind::kCount ? size.count
                     : size.kind == WaveSize::Kind::kPercent
                         ? percent_of(total, size.percent_hundredths)
                         : total - next;
    n = std::clamp<std::int64_t>(n, 1, total - next);
    Wave wave;
    wave.number = int(i + 1);
    wave.serials.assign(targets.begin() + next, targets.begin() + next + n);
    waves.push_back(std::move(wave));
    next += n;
  }
  return waves;
}

const char* to_string(DeviceOutcome o) {
  switch (o) {
    case DeviceOutcome::kPending:
      return "pending";
    case DeviceOutcome::kCompleted:
      return "completed";
    case DeviceOutcome::kWaitingForReupdate:
      return "waiting-for-re-update";
    case DeviceOutcome::kError:
      return "error";
  }
  return "unknown";
}

std::optional<DeviceOutcome> device_outcome_from(const std::string& s) {
  for (auto o : {DeviceOutcome::kPending, DeviceOutcome::kCompleted,
                 DeviceOutcome::kWaitingForReupdate, DeviceOutcome::kError}) {
    if (s == to_string(o)) return o;
  }
  return std::nullopt;
}

const char* result_label(DeviceOutcome o) {
  switch (o) {
    case DeviceOutcome::kPending:
      return "pending";
    case DeviceOutcome::kCompleted:
      return "updating completed";
    case DeviceOutcome::kWaitingForReupdate:
      return "waiting for re-updating";
    case DeviceOutcome::kError:
      return "error";
  }
  return "unknown";
}

Result<FailureThreshold> parse_failure_threshold(const Json& j) {
  auto size = parse_wave_size(j);
  if (!size || size->kind == WaveSize::Kind::kRest) {
    return bad_input(
        "failure threshold must be a number of devices (at least 1) or a percentage "
        "like \"5%\" (more than 0% and at most 100%)");
  }
  FailureThreshold t;
  if (size->kind == WaveSize::Kind::kCount) {
    t.kind = FailureThreshold::Kind::kCount;
    t.count = size->count;
  } else {
    t.kind = FailureThreshold::Kind::kPercent;
    t.percent_hundredths = size->percent_hundredths;
  }
  return t;
}

std::string to_text(const FailureThreshold& t) {
  if (t.kind == FailureThreshold::Kind::kPercent) return percent_text(t.percent_hundredths);
  return std::to_string(t.count);
}

std::int64_t threshold_devices(const FailureThreshold& t, std::int64_t total_devices) {
  if (total_devices <= 0) return 0;
  if (t.kind == FailureThreshold::Kind::kCount) return t.count;
  return std::max<std::int64_t>(1, percent_of(total_devices, t.percent_hundredths));
}

CampaignTally tally_outcomes(const std::vector<DeviceOutcome>& outcomes) {
  CampaignTally t;
  t.total = std::int64_t(outcomes.size());
  for (auto o : outcomes) {
    switch (o) {
      case DeviceOutcome::kPending:
        ++t.pending;
        break;
      case DeviceOutcome::kCompleted:
        ++t.completed;
        break;
      case DeviceOutcome::kWaitingForReupdate:
        ++t.waiting_for_reupdate;
        break;
      case DeviceOutcome::kError:
        ++t.error;
        break;
    }
  }
  return t;
}

const char* to_string(CampaignAction a) {
  switch (a) {
    case CampaignAction::kContinue:
      return "continue";
    case CampaignAction::kPause:
      return "pause";
    case CampaignAction::kDone:
      return "done";
  }
  return "unknown";
}

Result<CampaignVerdict> campaign_verdict(const std::vector<DeviceOutcome>& outcomes,
                                         const FailureThreshold& threshold) {
  if (auto st = check_threshold(threshold); !st) return st.error();
  CampaignVerdict v;
  v.tally = tally_outcomes(outcomes);
  const CampaignTally& t = v.tally;
  std::int64_t limit = threshold_devices(threshold, t.total);
  std::string limit_text = threshold.kind == FailureThreshold::Kind::kPercent
                               ? to_text(threshold) + " = " + devices_text(limit)
                               : devices_text(limit);
  if (t.error > 0 && t.error >= limit) {
    v.action = CampaignAction::kPause;
    v.reason = std::to_string(t.error) + " of " + devices_text(t.total) +
               " in error, the threshold (" + limit_text + ")";
    return v;
  }
  if (t.pending == 0 && t.waiting_for_reupdate == 0) {
    v.action = CampaignAction::kDone;
    v.reason = "all " + devices_text(t.total) + " finished: " + std::to_string(t.completed) +
               " completed, " + std::to_string(t.error) + " in error";
    return v;
  }
  v.action = CampaignAction::kContinue;
  v.reason = std::to_string(t.completed) + " of " + devices_text(t.total) + " completed, " +
             std::to_string(t.waiting_for_reupdate) + " waiting for re-update, " +
             std::to_string(t.error) + " in error (threshold " + limit_text + ")";
  return v;
}

// ===== 6. Version cells =====

Result<std::string> version_change_text(const std::string& current, const std::string& target) {
  if (target.empty()) return bad_input("target version is empty");
  if (current == target) return "Ver" + target;
  return "Ver" + (current.empty() ? std::string("?") : current) + "\u2192" + target;
}

Result<std::map<std::string, std::string>> version_change_cells(
    const Json& device_firmware, const std::map<std::string, std::string>& targets) {
  if (!device_firmware.is_null() && !device_firmware.is_object()) {
    return bad_input("device firmware summary must be an object of component versions");
  }
  std::map<std::string, std::string> cells;
  for (const auto& [component, target] : targets) {
    if (component.empty()) return bad_input("component name is empty");
    std::string current;
    if (device_firmware.is_object()) {
      auto it = device_firmware.find(component);
      if (it != device_firmware.end() && it->is_string()) current = it->get<std::string>();
    }
    auto cell = version_change_text(current, target);
    if (!cell) return bad_input("component " + component + ": " + cell.error().message);
    cells[component] = *cell;
  }
  return cells;
}

}  // namespace printrelay
