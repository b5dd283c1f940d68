// One simulated device's firmware flash: two slots (A/B) per component, as DESIGN.md section 8
// expects of a device. An update writes the inactive slot, the next boot tries it and falls back
// to the active slot when the new image does not boot.
//
// Persisted in <state dir>/slots.json, rewritten durably (temp file, fsync, rename, fsync dir)
// at every change; slot images live beside it as slot-<component>-<A|B>.img. Invariants a caller
// may rely on, also across kill -9 at any point:
//  - the active slot of every component is valid (its image is complete and matches sha256);
//  - a slot being written is marked invalid before its image file is touched, and valid only
//    after the image is complete and fsynced;
//  - boot() switches a component only to a valid slot written since the previous boot.
//
// slots.json:
//   {"format": 1, "boot_count": 3,
//    "components": {"main": {"active": "A",
//                            "written_since_boot": false,
//                            "slots": {"A": {"version": "1.0.3", "sha256": "...", "valid": true},
//                                      "B": {"version": "", "sha256": "", "valid": false}}},
//                   ...},
//    "pending": ["main"],
//    "last_boot": {"slots": {"main": "A", ...}, "fell_back": false, "reason": "..."}}
//
// Thread-safe: the agent's hooks write and read it from the agent's threads while the fleet
// writes status.json. Writes are serialised; versions()/state() never wait for a write to end.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>

#include "core/model.h"
#include "core/result.h"

namespace printrelay::sim {

struct FirmwareSlotOptions {
  // Simulated flash write time per image; the write sleeps in small steps so that a kill -9 can
  // land in the middle of it.
  int write_ms = 1500;
  // Chance that a new image does not boot (on top of the PRINTRELAY-BADBOOT marker), drawn from
  // an RNG seeded by seed, serial and boot count, so a run is reproducible.
  double bad_boot_chance = 0;
  std::uint64_t seed = 1;
};

// An image containing this ASCII marker never boots: tests use it to force a fallback.
inline constexpr const char* kBadBootMarker = "PRINTRELAY-BADBOOT";

class FirmwareSlots {
 public:
  // `initial`: component -> version of the factory firmware, used when `dir` holds no
  // slots.json yet. No I/O until load().
  FirmwareSlots(std::filesystem::path dir, std::string serial, Json initial,
                FirmwareSlotOptions options);
  FirmwareSlots(const FirmwareSlots&) = delete;
  FirmwareSlots& operator=(const FirmwareSlots&) = delete;

  // Reads slots.json, or creates it (and factory images in slot A) on first use. Unavailable
  // when the directory cannot be written or slots.json does not parse.
  Status load();

  // Writes `image_path` as `component` `version` into that component's inactive slot, taking the
  // configured write time. Bad input for an unknown component or an empty version; unavailable
  // when the image cannot be read or the slot written (the slot is then left invalid).
  Status write(const std::string& component, const std::string& version,
               const std::filesystem::path& image_path);

  // Marks every component whose inactive slot was written (and is valid) since the last boot as
  // pending for the next boot. Conflict when there is nothing to activate.
  Status activate();
  bool has_pending() const;

  // Boots: each pending component is tried from its new slot. When any of them does not boot,
  // the device comes up on its previous slots for all of them (fell_back, with the reason) and
  // the failed slot is marked invalid. Clears the pending set and returns the last-boot record
  // {"slots": {"main": "B", ...}, "fell_back": bool, "reason": text}.
  Result<Json> boot();

  // {"main": "1.0.3", ...}: the versions of the active slots.
  Json versions() const;
  // The whole persisted state (the slots.json shape above).
  Json state() const;
  Json last_boot() const;

  std::filesystem::path image_path(const std::string& component, char slot) const;

 private:
  Status persist_locked();
  Json& component_locked(const std::string& component);

  const std::filesystem::path dir_;
  const std::string serial_;
  const Json initial_;
  const FirmwareSlotOptions options_;
  std::mutex write_mu_;    // one slot write (or boot) at a time; held across the write time
  mutable std::mutex mu_;  // guards state_
  Json state_;
};

}  // namespace printrelay::sim
