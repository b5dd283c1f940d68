#include "core/troubles.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <set>
#include <tuple>

#include "core/json_fields.h"
#include "core/rule_text.h"

namespace printrelay {

namespace {

constexpr std::size_t kMaxLocationLength = 64;
constexpr std::size_t kMaxAdviceLength = 500;

std::optional<ClearedBy> cleared_by_from(const std::string& s) {
  if (s == "reset") return ClearedBy::kReset;
  if (s == "reboot" || s == "power_cycle") return ClearedBy::kReboot;
  if (s == "other") return ClearedBy::kOther;
  if (s == "not_cleared") return ClearedBy::kNotCleared;
  return std::nullopt;
}

// ----- reading events from reports -----

// A call while the converter reads it: whether its cleared_by was stated or is to be inferred.
struct CallDraft {
  ServiceCall call;
  bool cleared_by_stated = false;
};

std::optional<TimeMs> time_of(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  auto t = parse_time(it->get<std::string>());
  if (!t) return std::nullopt;
  return *t;
}

// The events of reports as read, before duplicates are merged and clearings inferred.
class EventReader {
 public:
  void read(const Report& r) {
    const Json& body = r.body;
    const std::string where = report_name(r);
    if (r.kind == "boot") {
      events_.reboots.push_back(r.created_at);
      return;
    }
    if (!body.is_object()) {
      if (r.kind == "alert" || r.kind == "error-log" || r.kind == "jams" || r.kind == "calls") {
        note(where + ": body is not an object, skipped");
      }
      return;
    }
    if (r.kind == "alert") {
      read_fault(body, r.created_at, where);
    } else if (r.kind == "error-log") {
      for_each_entry(body, "entries", where, " entry ",
                     [&](const Json& e, TimeMs at, const std::string& at_where) {
                       read_fault(e, at, at_where);
                     });
    } else if (r.kind == "jams") {
      for_each_entry(body, "recent", where, " recent ",
                     [&](const Json& e, TimeMs at, const std::string& at_where) {
                       read_jam(e, at, at_where);
                     });
    } else if (r.kind == "calls") {
      for_each_entry(body, "service_calls", where, " service_calls ",
                     [&](const Json& e, TimeMs at, const std::string& at_where) {
                       read_call(e, at, at_where);
                     });
    }
  }

  DeviceEvents& events() { return events_; }
  std::vector<CallDraft>& calls() { return calls_; }

 private:
  void note(std::string text) { events_.notes.push_back(std::move(text)); }

  // Each entry of the array at `key` with its RFC 3339 "at"; notes for a missing array and for
  // entries without a time. An entry is named "<where><label><index>".
  template <typename Fn>
  void for_each_entry(const Json& body, const char* key, const std::string& where,
                      const char* label, Fn fn) {
    auto list = body.find(key);
    if (list == body.end() || !list->is_array()) {
      note(where + ": no '" + key + "' array, skipped");
      return;
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
      const Json& e = (*list)[i];
      std::string at_where = where + label + std::to_string(i);
      auto at = e.is_object() ? time_of(e, "at") : std::nullopt;
      if (!at) {
        note(at_where + ": no RFC 3339 'at', skipped");
        continue;
      }
      fn(e, *at, at_where);
    }
  }

  // One fault entry ({type, code, location?, sc_type?}) of an alert or error-log at time `at`.
  void read_fault(const Json& e, TimeMs at, const std::string& where) {
    std::string type = string_or_empty(e, "type");
    if (type != "jam" && type != "service_call") return;  // supply_empty, part_eol, ...
    std::string code = string_or_empty(e, "code");
    if (code.empty()) {
      note(where + ": a " + type + " without a code, skipped");
      return;
    }
    if (type == "jam") {
      events_.jams.push_back({at, string_or_empty(e, "location"), code});
      return;
    }
    CallDraft d;
    d.call.at = at;
    d.call.code = code;
    d.call.sc_type = string_or_empty(e, "sc_type");
    calls_.push_back(std::move(d));
  }

  // A "jams" report's recent entry {at, location, code}.
  void read_jam(const Json& e, TimeMs at, const std::string& where) {
    std::string code = string_or_empty(e, "code");
    std::string location = string_or_empty(e, "location");
    if (code.empty() && location.empty()) {
      note(where + ": a jam without code or location, skipped");
      return;
    }
    events_.jams.push_back({at, location, code});
  }

  // A "calls" report's entry {at, code, sc_type, cleared_at, cleared_by?}. A bad cleared_at or
  // cleared_by is ignored with a note; the call itself is kept.
  void read_call(const Json& e, TimeMs at, const std::string& where) {
    CallDraft d;
    d.call.at = at;
    d.call.code = string_or_empty(e, "code");
    d.call.sc_type = string_or_empty(e, "sc_type");
    if (d.call.code.empty()) {
      note(where + ": a service call without a code, skipped");
      return;
    }
    if (auto cleared = e.find("cleared_at"); cleared != e.end() && !cleared->is_null()) {
      auto t = time_of(e, "cleared_at");
      if (!t) {
        note(where + ": cleared_at is not an RFC 3339 time, ignored");
      } else if (*t < at) {
        note(where + ": cleared_at before the call, ignored");
      } else {
        d.call.cleared_at = *t;
        d.call.cleared_by = ClearedBy::kOther;
      }
    }
    if (auto by = e.find("cleared_by"); by != e.end() && !by->is_null()) {
      auto c = by->is_string() ? cleared_by_from(by->get<std::string>()) : std::nullopt;
      if (!c) {
        note(where + ": cleared_by is not reset, reboot or other, ignored");
      } else if (!d.call.cleared_at) {
        if (*c != ClearedBy::kNotCleared) note(where + ": cleared_by without cleared_at, ignored");
      } else if (*c != ClearedBy::kNotCleared) {
        d.call.cleared_by = *c;
        d.cleared_by_stated = true;
      }
    }
    calls_.push_back(std::move(d));
  }

  DeviceEvents events_;
  std::vector<CallDraft> calls_;
};

// Jams sorted by time, one per (location, code) burst within the tolerance.
std::vector<Jam> merge_jams(std::vector<Jam> jams) {
  std::sort(jams.begin(), jams.end(), [](const Jam& a, const Jam& b) {
    return std::tie(a.at, a.location, a.code) < std::tie(b.at, b.location, b.code);
  });
  std::vector<Jam> kept;
  std::map<std::pair<std::string, std::string>, TimeMs> last_seen;
  for (auto& j : jams) {
    auto key = std::make_pair(j.location, j.code);
    auto it = last_seen.find(key);
    bool same = it != last_seen.end() && j.at - it->second <= kSameEventToleranceMs;
    last_seen[key] = j.at;
    if (!same) kept.push_back(std::move(j));
  }
  return kept;
}

// Calls sorted by time, one per code burst within the tolerance; the clearing from whichever
// copy knows it best (a stated cleared_by over an inferred one, then the earliest).
std::vector<CallDraft> merge_calls(std::vector<CallDraft> calls) {
  std::stable_sort(calls.begin(), calls.end(), [](const CallDraft& a, const CallDraft& b) {
    return std::tie(a.call.at, a.call.code) < std::tie(b.call.at, b.call.code);
  });
  std::vector<CallDraft> merged;
  std::map<std::string, std::pair<TimeMs, std::size_t>> last_seen;  // code -> (time, merged idx)
  for (auto& d : calls) {
    auto it = last_seen.find(d.call.code);
    if (it == last_seen.end() || d.call.at - it->second.first > kSameEventToleranceMs) {
      last_seen[d.call.code] = {d.call.at, merged.size()};
      merged.push_back(std::move(d));
      continue;
    }
    CallDraft& into = merged[it->second.second];
    it->second.first = d.call.at;
    if (into.call.sc_type.empty()) into.call.sc_type = d.call.sc_type;
    bool better = d.call.cleared_at &&
                  (!into.call.cleared_at || (d.cleared_by_stated && !into.cleared_by_stated) ||
                   (d.cleared_by_stated == into.cleared_by_stated &&
                    *d.call.cleared_at < *into.call.cleared_at));
    if (better) {
      into.call.cleared_at = d.call.cleared_at;
      into.call.cleared_by = d.call.cleared_by;
      into.cleared_by_stated = d.cleared_by_stated;
    }
  }
  return merged;
}

// A clearing without a stated cause was a reboot when one lies near it, else something else; a
// call never cleared is cleared by the first reboot after it. `reboots` sorted.
ServiceCall settle_clearing(CallDraft d, const std::vector<TimeMs>& reboots) {
  ServiceCall& c = d.call;
  if (c.cleared_at && !d.cleared_by_stated) {
    bool reboot_then = std::any_of(reboots.begin(), reboots.end(), [&](TimeMs r) {
      return std::llabs(r - *c.cleared_at) <= kClearedByRebootToleranceMs;
    });
    c.cleared_by = reboot_then ? ClearedBy::kReboot : ClearedBy::kOther;
  } else if (!c.cleared_at) {
    auto r = std::upper_bound(reboots.begin(), reboots.end(), c.at);
    if (r != reboots.end()) {
      c.cleared_at = *r;
      c.cleared_by = ClearedBy::kReboot;
    }
  }
  return std::move(c);
}

// ----- thresholds -----

Result<TimeMs> window_field(const Json& v, const std::string& field) {
  return read_duration(v, field, kHourMs, kMinuteMs, 8760 * kHourMs,
                       "hours, at least one minute (0.0167) and at most 8760");
}

Status check_window(TimeMs ms, const std::string& field) {
  if (ms < kMinuteMs || ms > kYearMs) {
    return bad_input(field + " must be at least one minute and at most 8760 h");
  }
  return ok_status();
}

Status check_count(std::int64_t n, const std::string& field) {
  if (n < 1 || n > 10000) return bad_input(field + " must be 1..10000");
  return ok_status();
}

// The ranges parse_trouble_thresholds() enforces, for thresholds built in code.
Status check_thresholds(const TroubleThresholds& t) {
  if (auto st = check_count(t.jam_rate.count, "jam_rate.count"); !st) return st;
  if (auto st = check_window(t.jam_rate.window_ms, "jam_rate.window_h"); !st) return st;
  if (auto st = check_count(t.repeated_jams.count, "repeated_jams.count"); !st) return st;
  if (auto st = check_window(t.repeated_jams.window_ms, "repeated_jams.window_h"); !st) return st;
  if (auto st = check_count(t.sc_recurrence.count, "sc_recurrence.count"); !st) return st;
  if (auto st = check_window(t.sc_recurrence.window_ms, "sc_recurrence.window_h"); !st) return st;
  if (auto st = check_window(t.sc_recurrence.lookback_ms, "sc_recurrence.lookback_h"); !st) {
    return st;
  }
  if (t.sc_recurrence.enabled && t.sc_recurrence.cleared_by.empty()) {
    return bad_input("sc_recurrence.cleared_by must name at least one of reset, reboot, other");
  }
  for (auto c : t.sc_recurrence.cleared_by) {
    if (c == ClearedBy::kNotCleared) {
      return bad_input("sc_recurrence.cleared_by must be reset, reboot or other");
    }
  }
  if (auto st = check_count(t.rising_errors.min_count, "rising_errors.min_count"); !st) return st;
  if (auto st = check_window(t.rising_errors.window_ms, "rising_errors.window_h"); !st) return st;
  if (t.rising_errors.baseline_windows < 1 || t.rising_errors.baseline_windows > 52) {
    return bad_input("rising_errors.baseline_windows must be 1..52");
  }
  if (!std::isfinite(t.rising_errors.factor) || t.rising_errors.factor < 1 ||
      t.rising_errors.factor > 100) {
    return bad_input("rising_errors.factor must be a number 1..100");
  }
  return ok_status();
}

// Reads the keys of one rule section into the fields every rule has (enabled, window_h,
// urgency); `extra` reads the rest.
template <typename Rule, typename Extra>
Status parse_section(const Json& j, const std::string& name,
                     std::initializer_list<std::string_view> keys, Rule& rule, Extra extra) {
  if (!j.is_object()) return bad_input(name + " must be an object");
  if (auto st = check_fields(j, name, keys); !st) return st;
  for (const auto& item : j.items()) {
    const std::string field = name + "." + item.key();
    const Json& v = item.value();
    if (item.key() == "enabled") {
      auto b = read_bool(v, field);
      if (!b) return b.error();
      rule.enabled = *b;
    } else if (item.key() == "window_h") {
      auto w = window_field(v, field);
      if (!w) return w.error();
      rule.window_ms = *w;
    } else if (item.key() == "urgency") {
      auto u = read_urgency(v, field);
      if (!u) return u.error();
      rule.urgency = *u;
    } else if (auto st = extra(item.key(), v, field); !st) {
      return st;
    }
  }
  return ok_status();
}

Status parse_count_into(const Json& v, const std::string& field, std::int64_t& into) {
  auto n = read_integer(v, field, 1, 10000);
  if (!n) return n.error();
  into = *n;
  return ok_status();
}

// "cleared_by": one or more of reset, reboot, other; sorted, each once.
Result<std::vector<ClearedBy>> parse_cleared_by(const Json& v, const std::string& field) {
  auto list = read_text_list(v, field, 3, 16);
  if (!list) return list.error();
  std::vector<ClearedBy> by;
  for (const auto& s : *list) {
    auto c = cleared_by_from(s);
    if (!c || *c == ClearedBy::kNotCleared) {
      return bad_input(field + ": '" + s + "' is not reset, reboot or other");
    }
    if (std::find(by.begin(), by.end(), *c) == by.end()) by.push_back(*c);
  }
  if (by.empty()) return bad_input(field + " must not be empty");
  std::sort(by.begin(), by.end());
  return by;
}

Status parse_jam_rate(const Json& v, JamRateRule& rule) {
  return parse_section(v, "jam_rate", {"enabled", "count", "window_h", "urgency"}, rule,
                       [&](const std::string& k, const Json& x, const std::string& field) {
                         return k == "count" ? parse_count_into(x, field, rule.count) : ok_status();
                       });
}

Status parse_repeated_jams(const Json& v, RepeatedJamsRule& rule) {
  return parse_section(v, "repeated_jams", {"enabled", "count", "window_h", "urgency"}, rule,
                       [&](const std::string& k, const Json& x, const std::string& field) {
                         return k == "count" ? parse_count_into(x, field, rule.count) : ok_status();
                       });
}

Status parse_sc_recurrence(const Json& v, ScRecurrenceRule& rule) {
  return parse_section(v, "sc_recurrence",
                       {"enabled", "count", "window_h", "lookback_h", "cleared_by", "urgency"},
                       rule, [&](const std::string& k, const Json& x, const std::string& field) {
                         if (k == "count") return parse_count_into(x, field, rule.count);
                         if (k == "lookback_h") {
                           auto w = window_field(x, field);
                           if (!w) return Status(w.error());
                           rule.lookback_ms = *w;
                           return ok_status();
                         }
                         auto by = parse_cleared_by(x, field);  // the one key left
                         if (!by) return Status(by.error());
                         rule.cleared_by = std::move(*by);
                         return ok_status();
                       });
}

Status parse_rising_errors(const Json& v, RisingErrorsRule& rule) {
  return parse_section(
      v, "rising_errors",
      {"enabled", "min_count", "window_h", "baseline_windows", "factor", "urgency"}, rule,
      [&](const std::string& k, const Json& x, const std::string& field) {
        if (k == "min_count") return parse_count_into(x, field, rule.min_count);
        if (k == "baseline_windows") {
          auto n = read_integer(x, field, 1, 52);
          if (!n) return Status(n.error());
          rule.baseline_windows = *n;
          return ok_status();
        }
        auto f = read_number(x, field, 1, 100);  // factor, the one key left
        if (!f) return Status(f.error());
        rule.factor = *f;
        return ok_status();
      });
}

Result<std::map<std::string, std::string>> parse_location_advice(const Json& v) {
  if (!v.is_object()) return bad_input("location_advice must be an object of location -> text");
  std::map<std::string, std::string> out;
  for (const auto& a : v.items()) {
    if (a.key().empty() || a.key().size() > kMaxLocationLength) {
      return bad_input("location_advice: a location must be 1..64 characters");
    }
    auto s = read_text(a.value(), "location_advice." + a.key(), kMaxAdviceLength);
    if (!s) return s.error();
    out[a.key()] = *s;
  }
  return out;
}

// ----- judging -----

// "tray2" -> "tray 2", "adf" -> "ADF", others unchanged.
std::string location_text(const std::string& loc) {
  if (lower(loc) == "adf") return "ADF";
  std::size_t digits = loc.size();
  while (digits > 0 && std::isdigit(static_cast<unsigned char>(loc[digits - 1]))) --digits;
  if (digits == 0 || digits == loc.size() ||
      !std::isalpha(static_cast<unsigned char>(loc[digits - 1]))) {
    return loc;
  }
  return loc.substr(0, digits) + " " + loc.substr(digits);
}

std::string location_advice(const TroubleThresholds& t, const std::string& loc) {
  if (auto it = t.location_advice.find(loc); it != t.location_advice.end()) return it->second;
  std::string l = lower(loc);
  auto starts = [&](const char* p) { return l.rfind(p, 0) == 0; };
  if (starts("tray") || starts("cassette")) return "check the pickup roller";
  if (starts("manual") || starts("bypass")) {
    return "check the bypass tray pickup roller and the paper loaded";
  }
  if (starts("fuser")) return "check the fuser unit and that the paper type matches the setting";
  if (starts("duplex")) return "check the duplex unit and its rollers";
  if (starts("adf")) return "clean or replace the document feeder rollers";
  if (starts("exit") || starts("output")) return "check the exit rollers and the output tray";
  return "inspect the paper path at " + location_text(loc);
}

// Closed windows: an event exactly `window_ms` old counts, and so does one stamped after `now`.
bool recent(TimeMs at, TimeMs now, TimeMs window_ms) { return now - at <= window_ms; }

// Counts one event at `at` into `f`, widening its first_at..last_at.
void count_event(TroubleFinding& f, TimeMs at) {
  if (f.count == 0 || at < f.first_at) f.first_at = at;
  if (f.count == 0 || at > f.last_at) f.last_at = at;
  ++f.count;
}

std::string cleared_text(const std::set<ClearedBy>& how) {
  std::vector<std::string> parts;
  if (how.count(ClearedBy::kReset)) parts.push_back("a reset");
  if (how.count(ClearedBy::kReboot)) parts.push_back("a reboot");
  if (how.count(ClearedBy::kOther)) parts.push_back("a repair");
  return join(parts, " or ");
}

std::optional<TroubleFinding> judge_jam_rate(const JamRateRule& rule, const DeviceEvents& events,
                                             TimeMs now) {
  TroubleFinding f;
  std::map<std::string, std::int64_t> by_location;
  for (const auto& j : events.jams) {
    if (!recent(j.at, now, rule.window_ms)) continue;
    count_event(f, j.at);
    ++by_location[j.location.empty() ? "unknown" : j.location];
  }
  if (f.count < rule.count) return std::nullopt;
  // The three locations that jam most, for the advice.
  std::vector<std::pair<std::string, std::int64_t>> top(by_location.begin(), by_location.end());
  std::stable_sort(top.begin(), top.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> where;
  for (std::size_t i = 0; i < top.size() && i < 3; ++i) {
    where.push_back(location_text(top[i].first) + " " + std::to_string(top[i].second));
  }
  f.type = TroubleType::kJamRate;
  f.window_ms = rule.window_ms;
  f.urgency = rule.urgency;
  f.meaning = "paper jams are more frequent than normal";
  f.action = "check the paper (type, storage, humidity), then the rollers where it jams most (" +
             join(where, ", ") + ")";
  f.text = "Frequent jams: " + std::to_string(f.count) + " in " + duration_text(rule.window_ms) +
           " (threshold " + std::to_string(rule.count) + "); " + f.action;
  return f;
}

std::vector<TroubleFinding> judge_repeated_jams(const TroubleThresholds& t,
                                                const DeviceEvents& events, TimeMs now) {
  const auto& rule = t.repeated_jams;
  std::map<std::string, TroubleFinding> by_location;
  for (const auto& j : events.jams) {
    if (j.location.empty() || !recent(j.at, now, rule.window_ms)) continue;
    count_event(by_location[j.location], j.at);
  }
  std::vector<TroubleFinding> out;
  for (auto& [loc, f] : by_location) {
    if (f.count < rule.count) continue;
    f.type = TroubleType::kRepeatedJams;
    f.subject = loc;
    f.window_ms = rule.window_ms;
    f.urgency = rule.urgency;
    f.meaning = "paper keeps jamming at " + location_text(loc);
    f.action = location_advice(t, loc);
    f.text = "Repeated jams at " + location_text(loc) + ": " + f.action + "; " +
             std::to_string(f.count) + " in " + duration_text(rule.window_ms);
    out.push_back(std::move(f));
  }
  return out;
}

// One code's calls, sorted by time: each clearing of a kind the rule names after which the code
// came back within the window, counted when the call that came back is within the lookback.
std::optional<TroubleFinding> judge_sc_code(const ScRecurrenceRule& rule, const std::string& code,
                                            const std::vector<const ServiceCall*>& calls,
                                            TimeMs now) {
  TroubleFinding f;
  std::set<ClearedBy> how;
  std::string sc_type;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const ServiceCall& c = *calls[i];
    if (sc_type.empty()) sc_type = c.sc_type;
    if (!c.cleared_at) continue;
    if (std::find(rule.cleared_by.begin(), rule.cleared_by.end(), c.cleared_by) ==
        rule.cleared_by.end()) {
      continue;
    }
    // The first call of this code at or after the clearing is the one that came back.
    auto next = std::find_if(calls.begin() + std::ptrdiff_t(i) + 1, calls.end(),
                             [&](const ServiceCall* n) { return n->at >= *c.cleared_at; });
    if (next == calls.end()) continue;
    const ServiceCall& back = **next;
    if (back.at - *c.cleared_at > rule.window_ms) continue;
    if (!recent(back.at, now, rule.lookback_ms)) continue;
    count_event(f, back.at);
    how.insert(c.cleared_by);
  }
  if (f.count < rule.count) return std::nullopt;
  std::string name = code + (sc_type.empty() ? "" : " (type " + sc_type + ")");
  f.type = TroubleType::kScRecurrence;
  f.subject = code;
  f.window_ms = rule.window_ms;
  f.urgency = rule.urgency;
  f.meaning = "the fault behind " + name + " is still there: clearing it with " +
              cleared_text(how) + " only hid it";
  f.action = "send a technician to find and fix the cause instead of resetting again";
  f.text = name + " came back " + times_text(f.count) + " within " + duration_text(rule.window_ms) +
           " of being cleared by " + cleared_text(how) + "; " + f.action;
  return f;
}

std::vector<TroubleFinding> judge_sc_recurrence(const ScRecurrenceRule& rule,
                                                const DeviceEvents& events, TimeMs now) {
  std::map<std::string, std::vector<const ServiceCall*>> by_code;
  for (const auto& c : events.calls) by_code[c.code].push_back(&c);
  std::vector<TroubleFinding> out;
  for (auto& [code, calls] : by_code) {
    std::stable_sort(calls.begin(), calls.end(),
                     [](const ServiceCall* a, const ServiceCall* b) { return a->at < b->at; });
    if (auto f = judge_sc_code(rule, code, calls, now)) out.push_back(std::move(*f));
  }
  return out;
}

// What rising_errors judges: jams, or service calls.
struct ErrorCategory {
  const char* subject;
  const char* label;
  const char* action;
  std::vector<TimeMs> times;
};

std::optional<TroubleFinding> judge_rising(const RisingErrorsRule& rule, const ErrorCategory& cat,
                                           TimeMs now) {
  TroubleFinding f;
  std::int64_t baseline = 0;
  const TimeMs baseline_end = rule.window_ms * (1 + rule.baseline_windows);
  for (TimeMs at : cat.times) {
    TimeMs age = now - at;
    if (age <= rule.window_ms) {
      count_event(f, at);
    } else if (age <= baseline_end) {
      ++baseline;
    }
  }
  if (f.count < rule.min_count) return std::nullopt;
  // count >= factor × baseline / baseline_windows, without dividing.
  if (double(f.count) * double(rule.baseline_windows) < rule.factor * double(baseline)) {
    return std::nullopt;
  }
  double average = double(baseline) / double(rule.baseline_windows);
  std::string window = duration_text(rule.window_ms);
  f.type = TroubleType::kRisingErrors;
  f.subject = cat.subject;
  f.window_ms = rule.window_ms;
  f.urgency = rule.urgency;
  f.meaning = std::string(cat.label) + " are becoming more frequent";
  f.action = cat.action;
  f.text = std::string("Rising ") + cat.label + ": " + std::to_string(f.count) + " in the last " +
           window + " against " + number_text(average) + " per " + window + " before (threshold " +
           number_text(rule.factor, 2) + "x); " + f.action;
  return f;
}

std::vector<TroubleFinding> judge_rising_errors(const RisingErrorsRule& rule,
                                                const DeviceEvents& events, TimeMs now) {
  ErrorCategory jams{"jams", "jams", "find what changed: paper, settings, worn rollers", {}};
  ErrorCategory calls{"service_calls",
                      "service calls",
                      "read the error log for the codes behind it and plan a service visit",
                      {}};
  for (const auto& j : events.jams) jams.times.push_back(j.at);
  for (const auto& c : events.calls) calls.times.push_back(c.at);
  std::vector<TroubleFinding> out;
  for (const ErrorCategory* cat : {&jams, &calls}) {
    if (auto f = judge_rising(rule, *cat, now)) out.push_back(std::move(*f));
  }
  return out;
}

void append(std::vector<TroubleFinding>& to, std::vector<TroubleFinding> from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

const char* to_string(ClearedBy c) {
  switch (c) {
    case ClearedBy::kNotCleared:
      return "not_cleared";
    case ClearedBy::kReset:
      return "reset";
    case ClearedBy::kReboot:
      return "reboot";
    case ClearedBy::kOther:
      return "other";
  }
  return "unknown";
}

DeviceEvents events_from_reports(const std::vector<Report>& reports) {
  EventReader reader;
  for (const auto& r : reports) reader.read(r);
  DeviceEvents out = std::move(reader.events());
  std::sort(out.reboots.begin(), out.reboots.end());
  out.reboots.erase(std::unique(out.reboots.begin(), out.reboots.end()), out.reboots.end());
  out.jams = merge_jams(std::move(out.jams));
  for (auto& d : merge_calls(std::move(reader.calls()))) {
    out.calls.push_back(settle_clearing(std::move(d), out.reboots));
  }
  return out;
}

Result<TroubleThresholds> parse_trouble_thresholds(const Json& j) {
  TroubleThresholds t;
  if (j.is_null()) return t;
  if (!j.is_object()) return bad_input("trouble thresholds must be an object");
  if (auto st = check_fields(
          j, "trouble thresholds",
          {"jam_rate", "repeated_jams", "sc_recurrence", "rising_errors", "location_advice"});
      !st) {
    return st.error();
  }
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const Json& v = item.value();
    Status st = ok_status();
    if (key == "jam_rate") {
      st = parse_jam_rate(v, t.jam_rate);
    } else if (key == "repeated_jams") {
      st = parse_repeated_jams(v, t.repeated_jams);
    } else if (key == "sc_recurrence") {
      st = parse_sc_recurrence(v, t.sc_recurrence);
    } else if (key == "rising_errors") {
      st = parse_rising_errors(v, t.rising_errors);
    } else if (key == "location_advice") {
      auto advice = parse_location_advice(v);
      if (!advice) return advice.error();
      t.location_advice = std::move(*advice);
    }
    if (!st) return st.error();
  }
  return t;
}

Json to_json(const TroubleThresholds& t) {
  Json by = Json::array();
  for (auto c : t.sc_recurrence.cleared_by) by.push_back(to_string(c));
  Json advice = Json::object();
  for (const auto& [loc, a] : t.location_advice) advice[loc] = a;
  return {{"jam_rate",
           {{"enabled", t.jam_rate.enabled},
            {"count", t.jam_rate.count},
            {"window_h", duration_json(t.jam_rate.window_ms, kHourMs)},
            {"urgency", to_string(t.jam_rate.urgency)}}},
          {"repeated_jams",
           {{"enabled", t.repeated_jams.enabled},
            {"count", t.repeated_jams.count},
            {"window_h", duration_json(t.repeated_jams.window_ms, kHourMs)},
            {"urgency", to_string(t.repeated_jams.urgency)}}},
          {"sc_recurrence",
           {{"enabled", t.sc_recurrence.enabled},
            {"count", t.sc_recurrence.count},
            {"window_h", duration_json(t.sc_recurrence.window_ms, kHourMs)},
            {"lookback_h", duration_json(t.sc_recurrence.lookback_ms, kHourMs)},
            {"cleared_by", by},
            {"urgency", to_string(t.sc_recurrence.urgency)}}},
          {"rising_errors",
           {{"enabled", t.rising_errors.enabled},
            {"min_count", t.rising_errors.min_count},
            {"window_h", duration_json(t.rising_errors.window_ms, kHourMs)},
            {"baseline_windows", t.rising_errors.baseline_windows},
            {"factor", t.rising_errors.factor},
            {"urgency", to_string(t.rising_errors.urgency)}}},
          {"location_advice", advice}};
}

const char* to_string(TroubleType t) {
  switch (t) {
    case TroubleType::kJamRate:
      return "jam_rate";
    case TroubleType::kRepeatedJams:
      return "repeated_jams";
    case TroubleType::kScRecurrence:
      return "sc_recurrence";
    case TroubleType::kRisingErrors:
      return "rising_errors";
  }
  return "unknown";
}

Result<std::vector<TroubleFinding>> judge_troubles(const TroubleThresholds& t,
                                                   const DeviceEvents& events, TimeMs now) {
  if (auto st = check_thresholds(t); !st) return st.error();
  std::vector<TroubleFinding> out;
  if (t.jam_rate.enabled) {
    if (auto f = judge_jam_rate(t.jam_rate, events, now)) out.push_back(std::move(*f));
  }
  if (t.repeated_jams.enabled) append(out, judge_repeated_jams(t, events, now));
  if (t.sc_recurrence.enabled) append(out, judge_sc_recurrence(t.sc_recurrence, events, now));
  if (t.rising_errors.enabled) append(out, judge_rising_errors(t.rising_errors, events, now));
  return out;
}

Json to_json(const TroubleFinding& f) {
  Json j = {{"type", to_string(f.type)},
            {"subject", f.subject},
            {"count", f.count},
            {"first_at", format_time(f.first_at)},
            {"last_at", format_time(f.last_at)},
            {"urgency", to_string(f.urgency)},
            {"meaning", f.meaning},
            {"action", f.action},
            {"text", f.text}};
  if (f.window_ms % kHourMs == 0) {
    j["window_h"] = f.window_ms / kHourMs;
  } else {
    j["window_s"] = f.window_ms / 1000;
  }
  return j;
}

}  // namespace printrelay
