#include "relay/child_relays.h"

#include <algorithm>

#include "core/codec.h"
#include "core/job_flow.h"
#include "core/sha256.h"
#include "core/time.h"

namespace printrelay {

namespace {

Result<std::vector<std::string>> id_list(const Json& body, const char* key, std::size_t max) {
  std::vector<std::string> out;
  auto it = body.find(key);
  if (it == body.end()) return out;
  if (!it->is_array()) return bad_input(std::string("field '") + key + "' must be an array");
  if (it->size() > max) {
    return bad_input(std::string("field '") + key + "' holds more than " + std::to_string(max));
  }
  out.reserve(it->size());
  for (const auto& v : *it) {
    if (!v.is_string() || !is_valid_id(v.get_ref<const std::string&>())) {
      return bad_input(std::string("field '") + key + "' must hold ids");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

namespace {

Result<Json> parse_rate(const Json& j, const std::string& where) {
  if (!j.is_object()) return bad_input(where + " must be an object");
  const auto bps = j.find("bytes_per_s");
  const auto bytes = j.find("bytes");
  if (bps == j.end() || !bps->is_number_integer() || bps->get<std::int64_t>() < 0 ||
      bytes == j.end() || !bytes->is_number_integer() || bytes->get<std::int64_t>() < 0) {
    return bad_input(where + " needs non-negative integers bytes_per_s and bytes");
  }
  auto at = parse_time(text_field(j, "at"));
  if (!at) return bad_input(where + ": field 'at' must be an RFC 3339 time");
  return Json{{"bytes_per_s", *bps}, {"bytes", *bytes}, {"at", format_time(*at)}};
}

}  // namespace

// {"wan": rate | null, "devices": [rate + "serial"]}, each rate as TransferRates writes it.
Result<Json> parse_sync_rates(const Json& j) {
  if (!j.is_object()) return bad_input("field 'rates' must be an object");
  Json out{{"wan", Json()}, {"devices", Json::array()}};
  if (auto w = j.find("wan"); w != j.end() && !w->is_null()) {
    auto wan = parse_rate(*w, "rates.wan");
    if (!wan) return wan.error();
    out["wan"] = std::move(*wan);
  }
  if (auto d = j.find("devices"); d != j.end()) {
    if (!d->is_array() || d->size() > kMaxSyncSerials)
      return bad_input("field 'rates.devices' must be an array");
    for (const auto& e : *d) {
      auto rate = parse_rate(e, "each of rates.devices");
      if (!rate) return rate.error();
      const std::string serial = text_field(e, "serial");
      if (!is_valid_id(serial)) return bad_input("each of rates.devices needs a valid serial");
      (*rate)["serial"] = serial;
      out["devices"].push_back(std::move(*rate));
    }
  }
  return out;
}

Result<SyncRequest> parse_sync_request(const Json& body) {
  if (!body.is_object()) return bad_input("body must be a JSON object");
  SyncRequest r;
  r.version = text_field(body, "version");
  if (r.version.size() > 64) return bad_input("field 'version' is longer than 64 characters");
  if (auto it = body.find("wait_s"); it != body.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0 ||
        it->get<std::int64_t>() > kMaxSyncWaitS) {
      return bad_input("field 'wait_s' must be an integer 0.." + std::to_string(kMaxSyncWaitS));
    }
    r.wait_s = it->get<int>();
  }
  auto serials = id_list(body, "serials", kMaxSyncSerials);
  if (!serials) return serials.error();
  r.serials = std::move(*serials);
  auto held = id_list(body, "held_jobs", kMaxSyncSerials);
  if (!held) return held.error();
  r.held_jobs.insert(held->begin(), held->end());
  r.directory_version = text_field(body, "directory_version");
  r.catalog_version = text_field(body, "catalog_version");
  if (auto it = body.find("rates"); it != body.end() && !it->is_null()) {
    auto rates = parse_sync_rates(*it);
    if (!rates) return rates.error();
    r.rates = std::move(*rates);
  }
  auto relays = id_list(body, "relays", kMaxSyncSerials);
  if (!relays) return relays.error();
  r.relays = std::move(*relays);
  if (auto it = body.find("sightings"); it != body.end()) {
    if (!it->is_array() || it->size() > kMaxSyncSerials)
      return bad_input("field 'sightings' must be an array");
    for (const auto& s : *it) {
      if (!s.is_object() || !s.contains("serial") || !s["serial"].is_string() ||
          !is_valid_id(s["serial"].get_ref<const std::string&>()) || !s.contains("last_seen") ||
          !s["last_seen"].is_number_integer()) {
        return bad_input("each sighting needs a serial and an integer last_seen");
      }
    }
    r.sightings = *it;
  }
  if (auto it = body.find("items"); it != body.end()) {
    if (!it->is_array()) return bad_input("field 'items' must be an array");
    if (it->size() > kMaxSyncItems) {
      return Error{ErrorKind::kTooLarge,
                   "at most " + std::to_string(kMaxSyncItems) + " items per sync"};
    }
    std::int64_t last = 0;
    for (std::size_t i = 0; i < it->size(); ++i) {
      const auto& item = (*it)[i];
      const std::string where = "items[" + std::to_string(i) + "]";
      if (!item.is_object() || !item.contains("seq") || !item["seq"].is_number_integer())
        return bad_input(where + ": needs an integer seq");
      if (item["seq"].get<std::int64_t>() <= last) return bad_input(where + ": seq must increase");
      last = item["seq"].get<std::int64_t>();
      const std::string kind = text_field(item, "kind");
      if (kind != "device" && kind != "reports" && kind != "event")
        return bad_input(where + ": kind must be device, reports or event");
      if (!is_valid_id(text_field(item, "serial"))) return bad_input(where + ": bad serial");
      if (!item.contains("body") || !item["body"].is_object())
        return bad_input(where + ": body must be an object");
    }
    r.items = *it;
  }
  return r;
}

namespace {

bool printable_state(const std::string& s) {
  return s.size() <= 32 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

Json refusal(const Error& e) { return error_json(e)["error"]; }

}  // namespace

Result<SyncAnswer> ChildRelays::sync(const std::string& child_id, const SyncRequest& req,
                                     TimeMs now) {
  auto view_now = view(child_id, now);
  if (!view_now) return view_now.error();  // nothing taken: the child sends it all again
  const auto& mine = *view_now;
  std::int64_t acked = 0;
  Json rejected = Json::array();
  Json receipts = Json::array();
  std::string stopped;
  auto not_served = [&](const std::string& serial) {
    return forbidden("relay " + child_id + " does not serve " + serial +
                     " (not registered for a customer on its credential)");
  };
  for (const auto& item : req.items) {
    const std::int64_t seq = item["seq"].get<std::int64_t>();
    const std::string kind = item["kind"].get<std::string>();
    const std::string serial = item["serial"].get<std::string>();
    const Json& body = item["body"];
    Status outcome = ok_status();
    // The child's own jobs (a relay-update) report their events under the child's id, and so
    // do those of the relays below it.
    const bool own_job_event = (serial == child_id || mine->relays.count(serial) > 0) &&
                               kind != "device" && kind != "reports";
    if (!mine->serves(serial) && !own_job_event) {
      outcome = not_served(serial);
    } else if (kind == "device") {
      Device d;
      d.serial = serial;
      d.model = text_field(body, "model");
      d.token_hash = text_field(body, "token_hash");
      const std::string code = text_field(body, "enrollment_code");
      if (d.model.empty() || d.token_hash.size() != 64 || code.empty()) {
        outcome = bad_input("device item needs model, token_hash and enrollment_code");
      } else if (text_field(body, "serial", serial) != serial) {
        outcome = bad_input("device item names another serial than its item");
      } else if (auto taken = relay_.enrol_from_child(d, code, now); !taken) {
        outcome = taken.error();
      }
    } else if (kind == "reports") {
      auto r = relay_.accept_reports(serial, body, now);
      if (r) {
        Json hashes = Json::array();
        for (const auto& rc : (*r)["receipts"]) hashes.push_back(rc.value("sha256", ""));
        receipts.push_back({{"seq", seq}, {"sha256", std::move(hashes)}});
      } else {
        outcome = r.error();
      }
    } else {
      const std::string job_id = text_field(body, "job_id");
      auto r = relay_.record_job_event(serial, job_id, body.value("event", Json::object()), now);
      if (!r) outcome = r.error();
    }
    if (!outcome && outcome.error().kind == ErrorKind::kUnavailable) {
      // The store cannot take it now: stop here, the child keeps this and what follows.
      stopped = outcome.error().message;
      break;
    }
    if (!outcome) {
      // Refused for good (bad input, unknown job, a conflict): the child drops it, and says so.
      rejected.push_back({{"seq", seq}, {"serial", serial}, {"error", refusal(outcome.error())}});
    }
    acked = seq;
  }
  for (const auto& s : req.sightings) {
    const std::string serial = s["serial"].get<std::string>();
    const std::string state = text_field(s, "state");
    if (!mine->serves(serial)) {
      rejected.push_back({{"sighting", serial}, {"error", refusal(not_served(serial))}});
      continue;
    }
    if (!printable_state(state)) {
      rejected.push_back(
          {{"sighting", serial},
           {"error", refusal(bad_input("state must be at most 32 printable characters"))}});
      continue;
    }
    // A sighting from the future is taken as now: a child cannot keep a device "online".
    relay_.note_sighting(serial, std::min(s["last_seen"].get<TimeMs>(), now), state);
  }
  for (const auto& serial : req.serials) {
    if (!mine->serves(serial))
      rejected.push_back({{"served", serial}, {"error", refusal(not_served(serial))}});
  }
  {
    std::lock_guard lock(mu_);
    auto& seen = seen_[child_id];
    seen.last_sync = now;
    seen.version = req.version;
    seen.devices = req.serials.size();
    seen.items += static_cast<std::int64_t>(req.items.size());
    if (req.rates.is_object()) {
      // Only the devices it serves: a child cannot speak for another customer's printers.
      Json devices = Json::array();
      for (const auto& d : req.rates["devices"]) {
        if (mine->serves(d["serial"].get<std::string>())) devices.push_back(d);
      }
      seen.rates = Json{{"relay", child_id},
                        {"reported_at", format_time(now)},
                        {"wan", req.rates["wan"]},
                        {"devices", std::move(devices)}};
    }
  }
  // If the downward part cannot be read, the child is told unavailable and sends the items
  // again; every item kind is taken once (report ids, event ids, a repeated enrolment).
  auto down = downward(child_id, req, now);
  if (!down) return down.error();
  SyncAnswer answer = std::move(*down);
  answer.body["acked_seq"] = acked;
  answer.body["rejected"] = std::move(rejected);
  answer.body["receipts"] = std::move(receipts);
  if (!stopped.empty()) answer.body["stopped"] = stopped;
  answer.has_news = answer.has_news || !req.items.empty();
  return answer;
}

Result<SyncAnswer> ChildRelays::downward(const std::string& child_id, const SyncRequest& req,
                                         TimeMs now) {
  auto view_now = view(child_id, now);
  if (!view_now) return view_now.error();
  const auto& mine = *view_now;
  SyncAnswer answer;
  Json jobs = Json::array();
  std::vector<std::string> targets;
  for (const auto& serial : req.serials) {
    if (mine->serves(serial)) targets.push_back(serial);  // jobs go only to devices it serves
  }
  targets.push_back(child_id);  // jobs for the child relay itself (claim 27: relay-update)
  for (const auto& r : req.relays) {
    if (mine->relays.count(r)) targets.push_back(r);  // and for the relays below it
  }
  for (const auto& serial : targets) {
    auto deliverable = relay_.deliverable_jobs(serial, now);
    if (!deliverable) return deliverable.error();
    for (auto& job : *deliverable) {
      if (req.held_jobs.count(job.id)) continue;
      // A failure to record the hop must not keep the job from the device.
      (void)relay_.note_handed_down(job, child_id, now);
      jobs.push_back(to_json(job));
    }
  }
  Json ended = Json::array();
  for (const auto& id : req.held_jobs) {
    auto job = relay_.store().get_job(id);
    const bool ours = job && (mine->serves(job->serial) || job->serial == child_id ||
                              mine->relays.count(job->serial) > 0);
    if (ours && !is_terminal(job->state)) continue;
    if (!job && job.error().kind != ErrorKind::kNotFound) continue;  // store trouble: next time
    // Another device's job is as unknown to this child as a job that does not exist.
    const bool known = ours;
    ended.push_back(
        {{"id", id},
         {"state", known ? to_string(job->state) : "cancelled"},
         {"cause", known ? "ended at the parent relay" : "unknown at the parent relay"}});
  }
  answer.has_news = !jobs.empty() || !ended.empty();
  answer.body = Json{{"jobs", std::move(jobs)},
                     {"job_updates", std::move(ended)},
                     {"server_time", format_time(now)}};
  answer.body["directory_version"] = mine->directory_version;
  if (mine->directory_version != req.directory_version) {
    answer.body["directory"] = mine->directory;
    answer.has_news = true;
  }
  if (catalog_) {
    Json images = Json::array();
    for (auto& m : catalog_()) images.push_back(std::move(m));
    const std::string version = sha256_hex(images.dump()).substr(0, 32);
    answer.body["catalog_version"] = version;
    if (version != req.catalog_version) {
      answer.body["catalog"] = std::move(images);
      answer.has_news = true;
    }
  }
  return answer;
}

Result<std::shared_ptr<const ChildRelays::Fleet>> ChildRelays::fleet(TimeMs now) {
  const auto epoch = relay_.directory_epoch();
  {
    std::lock_guard lock(mu_);
    if (fleet_ && epoch == fleet_->epoch && now - fleet_->at < 5000 && now >= fleet_->at)
      return std::shared_ptr<const Fleet>(fleet_);
  }
  auto f = std::make_shared<Fleet>();
  f->epoch = epoch;
  f->at = now;
  // A fleet read in part would send children a directory without some of their devices, and
  // they would turn those devices away: any failed read fails the whole.
  auto regs = relay_.store().list_registrations();
  if (!regs) return regs.error();
  for (auto& r : *regs) f->registrations.emplace(r.serial, r);
  auto devices = relay_.store().list_devices();
  if (!devices) return devices.error();
  f->devices = std::move(*devices);
  auto credentials = relay_.store().list_admin_credentials();
  if (!credentials) return credentials.error();
  for (auto& c : *credentials) {
    if (c.role == Role::kRelay) f->scopes.emplace(c.name, std::move(c.customers));
  }
  Json fingerprint = Json::array();
  for (const auto& [serial, r] : f->registrations)
    fingerprint.push_back(
        {serial, r.customer, r.model, r.place, r.contact, r.enrollment_code_hash, r.created_at});
  for (const auto& d : f->devices)
    fingerprint.push_back({d.serial, d.model, d.token_hash, d.enrolled_at});
  for (const auto& [id, customers] : f->scopes) fingerprint.push_back({id, customers});
  f->version = sha256_hex(fingerprint.dump()).substr(0, 16);
  std::lock_guard lock(mu_);
  fleet_ = f;
  return std::shared_ptr<const Fleet>(f);
}

Result<std::shared_ptr<const ChildRelays::ChildView>> ChildRelays::view(const std::string& child_id,
                                                                        TimeMs now) {
  auto read = fleet(now);
  if (!read) return read.error();
  const auto& f = *read;
  {
    std::lock_guard lock(mu_);
    if (auto it = views_.find(child_id);
        it != views_.end() && it->second->fleet_version == f->version)
      return std::shared_ptr<const ChildView>(it->second);
  }
  auto v = std::make_shared<ChildView>();
  v->fleet_version = f->version;
  std::set<std::string> customers;
  bool all = false;
  if (auto it = f->scopes.find(child_id); it != f->scopes.end()) {
    for (const auto& c : it->second) {
      if (c == "*") all = true;
      customers.insert(c);
    }
  }
  for (const auto& [id, scope] : f->scopes) {
    if (id == child_id) continue;
    const bool within = all || (!scope.empty() &&
                                std::all_of(scope.begin(), scope.end(), [&](const std::string& c) {
                                  return c != "*" && customers.count(c);
                                }));
    if (within) v->relays.insert(id);
  }
  Json regs = Json::array();
  for (const auto& [serial, r] : f->registrations) {
    if (!all && !customers.count(r.customer)) continue;
    v->served.insert(serial);
    Json j = to_json(r);
    j["enrollment_code_hash"] = r.enrollment_code_hash;
    j["created_at_ms"] = r.created_at;
    regs.push_back(std::move(j));
  }
  Json devices = Json::array();
  for (const auto& d : f->devices) {
    if (!v->serves(d.serial)) continue;
    devices.push_back({{"serial", d.serial},
                       {"model", d.model},
                       {"token_hash", d.token_hash},
                       {"enrolled_at", d.enrolled_at}});
  }
  v->directory = Json{{"registrations", std::move(regs)}, {"devices", std::move(devices)}};
  v->directory_version = sha256_hex(v->directory.dump()).substr(0, 16);
  std::lock_guard lock(mu_);
  views_[child_id] = v;
  return std::shared_ptr<const ChildView>(v);
}

Result<Json> ChildRelays::rates(const std::string& child_id) {
  std::lock_guard lock(mu_);
  auto it = seen_.find(child_id);
  if (it == seen_.end() || !it->second.rates.is_object()) {
    return not_found("relay " + child_id +
                     " has reported no transfer rates since this relay "
                     "started (it reports them with its regular sync)");
  }
  return it->second.rates;
}

std::vector<std::string> ChildRelays::synced_since(TimeMs since) {
  std::vector<std::string> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, seen] : seen_) {
    if (seen.last_sync >= since) out.push_back(id);
  }
  return out;
}

Result<Json> ChildRelays::list(TimeMs now) {
  auto credentials = relay_.store().list_admin_credentials();
  if (!credentials) return credentials.error();
  Json out = Json::array();
  std::lock_guard lock(mu_);
  for (const auto& c : *credentials) {
    if (c.role != Role::kRelay) continue;
    Json row{{"id", c.name}, {"created_at", format_time(c.created_at)}, {"customers", c.customers}};
    if (auto it = seen_.find(c.name); it != seen_.end()) {
      row["last_sync"] = format_time(it->second.last_sync);
      row["seconds_since_sync"] = (now - it->second.last_sync) / 1000;
      row["version"] = it->second.version;
      if (it->second.rates.is_object()) {
        const Json& wan = it->second.rates["wan"];
        row["wan_bytes_per_s"] = wan.is_object() ? wan["bytes_per_s"] : Json();
        row["devices_measured"] = it->second.rates["devices"].size();
      }
      row["devices"] = it->second.devices;
      row["items_received"] = it->second.items;
    } else {
      row["last_sync"] = nullptr;
    }
    out.push_back(std::move(row));
  }
  return Json{{"relays", std::move(out)}};
}

}  // namespace printrelay
