#include "agent/job_runner.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include "agent/durable_file.h"
#include "core/codec.h"
#include "core/sha256.h"

namespace printrelay::agent {
namespace {

constexpr std::size_t kDoneKept = 1000;

TimeMs now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string new_report_id() {
  static std::atomic<std::uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[64];
  std::snprintf(buf, sizeof buf, "r-%llx-%llx-%06llx", static_cast<unsigned long long>(now_ms()),
                static_cast<unsigned long long>(counter.fetch_add(1) & 0xffffff),
                static_cast<unsigned long long>(rng() & 0xffffff));
  return buf;
}

Report make_report(std::string kind, Urgency urgency, Json body) {
  Report r;
  r.id = new_report_id();
  r.kind = std::move(kind);
  r.created_at = now_ms();
  r.urgency = urgency;
  r.body = std::move(body);
  return r;
}

std::string event_id(const std::string& job_id, JobEventType type) {
  std::string id = job_id + "." + to_string(type);
  if (id.size() <= kMaxIdLength) return id;
  return "e-" + sha256_hex(id).substr(0, 40) + "." + to_string(type);
}

JobRunner::JobRunner(Outbox& outbox, JobHost& host, std::filesystem::path done_file)
    : outbox_(outbox), host_(host), done_file_(std::move(done_file)) {
  auto text = read_file(done_file_);
  if (!text) return;
  auto j = Json::parse(*text, nullptr, false);
  if (!j.is_array()) return;
  for (const auto& id : j) {
    if (!id.is_string()) continue;
    done_order_.push_back(id.get<std::string>());
    done_.insert(id.get<std::string>());
  }
}

std::size_t JobRunner::on_poll(const std::vector<Job>& jobs, TimeMs now) {
  std::vector<Job> fresh;
  {
    std::lock_guard lock(mu_);
    std::set<std::string> listed;
    for (const auto& j : jobs) listed.insert(j.id);
    for (auto it = pending_.begin(); it != pending_.end();) {
      // Still waiting for its execution time and no longer delivered: cancelled or expired.
      it = listed.count(it->first) ? std::next(it) : pending_.erase(it);
    }
    for (const auto& j : jobs) {
      if (done_.count(j.id) || pending_.count(j.id)) continue;
      pending_[j.id] = j;
      fresh.push_back(j);
    }
  }
  for (const auto& j : fresh) {
    Json detail = Json::object();
    if (j.execute_at && *j.execute_at > now) detail["execute_at"] = format_time(*j.execute_at);
    queue_event(j.id, JobEventType::kAcquired, {}, detail);
  }
  return fresh.size();
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
    pending_.erase(job_id);
  }
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
                            Json detail) {
  JobEvent e;
  e.event_id = event_id(job_id, type);
  e.job_id = job_id;
  e.type = type;
  e.at = now_ms();
  e.reason = std::move(reason);
  e.detail = std::move(detail);
  if (auto st = outbox_.add_event(e); !st) {
    std::cerr << "agent: cannot queue event " << e.event_id << ": " << st.error().message << "\n";
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
}

void JobRunner::persist_done_locked() {
  Json j = Json::array();
  for (const auto& id : done_order_) j.push_back(id);
  if (auto st = write_durably(done_file_, j.dump()); !st) {
    std::cerr << "agent: " << st.error().message << "\n";
  }
}

void JobRunner::run(const Job& job, TimeMs now) {
  (void)now;
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
    case JobKind::kFirmware:
    case JobKind::kRelayUpdate:
      queue_event(
          job.id, JobEventType::kFailed,
          std::string("job kind '") + to_string(job.kind) + "' is not supported by this agent");
      break;
  }
  finish(job.id);
}

}  // namespace printrelay::agent
