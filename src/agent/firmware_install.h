// The device side of a firmware job (DESIGN.md §8, seed 001 Fig. 6, seed 004): download with
// resume, verify against the vendor keys the device trusts, report "acquired", wait for the update
// time (forbidden windows, the busy check, the panel's defer), confirm the start with the relay,
// write the inactive slots, reboot into them and judge the boot.
//
// Contracts:
//  - Every step is persisted in <state>/firmware/<job id>.json before it is taken, so an agent
//    killed at any point (kill -9, power cut) resumes the job from its last step when it starts
//    again: a download continues from the bytes already on disk, an interrupted write is written
//    again (the active slot was never touched), a reboot is judged from the boot that followed.
//  - Only the boot report confirms: `succeeded` is sent when, after the reboot, the device runs
//    every target version. A boot that fell back counts as a failed attempt; attempts are bounded
//    by the job's max_attempts and its expiry.
//  - The relay can cancel until the write starts: the start is confirmed synchronously with the
//    relay ("started" event), and a refusal (cancelled, expired) ends the job without writing.
//  - An image is installed only when its manifest's signature verifies against a trusted vendor
//    key, names this device's model, the component and version the job asks for, and the bytes
//    hash to the manifest's sha256. A failure of any of these fails the job with the reason, and
//    so does a relay that sends more bytes than the manifest's size (the download stops there).
//  - Anti-rollback: a job whose target version of a component is older than the installed one
//    fails before anything is downloaded, unless its signed params say "allow_downgrade": true.
//  - Thread-safe: the poller calls advance(); the panel (another thread) calls panel().
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/firmware_job.h"
#include "core/model.h"
#include "core/result.h"

namespace printrelay::agent {

// What the installer needs from the device and the network. Implemented by DeviceAgent.
class FirmwareHost {
 public:
  virtual ~FirmwareHost() = default;
  virtual std::string model() = 0;
  virtual BusySignals busy() = 0;
  virtual Json firmware_summary() = 0;
  // {"slots", "fell_back", "reason"} or nothing when the device does not say.
  virtual std::optional<Json> last_boot() = 0;
  virtual Status write_slot(const std::string& component, const std::string& version,
                            const std::filesystem::path& image) = 0;
  virtual Status activate() = 0;
  virtual void show(const Json& screen) = 0;
  // The artifact's stored metadata: its manifest fields plus "signature".
  virtual Result<Json> artifact_meta(const std::string& sha256) = 0;
  // Appends the artifact's bytes from `offset` to `file` (which holds exactly `offset` bytes).
  // Calls `on_bytes` as data arrives; it returns false to stop (then the result is Ok with what
  // was fetched). Returns the bytes fetched by this call; unavailable on a transport failure
  // (what was fetched stays in the file). The file never grows past `size_bytes` (the signed
  // manifest's size): as soon as the relay sends more, the download stops, the file is cut back
  // to `offset` and the result is too large, with the reason.
  virtual Result<std::int64_t> download(const std::string& sha256,
                                        const std::filesystem::path& file, std::int64_t offset,
                                        std::int64_t size_bytes,
                                        const std::function<bool(std::int64_t)>& on_bytes) = 0;
  // Sends a job event now and waits for the relay's answer: ok when stored, conflict when the
  // relay refuses it (the job was cancelled or expired), unavailable when no relay answered.
  virtual Status confirm_event(const JobEvent& e) = 0;
};

// How the installer queues job events (through the outbox, in order). `suffix` makes the event id
// unique for events that repeat (progress, deferrals, attempts).
using QueueEvent = std::function<void(const std::string& job_id, JobEventType type,
                                      const std::string& suffix, std::string reason, Json detail)>;

struct FirmwareStep {
  bool finished = false;   // the job is over for this device (an event says how)
  TimeMs next_at = 0;      // when to call advance() again, if not finished
  bool committed = false;  // the write started: a relay-side cancel no longer applies
};

class FirmwareInstaller {
 public:
  FirmwareInstaller(std::filesystem::path dir, FirmwareHost& host, QueueEvent queue,
                    std::vector<std::string> vendor_keys_pem);

  // The jobs persisted by an earlier run that are not finished, to put back in the job list.
  std::vector<Job> unfinished() const;

  // Takes the job one step further (a whole download, a wait decision, a write and reboot, or the
  // judgment of a boot). `params` are the verified envelope's params.
  FirmwareStep advance(const Job& job, TimeMs now);

  // The relay no longer lists the job (cancelled or expired there) and it is not committed: forget
  // it and clear the panel.
  void abandon(const std::string& job_id);

  // The panel's "defer" or "cancel". Returns the job's new next_at (defer) or nullopt (cancelled:
  // the job is over). Conflict when no job can take the action now.
  struct PanelOutcome {
    std::string job_id;
    bool finished = false;
    TimeMs next_at = 0;
  };
  Result<PanelOutcome> panel(const std::string& action, TimeMs now);

  bool committed(const std::string& job_id) const;

  // Bytes fetched by downloads, all jobs, since the state directory was made (for the crash test
  // and status).
  std::int64_t bytes_fetched() const;

 private:
  struct State;
  std::optional<Json> load(const std::string& job_id) const;
  void save(const std::string& job_id, const Json& state) const;
  void forget(const std::string& job_id, bool delete_images);
  FirmwareStep fail(const std::string& job_id, Json& st, const std::string& reason);
  FirmwareStep download_step(const Job& job, Json& st, const FirmwareJobSpec& spec, TimeMs now);
  FirmwareStep wait_step(const Job& job, Json& st, const FirmwareJobSpec& spec, TimeMs now);
  FirmwareStep boot_step(const Job& job, Json& st, const FirmwareJobSpec& spec, TimeMs now);
  FirmwareStep attempt_failed(const Job& job, Json& st, const FirmwareJobSpec& spec,
                              const std::string& reason, TimeMs now);
  Status verify_manifest(const FirmwareComponent& c, const Json& meta);
  Json screen(const Job& job, const Json& st, const FirmwareJobSpec& spec,
              const std::string& name) const;
  void add_fetched(std::int64_t n);

  const std::filesystem::path dir_;
  FirmwareHost& host_;
  const QueueEvent queue_;
  const std::vector<std::string> vendor_keys_;
  mutable std::mutex mu_;  // guards the state files against advance/panel races
  std::atomic<bool> cancel_download_{false};
  std::mutex flag_mu_;
  std::string downloading_id_;  // guarded by flag_mu_
};

}  // namespace printrelay::agent
