#include "relay/monitoring_center.h"

#include <algorithm>
#include <chrono>
#include <iostream>

#include "clock/wall_clock.h"
#include "core/codec.h"
#include "core/time.h"

namespace printrelay {

namespace {

constexpr const char* kByMonitoring = "monitoring center";
constexpr TimeMs kTablesFreshMs = 2000;  // other relay nodes' table changes are seen this soon
constexpr int kDeliveriesPerRound = 20;

// Parses one stored table body with `parse`; on failure keeps `out` at its default and notes why
// (a table stored by an older build that this one reads differently must not stop the center).
template <typename T, typename Parse>
void load(Store& store, const std::string& name, Parse parse, T& out,
          std::vector<std::string>& notes) {
  auto doc = store.get_settings(name);
  if (!doc) return;
  auto parsed = parse(doc->body);
  if (!parsed) {
    notes.push_back(name + ": " + parsed.error().message);
    return;
  }
  out = std::move(*parsed);
}

// Validates a table body and returns its canonical JSON.
Result<Json> canonical_table(const std::string& name, const Json& body) {
  auto wrap = [](auto parsed) -> Result<Json> {
    if (!parsed) return parsed.error();
    return to_json(*parsed);
  };
  if (name == "error_codes") return wrap(parse_error_content_table(body));
  if (name == "order_codes") return wrap(parse_order_content_table(body));
  if (name == "compatibility") return wrap(parse_compatibility_table(body));
  if (name == "troubles") return wrap(parse_trouble_thresholds(body));
  if (name == "forecast") return wrap(parse_forecast_policy(body));
  if (name == "notification_rules") return wrap(parse_notification_rules(body));
  if (name == "auto_updates") return wrap(parse_auto_update_authorisations(body));
  return not_found("no table " + name);
}

Json empty_table(const std::string& name) {
  if (name == "troubles") return to_json(TroubleThresholds{});
  if (name == "forecast") return to_json(ForecastPolicy{});
  return Json::array();
}

std::size_t entries_of(const Json& body) { return body.is_array() ? body.size() : 1; }

Json table_json(const SettingsDoc& d) {
  Json j = {{"name", d.name},
            {"revision", d.revision},
            {"updated_by", d.updated_by},
            {"entries", entries_of(d.body)},
            {"body", d.body}};
  j["updated_at"] = d.updated_at ? Json(format_time(d.updated_at)) : Json();
  return j;
}

Json notification_json(const NotificationRecord& n) {
  Json j = {{"id", n.id},
            {"created_at", format_time(n.created_at)},
            {"event_type", n.event_type},
            {"serial", n.serial},
            {"channel", n.channel},
            {"target", n.target},
            {"rule", n.rule},
            {"subject", n.subject},
            {"state", n.state},
            {"attempts", n.attempts},
            {"last_error", n.last_error}};
  j["sent_at"] = n.sent_at ? Json(format_time(*n.sent_at)) : Json();
  j["next_attempt_at"] = n.state == "pending" ? Json(format_time(n.next_attempt_at)) : Json();
  return j;
}

// What a device alert means for the routing rules.
std::string event_type_of_alert(const std::string& alert_type) {
  if (alert_type == "supply_empty" || alert_type == "part_eol" || alert_type == "supply_low" ||
      alert_type == "incompatible" || alert_type == "trouble")
    return alert_type;
  return "alert";
}

}  // namespace

const std::vector<std::string>& service_table_names() {
  static const std::vector<std::string> k = {"error_codes", "order_codes", "compatibility",
                                             "troubles",    "forecast",    "notification_rules",
                                             "auto_updates"};
  return k;
}

MonitoringCenter::MonitoringCenter(Relay& relay, Store& store, RelayEvents& events,
                                   MonitoringOptions options)
    : relay_(relay), store_(store), events_(events), options_(std::move(options)) {}

MonitoringCenter::~MonitoringCenter() { stop(); }

void MonitoringCenter::start() {
  std::lock_guard lock(mu_);
  if (judge_thread_.joinable()) return;
  stopping_ = false;
  judge_thread_ = std::thread([this] { judge_loop(); });
  deliver_thread_ = std::thread([this] { deliver_loop(); });
}

void MonitoringCenter::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  deliver_wake_.notify_all();
  if (judge_thread_.joinable()) judge_thread_.join();
  if (deliver_thread_.joinable()) deliver_thread_.join();
}

// ---------------- tables ----------------

Result<Json> MonitoringCenter::list_tables() {
  auto listed = store_.list_settings();
  if (!listed) return listed.error();
  std::map<std::string, SettingsDoc> stored;
  for (auto& d : *listed) stored[d.name] = std::move(d);
  Json out = Json::array();
  for (const auto& name : service_table_names()) {
    auto it = stored.find(name);
    SettingsDoc d =
        it != stored.end() ? it->second : SettingsDoc{name, 0, 0, "", empty_table(name)};
    Json j = table_json(d);
    j.erase("body");
    out.push_back(std::move(j));
  }
  return Json{{"tables", std::move(out)}};
}

Result<Json> MonitoringCenter::get_table(const std::string& name) {
  if (std::find(service_table_names().begin(), service_table_names().end(), name) ==
      service_table_names().end())
    return not_found("no table " + name +
                     " (tables: error_codes, order_codes, compatibility, "
                     "troubles, forecast, notification_rules, auto_updates)");
  auto doc = store_.get_settings(name);
  if (!doc) {
    if (doc.error().kind != ErrorKind::kNotFound) return doc.error();
    return table_json(SettingsDoc{name, 0, 0, "", empty_table(name)});
  }
  return table_json(*doc);
}

Result<Json> MonitoringCenter::put_table(const std::string& name, const Json& request,
                                         const std::string& user, TimeMs now) {
  if (auto known = get_table(name); !known) return known.error();
  if (!request.is_object() || !request.contains("body"))
    return bad_input("a table change is {\"body\": <the table>, \"revision\": <as read>}");
  const Json& rev = request.value("revision", Json());
  if (!rev.is_number_integer() || rev.get<std::int64_t>() < 0)
    return bad_input("revision must be the table's revision as read (0 for a new table)");
  auto body = canonical_table(name, request["body"]);
  if (!body) return body.error();
  SettingsDoc d{name, 0, now, user, *body};
  auto revision = store_.put_settings(d, rev.get<std::int64_t>());
  if (!revision) return revision.error();
  d.revision = *revision;
  {
    std::lock_guard lock(tables_mu_);
    cached_.reset();
  }
  return table_json(d);
}

std::shared_ptr<const MonitoringCenter::Tables> MonitoringCenter::tables(TimeMs now) {
  std::lock_guard lock(tables_mu_);
  if (cached_ && now - cached_at_ < kTablesFreshMs && now >= cached_at_) return cached_;
  auto fresh = std::make_shared<Tables>();
  Tables& t = *fresh;
  load(store_, "error_codes", parse_error_content_table, t.error_codes, t.notes);
  load(store_, "order_codes", parse_order_content_table, t.order_codes, t.notes);
  load(store_, "compatibility", parse_compatibility_table, t.compatibility, t.notes);
  load(store_, "troubles", parse_trouble_thresholds, t.troubles, t.notes);
  load(store_, "forecast", parse_forecast_policy, t.forecast, t.notes);
  load(store_, "notification_rules", parse_notification_rules, t.rules, t.notes);
  load(store_, "auto_updates", parse_auto_update_authorisations, t.auto_updates, t.notes);
  if (!cached_ || cached_->notes != t.notes) {
    for (const auto& n : t.notes) std::cerr << "relayd: monitoring table " << n << std::endl;
  }
  cached_ = fresh;
  cached_at_ = now;
  return cached_;
}

std::string MonitoringCenter::order_reply(const std::string& item, std::int64_t quantity) {
  return order_reply_text(tables(wall_clock_ms())->order_codes, item, quantity);
}

Json MonitoringCenter::error_content(const std::string& code) {
  auto t = tables(wall_clock_ms());
  auto it = t->error_codes.find(code);
  if (it == t->error_codes.end()) return Json();
  Json j = {{"text", it->second.text}, {"action", it->second.action}};
  return j;
}

// ---------------- hooks ----------------

void MonitoringCenter::reports_stored(const std::string& serial, const std::vector<Report>& fresh,
                                      const std::vector<Alert>& opened) {
  std::vector<Event> events;
  for (const auto& a : opened) {
    events.push_back(describe(event_type_of_alert(a.type), a.urgency, serial,
                              a.message.empty() ? a.type + " " + a.code : a.message, "",
                              Json{{"alert", to_json(a)}}));
    events.back().payload["code"] = a.code;
  }
  for (const auto& r : fresh) {
    if (r.kind == "message") {
      events.push_back(describe("message", r.urgency, serial,
                                "Message from the panel: " + text_field(r.body, "text"),
                                "Contact the user.", Json{{"report", r.body}}));
    } else if (r.kind == "order") {
      const std::string item = text_field(r.body, "item", "supplies");
      events.push_back(describe("order", r.urgency, serial,
                                "Order from the panel: " +
                                    std::to_string(int_field(r.body, "quantity", 1)) + " x " + item,
                                "Arrange the delivery.", Json{{"report", r.body}}));
    }
  }
  {
    std::lock_guard lock(mu_);
    auto& p = pending_[serial];
    for (const auto& r : fresh) p.kinds.insert(r.kind);
    for (auto& e : events) pending_events_.push_back(std::move(e));
  }
  wake_.notify_all();
}

void MonitoringCenter::job_changed(const Job& job, const JobTransition& t) {
  if (t.to != JobState::kFailed || t.from == t.to) return;
  auto e = describe("job_failed", Urgency::kNormal, job.serial,
                    std::string(to_string(job.kind)) + " job " + job.id + " failed: " + t.cause,
                    "Look at the job's transitions; acknowledge it when handled.",
                    Json{{"job_id", job.id}, {"kind", to_string(job.kind)}, {"cause", t.cause}});
  {
    std::lock_guard lock(mu_);
    pending_events_.push_back(std::move(e));
  }
  wake_.notify_all();
}

// ---------------- the worker ----------------

void MonitoringCenter::judge_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    bool judged_all = true;
    try {
      judged_all = judge_pending(wall_clock_ms());
    } catch (const std::exception& e) {
      // A store failure here must not end judging for good: logged, tried again next round.
      std::cerr << "relayd: monitoring center: " << e.what() << std::endl;
    }
    lock.lock();
    if (stopping_) break;
    // Work put back because the store could not be read waits a round, not a busy loop.
    if (!judged_all || (pending_.empty() && pending_events_.empty()))
      wake_.wait_for(lock, std::chrono::seconds(1));
  }
}

// Also the retries: every second, whether or not anything new was queued.
void MonitoringCenter::deliver_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    deliver_due_ = false;
    lock.unlock();
    try {
      deliver_due(wall_clock_ms());
    } catch (const std::exception& e) {
      std::cerr << "relayd: notification delivery: " << e.what() << std::endl;
    }
    lock.lock();
    if (stopping_) break;
    if (!deliver_due_) deliver_wake_.wait_for(lock, std::chrono::seconds(1));
  }
}

void MonitoringCenter::run_once(TimeMs now) {
  judge_pending(now);
  deliver_due(now);
}

bool MonitoringCenter::judge_pending(TimeMs now) {
  std::map<std::string, Pending> work;
  std::vector<Event> events;
  {
    std::lock_guard lock(mu_);
    work.swap(pending_);
    events.swap(pending_events_);
  }
  const auto t = tables(now);
  for (const auto& e : events) notify(e, *t, now);
  bool judged_all = true;
  for (const auto& [serial, p] : work) {
    if (auto st = judge(serial, p.kinds, *t, now); !st) {
      // The device's reports are stored; only their judgment waits for the store to answer.
      std::cerr << "relayd: monitoring center: cannot judge " << serial << " now ("
                << st.error().message << "); trying again" << std::endl;
      std::lock_guard lock(mu_);
      pending_[serial].kinds.insert(p.kinds.begin(), p.kinds.end());
      judged_all = false;
    }
  }
  return judged_all;
}

Result<std::vector<Report>> MonitoringCenter::history(const std::string& serial,
                                                      const std::vector<std::string>& kinds,
                                                      TimeMs now) {
  std::vector<Report> out;
  for (const auto& kind : kinds) {
    ReportQuery q;
    q.serial = serial;
    q.kind = kind;
    q.since = now - options_.history_ms;
    q.limit = 1000;
    auto reports = store_.list_reports(q);
    if (!reports) return reports.error();
    for (auto& r : *reports) out.push_back(std::move(r.report));
  }
  return out;
}

Status MonitoringCenter::judge(const std::string& serial, const std::set<std::string>& kinds,
                               const Tables& t, TimeMs now) {
  auto device = store_.get_device(serial);
  if (!device) {
    // A device deleted since its reports came has nothing left to judge.
    if (device.error().kind == ErrorKind::kNotFound) return ok_status();
    return device.error();
  }
  if (kinds.count("structure")) {
    if (auto st = check_structure(serial, *device, t, now); !st) return st;
  }
  if (kinds.count("supplies")) {
    if (auto st = check_supplies(serial, *device, t, now); !st) return st;
  }
  static const std::set<std::string> trouble_kinds = {"alert", "error-log", "jams", "calls",
                                                      "boot"};
  for (const auto& k : kinds) {
    if (trouble_kinds.count(k)) return check_troubles(serial, *device, t, now);
  }
  return ok_status();
}

Status MonitoringCenter::check_structure(const std::string& serial, const Device& device,
                                         const Tables& t, TimeMs now) {
  auto read = store_.latest_reports(serial);
  if (!read) return read.error();
  const auto& latest = *read;
  auto it = latest.find("structure");
  if (it == latest.end()) return ok_status();
  const Json& body = it->second.report.body;
  const std::string model = text_field(body, "model", device.model);
  auto verdict = judge_structure(t.compatibility, model, body);
  if (!verdict) {
    std::cerr << "relayd: structure report of " << serial << ": " << verdict.error().message
              << std::endl;
    return ok_status();  // judged: the report cannot be judged, and a retry would not change it
  }
  events_.publish("monitoring", Json{{"serial", serial}, {"compatibility", to_json(*verdict)}});
  if (verdict->verdict == Compatibility::kNoRules) return ok_status();
  if (verdict->verdict == Compatibility::kCompatible) {
    resolve(serial, "incompatible", "compatibility", now);
  }

  std::string job_note;
  if (!verdict->updates.empty() && verdict->auto_update) {
    // One automatic job at a time: the next structure report (after the update's reboot) is
    // judged again.
    auto open = store_.open_jobs(serial);
    if (!open) return open.error();  // before any job is created: judged again in full
    bool busy = false;
    for (const auto& j : *open) busy = busy || j.kind == JobKind::kFirmware;
    const auto* auth = find_authorisation(t.auto_updates, model, verdict->updates, now);
    if (busy) {
      job_note = "A firmware job for the device is already open.";
    } else if (!auth) {
      std::string versions;
      for (const auto& [u, v] : verdict->updates)
        versions += (versions.empty() ? "" : ", ") + u + " " + v;
      job_note = "No automatic update: no signed authorisation for " + model + " " + versions +
                 " (relayctl firmware authorise).";
      if (verdict->verdict == Compatibility::kCompatible) {
        Alert a{0,
                serial,
                "",
                "update",
                "update_ready",
                Urgency::kLow,
                verdict->summary + " " + job_note,
                now};
        raise(a, "update_ready", t, now);
      }
    } else {
      Json request = {
          {"serial", serial},
          {"kind", "firmware"},
          {"envelope", {{"text", auth->envelope.text}, {"signature", auth->envelope.signature}}}};
      auto job = relay_.create_job(request, kByMonitoring, now);
      if (job) {
        job_note = "Automatic firmware job " + (*job)["id"].get<std::string>() + " created.";
        resolve(serial, "update_ready", "update", now);
      } else {
        job_note = "The automatic firmware job could not be created: " + job.error().message;
      }
    }
  } else if (!verdict->updates.empty() && verdict->verdict == Compatibility::kCompatible) {
    Alert a{0, serial, "", "update", "update_ready", Urgency::kLow, verdict->summary, now};
    raise(a, "update_ready", t, now);
  }
  if (verdict->verdict == Compatibility::kIncompatible) {
    Alert a{0, serial, "", "compatibility", "incompatible", Urgency::kHigh, verdict->summary, now};
    std::string detail;
    for (const auto& f : verdict->findings) {
      if (!f.incompatible) continue;
      detail += "- " + f.why +
                (f.recommended.empty() ? "" : " (recommended: " + f.recommended + ")") + "\n";
    }
    raise(a, "incompatible", t, now, detail + (job_note.empty() ? "" : job_note + "\n"));
  }
  return ok_status();
}

Status MonitoringCenter::check_supplies(const std::string& serial, const Device& device,
                                        const Tables& t, TimeMs now) {
  (void)device;
  auto reports = history(serial, {"supplies"}, now);
  if (!reports) return reports.error();
  auto series = supply_readings_from_reports(*reports);
  for (const auto& [supply, readings] : series.readings) {
    auto f = forecast_supply(t.forecast, supply, readings, now);
    if (!f) continue;
    if (!f->low) {
      resolve(serial, "supply_low", supply, now);
      continue;
    }
    std::string when =
        f->days_until_empty
            ? " (about " + std::to_string(int(*f->days_until_empty + 0.5)) + " days left)"
            : "";
    Alert a{0,
            serial,
            "",
            supply,
            "supply_low",
            Urgency::kNormal,
            supply + " is low: " + f->reason + when,
            now};
    raise(a, "supply_low", t, now);
  }
  return ok_status();
}

Status MonitoringCenter::check_troubles(const std::string& serial, const Device& device,
                                        const Tables& t, TimeMs now) {
  (void)device;
  auto reports = history(serial, {"alert", "error-log", "jams", "calls", "boot"}, now);
  if (!reports) return reports.error();
  auto events = events_from_reports(*reports);
  auto findings = judge_troubles(t.troubles, events, now);
  if (!findings) return ok_status();  // thresholds that do not apply: nothing to raise
  for (const auto& f : *findings) {
    const std::string code =
        std::string(to_string(f.type)) + (f.subject.empty() ? "" : ":" + f.subject);
    Alert a{0, serial, "", code, "trouble", f.urgency, f.text, now};
    raise(a, "trouble", t, now,
          f.meaning + (f.action.empty() ? "" : "\nWhat to do: " + f.action) + "\n");
  }
  return ok_status();
}

void MonitoringCenter::raise(const Alert& a, const std::string& event_type, const Tables& t,
                             TimeMs now, const std::string& extra_text) {
  auto id = store_.raise_alert(a);
  if (!id) {
    std::cerr << "relayd: cannot raise " << a.type << " alert for " << a.serial << ": "
              << id.error().message << std::endl;
    return;
  }
  if (!id->has_value()) return;  // already open: notified when it opened
  Alert opened = a;
  opened.id = **id;
  events_.publish("alert", Json{{"serial", a.serial}, {"alert", to_json(opened)}});
  auto e = describe(event_type, a.urgency, a.serial, a.message, extra_text,
                    Json{{"alert", to_json(opened)}});
  notify(e, t, now);
}

void MonitoringCenter::resolve(const std::string& serial, const std::string& type,
                               const std::string& code, TimeMs now) {
  auto closed = store_.resolve_alerts(serial, type, code, kByMonitoring, now);
  if (!closed) return;
  for (const auto& a : *closed)
    events_.publish("alert", Json{{"serial", serial}, {"alert", to_json(a)}, {"resolved", true}});
}

MonitoringCenter::Event MonitoringCenter::describe(const std::string& type, Urgency urgency,
                                                   const std::string& serial,
                                                   const std::string& what, const std::string& todo,
                                                   Json payload) {
  Event e;
  e.event.type = type;
  e.event.urgency = urgency;
  e.event.serial = serial;
  std::string place;
  if (auto reg = store_.get_registration(serial)) {
    e.event.model = reg->model;
    e.event.customer = reg->customer;
    e.event.contact = reg->contact;
    place = reg->place;
  }
  if (e.event.model.empty()) {
    if (auto d = store_.get_device(serial)) e.event.model = d->model;
  }
  const std::string where = e.event.model + (place.empty() ? "" : ", " + place) +
                            (e.event.customer.empty() ? "" : ", " + e.event.customer);
  // Error-content text and what to do, when the code is in the table (seed 002).
  std::string content;
  if (payload.contains("alert")) {
    auto c = error_content(text_field(payload["alert"], "code"));
    if (!c.is_null()) {
      content = "Meaning: " + c["text"].get<std::string>() + "\n";
      if (!c["action"].get<std::string>().empty())
        content += "What to do: " + c["action"].get<std::string>() + "\n";
      payload["content"] = c;
    }
  }
  e.subject = "[printrelay] " + serial + (where.empty() ? "" : " (" + where + ")") + ": " + what;
  if (e.subject.size() > 200) e.subject = e.subject.substr(0, 197) + "...";
  e.text = what + "\n\n" + content + todo + (todo.empty() || todo.back() == '\n' ? "" : "\n") +
           "\nDevice: " + serial + "\nModel: " + e.event.model + "\nPlace: " + place +
           "\nCustomer: " + e.event.customer + "\nUrgency: " + to_string(urgency) +
           "\nEvent: " + type + "\nRelay: " + options_.relay_id + "\n";
  payload["type"] = type;
  payload["serial"] = serial;
  payload["model"] = e.event.model;
  payload["customer"] = e.event.customer;
  payload["place"] = place;
  payload["urgency"] = to_string(urgency);
  payload["summary"] = what;
  payload["relay"] = options_.relay_id;
  e.payload = std::move(payload);
  return e;
}

// ---------------- notifications ----------------

void MonitoringCenter::notify(const Event& e, const Tables& t, TimeMs now) {
  auto targets = route(t.rules, e.event);
  if (!targets || targets->empty()) return;
  std::vector<NotificationRecord> records;
  for (const auto& target : *targets) {
    NotificationRecord n;
    n.created_at = now;
    n.event_type = e.event.type;
    n.serial = e.event.serial;
    n.channel = to_string(target.channel);
    n.target = target.target;
    n.rule = target.rule;
    n.subject = e.subject;
    n.text = e.text;
    n.payload = e.payload;
    n.payload["at"] = format_time(now);
    n.next_attempt_at = now;
    records.push_back(std::move(n));
  }
  auto ids = store_.enqueue_notifications(records);
  if (!ids) {
    std::cerr << "relayd: cannot queue notifications for " << e.event.serial << ": "
              << ids.error().message << std::endl;
    return;
  }
  {
    std::lock_guard lock(mu_);
    deliver_due_ = true;
  }
  deliver_wake_.notify_all();
}

void MonitoringCenter::deliver_due(TimeMs now) {
  auto due = store_.claim_notifications(now, now + options_.lease_ms, kDeliveriesPerRound);
  if (!due) {
    // Nothing was claimed, so nothing is lost: the next round (a second later) claims again.
    std::cerr << "relayd: cannot claim notifications: " << due.error().message << std::endl;
    return;
  }
  for (auto& n : *due) deliver(std::move(n), wall_clock_ms());
}

void MonitoringCenter::deliver(NotificationRecord n, TimeMs now) {
  DeliveryResult r;
  const std::string delivery_id = "n-" + std::to_string(n.id);
  if (n.channel == "email") {
    if (options_.smtp.url.empty()) {
      r = {false, false, "no SMTP server configured (relayd run --smtp-url)"};
    } else {
      MailMessage m;
      m.to = {n.target};
      m.subject = n.subject;
      m.text = n.text;
      m.message_id = "<" + delivery_id + "@" + options_.relay_id + ".printrelay>";
      r = send_mail(options_.smtp, m, now);
    }
  } else {
    Json body = n.payload;
    body["delivery"] = delivery_id;
    r = post_webhook(options_.webhook,
                     WebhookCall{n.target, n.event_type, delivery_id, body.dump()});
  }
  n.attempts += 1;
  n.last_error = r.ok ? "" : r.detail;
  if (r.ok) {
    n.state = "sent";
    n.sent_at = now;
  } else if (r.temporary && n.attempts < options_.max_attempts) {
    TimeMs wait = options_.retry_base_ms;
    for (int i = 1; i < n.attempts && wait < options_.retry_max_ms; ++i) wait *= 2;
    n.next_attempt_at = now + std::min(wait, options_.retry_max_ms);
  } else {
    n.state = "failed";
  }
  if (auto st = store_.update_notification(n); !st) {
    std::cerr << "relayd: cannot record notification " << n.id << ": " << st.error().message
              << std::endl;
    return;
  }
  events_.publish("notification", Json{{"notification", notification_json(n)}});
}

Result<Json> MonitoringCenter::list_notifications(const std::string& serial, int limit) {
  auto listed = store_.list_notifications(serial, std::clamp(limit, 1, 1000));
  if (!listed) return listed.error();
  Json out = Json::array();
  for (const auto& n : *listed) out.push_back(notification_json(n));
  return Json{{"notifications", std::move(out)}};
}

// ---------------- the device page ----------------

Result<Json> MonitoringCenter::device_monitoring(const std::string& serial, TimeMs now) {
  auto device = store_.get_device(serial);
  if (!device) return device.error();
  const auto tp = tables(now);
  const Tables& t = *tp;
  Json out = {{"serial", serial},       {"model", device->model},    {"compatibility", Json()},
              {"structure_at", Json()}, {"troubles", Json::array()}, {"forecasts", Json::array()},
              {"notes", t.notes}};
  auto read = store_.latest_reports(serial);
  if (!read) return read.error();
  const auto& latest = *read;
  if (auto it = latest.find("structure"); it != latest.end()) {
    const Json& body = it->second.report.body;
    auto verdict = judge_structure(t.compatibility, text_field(body, "model", device->model), body);
    if (verdict) {
      out["compatibility"] = to_json(*verdict);
    } else {
      out["notes"].push_back("structure: " + verdict.error().message);
    }
    out["structure"] = body;
    out["structure_at"] = format_time(it->second.report.created_at);
  }
  auto trouble_reports = history(serial, {"alert", "error-log", "jams", "calls", "boot"}, now);
  if (!trouble_reports) return trouble_reports.error();
  auto events = events_from_reports(*trouble_reports);
  if (auto findings = judge_troubles(t.troubles, events, now)) {
    for (const auto& f : *findings) out["troubles"].push_back(to_json(f));
  }
  auto supply_reports = history(serial, {"supplies"}, now);
  if (!supply_reports) return supply_reports.error();
  auto series = supply_readings_from_reports(*supply_reports);
  for (const auto& [supply, readings] : series.readings) {
    if (auto f = forecast_supply(t.forecast, supply, readings, now))
      out["forecasts"].push_back(to_json(*f));
  }
  return out;
}

}  // namespace printrelay
