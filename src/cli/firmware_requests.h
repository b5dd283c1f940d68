// How relayctl's firmware and campaign arguments become admin API calls (docs/protocol.md
// "Firmware jobs" and "Campaigns"). Pure like requests.h: no I/O, the time is passed in, the
// artifacts' manifests are handed over by the caller; signing goes through job_signing.h.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
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

// COMP=VER items of a repeatable flag (campaigns' --version, authorisations' --component) as
// component -> version, spaces around either trimmed. Bad input naming `flag` for an item that is
// not COMP=VER ("main=1.0.3 (<meaning>)" in the message) or a component given twice.
Result<std::map<std::string, std::string>> parse_component_versions(
    const std::vector<std::string>& items, const char* flag, const char* meaning);

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
  bool allow_downgrade = false;  // --allow-downgrade: the device may install an older version
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

// ===== Standing auto-update authorisations (the auto_updates table, decision 0010) =====
//
// An authorisation is {"model", "envelope": {"text", "signature"}}: a firmware job envelope for
// serial kAnyDevice ("*") with an expiry, signed by the service center, whose params name one
// pushed image per component. The relay attaches it to the automatic firmware jobs its
// compatibility rules create for devices of the model; each device checks the signature.

inline constexpr int kDefaultAuthorisationDays = 30;
inline constexpr int kMaxAuthorisationDays = 365;

// --model and the --component COMP=VER items of `firmware authorise` and `firmware revoke`:
// component -> version. Bad input for a malformed model, no --component, more than 16, or a
// malformed or repeated one.
Result<std::map<std::string, std::string>> authorisation_versions(
    const std::string& model, const std::vector<std::string>& components);
// --expires-days: 1-365.
Status check_authorisation_days(int days);

// The manifests of the pushed firmware images (the rows of GET /v1/artifacts) for `model` at
// exactly `versions`, in component order. Bad input naming the component whose version was not
// pushed (with the versions that were), or that has several images of that version.
Result<std::vector<Json>> find_firmware_images(const Json& artifacts, const std::string& model,
                                               const std::map<std::string, std::string>& versions);

// The auto_updates entry for `model` and the images' manifests: the envelope signed by `signer`
// for serial "*", kind firmware, params {"components": [{"component", "version", "artifact",
// "size"}]} in canonical form, expiring `days` days after `now`.
Result<Json> sign_authorisation(const std::string& model, const std::vector<Json>& images, int days,
                                const JobSigner& signer, TimeMs now);

// One row per auto_updates entry: {"model", "versions": {component: version}, "expires_at",
// "expired", "envelope_id", "key_id", "signed_at"}; an entry whose envelope does not parse as an
// authorisation has {"model", "problem"} instead.
Json authorisation_rows(const Json& auto_updates, TimeMs now);

// The auto_updates body with `entry` added at the end, or in place of the entry of the same model
// and component versions (then `*replaced` is set). Bad input when the body is not an array or
// `entry` not an authorisation.
Result<Json> with_authorisation(const Json& auto_updates, const Json& entry, bool* replaced);
// The auto_updates body without the entry of `model` at exactly `versions` (the removed entry in
// `*removed`). Not found, naming the versions the model is authorised for, when there is none.
Result<Json> without_authorisation(const Json& auto_updates, const std::string& model,
                                   const std::map<std::string, std::string>& versions,
                                   Json* removed);
// "main=2.0.0, adf=1.0.0" (component order).
std::string versions_text(const std::map<std::string, std::string>& versions);

}  // namespace printrelay::cli
