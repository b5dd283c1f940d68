// mfp-sim's fleet: N simulated MFPs, each driven by its own real agent (include/printrelay/
// agent.h), the control directory that stands for the devices' panels, and status files.
//
// Files, for people and tests:
//  - <state>/<serial>/        the agent's state dir (outbox/, tokens.json, jobs_done.json,
//                             receipts.log, ...)
//  - <state>/<serial>/slots.json, slot-<component>-<A|B>.img  the device's firmware flash
//                             (src/sim/firmware_slots.h)
//  - <state>/<serial>/status.json  rewritten every second and after every change:
//      {"serial", "model", "state", "counters": {...}, "supplies": [...], "parts": [...],
//       "settings": {...}, "open_service_call", "last_panel_reply": {"reception_no",
//       "description", "report_id"} | null, "relay_url", "outbox_size", "agent": {...},
//       "firmware": {"main": "1.0.3", ...}          versions of the active slots
//       "slots": {...}                              all of slots.json
//       "last_boot": {"slots": {"main": "A", ...}, "fell_back": bool, "reason": "..."},
//       "busy": {"printing": bool, "panel": bool}, "rebooting": bool,
//       "panel_screen": {...} | null                the last firmware screen the agent showed
//       "panel_screens": ["waiting", "updating", "done"]  the last 20 (repeats collapsed)
//       "updated_at"}
//  - <state>/control/<serial>.json or <serial>-<anything>.json: one panel action, read, acted
//    on and deleted within ~100 ms (write it to a temp name first, then rename):
//      {"action":"fault","code":"SC542","sc_type":"A"}   service call now (A/B fatal alert,
//                                                        C high alert, D logged)
//      {"action":"jam","location":"tray2"}               recoverable jam (counted, no alert)
//      {"action":"message","text":"..."}                 panel message report
//      {"action":"order","item":"toner-black","quantity":2}
//      {"action":"burst","count":200}                    that many counters reports at once
//      {"action":"print","pages":100}                    print pages now
//      {"action":"busy","seconds":30}                    printing for 30 real seconds (the
//                                                        agent's busy hook: PR_BUSY_PRINTING)
//      {"action":"panel-touch","seconds":30}             a user at the panel (PR_BUSY_PANEL)
//      {"action":"firmware-defer"}                       "defer" on the firmware waiting
//      {"action":"firmware-cancel"}                      screen / "cancel"; refused (logged)
//                                                        when no firmware job can be now
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "sim/sim_device.h"

namespace printrelay::sim {

struct FleetOptions {
  DeviceOptions device;  // shared by every device; serial set per device
  int devices = 20;
  std::string serial_prefix = "SIM-";
  std::filesystem::path state_dir = "var/sim";
  double speed = 1.0;  // simulated seconds per real second
};

// Serial number i (1-based): prefix + at least 4 digits ("SIM-0001").
std::string fleet_serial(const std::string& prefix, int i);

class Fleet {
 public:
  static Result<std::unique_ptr<Fleet>> create(const FleetOptions& options);
  ~Fleet();

  Status start();
  // Runs the panel/clock loop in the calling thread until `stop` turns true (or the duration,
  // when > 0, passes): control files every 100 ms, simulated activity and status every second.
  void run(const std::atomic<bool>& stop, double duration_s);
  void stop();

  std::size_t size() const { return devices_.size(); }
  SimDevice* find(const std::string& serial);
  // Reads and acts on every control file present now. Returns how many were handled.
  std::size_t scan_control();

 private:
  explicit Fleet(FleetOptions options) : options_(std::move(options)) {}
  FleetOptions options_;
  std::vector<std::unique_ptr<SimDevice>> devices_;
  // Control files that did not parse yet (perhaps still being written), with when first seen.
  std::map<std::string, std::chrono::steady_clock::time_point> unreadable_since_;
};

}  // namespace printrelay::sim
