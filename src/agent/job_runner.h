// Runs the jobs a relay hands the device (seed 001 Fig. 2 collect, Fig. 4 rewrite settings,
// poll schedule changes, reboot). Network-free: it talks to the device through a JobHost and
// queues every report and job event in the Outbox, which the sender delivers in order.
//
// Contracts:
//  - A job id is taken once: jobs seen again in later polls are ignored, and the ids of finished
//    jobs are persisted in <state>/jobs_done.json so a restart does not redo them (the last 1,000).
//  - A signed envelope runs once (docs/protocol.md "Signed job envelopes"): every envelope the
//    runner admits must expire within kMaxEnvelopeLifetimeMs, and its id is remembered in
//    <state>/envelopes_used.json (durable before the job runs) until that expiry, at most
//    kMaxRememberedEnvelopes of them; past its expiry it is refused as expired.
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

#include "agent/firmware_install.h"
#include "agent/outbox.h"
#include "core/firmware_job.h"
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
// For events that repeat within one job (progress, deferrals): "<job id>.<type>.<suffix>".
std::string event_id(const std::string& job_id, JobEventType type, const std::string& suffix);

// Which jobs this device runs (docs/protocol.md "Signed job envelopes"): with job keys, only jobs
// whose envelope verifies against one of them, for this serial and kind, each envelope once.
// Without, unsigned jobs of every kind but firmware.
// Unexpired envelopes a device remembers at most; a further one is refused (the service center
// signs with shorter expiries). A campaign or a daily schedule uses a few hundred a year.
inline constexpr std::size_t kMaxRememberedEnvelopes = 10'000;

struct JobTrust {
  std::string serial;
  std::vector<std::string> job_keys_pem;
};

class JobRunner {
 public:
  JobRunner(Outbox& outbox, JobHost& host, std::filesystem::path done_file, JobTrust trust = {});

  // Firmware jobs go to `installer` (which must outlive the runner); its unfinished jobs are
  // taken back into the pending list. Without one, firmware jobs fail.
  void set_firmware_installer(FirmwareInstaller* installer, TimeMs now);

  // The installer's events, queued like the runner's own.
  void queue_firmware_event(const std::string& job_id, JobEventType type, const std::string& suffix,
                            std::string reason, Json detail) {
    queue_event(job_id, type, std::move(reason), std::move(detail), suffix);
  }

  // The panel's defer/cancel of a waiting firmware update.
  Status firmware_panel(const std::string& action, TimeMs now);

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
  void run_firmware(const Job& job, TimeMs now);
  // Checks the job's envelope; returns the job with the signed params, or the reason to refuse.
  Result<Job> admit(const Job& job, TimeMs now) const;
  void queue_event(const std::string& job_id, JobEventType type, std::string reason = {},
                   Json detail = Json::object(), const std::string& suffix = {});
  void finish(const std::string& job_id);
  void persist_done_locked();
  void remember_envelope_locked(const JobEnvelope& envelope, const std::string& job_id, TimeMs now);
  void forget_expired_envelopes_locked(TimeMs now);
  void persist_envelopes_locked();
  std::filesystem::path envelopes_file() const;

  Outbox& outbox_;
  JobHost& host_;
  const std::filesystem::path done_file_;
  const JobTrust trust_;
  FirmwareInstaller* installer_ = nullptr;
  mutable std::mutex mu_;
  std::map<std::string, Job> pending_;
  std::deque<std::string> done_order_;  // oldest first; bounded
  std::set<std::string> done_;
  // Envelope id -> the job that carried it: an envelope runs under one job id only, once.
  struct UsedEnvelope {
    std::string job_id;
    TimeMs expires_at = 0;
    bool finished = false;  // the job ended: the envelope never runs again
  };
  std::map<std::string, UsedEnvelope> envelopes_;
  bool running_ = false;
};

}  // namespace printrelay::agent
