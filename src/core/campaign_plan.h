// The plan of a firmware campaign (seed 004 Fig. 15-24; docs/protocol.md "Campaigns"): which
// devices it targets, which it cannot include and why, and in which waves. The service center
// reviews the plan and signs one envelope per target; relay/campaigns creates the campaign from
// the same plan. Pure: the relay looks up the images and reads the devices, then hands them here.
//
// Two steps, so that a request at fault is refused before any device is read:
//   1. parse_campaign_request() checks the request against the images it names;
//   2. plan_campaign() judges every candidate device and splits the targets into waves.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/firmware_rules.h"
#include "core/model.h"
#include "core/result.h"
#include "core/time.h"

namespace printrelay {

// The images a request names, by sha256: the relay's manifest of each ({"component", "version",
// "model", "size", ...}), or why the relay cannot use it (not on this relay, not a firmware
// image); the error's message is the refusal's.
using CampaignImages = std::map<std::string, Result<Json>>;

// The sha256 of each component of `request` that is written as {"artifact": 64 hex digits}, in
// order: the images the relay looks up for parse_campaign_request(). Never fails; the request's
// faults are parse_campaign_request()'s to report.
std::vector<std::string> campaign_artifacts(const Json& request);

// A campaign request, checked. Defaults are the request's when it leaves a field out.
struct CampaignRequest {
  std::string name;                  // "name"; may be empty in a plan (create() requires one)
  Json select = Json::object();      // "select", as given (the plan echoes it)
  std::string model;                 // select.model; "" when the selection is by serials only
  Json versions = Json::object();    // select.versions: {component: version the device runs}
  std::vector<std::string> serials;  // select.serials in order, repeats dropped; empty: by model
  std::string image_model;           // the model every image is for
  std::map<std::string, std::string> targets;  // component -> version the images carry
  Json components = Json::array();  // one row per image: component, version, artifact, size, model
  Json job_params;                  // the firmware params every target's envelope signs
  TimeMs expires_at = 0;            // when the campaign's jobs give up; after `now`
  std::optional<TimeMs> transmit_at;
  std::vector<WaveSize> waves = {WaveSize{}};  // default ["rest"]: one wave
  FailureThreshold threshold;                  // default 1 device
  std::int64_t offline_after_s = 86400;        // not seen for longer: offline; 60..10 years
};

// Checks a request: `select` (a model or serials, at most 100000 of them), 1-16 components each
// naming an image of `images` (one per component, all for one model, the selected model if any),
// the schedule (expires_at required and after `now`), the job params (parse_firmware_params() in
// firmware_job.h), waves (as plan_waves() in firmware_rules.h takes them), failure_threshold and
// offline_after_s. Bad input naming the first fault, in that order. An image that `images` holds
// as an error is refused with the error's message, one it lacks as not looked up.
Result<CampaignRequest> parse_campaign_request(const Json& request, const CampaignImages& images,
                                               TimeMs now);

// A device the relay knows (registered, enrolled or both), with what eligibility reads.
struct CampaignCandidate {
  std::string serial;
  bool registered = false;         // in the registration table
  bool enrolled = false;           // has enrolled: `firmware` and `last_seen` are the device's
  std::string model;               // the enrolment's, else the registration's
  std::string place;               // the registration's; "" when not registered
  std::string customer;            // the registration's; "" when not registered
  Json firmware = Json::object();  // versions by component as reported (Device::firmware)
  TimeMs last_seen = 0;
  std::string firmware_job;  // id of a firmware job of the device not yet finished; "" when none
};

// The plan as docs/protocol.md "Campaigns" gives it: name, select, components, model, job_params,
// expires_at, transmit_at, wave_sizes, failure_threshold, threshold_devices, targets ({serial,
// model, place, customer, cells}), excluded ({serial, reason, detail}) and waves ({number,
// serials}).
//
// The candidates are select.serials in their order, or else every device of `known` by serial.
// Each is judged by the first rule that holds:
//   - not in `known`: excluded "unregistered";
//   - another model than select.model, when selected by model: left out, not listed;
//   - another model than the images': excluded "incompatible";
//   - registered but never enrolled: excluded "offline";
//   - a component of select.versions not at that version: left out, or excluded "incompatible"
//     when the device was named in select.serials;
//   - a component of the images that the device does not report: excluded "incompatible";
//   - already at every target version: excluded "up to date";
//   - a firmware job under way: excluded "busy";
//   - last seen more than offline_after_s before `now`: excluded "offline";
//   - otherwise a target, in candidate order, and the waves take the targets in that order
//     (plan_waves() in firmware_rules.h).
// Bad input when `known` lists a serial twice; a request from parse_campaign_request() is
// otherwise always planned (no eligible device is an empty plan, not an error).
Result<Json> plan_campaign(const CampaignRequest& request,
                           const std::vector<CampaignCandidate>& known, TimeMs now);

}  // namespace printrelay
