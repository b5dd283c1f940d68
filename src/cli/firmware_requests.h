// How relayctl's firmware and campaign arguments become admin API calls (docs/protocol.md
// "Firmware jobs" and "Campaigns"). Pure like requests.h: no I/O, the time is passed in, the
// artifacts' manifests are handed over by the caller; signing goes through job_signing.h.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/job_signing.h"
#include "cli/requests.h"
#include "core/model.h"
#include "core/result.h"

namespace printrelay::cli {

// Expiry of a firmware job or campaign when neither --expires-at nor --expires-in-h is given.
inline constexpr int kDefaultFirmwareExpiryH = 72;

// The deferral flags; unset ones keep the device's defaults (core/firmware_rules.h).
struct DeferralArgs {
  std::optional<int> max_count;     // --max-deferrals
  std::optional<int> max_period_s;  // --max-deferral-period-s
  std::optional<int> step_s;        // --deferral-step-s
  std::string when_exhausted;       // --when-deferral-exhausted: "", "proceed" or "fail"
};
// The "deferral" object with only the keys given, or nullopt when no flag is; bad input naming
// the flag at fault.
Result<std::optional<Json>> deferral_json(const DeferralArgs& a);

// --forbid texts ("mon-fri 09:00-17:00") as forbidden_windows: the canonical text when the offset
// is 0, else objects {"from", "to", "days", "utc_offset_min"} (the text form has no offset). Bad
// input naming the window at fault, or when the windows forbid the whole week.
Result<Json> forbidden_windows_json(const std::vector<std::string>& texts, int utc_offset_min);

// The wire expiry: --expires-at (RFC 3339 or +2d), else now + --expires-in-h, else now + 72 h.
Result<std::string> expiry_input(const std::string& expires_at, std::optional<int> expires_in_h,
                                 TimeMs now);

struct FirmwareJobArgs {
  std::string serial;
  std::vector<std::string> artifacts;  // sha256 of each image, one per component
  std::string update_at;               // empty: as soon as the images are on the device
  std::string not_before;              // when the relay may hand the job out
  std::vector<std::string> forbid;
  int utc_offset_min = 0;
  DeferralArgs deferral;
  std::optional<int> max_attempts;
  std::optional<int> write_estimate_s;
  std::string expires_at;
  std::optional<int> expires_in_h;
};

// Everything that can be refused before asking the relay for the manifests.
Status check_firmware_job_args(const FirmwareJobArgs& a, TimeMs now);

// params.components from the images' manifests (GET /v1/artifacts/{sha}, in `artifacts` order):
// [{"component", "version", "artifact", "size"}]. Bad input when a manifest is not a firmware
// image or not the one asked for, or when two images are for one component or for different
// models.
Result<Json> firmware_components(const std::vector<std::string>& artifacts,
                                 const std::vector<Json>& manifests);

// The firmware job's params in the canonical form of parse_firmware_params()/to_json() (what the
// envelope signs: every limit spelt out, so the device need not assume a default).
Result<Json> firmware_job_params(const FirmwareJobArgs& a, const std::vector<Json>& manifests,
                                 TimeMs now);

// POST /v1/jobs {serial, kind "firmware", params, expires_at[, not_before]}, not yet signed.
Result<ApiCall> firmware_job_call(const FirmwareJobArgs& a, const std::vector<Json>& manifests,
                                  TimeMs now);

// A --serials-file: one serial per line; blank lines and "#" comments (whole-line or trailing)
// ignored, surrounding spaces trimmed. A serial listed again is kept once and noted.
struct SerialsFile {
  std::vector<std::string> serials;     // file order, each once
  std::vector<std::string> problems;    // "line N: ..."; when any, nothing should be sent
  std::vector<std::string> duplicates;  // "line N: S repeats line M"
};
SerialsFile parse_serials_file(std::string_view text);

struct CampaignArgs {
  std::string name;
  std::string model;
  std::vector<std::string> versions;  // COMP=VER: select devices currently at VER
  std::vector<std::string> serials;
  std::string serials_file;  // read by the command; its serials are passed to campaign_body()
  std::vector<std::string> artifacts;
  std::vector<std::string> waves;  // "1", "10%", "rest"
  std::string failure_threshold;   // "5%" or "3"
  std::string transmit_at;
  std::string update_at;
  std::string expires_at;
  std::optional<int> expires_in_h;
  std::vector<std::string> forbid;
  std::optional<int> utc_offset_min;
  std::optional<int> max_attempts;
  std::optional<int> write_estimate_s;
  std::optional<std::int64_t> offline_after_s;
  DeferralArgs deferral;
};

// The body of POST /v1/campaigns/plan (and of POST /v1/campaigns, which adds "envelopes"):
// {"name", "select": {"model", "versions", "serials"}, "components": [{"artifact"}], "waves",
//  "failure_threshold", "transmit_at", "update_at", "expires_at", "forbidden_windows",
//  "max_attempts", "deferral", "write_estimate_s", "offline_after_s"}, given keys only but
// expires_at always. `file_serials` (from --serials-file) follow --serial; each serial once.
Result<Json> campaign_body(const CampaignArgs& a, const std::vector<std::string>& file_serials,
                           TimeMs now);

// One envelope per target of a plan (the POST /v1/campaigns/plan answer): {serial: {text,
// signature}}, each a firmware job for that serial with exactly plan.job_params and
// plan.expires_at, as the relay checks them. `progress(done, total)` is called after each.
Result<Json> sign_campaign_envelopes(
    const Json& plan, const JobSigner& signer, TimeMs now,
    const std::function<void(std::size_t, std::size_t)>& progress = {});

}  // namespace printrelay::cli
