// Runs the jobs a relay hands the device (seed 001 Fig. 2 collect, Fig. 4 rewrite settings,
// poll schedule changes, reboot). Network-free: it talks to the device through a JobHost and
// queues every report and job event in the Outbox, which the sender delivers in order.
//
// Contracts:
//  - A job id is taken once: jobs seen again in later polls are ignored, and the ids of finished
//    jobs are persisted in <state>/jobs_done.json so a restart does not redo them.
//  - Event ids are "<job id>.<type>", so an event queued again after a restart is answered by
//    the relay as a duplicate instead of being stored twice.
//  - A job with execute_at in the future is acquired and waits; it is dropped when a later poll
//    no longer lists it or the relay answers 409 for one of its events (cancelled / expired).
//  - Thread-safe: the poller calls on_poll/run_due, the sender calls drop.
#pragma once

#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agent/outbox.h"
#include "core/model.h"
#include "core/result.h"

namespace printrelay::agent {

// What the job runner needs from the device and the agent.
class JobHost {
 public:
  virtual ~JobHost() = default;
  // A data set as a report body; not found when this device does not have it.
  virtual Result<Json> read_data_set(const std::string& name) = 0;
  // Validates (validate_only) or applies settings; the error message is the NG reason.
  virtual Status apply_settings(const Json& settings, bool validate_only) = 0;
  // Adopts and persists a new poll policy.
  virtual Status apply_poll_policy(const PollPolicy& policy) = 0;
  virtual Status reboot() = 0;
};

// A new report with a fresh id, created now.
Report make_report(std::string kind, Urgency urgency, Json body);
std::string new_report_id();
std::string event_id(const std::string& job_id, JobEventType type);

class JobRunner {
 public:
  JobRunner(Outbox& outbox, JobHost& host, std::filesystem::path done_file);

  // Takes the jobs of a poll answer: acquires new ones, drops pending ones no longer listed.
  // Returns how many jobs were new.
  std::size_t on_poll(const std::vector<Job>& jobs, TimeMs now);

  // Runs every pending job whose execution time has come. Returns how many ran.
  std::size_t run_due(TimeMs now);

  // The earliest execution time of a pending job, if any.
  std::optional<TimeMs> next_due() const;

  // Forgets a job for good (the relay answered 409 / 404 for it).
  void drop(const std::string& job_id);

  bool is_known(const std::string& job_id) const;
  std::size_t pending_count() const;
  bool running() const;

 private:
  void run(const Job& job, TimeMs now);
  void queue_event(const std::string& job_id, JobEventType type, std::string reason = {},
                   Json detail = Json::object());
  void finish(const std::string& job_id);
  void persist_done_locked();

  Outbox& outbox_;
  JobHost& host_;
  const std::filesystem::path done_file_;
  mutable std::mutex mu_;
  std::map<std::string, Job> pending_;
  std::deque<std::string> done_order_;  // oldest first; bounded
  std::set<std::string> done_;
  bool running_ = false;
};

}  // namespace printrelay::agent
