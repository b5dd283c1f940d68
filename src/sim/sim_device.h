// One simulated MFP with its agent: forwards the model's events to the agent with the urgency
// the device judges (seed 001 Fig. 5), answers the agent's hooks from the model, acts on panel
// actions, and writes its status.json.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/model.h"
#include "core/result.h"
#include "printrelay/agent.h"
#include "sim/firmware_slots.h"
#include "sim/mfp.h"

namespace printrelay::sim {

struct DeviceOptions {
  std::vector<std::string> relay_urls;
  std::string enrollment_code;
  std::string model = "MX-4070";
  std::string ca_file;
  bool insecure = false;
  std::string proxy;
  std::uint64_t seed = 1;
  int long_poll_wait_s = 25;
  int poll_interval_s = 0;
  std::vector<std::string> vendor_key_files;  // PEM Ed25519 keys firmware must verify against
  std::vector<std::string> job_key_files;     // service center keys for signed job envelopes
  long download_rate_limit = 0;               // bytes per second; 0: unlimited
  int firmware_check_interval_s = 0;          // 0: never ask the relay for newer firmware
  double bad_boot_chance = 0;                 // chance a new firmware image does not boot
  int firmware_write_ms = 1500;               // simulated flash write time per image
};

class SimDevice {
 public:
  SimDevice(std::string serial, const DeviceOptions& options, std::filesystem::path state_dir);
  ~SimDevice();
  SimDevice(const SimDevice&) = delete;
  SimDevice& operator=(const SimDevice&) = delete;

  // Loads the firmware slots (booting into pending ones when mfp-sim was killed between a
  // firmware activation and its reboot), creates and starts the agent, then sends the power-on
  // reports (boot, counters, supplies).
  Status start();
  // Waits for a firmware reboot in progress, then stops and destroys the agent.
  void stop();

  // Advances the model by `sim_seconds` and tells the agent what happened.
  void advance(double sim_seconds);
  // A panel action (see fleet.h). Bad input for an unknown or malformed action.
  Status act(const Json& action);
  // Rewrites status.json when something changed or `force`.
  void write_status(bool force);

  const std::string& serial() const { return serial_; }
  Mfp& mfp() { return mfp_; }
  FirmwareSlots& slots() { return slots_; }
  // PR_BUSY_PRINTING | PR_BUSY_PANEL, as the agent's busy hook sees it.
  int busy() const;
  // The firmware_activate hook: marks the written slots pending and starts the reboot on a
  // thread of the device's own (stop the agent, boot, start a fresh agent, "boot" report).
  // Returns 0 when the reboot was arranged, non-zero when refused (nothing written, already
  // rebooting, stopping).
  int activate_firmware();
  // True from an accepted activation until the fresh agent runs and the boot report is queued.
  bool rebooting();

 private:
  using Clock = std::chrono::steady_clock;

  void forward(const std::vector<MfpEvent>& events);
  Status submit(const std::string& kind, const char* urgency, const Json& body);
  Status fault(const MfpEvent& e);
  Status firmware_panel(const char* action);
  Result<pr_agent*> create_agent();
  // Reboot after a firmware activation; runs on reboot_thread_, never inside a hook.
  void reboot_into_new_firmware();
  void show_screen(const char* screen_json);
  static pr_device_hooks hooks_for(SimDevice* self);

  const std::string serial_;
  const DeviceOptions options_;
  const std::filesystem::path state_dir_;
  Mfp mfp_;
  FirmwareSlots slots_;

  // agent_ changes while the fleet and the agent's hooks use the device (a firmware reboot
  // replaces it): every use holds agent_mu_ shared, a replacement holds it exclusively.
  mutable std::shared_mutex agent_mu_;
  pr_agent* agent_ = nullptr;

  // Held by start(), stop() and a firmware reboot for their whole run, so that they never
  // overlap (a reboot waits for start() to finish; stop() waits for a reboot to finish).
  std::mutex lifecycle_mu_;
  std::mutex reboot_mu_;  // guards the three below
  std::thread reboot_thread_;
  bool rebooting_ = false;  // reboot_thread_ has not finished its work yet
  bool stopping_ = false;   // stop() runs: no new reboot

  // Busy periods from panel actions ("busy", "panel-touch"): until these steady-clock instants.
  std::atomic<Clock::rep> printing_until_{0};
  std::atomic<Clock::rep> panel_until_{0};

  std::mutex screen_mu_;                   // guards the two below
  Json panel_screen_;                      // the last firmware screen the agent asked for, or null
  std::deque<std::string> panel_screens_;  // names of the last screens, oldest first

  std::atomic<bool> dirty_{true};
  double since_periodic_s_ = 0;
  std::mutex status_mu_;
};

}  // namespace printrelay::sim
