// What the relay knows about firmware (DESIGN.md §8, seed 002): the signed images in its blob
// directory, the checks a firmware job passes before it is stored, the answer to a device's
// "is there newer firmware for me?" and the update history of every device (offered, sent,
// installed, failed).
//
// The relay does not judge signatures (devices do, against the vendor keys they trust); it
// refuses jobs that could not work: an image it does not hold, for another model or component,
// or whose manifest names another version than the job.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/firmware_job.h"
#include "core/model.h"
#include "core/result.h"
#include "store/blob_dir.h"
#include "store/store.h"

namespace printrelay {

class FirmwareCatalog {
 public:
  // `artifacts` may be null (a relay without a blob directory refuses firmware jobs).
  // `parent_catalog_file`: where a child relay keeps its parent's catalog across restarts (so
  // that, cut off from the parent, it still offers what it knew); empty: a root relay.
  FirmwareCatalog(Store& store, const BlobDirectory* artifacts,
                  std::string parent_catalog_file = "");

  // A child relay: the parent's firmware images (signed manifests, checked by the caller),
  // offered beside the ones held here; the bytes are fetched from the parent when first asked
  // for. Replaces the previous list. Unavailable when it cannot be kept on disk (then the list
  // in memory is unchanged).
  Status take_parent_images(const Json& manifests);

  // The manifest (with "signature") of a firmware image; not found when the relay lacks it.
  Result<Json> manifest(const std::string& sha256) const;
  // Firmware images for `model` (all models when empty), newest version first per component:
  // those held here and, at a child relay, the parent's.
  std::vector<Json> images(const std::string& model) const;

  // Checks a firmware job's components against the images and the device's model (a size the
  // job gives must be the manifest's; the params are signed, so nothing is filled in). Sets
  // job.execute_at to the planned update time and returns the note for the "created" transition
  // ("update at 2026-11-23T17:00:00.000Z; moved from 10:00 to 17:00: inside forbidden window").
  Result<std::string> prepare_job(Job& job, const std::string& device_model, TimeMs now) const;

  // The update check of seed 002. Body {"model", "firmware": {"main": "1.0.0", ...}}; answers
  // {"offers": [{"component", "current", "version", "artifact", "size"}], "checked_at"} with, per
  // component, the newest image above the current version that has not failed on this device
  // before. Recorded in the history as "checked".
  Result<Json> check(const std::string& serial, const Json& body, TimeMs now);

  // A device fetched bytes of an image (offset `from`, `bytes` long).
  void record_sent(const std::string& serial, const std::string& sha256, std::int64_t from,
                   std::int64_t bytes, TimeMs now);
  // A firmware job ended: "installed" per component, or "failed" with the reason.
  void record_result(const Job& job, TimeMs now);

  Result<Json> history(const std::string& serial, int limit) const;

 private:
  Store& store_;
  const BlobDirectory* artifacts_;
  std::string parent_catalog_file_;
  mutable std::mutex mu_;
  std::map<std::string, Json> parent_images_;  // by sha256
};

}  // namespace printrelay
