#include "core/billing.h"

#include <algorithm>
#include <limits>
#include <tuple>

namespace printrelay {

namespace {

void flatten_into(const Json& j, const std::string& prefix,
                  std::map<std::string, std::int64_t>& out) {
  for (const auto& [key, value] : j.items()) {
    std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object()) {
      flatten_into(value, name, out);
      continue;
    }
    // Counters count up from zero: a negative or out-of-range value is not a meter reading.
    if (value.is_number_unsigned()) {
      auto v = value.get<std::uint64_t>();
      if (v <= std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
        out[name] = std::int64_t(v);
      }
      continue;
    }
    if (value.is_number_integer() && value.get<std::int64_t>() >= 0) {
      out[name] = value.get<std::int64_t>();
    }
  }
}

// Differences are sums of steps between non-negative values; a device reporting absurd values
// saturates instead of overflowing.
std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return std::numeric_limits<std::int64_t>::max();
  return sum;
}

BillingFlag flag(const char* kind, TimeMs at) {
  BillingFlag f;
  f.kind = kind;
  f.at = at;
  return f;
}

}  // namespace

Result<BillingPeriod> billing_period(TimeMs from, TimeMs to) {
  if (from >= to) {
    return bad_input("the billing period must end after it starts (from " + format_time(from) +
                     ", to " + format_time(to) + ")");
  }
  return BillingPeriod{from, to};
}

Result<BillingPeriod> parse_billing_period(std::string_view from, std::string_view to) {
  if (from.empty()) return bad_input("from: the start of the billing period is required");
  if (to.empty()) return bad_input("to: the end of the billing period is required");
  auto f = parse_time(from);
  if (!f) return bad_input("from: " + f.error().message);
  auto t = parse_time(to);
  if (!t) return bad_input("to: " + t.error().message);
  return billing_period(*f, *t);
}

std::map<std::string, std::int64_t> flatten_counters(const Json& body) {
  std::map<std::string, std::int64_t> out;
  if (body.is_object()) flatten_into(body, "", out);
  return out;
}

std::string flag_text(const BillingFlag& f) {
  if (f.kind == "no_readings") return f.kind;
  std::string s = f.kind + "@" + format_time(f.at);
  if (f.until) s += "/" + format_time(*f.until);
  return s;
}

Result<DeviceUsage> compute_usage(const std::vector<MeterReading>& readings,
                                  const BillingPeriod& period, const BillingOptions& options) {
  if (period.from >= period.to) return billing_period(period.from, period.to).error();
  if (options.max_gap_ms <= 0) return bad_input("the maximum gap between readings must be > 0");

  DeviceUsage usage;
  usage.period = period;
  // Indices of the readings before `to`, in time order.
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < readings.size(); ++i) {
    if (readings[i].at < period.to) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return readings[a].at < readings[b].at; });
  if (order.empty()) {
    usage.flags.push_back(flag("no_readings", period.from));
    return usage;
  }

  // The last reading at or before `from`, else the first one inside the period.
  std::size_t first = 0;
  for (std::size_t k = 0; k < order.size() && readings[order[k]].at <= period.from; ++k) first = k;
  const MeterReading& start = readings[order[first]];
  const MeterReading& end = readings[order.back()];
  usage.start_at = start.at;
  usage.end_at = end.at;
  if (start.at > period.from) usage.flags.push_back(flag("start_late", start.at));

  std::map<std::string, CounterUsage> counters;
  for (std::size_t k = first; k < order.size(); ++k) {
    const MeterReading& r = readings[order[k]];
    if (k > first) {
      const TimeMs previous = readings[order[k - 1]].at;
      if (r.at - previous > options.max_gap_ms) {
        BillingFlag gap = flag("gap", previous);
        gap.until = r.at;
        usage.flags.push_back(std::move(gap));
      }
    }
    for (const auto& [name, value] : r.counters) {
      auto [it, fresh] = counters.try_emplace(name);
      CounterUsage& c = it->second;
      if (fresh) {
        // A counter first seen after the start reading starts where it is first seen.
        c = CounterUsage{name, r.at, value, r.at, value, 0, {}};
        continue;
      }
      if (value >= c.end) {
        c.difference = saturating_add(c.difference, value - c.end);
      } else {
        BillingFlag reset = flag("reset", r.at);
        reset.counter = name;
        reset.value_before = c.end;
        reset.value_after = value;
        c.resets.push_back(std::move(reset));
      }
      c.end = value;
      c.end_at = r.at;
    }
  }
  if (period.to - end.at > options.max_gap_ms) usage.flags.push_back(flag("end_early", end.at));
  for (auto& [name, c] : counters) usage.counters.push_back(std::move(c));
  return usage;
}

std::vector<BillingRow> billing_rows(const BillingDevice& device, const DeviceUsage& usage) {
  BillingRow base;
  base.serial = device.serial;
  base.model = device.model;
  base.customer = device.customer;
  base.place = device.place;
  base.flags = usage.flags;
  if (usage.counters.empty()) return {base};
  std::vector<BillingRow> rows;
  for (const auto& c : usage.counters) {
    BillingRow row = base;
    row.counter = c.counter;
    row.start_at = c.start_at;
    row.start = c.start;
    row.end_at = c.end_at;
    row.end = c.end;
    row.difference = c.difference;
    row.flags.insert(row.flags.end(), c.resets.begin(), c.resets.end());
    rows.push_back(std::move(row));
  }
  return rows;
}

Json to_json(const BillingFlag& f) {
  Json j = {{"kind", f.kind}};
  if (f.kind == "no_readings") return j;
  if (!f.counter.empty()) j["counter"] = f.counter;
  j["at"] = format_time(f.at);
  if (f.until) j["until"] = format_time(*f.until);
  if (f.value_before) j["value_before"] = *f.value_before;
  if (f.value_after) j["value_after"] = *f.value_after;
  return j;
}

Json to_json(const BillingRow& r) {
  auto time_or_null = [](const std::optional<TimeMs>& t) {
    return t ? Json(format_time(*t)) : Json(nullptr);
  };
  auto value_or_null = [](const std::optional<std::int64_t>& v) {
    return v ? Json(*v) : Json(nullptr);
  };
  Json flags = Json::array();
  std::string text;
  for (const auto& f : r.flags) {
    flags.push_back(to_json(f));
    text += (text.empty() ? "" : ";") + flag_text(f);
  }
  return {{"serial", r.serial},
          {"model", r.model},
          {"customer", r.customer},
          {"place", r.place},
          {"counter", r.counter},
          {"start_at", time_or_null(r.start_at)},
          {"start", value_or_null(r.start)},
          {"end_at", time_or_null(r.end_at)},
          {"end", value_or_null(r.end)},
          {"difference", value_or_null(r.difference)},
          {"flags", std::move(flags)},
          {"flags_text", std::move(text)}};
}

std::string csv_field(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string csv_text_field(std::string_view value) {
  constexpr std::string_view kFormulaStarts = "=+-@\t\r";
  if (value.empty() || kFormulaStarts.find(value.front()) == std::string_view::npos) {
    return csv_field(value);
  }
  std::string out = "\"'";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string to_csv(std::vector<BillingRow> rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const BillingRow& a, const BillingRow& b) {
    return std::tie(a.serial, a.counter) < std::tie(b.serial, b.counter);
  });
  auto time_text = [](const std::optional<TimeMs>& t) { return t ? format_time(*t) : ""; };
  auto value_text = [](const std::optional<std::int64_t>& v) {
    return v ? std::to_string(*v) : "";
  };
  std::string out = std::string(kBillingCsvHeader) + "\r\n";
  for (const auto& r : rows) {
    std::string flags;
    for (const auto& f : r.flags) flags += (flags.empty() ? "" : ";") + flag_text(f);
    const std::string fields[] = {
        csv_text_field(r.serial),       csv_text_field(r.model),
        csv_text_field(r.customer),     csv_text_field(r.place),
        csv_text_field(r.counter),      csv_field(time_text(r.start_at)),
        csv_field(value_text(r.start)), csv_field(time_text(r.end_at)),
        csv_field(value_text(r.end)),   csv_field(value_text(r.difference)),
        csv_text_field(flags)};
    bool first = true;
    for (const auto& f : fields) {
      if (!first) out += ',';
      first = false;
      out += f;
    }
    out += "\r\n";
  }
  return out;
}

}  // namespace printrelay
