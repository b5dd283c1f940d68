#include "core/job_flow.h"

namespace printrelay {
namespace {

JobTransition move(Job& job, JobState to, std::string cause, TimeMs now) {
  JobTransition t{job.id, now, job.state, to, std::move(cause)};
  job.state = to;
  job.updated_at = now;
  if (is_terminal(to)) job.executed_at = now;
  return t;
}

}  // namespace

Result<std::optional<JobTransition>> apply_event(Job& job, const JobEvent& e, TimeMs now) {
  if (is_terminal(job.state)) {
    return conflict(std::string("job ") + job.id + " is already " + to_string(job.state));
  }
  std::string cause = std::string("device: ") + to_string(e.type);
  if (!e.reason.empty()) cause += ": " + e.reason;
  if (!e.detail.empty()) job.result = e.detail;
  if (!e.reason.empty()) job.result["reason"] = e.reason;
  switch (e.type) {
    case JobEventType::kAcquired:
      if (job.state != JobState::kWaiting) return std::optional<JobTransition>();
      return std::optional(move(job, JobState::kAcquired, cause, now));
    case JobEventType::kStarted:
      if (job.state == JobState::kRunning) return std::optional<JobTransition>();
      return std::optional(move(job, JobState::kRunning, cause, now));
    case JobEventType::kProgress:
      job.updated_at = now;
      // A progress event that says something (a failed attempt that will be retried) is kept in
      // the job's history; plain percentages are not.
      if (!e.reason.empty())
        return std::optional(JobTransition{job.id, now, job.state, job.state, cause});
      return std::optional<JobTransition>();
    case JobEventType::kDeferred:
      job.updated_at = now;
      return std::optional(JobTransition{job.id, now, job.state, job.state, cause});
    case JobEventType::kSucceeded:
      return std::optional(move(job, JobState::kSucceeded, cause, now));
    case JobEventType::kFailed:
      return std::optional(move(job, JobState::kFailed, cause, now));
    case JobEventType::kCancelled:
      return std::optional(move(job, JobState::kCancelled, cause, now));
  }
  return bad_input("unknown event type");
}

Result<JobTransition> cancel_job(Job& job, const std::string& user, TimeMs now) {
  if (job.state != JobState::kWaiting && job.state != JobState::kAcquired) {
    return conflict(std::string("job ") + job.id + " is " + to_string(job.state) +
                    " and can no longer be cancelled");
  }
  return move(job, JobState::kCancelled, "cancelled by " + user, now);
}

std::optional<JobTransition> expire_if_due(Job& job, TimeMs now) {
  if (is_terminal(job.state) || !job.expires_at || *job.expires_at > now) return std::nullopt;
  return move(job, JobState::kExpired, "expired", now);
}

bool is_deliverable(const Job& job, TimeMs now) {
  return !is_terminal(job.state) && job.not_before <= now &&
         (!job.expires_at || *job.expires_at > now);
}

bool in_default_list(const Job& job, TimeMs now, TimeMs retention_ms) {
  switch (job.state) {
    case JobState::kFailed:
      return !job.acknowledged;
    case JobState::kSucceeded:
    case JobState::kCancelled:
    case JobState::kExpired:
      return now - job.updated_at < retention_ms;
    default:
      return true;
  }
}

}  // namespace printrelay
