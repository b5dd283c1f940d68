// The printrelay domain: devices, registrations, reports, receipts, jobs and their transitions,
// poll policies, alerts and credentials. Plain values; no I/O. JSON codecs live in codec.h.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/time.h"

namespace printrelay {

using Json = nlohmann::json;

// --- limits (documented in docs/protocol.md; enforced by the codecs and the relay) ---
inline constexpr std::size_t kMaxBodyBytes = 1 << 20;  // one request body
inline constexpr std::size_t kMaxReportsPerBatch = 256;
inline constexpr std::size_t kMaxReportBodyBytes = 256 * 1024;  // one report's body, serialized
inline constexpr std::size_t kMaxIdLength = 64;                 // serials, report/event ids
inline constexpr int kMaxLongPollWaitS = 60;

// Report kinds: the data sets of seed 001 Fig. 3 plus the event kinds of seed 001 Fig. 5 and
// seed 002. A `collect` job names data sets by these same names.
inline const std::vector<std::string>& report_kinds() {
  static const std::vector<std::string> k = {
      "counters", "supplies",     "identification", "structure", "calls",   "jams",  "adjustment",
      "settings", "comm-history", "alert",          "error-log", "message", "order", "boot"};
  return k;
}
// The subset a `collect` job may ask for (Fig. 3), and the error log on request (seed 003).
inline const std::vector<std::string>& data_sets() {
  static const std::vector<std::string> k = {
      "counters", "supplies",   "identification", "structure",    "calls",
      "jams",     "adjustment", "settings",       "comm-history", "error-log"};
  return k;
}
bool is_report_kind(const std::string& kind);
bool is_data_set(const std::string& name);

enum class Urgency { kLow, kNormal, kHigh, kFatal };
const char* to_string(Urgency u);
std::optional<Urgency> urgency_from(const std::string& s);

// What a device sends: idempotent by `id`, which the device chooses (a UUID in practice).
struct Report {
  std::string id;
  std::string kind;
  TimeMs created_at = 0;
  Urgency urgency = Urgency::kNormal;
  std::optional<std::string> job_id;  // set when the report answers a collect job
  Json body = Json::object();
};

// Reply shown on the device panel for message and order reports (seed 002).
struct PanelReply {
  std::string reception_no;
  std::string description;
};

// What the relay answers for each accepted report: proof that it was stored (seed 001 cl. 19-20).
struct Receipt {
  std::string report_id;
  std::string reception_no;
  TimeMs server_time = 0;
  std::string sha256;      // of canonical_report(report), as stored
  bool duplicate = false;  // the report id was already stored; nothing new was written
  std::optional<PanelReply> reply;
};

// Canonical bytes of a report: what is stored and hashed. Keys sorted, no whitespace.
std::string canonical_report(const Report& r);

// A report as the relay holds it.
struct StoredReport {
  std::int64_t seq = 0;  // reception number, monotonically increasing per relay
  std::string serial;
  Report report;
  TimeMs received_at = 0;
  std::string sha256;
};

enum class JobKind { kCollect, kConfigure, kSchedule, kReboot, kFirmware, kRelayUpdate };
const char* to_string(JobKind k);
std::optional<JobKind> job_kind_from(const std::string& s);

// Seed 001 Fig. 9 status column.
enum class JobState { kWaiting, kAcquired, kRunning, kSucceeded, kFailed, kCancelled, kExpired };
const char* to_string(JobState s);
std::optional<JobState> job_state_from(const std::string& s);
bool is_terminal(JobState s);

struct Job {
  std::string id;
  std::string serial;  // target device
  JobKind kind = JobKind::kCollect;
  Json params = Json::object();
  JobState state = JobState::kWaiting;
  std::string instructing_user;
  std::string managing_relay;
  TimeMs created_at = 0;
  TimeMs not_before = 0;             // instructed time: not delivered before
  std::optional<TimeMs> execute_at;  // execution (update) time, if any
  std::optional<TimeMs> expires_at;
  std::optional<TimeMs> executed_at;  // when it reached a terminal state
  TimeMs updated_at = 0;
  bool acknowledged = false;     // a failed job stays listed until acknowledged
  Json result = Json::object();  // detail of the last event (reason, report ids, ...)
};

struct JobTransition {
  std::string job_id;
  TimeMs at = 0;
  JobState from = JobState::kWaiting;
  JobState to = JobState::kWaiting;
  std::string cause;  // "created", "device: acquired", "cancelled by alice", "expired", ...
};

// Events a device sends about a job. kCancelled: the user cancelled it at the device's panel
// (a firmware update, seed 004), which the device may do until the write starts.
enum class JobEventType {
  kAcquired,
  kStarted,
  kProgress,
  kDeferred,
  kSucceeded,
  kFailed,
  kCancelled
};
const char* to_string(JobEventType t);
std::optional<JobEventType> job_event_type_from(const std::string& s);

struct JobEvent {
  std::string event_id;  // idempotency key chosen by the device
  std::string job_id;
  JobEventType type = JobEventType::kAcquired;
  TimeMs at = 0;
  std::string reason;  // for failed / deferred
  Json detail = Json::object();
};

// When a device calls the relay (seed 001 claim 18). Changed by a `schedule` job.
struct PollCondition {
  std::string kind;     // "counter_at_least" | "error_code"
  std::string counter;  // for counter_at_least: a key of the counters report ("total", ...)
  std::int64_t value = 0;
  std::string code;  // for error_code: e.g. "SC542" or "J-101"
};
struct PollPolicy {
  int interval_s = 900;                   // periodic access (seed 001 example: 15 min)
  std::vector<std::string> times_of_day;  // "HH:MM" UTC, extra accesses at these times
  bool on_power_on = true;
  std::vector<PollCondition> conditions;
};

// kRelay is a child relay's credential: it may use the relay-sync API and nothing else; the
// admin roles are ordered viewer < operator < admin.
enum class Role { kViewer, kOperator, kAdmin, kRelay };
const char* to_string(Role r);
std::optional<Role> role_from(const std::string& s);

// Seed 002's registration table: the service center enters a device before it enrols.
struct Registration {
  std::string serial;
  std::string model;
  std::string place;
  std::string customer;
  std::string contact;
  // The enrollment code's salted slow hash (net/secret_hash.h; older rows: sha256 hex). Never
  // sent back; only to the child relays that serve the device.
  std::string enrollment_code_hash;
  TimeMs created_at = 0;
};

struct Device {
  std::string serial;
  std::string model;
  // sha256 hex of the device credential; empty when the credential was revoked (it then matches
  // no token, and `enrolled_at` is the time of the revocation).
  std::string token_hash;
  TimeMs enrolled_at = 0;
  TimeMs last_seen = 0;
  std::string state;  // last heartbeat state: "idle", "printing", "error", "offline"...
  std::string boot_id;
  Json firmware = Json::object();
};

struct Alert {
  std::int64_t id = 0;
  std::string serial;
  std::string report_id;
  std::string code;  // SC/jam/supply code
  std::string type;  // "service_call" | "jam" | "supply_empty" | "part_eol" | ...
  Urgency urgency = Urgency::kHigh;
  std::string message;
  TimeMs raised_at = 0;
  bool open = true;
  std::optional<TimeMs> acknowledged_at;
  std::string acknowledged_by;
};

struct AdminCredential {
  std::string name;
  Role role = Role::kViewer;
  std::string token_hash;
  TimeMs created_at = 0;
  // A child relay's credential only: the customers whose devices it serves ("*": all). The
  // parent hands it only those devices' directory entries and jobs, and takes from it only their
  // enrolments, reports, events and sightings (docs/security.md).
  std::vector<std::string> customers;
};

}  // namespace printrelay
