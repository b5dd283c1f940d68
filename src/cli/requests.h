// How relayctl's arguments become admin API calls (docs/protocol.md, "Admin API"). Everything
// here is pure: no I/O, the current time is passed in, so tests can pin every mapping down.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/artifact.h"
#include "core/model.h"
#include "core/result.h"

namespace printrelay::cli {

// One call on the admin API. `path` starts with /v1 and carries its encoded query string.
struct ApiCall {
  std::string method = "GET";
  std::string path;
  std::optional<Json> body;
};

// A call whose body is raw bytes rather than JSON (an artifact upload). The answer is JSON as for
// ApiCall. `timeout_ms` bounds the whole exchange, so it grows with the body.
struct UploadCall {
  std::string method = "PUT";
  std::string path;
  std::string body;
  std::string content_type = "application/octet-stream";
  std::vector<std::pair<std::string, std::string>> headers;  // besides Authorization, Accept
  long timeout_ms = 30000;
};

// Percent-encodes everything outside RFC 3986's unreserved set.
std::string url_encode(std::string_view s);
// Appends "?k=v&..." for the pairs whose value is non-empty, in the order given.
std::string with_query(std::string path,
                       const std::vector<std::pair<std::string, std::string>>& query);

// Input times: RFC 3339 UTC ("2026-11-23T09:15:00Z") or relative to `now`: "+30s", "+10m",
// "+2h", "+1d", or into the past with "-" ("-1d", handy for reports --since). Returns the wire form
// ("2026-11-23T09:15:00.000Z").
Result<std::string> parse_time_input(std::string_view s, TimeMs now);

// "key=value" from --set: true/false become booleans, integers numbers, anything else a string.
Result<std::pair<std::string, Json>> parse_setting(std::string_view key_value);
Json setting_value(std::string_view text);

// "a,b,c" -> {"a","b","c"}; empty items are bad input.
Result<std::vector<std::string>> split_list(std::string_view s, const char* what);

// --when-counter "total>=100000" -> {"kind":"counter_at_least","counter":"total","value":100000}.
Result<Json> parse_counter_condition(std::string_view s);

// The optional times every job may carry, as typed by the user.
struct JobTimes {
  std::string not_before;
  std::string execute_at;
  std::string expires_at;
};

struct CollectJobArgs {
  std::string serial;
  std::string data_sets;  // comma-separated data set names
  JobTimes times;
};
struct ConfigureJobArgs {
  std::string serial;
  std::vector<std::string> settings;  // each "key=value"
  JobTimes times;
};
struct ScheduleJobArgs {
  std::string serial;
  std::optional<int> interval_s;
  std::string times_of_day;  // "02:00,14:30"
  std::string on_power_on;   // "", "true" or "false"
  std::vector<std::string> when_counter;
  std::vector<std::string> when_error;
  JobTimes times;
};

// POST /v1/jobs for each kind. Bad input names the flag at fault.
Result<ApiCall> collect_job_call(const CollectJobArgs& a, TimeMs now);
Result<ApiCall> configure_job_call(const ConfigureJobArgs& a, TimeMs now);
Result<ApiCall> schedule_job_call(const ScheduleJobArgs& a, TimeMs now);
Result<ApiCall> reboot_job_call(const std::string& serial, const JobTimes& times, TimeMs now);
// A child relay replaces its program with the relay build `artifact` (its sha256).
Result<ApiCall> relay_update_job_call(const std::string& relay_id, const std::string& artifact,
                                      const JobTimes& times, TimeMs now);

// One registration from `registrations add` or a CSV line (POST /v1/registrations body).
struct RegistrationArgs {
  std::string serial;
  std::string model;
  std::string place;
  std::string customer;
  std::string contact;
  std::string enrollment_code;
};
// Checks what the relay would reject (id syntax, lengths, required fields) before sending.
Status validate_registration(const RegistrationArgs& r);
ApiCall registration_call(const RegistrationArgs& r);

// One RFC 4180 record of `text` starting at `pos` (quoted fields may hold commas, "" and line
// ends; CR before LF ignored): its fields. Advances `pos` past the record's line end and adds the
// lines it spans to `lines`. Bad input for an unterminated quote or text after a closing quote.
Result<std::vector<std::string>> csv_record(std::string_view text, std::size_t& pos, int& lines);

// A registrations CSV (header serial,model,place,customer,contact,enrollment_code in any
// order; RFC 4180 quoting). Either every row is valid, or `problems` lists each bad line as
// "line N: ..." and nothing should be sent.
struct RegistrationImport {
  std::vector<std::pair<int, RegistrationArgs>> rows;  // (line number, row)
  std::vector<std::string> problems;
};
RegistrationImport parse_registrations_csv(std::string_view text);

// `relayctl artifact push`: the manifest of `bytes` (sha256, size, the key's id, signed_at = now),
// its Ed25519 signature by `private_pem`, and PUT /v1/artifacts/{sha256} with the bytes as body and
// the headers X-Artifact-Manifest (exactly the signed text) and X-Artifact-Signature. Bad input for
// a bad description or key.
struct ArtifactPush {
  Json manifest;
  std::string signature;  // 128 hex
  UploadCall call;
};
Result<ArtifactPush> artifact_push_call(std::string bytes, const ArtifactDescription& description,
                                        const std::string& private_pem, TimeMs now);
// Time allowed for uploading `size_bytes`: a minute plus 1 s per 256 KiB (a slow WAN link).
long upload_timeout_ms(std::int64_t size_bytes);

}  // namespace printrelay::cli
