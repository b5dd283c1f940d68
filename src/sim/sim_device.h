// One simulated MFP with its agent: forwards the model's events to the agent with the urgency
// the device judges (seed 001 Fig. 5), answers the agent's hooks from the model, acts on panel
// actions, and writes its status.json.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/result.h"
#include "printrelay/agent.h"
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
};

class SimDevice {
 public:
  SimDevice(std::string serial, const DeviceOptions& options, std::filesystem::path state_dir);
  ~SimDevice();
  SimDevice(const SimDevice&) = delete;
  SimDevice& operator=(const SimDevice&) = delete;

  // Creates and starts the agent, then sends the power-on reports (boot, counters, supplies).
  Status start();
  void stop();

  // Advances the model by `sim_seconds` and tells the agent what happened.
  void advance(double sim_seconds);
  // A panel action (see fleet.h). Bad input for an unknown or malformed action.
  Status act(const Json& action);
  // Rewrites status.json when something changed or `force`.
  void write_status(bool force);

  const std::string& serial() const { return serial_; }
  Mfp& mfp() { return mfp_; }

 private:
  void forward(const std::vector<MfpEvent>& events);
  Status submit(const std::string& kind, const char* urgency, const Json& body);
  Status fault(const MfpEvent& e);
  static pr_device_hooks hooks_for(SimDevice* self);

  const std::string serial_;
  const DeviceOptions options_;
  const std::filesystem::path state_dir_;
  Mfp mfp_;
  pr_agent* agent_ = nullptr;
  std::atomic<bool> dirty_{true};
  double since_periodic_s_ = 0;
  std::mutex status_mu_;
};

}  // namespace printrelay::sim
