// A simulated multifunction printer: what mfp-sim puts behind each agent. It counts pages per
// function, paper size, colour and duplex (seed 001 Fig. 3, seed 002 TC/BC/CC), wears toner,
// drum and fuser, jams now and then (recoverable, counted with the location) and occasionally
// raises a service call typed A-D as in seed 004 Fig. 12:
//   A: fatal, the machine stops until a technician comes;
//   B: fatal, cleared by a power cycle (reboot);
//   C: a function is disabled (fax, scanner) for a while, the rest works;
//   D: only logged.
// Deterministic: the same serial, seed and sequence of calls give the same counters and events.
// Thread-safe (the agent's hooks read it from other threads while the fleet advances it).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/result.h"

namespace printrelay::sim {

enum class PrintFunction { kCopy, kPrint, kFax, kScan };

// Something the device must tell its agent about.
struct MfpEvent {
  enum class Kind { kJam, kServiceCall, kSupplyLow, kSupplyEmpty, kPartEndOfLife } kind;
  std::string code;      // "J-TRAY2", "SC542", "toner-black" ...
  std::string sc_type;   // A-D for service calls
  std::string location;  // jam location
  std::string message;
};

struct SettingSpec {
  std::string name;
  enum class Type { kInt, kBool, kChoice } type = Type::kInt;
  std::int64_t min = 0, max = 0;     // kInt
  std::vector<std::string> choices;  // kChoice
};
// The device's setting schema (validated on configure jobs).
const std::vector<SettingSpec>& setting_schema();

class Mfp {
 public:
  // `start_ms` is the simulated clock's origin (times in jam/call records).
  Mfp(std::string serial, std::string model, std::uint64_t seed, TimeMs start_ms);

  // Simulated office activity over `seconds` of device time.
  std::vector<MfpEvent> advance(double seconds);
  std::vector<MfpEvent> print(int pages);
  MfpEvent jam(const std::string& location);
  MfpEvent service_call(const std::string& code, const std::string& sc_type);
  // Power cycle: clears a type B service call.
  void reboot();
  // Chances per printed page of a random jam and of a random service call (defaults 1/2500 and
  // 1/40000); 0 turns them off, for tests that need an uneventful machine.
  void set_fault_rates(double jam_per_page, double service_call_per_page);

  // Settings: validate reports the first problem (unknown name, wrong type, out of range).
  Status validate_settings(const Json& settings) const;
  Status apply_settings(const Json& settings);

  // Data sets (seed 001 Fig. 3) as report bodies; not found for ones this device lacks.
  Result<Json> data_set(const std::string& name) const;
  Json counters() const;
  Json supplies() const;
  Json settings() const;
  std::string state() const;  // "idle", "printing" (while a job runs), "error" (A/B call open)
  // Firmware versions per component, as shown in the identification and structure data sets.
  // Starts at the factory versions; the device's flash (FirmwareSlots) sets what it booted.
  Json firmware() const;
  void set_firmware(const Json& versions);
  // Compact summary for status.json.
  Json summary() const;

  const std::string& serial() const { return serial_; }

 private:
  struct Supply {
    std::string name;
    double capacity = 0;
    double remaining = 0;
    bool low_reported = false;
    TimeMs empty_since = 0;  // 0: not empty
  };
  struct Part {
    std::string name;
    std::int64_t count = 0;
    std::int64_t life = 0;
    bool eol_reported = false;
    TimeMs eol_since = 0;
  };
  struct CallRecord {
    std::string code;
    std::string sc_type;
    std::string message;
    TimeMs at = 0;
    TimeMs cleared_at = 0;
  };

  double uniform();  // [0, 1)
  std::vector<MfpEvent> run_job_locked(PrintFunction f, int pages, bool color, bool duplex,
                                       const std::string& paper);
  MfpEvent jam_locked(const std::string& location);
  MfpEvent service_call_locked(const std::string& code, const std::string& sc_type);
  void maintain_locked();  // technician visits: replace empty toner, worn parts, clear A calls
  Json supplies_locked() const;
  Json counters_locked() const;
  const CallRecord* open_call_locked() const;

  const std::string serial_;
  const std::string model_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  TimeMs clock_ms_;
  bool printing_ = false;
  double jam_per_page_;
  double service_call_per_page_;
  std::int64_t copy_ = 0, print_ = 0, fax_ = 0, scan_ = 0;
  std::int64_t color_ = 0, mono_ = 0, duplex_ = 0, adf_sheets_ = 0;
  std::map<std::string, std::int64_t> paper_;
  std::vector<Supply> supplies_;
  std::vector<Part> parts_;
  std::map<std::string, std::int64_t> jams_by_location_;
  std::vector<Json> recent_jams_;
  std::vector<CallRecord> calls_;
  Json settings_;
  Json adjustment_;
  Json firmware_;
};

}  // namespace printrelay::sim
