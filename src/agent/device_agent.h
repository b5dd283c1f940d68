// The agent engine behind include/printrelay/agent.h: one device, two threads.
//  - The poller calls /v1/device/poll (at power-on if the policy says so, then long-poll or
//    every next_poll_s, at the policy's times of day, and when a condition fires), hands the
//    jobs to the JobRunner and runs them; while a job runs, no periodic poll happens (seed 001
//    claims 5, 12, 37).
//  - The sender drains the Outbox: alerts first, batches of up to 64 reports, job events in
//    order; it is woken the moment something is queued, honours 429 Retry-After (except for
//    alerts, which the relay admits even when shedding bulk) and backs off when every relay
//    fails.
// Each thread has its own transport; they share the RelayRoster (relay in use, tokens).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/job_runner.h"
#include "agent/outbox.h"
#include "agent/relay_client.h"
#include "core/model.h"
#include "net/http_client.h"

namespace printrelay::agent {

struct AgentConfig {
  std::vector<std::string> relay_urls;
  Enrollment enrollment;
  std::filesystem::path state_dir;
  ClientOptions client;
  int long_poll_wait_s = 25;  // 0: never long-poll
  int poll_interval_s = 0;    // >0: used instead of the relay's next_poll_s until a schedule job
  std::size_t max_batch = 64;
  std::vector<std::string> vendor_keys_pem;  // firmware images must verify against one
  std::vector<std::string> job_keys_pem;     // service-center keys for job envelopes
  long download_rate_limit = 0;              // bytes/s for firmware downloads; 0: none
  int firmware_check_interval_s = 0;         // update check (seed 002); 0: never
};

// The device as the agent sees it. Empty functions mean "not available".
struct DeviceHooks {
  std::function<Result<Json>(const std::string& name)> read_data_set;
  std::function<Status(const Json& settings, bool validate_only)> apply_settings;
  std::function<std::string()> current_state;
  std::function<Result<Json>()> read_counters;
  std::function<Json()> firmware_summary;
  std::function<Status()> reboot;
  std::function<void(const Json& reply)> panel_reply;
  std::function<BusySignals()> busy;
  std::function<Status(const std::string& component, const std::string& version,
                       const std::string& image_path)>
      firmware_write;
  std::function<Status()> firmware_activate;
  std::function<std::optional<Json>()> last_boot;
  std::function<void(const Json& screen)> firmware_screen;
};

struct Fault {
  enum class Severity { kRecovered, kDegraded, kFatal } severity = Severity::kRecovered;
  std::string type;
  std::string code;
  std::string sc_type;
  std::string message;
  std::string location;
};

class DeviceAgent final : public JobHost, public FirmwareHost {
 public:
  static Result<std::unique_ptr<DeviceAgent>> create(AgentConfig config, DeviceHooks hooks);
  ~DeviceAgent() override;

  Status start();
  void stop();

  // Durable before return; wakes the sender. Returns the report id.
  Result<std::string> submit(const std::string& kind, Urgency urgency, Json body);
  // Recovered: error log only; degraded/fatal: also an alert report now. Returns the alert id.
  Result<std::string> report_fault(const Fault& fault);

  std::optional<Json> last_panel_reply() const;
  Json status() const;
  void poll_now();

  // JobHost
  Result<Json> read_data_set(const std::string& name) override;
  Status apply_settings(const Json& settings, bool validate_only) override;
  Status apply_poll_policy(const PollPolicy& policy) override;
  Status reboot() override;

  // The panel's answer on a firmware "waiting" screen: "defer" or "cancel".
  Status firmware_panel(const std::string& action);

  // FirmwareHost
  std::string model() override { return config_.enrollment.model; }
  BusySignals busy() override;
  Json firmware_summary() override;
  std::optional<Json> last_boot() override;
  Status write_slot(const std::string& component, const std::string& version,
                    const std::filesystem::path& image) override;
  Status activate() override;
  void show(const Json& screen) override;
  Result<Json> artifact_meta(const std::string& sha256) override;
  Result<std::int64_t> download(const std::string& sha256, const std::filesystem::path& file,
                                std::int64_t offset, std::int64_t size_bytes,
                                const std::function<bool(std::int64_t)>& on_bytes) override;
  Status confirm_event(const JobEvent& e) override;

 private:
  DeviceAgent(AgentConfig config, DeviceHooks hooks);

  void poll_loop();
  void send_loop();
  // One poll exchange; returns the seconds until the next regular poll.
  double poll_once(RelayClient& client, bool first);
  // What one delivery attempt asks of the sender loop.
  struct SendOutcome {
    enum class Kind { kDelivered, kFailed, kRetryAfter } kind = Kind::kDelivered;
    int retry_after_s = 0;
  };
  SendOutcome send_reports(RelayClient& client, const OutboxBatch& batch);
  SendOutcome send_event(RelayClient& client, const OutboxEntry& entry);
  void note_exchange(const std::string& what, const std::string& url, int status,
                     const std::string& error);
  bool conditions_fire();

  const AgentConfig config_;
  const DeviceHooks hooks_;
  const std::string boot_id_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<RelayRoster> roster_;
  std::unique_ptr<JobRunner> runner_;
  std::unique_ptr<FirmwareInstaller> installer_;
  // The poller thread's client and transport, for the installer's calls (made on that thread).
  RelayClient* poller_client_ = nullptr;
  HttpClient* poller_transport_ = nullptr;
  TimeMs next_firmware_check_ = 0;
  std::optional<Json> firmware_offers_;
  void check_firmware(RelayClient& client);

  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
  std::thread poller_;
  std::thread sender_;

  mutable std::mutex mu_;
  std::condition_variable poll_cv_;
  std::condition_variable send_cv_;
  bool poll_requested_ = false;
  bool send_requested_ = false;
  bool alert_waiting_ = false;
  PollPolicy policy_;
  bool interval_override_ = false;
  std::string ignored_policy_;  // the relay's last poll_policy ignored (signed-only), as logged
  std::vector<bool> conditions_fired_;
  std::string last_error_code_;
  TimeMs last_poll_at_ = 0;
  bool last_poll_ok_ = false;
  bool long_poll_ = false;
  std::optional<Json> panel_reply_;
  std::deque<Json> comm_history_;
  std::deque<Json> error_log_;
  int error_log_unsent_ = 0;  // entries since the last error-log report
  // Owned by the sender thread.
  int send_failures_ = 0;
  std::size_t batch_limit_ = 64;
  // Owned by the poller thread.
  int poll_failures_ = 0;
  int known_streak_ = 0;
  int early_streak_ = 0;  // long-polls in a row answered early with nothing new
};

}  // namespace printrelay::agent
