// Signed job envelopes and the firmware job's parameters (DESIGN.md §8, docs/protocol.md "Signed
// job envelopes" and "Firmware jobs"). Pure: no I/O, no crypto (net/signing.h signs and verifies
// the envelope text).
//
// Why envelopes: a relay stores and forwards jobs, so whoever controls a relay's database could
// invent jobs. The service center signs what a job does; the device runs only what verifies
// against a service-center key it trusts, and takes the job's parameters from the signed text,
// never from the relay's copy.
//
// An envelope is the JSON object
//   {"v": 1, "id", "serial", "kind", "params", "expires_at" (RFC 3339 or null), "key_id",
//    "signed_at"}
// and the signed text is exactly its dump() (keys sorted, no spaces: one envelope, one text).
// `id` is a nonce chosen by the signer: a device runs one envelope at most once, whatever job id a
// relay gives it. The relay keeps the text and signature in the job's params under "envelope":
//   params = <envelope params> + {"envelope": {"text": "...", "signature": "<128 hex>"}}
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/firmware_rules.h"
#include "core/model.h"
#include "core/result.h"
#include "core/time.h"

namespace printrelay {

inline constexpr std::size_t kMaxEnvelopeTextBytes = 64 * 1024;

// How far ahead a signed envelope may expire, from the time it is checked (400 days: the longest
// expiry relayctl signs, a year, plus slack for clocks). A device remembers every envelope it ran
// until its expiry (replay), so this bounds what it must remember.
inline constexpr TimeMs kMaxEnvelopeLifetimeMs = 400LL * 86'400'000;

// The serial of a standing auto-update authorisation (decision 0011): a firmware envelope the
// service center signs once per model and target versions, which the relay's compatibility rules
// may attach to the automatic jobs they create for any device. It must expire; the device still
// installs only images signed by its vendor for its own model.
inline constexpr const char* kAnyDevice = "*";

struct JobEnvelope {
  std::string id;  // 16-64 characters of [A-Za-z0-9._:-]
  std::string serial;
  JobKind kind = JobKind::kCollect;
  Json params = Json::object();
  std::optional<TimeMs> expires_at;
  std::string key_id;
  TimeMs signed_at = 0;
};

// The text to sign: validated as parse_envelope_text() would read it back.
Result<std::string> envelope_text(const JobEnvelope& e);
// Parses and validates signed text; bad input naming the problem. The text must be canonical.
Result<JobEnvelope> parse_envelope_text(std::string_view text);

// The envelope held in a job's params, if any: {"text", "signature"} (signature 128 hex digits).
struct SignedEnvelope {
  std::string text;
  std::string signature;
};
// Not found when the params hold no "envelope"; bad input when it is malformed.
Result<SignedEnvelope> envelope_of(const Json& params);
// The params without the "envelope" member.
Json params_without_envelope(const Json& params);

// What a device checks before it runs a job, once the signature verified: the envelope names
// this device (or is a standing authorisation, kAnyDevice) and this kind. Returns the envelope's
// params, the only ones the device may use.
Result<Json> check_envelope_for(const JobEnvelope& e, const std::string& serial, JobKind kind);

// Whether a signed envelope may run at `now` as far as its expiry goes: it must have one (a device
// remembers each envelope it ran until then, so one that never expires could be replayed once it
// is forgotten), not be past it, and not expire more than kMaxEnvelopeLifetimeMs after `now`.
// Forbidden with the reason otherwise. The signer checks the same before signing.
Status check_envelope_expiry(const JobEnvelope& e, TimeMs now);

// ===== Firmware job params =====

struct FirmwareComponent {
  std::string component;  // "main", "controller", "document-feeder", ...
  std::string version;    // target version
  std::string artifact;   // sha256 of the image
  std::int64_t size = 0;  // bytes
};

struct FirmwareJobSpec {
  std::vector<FirmwareComponent> components;  // 1..16, components distinct
  std::optional<TimeMs> update_at;            // the update (write) time; none: when downloaded
  std::vector<ForbiddenWindow> forbidden_windows;
  DeferralPolicy deferral;
  int max_attempts = 3;        // writes + boots tried before the job fails, 1..10
  std::string campaign;        // the campaign this job belongs to; empty for a single job
  int write_estimate_s = 120;  // expected write + reboot time, for "expected end" (seed 004)
  // A target version older than the installed one is refused unless this is true (anti-rollback:
  // an old image may be validly signed and vulnerable). Never allowed in a standing authorisation.
  bool allow_downgrade = false;
};

// {"components": [{"component", "version", "artifact", "size"}], "update_at", "forbidden_windows",
//  "deferral", "max_attempts", "campaign", "write_estimate_s", "allow_downgrade"}; everything but
// components optional; unknown keys refused (what is signed must be understood by whoever runs it).
// to_json() writes allow_downgrade only when true.
Result<FirmwareJobSpec> parse_firmware_params(const Json& params);
Json to_json(const FirmwareJobSpec& spec);

// When the update should happen: update_at (or `ready_at`, when the image is on the device, if
// none) moved out of the forbidden windows.
Result<UpdateTimeMove> planned_update_time(const FirmwareJobSpec& spec, TimeMs ready_at);

// Anti-rollback: forbidden, naming the component, when a target version is older than what
// `installed` ({"main": "2.0.0", ...}, the device's firmware summary) says runs, unless the spec
// allows downgrades. A component the summary does not name, or the same version, is allowed.
Status check_not_downgrade(const FirmwareJobSpec& spec, const Json& installed);

// Dotted versions compared by numeric segments ("1.10" > "1.9"; "2.0" == "2.0.0"), non-numeric
// segments by text. Negative, zero or positive like strcmp.
int compare_versions(std::string_view a, std::string_view b);

}  // namespace printrelay
