// Human renderings of the admin API's answers. Tolerant of extra and missing fields: the relay
// may add fields, and a device may not have sent every data set yet.
#pragma once

#include <ostream>
#include <string>

#include "cli/sse.h"
#include "core/model.h"

namespace printrelay::cli {

// The rows of a listing answer: a bare array, or the array under `key` ({"jobs": [...]}).
Json items_of(const Json& reply, const char* key);
// A single object answer that may be wrapped ({"job": {...}}) or bare.
Json object_of(const Json& reply, const char* key);

// The SUMMARY of a report: counters "total=N color=N mono=N"; supplies the lowest supply;
// alert "<code> <type> <message>"; message its text; order "item x qty"; others "N keys".
std::string report_summary(const Json& report);
// Level of one supply entry in percent (level/capacity when a capacity is given), or nullopt.
std::optional<double> supply_percent(const Json& supply);
// Supplies of a supplies report body as (name, entry) pairs, whichever shape the body has:
// {"supplies": [{"name", ...}]}, [{"name", ...}] or {"toner-black": {...}, ...}.
std::vector<std::pair<std::string, Json>> supplies_of(const Json& body);

void print_devices(const Json& devices, std::ostream& out);
void print_device_detail(const Json& reply, std::ostream& out);
void print_reports(const Json& reports, std::ostream& out);
void print_jobs(const Json& jobs, std::ostream& out);
void print_job_detail(const Json& reply, std::ostream& out);
// A job just created with a signed envelope: its id, its row, then when it runs (execute_at: for a
// firmware job the planned update time), its expiry, the key and envelope that signed it, and the
// cause of its "created" transition (a firmware job's says why the update time moved), when
// `transitions` (GET /v1/jobs/{id}) has one.
void print_created_job(const Json& job, const Json& transitions, std::ostream& out);
void print_alerts(const Json& alerts, std::ostream& out);
void print_registrations(const Json& registrations, std::ostream& out);
void print_credentials(const Json& credentials, std::ostream& out);
void print_relays(const Json& relays, std::ostream& out);
// GET /v1/relays/{id}/rates: the WAN line, then one row per device.
void print_relay_rates(const Json& rates, std::ostream& out);
// Local signing keys [{name, key_id, private}]: NAME, KEY ID, PRIVATE (yes/no).
void print_keys(const Json& keys, std::ostream& out);
// Signed artifacts [{manifest..., signature}]: SHA256 (first 12), KIND, MODEL, COMPONENT,
// VERSION, SIZE, KEY ID, SIGNED AT.
void print_artifacts(const Json& artifacts, std::ostream& out);
// A byte count for people: "512 B", "1.5 KiB", "100.0 MiB", "2.0 GiB"; "-" when not a number.
std::string size_text(const Json& size_bytes);

// A POST /v1/campaigns/plan answer: a header (model, components, schedule, limits, threshold),
// the object list of seed 004 Fig. 20 (SERIAL, MODEL, PLACE, then one "VerA→C" column per
// component), the devices that cannot be included (Fig. 21: SERIAL, REASON, DETAIL) and the waves
// (WAVE, DEVICES).
void print_campaign_plan(const Json& plan, std::ostream& out);
// GET /v1/campaigns rows: ID, NAME, STATE, MODEL, TOTAL, COMPLETED, WAITING FOR RE-UPDATE, ERROR,
// PENDING, CREATED.
void print_campaigns(const Json& campaigns, std::ostream& out);
// A GET /v1/campaigns/{id} answer: a header (state, why paused, threshold, schedule), the waves
// with their start times, the devices (Fig. 19: SERIAL, PLACE, WAVE, STATUS, UPDATE AT, EXPECTED
// END, one column per component, RESULT, REASON), the excluded devices, the result table of
// Fig. 46 (count and serials of "updating completed", "waiting for re-updating", "error") and the
// campaign's log.
void print_campaign_detail(const Json& reply, std::ostream& out);
// Firmware history rows: AT, EVENT, COMPONENT, VERSION, ARTIFACT (first 12), JOB, DETAIL.
void print_firmware_history(const Json& history, std::ostream& out);
// The DETAIL of a history row: "sent": "<size> from <offset>"; "checked": "offers main
// 1.0.0→2.0.0, ..." or "no offers"; "installed": "previous 1.0.0"; "failed": the reason and the
// previous version; others their detail as compact JSON.
std::string firmware_history_detail(const Json& entry);

// A GET /v1/billing answer: "period <from> to <to>", then SERIAL, COUNTER, START, END,
// DIFFERENCE, FLAGS (each flag "reset <time>", "gap <time> to <time>", ...; "-" when none).
void print_billing(const Json& reply, std::ostream& out);
// One billing flag ({"kind", "at"?, "until"?}) as a table shows it.
std::string billing_flag_text(const Json& flag);

// GET /v1/tables rows: NAME, REVISION, ENTRIES, UPDATED AT, UPDATED BY.
void print_tables(const Json& tables, std::ostream& out);
// A code table's body: error_codes as CODE, URGENCY, TEXT, ACTION; order_codes as CODE, TEXT.
void print_code_table(const std::string& name, const Json& body, std::ostream& out);
// GET /v1/notifications rows: TIME (created), EVENT, SERIAL, CHANNEL, TARGET, RULE, STATE,
// ATTEMPTS, SENT, LAST ERROR.
void print_notifications(const Json& notifications, std::ostream& out);
// A GET /v1/devices/{serial}/monitoring answer: the device and its compatibility verdict, the
// findings (UNIT, FOUND, KIND, INCOMPATIBLE, RECOMMENDED, WHY), the recommended versions (UNIT,
// NOW, RECOMMENDED) and whether they are installed automatically, the troubles (TYPE, SUBJECT,
// COUNT, URGENCY, LAST, TEXT), the supply forecasts (SUPPLY, LEVEL, USE/DAY, DAYS LEFT, EMPTY
// AT, LOW, REASON) and the center's notes.
void print_device_monitoring(const Json& reply, std::ostream& out);
// Standing auto-update authorisations as firmware_requests.h authorisation_rows() gives them:
// MODEL, VERSIONS, EXPIRES, STATE (valid, expired or the problem), ENVELOPE, KEY ID, SIGNED AT.
void print_authorisations(const Json& rows, std::ostream& out);

// One `watch` line: "<time> <EVENT> <serial> <summary>"; the time is the event's own (transition,
// alert or report time), else `now`.
std::string event_line(const std::string& kind, const Json& data, TimeMs now);

}  // namespace printrelay::cli
