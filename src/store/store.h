// The Store contract. Implementations: sqlite/ (embedded default) and, later, postgres/.
// Both pass the one conformance suite in tests/unit/store/store_suite.h.
//
// Guarantees every implementation gives:
// - Every mutating call is one transaction: it returns only after its changes are durable
//   (committed), or returns an error having changed nothing.
// - append_reports and record_job_event are idempotent by (serial, report id) and event id:
//   repeating one returns the original receipt data and writes nothing new.
// - Reception numbers (StoredReport::seq) increase strictly in commit order.
// - Thread-safe: calls may come from several threads; the implementation serializes as needed.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/result.h"

namespace printrelay {

// A report on its way in, already validated and hashed by the relay.
struct IncomingReport {
  Report report;
  std::string sha256;          // of canonical_report(report)
  std::optional<Alert> alert;  // opened together with the report, if the report is new
};

// What append_reports returns for each report, in input order.
struct StoredReceipt {
  std::string report_id;
  std::int64_t seq = 0;
  TimeMs received_at = 0;
  std::string sha256;
  bool duplicate = false;
  std::optional<std::int64_t> alert_id;  // set when a new alert was opened
};

struct ReportQuery {
  std::string serial;           // empty: all devices
  std::string kind;             // empty: all kinds
  std::optional<TimeMs> since;  // created_at >= since
  std::optional<TimeMs> until;  // created_at <  until
  std::optional<std::int64_t> after_seq;
  int limit = 100;  // newest first unless after_seq is set (then oldest first)
};

struct JobQuery {
  std::string serial;
  std::optional<JobState> state;
  bool all = false;  // include jobs hidden from the default list
  TimeMs retention_ms = 24LL * 3600 * 1000;
  TimeMs now = 0;
  int limit = 500;
};

struct DeviceSighting {
  std::string serial;
  TimeMs last_seen = 0;
  std::string state;
  std::string boot_id;
  Json firmware = Json::object();
};

// One thing a child relay owes its parent: a device's enrolment ("device"), a batch of its
// reports ("reports") or a job event ("event"). `body` is what goes upward as it is.
struct UpstreamItem {
  std::int64_t seq = 0;  // assigned by the store, increasing in commit order
  std::string kind;
  std::string serial;
  Json body;
  TimeMs queued_at = 0;
};

// One line of a device's update history (seed 002): what the relay offered, sent and installed.
struct FirmwareHistoryEntry {
  std::int64_t id = 0;  // assigned by the store, increasing in commit order
  std::string serial;
  TimeMs at = 0;
  std::string event;  // "checked" | "sent" | "installed" | "failed"
  std::string component;
  std::string version;
  std::string artifact;  // sha256 hex; empty for "checked"
  std::string job_id;    // empty when not part of a job
  Json detail = Json::object();
};

// A firmware campaign (seed 004 Fig. 15-24, 46) as the relay keeps it: the plan, waves and
// per-device job ids are in `doc`, which relay/campaigns reads and writes whole. `revision`
// guards concurrent changes from several relay nodes on one store.
struct CampaignRecord {
  std::string id;
  std::string name;
  std::string state;  // "running" | "paused" | "done" | "cancelled"
  TimeMs created_at = 0;
  TimeMs updated_at = 0;
  std::int64_t revision = 0;  // 1 when created, +1 on every update
  Json doc = Json::object();
};

// A table the service center edits as a whole (code tables, monitoring rules, notification
// rules): its JSON body, guarded by a revision so two operators cannot overwrite each other.
struct SettingsDoc {
  std::string name;
  std::int64_t revision = 0;  // 1 when first stored, +1 on every change
  TimeMs updated_at = 0;
  std::string updated_by;
  Json body;
};

// One notification: the outbox entry while it is owed, and afterwards the record of what was
// sent (or why it could not be).
struct NotificationRecord {
  std::int64_t id = 0;  // assigned by the store, increasing in commit order
  TimeMs created_at = 0;
  std::string event_type;  // notification_event_types() (core/monitoring_rules.h)
  std::string serial;      // empty for fleet-wide events
  std::string channel;     // "email" | "webhook"
  std::string target;      // the address or URL
  std::string rule;        // the routing rule that chose the target
  std::string subject;
  std::string text;               // the mail body
  Json payload = Json::object();  // the webhook body
  std::string state = "pending";  // "pending" | "sent" | "failed"
  int attempts = 0;
  TimeMs next_attempt_at = 0;
  std::string last_error;
  std::optional<TimeMs> sent_at;
};

// Every call reports failure as a value. A read that cannot be done (the database is gone, a
// query fails) is an error, never an empty list or a zero count: a caller that took "nothing
// there" for an answer would drop work (a device's may-have-jobs mark) or show an empty fleet.
class Store {
 public:
  virtual ~Store() = default;

  // Read once when the store opens (where a failure throws): a cached value, it cannot fail.
  virtual int schema_version() = 0;

  // --- registrations (seed 002 registration table) ---
  virtual Status put_registration(const Registration& r) = 0;  // insert or replace
  virtual Result<Registration> get_registration(const std::string& serial) = 0;
  virtual Result<std::vector<Registration>> list_registrations() = 0;
  virtual Status delete_registration(const std::string& serial) = 0;  // not found if absent

  // --- devices ---
  virtual Status put_device(const Device& d) = 0;  // enrol or re-enrol (replaces the token)
  virtual Result<Device> get_device(const std::string& serial) = 0;
  // The device whose credential hashes to `token_hash` (not found if none): how a relay node
  // recognises a device that enrolled through another node sharing the store.
  virtual Result<Device> find_device_by_token_hash(const std::string& token_hash) = 0;
  virtual Result<std::vector<Device>> list_devices() = 0;
  // Heartbeats are batched by the relay; last-seen is not acknowledged data.
  virtual Status record_sightings(const std::vector<DeviceSighting>& s) = 0;
  virtual Status set_poll_policy(const std::string& serial, const PollPolicy& p) = 0;
  // nullopt when none was set for the device (the relay's default applies).
  virtual Result<std::optional<PollPolicy>> get_poll_policy(const std::string& serial) = 0;

  // --- reports ---
  virtual Result<std::vector<StoredReceipt>> append_reports(
      const std::string& serial, const std::vector<IncomingReport>& reports, TimeMs now) = 0;
  virtual Result<std::vector<StoredReport>> list_reports(const ReportQuery& q) = 0;
  // Newest stored report of each kind for one device.
  virtual Result<std::map<std::string, StoredReport>> latest_reports(const std::string& serial) = 0;
  // Each enrolled device's latest report of `kind`, by serial (devices without one left out):
  // the fleet list's supply gauges in one query.
  virtual Result<std::map<std::string, StoredReport>> latest_of_kind(const std::string& kind) = 0;
  virtual Result<std::int64_t> count_reports(const std::string& serial) = 0;  // empty: all

  // --- jobs ---
  // Stores a new job with its "created" transition. The job id must be unique (conflict).
  virtual Status create_job(const Job& job, const JobTransition& created) = 0;
  virtual Result<Job> get_job(const std::string& id) = 0;
  virtual Result<std::vector<Job>> list_jobs(const JobQuery& q) = 0;
  // Non-terminal jobs of one device (the relay filters by instructed time).
  virtual Result<std::vector<Job>> open_jobs(const std::string& serial) = 0;
  virtual Result<std::int64_t> count_open_jobs() = 0;  // non-terminal jobs of all devices
  // Non-terminal jobs of one kind on all devices, oldest first (created_at, then id): a whole
  // fleet's firmware jobs under way in one query, for a campaign plan.
  virtual Result<std::vector<Job>> open_jobs_of_kind(JobKind kind) = 0;
  // Non-terminal jobs of all devices that have an expiry.
  virtual Result<std::vector<Job>> expirable_jobs() = 0;
  // Saves a job changed by the service center or the relay (cancel, expire, acknowledge) with
  // the transition that changed it, if any.
  virtual Status update_job(const Job& job, const std::optional<JobTransition>& t) = 0;
  // Records a device event together with the job it changed. Returns false (and writes
  // nothing) when the event id was recorded before.
  virtual Result<bool> record_job_event(const JobEvent& e, const Job& job,
                                        const std::optional<JobTransition>& t) = 0;
  virtual Result<std::vector<JobTransition>> list_transitions(const std::string& job_id) = 0;

  // --- alerts ---
  virtual Result<std::vector<Alert>> list_alerts(const std::string& serial, bool open_only) = 0;
  virtual Result<Alert> acknowledge_alert(std::int64_t id, const std::string& user, TimeMs now) = 0;
  virtual Result<std::map<std::string, int>> open_alert_counts() = 0;  // serial -> open alerts

  // --- several relay nodes on one store ---
  // The serial announced when registrations or device credentials changed (never a valid serial).
  static constexpr const char* kDirectoryChanged = "*directory*";
  // Delivers, from a thread of the store's and until the store is destroyed, the serial of every
  // device whose jobs were created or changed through any relay node sharing this store (this
  // one included): how a device long-polling one node is woken by a job created on another.
  // kDirectoryChanged means registrations or device credentials changed. An empty serial means
  // "announcements may have been missed (the channel was re-established): re-read everything".
  // Returns false when the store serves a single node and has no channel.
  virtual bool watch_jobs_changed(std::function<void(const std::string& serial)> on_change) {
    (void)on_change;
    return false;
  }
  // Stops those deliveries; when it returns, `on_change` is not running and will not be called.
  virtual void unwatch_jobs_changed() {}

  // --- a child relay's upstream outbox ---
  // Appends items in order (one transaction); the parent sees them in seq order.
  virtual Status enqueue_upstream(const std::vector<UpstreamItem>& items) = 0;
  // The oldest `limit` items still owed.
  virtual Result<std::vector<UpstreamItem>> peek_upstream(int limit) = 0;
  // Drops every item up to and including `seq`: the parent has stored them.
  virtual Status ack_upstream(std::int64_t seq) = 0;
  virtual Result<std::int64_t> count_upstream() = 0;

  // --- firmware update history (seed 002) ---
  // Assigns and returns the entry's id.
  virtual Result<std::int64_t> append_firmware_history(const FirmwareHistoryEntry& e) = 0;
  // Newest first; empty serial: all devices.
  virtual Result<std::vector<FirmwareHistoryEntry>> list_firmware_history(const std::string& serial,
                                                                          int limit) = 0;

  // --- firmware campaigns ---
  // Stores a new campaign with revision 1 (the given revision is ignored). Conflict on same id.
  virtual Status create_campaign(const CampaignRecord& c) = 0;
  virtual Result<CampaignRecord> get_campaign(const std::string& id) = 0;
  // Newest first.
  virtual Result<std::vector<CampaignRecord>> list_campaigns() = 0;
  // Replaces name, state, updated_at and doc when the stored revision is still c.revision and
  // stores revision + 1; conflict (nothing written) when another writer got there first, not found
  // when there is no such campaign. Returns the new revision.
  virtual Result<std::int64_t> update_campaign(const CampaignRecord& c) = 0;

  // --- service-center tables ---
  virtual Result<SettingsDoc> get_settings(const std::string& name) = 0;  // not found if never put
  virtual Result<std::vector<SettingsDoc>> list_settings() = 0;           // by name
  // Stores name, body, updated_at and updated_by when the stored revision is `expected_revision`
  // (0: the table must not exist yet); conflict (nothing written) otherwise. Returns the new
  // revision.
  virtual Result<std::int64_t> put_settings(const SettingsDoc& d,
                                            std::int64_t expected_revision) = 0;

  // --- alerts raised by the monitoring center ---
  // Opens `a` (its report_id may be empty) unless an alert of the same serial, type and code is
  // still open. Returns the new alert's id, or nullopt when one was open already: a finding that
  // holds on every report is raised (and notified) once.
  virtual Result<std::optional<std::int64_t>> raise_alert(const Alert& a) = 0;
  // Closes the open alerts of `serial` and `type` (and `code`, when not empty) as acknowledged by
  // `by`: the condition cleared by itself (an incompatibility fixed by an update). Returns them.
  virtual Result<std::vector<Alert>> resolve_alerts(const std::string& serial,
                                                    const std::string& type,
                                                    const std::string& code, const std::string& by,
                                                    TimeMs now) = 0;

  // --- notifications: outbox and record ---
  // Stores them pending, due at their next_attempt_at; assigns ids (returned in order).
  virtual Result<std::vector<std::int64_t>> enqueue_notifications(
      const std::vector<NotificationRecord>& n) = 0;
  // Takes up to `limit` pending notifications due at `now` and moves their next attempt to
  // `lease_until`, in one transaction: several relay nodes on one store never send one twice
  // at once, and a node that dies mid-send leaves it to be retried after the lease.
  virtual Result<std::vector<NotificationRecord>> claim_notifications(TimeMs now,
                                                                      TimeMs lease_until,
                                                                      int limit) = 0;
  // Writes state, attempts, next_attempt_at, last_error and sent_at of a claimed notification.
  virtual Status update_notification(const NotificationRecord& n) = 0;
  // Newest first; empty serial: all.
  virtual Result<std::vector<NotificationRecord>> list_notifications(const std::string& serial,
                                                                     int limit) = 0;

  // --- admin credentials ---
  virtual Status put_admin_credential(const AdminCredential& c) = 0;  // conflict on same name
  virtual Result<AdminCredential> find_admin_by_token_hash(const std::string& token_hash) = 0;
  virtual Result<std::vector<AdminCredential>> list_admin_credentials() = 0;
  // Revokes the credential named `name` (not found if none). Announced like a directory change,
  // so every relay node sharing the store drops it from its cache at once.
  virtual Status delete_admin_credential(const std::string& name) = 0;
};

}  // namespace printrelay
