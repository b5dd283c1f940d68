#include "relay/relay.h"

#include <algorithm>
#include <iostream>
#include <limits>
#include <stdexcept>

#include "core/codec.h"
#include "core/job_flow.h"
#include "core/poll_schedule.h"
#include "core/sha256.h"
#include "net/secret_hash.h"
#include "net/tls.h"

namespace printrelay {
namespace {

std::string token_hash(std::string_view token) { return sha256_hex(token); }

std::optional<Alert> alert_from(const std::string& serial, const Report& r, TimeMs now) {
  if (r.kind != "alert") return std::nullopt;
  if (r.urgency != Urgency::kHigh && r.urgency != Urgency::kFatal) return std::nullopt;
  Alert a;
  a.serial = serial;
  a.report_id = r.id;
  a.code = text_field(r.body, "code");
  a.type = text_field(r.body, "type", "alert");
  a.urgency = r.urgency;
  a.message = text_field(r.body, "message");
  if (auto sc = r.body.find("sc_type"); sc != r.body.end() && sc->is_string()) {
    a.message = "SC type " + sc->get<std::string>() + (a.message.empty() ? "" : ": " + a.message);
  }
  a.raised_at = now;
  return a;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}

// A device's enrolment as it travels up the tree: the credential's hash, never the credential,
// and the enrollment code the device presented, the parent's proof that the enrolment is the
// device's and not one the child made up (docs/security.md).
Json device_item(const Device& d, const std::string& enrollment_code) {
  return Json{{"serial", d.serial},
              {"model", d.model},
              {"token_hash", d.token_hash},
              {"enrolled_at", d.enrolled_at},
              {"enrollment_code", enrollment_code}};
}

// What an unknown serial and a wrong code both answer: nobody learns which serials exist.
constexpr const char* kEnrollRefused = "unknown serial or wrong enrollment code";

// Hashed against for an unknown serial, so that it costs what a known one costs.
const std::string& decoy_code_hash() {
  static const std::string h = hash_secret("printrelay-decoy-enrollment-code");
  return h;
}

Result<std::optional<TimeMs>> query_time(const std::map<std::string, std::string>& q,
                                         const char* key) {
  auto it = q.find(key);
  if (it == q.end() || it->second.empty()) return std::optional<TimeMs>();
  auto t = parse_time(it->second);
  if (!t) return bad_input(std::string("query parameter '") + key + "': " + t.error().message);
  return std::optional<TimeMs>(*t);
}

}  // namespace

Relay::Relay(Store& store, RelayOptions options, RelayEvents& events)
    : store_(store), options_(std::move(options)), events_(events), rng_(std::random_device{}()) {
  // A relay that started on caches it could not fill would turn every device away, or never
  // deliver a waiting job: not starting, with the reason, is the only honest answer.
  auto fail = [](const std::string& what, const Error& e) {
    return std::runtime_error("cannot read " + what + " from the store: " + e.message);
  };
  auto devices = store_.list_devices();
  if (!devices) throw fail("the devices", devices.error());
  for (const auto& d : *devices) {
    if (!d.token_hash.empty()) device_tokens_[d.token_hash] = d.serial;
    sightings_[d.serial] = Sighting{d.last_seen, d.state, d.boot_id, d.firmware, false};
  }
  auto admins = store_.list_admin_credentials();
  if (!admins) throw fail("the admin credentials", admins.error());
  for (const auto& c : *admins) admin_tokens_[c.token_hash] = c;
  auto open = all_open_jobs();
  if (!open) throw fail("the open jobs", open.error());
  for (const auto& j : *open) may_have_jobs_.insert(j.serial);
}

Result<std::vector<Job>> Relay::all_open_jobs() {
  // One query per open state: finished jobs (which accumulate) are never read.
  std::vector<Job> out;
  for (auto state : {JobState::kWaiting, JobState::kAcquired, JobState::kRunning}) {
    JobQuery q;
    q.all = true;
    q.state = state;
    q.limit = std::numeric_limits<int>::max();
    auto jobs = store_.list_jobs(q);
    if (!jobs) return jobs.error();
    for (auto& j : *jobs) out.push_back(std::move(j));
  }
  return out;
}

Status Relay::rescan_open_jobs() {
  auto open = all_open_jobs();
  std::lock_guard lock(mu_);
  if (!open) {
    every_device_may_have_jobs_ = true;
    return open.error();
  }
  for (const auto& j : *open) may_have_jobs_.insert(j.serial);
  every_device_may_have_jobs_ = false;
  return ok_status();
}

void Relay::note_job_for(const std::string& serial) {
  std::lock_guard lock(mu_);
  may_have_jobs_.insert(serial);
}

void Relay::jobs_changed(const std::string& serial) {
  if (serial == kDirectoryWakeKey) {
    credentials_changed_elsewhere();  // and children waiting here get the new directory
    return;
  }
  if (!serial.empty()) {
    note_job_for(serial);
    events_.wake_device(serial);
    return;
  }
  // The channel was re-established: every device with an open job is marked and woken. If the
  // jobs cannot be read now, every device reads its own at its next poll instead.
  if (auto st = rescan_open_jobs(); !st) {
    std::cerr << "relayd: cannot re-read open jobs after missed announcements ("
              << st.error().message << "); every poll reads the store until that works"
              << std::endl;
  }
  std::vector<std::string> serials;
  {
    std::lock_guard lock(mu_);
    serials.assign(may_have_jobs_.begin(), may_have_jobs_.end());
  }
  for (const auto& s : serials) events_.wake_device(s);
  // A revocation announced while the channel was down would otherwise stay unseen here.
  credentials_changed_elsewhere();
}

Result<std::vector<Job>> Relay::open_jobs(const std::string& serial) {
  {
    std::lock_guard lock(mu_);
    if (!every_device_may_have_jobs_ && !may_have_jobs_.count(serial)) return std::vector<Job>();
  }
  auto jobs = store_.open_jobs(serial);
  if (jobs && jobs->empty()) {
    // Re-check under the lock: create_job notes the serial again after its commit (under the
    // same lock), so either we see the new job here or its note comes after our erase. A failed
    // re-check keeps the mark.
    std::lock_guard lock(mu_);
    if (auto again = store_.open_jobs(serial); again && again->empty())
      may_have_jobs_.erase(serial);
  }
  return jobs;
}

double Relay::unit_random() {
  std::lock_guard lock(mu_);
  return std::uniform_real_distribution<double>(0, 1)(rng_);
}

Result<std::string> Relay::authenticate_device(std::string_view token) {
  if (token.empty()) return unauthorized("missing device credential (Authorization: Bearer)");
  auto h = token_hash(token);
  {
    std::lock_guard lock(mu_);
    if (auto it = device_tokens_.find(h); it != device_tokens_.end()) return it->second;
  }
  // Not in the cache: the device may have enrolled through another node sharing the store.
  auto d = store_.find_device_by_token_hash(h);
  // A store that cannot answer is not a "no": a 401 would send the device to enrol again.
  if (!d && d.error().kind == ErrorKind::kUnavailable) return d.error();
  if (!d) return unauthorized("unknown device credential");
  std::lock_guard lock(mu_);
  device_tokens_[h] = d->serial;
  return d->serial;
}

Result<AdminCredential> Relay::authenticate_admin(std::string_view token) {
  if (token.empty()) return unauthorized("missing admin credential (Authorization: Bearer)");
  auto h = token_hash(token);
  {
    std::lock_guard lock(mu_);
    if (auto it = admin_tokens_.find(h); it != admin_tokens_.end()) return it->second;
  }
  // Not in the cache: the credential may have been made through another node.
  auto c = store_.find_admin_by_token_hash(h);
  if (!c && c.error().kind == ErrorKind::kUnavailable) return c.error();
  if (!c) return unauthorized("unknown admin credential");
  std::lock_guard lock(mu_);
  admin_tokens_[h] = *c;
  return *c;
}

Result<std::string> Relay::create_admin_credential(const std::string& name, Role role, TimeMs now) {
  if (!is_valid_id(name))
    return bad_input("credential name must be 1-64 characters of [A-Za-z0-9._:-]");
  AdminCredential c{name, role, "", now};
  std::string token = random_token("at_");
  c.token_hash = token_hash(token);
  if (auto st = store_.put_admin_credential(c); !st) return st.error();
  std::lock_guard lock(mu_);
  admin_tokens_[c.token_hash] = c;
  return token;
}

Result<Json> Relay::enroll(const Json& body, TimeMs now) {
  auto serial = body.value("serial", Json()).is_string() ? body["serial"].get<std::string>() : "";
  if (!is_valid_id(serial)) return bad_input("serial must be 1-64 characters of [A-Za-z0-9._:-]");
  if (!body.contains("model") || !body["model"].is_string())
    return bad_input("missing field 'model'");
  if (!body.contains("enrollment_code") || !body["enrollment_code"].is_string()) {
    return bad_input("missing field 'enrollment_code'");
  }
  const std::string code = body["enrollment_code"].get<std::string>();
  auto reg = store_.get_registration(serial);
  if (!reg && reg.error().kind != ErrorKind::kNotFound) return reg.error();
  // An unknown serial costs the same slow hash as a wrong code and answers the same.
  const bool matches = secret_matches(code, reg ? reg->enrollment_code_hash : decoy_code_hash());
  if (!reg || !matches) return forbidden(kEnrollRefused);
  std::string model = body["model"].get<std::string>();
  if (model != reg->model) {
    return forbidden("device reports model " + model + " but " + serial + " is registered as " +
                     reg->model);
  }
  auto prev = store_.get_device(serial);
  if (!prev && prev.error().kind != ErrorKind::kNotFound) return prev.error();
  if (prev && !credential_replaceable(*prev)) return already_enrolled(serial);
  Device d;
  d.serial = serial;
  d.model = model;
  std::string token = random_token("dt_");
  d.token_hash = token_hash(token);
  d.enrolled_at = now;
  d.last_seen = now;
  d.state = "enrolled";
  const std::string old_hash = prev ? prev->token_hash : "";
  if (auto st = store_.put_device(d); !st) return st.error();
  {
    std::lock_guard lock(mu_);
    if (!old_hash.empty()) device_tokens_.erase(old_hash);
    device_tokens_[d.token_hash] = serial;
    sightings_[serial] = Sighting{now, "enrolled", "", Json::object(), false};
  }
  directory_changed();
  // The parent (and through it the other relays) must accept this credential when the device
  // fails over. Only the hash travels, with the code as proof.
  if (auto st = queue_upstream("device", serial, device_item(d, code), now); !st) return st.error();
  // Unavailable leaves the credential unused, so the device's retry may replace it.
  auto policy = policy_for(serial);
  if (!policy) return policy.error();
  return Json{{"serial", serial},
              {"device_token", token},
              {"poll_policy", to_json(*policy)},
              {"server_time", format_time(now)}};
}

bool Relay::credential_replaceable(const Device& d) {
  if (d.token_hash.empty()) return true;  // revoked by the service center
  // A credential never used since it was issued: its answer may have been lost on the way.
  std::lock_guard lock(mu_);
  auto it = sightings_.find(d.serial);
  const TimeMs seen =
      it != sightings_.end() ? std::max(it->second.last_seen, d.last_seen) : d.last_seen;
  return seen <= d.enrolled_at && (it == sightings_.end() || it->second.state == "enrolled");
}

Error Relay::already_enrolled(const std::string& serial) {
  return conflict(serial +
                  " is enrolled already; a new enrolment needs the service center to revoke "
                  "its credential first (relayctl devices revoke " +
                  serial + ")");
}

Result<bool> Relay::enrol_from_child(const Device& d, const std::string& enrollment_code,
                                     TimeMs now) {
  auto reg = store_.get_registration(d.serial);
  if (!reg && reg.error().kind != ErrorKind::kNotFound) return reg.error();
  if (!reg) return forbidden(d.serial + " is not registered with the service center");
  if (d.model != reg->model) {
    return forbidden("device model " + d.model + " but " + d.serial + " is registered as " +
                     reg->model);
  }
  if (!secret_matches(enrollment_code, reg->enrollment_code_hash)) {
    return forbidden("the enrolment of " + d.serial +
                     " carries no valid enrollment code: a relay cannot enrol a device that did "
                     "not prove it knew its code");
  }
  auto cur = store_.get_device(d.serial);
  if (!cur && cur.error().kind != ErrorKind::kNotFound) return cur.error();
  if (cur && cur->token_hash == d.token_hash) return false;  // a repeat of what we hold
  if (cur && !credential_replaceable(*cur)) return already_enrolled(d.serial);
  Device merged = cur ? *cur : d;
  merged.model = d.model;
  merged.token_hash = d.token_hash;
  merged.enrolled_at = now;  // our clock, not the child's
  merged.last_seen = cur ? cur->last_seen : 0;
  merged.state = "enrolled";
  if (auto st = store_.put_device(merged); !st) return st.error();
  {
    std::lock_guard lock(mu_);
    if (cur && !cur->token_hash.empty()) device_tokens_.erase(cur->token_hash);
    device_tokens_[merged.token_hash] = merged.serial;
    sightings_.erase(merged.serial);
  }
  directory_changed();
  if (auto st = queue_upstream("device", merged.serial, device_item(merged, enrollment_code), now);
      !st)
    return st.error();
  return true;
}

Result<Json> Relay::revoke_device(const std::string& serial, const std::string& user, TimeMs now) {
  auto cur = store_.get_device(serial);
  if (!cur) return cur.error();
  const std::string old_hash = cur->token_hash;
  Device d = *cur;
  d.token_hash.clear();
  d.enrolled_at = now;  // newer than any copy of the old credential in the tree
  d.state = "revoked";
  if (auto st = store_.put_device(d); !st) return st.error();
  {
    std::lock_guard lock(mu_);
    if (!old_hash.empty()) device_tokens_.erase(old_hash);
    if (auto it = sightings_.find(serial); it != sightings_.end()) it->second.state = "revoked";
  }
  directory_changed();
  std::cerr << "relayd: device credential of " << serial << " revoked by " << user << std::endl;
  return Json{{"serial", serial},
              {"revoked_at", format_time(now)},
              {"revoked_by", user},
              {"was_enrolled", !old_hash.empty()}};
}

Status Relay::load_policy(const std::string& serial) {
  {
    std::lock_guard lock(mu_);
    if (policies_.count(serial)) return ok_status();
  }
  auto stored = store_.get_poll_policy(serial);
  if (!stored) return stored.error();
  auto p = stored->value_or(options_.default_poll_policy);
  std::lock_guard lock(mu_);
  policies_.emplace(serial, std::move(p));
  return ok_status();
}

Result<PollPolicy> Relay::policy_for(const std::string& serial) {
  if (auto st = load_policy(serial); !st) return st.error();
  std::lock_guard lock(mu_);
  return policies_[serial];
}

Result<PollAnswer> Relay::poll(const std::string& serial, const Json& body, TimeMs now,
                               int& wait_s) {
  wait_s = 0;
  Sighting s;
  s.last_seen = now;
  if (auto it = body.find("state"); it != body.end()) {
    if (!it->is_string() || it->get_ref<const std::string&>().size() > 32) {
      return bad_input("field 'state' must be a string of at most 32 characters");
    }
    s.state = it->get<std::string>();
  }
  if (auto it = body.find("boot_id"); it != body.end()) {
    if (!it->is_string() || it->get_ref<const std::string&>().size() > 64) {
      return bad_input("field 'boot_id' must be a string of at most 64 characters");
    }
    s.boot_id = it->get<std::string>();
  }
  if (auto it = body.find("firmware"); it != body.end()) {
    if (!it->is_object() || it->size() > 32) {
      return bad_input("field 'firmware' must be an object of at most 32 components");
    }
    s.firmware = *it;
  }
  if (auto it = body.find("wait_s"); it != body.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0 ||
        it->get<std::int64_t>() > kMaxLongPollWaitS) {
      return bad_input("field 'wait_s' must be an integer 0.." + std::to_string(kMaxLongPollWaitS));
    }
    wait_s = options_.offer_long_poll ? int(it->get<std::int64_t>()) : 0;
  }
  bool state_changed = false;
  {
    std::lock_guard lock(mu_);
    auto& cur = sightings_[serial];
    cur.last_seen = now;
    state_changed = !s.state.empty() && cur.state != s.state;
    if (!s.state.empty()) cur.state = s.state;
    if (!s.boot_id.empty()) cur.boot_id = s.boot_id;
    if (!s.firmware.is_null()) cur.firmware = s.firmware;
    cur.dirty = true;
  }
  // Only a change is announced: an idle poll stays the cheap path.
  if (state_changed) {
    events_.publish("device",
                    Json{{"serial", serial}, {"state", s.state}, {"last_seen", format_time(now)}});
  }
  return poll_answer(serial, now);
}

Result<bool> Relay::has_deliverable_jobs(const std::string& serial, TimeMs now) {
  auto open = open_jobs(serial);
  if (!open) return open.error();
  for (const auto& j : *open) {
    if (is_deliverable(j, now)) return true;
  }
  return false;
}

Result<PollAnswer> Relay::poll_answer(const std::string& serial, TimeMs now) {
  auto open = open_jobs(serial);
  if (!open) return open.error();
  Json jobs = Json::array();
  for (const auto& j : *open) {
    if (is_deliverable(j, now)) jobs.push_back(to_json(j));
  }
  if (auto st = load_policy(serial); !st) return st.error();
  std::string policy_json;
  int interval_s = 0;
  {
    std::lock_guard lock(mu_);
    const auto& policy = policies_[serial];
    auto& cached = policy_json_[serial];
    if (cached.empty()) cached = to_json(policy).dump();
    policy_json = cached;
    interval_s = jittered_interval_s(policy, std::uniform_real_distribution<double>(0, 1)(rng_));
  }
  // Keys in nlohmann's (sorted) order, so an idle answer is byte-for-byte what dump() would give.
  PollAnswer answer;
  answer.has_jobs = !jobs.empty();
  answer.body.reserve(160 + policy_json.size());
  answer.body += "{\"jobs\":";
  answer.body += jobs.empty() ? std::string("[]") : jobs.dump();
  answer.body += ",\"long_poll\":";
  answer.body += options_.offer_long_poll ? "true" : "false";
  answer.body += ",\"next_poll_s\":";
  answer.body += std::to_string(interval_s);
  answer.body += ",\"poll_policy\":";
  answer.body += policy_json;
  answer.body += ",\"server_time\":\"";
  answer.body += format_time(now);
  answer.body += "\"}";
  return answer;
}

Result<Json> Relay::accept_reports(const std::string& serial, const Json& body, TimeMs now) {
  auto it = body.find("reports");
  if (it == body.end() || !it->is_array()) return bad_input("field 'reports' must be an array");
  if (it->empty()) return bad_input("field 'reports' is empty");
  if (it->size() > kMaxReportsPerBatch) {
    return Error{ErrorKind::kTooLarge,
                 "at most " + std::to_string(kMaxReportsPerBatch) + " reports per batch"};
  }
  std::vector<IncomingReport> incoming;
  incoming.reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    auto r = parse_report((*it)[i]);
    if (!r)
      return Error{r.error().kind, "reports[" + std::to_string(i) + "]: " + r.error().message};
    if (r->job_id && !is_valid_id(*r->job_id))
      return bad_input("reports[" + std::to_string(i) + "]: bad job_id");
    IncomingReport in;
    in.sha256 = sha256_hex(canonical_report(*r));
    in.alert = alert_from(serial, *r, now);
    in.report = std::move(r).value();
    incoming.push_back(std::move(in));
  }
  auto stored = store_.append_reports(serial, incoming, now);
  if (!stored) return stored.error();
  // Queued even when every report was a duplicate: the first attempt may have been stored and
  // then lost before it was queued (the parent drops repeats by report id).
  if (options_.forward_upstream) {
    bool urgent = false;
    for (const auto& in : incoming) urgent = urgent || in.alert.has_value();
    if (auto st = queue_upstream("reports", serial, Json{{"reports", *it}}, now, urgent); !st)
      return st.error();
  }
  Json receipts = Json::array();
  std::vector<Report> fresh;
  std::vector<Alert> opened;
  for (std::size_t i = 0; i < stored->size(); ++i) {
    const auto& s = (*stored)[i];
    const auto& in = incoming[i];
    // A duplicate answers the original receipt: same number, time and hash.
    Receipt rc{s.report_id, std::to_string(s.seq), s.received_at,
               s.sha256,    s.duplicate,           std::nullopt};
    const auto& rep = in.report;
    if (rep.kind == "message") {
      rc.reply = PanelReply{"M-" + std::to_string(s.seq),
                            "Message received by the service center (" + options_.relay_id +
                                "). We will contact you shortly."};
    } else if (rep.kind == "order") {
      const auto quantity = int_field(rep.body, "quantity", 1);
      const auto item = text_field(rep.body, "item", "supplies");
      rc.reply =
          PanelReply{"O-" + std::to_string(s.seq),
                     options_.order_reply ? options_.order_reply(item, quantity)
                                          : "Order accepted: " + std::to_string(quantity) + " x " +
                                                item + ". Delivery will be arranged."};
    }
    receipts.push_back(to_json(rc));
    if (s.duplicate) continue;
    fresh.push_back(rep);
    StoredReport sr{s.seq, serial, rep, s.received_at, s.sha256};
    Json report_json = to_json(sr);
    if (s.alert_id) {
      auto a = *in.alert;
      a.id = *s.alert_id;
      a.serial = serial;
      a.report_id = rep.id;
      opened.push_back(a);
      events_.publish("alert",
                      Json{{"serial", serial}, {"alert", to_json(a)}, {"report", report_json}});
    }
    events_.publish("report", Json{{"serial", serial}, {"report", std::move(report_json)}});
  }
  if (options_.on_reports_stored && !fresh.empty())
    options_.on_reports_stored(serial, fresh, opened);
  return Json{{"receipts", std::move(receipts)}};
}

void Relay::publish_transition(const Job& job, const JobTransition& t) {
  events_.publish("job", Json{{"job", job_row(job)}, {"transition", to_json(t)}});
  if (options_.on_job_transition) options_.on_job_transition(job, t);
}

Result<Json> Relay::record_job_event(const std::string& serial, const std::string& job_id,
                                     const Json& body, TimeMs now) {
  auto e = parse_job_event(body, job_id);
  if (!e) return e.error();
  if (!e->at) e->at = now;
  auto job = store_.get_job(job_id);
  if (!job) return not_found("no job " + job_id);
  if (job->serial != serial) return forbidden("job " + job_id + " is not addressed to " + serial);
  auto t = apply_event(*job, *e, now);
  if (!t) {
    // A retransmitted final event (its answer was lost) finds the job already in that state:
    // answer as a duplicate. Anything else on a finished job (cancelled, expired) is a conflict.
    auto reloaded = store_.get_job(job_id);
    bool same_end =
        (e->type == JobEventType::kSucceeded && reloaded->state == JobState::kSucceeded) ||
        (e->type == JobEventType::kFailed && reloaded->state == JobState::kFailed) ||
        (e->type == JobEventType::kCancelled && reloaded->state == JobState::kCancelled);
    if (same_end) {
      if (auto st = queue_upstream("event", serial, Json{{"job_id", job_id}, {"event", body}}, now);
          !st)
        return st.error();
      return Json{{"job", job_row(*reloaded)}, {"duplicate", true}};
    }
    return t.error();
  }
  auto fresh = store_.record_job_event(*e, *job, *t);
  if (!fresh) return fresh.error();
  if (auto st = queue_upstream("event", serial, Json{{"job_id", job_id}, {"event", body}}, now);
      !st)
    return st.error();
  if (!*fresh) {
    auto cur = store_.get_job(job_id);
    return Json{{"job", job_row(cur ? *cur : *job)}, {"duplicate", true}};
  }
  if (job->kind == JobKind::kSchedule && job->state == JobState::kSucceeded) {
    auto p = parse_poll_policy(job->params.value("poll_policy", Json::object()));
    if (p) {
      store_.set_poll_policy(serial, *p);
      std::lock_guard lock(mu_);
      policies_[serial] = *p;
      policy_json_.erase(serial);
    }
  }
  if (*t) publish_transition(*job, **t);
  return Json{{"job", job_row(*job)}, {"duplicate", false}};
}

Status Relay::queue_upstream(const std::string& kind, const std::string& serial, Json body,
                             TimeMs now, bool urgent) {
  if (!options_.forward_upstream) return ok_status();
  if (auto st = store_.enqueue_upstream({UpstreamItem{0, kind, serial, std::move(body), now}}); !st)
    return st;
  if (options_.on_upstream_queued) options_.on_upstream_queued(urgent);
  return ok_status();
}

Result<bool> Relay::adopt_device(const Device& d) {
  auto cur = store_.get_device(d.serial);
  if (!cur && cur.error().kind != ErrorKind::kNotFound) return cur.error();
  if (cur && cur->enrolled_at >= d.enrolled_at) return false;
  Device merged = cur ? *cur : d;
  merged.model = d.model;
  merged.token_hash = d.token_hash;  // empty: revoked at the parent
  merged.enrolled_at = d.enrolled_at;
  if (!cur) merged.last_seen = 0;
  if (!cur || d.token_hash.empty()) merged.state = d.token_hash.empty() ? "revoked" : "enrolled";
  if (auto st = store_.put_device(merged); !st) return st.error();
  {
    std::lock_guard lock(mu_);
    if (cur && cur->token_hash != d.token_hash && !cur->token_hash.empty())
      device_tokens_.erase(cur->token_hash);
    if (!d.token_hash.empty()) device_tokens_[d.token_hash] = d.serial;
  }
  directory_changed();
  return true;
}

void Relay::directory_changed() {
  ++directory_epoch_;
  events_.wake_device(kDirectoryWakeKey);
}

void Relay::credentials_changed_elsewhere() {
  // Another node revoked or replaced a credential: forget every cached one; each is looked up
  // in the store again on its next use.
  {
    std::lock_guard lock(mu_);
    device_tokens_.clear();
    admin_tokens_.clear();
  }
  directory_changed();
}

void Relay::note_sighting(const std::string& serial, TimeMs last_seen, const std::string& state) {
  std::lock_guard lock(mu_);
  auto& cur = sightings_[serial];
  if (cur.last_seen >= last_seen) return;
  cur.last_seen = last_seen;
  if (!state.empty()) cur.state = state;
  cur.dirty = true;
}

Result<std::vector<Job>> Relay::deliverable_jobs(const std::string& serial, TimeMs now) {
  auto open = open_jobs(serial);
  if (!open) return open.error();
  std::vector<Job> out;
  for (auto& j : *open) {
    if (is_deliverable(j, now)) out.push_back(std::move(j));
  }
  return out;
}

std::vector<std::string> Relay::served_devices(TimeMs since) {
  std::vector<std::string> out;
  std::lock_guard lock(mu_);
  for (const auto& [serial, s] : sightings_) {
    if (s.last_seen >= since) out.push_back(serial);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Json Relay::served_sightings(TimeMs since) {
  Json out = Json::array();
  std::lock_guard lock(mu_);
  for (const auto& [serial, s] : sightings_) {
    if (s.last_seen < since) continue;
    out.push_back({{"serial", serial}, {"last_seen", s.last_seen}, {"state", s.state}});
  }
  return out;
}

Status Relay::adopt_job(const Job& job, const std::string& cause, TimeMs now) {
  Job j = job;
  j.managing_relay = job.managing_relay.empty() ? options_.relay_id : job.managing_relay;
  JobTransition t{j.id, now, j.state, j.state, cause};
  auto st = store_.create_job(j, t);
  if (!st) {
    if (st.error().kind == ErrorKind::kConflict) return ok_status();  // held already
    return st;
  }
  note_job_for(j.serial);
  publish_transition(j, t);
  events_.wake_device(j.serial);
  return ok_status();
}

Status Relay::end_job_from_parent(const std::string& id, JobState state, const std::string& cause,
                                  TimeMs now) {
  auto job = store_.get_job(id);
  if (!job) return job.error().kind == ErrorKind::kNotFound ? ok_status() : Status(job.error());
  if (is_terminal(job->state)) return ok_status();
  JobTransition t{id, now, job->state, state, cause};
  job->state = state;
  job->updated_at = now;
  if (auto st = store_.update_job(*job, t); !st) return st;
  publish_transition(*job, t);
  events_.wake_device(job->serial);
  return ok_status();
}

Status Relay::note_handed_down(Job& job, const std::string& child_id, TimeMs now) {
  const std::string path = options_.relay_id + " > " + child_id;
  if (job.managing_relay == path) return ok_status();
  JobTransition t{job.id, now, job.state, job.state, "handed to child relay " + child_id};
  job.managing_relay = path;
  job.updated_at = now;
  if (auto st = store_.update_job(job, t); !st) return st;
  publish_transition(job, t);
  return ok_status();
}

Result<std::string> Relay::create_relay_credential(const std::string& relay_id,
                                                   const std::vector<std::string>& customers,
                                                   TimeMs now) {
  if (!is_valid_id(relay_id))
    return bad_input("relay id must be 1-64 characters of [A-Za-z0-9._:-]");
  if (customers.empty() || customers.size() > 1000)
    return bad_input(
        "a child relay needs the customers it serves: 1-1000 names, or [\"*\"] for all");
  for (const auto& c : customers) {
    if (c.empty() || c.size() > 128)
      return bad_input("each customer must be a name of 1-128 characters");
  }
  AdminCredential c{relay_id, Role::kRelay, "", now, customers};
  std::string token = random_token("rt_");
  c.token_hash = token_hash(token);
  if (auto st = store_.put_admin_credential(c); !st) return st.error();
  {
    std::lock_guard lock(mu_);
    admin_tokens_[c.token_hash] = c;
  }
  directory_changed();  // the child's scope is part of what its syncs answer
  return token;
}

std::string Relay::device_state(const std::string& serial, const Device& d, TimeMs now) {
  std::lock_guard lock(mu_);
  // The store is fresher when the device polls another node sharing it.
  auto it = sightings_.find(serial);
  if (it != sightings_.end() && it->second.last_seen < d.last_seen) it = sightings_.end();
  TimeMs last = it != sightings_.end() ? it->second.last_seen : d.last_seen;
  std::string state =
      it != sightings_.end() && !it->second.state.empty() ? it->second.state : d.state;
  auto pit = policies_.find(serial);
  int interval =
      pit != policies_.end() ? pit->second.interval_s : options_.default_poll_policy.interval_s;
  // A device that missed three polls (and at least two minutes) is shown offline.
  if (now - last > std::max<TimeMs>(3LL * interval * 1000, 120000)) return "offline";
  return state.empty() ? "unknown" : state;
}

Result<Json> Relay::list_devices(const std::string& q, const std::string& state, TimeMs now) {
  auto regs = store_.list_registrations();
  if (!regs) return regs.error();
  std::map<std::string, Registration> by_serial;
  for (auto& r : *regs) by_serial[r.serial] = r;
  auto open_alerts = store_.open_alert_counts();
  if (!open_alerts) return open_alerts.error();
  const auto& alerts = *open_alerts;
  auto latest_supplies = store_.latest_of_kind("supplies");
  if (!latest_supplies) return latest_supplies.error();
  const auto& supplies = *latest_supplies;
  auto devices = store_.list_devices();
  if (!devices) return devices.error();
  Json out = Json::array();
  std::string needle = lower(q);
  for (const auto& d : *devices) {
    Json row = to_json(d);
    auto reg = by_serial.find(d.serial);
    row["place"] = reg != by_serial.end() ? reg->second.place : "";
    row["customer"] = reg != by_serial.end() ? reg->second.customer : "";
    {
      std::lock_guard lock(mu_);
      auto it = sightings_.find(d.serial);
      if (it != sightings_.end() && it->second.last_seen >= d.last_seen) {
        row["last_seen"] = it->second.last_seen ? Json(format_time(it->second.last_seen)) : Json();
        if (!it->second.firmware.is_null() && !it->second.firmware.empty())
          row["firmware"] = it->second.firmware;
      }
    }
    row["state"] = device_state(d.serial, d, now);
    auto al = alerts.find(d.serial);
    row["open_alerts"] = al != alerts.end() ? al->second : 0;
    auto sup = supplies.find(d.serial);
    row["supplies"] = sup != supplies.end()
                          ? sup->second.report.body.value("supplies", Json::array())
                          : Json::array();
    if (!state.empty() && row["state"] != state) continue;
    if (!needle.empty()) {
      std::string hay = lower(d.serial + " " + d.model + " " + row["place"].get<std::string>() +
                              " " + row["customer"].get<std::string>());
      if (hay.find(needle) == std::string::npos) continue;
    }
    out.push_back(std::move(row));
  }
  return Json{{"devices", std::move(out)}};
}

Result<Json> Relay::get_device(const std::string& serial, TimeMs now) {
  auto d = store_.get_device(serial);
  if (!d && d.error().kind != ErrorKind::kNotFound) return d.error();
  auto reg = store_.get_registration(serial);
  if (!reg && reg.error().kind != ErrorKind::kNotFound) return reg.error();
  if (!d && !reg) return not_found("no device " + serial);
  Json out;
  if (d) {
    out["device"] = to_json(*d);
    out["device"]["state"] = device_state(serial, *d, now);
    std::lock_guard lock(mu_);
    if (auto it = sightings_.find(serial);
        it != sightings_.end() && it->second.last_seen >= d->last_seen) {
      out["device"]["last_seen"] = format_time(it->second.last_seen);
      if (!it->second.firmware.is_null() && !it->second.firmware.empty())
        out["device"]["firmware"] = it->second.firmware;
      out["device"]["boot_id"] = it->second.boot_id;
    }
  } else {
    out["device"] = Json{{"serial", serial}, {"state", "not enrolled"}};
  }
  out["registration"] = reg ? to_json(*reg) : Json();
  auto latest_reports = store_.latest_reports(serial);
  if (!latest_reports) return latest_reports.error();
  Json latest = Json::object();
  for (const auto& [kind, r] : *latest_reports) latest[kind] = to_json(r);
  out["latest"] = latest;
  auto open_alerts = store_.list_alerts(serial, true);
  if (!open_alerts) return open_alerts.error();
  Json alerts = Json::array();
  for (const auto& a : *open_alerts) alerts.push_back(to_json(a));
  out["open_alerts"] = alerts;
  auto policy = policy_for(serial);
  if (!policy) return policy.error();
  out["poll_policy"] = to_json(*policy);
  auto stored = store_.count_reports(serial);
  if (!stored) return stored.error();
  out["reports_stored"] = *stored;
  return out;
}

Result<Json> Relay::list_reports(const std::map<std::string, std::string>& q) {
  ReportQuery rq;
  if (auto it = q.find("serial"); it != q.end()) rq.serial = it->second;
  if (auto it = q.find("kind"); it != q.end() && !it->second.empty()) {
    if (!is_report_kind(it->second)) return bad_input("unknown report kind '" + it->second + "'");
    rq.kind = it->second;
  }
  auto since = query_time(q, "since");
  if (!since) return since.error();
  rq.since = *since;
  auto until = query_time(q, "until");
  if (!until) return until.error();
  rq.until = *until;
  if (auto it = q.find("limit"); it != q.end()) {
    char* end = nullptr;
    long v = std::strtol(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0' || v < 1 || v > 1000)
      return bad_input("limit must be 1..1000");
    rq.limit = int(v);
  }
  if (auto it = q.find("after"); it != q.end()) {
    char* end = nullptr;
    long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0' || v < 0)
      return bad_input("after must be a reception number");
    rq.after_seq = v;
  }
  auto reports = store_.list_reports(rq);
  if (!reports) return reports.error();
  Json out = Json::array();
  for (const auto& r : *reports) out.push_back(to_json(r));
  return Json{{"reports", std::move(out)}};
}

Json Relay::job_row(const Job& job) {
  Json row = to_json(job);
  auto reg = store_.get_registration(job.serial);
  row["place"] = reg ? reg->place : "";
  return row;
}

Result<Json> Relay::create_job(const Json& body, const std::string& user, TimeMs now,
                               const std::optional<CampaignJobTag>& tag) {
  auto job = parse_job_request(body, now);
  if (!job) return job.error();
  std::string note;
  if (job->kind == JobKind::kRelayUpdate) {
    // Addressed to a child relay (claim 27: a job whose target is a relay id), never a device.
    auto credentials = store_.list_admin_credentials();
    if (!credentials) return credentials.error();
    bool is_relay = false;
    for (const auto& c : *credentials)
      is_relay = is_relay || (c.role == Role::kRelay && c.name == job->serial);
    if (!is_relay) {
      return not_found("no child relay " + job->serial +
                       " (relay-update targets a relay id: relayctl relays list)");
    }
  } else {
    auto device = store_.get_device(job->serial);
    if (!device && device.error().kind != ErrorKind::kNotFound) return device.error();
    auto reg = device ? Result<Registration>(Registration{}) : store_.get_registration(job->serial);
    if (!reg && reg.error().kind != ErrorKind::kNotFound) return reg.error();
    if (!device && !reg) return not_found("no device " + job->serial + " (register it first)");
  }
  if (job->kind == JobKind::kFirmware) {
    if (!options_.prepare_firmware_job) return bad_input("this relay keeps no firmware artifacts");
    auto device = store_.get_device(job->serial);
    auto reg = store_.get_registration(job->serial);
    const std::string model = device ? device->model : reg ? reg->model : "";
    auto prepared = options_.prepare_firmware_job(*job, model, now);
    if (!prepared) return prepared.error();
    note = *prepared;
  }
  job->id = tag ? tag->job_id : "j-" + random_hex(8);
  if (tag) job->params["campaign"] = tag->campaign;
  job->instructing_user = user;
  job->managing_relay = options_.relay_id;
  job->created_at = now;
  job->updated_at = now;
  JobTransition t{job->id, now, JobState::kWaiting, JobState::kWaiting,
                  "created by " + user + (note.empty() ? "" : "; " + note)};
  if (auto st = store_.create_job(*job, t); !st) return st.error();
  note_job_for(job->serial);
  publish_transition(*job, t);
  events_.wake_device(job->serial);
  return job_row(*job);
}

Result<Json> Relay::list_jobs(const std::map<std::string, std::string>& q, TimeMs now) {
  JobQuery jq;
  jq.now = now;
  jq.retention_ms = options_.job_retention_ms;
  if (auto it = q.find("serial"); it != q.end()) jq.serial = it->second;
  if (auto it = q.find("state"); it != q.end() && !it->second.empty()) {
    auto s = job_state_from(it->second);
    if (!s) return bad_input("unknown job state '" + it->second + "'");
    jq.state = *s;
  }
  if (auto it = q.find("all"); it != q.end()) jq.all = it->second != "0" && it->second != "false";
  auto regs = store_.list_registrations();
  if (!regs) return regs.error();
  std::map<std::string, std::string> places;
  for (const auto& r : *regs) places[r.serial] = r.place;
  auto jobs = store_.list_jobs(jq);
  if (!jobs) return jobs.error();
  Json out = Json::array();
  for (const auto& j : *jobs) {
    Json row = to_json(j);
    row["place"] = places[j.serial];
    out.push_back(std::move(row));
  }
  return Json{{"jobs", std::move(out)}};
}

Result<Json> Relay::get_job(const std::string& id) {
  auto job = store_.get_job(id);
  if (!job) return job.error();
  auto transitions = store_.list_transitions(id);
  if (!transitions) return transitions.error();
  Json ts = Json::array();
  for (const auto& t : *transitions) ts.push_back(to_json(t));
  return Json{{"job", job_row(*job)}, {"transitions", std::move(ts)}};
}

Result<Json> Relay::cancel_job(const std::string& id, const std::string& user, TimeMs now) {
  auto job = store_.get_job(id);
  if (!job) return job.error();
  auto t = printrelay::cancel_job(*job, user, now);
  if (!t) return t.error();
  if (auto st = store_.update_job(*job, *t); !st) return st.error();
  publish_transition(*job, *t);
  events_.wake_device(job->serial);
  return job_row(*job);
}

Result<Json> Relay::acknowledge_job(const std::string& id, const std::string& user, TimeMs now) {
  auto job = store_.get_job(id);
  if (!job) return job.error();
  if (job->state != JobState::kFailed) {
    return conflict("only failed jobs are acknowledged; job " + id + " is " +
                    to_string(job->state));
  }
  job->acknowledged = true;
  job->updated_at = now;
  JobTransition t{id, now, job->state, job->state, "acknowledged by " + user};
  if (auto st = store_.update_job(*job, t); !st) return st.error();
  return job_row(*job);
}

Result<Json> Relay::list_alerts(const std::string& serial, bool all) {
  auto alerts = store_.list_alerts(serial, !all);
  if (!alerts) return alerts.error();
  Json out = Json::array();
  for (const auto& a : *alerts) out.push_back(to_json(a));
  return Json{{"alerts", std::move(out)}};
}

Result<Json> Relay::acknowledge_alert(const std::string& id, const std::string& user, TimeMs now) {
  char* end = nullptr;
  long long v = std::strtoll(id.c_str(), &end, 10);
  if (id.empty() || *end != '\0') return bad_input("alert id must be a number");
  auto a = store_.acknowledge_alert(v, user, now);
  if (!a) return a.error();
  // Every open dashboard drops the alert, not only the one that acknowledged it; once (a repeated
  // acknowledgement keeps the first one's time).
  if (a->acknowledged_at == now)
    events_.publish("alert",
                    Json{{"serial", a->serial}, {"alert", to_json(*a)}, {"resolved", true}});
  return to_json(*a);
}

Result<Json> Relay::list_registrations() {
  auto regs = store_.list_registrations();
  if (!regs) return regs.error();
  Json out = Json::array();
  for (const auto& r : *regs) out.push_back(to_json(r));
  return Json{{"registrations", std::move(out)}};
}

Result<Json> Relay::put_registration(const Json& body, TimeMs now) {
  auto r = parse_registration(body);
  if (!r) return r.error();
  auto code = body.find("enrollment_code");
  auto existing = store_.get_registration(r->serial);
  if (code != body.end()) {
    if (!code->is_string() || code->get<std::string>().size() < 4 ||
        code->get<std::string>().size() > 128) {
      return bad_input("enrollment_code must be a string of 4-128 characters");
    }
    r->enrollment_code_hash = hash_secret(code->get<std::string>());
  } else if (existing) {
    r->enrollment_code_hash = existing->enrollment_code_hash;
  } else {
    return bad_input("missing field 'enrollment_code' (needed for a new registration)");
  }
  r->created_at = existing ? existing->created_at : now;
  if (auto st = store_.put_registration(*r); !st) return st.error();
  directory_changed();
  return to_json(*r);
}

Status Relay::delete_registration(const std::string& serial, const std::string& user, TimeMs now) {
  auto st = store_.delete_registration(serial);
  if (!st) return st;
  // A device the service center no longer knows keeps no working credential.
  if (auto revoked = revoke_device(serial, user, now);
      !revoked && revoked.error().kind != ErrorKind::kNotFound)
    return revoked.error();
  directory_changed();
  return ok_status();
}

Status Relay::revoke_admin_credential(const std::string& name, const std::string& user,
                                      bool relay) {
  const auto listed = store_.list_admin_credentials();
  if (!listed) return listed.error();
  const auto& all = *listed;
  auto it = std::find_if(all.begin(), all.end(), [&](const AdminCredential& c) {
    return c.name == name && (c.role == Role::kRelay) == relay;
  });
  if (it == all.end())
    return not_found(std::string(relay ? "no child relay named " : "no credential named ") + name);
  if (auto st = store_.delete_admin_credential(name); !st) return st;
  {
    std::lock_guard lock(mu_);
    for (auto it = admin_tokens_.begin(); it != admin_tokens_.end();) {
      it = it->second.name == name ? admin_tokens_.erase(it) : std::next(it);
    }
  }
  directory_changed();
  std::cerr << "relayd: credential " << name << " revoked by " << user << std::endl;
  return ok_status();
}

Result<Json> Relay::list_credentials() {
  auto credentials = store_.list_admin_credentials();
  if (!credentials) return credentials.error();
  Json out = Json::array();
  for (const auto& c : *credentials) {
    out.push_back(
        {{"name", c.name}, {"role", to_string(c.role)}, {"created_at", format_time(c.created_at)}});
  }
  return Json{{"credentials", std::move(out)}};
}

void Relay::flush_sightings() {
  std::vector<DeviceSighting> batch;
  {
    std::lock_guard lock(mu_);
    for (auto& [serial, s] : sightings_) {
      if (!s.dirty) continue;
      batch.push_back({serial, s.last_seen, s.state, s.boot_id,
                       s.firmware.is_null() ? Json::object() : s.firmware});
      s.dirty = false;
    }
  }
  if (!batch.empty()) store_.record_sightings(batch);
}

Result<int> Relay::expire_jobs(TimeMs now) {
  // The housekeeping round also retries a rescan that failed (open_jobs reads the store for
  // every device until one succeeds).
  bool rescan = false;
  {
    std::lock_guard lock(mu_);
    rescan = every_device_may_have_jobs_;
  }
  if (rescan) {
    if (auto st = rescan_open_jobs(); !st) return st.error();
  }
  auto expirable = store_.expirable_jobs();
  if (!expirable) return expirable.error();
  int n = 0;
  for (auto& job : *expirable) {
    auto t = expire_if_due(job, now);
    if (!t) continue;
    if (store_.update_job(job, *t)) {
      ++n;
      publish_transition(job, *t);
    }
  }
  return n;
}

std::size_t Relay::devices_seen() const {
  std::lock_guard lock(mu_);
  return sightings_.size();
}

}  // namespace printrelay
