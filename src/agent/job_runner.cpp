#include "agent/job_runner.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>

#include "agent/agent_log.h"
#include "agent/durable_file.h"
#include "clock/wall_clock.h"
#include "core/codec.h"
#include "core/firmware_job.h"
#include "core/json_text.h"
#include "core/sha256.h"
#include "net/signing.h"

namespace printrelay::agent {
namespace {

constexpr std::size_t kDoneKept = 1000;

}  // namespace

std::string new_report_id() {
  static std::atomic<std::uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[64];
  std::snprintf(buf, sizeof buf, "r-%llx-%llx-%06llx",
                static_cast<unsigned long long>(wall_clock_ms()),
                static_cast<unsigned long long>(counter.fetch_add(1) & 0xffffff),
                static_cast<unsigned long long>(rng() & 0xffffff));
  return buf;
}

Report make_report(std::string kind, Urgency urgency, Json body) {
  Report r;
  r.id = new_report_id();
  r.kind = std::move(kind);
  r.created_at = wall_clock_ms();
  r.urgency = urgency;
  r.body = std::move(body);
  return r;
}

std::string event_id(const std::string& job_id, JobEventType type) {
  std::string id = job_id + "." + to_string(type);
  if (id.size() <= kMaxIdLength) return id;
  return "e-" + sha256_hex(id).substr(0, 40) + "." + to_string(type);
}

std::string event_id(const std::string& job_id, JobEventType type, const std::string& suffix) {
  if (suffix.empty()) return event_id(job_id, type);
  std::string id = job_id + "." + to_string(type) + "." + suffix;
  if (id.size() <= kMaxIdLength) return id;
  return "e-" + sha256_hex(id).substr(0, 40) + "." + suffix.substr(0, 16);
}

void JobRunner::remember_envelope_locked(const JobEnvelope& envelope, const std::string& job_id,
                                         TimeMs now) {
  // A standing authorisation comes back under many job ids by design (decision 0011).
  if (envelope.serial == kAnyDevice || !envelope.expires_at) return;
  if (envelopes_.count(envelope.id)) return;
  forget_expired_envelopes_locked(now);
  envelopes_[envelope.id] = UsedEnvelope{job_id, *envelope.expires_at, false};
  persist_envelopes_locked();
}

void JobRunner::forget_expired_envelopes_locked(TimeMs now) {
  // Past its expiry an envelope is refused as expired, so it need not be remembered.
  std::erase_if(envelopes_, [now](const auto& e) { return e.second.expires_at <= now; });
}

void JobRunner::persist_envelopes_locked() {
  Json j = Json::array();
  for (const auto& [id, used] : envelopes_) {
    j.push_back({{"id", id},
                 {"job_id", used.job_id},
                 {"expires_at", used.expires_at},
                 {"finished", used.finished}});
  }
  if (auto st = write_durably(envelopes_file(), j.dump()); !st) {
    LogLine(LogLevel::kError) << "agent: " << st.error().message;
  }
}

std::filesystem::path JobRunner::envelopes_file() const {
  return done_file_.parent_path() / "envelopes_used.json";
}

JobRunner::JobRunner(Outbox& outbox, JobHost& host, std::filesystem::path done_file, JobTrust trust)
    : outbox_(outbox), host_(host), done_file_(std::move(done_file)), trust_(std::move(trust)) {
  const TimeMs now = wall_clock_ms();
  if (auto text = read_file(envelopes_file())) {
    auto j = parse_json(*text);
    if (!j)
      LogLine(LogLevel::kWarn) << "agent: " << envelopes_file().string() << ": "
                               << j.error().message;
    for (const auto& e : j && j->is_array() ? *j : Json::array()) {
      if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        // Written before envelopes had to expire: kept for the longest lifetime from now.
        envelopes_[e[0].get<std::string>()] =
            UsedEnvelope{e[1].get<std::string>(), now + kMaxEnvelopeLifetimeMs, true};
        continue;
      }
      if (!e.is_object()) continue;
      const Json id = e.value("id", Json()), job_id = e.value("job_id", Json()),
                 expires_at = e.value("expires_at", Json());
      if (!id.is_string() || !job_id.is_string() || !expires_at.is_number_integer()) continue;
      envelopes_[id.get<std::string>()] =
          UsedEnvelope{job_id.get<std::string>(), expires_at.get<TimeMs>(),
                       e.value("finished", Json(false)) == Json(true)};
    }
    forget_expired_envelopes_locked(now);
  }
  auto text = read_file(done_file_);
  if (!text) return;
  auto j = parse_json(*text);
  if (!j || !j->is_array()) return;
  for (const auto& id : *j) {
    if (!id.is_string()) continue;
    done_order_.push_back(id.get<std::string>());
    done_.insert(id.get<std::string>());
  }
}

void JobRunner::set_firmware_installer(FirmwareInstaller* installer, TimeMs now) {
  std::lock_guard lock(mu_);
  installer_ = installer;
  if (!installer_) return;
  for (auto& job : installer_->unfinished()) {
    if (done_.count(job.id)) continue;
    job.execute_at = now;
    pending_[job.id] = job;
  }
}

Result<Job> JobRunner::admit(const Job& job, TimeMs now) const {
  auto signed_env = envelope_of(job.params);
  if (!signed_env) {
    if (signed_env.error().kind != ErrorKind::kNotFound) return signed_env.error();
    if (job.kind == JobKind::kFirmware) {
      return forbidden("firmware jobs must be signed by the service center; this job is not");
    }
    if (!trust_.job_keys_pem.empty()) {
      return forbidden("this device runs only jobs signed by the service center; this one is not");
    }
    return job;
  }
  if (trust_.job_keys_pem.empty()) {
    return forbidden(
        "this device trusts no service-center key, so it cannot check the job's signature");
  }
  auto env = parse_envelope_text(signed_env->text);
  if (!env) return forbidden("job envelope: " + env.error().message);
  bool known = false, verified = false;
  for (const auto& pem : trust_.job_keys_pem) {
    auto id = key_id(pem);
    if (!id || *id != env->key_id) continue;
    known = true;
    auto ok = verify_text(signed_env->text, signed_env->signature, pem);
    if (ok && *ok) verified = true;
  }
  if (!known) return forbidden("job envelope is signed by an unknown key " + env->key_id);
  if (!verified) return forbidden("job envelope signature does not verify (tampered)");
  auto params = check_envelope_for(*env, trust_.serial, job.kind);
  if (!params) return params.error();
  if (auto st = check_envelope_expiry(*env, now); !st) return st.error();
  // A standing authorisation serves every automatic job until it expires: installing the
  // version it names again is all a replay could do. Any other envelope runs once: under one job
  // id, and not again once that job finished (even if the job id itself was forgotten).
  if (auto it = envelopes_.find(env->id); env->serial != kAnyDevice && it != envelopes_.end() &&
                                          (it->second.job_id != job.id || it->second.finished)) {
    return forbidden("job envelope " + env->id + " was already used by job " + it->second.job_id +
                     " (replayed)");
  }
  if (envelopes_.size() >= kMaxRememberedEnvelopes && !envelopes_.count(env->id)) {
    return forbidden("this device already remembers " + std::to_string(kMaxRememberedEnvelopes) +
                     " unexpired signed jobs; sign jobs with shorter expiries");
  }
  Job admitted = job;
  admitted.params = *params;
  // The signed expiry wins over the relay's copy.
  admitted.expires_at = env->expires_at;
  return admitted;
}

std::size_t JobRunner::on_poll(const std::vector<Job>& jobs, TimeMs now) {
  std::vector<Job> fresh;
  std::vector<std::pair<std::string, std::string>> refused;
  std::vector<std::string> abandoned;
  {
    std::lock_guard lock(mu_);
    std::set<std::string> listed;
    for (const auto& j : jobs) listed.insert(j.id);
    for (auto it = pending_.begin(); it != pending_.end();) {
      // Still waiting for its execution time and no longer delivered: cancelled or expired. A
      // firmware update whose write started goes on: the slots must end consistent.
      if (listed.count(it->first)) {
        ++it;
        continue;
      }
      if (it->second.kind == JobKind::kFirmware && installer_) {
        if (installer_->committed(it->first)) {
          ++it;
          continue;
        }
        abandoned.push_back(it->first);
      }
      it = pending_.erase(it);
    }
    forget_expired_envelopes_locked(now);
    for (const auto& j : jobs) {
      if (done_.count(j.id) || pending_.count(j.id)) continue;
      auto admitted = admit(j, now);
      if (!admitted) {
        refused.emplace_back(j.id, admitted.error().message);
        continue;
      }
      if (admitted->kind == JobKind::kFirmware) admitted->execute_at = now;  // download first
      if (auto env = envelope_of(j.params)) {
        if (auto parsed = parse_envelope_text(env->text))
          remember_envelope_locked(*parsed, j.id, now);
      }
      pending_[j.id] = *admitted;
      fresh.push_back(*admitted);
    }
  }
  for (const auto& id : abandoned) installer_->abandon(id);
  for (const auto& [id, reason] : refused) {
    queue_event(id, JobEventType::kFailed, reason, {{"refused", true}});
    finish(id);
  }
  for (const auto& j : fresh) {
    // A firmware job reports "acquired" once its images are downloaded and verified.
    if (j.kind == JobKind::kFirmware) continue;
    Json detail = Json::object();
    if (j.execute_at && *j.execute_at > now) detail["execute_at"] = format_time(*j.execute_at);
    queue_event(j.id, JobEventType::kAcquired, {}, detail);
  }
  return fresh.size() + refused.size();
}

Status JobRunner::firmware_panel(const std::string& action, TimeMs now) {
  if (!installer_) return conflict("this device takes no firmware");
  auto outcome = installer_->panel(action, now);
  if (!outcome) return outcome.error();
  if (outcome->finished) {
    {
      std::lock_guard lock(mu_);
      pending_.erase(outcome->job_id);
    }
    finish(outcome->job_id);
    return ok_status();
  }
  std::lock_guard lock(mu_);
  if (auto it = pending_.find(outcome->job_id); it != pending_.end()) {
    it->second.execute_at = outcome->next_at;
  }
  return ok_status();
}

void JobRunner::run_firmware(const Job& job, TimeMs now) {
  if (!installer_) {
    queue_event(job.id, JobEventType::kFailed, "this device takes no firmware updates");
    finish(job.id);
    return;
  }
  auto step = installer_->advance(job, now);
  if (step.finished) {
    finish(job.id);
    return;
  }
  std::lock_guard lock(mu_);
  Job again = job;
  again.execute_at = step.next_at;
  pending_[job.id] = again;
}

std::size_t JobRunner::run_due(TimeMs now) {
  std::size_t ran = 0;
  for (;;) {
    Job job;
    {
      std::lock_guard lock(mu_);
      auto it = pending_.begin();
      for (; it != pending_.end(); ++it) {
        if (!it->second.execute_at || *it->second.execute_at <= now) break;
      }
      if (it == pending_.end()) return ran;
      job = it->second;
      pending_.erase(it);
      running_ = true;
    }
    run(job, now);
    {
      std::lock_guard lock(mu_);
      running_ = false;
    }
    ++ran;
  }
}

std::optional<TimeMs> JobRunner::next_due() const {
  std::lock_guard lock(mu_);
  std::optional<TimeMs> best;
  for (const auto& [id, j] : pending_) {
    TimeMs at = j.execute_at.value_or(0);
    if (!best || at < *best) best = at;
  }
  return best;
}

void JobRunner::drop(const std::string& job_id) {
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(job_id);
    if (it != pending_.end() && it->second.kind == JobKind::kFirmware && installer_ &&
        installer_->committed(job_id)) {
      return;  // the write started: finish it so the slots end consistent
    }
    pending_.erase(job_id);
  }
  if (installer_) installer_->abandon(job_id);
  finish(job_id);
}

bool JobRunner::is_known(const std::string& job_id) const {
  std::lock_guard lock(mu_);
  return done_.count(job_id) || pending_.count(job_id);
}

std::size_t JobRunner::pending_count() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

bool JobRunner::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

void JobRunner::queue_event(const std::string& job_id, JobEventType type, std::string reason,
                            Json detail, const std::string& suffix) {
  JobEvent e;
  e.event_id = event_id(job_id, type, suffix);
  e.job_id = job_id;
  e.type = type;
  e.at = wall_clock_ms();
  e.reason = std::move(reason);
  e.detail = std::move(detail);
  if (auto st = outbox_.add_event(e); !st) {
    LogLine(LogLevel::kError) << "agent: cannot queue event " << e.event_id << ": "
                              << st.error().message;
  }
}

void JobRunner::finish(const std::string& job_id) {
  std::lock_guard lock(mu_);
  if (done_.count(job_id)) return;
  done_.insert(job_id);
  done_order_.push_back(job_id);
  while (done_order_.size() > kDoneKept) {
    done_.erase(done_order_.front());
    done_order_.pop_front();
  }
  persist_done_locked();
  bool marked = false;
  for (auto& [id, used] : envelopes_) {
    if (used.job_id == job_id && !used.finished) used.finished = marked = true;
  }
  if (marked) persist_envelopes_locked();
}

void JobRunner::persist_done_locked() {
  Json j = Json::array();
  for (const auto& id : done_order_) j.push_back(id);
  if (auto st = write_durably(done_file_, j.dump()); !st) {
    LogLine(LogLevel::kError) << "agent: " << st.error().message;
  }
}

void JobRunner::run(const Job& job, TimeMs now) {
  if (job.kind == JobKind::kFirmware) {
    run_firmware(job, now);
    return;
  }
  queue_event(job.id, JobEventType::kStarted);
  switch (job.kind) {
    case JobKind::kCollect: {
      Json ids = Json::array();
      Json missing = Json::array();
      for (const auto& d : job.params.value("data_sets", Json::array())) {
        if (!d.is_string()) continue;
        const std::string name = d.get<std::string>();
        auto body = host_.read_data_set(name);
        if (!body || !body->is_object()) {
          missing.push_back(name);
          continue;
        }
        Report r = make_report(name, Urgency::kNormal, std::move(*body));
        r.job_id = job.id;
        if (auto st = outbox_.add_report(r); !st) {
          missing.push_back(name);
          continue;
        }
        ids.push_back(r.id);
      }
      if (ids.empty()) {
        queue_event(job.id, JobEventType::kFailed,
                    "no requested data set is available: " + missing.dump(),
                    {{"missing", missing}});
      } else {
        Json detail = {{"report_ids", ids}};
        if (!missing.empty()) detail["missing"] = missing;
        queue_event(job.id, JobEventType::kSucceeded, {}, detail);
      }
      break;
    }
    case JobKind::kConfigure: {
      Json settings = job.params.value("settings", Json::object());
      if (auto st = host_.apply_settings(settings, true); !st) {
        queue_event(job.id, JobEventType::kFailed, st.error().message,
                    {{"result", "NG"}, {"settings", settings}});
        break;
      }
      if (auto st = host_.apply_settings(settings, false); !st) {
        queue_event(job.id, JobEventType::kFailed, st.error().message,
                    {{"result", "NG"}, {"settings", settings}});
        break;
      }
      queue_event(job.id, JobEventType::kSucceeded, {}, {{"result", "OK"}, {"applied", settings}});
      break;
    }
    case JobKind::kSchedule: {
      auto policy = parse_poll_policy(job.params.value("poll_policy", Json::object()));
      if (!policy) {
        queue_event(job.id, JobEventType::kFailed, policy.error().message);
        break;
      }
      if (auto st = host_.apply_poll_policy(*policy); !st) {
        queue_event(job.id, JobEventType::kFailed, st.error().message);
        break;
      }
      queue_event(job.id, JobEventType::kSucceeded, {}, {{"poll_policy", to_json(*policy)}});
      break;
    }
    case JobKind::kReboot: {
      if (auto st = host_.reboot(); !st) {
        queue_event(job.id, JobEventType::kFailed, st.error().message);
        break;
      }
      queue_event(job.id, JobEventType::kSucceeded);
      break;
    }
    case JobKind::kFirmware:  // run_firmware
    case JobKind::kRelayUpdate:
      queue_event(
          job.id, JobEventType::kFailed,
          std::string("job kind '") + to_string(job.kind) + "' is not supported by this agent");
      break;
  }
  finish(job.id);
}

}  // namespace printrelay::agent
