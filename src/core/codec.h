// JSON codecs for the wire protocol (docs/protocol.md). Every parse_* validates types, ranges and
// sizes and returns bad input with a message naming the field; it never throws.
#pragma once

#include <string>

#include "core/model.h"
#include "core/result.h"

namespace printrelay {

// Lenient accessors for optional fields of untrusted JSON: the fallback when the key is missing
// or of another type (nlohmann's value() throws on a type mismatch).
std::string text_field(const Json& obj, const char* key, const std::string& fallback = "");
std::int64_t int_field(const Json& obj, const char* key, std::int64_t fallback);
bool bool_field(const Json& obj, const char* key, bool fallback);

// Parses a request body; bad input when it is not a JSON object.
Result<Json> parse_body(std::string_view body);

// True for 1..kMaxIdLength characters of [A-Za-z0-9._:-].
bool is_valid_id(std::string_view id);

Result<Report> parse_report(const Json& j);
Json to_json(const Report& r);
Json to_json(const Receipt& r);
Result<Receipt> parse_receipt(const Json& j);
Json to_json(const StoredReport& r);

Result<PollPolicy> parse_poll_policy(const Json& j);
Json to_json(const PollPolicy& p);

// A job as the service center asks for it (POST /v1/jobs): target, kind, params, times.
// Fills serial, kind, params, not_before, execute_at, expires_at; the caller fills the rest.
Result<Job> parse_job_request(const Json& j, TimeMs now);
// Validates params for a kind (collect data sets, configure settings, schedule policy).
Status validate_job_params(JobKind kind, const Json& params);
Json to_json(const Job& j);
Result<Job> parse_job(const Json& j);
Json to_json(const JobTransition& t);

Result<JobEvent> parse_job_event(const Json& j, const std::string& job_id);
Json to_json(const JobEvent& e);

Result<Registration> parse_registration(const Json& j);  // leaves the code hash empty
Json to_json(const Registration& r);                     // never includes the code hash
Json to_json(const Device& d);
Json to_json(const Alert& a);

Json error_json(const Error& e);

// A relay credential's customers as the stores keep them (a JSON array) and back; text that is
// not such an array reads as no customers (the credential then serves nothing).
std::string customers_text(const AdminCredential& c);
std::vector<std::string> customers_from(std::string_view text);

}  // namespace printrelay
