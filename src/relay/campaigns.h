// Firmware campaigns (seed 004 Fig. 15-24, 46; DESIGN.md §8): one or more components rolled out to
// a set of devices chosen by model, current version, explicit serials (or a file of them), in
// waves, with a failure threshold that pauses the rollout.
//
// How a campaign is made (docs/protocol.md "Campaigns"): the service center asks for a plan
// (targets, the devices that cannot be included and why, the "VerA→C" object list, and the exact
// job params every device's job will carry), signs one job envelope per target with its key, and
// creates the campaign with those envelopes. The relay cannot sign, so it can only start the jobs
// the service center signed, each at most once.
//
// Progress: every job transition of a campaign's job wakes a worker thread that re-judges the
// campaign (campaign_verdict() of core/firmware_rules.h): it pauses at the threshold, starts the
// next wave when the current one is over, and ends the campaign when every device is completed or
// in error. Job ids are fixed per campaign and device ("j-<campaign>-<serial>"), and every change
// of the campaign is a compare-and-set on its revision, so several relay nodes on one PostgreSQL
// start each wave, and each job, once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "core/campaign_plan.h"
#include "core/model.h"
#include "core/result.h"
#include "relay/firmware_catalog.h"
#include "relay/relay.h"
#include "store/store.h"

namespace printrelay {

class Campaigns {
 public:
  Campaigns(Relay& relay, Store& store, FirmwareCatalog& catalog);
  ~Campaigns();
  Campaigns(const Campaigns&) = delete;
  Campaigns& operator=(const Campaigns&) = delete;

  // The worker: re-judges running campaigns when woken and every `period_ms` (jobs expire
  // without an event; another node may have changed a campaign).
  void start(TimeMs period_ms = 5000);
  void stop();
  // A job changed; wakes the worker when the job belongs to a campaign.
  void job_changed(const Job& job);

  Result<Json> plan(const Json& body, TimeMs now);
  Result<Json> create(const Json& body, const std::string& user, TimeMs now);
  Result<Json> list(TimeMs now);
  Result<Json> get(const std::string& id, TimeMs now);
  Result<Json> resume(const std::string& id, const std::string& user, TimeMs now);
  Result<Json> cancel(const std::string& id, const std::string& user, TimeMs now);

  // Re-judges every running campaign now (the worker calls this; tests may too).
  Status advance_all(TimeMs now);

 private:
  // The plan of plan_campaign() (core/campaign_plan.h), fed with the images the body names and
  // every device the store knows.
  Result<Json> make_plan(const Json& body, TimeMs now);
  // Every registered or enrolled device with its firmware job under way, if any: three reads,
  // none of them per device.
  Result<std::vector<CampaignCandidate>> known_devices();
  // One step of one campaign; returns true when it changed something.
  bool advance(const std::string& id, TimeMs now);
  Json view(const CampaignRecord& c, TimeMs now, bool full);

  Relay& relay_;
  Store& store_;
  FirmwareCatalog& catalog_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace printrelay
