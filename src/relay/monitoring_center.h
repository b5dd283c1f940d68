// The service center's monitoring logic wired into the relay (DESIGN.md §9, seeds 002 and 003):
// the tables operators edit (code tables, compatibility, trouble and forecast rules, notification
// rules, standing auto-update authorisations), the judgments made on the reports devices send, and
// the notifications those judgments and other events cause.
//
// - Every structure report is judged against the compatibility table: an incompatible device
//   opens an "incompatible" alert (once, until a compatible report closes it) and is notified;
//   when the rules ask for it and the service center signed a standing authorisation for the
//   versions, an automatic firmware job is created (decision 0011).
// - Supplies reports feed the forecast: a supply that will run out within the lead time opens a
//   "supply_low" alert. Error logs, jams, service calls, alerts and boots feed the trouble rules:
//   each finding opens a "trouble" alert.
// - Device alerts, failed jobs, panel messages and orders are notified as they arrive.
// Notifications go to the targets the routing rules choose, through the store's outbox: one record
// per target, delivered by a thread of its own with retries and kept as the record of what was
// sent.
//
// Reports are judged on a worker thread, never on the request that brought them: a device's
// upload is acknowledged as soon as it is stored. Thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/model.h"
#include "core/monitoring_rules.h"
#include "core/result.h"
#include "core/service_tables.h"
#include "relay/notification_delivery.h"
#include "relay/relay.h"
#include "store/store.h"

namespace printrelay {

struct MonitoringOptions {
  std::string relay_id = "root-1";
  SmtpSettings smtp;  // smtp.url empty: e-mail notifications are recorded as failed, not sent
  WebhookSettings webhook;
  int max_attempts = 8;             // then a notification is recorded as failed
  TimeMs retry_base_ms = 30'000;    // doubles per attempt, at most retry_max_ms
  TimeMs retry_max_ms = 3'600'000;  //
  TimeMs lease_ms = 120'000;        // a claimed notification is retried after this if we die
  TimeMs history_ms = 30LL * 24 * 3600 * 1000;  // reports read for forecasts and troubles
};

// The names of the tables (GET/PUT /v1/tables/{name}).
const std::vector<std::string>& service_table_names();

class MonitoringCenter {
 public:
  MonitoringCenter(Relay& relay, Store& store, RelayEvents& events, MonitoringOptions options);
  ~MonitoringCenter();
  MonitoringCenter(const MonitoringCenter&) = delete;
  MonitoringCenter& operator=(const MonitoringCenter&) = delete;

  void start();
  void stop();  // waits for both threads; what was not judged yet is judged on the next report

  // --- tables ---
  Result<Json> list_tables();
  Result<Json> get_table(const std::string& name);
  // {"body": <table>, "revision": <the revision read, 0 for a new table>}. Bad input names the
  // entry at fault and changes nothing; conflict when someone else changed the table meanwhile.
  Result<Json> put_table(const std::string& name, const Json& request, const std::string& user,
                         TimeMs now);

  // --- hooks from the relay (cheap: they queue work for the worker) ---
  void reports_stored(const std::string& serial, const std::vector<Report>& fresh,
                      const std::vector<Alert>& opened);
  void job_changed(const Job& job, const JobTransition& t);
  // The reply shown on the panel for an order (seed 002 Fig. 14), from the order-content table.
  std::string order_reply(const std::string& item, std::int64_t quantity);
  // {"text", "action"} of an error code, or null when the error-content table does not know it.
  Json error_content(const std::string& code);

  // --- what the dashboard shows ---
  // {"serial", "model", "compatibility": <verdict or null>, "structure_at", "troubles",
  //  "forecasts", "notes"}: judged now from the stored reports.
  Result<Json> device_monitoring(const std::string& serial, TimeMs now);
  Result<Json> list_notifications(const std::string& serial, int limit);

  // Judges what is queued, then delivers what is due, on the calling thread (tests).
  void run_once(TimeMs now);

 private:
  struct Tables {
    ErrorContentTable error_codes;
    OrderContentTable order_codes;
    CompatibilityTable compatibility;
    TroubleThresholds troubles;
    ForecastPolicy forecast;
    std::vector<NotificationRule> rules;
    std::vector<AutoUpdateAuthorisation> auto_updates;
    std::vector<std::string> notes;  // tables that no longer parse (kept at their defaults)
  };
  struct Pending {
    std::set<std::string> kinds;  // report kinds received since the last judgment
  };
  struct Event {
    NotificationEvent event;
    std::string subject;
    std::string text;
    Json payload;
  };

  // The tables as stored, parsed; re-read at most every few seconds (other nodes' changes).
  std::shared_ptr<const Tables> tables(TimeMs now);
  void judge_loop();
  void deliver_loop();
  // False when some device could not be judged because the store did not answer; its work is
  // put back for the next round.
  bool judge_pending(TimeMs now);
  // Each returns an error only when a read failed (the judgment is then done again in full).
  Status judge(const std::string& serial, const std::set<std::string>& kinds, const Tables& t,
               TimeMs now);
  Status check_structure(const std::string& serial, const Device& device, const Tables& t,
                         TimeMs now);
  Status check_supplies(const std::string& serial, const Device& device, const Tables& t,
                        TimeMs now);
  Status check_troubles(const std::string& serial, const Device& device, const Tables& t,
                        TimeMs now);
  Result<std::vector<Report>> history(const std::string& serial,
                                      const std::vector<std::string>& kinds, TimeMs now);
  // Opens the alert and, when it is new, publishes and notifies it.
  void raise(const Alert& a, const std::string& event_type, const Tables& t, TimeMs now,
             const std::string& extra_text = "");
  void resolve(const std::string& serial, const std::string& type, const std::string& code,
               TimeMs now);
  void notify(const Event& e, const Tables& t, TimeMs now);
  Event describe(const std::string& type, Urgency urgency, const std::string& serial,
                 const std::string& what, const std::string& todo, Json payload);
  void deliver_due(TimeMs now);
  void deliver(NotificationRecord n, TimeMs now);

  Relay& relay_;
  Store& store_;
  RelayEvents& events_;
  MonitoringOptions options_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::map<std::string, Pending> pending_;  // by serial
  std::vector<Event> pending_events_;       // notifications to route
  bool stopping_ = false;
  std::thread judge_thread_;
  // Deliveries have a thread of their own: a slow mail server must not hold up judging reports.
  std::thread deliver_thread_;
  std::condition_variable deliver_wake_;
  bool deliver_due_ = false;  // a notification was queued since the last delivery round

  std::mutex tables_mu_;
  std::shared_ptr<const Tables> cached_;
  TimeMs cached_at_ = 0;
};

}  // namespace printrelay
