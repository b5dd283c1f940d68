#include "relay/billing_export.h"

#include <algorithm>

namespace printrelay {

namespace {

constexpr int kPageSize = 1000;
// The start reading is looked for in this window before the period first: one indexed range per
// device instead of the device's whole history; only a device silent that long needs the latter.
constexpr TimeMs kLookBackMs = 35LL * 24 * 3600 * 1000;
// Reports come newest first by reception number; an agent's backlog can deliver an older reading
// after a newer one, so the newest few are compared by their own time.
constexpr int kLatestCandidates = 16;

MeterReading reading_of(const StoredReport& r) {
  return MeterReading{r.report.created_at, flatten_counters(r.report.body)};
}

// The device's last counters reading before `before` (by its own time), if any. A bill computed
// from a read that failed would be wrong, not short: every read error ends the export.
Result<std::optional<MeterReading>> last_reading_before(Store& store, const std::string& serial,
                                                        TimeMs before) {
  ReportQuery q;
  q.serial = serial;
  q.kind = "counters";
  q.until = before;
  q.limit = kLatestCandidates;
  q.since = before - kLookBackMs;
  auto found = store.list_reports(q);
  if (found && found->empty()) {
    q.since.reset();
    found = store.list_reports(q);
  }
  if (!found) return found.error();
  if (found->empty()) return std::optional<MeterReading>();
  auto newest = std::max_element(found->begin(), found->end(), [](const auto& a, const auto& b) {
    return a.report.created_at < b.report.created_at;
  });
  return std::optional<MeterReading>(reading_of(*newest));
}

// Every counters reading in the period, by device, in reception order.
Result<std::map<std::string, std::vector<MeterReading>>> readings_in(Store& store,
                                                                     const BillingQuery& query) {
  std::map<std::string, std::vector<MeterReading>> by_serial;
  ReportQuery q;
  q.serial = query.serial;
  q.kind = "counters";
  q.since = query.period.from;
  q.until = query.period.to;
  q.after_seq = 0;
  q.limit = kPageSize;
  while (true) {
    auto page = store.list_reports(q);
    if (!page) return page.error();
    for (const auto& r : *page) by_serial[r.serial].push_back(reading_of(r));
    if (page->size() < std::size_t(kPageSize)) return by_serial;
    q.after_seq = page->back().seq;
  }
}

// "2026-11-01T00:00:00.000Z" -> "20261101T000000Z" (milliseconds kept only when not zero).
std::string compact_time(TimeMs t) {
  std::string s = format_time(t);
  if (s.size() > 5 && s.compare(s.size() - 5, 5, ".000Z") == 0) s.erase(s.size() - 5, 4);
  std::string out;
  for (char c : s) {
    if (c != '-' && c != ':' && c != '.') out += c;
  }
  return out;
}

}  // namespace

Result<BillingQuery> parse_billing_query(const std::map<std::string, std::string>& query) {
  auto value = [&](const char* key) {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  };
  auto period = parse_billing_period(value("from"), value("to"));
  if (!period) return period.error();
  BillingQuery q;
  q.period = *period;
  q.serial = value("serial");
  q.customer = value("customer");
  const std::string format = value("format");
  if (!format.empty() && format != "json" && format != "csv") {
    return bad_input("format must be json or csv, not '" + format + "'");
  }
  q.csv = format == "csv";
  return q;
}

Result<std::vector<BillingRow>> billing_export(Store& store, const BillingQuery& query) {
  auto read = readings_in(store, query);
  if (!read) return read.error();
  auto& in_period = *read;
  std::map<std::string, BillingDevice> devices;
  auto describe = [&](const Device* d, const Registration* r) {
    const std::string& serial = d ? d->serial : r->serial;
    BillingDevice& b = devices[serial];
    b.serial = serial;
    if (d && b.model.empty()) b.model = d->model;
    if (!r) return;
    if (!r->model.empty()) b.model = r->model;  // the service center's entry wins
    b.customer = r->customer;
    b.place = r->place;
  };
  if (query.serial.empty()) {
    auto all_devices = store.list_devices();
    if (!all_devices) return all_devices.error();
    for (const auto& d : *all_devices) describe(&d, nullptr);
    auto regs = store.list_registrations();
    if (!regs) return regs.error();
    for (const auto& r : *regs) describe(nullptr, &r);
  } else {
    auto d = store.get_device(query.serial);
    if (!d && d.error().kind != ErrorKind::kNotFound) return d.error();
    auto r = store.get_registration(query.serial);
    if (!r && r.error().kind != ErrorKind::kNotFound) return r.error();
    if (d) describe(&*d, nullptr);
    if (r) describe(nullptr, &*r);
  }
  for (const auto& [serial, readings] : in_period) {
    devices.try_emplace(serial, BillingDevice{serial, "", "", ""});
  }
  if (!query.serial.empty() && devices.empty()) return not_found("no device " + query.serial);

  std::vector<BillingRow> rows;
  for (const auto& [serial, device] : devices) {
    if (!query.customer.empty() && device.customer != query.customer) continue;
    std::vector<MeterReading> readings;
    auto before = last_reading_before(store, serial, query.period.from);
    if (!before) return before.error();
    if (*before) readings.push_back(std::move(**before));
    if (auto it = in_period.find(serial); it != in_period.end()) {
      readings.insert(readings.end(), std::make_move_iterator(it->second.begin()),
                      std::make_move_iterator(it->second.end()));
    }
    auto usage = compute_usage(readings, query.period, query.options);
    if (!usage) return usage.error();
    auto device_rows = billing_rows(device, *usage);
    rows.insert(rows.end(), std::make_move_iterator(device_rows.begin()),
                std::make_move_iterator(device_rows.end()));
  }
  return rows;  // devices and each device's counters are already in order
}

Json billing_json(const BillingQuery& query, const std::vector<BillingRow>& rows) {
  Json list = Json::array();
  for (const auto& r : rows) list.push_back(to_json(r));
  return {{"from", format_time(query.period.from)},
          {"to", format_time(query.period.to)},
          {"max_gap_s", query.options.max_gap_ms / 1000},
          {"rows", std::move(list)}};
}

std::string billing_csv_filename(const BillingPeriod& period) {
  return "billing-" + compact_time(period.from) + "-" + compact_time(period.to) + ".csv";
}

}  // namespace printrelay
