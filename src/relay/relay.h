// The relay's domain operations, independent of HTTP: what a device, a child relay or the
// service center may ask, validated and stored. The HTTP layer (api.h) maps requests onto these
// calls and results onto statuses; tests can drive them directly on a real store.
//
// Thread-safe: calls may come from several I/O threads at once.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>

#include "core/model.h"
#include "core/result.h"
#include "store/store.h"

namespace printrelay {

struct RelayOptions {
  std::string relay_id = "root-1";
  TimeMs job_retention_ms = 24LL * 3600 * 1000;
  PollPolicy default_poll_policy;  // handed to devices without a policy of their own
  bool offer_long_poll = true;
  // A child relay: everything devices leave here is also queued for the parent (Store's upstream
  // outbox), and `on_upstream_queued` is called after each enqueue so the link can send at once.
  bool forward_upstream = false;
  std::function<void(bool urgent)> on_upstream_queued;
  // Called after every job transition this relay stores (created, device events, cancel,
  // expiry, adopted): campaigns and the update history follow their jobs. Must not call back into
  // the relay synchronously (queue the work).
  std::function<void(const Job& job, const JobTransition& t)> on_job_transition;
  // Checks a firmware job against the artifacts and its device before it is stored, and sets its
  // update time (execute_at); returns a note for the "created" transition.
  std::function<Result<std::string>(Job& job, const std::string& device_model, TimeMs now)>
      prepare_firmware_job;
  // Called after a batch of reports is stored with the new ones (duplicates left out) and the
  // alerts they opened: the monitoring center judges them. Must only queue work.
  std::function<void(const std::string& serial, const std::vector<Report>& fresh,
                     const std::vector<Alert>& opened)>
      on_reports_stored;
  // The panel's reply to an order (seed 002), from the order-content table; none: a plain reply.
  std::function<std::string(const std::string& item, std::int64_t quantity)> order_reply;
};

// A job created by a campaign: tagged with the campaign and given a fixed id, so a wave started
// twice (two nodes, a restart) creates each job once.
struct CampaignJobTag {
  std::string campaign;
  std::string job_id;
};

// The long-poll key that wakes child relays when the directory (registrations, device
// credentials) changes; never a valid serial.
inline const std::string kDirectoryWakeKey = Store::kDirectoryChanged;

// Where the relay announces what happened: the event stream and the long-poll waiters.
class RelayEvents {
 public:
  virtual ~RelayEvents() = default;
  virtual void publish(const std::string& kind, const Json& data) = 0;  // "report", "alert", "job"
  virtual void wake_device(const std::string& serial) = 0;  // a job for it was created/changed
};

// A poll answer, already serialized: an idle poll is the hot path and skips building JSON.
struct PollAnswer {
  std::string body;
  bool has_jobs = false;
};

class Relay {
 public:
  Relay(Store& store, RelayOptions options, RelayEvents& events);

  // --- credentials ---
  Result<std::string> authenticate_device(std::string_view bearer_token);  // -> serial
  Result<AdminCredential> authenticate_admin(std::string_view bearer_token);
  // Creates an admin credential and returns its token (shown once; only the hash is stored).
  Result<std::string> create_admin_credential(const std::string& name, Role role, TimeMs now);

  // --- device API ---
  Result<Json> enroll(const Json& body, TimeMs now);
  // Validates the heartbeat, records the sighting, and answers the jobs due and the policy.
  // `wait_s` receives the requested long-poll wait (0 when none).
  Result<PollAnswer> poll(const std::string& serial, const Json& body, TimeMs now, int& wait_s);
  // The poll answer alone (after a long-poll wait). Unavailable when the store cannot be read.
  Result<PollAnswer> poll_answer(const std::string& serial, TimeMs now);
  Result<bool> has_deliverable_jobs(const std::string& serial, TimeMs now);
  // Called when another relay node created a job for `serial` (shared store).
  void note_job_for(const std::string& serial);
  // The store's announcement that the jobs of `serial` changed on some relay node: notes the
  // device and wakes its long-poll. An empty serial (announcements may have been missed) re-reads
  // every open job and wakes every waiting device.
  void jobs_changed(const std::string& serial);
  Result<Json> accept_reports(const std::string& serial, const Json& body, TimeMs now);
  Result<Json> record_job_event(const std::string& serial, const std::string& job_id,
                                const Json& body, TimeMs now);

  // --- relay tree: used by the parent's sync handler (child_relays.h) and the child's link
  // (upstream_link.h) ---
  const RelayOptions& options() const { return options_; }
  Store& store() { return store_; }
  // A device's credential from the parent's directory (trusted): stored unless this relay holds
  // a newer enrolment of it. An empty token hash is a revocation. True when it was taken.
  Result<bool> adopt_device(const Device& d);
  // An enrolment a child relay accepted: taken only with the enrollment code the device
  // presented (checked against the registration), under the same rule as a direct enrolment
  // (a used credential is replaced only after the service center revoked it), with this
  // relay's clock as its time; then passed on to this relay's own parent. False for a repeat.
  Result<bool> enrol_from_child(const Device& d, const std::string& enrollment_code, TimeMs now);
  // Registrations or credentials changed (here, or in a directory from the parent): the next
  // sync of each child carries the new directory, and waiting children are woken.
  void directory_changed();
  // A heartbeat seen by a child relay: kept (and later written) when newer than what we have.
  void note_sighting(const std::string& serial, TimeMs last_seen, const std::string& state);
  Result<std::vector<Job>> deliverable_jobs(const std::string& serial, TimeMs now);
  // Every job not yet finished, of all devices and relays.
  Result<std::vector<Job>> all_open_jobs();
  // Counts changes to registrations and device credentials made through this node; each also
  // wakes the long-poll waiters on kDirectoryWakeKey (children waiting at this parent).
  std::uint64_t directory_epoch() const { return directory_epoch_.load(); }
  // Devices that polled this relay at or after `since`, for the parent to know whom we serve.
  std::vector<std::string> served_devices(TimeMs since);
  Json served_sightings(TimeMs since);  // [{serial, last_seen, state}] of those devices
  // A job handed down by the parent: stored under its own id (a repeat is not an error).
  Status adopt_job(const Job& job, const std::string& cause, TimeMs now);
  // The parent says a job this relay holds ended there (cancelled, expired, finished through
  // another relay): ended here too unless it already is.
  Status end_job_from_parent(const std::string& id, JobState state, const std::string& cause,
                             TimeMs now);
  // Records that the job went down to child relay `child_id` (the job list's managing relay).
  Status note_handed_down(Job& job, const std::string& child_id, TimeMs now);

  // --- admin API ---
  Result<Json> list_devices(const std::string& q, const std::string& state, TimeMs now);
  Result<Json> get_device(const std::string& serial, TimeMs now);
  Result<Json> list_reports(const std::map<std::string, std::string>& query);
  Result<Json> create_job(const Json& body, const std::string& user, TimeMs now,
                          const std::optional<CampaignJobTag>& tag = std::nullopt);
  Result<Json> list_jobs(const std::map<std::string, std::string>& query, TimeMs now);
  Result<Json> get_job(const std::string& id);
  Result<Json> cancel_job(const std::string& id, const std::string& user, TimeMs now);
  Result<Json> acknowledge_job(const std::string& id, const std::string& user, TimeMs now);
  Result<Json> list_alerts(const std::string& serial, bool all);
  Result<Json> acknowledge_alert(const std::string& id, const std::string& user, TimeMs now);
  Result<Json> list_registrations();
  Result<Json> put_registration(const Json& body, TimeMs now);
  // Also revokes the device's credential: a device the service center deleted cannot go on.
  Status delete_registration(const std::string& serial, const std::string& user, TimeMs now);
  // The device's credential stops working on every node and relay of the tree; the device may
  // then enrol again with its enrollment code (how a re-enrolment is allowed).
  Result<Json> revoke_device(const std::string& serial, const std::string& user, TimeMs now);
  // An admin credential (`relay` false) or a child relay's (`relay` true) stops working on every
  // node at once; not found when there is no such credential of that kind.
  Status revoke_admin_credential(const std::string& name, const std::string& user, bool relay);
  // A device, admin or relay credential changed through another node sharing the store: the
  // cached ones are dropped (called for the store's directory announcement).
  void credentials_changed_elsewhere();
  Result<Json> list_credentials();
  // A child relay's credential (role relay, named by its relay id) serving the devices of
  // `customers` ("*": all); the token is shown once.
  Result<std::string> create_relay_credential(const std::string& relay_id,
                                              const std::vector<std::string>& customers,
                                              TimeMs now);

  // --- housekeeping, called by timers ---
  void flush_sightings();
  // The number of jobs expired; an error when the expirable jobs cannot be read. Also retries a
  // rescan of the open jobs that failed.
  Result<int> expire_jobs(TimeMs now);
  std::size_t devices_seen() const;
  Result<std::int64_t> open_job_count() { return store_.count_open_jobs(); }

 private:
  struct Sighting {
    TimeMs last_seen = 0;
    std::string state;
    std::string boot_id;
    Json firmware;
    bool dirty = false;
  };
  // May this device's credential be replaced by a new enrolment? Only when revoked, or never
  // used since it was issued.
  bool credential_replaceable(const Device& d);
  static Error already_enrolled(const std::string& serial);
  Result<PollPolicy> policy_for(const std::string& serial);
  // Into policies_, from the store or the default; a failed read is not cached.
  Status load_policy(const std::string& serial);
  std::string device_state(const std::string& serial, const Device& d, TimeMs now);
  void publish_transition(const Job& job, const JobTransition& t);
  Json job_row(const Job& job);
  // The device's open jobs, read only when it may have some (may_have_jobs_). A failed read keeps
  // the mark: the next poll reads again, so a job is never left undelivered by a store hiccup.
  Result<std::vector<Job>> open_jobs(const std::string& serial);
  // Marks every device with an open job (at start, and when announcements were missed). On a
  // failed read every device is taken to maybe have jobs until a later rescan succeeds.
  Status rescan_open_jobs();
  double unit_random();
  // Queues an item for the parent when this is a child relay; a failure is the caller's
  // failure (the device retries, and the repeat is queued again).
  Status queue_upstream(const std::string& kind, const std::string& serial, Json body, TimeMs now,
                        bool urgent = false);

  Store& store_;
  RelayOptions options_;
  RelayEvents& events_;

  mutable std::mutex mu_;                                // guards the caches below
  std::map<std::string, std::string> device_tokens_;     // token hash -> serial
  std::map<std::string, AdminCredential> admin_tokens_;  // token hash -> credential
  std::unordered_map<std::string, Sighting> sightings_;
  std::unordered_map<std::string, PollPolicy> policies_;
  std::unordered_map<std::string, std::string> policy_json_;  // to_json(policy).dump() per device
  // Devices that may have open jobs. A poll from any other device skips the store entirely,
  // which keeps the common "nothing for you" answer cheap. Filled at start and by create_job;
  // a device leaves it when a poll finds no open job.
  std::set<std::string> may_have_jobs_;
  bool every_device_may_have_jobs_ = false;  // a rescan failed; cleared by the next that works
  std::mt19937_64 rng_;
  std::atomic<std::uint64_t> directory_epoch_{0};
};

}  // namespace printrelay
