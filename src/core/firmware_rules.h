// The pure rules of firmware updates (DESIGN.md §8, issue 3, seed 004): forbidden update windows,
// deferral limits, the busy check at the update time, retry bounds, campaign waves and their
// failure threshold, and the "VerA→C" version cells of the campaign object list.
//
// No I/O and no clock: every time is passed in as TimeMs (UTC milliseconds). Every function is
// deterministic, so the relay, the site gateway, the agent and the tests reach the same answer.
// Bad input (from job params, campaign requests or relayctl) comes back as a typed bad_input Error
// naming the field at fault; nothing here throws on bad input.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/result.h"
#include "core/time.h"

namespace printrelay {

// ===== 1. Forbidden update windows =====
//
// A customer or a device forbids update hours, e.g. business hours "09:00-17:00" (the default of
// one major MFP vendor's remote firmware update), optionally only on some weekdays.
//
// Time zone: windows are wall-clock times in the customer's zone, which printrelay models as UTC
// plus a fixed offset in minutes (`utc_offset_min`, -720..+840, e.g. +60 for CET in winter). There
// is no daylight-saving rule: a customer that changes offset twice a year has its offset edited.
// Local time = UTC + utc_offset_min.
//
// Boundaries: a window is the half-open interval [from, to). The start minute is forbidden, the end
// minute is allowed: with 09:00-17:00, 09:00:00.000 and 16:59:59.999 are forbidden and 17:00:00.000
// is allowed, so an update time moved out of a window lands exactly on its end.
//
// Midnight: `to` earlier than `from` wraps midnight ("22:00-06:00" is 22:00 to 06:00 the next day).
// "24:00" is accepted as an end only, so "00:00-24:00" forbids a whole day. `from == to` is refused
// as ambiguous (empty or whole day?).
//
// Weekdays: `days` selects the local weekdays on which a window *starts*; a wrapping window
// "fri 22:00-06:00" starts Friday 22:00 and ends Saturday 06:00, and does not forbid Friday
// 00:00-06:00 (that belongs to Thursday's window, not selected).

inline constexpr int kMinutesPerDay = 1440;
inline constexpr int kMinUtcOffsetMin = -12 * 60;
inline constexpr int kMaxUtcOffsetMin = 14 * 60;
inline constexpr std::size_t kMaxForbiddenWindows = 32;

// Bit i is set for weekday i in std::chrono::weekday::c_encoding() order: 0 = Sunday, 1 = Monday,
// ... 6 = Saturday.
using WeekdaySet = std::uint8_t;
inline constexpr WeekdaySet kEveryDay = 0x7f;

struct ForbiddenWindow {
  int from_min = 0;  // minutes after local midnight, 0..1439
  int to_min = 0;    // minutes after local midnight, 0..1440; < from_min wraps midnight
  WeekdaySet days = kEveryDay;
  int utc_offset_min = 0;
};

// Checks the ranges documented above; bad input naming the first problem.
Status check_forbidden_window(const ForbiddenWindow& w);

// Text form: "[DAYS ]HH:MM-HH:MM", where DAYS is a comma-separated list of day names and ranges,
// e.g. "09:00-17:00", "mon-fri 09:00-17:00", "sat,sun 00:00-24:00", "fri-mon 22:00-06:00".
// Day names are English, three letters or full, any case. The window gets `utc_offset_min`.
Result<ForbiddenWindow> parse_forbidden_window_text(std::string_view text, int utc_offset_min = 0);

// JSON form: either the text form as a string, or an object
//   {"from": "09:00", "to": "17:00", "days": ["mon", "tue", "wed-fri"], "utc_offset_min": 60}
// where "days" (default: every day) and "utc_offset_min" (default: the argument, i.e. the
// customer's offset) are optional. Unknown keys are refused, so a misspelt "dayz" cannot silently
// widen a window to every day.
Result<ForbiddenWindow> parse_forbidden_window(const Json& j, int utc_offset_min = 0);

// A JSON array of windows as above (at most kMaxForbiddenWindows), a single window, or null (no
// windows). Refuses a set that forbids every minute of the week: an update could never run.
Result<std::vector<ForbiddenWindow>> parse_forbidden_windows(const Json& j, int utc_offset_min = 0);

// Canonical text, which parse_forbidden_window_text() reads back: "mon-fri 09:00-17:00" (no day
// list for every day; the offset is not part of the text).
std::string to_text(const ForbiddenWindow& w);
// {"from", "to"} plus "days" unless every day and "utc_offset_min" unless 0.
Json to_json(const ForbiddenWindow& w);

// Why an update time moved, for the job's transition cause and the dashboard.
struct UpdateTimeMove {
  TimeMs wanted = 0;
  TimeMs at = 0;                     // == wanted when it was allowed
  std::vector<std::size_t> windows;  // indexes of the windows that pushed it, in order
  std::string reason;                // empty when not moved
  bool moved() const { return at != wanted; }
};

// The first allowed time at or after `wanted`. When `wanted` falls inside a window, it moves to
// that window's end; if the end falls inside another window (chained or overlapping windows, a
// night window following an evening one), it moves on to that one's end, and so on. The reason
// reads "moved from 10:00 to 17:00: inside forbidden window 09:00-17:00" in the local time of the
// first window that pushed it (dates are added when the move crosses local midnight, the offset
// when it is not UTC). Bad input when a window is invalid or the windows forbid the whole week.
Result<UpdateTimeMove> plan_update_time(const std::vector<ForbiddenWindow>& windows, TimeMs wanted);

// plan_update_time().at, for callers that only need the time. Windows must be valid (as the
// parsers return them); when they forbid the whole week, returns kNeverAllowed, so a job waits
// until its expiry rather than updating inside a forbidden window.
inline constexpr TimeMs kNeverAllowed = std::numeric_limits<TimeMs>::max();
TimeMs next_allowed_time(const std::vector<ForbiddenWindow>& windows, TimeMs wanted);

// ===== 2. Deferral (the panel's "defer", LwM2M's maximum defer period) =====
//
// Each deferral moves the update by `step_ms` (seed 004's deferment period, Fig. 36: 20 min).
// Deferral is bounded by a count and by a period measured from the first deferral; once either is
// used up, the update proceeds or the job fails, as the job says. Both bounds are mandatory:
// an update that can be deferred for ever is never installed.
struct DeferralPolicy {
  int max_count = 3;
  TimeMs max_period_ms = 24 * 3600 * 1000LL;
  TimeMs step_ms = 20 * 60 * 1000LL;
  enum class WhenExhausted { kProceed, kFail } when_exhausted = WhenExhausted::kProceed;
};

// max_count >= 0, max_period_ms >= 0, step_ms > 0. A zero count or period allows no deferral.
Status check_deferral_policy(const DeferralPolicy& p);

// From job params: {"max_count": 3, "max_period_s": 86400, "step_s": 1200,
// "when_exhausted": "proceed" | "fail"}; every key optional (defaults above), unknown keys refused.
// Ranges: max_count 0..100, max_period_s 0..2592000 (30 days), step_s 1..604800 (7 days).
Result<DeferralPolicy> parse_deferral_policy(const Json& j);
// The same keys; periods in whole seconds (a policy read by parse_deferral_policy round-trips).
Json to_json(const DeferralPolicy& p);

// What the job remembers of its deferrals.
struct DeferralHistory {
  int count = 0;
  std::optional<TimeMs> first_deferred_at;  // set once count > 0
};

enum class DeferralOutcome {
  kDefer,    // defer until `until`
  kProceed,  // deferral used up and the job says proceed: update now
  kFail,     // deferral used up and the job says fail: fail the job with `reason`
};
const char* to_string(DeferralOutcome o);

struct DeferralDecision {
  DeferralOutcome outcome = DeferralOutcome::kDefer;
  TimeMs until = 0;    // for kDefer: the new update time; otherwise `now`
  std::string reason;  // "deferred until ...", "deferred 3 times, the maximum", ...
};

// A deferral is asked for at `now`. Allowed while count < max_count and now is before
// first_deferred_at + max_period_ms (the first deferral starts the period); the new update time is
// now + step_ms, cut to the end of the period so the last deferral does not overrun it. Bad input
// for an invalid policy, a negative count or a count without a first deferral time. A `now` before
// the first deferral (clocks of relay and device disagree) counts as no time elapsed.
Result<DeferralDecision> decide_deferral(const DeferralPolicy& policy,
                                         const DeferralHistory& history, TimeMs now);

// The history after a deferral at `now` was granted.
DeferralHistory record_deferral(DeferralHistory history, TimeMs now);

// ===== 3. The busy check at the update time (seed 004 claims 8, 9) =====

struct BusySignals {
  bool printing = false;       // a print, copy, scan or fax job is running
  bool user_at_panel = false;  // someone is operating the panel
  bool busy() const { return printing || user_at_panel; }
};

enum class UpdateStart {
  kStartNow,  // not busy, or busy with deferral used up and the job says proceed
  kDefer,     // busy: defer until `until` and check again then
  kFail,      // busy with deferral used up and the job says fail
};
const char* to_string(UpdateStart s);

struct UpdateStartDecision {
  UpdateStart start = UpdateStart::kStartNow;
  TimeMs until = 0;  // for kDefer; otherwise `now`
  std::string reason;
};

// At the update time: a device that is not busy starts now. A busy one defers by the deferment
// period, counted against the same limits as the panel's "defer" (decide_deferral()), and when they
// are used up proceeds or fails as the policy says. The caller records a kDefer with
// record_deferral() and should pass `until` through plan_update_time(), since a deferral may land
// in a forbidden window.
Result<UpdateStartDecision> decide_update_start(const BusySignals& busy,
                                                const DeferralPolicy& policy,
                                                const DeferralHistory& history, TimeMs now);

// ===== 4. Retry bound =====

struct RetryDecision {
  bool allowed = false;
  std::string reason;  // why not, e.g. "attempted 3 times, the maximum"
};

// Whether attempt number attempts_made + 1 may start at `attempt_at`: fewer than `max_attempts`
// made and, when the job expires, `attempt_at` before the expiry (the job is expired at its expiry
// time, as expire_if_due() says). Bad input for max_attempts < 1 or attempts_made < 0.
Result<RetryDecision> decide_retry(int attempts_made, int max_attempts,
                                   std::optional<TimeMs> expires_at, TimeMs attempt_at);

// ===== 5. Campaign waves and the failure threshold (seed 004 Fig. 20-24, 46) =====

// A wave size: an absolute number of devices, a percentage of all the campaign's targets, or
// "the rest". Percentages are kept in hundredths of a percent so that arithmetic is exact.
struct WaveSize {
  enum class Kind { kCount, kPercent, kRest } kind = Kind::kRest;
  std::int64_t count = 0;               // for kCount, >= 1
  std::int64_t percent_hundredths = 0;  // for kPercent, 1..10000 (0.01% .. 100%)
};

// "25" (devices), "10%" or "0.5%" (at most two decimals, > 0, <= 100), "rest".
Result<WaveSize> parse_wave_size(std::string_view text);
// A JSON integer (devices) or a string as above.
Result<WaveSize> parse_wave_size(const Json& j);
std::string to_text(const WaveSize& s);

struct Wave {
  int number = 0;  // 1-based
  std::vector<std::string> serials;
};

// Splits the ordered targets into waves, in order. A percentage is of the total number of targets,
// rounded up, so a 1% canary of 50 devices is 1 device, never an empty wave. "rest" may only be
// last. When the sizes run out before the targets, the last size repeats ({"10%"} is waves of 10%
// each). Waves never exceed the devices left and empty waves are not returned. Bad input for no
// sizes, an invalid size, "rest" before the end, or an empty or duplicate serial (a device in two
// waves would be updated twice).
Result<std::vector<Wave>> plan_waves(const std::vector<std::string>& targets,
                                     const std::vector<WaveSize>& sizes);

// Where one device of a campaign stands; the last three are the result categories of seed 004
// Fig. 46 ("updating completed", "waiting for re-updating", "error").
enum class DeviceOutcome {
  kPending,             // not finished: waiting, downloading, deferred, updating
  kCompleted,           // boot report confirmed the new versions
  kWaitingForReupdate,  // an attempt failed (bad boot, fell back); it will be retried
  kError,               // failed for good: retries or expiry used up, refused, cancelled
};
// Wire names: "pending", "completed", "waiting-for-re-update", "error".
const char* to_string(DeviceOutcome o);
std::optional<DeviceOutcome> device_outcome_from(const std::string& s);
// Fig. 46 labels: "updating completed", "waiting for re-updating", "error"; "pending" otherwise.
const char* result_label(DeviceOutcome o);

// The rollout pauses when the number of devices in error reaches the threshold: `count` devices,
// or a percentage of all the campaign's targets rounded up to at least one device. Reaching is
// enough: a threshold of 10 pauses at the 10th error, not the 11th. Devices waiting for re-update
// are not failures yet; they end completed or in error within their job's retry bound.
struct FailureThreshold {
  enum class Kind { kCount, kPercent } kind = Kind::kCount;
  std::int64_t count = 1;               // for kCount, >= 1
  std::int64_t percent_hundredths = 0;  // for kPercent, 1..10000
};
// A JSON integer (devices, >= 1) or a string "5%" / "12" (as parse_wave_size, without "rest").
Result<FailureThreshold> parse_failure_threshold(const Json& j);
std::string to_text(const FailureThreshold& t);
// The threshold in devices for a campaign of `total_devices` (0 for an empty campaign).
std::int64_t threshold_devices(const FailureThreshold& t, std::int64_t total_devices);

struct CampaignTally {
  std::int64_t total = 0;
  std::int64_t pending = 0;
  std::int64_t completed = 0;
  std::int64_t waiting_for_reupdate = 0;
  std::int64_t error = 0;
};
CampaignTally tally_outcomes(const std::vector<DeviceOutcome>& outcomes);

enum class CampaignAction {
  kContinue,  // keep going, start the next wave when this one is done
  kPause,     // threshold reached: stop starting devices until an operator resumes
  kDone,      // every device completed or in error, threshold not reached
};
const char* to_string(CampaignAction a);

struct CampaignVerdict {
  CampaignAction action = CampaignAction::kContinue;
  std::string reason;  // "10 of 200 devices in error, the threshold (5% = 10 devices)"
  CampaignTally tally;
};

// `outcomes` has one entry per target of the campaign, started or not (kPending when not
// finished), so its size is the total the percentages refer to. Bad input for an invalid
// threshold.
Result<CampaignVerdict> campaign_verdict(const std::vector<DeviceOutcome>& outcomes,
                                         const FailureThreshold& threshold);

// ===== 6. Version cells of the object list (seed 004 Fig. 20) =====

// "VerA→C" for current "A" and target "C"; "VerC" when nothing changes; "Ver?→C" when the current
// version is unknown (empty). Bad input for an empty target. The arrow is U+2192 in UTF-8.
Result<std::string> version_change_text(const std::string& current, const std::string& target);

// One cell per component of `targets` (component -> target version), reading current versions
// from a device's firmware summary ({"main": "1.0.3", ...}, Device::firmware); a component missing
// from it, or not a string, is unknown.
Result<std::map<std::string, std::string>> version_change_cells(
    const Json& device_firmware, const std::map<std::string, std::string>& targets);

}  // namespace printrelay
