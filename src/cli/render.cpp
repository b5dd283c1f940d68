#include "cli/render.h"

#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>

#include "cli/table.h"
#include "core/firmware_rules.h"
#include "core/json_text.h"
#include "core/time.h"

namespace printrelay::cli {
namespace {

const Json& null_json() {
  static const Json n;
  return n;
}

const Json& at(const Json& j, const char* key) {
  if (!j.is_object()) return null_json();
  auto it = j.find(key);
  return it == j.end() ? null_json() : *it;
}

// The first of several keys that is present and not null.
const Json& first_of(const Json& j, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    const Json& v = at(j, k);
    if (!v.is_null()) return v;
  }
  return null_json();
}

std::string number_cell(const Json& v) {
  if (v.is_null()) return "-";
  return display(v);
}

// A report object's body; a bare body is returned as is.
const Json& body_of(const Json& report) {
  const Json& b = at(report, "body");
  return b.is_null() ? report : b;
}

// Flattens nested counters ({"paper": {"A4": 10}}) into ("paper.A4", 10) pairs.
void flatten_into(const Json& j, const std::string& prefix,
                  std::vector<std::pair<std::string, Json>>& out) {
  if (!j.is_object()) {
    out.emplace_back(prefix, j);
    return;
  }
  for (const auto& [k, v] : j.items()) {
    flatten_into(v, prefix.empty() ? k : prefix + "." + k, out);
  }
}

std::string percent_text(std::optional<double> p) {
  if (!p) return "-";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", *p);
  return buf;
}

std::string count_of(const Json& v) {
  if (v.is_array()) return std::to_string(v.size());
  if (v.is_null()) return "0";
  return display(v);
}

void print_key_values(const std::vector<std::pair<std::string, std::string>>& rows,
                      std::ostream& out, const std::string& indent) {
  std::size_t w = 0;
  for (const auto& [k, v] : rows) w = std::max(w, k.size());
  for (const auto& [k, v] : rows) {
    out << indent << k << std::string(w - k.size() + 2, ' ') << v << '\n';
  }
}

// Latest report of a kind in a device answer: under "latest", "latest_<kind>" or "<kind>".
const Json& latest_report(const Json& reply, const std::string& kind) {
  const Json& latest = at(reply, "latest");
  if (const Json& v = at(latest, kind.c_str()); !v.is_null()) return v;
  if (const Json& v = at(reply, ("latest_" + kind).c_str()); !v.is_null()) return v;
  return at(reply, kind.c_str());
}

std::string section_title(const std::string& title, const Json& report) {
  const Json& t = first_of(report, {"created_at", "received_at"});
  if (t.is_null() || !at(report, "body").is_object()) return title;
  return title + " (" + display_time(t) + ")";
}

// Serials for one table cell: the first `shown`, then "+N more" (--json has them all).
std::string serials_cell(const Json& serials, std::size_t shown = 20) {
  if (!serials.is_array() || serials.empty()) return "-";
  std::string text;
  for (std::size_t i = 0; i < serials.size() && i < shown; ++i) {
    text += (i ? ", " : "") + display(serials[i]);
  }
  if (serials.size() > shown) text += ", +" + std::to_string(serials.size() - shown) + " more";
  return text;
}

// The component names of a plan or campaign, in order.
std::vector<std::string> component_names(const Json& components) {
  std::vector<std::string> names;
  if (!components.is_array()) return names;
  for (const auto& c : components) names.push_back(display(at(c, "component")));
  return names;
}

// "main 2.0.0 (3f9a0c1d2e4b), controller 1.4 (...)".
std::string components_text(const Json& components) {
  std::string text;
  if (!components.is_array()) return "-";
  for (const auto& c : components) {
    text += (text.empty() ? "" : ", ") + display(at(c, "component")) + " " +
            display(at(c, "version")) + " (" + display(at(c, "artifact")).substr(0, 12) + ")";
  }
  return text.empty() ? "-" : text;
}

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string devices_text(const Json& n) {
  return display(n) + (n == Json(1) ? " device" : " devices");
}

std::string devices_text(std::size_t n) { return devices_text(Json(n)); }

// "mon-fri 09:00-17:00 (UTC+01:00)" per window of job params.
std::string windows_text(const Json& windows) {
  if (!windows.is_array() || windows.empty()) return "-";
  std::string text;
  for (const auto& j : windows) {
    auto w = parse_forbidden_window(j);
    std::string one = w ? to_text(*w) : display(j);
    if (w && w->utc_offset_min != 0) {
      const int off = w->utc_offset_min < 0 ? -w->utc_offset_min : w->utc_offset_min;
      char buf[24];
      std::snprintf(buf, sizeof buf, " (UTC%c%02d:%02d)", w->utc_offset_min < 0 ? '-' : '+',
                    off / 60, off % 60);
      one += buf;
    }
    text += (text.empty() ? "" : ", ") + one;
  }
  return text;
}

// "at most 3, within 86400 s, 1200 s each, then proceed" from a deferral policy.
std::string deferral_text(const Json& d) {
  if (!d.is_object()) return "-";
  return "at most " + display(at(d, "max_count")) + ", within " + display(at(d, "max_period_s")) +
         " s, " + display(at(d, "step_s")) + " s each, then " + display(at(d, "when_exhausted"));
}

// The header rows plans and campaigns share: schedule and limits of the signed job params.
void add_schedule_rows(const Json& c, const Json& job_params,
                       std::vector<std::pair<std::string, std::string>>& rows) {
  rows.emplace_back("TRANSMIT AT", display_time(at(c, "transmit_at")));
  const Json& update_at = at(c, "update_at");
  rows.emplace_back("UPDATE AT",
                    display_time(update_at.is_null() ? at(job_params, "update_at") : update_at));
  rows.emplace_back("EXPIRES AT", display_time(at(c, "expires_at")));
  if (!job_params.is_object()) return;
  rows.emplace_back("FORBIDDEN", windows_text(at(job_params, "forbidden_windows")));
  rows.emplace_back("DEFERRAL", deferral_text(at(job_params, "deferral")));
  rows.emplace_back("ATTEMPTS", display(at(job_params, "max_attempts")));
}

std::size_t size_of(const Json& array) { return array.is_array() ? array.size() : 0; }

void print_excluded(const Json& excluded, std::ostream& out) {
  out << "\nEXCLUDED: " << devices_text(size_of(excluded)) << '\n';
  Table t({"SERIAL", "REASON", "DETAIL"});
  for (const auto& d : excluded) {
    t.add_row({cell(d, "serial"), cell(d, "reason"), cell(d, "detail")});
  }
  t.print(out);
}

}  // namespace

Json items_of(const Json& reply, const char* key) {
  if (reply.is_array()) return reply;
  const Json& v = at(reply, key);
  if (v.is_array()) return v;
  if (reply.is_object()) {
    for (const auto& [k, item] : reply.items()) {
      if (item.is_array()) return item;
    }
  }
  return Json::array();
}

Json object_of(const Json& reply, const char* key) {
  const Json& v = at(reply, key);
  return v.is_object() ? v : reply;
}

std::optional<double> supply_percent(const Json& supply) {
  if (supply.is_number()) return supply.get<double>();
  const Json& pct = first_of(supply, {"level_pct", "percent", "level_percent"});
  if (pct.is_number()) return pct.get<double>();
  const Json& level = at(supply, "level");
  if (!level.is_number()) return std::nullopt;
  const Json& capacity = at(supply, "capacity");
  if (capacity.is_number() && capacity.get<double>() > 0) {
    return 100.0 * level.get<double>() / capacity.get<double>();
  }
  return level.get<double>();
}

std::vector<std::pair<std::string, Json>> supplies_of(const Json& body) {
  std::vector<std::pair<std::string, Json>> out;
  const Json& list = body.is_array() ? body : at(body, "supplies");
  if (list.is_array()) {
    for (const auto& s : list) out.emplace_back(display(first_of(s, {"name", "id", "type"})), s);
    return out;
  }
  const Json& map = list.is_object() ? list : body;
  if (!map.is_object()) return out;
  for (const auto& [k, v] : map.items()) {
    if (v.is_object() || v.is_number()) out.emplace_back(k, v);
  }
  return out;
}

std::string report_summary(const Json& report) {
  const std::string kind =
      at(report, "kind").is_string() ? at(report, "kind").get<std::string>() : "";
  const Json& body = body_of(report);
  if (kind == "counters") {
    return "total=" + number_cell(at(body, "total")) +
           " color=" + number_cell(first_of(body, {"color", "colour"})) +
           " mono=" + number_cell(first_of(body, {"mono", "black"}));
  }
  if (kind == "supplies") {
    std::string lowest_name;
    std::optional<double> lowest;
    for (const auto& [name, s] : supplies_of(body)) {
      auto p = supply_percent(s);
      if (p && (!lowest || *p < *lowest)) {
        lowest = p;
        lowest_name = name;
      }
    }
    if (!lowest) return "-";
    return "lowest " + lowest_name + " " + percent_text(lowest);
  }
  if (kind == "alert") {
    return display(at(body, "code")) + " " + display(at(body, "type")) + " " +
           display(at(body, "message"));
  }
  if (kind == "message") return display(at(body, "text"));
  if (kind == "order") return display(at(body, "item")) + " x " + display(at(body, "quantity"));
  std::size_t keys = body.is_object() || body.is_array() ? body.size() : 0;
  return std::to_string(keys) + (keys == 1 ? " key" : " keys");
}

void print_devices(const Json& devices, std::ostream& out) {
  Table t({"SERIAL", "MODEL", "PLACE", "CUSTOMER", "STATE", "LAST SEEN", "ALERTS"});
  for (const auto& d : devices) {
    t.add_row({cell(d, "serial"), cell(d, "model"), cell(d, "place"), cell(d, "customer"),
               cell(d, "state"), display_time(at(d, "last_seen")),
               count_of(first_of(d, {"open_alerts", "alerts"}))});
  }
  t.print(out);
}

void print_device_detail(const Json& reply, std::ostream& out) {
  // The device may be flat or split into "device" and "registration" objects.
  const Json& device = at(reply, "device").is_object() ? at(reply, "device") : reply;
  const Json& reg = at(reply, "registration").is_object() ? at(reply, "registration") : device;
  auto field = [&](const char* key) -> const Json& {
    for (const Json* src : {&device, &reg, &reply}) {
      if (const Json& v = at(*src, key); !v.is_null()) return v;
    }
    return null_json();
  };
  std::string firmware;
  if (const Json& fw = field("firmware"); fw.is_object()) {
    for (const auto& [k, v] : fw.items())
      firmware += (firmware.empty() ? "" : " ") + k + "=" + display(v);
  }
  print_key_values({{"SERIAL", display(field("serial"))},
                    {"MODEL", display(field("model"))},
                    {"PLACE", display(field("place"))},
                    {"CUSTOMER", display(field("customer"))},
                    {"CONTACT", display(field("contact"))},
                    {"STATE", display(field("state"))},
                    {"LAST SEEN", display_time(field("last_seen"))},
                    {"ENROLLED", display_time(field("enrolled_at"))},
                    {"FIRMWARE", firmware.empty() ? "-" : firmware}},
                   out, "");

  const Json& counters = latest_report(reply, "counters");
  out << '\n' << section_title("COUNTERS", counters) << '\n';
  std::vector<std::pair<std::string, Json>> flat;
  if (body_of(counters).is_object()) flatten_into(body_of(counters), "", flat);
  if (flat.empty()) out << "  -\n";
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& [k, v] : flat) rows.emplace_back(k, display(v));
  print_key_values(rows, out, "  ");

  const Json& supplies = latest_report(reply, "supplies");
  out << '\n' << section_title("SUPPLIES", supplies) << '\n';
  auto list = supplies_of(body_of(supplies));
  if (list.empty()) {
    out << "  -\n";
  } else {
    Table t({"  NAME", "LEVEL", "STATE"});
    for (const auto& [name, s] : list) {
      t.add_row({"  " + name, percent_text(supply_percent(s)), cell(s, "state")});
    }
    t.print(out);
  }

  const Json& structure = latest_report(reply, "structure");
  out << '\n' << section_title("STRUCTURE", structure) << '\n';
  const Json& sbody = body_of(structure);
  const Json& units = sbody.is_array() ? sbody : at(sbody, "units");
  if (!units.is_array() || units.empty()) {
    out << "  -\n";
  } else {
    Table t({"  ID", "NAME", "SERIAL", "VERSION", "VENDOR"});
    for (const auto& u : units) {
      t.add_row({"  " + display(first_of(u, {"id", "unit_id"})),
                 display(first_of(u, {"name", "type"})), cell(u, "serial"),
                 display(first_of(u, {"version", "software_version"})),
                 display(first_of(u, {"vendor_id", "vendor"}))});
    }
    t.print(out);
  }

  const Json& settings = latest_report(reply, "settings");
  out << '\n' << section_title("SETTINGS", settings) << '\n';
  std::vector<std::pair<std::string, Json>> sflat;
  if (body_of(settings).is_object()) flatten_into(body_of(settings), "", sflat);
  if (sflat.empty()) out << "  -\n";
  rows.clear();
  for (const auto& [k, v] : sflat) rows.emplace_back(k, display(v));
  print_key_values(rows, out, "  ");

  out << "\nOPEN ALERTS\n";
  const Json& alerts = first_of(reply, {"open_alerts", "alerts"});
  if (!alerts.is_array() || alerts.empty()) {
    out << "  -\n";
  } else {
    Table t({"  ID", "CODE", "TYPE", "URGENCY", "RAISED", "MESSAGE"});
    for (const auto& a : alerts) {
      t.add_row({"  " + cell(a, "id"), cell(a, "code"), cell(a, "type"), cell(a, "urgency"),
                 display_time(at(a, "raised_at")), cell(a, "message")});
    }
    t.print(out);
  }

  out << "\nPOLL POLICY\n";
  const Json& policy = field("poll_policy");
  if (!policy.is_object()) {
    out << "  -\n";
    return;
  }
  std::string times;
  for (const auto& t : at(policy, "times_of_day")) times += (times.empty() ? "" : ",") + display(t);
  std::string conditions;
  for (const auto& c : at(policy, "conditions")) {
    std::string one = at(c, "kind") == "counter_at_least"
                          ? display(at(c, "counter")) + ">=" + display(at(c, "value"))
                      : at(c, "kind") == "error_code" ? "error " + display(at(c, "code"))
                                                      : c.dump();
    conditions += (conditions.empty() ? "" : ", ") + one;
  }
  print_key_values(
      {{"interval",
        at(policy, "interval_s").is_null() ? "-" : display(at(policy, "interval_s")) + " s"},
       {"times", times.empty() ? "-" : times},
       {"on power on", display(at(policy, "on_power_on"))},
       {"conditions", conditions.empty() ? "-" : conditions}},
      out, "  ");
}

void print_reports(const Json& reports, std::ostream& out) {
  Table t({"NO", "SERIAL", "KIND", "URGENCY", "CREATED", "SUMMARY"});
  for (const auto& r : reports) {
    t.add_row({display(first_of(r, {"reception_no", "seq"})), cell(r, "serial"), cell(r, "kind"),
               cell(r, "urgency"), display_time(at(r, "created_at")), report_summary(r)});
  }
  t.print(out);
}

void print_jobs(const Json& jobs, std::ostream& out) {
  Table t({"ID", "SERIAL", "PLACE", "INSTRUCTION", "DATA TYPE", "RELAY", "USER", "INSTRUCTED",
           "EXECUTED", "STATUS"});
  for (const auto& j : jobs) {
    std::string status = display(at(j, "state"));
    if (at(j, "state") == "failed" && at(j, "acknowledged") == true) status += " (ack)";
    t.add_row({cell(j, "id"), cell(j, "serial"), cell(j, "place"), cell(j, "kind"),
               cell(j, "data_type"), cell(j, "managing_relay"), cell(j, "instructing_user"),
               display_time(first_of(j, {"not_before", "created_at"})),
               display_time(at(j, "executed_at")), status});
  }
  t.print(out);
}

void print_job_detail(const Json& reply, std::ostream& out) {
  const Json& job = object_of(reply, "job");
  print_jobs(Json::array({job}), out);
  std::vector<std::pair<std::string, std::string>> rows = {
      {"created", display_time(at(job, "created_at"))},
      {"execute at", display_time(at(job, "execute_at"))},
      {"expires at", display_time(at(job, "expires_at"))},
      {"updated", display_time(at(job, "updated_at"))},
      {"params", at(job, "params").is_null() ? "-" : at(job, "params").dump()},
      {"result", at(job, "result").is_null() ? "-" : at(job, "result").dump()}};
  out << '\n';
  print_key_values(rows, out, "");
  out << '\n';
  Table t({"AT", "FROM", "TO", "CAUSE"});
  for (const auto& tr : at(reply, "transitions")) {
    t.add_row({display_time(at(tr, "at")), cell(tr, "from"), cell(tr, "to"), cell(tr, "cause")});
  }
  t.print(out);
}

void print_created_job(const Json& job, const Json& transitions, std::ostream& out) {
  out << display(at(job, "id")) << '\n';
  print_jobs(Json::array({job}), out);
  std::vector<std::pair<std::string, std::string>> rows = {
      {"execute at", display_time(at(job, "execute_at"))},
      {"expires at", display_time(at(job, "expires_at"))}};
  const Json& envelope = at(at(job, "params"), "envelope");
  if (const Json& text = at(envelope, "text"); text.is_string()) {
    auto parsed = parse_json(text.get<std::string>());
    const Json signed_text = parsed ? std::move(*parsed) : Json();
    rows.emplace_back("signed by", "key " + cell(signed_text, "key_id") + " (envelope " +
                                       cell(signed_text, "id") + ")");
  }
  if (transitions.is_array() && !transitions.empty()) {
    rows.emplace_back("created", cell(transitions[0], "cause"));
  }
  out << '\n';
  print_key_values(rows, out, "");
}

void print_alerts(const Json& alerts, std::ostream& out) {
  Table t({"ID", "SERIAL", "CODE", "TYPE", "URGENCY", "RAISED", "STATUS", "MESSAGE"});
  for (const auto& a : alerts) {
    std::string status = at(a, "open") == false ? "acked" : "open";
    if (at(a, "open") == false && at(a, "acknowledged_by").is_string() &&
        !at(a, "acknowledged_by").get<std::string>().empty()) {
      status += " by " + at(a, "acknowledged_by").get<std::string>();
    }
    t.add_row({cell(a, "id"), cell(a, "serial"), cell(a, "code"), cell(a, "type"),
               cell(a, "urgency"), display_time(at(a, "raised_at")), status, cell(a, "message")});
  }
  t.print(out);
}

void print_registrations(const Json& registrations, std::ostream& out) {
  Table t({"SERIAL", "MODEL", "PLACE", "CUSTOMER", "CONTACT", "CREATED"});
  for (const auto& r : registrations) {
    t.add_row({cell(r, "serial"), cell(r, "model"), cell(r, "place"), cell(r, "customer"),
               cell(r, "contact"), display_time(at(r, "created_at"))});
  }
  t.print(out);
}

std::string billing_flag_text(const Json& flag) {
  std::string text = display(at(flag, "kind"));
  if (!at(flag, "at").is_null()) text += " " + display_time(at(flag, "at"));
  if (!at(flag, "until").is_null()) text += " to " + display_time(at(flag, "until"));
  return text;
}

void print_billing(const Json& reply, std::ostream& out) {
  if (reply.is_object() && reply.contains("from")) {
    out << "period " << display_time(at(reply, "from")) << " to " << display_time(at(reply, "to"))
        << '\n';
  }
  Table t({"SERIAL", "COUNTER", "START", "END", "DIFFERENCE", "FLAGS"});
  for (const auto& r : items_of(reply, "rows")) {
    std::string flags;
    for (const auto& f : at(r, "flags").is_array() ? at(r, "flags") : Json::array()) {
      flags += (flags.empty() ? "" : ", ") + billing_flag_text(f);
    }
    t.add_row({cell(r, "serial"), cell(r, "counter"), cell(r, "start"), cell(r, "end"),
               cell(r, "difference"), flags.empty() ? "-" : flags});
  }
  t.print(out);
}

void print_credentials(const Json& credentials, std::ostream& out) {
  Table t({"NAME", "ROLE", "CREATED"});
  for (const auto& c : credentials) {
    t.add_row({cell(c, "name"), cell(c, "role"), display_time(at(c, "created_at"))});
  }
  t.print(out);
}

void print_relays(const Json& relays, std::ostream& out) {
  Table t({"ID", "LAST SYNC", "VERSION", "DEVICES", "ITEMS RECEIVED", "WAN RATE", "CREATED"});
  for (const auto& r : relays) {
    const Json& wan = at(r, "wan_bytes_per_s");
    t.add_row({cell(r, "id"), display_time(at(r, "last_sync")), cell(r, "version"),
               cell(r, "devices"), cell(r, "items_received"),
               wan.is_number() ? size_text(wan) + "/s" : "-", display_time(at(r, "created_at"))});
  }
  t.print(out);
}

void print_relay_rates(const Json& rates, std::ostream& out) {
  const Json& wan = at(rates, "wan");
  out << "relay " << display(at(rates, "relay")) << ", reported "
      << display_time(at(rates, "reported_at")) << "\n";
  if (wan.is_object()) {
    out << "WAN (from its parent): " << size_text(at(wan, "bytes_per_s")) << "/s, measured on "
        << size_text(at(wan, "bytes")) << " at " << display_time(at(wan, "at")) << "\n";
  } else {
    out << "WAN (from its parent): not measured yet (no artifact fetched)\n";
  }
  Table t({"SERIAL", "LAN RATE", "MEASURED ON", "AT"});
  for (const auto& d : at(rates, "devices")) {
    t.add_row({cell(d, "serial"), size_text(at(d, "bytes_per_s")) + "/s", size_text(at(d, "bytes")),
               display_time(at(d, "at"))});
  }
  t.print(out);
}

void print_keys(const Json& keys, std::ostream& out) {
  Table t({"NAME", "KEY ID", "PRIVATE"});
  for (const auto& k : keys) {
    t.add_row({cell(k, "name"), cell(k, "key_id"), at(k, "private") == true ? "yes" : "no"});
  }
  t.print(out);
}

std::string size_text(const Json& size_bytes) {
  if (!size_bytes.is_number()) return display(size_bytes);
  const double bytes = size_bytes.get<double>();
  if (bytes < 1024) return display(size_bytes) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = bytes / 1024;
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", value, units[unit]);
  return buf;
}

void print_artifacts(const Json& artifacts, std::ostream& out) {
  Table t({"SHA256", "KIND", "MODEL", "COMPONENT", "VERSION", "SIZE", "KEY ID", "SIGNED AT"});
  for (const auto& a : artifacts) {
    std::string sha = cell(a, "sha256");
    t.add_row({sha.substr(0, 12), cell(a, "kind"), cell(a, "model"), cell(a, "component"),
               cell(a, "version"), size_text(at(a, "size")), cell(a, "key_id"),
               display_time(at(a, "signed_at"))});
  }
  t.print(out);
}

void print_campaign_plan(const Json& plan, std::ostream& out) {
  const Json& components = at(plan, "components");
  std::vector<std::pair<std::string, std::string>> rows = {
      {"NAME", display(at(plan, "name"))},
      {"MODEL", display(at(plan, "model"))},
      {"COMPONENTS", components_text(components)}};
  add_schedule_rows(plan, at(plan, "job_params"), rows);
  std::string sizes;
  for (const auto& w : at(plan, "wave_sizes")) sizes += (sizes.empty() ? "" : ", ") + display(w);
  rows.emplace_back("WAVE SIZES", sizes.empty() ? "-" : sizes);
  rows.emplace_back("THRESHOLD", display(at(plan, "failure_threshold")) + " (" +
                                     devices_text(at(plan, "threshold_devices")) + " in error)");
  print_key_values(rows, out, "");

  const std::vector<std::string> names = component_names(components);
  const Json& targets = at(plan, "targets");
  out << "\nOBJECTS: " << devices_text(size_of(targets)) << '\n';
  std::vector<std::string> header = {"SERIAL", "MODEL", "PLACE"};
  for (const auto& n : names) header.push_back(upper(n));
  Table t(header);
  for (const auto& d : targets) {
    std::vector<std::string> row = {cell(d, "serial"), cell(d, "model"), cell(d, "place")};
    for (const auto& n : names) row.push_back(cell(at(d, "cells"), n.c_str()));
    t.add_row(std::move(row));
  }
  t.print(out);

  print_excluded(at(plan, "excluded"), out);

  out << "\nWAVES\n";
  Table w({"WAVE", "DEVICES"});
  for (const auto& wave : at(plan, "waves")) {
    w.add_row({cell(wave, "number"), count_of(first_of(wave, {"serials", "devices"}))});
  }
  w.print(out);
}

void print_campaigns(const Json& campaigns, std::ostream& out) {
  Table t({"ID", "NAME", "STATE", "MODEL", "TOTAL", "COMPLETED", "WAITING FOR RE-UPDATE", "ERROR",
           "PENDING", "CREATED"});
  for (const auto& c : campaigns) {
    const Json& tally = at(c, "tally");
    t.add_row({cell(c, "id"), cell(c, "name"), cell(c, "state"), cell(c, "model"),
               number_cell(at(tally, "total")), number_cell(at(tally, "completed")),
               number_cell(at(tally, "waiting_for_re_update")), number_cell(at(tally, "error")),
               number_cell(at(tally, "pending")), display_time(at(c, "created_at"))});
  }
  t.print(out);
}

void print_campaign_detail(const Json& reply, std::ostream& out) {
  const Json& c = object_of(reply, "campaign");
  const Json& components = at(c, "components");
  const Json& tally = at(c, "tally");
  std::vector<std::pair<std::string, std::string>> rows = {{"ID", display(at(c, "id"))},
                                                           {"NAME", display(at(c, "name"))},
                                                           {"STATE", display(at(c, "state"))}};
  const Json& paused = at(c, "paused_reason");
  if (paused.is_string() && !paused.get<std::string>().empty()) {
    rows.emplace_back("PAUSED", display(paused));
  }
  rows.emplace_back("MODEL", display(at(c, "model")));
  rows.emplace_back("COMPONENTS", components_text(components));
  rows.emplace_back("THRESHOLD", display(at(c, "failure_threshold")) + " (" +
                                     devices_text(at(c, "threshold_devices")) + " in error)");
  add_schedule_rows(c, at(c, "job_params"), rows);
  rows.emplace_back("CREATED",
                    display_time(at(c, "created_at")) + " by " + display(at(c, "created_by")));
  rows.emplace_back("TALLY", number_cell(at(tally, "total")) +
                                 " devices: " + number_cell(at(tally, "completed")) +
                                 " completed, " + number_cell(at(tally, "waiting_for_re_update")) +
                                 " waiting for re-updating, " + number_cell(at(tally, "error")) +
                                 " error, " + number_cell(at(tally, "pending")) + " pending");
  print_key_values(rows, out, "");

  out << "\nWAVES\n";
  Table w({"WAVE", "DEVICES", "STARTED"});
  for (const auto& wave : at(c, "waves")) {
    const Json& started = at(wave, "started_at");
    w.add_row({cell(wave, "number"), count_of(first_of(wave, {"devices", "serials"})),
               started.is_null() ? "not yet" : display_time(started)});
  }
  w.print(out);

  out << "\nDEVICES\n";
  const std::vector<std::string> names = component_names(components);
  std::vector<std::string> header = {"SERIAL", "PLACE",     "WAVE",
                                     "STATUS", "UPDATE AT", "EXPECTED END"};
  for (const auto& n : names) header.push_back(upper(n));
  header.push_back("RESULT");
  header.push_back("REASON");
  Table d(header);
  for (const auto& dev : at(c, "devices")) {
    std::vector<std::string> row = {cell(dev, "serial"),
                                    cell(dev, "place"),
                                    cell(dev, "wave"),
                                    cell(dev, "status"),
                                    display_time(at(dev, "update_at")),
                                    display_time(at(dev, "expected_end"))};
    for (const auto& n : names) row.push_back(cell(at(dev, "cells"), n.c_str()));
    row.push_back(cell(dev, "result"));
    row.push_back(cell(dev, "reason"));
    d.add_row(std::move(row));
  }
  d.print(out);

  print_excluded(at(c, "excluded"), out);

  out << "\nRESULTS\n";
  const Json& results = at(c, "results");
  Table r({"RESULT", "COUNT", "SERIALS"});
  for (auto [label, key] : {std::pair{"updating completed", "completed"},
                            std::pair{"waiting for re-updating", "waiting_for_re_update"},
                            std::pair{"error", "error"}}) {
    const Json& serials = at(results, key);
    const Json& count = at(tally, key);
    r.add_row({label, count.is_null() ? count_of(serials) : display(count), serials_cell(serials)});
  }
  r.print(out);

  const Json& log = at(c, "log");
  if (size_of(log) == 0) return;
  out << "\nLOG\n";
  Table l({"AT", "TEXT"});
  for (const auto& e : log) l.add_row({display_time(at(e, "at")), cell(e, "text")});
  l.print(out);
}

std::string firmware_history_detail(const Json& entry) {
  const std::string event = display(at(entry, "event"));
  const Json& d = at(entry, "detail");
  if (event == "sent") return size_text(at(d, "bytes")) + " from " + number_cell(at(d, "from"));
  if (event == "checked") {
    const Json& offers = at(d, "offers");
    if (size_of(offers) == 0) return "no offers";
    std::string text;
    for (const auto& o : offers) {
      text += (text.empty() ? "offers " : ", ") + display(at(o, "component")) + " " +
              display(at(o, "current")) + "\u2192" + display(at(o, "version"));
    }
    return text;
  }
  if (event == "installed") return "previous " + display(at(d, "previous"));
  if (event == "failed") {
    std::string text = display(at(d, "reason"));
    if (const std::string previous = display(at(d, "previous")); previous != "-") {
      text += " (previous " + previous + ")";
    }
    return text;
  }
  if (!d.is_object() || d.empty()) return "-";
  return d.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void print_firmware_history(const Json& history, std::ostream& out) {
  Table t({"AT", "EVENT", "COMPONENT", "VERSION", "ARTIFACT", "JOB", "DETAIL"});
  for (const auto& h : history) {
    t.add_row({display_time(at(h, "at")), cell(h, "event"), cell(h, "component"),
               cell(h, "version"), cell(h, "artifact").substr(0, 12), cell(h, "job_id"),
               firmware_history_detail(h)});
  }
  t.print(out);
}

void print_tables(const Json& tables, std::ostream& out) {
  Table t({"NAME", "REVISION", "ENTRIES", "UPDATED AT", "UPDATED BY"});
  for (const auto& tb : tables) {
    t.add_row({cell(tb, "name"), cell(tb, "revision"), cell(tb, "entries"),
               display_time(at(tb, "updated_at")), cell(tb, "updated_by")});
  }
  t.print(out);
}

void print_code_table(const std::string& name, const Json& body, std::ostream& out) {
  const bool errors = name == "error_codes";
  Table t(errors ? std::vector<std::string>{"CODE", "URGENCY", "TEXT", "ACTION"}
                 : std::vector<std::string>{"CODE", "TEXT"});
  if (body.is_array()) {
    for (const auto& e : body) {
      if (errors) {
        t.add_row({cell(e, "code"), cell(e, "urgency"), cell(e, "text"), cell(e, "action")});
      } else {
        t.add_row({cell(e, "code"), cell(e, "text")});
      }
    }
  }
  t.print(out);
}

void print_notifications(const Json& notifications, std::ostream& out) {
  Table t({"TIME", "EVENT", "SERIAL", "CHANNEL", "TARGET", "RULE", "STATE", "ATTEMPTS", "SENT",
           "LAST ERROR"});
  for (const auto& n : notifications) {
    t.add_row({display_time(at(n, "created_at")), cell(n, "event_type"), cell(n, "serial"),
               cell(n, "channel"), cell(n, "target"), cell(n, "rule"), cell(n, "state"),
               cell(n, "attempts"), display_time(at(n, "sent_at")), cell(n, "last_error")});
  }
  t.print(out);
}

namespace {

std::string fixed_text(const Json& v, const char* format) {
  if (!v.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v.get<double>());
  return buf;
}

// Unit -> software version from a structure report body ({"units": [{"id", "software_version"}]}).
std::map<std::string, std::string> unit_versions(const Json& structure) {
  std::map<std::string, std::string> versions;
  const Json& units = at(structure, "units");
  if (!units.is_array()) return versions;
  for (const auto& u : units) {
    versions[display(first_of(u, {"id", "unit_id"}))] =
        display(first_of(u, {"software_version", "version"}));
  }
  return versions;
}

}  // namespace

void print_device_monitoring(const Json& reply, std::ostream& out) {
  const Json& verdict = at(reply, "compatibility");
  std::string compatibility = "- (no structure report yet)";
  if (verdict.is_object()) {
    compatibility = display(at(verdict, "verdict"));
    if (const std::string summary = display(at(verdict, "summary")); summary != "-") {
      compatibility += ": " + summary;
    }
  }
  print_key_values({{"SERIAL", cell(reply, "serial")},
                    {"MODEL", cell(reply, "model")},
                    {"STRUCTURE", display_time(at(reply, "structure_at"))},
                    {"COMPATIBILITY", compatibility}},
                   out, "");

  const Json& findings = at(verdict, "findings");
  if (size_of(findings) > 0) {
    out << "\nFINDINGS\n";
    Table t({"UNIT", "FOUND", "KIND", "INCOMPATIBLE", "RECOMMENDED", "WHY"});
    for (const auto& f : findings) {
      t.add_row({cell(f, "unit"), cell(f, "found_version"), cell(f, "kind"),
                 cell(f, "incompatible"), cell(f, "recommended"), cell(f, "why")});
    }
    t.print(out);
  }

  const Json& updates = at(verdict, "updates");
  if (updates.is_object() && !updates.empty()) {
    out << "\nRECOMMENDED VERSIONS ("
        << (at(verdict, "auto_update") == true ? "installed automatically when authorised"
                                               : "not installed automatically")
        << ")\n";
    auto now = unit_versions(at(reply, "structure"));
    if (findings.is_array()) {
      for (const auto& f : findings)
        now.emplace(display(at(f, "unit")), display(at(f, "found_version")));
    }
    Table t({"UNIT", "NOW", "RECOMMENDED"});
    for (const auto& [unit, version] : updates.items()) {
      t.add_row({unit, now.contains(unit) ? now[unit] : "-", display(version)});
    }
    t.print(out);
  }

  out << "\nTROUBLES\n";
  const Json& troubles = at(reply, "troubles");
  if (size_of(troubles) == 0) {
    out << "  -\n";
  } else {
    Table t({"TYPE", "SUBJECT", "COUNT", "URGENCY", "LAST", "TEXT"});
    for (const auto& tr : troubles) {
      t.add_row({cell(tr, "type"), cell(tr, "subject"), cell(tr, "count"), cell(tr, "urgency"),
                 display_time(at(tr, "last_at")), cell(tr, "text")});
    }
    t.print(out);
  }

  out << "\nSUPPLY FORECASTS\n";
  const Json& forecasts = at(reply, "forecasts");
  if (size_of(forecasts) == 0) {
    out << "  -\n";
  } else {
    Table t({"SUPPLY", "LEVEL", "USE/DAY", "DAYS LEFT", "EMPTY AT", "LOW", "REASON"});
    for (const auto& f : forecasts) {
      const Json& level = at(f, "level_pct");
      t.add_row({cell(f, "supply"), level.is_number() ? percent_text(level.get<double>()) : "-",
                 fixed_text(at(f, "pct_per_day"), "%.2f%%"),
                 fixed_text(at(f, "days_until_empty"), "%.1f"), display_time(at(f, "empty_at")),
                 cell(f, "low"), cell(f, "reason")});
    }
    t.print(out);
  }

  const Json& notes = at(reply, "notes");
  if (size_of(notes) == 0) return;
  out << "\nNOTES\n";
  for (const auto& n : notes) out << "  " << display(n) << '\n';
}

void print_authorisations(const Json& rows, std::ostream& out) {
  Table t({"MODEL", "VERSIONS", "EXPIRES", "STATE", "ENVELOPE", "KEY ID", "SIGNED AT"});
  for (const auto& r : rows) {
    std::string versions;
    if (const Json& v = at(r, "versions"); v.is_object()) {
      for (const auto& [component, version] : v.items()) {
        versions += (versions.empty() ? "" : ", ") + component + "=" + display(version);
      }
    }
    const Json& problem = at(r, "problem");
    const std::string state = !problem.is_null()         ? display(problem)
                              : at(r, "expired") == true ? "expired"
                                                         : "valid";
    t.add_row({cell(r, "model"), versions.empty() ? "-" : versions,
               display_time(at(r, "expires_at")), state, cell(r, "envelope_id"), cell(r, "key_id"),
               display_time(at(r, "signed_at"))});
  }
  t.print(out);
}

std::string event_line(const std::string& kind, const Json& data, TimeMs now) {
  std::string upper = kind;
  for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
  const Json& job = at(data, "job");
  const Json& report = at(data, "report");
  const Json& alert = at(data, "alert");
  std::string serial = display(first_of(data, {"serial"}));
  if (serial == "-" && job.is_object()) serial = cell(job, "serial");
  Json time;
  std::string summary;
  if (kind == "job") {
    const Json& tr = at(data, "transition");
    time = at(tr, "at");
    summary =
        cell(job, "id") + " " + cell(job, "kind") + " " +
        (tr.is_object() ? cell(tr, "from") + "->" + cell(tr, "to") + " (" + cell(tr, "cause") + ")"
                        : cell(job, "state"));
  } else if (kind == "alert") {
    time = first_of(alert, {"raised_at"});
    if (time.is_null()) time = at(report, "created_at");
    summary = alert.is_object()
                  ? cell(alert, "code") + " " + cell(alert, "type") + " " + cell(alert, "message")
                  : report_summary(report);
  } else if (kind == "report") {
    time = at(report, "created_at");
    summary = cell(report, "kind") + " " + report_summary(report);
  } else if (kind == "device") {
    time = at(data, "last_seen");
    summary = "now " + cell(data, "state");
  } else {
    summary = data.dump();
  }
  if (time.is_null()) time = format_time(now);
  return display_time(time) + " " + upper + " " + serial + " " + summary;
}

}  // namespace printrelay::cli
