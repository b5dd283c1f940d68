// The job state machine of seed 001 Fig. 9:
//   waiting -> acquired -> running -> succeeded | failed
//   waiting | acquired -> cancelled (service center), any non-terminal -> expired (expiry time).
// A device may skip states (a collect job goes waiting -> running -> succeeded). Every change is
// returned as a JobTransition so the caller stores it with its time and cause.
#pragma once

#include <optional>

#include "core/model.h"
#include "core/result.h"

namespace printrelay {

// Applies a device event. Returns the transition to store (from == to for a deferral or a
// progress event with a reason, which are recorded but do not change the state), nothing for a
// progress event without one, or conflict when
// the job is already terminal (an event for a cancelled job, say).
Result<std::optional<JobTransition>> apply_event(Job& job, const JobEvent& e, TimeMs now);

// Cancels on behalf of `user`. Conflict once the device has started running it.
Result<JobTransition> cancel_job(Job& job, const std::string& user, TimeMs now);

// Moves a non-terminal job past its expiry to expired.
std::optional<JobTransition> expire_if_due(Job& job, TimeMs now);

// Whether a device polling at `now` should receive the job: not terminal and its instructed
// time reached. Jobs already acquired are sent again; the device deduplicates by job id.
bool is_deliverable(const Job& job, TimeMs now);

// The default job list hides succeeded, cancelled and expired jobs older than `retention_ms`
// and failed jobs once acknowledged (seed 001 Fig. 9 list; failures stay until someone looks).
bool in_default_list(const Job& job, TimeMs now, TimeMs retention_ms);

}  // namespace printrelay
