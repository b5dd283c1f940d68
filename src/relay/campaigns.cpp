#include "relay/campaigns.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "clock/wall_clock.h"
#include "core/artifact.h"
#include "core/campaign_plan.h"
#include "core/codec.h"
#include "core/firmware_rules.h"
#include "core/sha256.h"
#include "net/tls.h"

namespace printrelay {
namespace {

constexpr int kMaxPlanErrorsShown = 5;

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
        if (auto st = advance_all(wall_clock_ms()); !st) {
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
  CampaignImages images;
  for (const auto& sha : campaign_artifacts(body)) images.emplace(sha, catalog_.manifest(sha));
  auto request = parse_campaign_request(body, images, now);
  if (!request) return request.error();
  // The versions and last-seen times the relay holds in memory are written through first.
  relay_.flush_sightings();
  auto known = known_devices();
  if (!known) return known.error();
  return plan_campaign(*request, *known, now);
}

Result<std::vector<CampaignCandidate>> Campaigns::known_devices() {
  auto registrations = store_.list_registrations();
  if (!registrations) return registrations.error();
  auto devices = store_.list_devices();
  if (!devices) return devices.error();
  auto firmware_jobs = store_.open_jobs_of_kind(JobKind::kFirmware);
  if (!firmware_jobs) return firmware_jobs.error();
  std::map<std::string, CampaignCandidate> by_serial;
  for (const auto& r : *registrations) {
    CampaignCandidate& c = by_serial[r.serial];
    c.serial = r.serial;
    c.registered = true;
    c.model = r.model;
    c.place = r.place;
    c.customer = r.customer;
  }
  for (const auto& d : *devices) {
    CampaignCandidate& c = by_serial[d.serial];
    c.serial = d.serial;
    c.enrolled = true;
    c.model = d.model;  // what the device says it is, over what it was registered as
    c.firmware = d.firmware;
    c.last_seen = d.last_seen;
  }
  // Oldest first, so a device with several names its newest (as its own open_jobs() would).
  for (const auto& j : *firmware_jobs) {
    if (auto c = by_serial.find(j.serial); c != by_serial.end()) c->second.firmware_job = j.id;
  }
  std::vector<CampaignCandidate> out;
  out.reserve(by_serial.size());
  for (auto& [serial, c] : by_serial) out.push_back(std::move(c));
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
