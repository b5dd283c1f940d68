#include "relay/campaigns.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "core/artifact.h"
#include "core/codec.h"
#include "core/firmware_rules.h"
#include "core/sha256.h"
#include "net/tls.h"

namespace printrelay {
namespace {

constexpr int kMaxPlanErrorsShown = 5;

TimeMs now_ms_for_campaigns() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::optional<TimeMs>> optional_time(const Json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::optional<TimeMs>();
  if (!body[key].is_string()) return bad_input(std::string(key) + " must be a time");
  auto t = parse_time(body[key].get<std::string>());
  if (!t) return bad_input(std::string(key) + ": " + t.error().message);
  return std::optional<TimeMs>(*t);
}

std::string job_id_for(const std::string& campaign, const std::string& serial) {
  std::string id = "j-" + campaign + "-" + serial;
  if (id.size() <= kMaxIdLength) return id;
  return "j-" + campaign + "-" + sha256_hex(serial).substr(0, 24);
}

DeviceOutcome outcome_of(const Job& job) {
  switch (job.state) {
    case JobState::kSucceeded:
      return DeviceOutcome::kCompleted;
    case JobState::kFailed:
    case JobState::kCancelled:
    case JobState::kExpired:
      return DeviceOutcome::kError;
    default:
      return job.result.value("attempt_failed", false) ? DeviceOutcome::kWaitingForReupdate
                                                       : DeviceOutcome::kPending;
  }
}

// What the device is doing, in the words of seed 004 Fig. 19.
std::string status_of(const Job& job) {
  switch (job.state) {
    case JobState::kWaiting:
      return job.result.value("phase", "") == "downloading" ? "downloading" : "waiting";
    case JobState::kAcquired:
      return "downloaded, waiting for the update time";
    case JobState::kRunning:
      return "updating";
    default:
      return to_string(job.state);
  }
}

}  // namespace

Campaigns::Campaigns(Relay& relay, Store& store, FirmwareCatalog& catalog)
    : relay_(relay), store_(store), catalog_(catalog) {}

Campaigns::~Campaigns() { stop(); }

void Campaigns::start(TimeMs period_ms) {
  worker_ = std::thread([this, period_ms] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(period_ms),
                   [this] { return woken_ || stopping_; });
      if (stopping_) break;
      woken_ = false;
      lock.unlock();
      try {
        if (auto st = advance_all(now_ms_for_campaigns()); !st) {
          // The store is away: the next round tries again.
          std::fprintf(stderr, "campaigns: %s\n", st.error().message.c_str());
        }
      } catch (const std::exception& e) {
        // A store failure (database away) must not end the worker; the next round tries again.
        std::fprintf(stderr, "campaigns: %s\n", e.what());
      }
      lock.lock();
    }
  });
}

void Campaigns::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (worker_.joinable()) worker_.join();
}

void Campaigns::job_changed(const Job& job) {
  if (job.kind != JobKind::kFirmware || !job.params.contains("campaign")) return;
  std::lock_guard lock(mu_);
  woken_ = true;
  cv_.notify_all();
}

Result<Json> Campaigns::plan(const Json& body, TimeMs now) { return make_plan(body, now); }

Result<Json> Campaigns::make_plan(const Json& body, TimeMs now) {
  if (!body.is_object()) return bad_input("a campaign must be an object");
  const Json select = body.value("select", Json::object());
  if (!select.is_object()) return bad_input("select must be an object");
  const std::string want_model = text_field(select, "model");
  const Json want_versions = select.value("versions", Json::object());
  if (!want_versions.is_object()) return bad_input("select.versions must be {component: version}");
  std::vector<std::string> explicit_serials;
  if (select.contains("serials")) {
    if (!select["serials"].is_array()) return bad_input("select.serials must be an array");
    std::set<std::string> seen;
    for (const auto& s : select["serials"]) {
      if (!s.is_string() || !is_valid_id(s.get<std::string>())) {
        return bad_input("select.serials: " + s.dump() + " is not a serial");
      }
      if (seen.insert(s.get<std::string>()).second)
        explicit_serials.push_back(s.get<std::string>());
    }
    if (explicit_serials.size() > 100000) return bad_input("at most 100000 serials");
  }
  if (want_model.empty() && explicit_serials.empty()) {
    return bad_input("select needs a model or serials");
  }

  // The components: each an image the relay holds, all for one model.
  const Json comps = body.value("components", Json());
  if (!comps.is_array() || comps.empty() || comps.size() > 16) {
    return bad_input("components must be 1-16 of {\"artifact\": sha256}");
  }
  FirmwareJobSpec spec;
  std::string image_model;
  std::map<std::string, std::string> targets;  // component -> version
  Json components = Json::array();
  for (const auto& c : comps) {
    const std::string sha = c.is_object() ? text_field(c, "artifact") : "";
    if (!is_sha256_hex(sha)) return bad_input("each component needs artifact: a sha256 (64 hex)");
    auto m = catalog_.manifest(sha);
    if (!m) return bad_input(m.error().message);
    FirmwareComponent fc{m->value("component", ""), m->value("version", ""), sha,
                         m->value("size", std::int64_t{0})};
    if (targets.count(fc.component)) {
      return bad_input("two images for component " + fc.component);
    }
    if (!image_model.empty() && m->value("model", "") != image_model) {
      return bad_input("the images are for different models");
    }
    image_model = m->value("model", "");
    targets[fc.component] = fc.version;
    components.push_back({{"component", fc.component},
                          {"version", fc.version},
                          {"artifact", sha},
                          {"size", fc.size},
                          {"model", image_model}});
    spec.components.push_back(std::move(fc));
  }
  if (!want_model.empty() && want_model != image_model) {
    return bad_input("select.model is " + want_model + " but the images are for " + image_model);
  }

  // Schedule and limits: the job params every device's envelope signs.
  auto transmit_at = optional_time(body, "transmit_at");
  if (!transmit_at) return transmit_at.error();
  auto update_at = optional_time(body, "update_at");
  if (!update_at) return update_at.error();
  auto expires_at = optional_time(body, "expires_at");
  if (!expires_at) return expires_at.error();
  if (!*expires_at) return bad_input("expires_at is needed: when the campaign's jobs give up");
  if (**expires_at <= now) return bad_input("expires_at is in the past");
  spec.update_at = *update_at;
  Json params = {{"components", Json::array()}};
  for (const auto& c : spec.components) {
    params["components"].push_back({{"component", c.component},
                                    {"version", c.version},
                                    {"artifact", c.artifact},
                                    {"size", c.size}});
  }
  for (const char* key : {"forbidden_windows", "deferral", "max_attempts", "write_estimate_s"}) {
    if (body.contains(key)) params[key] = body[key];
  }
  if (*update_at) params["update_at"] = format_time(**update_at);
  auto parsed = parse_firmware_params(params);
  if (!parsed) return parsed.error();
  const Json job_params = to_json(*parsed);

  std::vector<WaveSize> sizes;
  const Json waves = body.value("waves", Json::array({"rest"}));
  if (!waves.is_array() || waves.empty() || waves.size() > 100) {
    return bad_input("waves must be a list of sizes, e.g. [\"1\", \"10%\", \"rest\"]");
  }
  for (const auto& w : waves) {
    auto s = parse_wave_size(w);
    if (!s) return bad_input("waves: " + s.error().message);
    sizes.push_back(*s);
  }
  auto threshold = parse_failure_threshold(body.value("failure_threshold", Json(1)));
  if (!threshold) return bad_input("failure_threshold: " + threshold.error().message);
  const std::int64_t offline_after_s = body.value("offline_after_s", std::int64_t{86400});
  if (offline_after_s < 60) return bad_input("offline_after_s must be at least 60");

  // Candidates: the serials given, or every registered or enrolled device, with the versions and
  // last-seen times the relay holds in memory written through first.
  relay_.flush_sightings();
  auto listed_regs = store_.list_registrations();
  if (!listed_regs) return listed_regs.error();
  std::map<std::string, Registration> regs;
  for (auto& r : *listed_regs) regs[r.serial] = std::move(r);
  auto listed_devices = store_.list_devices();
  if (!listed_devices) return listed_devices.error();
  std::map<std::string, Device> devices;
  for (auto& d : *listed_devices) devices[d.serial] = std::move(d);
  std::vector<std::string> candidates = explicit_serials;
  if (candidates.empty()) {
    std::set<std::string> all;
    for (const auto& [s, r] : regs) all.insert(s);
    for (const auto& [s, d] : devices) all.insert(s);
    candidates.assign(all.begin(), all.end());
  }
  const bool explicit_list = !explicit_serials.empty();
  Json target_rows = Json::array();
  Json excluded = Json::array();
  std::vector<std::string> target_serials;
  for (const auto& serial : candidates) {
    auto reg = regs.find(serial);
    auto dev = devices.find(serial);
    auto exclude = [&](const char* reason, const std::string& detail) {
      excluded.push_back({{"serial", serial}, {"reason", reason}, {"detail", detail}});
    };
    if (reg == regs.end() && dev == devices.end()) {
      exclude("unregistered", "not in the registration table");
      continue;
    }
    const std::string model = dev != devices.end() ? dev->second.model : reg->second.model;
    if (!want_model.empty() && model != want_model && !explicit_list) continue;
    if (model != image_model) {
      exclude("incompatible", "model " + model + "; the images are for " + image_model);
      continue;
    }
    if (dev == devices.end()) {
      exclude("offline", "registered but never enrolled");
      continue;
    }
    const Json& fw = dev->second.firmware;
    bool version_mismatch = false;
    std::string mismatch;
    for (const auto& [comp, ver] : want_versions.items()) {
      const std::string have = fw.is_object() ? fw.value(comp, "") : "";
      if (!ver.is_string() || have != ver.get<std::string>()) {
        version_mismatch = true;
        mismatch = comp + " is " + (have.empty() ? "unknown" : have) + ", selection wants " +
                   (ver.is_string() ? ver.get<std::string>() : ver.dump());
      }
    }
    if (version_mismatch) {
      if (explicit_list) exclude("incompatible", mismatch);
      continue;
    }
    std::string missing;
    bool up_to_date = true;
    for (const auto& [comp, ver] : targets) {
      if (!fw.is_object() || !fw.contains(comp)) missing = comp;
      if (!fw.is_object() || fw.value(comp, "") != ver) up_to_date = false;
    }
    if (!missing.empty()) {
      exclude("incompatible", fw.is_object() && !fw.empty()
                                  ? "the device reports no " + missing + " component"
                                  : "the device has not reported its versions yet");
      continue;
    }
    if (up_to_date) {
      exclude("up to date", "already runs the target versions");
      continue;
    }
    auto open = store_.open_jobs(serial);
    if (!open) return open.error();
    std::string under_way;
    for (const auto& j : *open) {
      if (j.kind == JobKind::kFirmware) under_way = j.id;
    }
    if (!under_way.empty()) {
      exclude("busy", "a firmware job is already under way (" + under_way + ")");
      continue;
    }
    if (now - dev->second.last_seen > offline_after_s * 1000) {
      exclude("offline", "last seen " + format_time(dev->second.last_seen));
      continue;
    }
    auto cells = version_change_cells(fw, targets);
    Json row = {{"serial", serial},
                {"model", model},
                {"place", reg != regs.end() ? reg->second.place : ""},
                {"customer", reg != regs.end() ? reg->second.customer : ""},
                {"cells", cells ? Json(*cells) : Json::object()}};
    target_rows.push_back(std::move(row));
    target_serials.push_back(serial);
  }
  auto planned = plan_waves(target_serials, sizes);
  if (!planned) return planned.error();
  Json wave_rows = Json::array();
  for (const auto& w : *planned)
    wave_rows.push_back({{"number", w.number}, {"serials", w.serials}});
  Json wave_texts = Json::array();
  for (const auto& s : sizes) wave_texts.push_back(to_text(s));
  Json out = {{"name", text_field(body, "name")},
              {"select", select},
              {"components", components},
              {"model", image_model},
              {"job_params", job_params},
              {"expires_at", format_time(**expires_at)},
              {"transmit_at", *transmit_at ? Json(format_time(**transmit_at)) : Json()},
              {"wave_sizes", wave_texts},
              {"failure_threshold", to_text(*threshold)},
              {"threshold_devices",
               threshold_devices(*threshold, static_cast<std::int64_t>(target_serials.size()))},
              {"targets", target_rows},
              {"excluded", excluded},
              {"waves", wave_rows}};
  return out;
}

Result<Json> Campaigns::create(const Json& body, const std::string& user, TimeMs now) {
  const std::string name = text_field(body, "name");
  if (name.empty() || name.size() > 200) return bad_input("a campaign needs a name (1-200 chars)");
  auto plan = make_plan(body, now);
  if (!plan) return plan.error();
  if ((*plan)["targets"].empty()) {
    return bad_input("no device can be included (see the plan's excluded list)");
  }
  const Json envelopes = body.value("envelopes", Json::object());
  if (!envelopes.is_object()) return bad_input("envelopes must be {serial: {text, signature}}");
  const Json& job_params = (*plan)["job_params"];
  const std::string expires = (*plan)["expires_at"];
  std::vector<std::string> problems;
  Json devices = Json::object();
  std::map<std::string, int> wave_of;
  for (const auto& w : (*plan)["waves"]) {
    for (const auto& s : w["serials"]) wave_of[s.get<std::string>()] = w["number"].get<int>();
  }
  for (const auto& t : (*plan)["targets"]) {
    const std::string serial = t["serial"];
    auto problem = [&](const std::string& p) { problems.push_back(serial + ": " + p); };
    if (!envelopes.contains(serial)) {
      problem("no signed envelope");
      continue;
    }
    auto signed_env = envelope_of(Json{{"envelope", envelopes[serial]}});
    if (!signed_env) {
      problem(signed_env.error().message);
      continue;
    }
    auto env = parse_envelope_text(signed_env->text);
    if (!env) {
      problem(env.error().message);
      continue;
    }
    if (env->serial != serial || env->kind != JobKind::kFirmware) {
      problem("the envelope is not a firmware job for this device");
    } else if (env->params != job_params) {
      problem("the envelope's params are not the plan's job_params");
    } else if (!env->expires_at || format_time(*env->expires_at) != expires) {
      problem("the envelope's expiry is not the plan's expires_at");
    } else {
      Json d = t;
      d["wave"] = wave_of[serial];
      d["envelope"] = envelopes[serial];
      devices[serial] = std::move(d);
    }
  }
  if (!problems.empty()) {
    std::string text;
    for (std::size_t i = 0; i < problems.size() && i < kMaxPlanErrorsShown; ++i) {
      text += (i ? "; " : "") + problems[i];
    }
    if (problems.size() > kMaxPlanErrorsShown) {
      text += "; and " + std::to_string(problems.size() - kMaxPlanErrorsShown) + " more";
    }
    return bad_input(std::to_string(problems.size()) +
                     " target(s) without a valid envelope: " + text);
  }
  CampaignRecord c;
  c.id = "c-" + random_hex(5);
  c.name = name;
  c.state = "running";
  c.created_at = now;
  c.updated_at = now;
  Json doc = *plan;
  doc.erase("targets");
  doc["created_by"] = user;
  doc["devices"] = std::move(devices);
  for (auto& w : doc["waves"]) w["started_at"] = nullptr;
  doc["error_baseline"] = 0;
  doc["log"] = Json::array({{{"at", format_time(now)},
                             {"text", "created by " + user + " for " +
                                          std::to_string(doc["devices"].size()) + " devices"}}});
  c.doc = std::move(doc);
  if (auto st = store_.create_campaign(c); !st) return st.error();
  advance(c.id, now);
  return get(c.id, now);
}

bool Campaigns::advance(const std::string& id, TimeMs now) {
  for (int round = 0; round < 5; ++round) {
    auto c = store_.get_campaign(id);
    if (!c || c->state != "running") return false;
    Json& doc = c->doc;
    // Outcomes of every target, started or not.
    std::vector<DeviceOutcome> outcomes;
    std::map<int, bool> wave_over;  // wave -> all its devices completed or in error
    for (auto& [serial, d] : doc["devices"].items()) {
      DeviceOutcome o = DeviceOutcome::kPending;
      if (d.contains("error")) {
        o = DeviceOutcome::kError;
      } else if (d.contains("job_id")) {
        auto job = store_.get_job(d["job_id"].get<std::string>());
        if (job) o = outcome_of(*job);
      }
      outcomes.push_back(o);
      const int w = d.value("wave", 1);
      const bool over = o == DeviceOutcome::kCompleted || o == DeviceOutcome::kError;
      wave_over[w] = wave_over.count(w) ? wave_over[w] && over : over;
    }
    auto threshold = parse_failure_threshold(doc.value("failure_threshold", Json(1)));
    if (!threshold) return false;
    const CampaignTally tally = tally_outcomes(outcomes);
    const std::int64_t limit = threshold_devices(*threshold, tally.total);
    const std::int64_t new_errors = tally.error - doc.value("error_baseline", std::int64_t{0});
    bool changed = false;
    if (limit > 0 && new_errors >= limit) {
      c->state = "paused";
      doc["paused_reason"] = std::to_string(tally.error) + " of " + std::to_string(tally.total) +
                             " devices in error, the threshold (" + to_text(*threshold) + " = " +
                             std::to_string(limit) + " devices) was reached";
      doc["log"].push_back({{"at", format_time(now)},
                            {"text", "paused: " + doc["paused_reason"].get<std::string>()}});
      changed = true;
    } else {
      // The next wave starts when every earlier one is over.
      int next = 0;
      bool earlier_over = true;
      for (auto& w : doc["waves"]) {
        const int n = w["number"].get<int>();
        if (w["started_at"].is_null()) {
          if (earlier_over) next = n;
          break;
        }
        earlier_over = earlier_over && wave_over[n];
      }
      if (next > 0) {
        for (auto& w : doc["waves"]) {
          if (w["number"] == next) w["started_at"] = format_time(now);
        }
        doc["log"].push_back(
            {{"at", format_time(now)}, {"text", "wave " + std::to_string(next) + " started"}});
        changed = true;
      } else if (earlier_over && tally.pending == 0 && tally.waiting_for_reupdate == 0) {
        c->state = "done";
        doc["log"].push_back({{"at", format_time(now)},
                              {"text", "done: " + std::to_string(tally.completed) + " completed, " +
                                           std::to_string(tally.error) + " in error"}});
        changed = true;
      }
    }
    // Jobs of started waves that do not exist yet (just started, or a node stopped halfway).
    std::set<int> started;
    for (const auto& w : doc["waves"]) {
      if (!w["started_at"].is_null()) started.insert(w["number"].get<int>());
    }
    std::optional<TimeMs> transmit;
    if (doc.contains("transmit_at") && doc["transmit_at"].is_string()) {
      if (auto t = parse_time(doc["transmit_at"].get<std::string>())) transmit = *t;
    }
    if (c->state == "running") {
      for (auto& [serial, d] : doc["devices"].items()) {
        if (!started.count(d.value("wave", 1)) || d.contains("job_id") || d.contains("error")) {
          continue;
        }
        Json req = {{"serial", serial}, {"kind", "firmware"}, {"envelope", d["envelope"]}};
        if (transmit && *transmit > now) req["not_before"] = format_time(*transmit);
        const std::string job_id = job_id_for(id, serial);
        auto made = relay_.create_job(req, doc.value("created_by", "campaign"), now,
                                      CampaignJobTag{id, job_id});
        if (made || made.error().kind == ErrorKind::kConflict) {
          d["job_id"] = job_id;
          d.erase("envelope");  // used; the job holds it now
        } else {
          d["error"] = made.error().message;
        }
        changed = true;
      }
    }
    if (!changed) return false;
    c->updated_at = now;
    auto rev = store_.update_campaign(*c);
    if (rev) return true;
    if (rev.error().kind != ErrorKind::kConflict) return false;
    // Another node changed it meanwhile: read again and judge again.
  }
  return false;
}

Status Campaigns::advance_all(TimeMs now) {
  auto campaigns = store_.list_campaigns();
  if (!campaigns) return campaigns.error();
  for (const auto& c : *campaigns) {
    if (c.state != "running") continue;
    // One change per round (a wave start, then its jobs) until nothing changes.
    for (int i = 0; i < 4 && advance(c.id, now); ++i) {
    }
  }
  return ok_status();
}

Json Campaigns::view(const CampaignRecord& c, TimeMs now, bool full) {
  (void)now;
  const Json& doc = c.doc;
  std::vector<DeviceOutcome> outcomes;
  Json devices = Json::array();
  Json results = {{"completed", Json::array()},
                  {"waiting_for_re_update", Json::array()},
                  {"error", Json::array()}};
  int write_estimate_s = doc["job_params"].value("write_estimate_s", 120);
  for (const auto& [serial, d] : doc["devices"].items()) {
    DeviceOutcome o = DeviceOutcome::kPending;
    Json row = {{"serial", serial},
                {"model", d.value("model", "")},
                {"place", d.value("place", "")},
                {"wave", d.value("wave", 1)},
                {"cells", d.value("cells", Json::object())},
                {"job_id", d.value("job_id", "")},
                {"status", "not started"},
                {"update_at", nullptr},
                {"expected_end", nullptr},
                {"reason", d.value("error", "")}};
    if (d.contains("error")) {
      o = DeviceOutcome::kError;
      row["status"] = "not started: job refused";
    } else if (d.contains("job_id")) {
      if (auto job = store_.get_job(d["job_id"].get<std::string>())) {
        o = outcome_of(*job);
        row["job_state"] = to_string(job->state);
        row["status"] = status_of(*job);
        TimeMs update_at = job->execute_at.value_or(0);
        if (job->result.contains("update_at") && job->result["update_at"].is_string()) {
          if (auto t = parse_time(job->result["update_at"].get<std::string>())) update_at = *t;
        } else if (job->result.contains("retry_at") && job->result["retry_at"].is_string()) {
          if (auto t = parse_time(job->result["retry_at"].get<std::string>())) update_at = *t;
        }
        if (update_at > 0) {
          row["update_at"] = format_time(update_at);
          row["expected_end"] = format_time(update_at + TimeMs(write_estimate_s) * 1000);
        }
        if (job->result.contains("reason")) row["reason"] = job->result["reason"];
        if (job->state == JobState::kSucceeded && job->executed_at) {
          row["expected_end"] = format_time(*job->executed_at);
        }
      }
    }
    row["outcome"] = to_string(o);
    row["result"] = result_label(o);
    outcomes.push_back(o);
    if (o == DeviceOutcome::kCompleted) results["completed"].push_back(serial);
    if (o == DeviceOutcome::kWaitingForReupdate) results["waiting_for_re_update"].push_back(serial);
    if (o == DeviceOutcome::kError) results["error"].push_back(serial);
    devices.push_back(std::move(row));
  }
  const CampaignTally t = tally_outcomes(outcomes);
  Json waves = Json::array();
  for (const auto& w : doc["waves"]) {
    waves.push_back({{"number", w["number"]},
                     {"devices", w["serials"].size()},
                     {"started_at", w["started_at"]}});
  }
  Json out = {{"id", c.id},
              {"name", c.name},
              {"state", c.state},
              {"created_at", format_time(c.created_at)},
              {"updated_at", format_time(c.updated_at)},
              {"created_by", doc.value("created_by", "")},
              {"model", doc.value("model", "")},
              {"components", doc["components"]},
              {"failure_threshold", doc.value("failure_threshold", "")},
              {"threshold_devices", doc.value("threshold_devices", 0)},
              {"transmit_at", doc.value("transmit_at", Json())},
              {"update_at", doc["job_params"].value("update_at", Json())},
              {"expires_at", doc.value("expires_at", "")},
              {"paused_reason", doc.value("paused_reason", "")},
              {"waves", waves},
              {"tally",
               {{"total", t.total},
                {"pending", t.pending},
                {"completed", t.completed},
                {"waiting_for_re_update", t.waiting_for_reupdate},
                {"error", t.error}}}};
  if (full) {
    out["devices"] = std::move(devices);
    out["excluded"] = doc.value("excluded", Json::array());
    out["results"] = std::move(results);
    out["log"] = doc.value("log", Json::array());
    out["job_params"] = doc["job_params"];
  }
  return out;
}

Result<Json> Campaigns::list(TimeMs now) {
  auto campaigns = store_.list_campaigns();
  if (!campaigns) return campaigns.error();
  Json rows = Json::array();
  for (const auto& c : *campaigns) rows.push_back(view(c, now, false));
  return Json{{"campaigns", rows}};
}

Result<Json> Campaigns::get(const std::string& id, TimeMs now) {
  auto c = store_.get_campaign(id);
  if (!c) return c.error();
  return Json{{"campaign", view(*c, now, true)}};
}

Result<Json> Campaigns::resume(const std::string& id, const std::string& user, TimeMs now) {
  for (int round = 0; round < 5; ++round) {
    auto c = store_.get_campaign(id);
    if (!c) return c.error();
    if (c->state != "paused")
      return conflict("campaign " + id + " is " + c->state + ", not paused");
    // The errors so far have been looked at: the threshold counts new ones from here.
    std::int64_t errors = 0;
    for (const auto& [serial, d] : c->doc["devices"].items()) {
      if (d.contains("error")) {
        ++errors;
      } else if (d.contains("job_id")) {
        if (auto job = store_.get_job(d["job_id"].get<std::string>())) {
          errors += outcome_of(*job) == DeviceOutcome::kError;
        }
      }
    }
    c->state = "running";
    c->doc["error_baseline"] = errors;
    c->doc.erase("paused_reason");
    c->doc["log"].push_back({{"at", format_time(now)}, {"text", "resumed by " + user}});
    c->updated_at = now;
    auto rev = store_.update_campaign(*c);
    if (rev) {
      advance(id, now);
      return get(id, now);
    }
    if (rev.error().kind != ErrorKind::kConflict) return rev.error();
  }
  return conflict("campaign " + id + " keeps changing; try again");
}

Result<Json> Campaigns::cancel(const std::string& id, const std::string& user, TimeMs now) {
  for (int round = 0; round < 5; ++round) {
    auto c = store_.get_campaign(id);
    if (!c) return c.error();
    if (c->state == "done" || c->state == "cancelled") {
      return conflict("campaign " + id + " is already " + c->state);
    }
    c->state = "cancelled";
    c->doc["log"].push_back({{"at", format_time(now)}, {"text", "cancelled by " + user}});
    c->updated_at = now;
    auto rev = store_.update_campaign(*c);
    if (!rev) {
      if (rev.error().kind == ErrorKind::kConflict) continue;
      return rev.error();
    }
    // Jobs not yet started on their devices end now; updates already writing finish.
    for (const auto& [serial, d] : c->doc["devices"].items()) {
      if (d.contains("job_id")) (void)relay_.cancel_job(d["job_id"].get<std::string>(), user, now);
    }
    return get(id, now);
  }
  return conflict("campaign " + id + " keeps changing; try again");
}

}  // namespace printrelay
