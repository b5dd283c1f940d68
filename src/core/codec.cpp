#include "core/codec.h"

#include <algorithm>

#include "core/firmware_job.h"
#include "core/json_text.h"

namespace printrelay {
namespace {

Result<std::string> get_string(const Json& j, const char* key, bool required, std::size_t max_len) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return bad_input(std::string("missing field '") + key + "'");
    return std::string();
  }
  if (!it->is_string()) return bad_input(std::string("field '") + key + "' must be a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max_len) {
    return bad_input(std::string("field '") + key + "' is longer than " + std::to_string(max_len) +
                     " characters");
  }
  return s;
}

Result<std::optional<TimeMs>> get_time(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<TimeMs>();
  if (!it->is_string()) return bad_input(std::string("field '") + key + "' must be a time string");
  auto t = parse_time(it->get_ref<const std::string&>());
  if (!t) return bad_input(std::string("field '") + key + "': " + t.error().message);
  return std::optional<TimeMs>(t.value());
}

Json opt_time(const std::optional<TimeMs>& t) { return t ? Json(format_time(*t)) : Json(); }

}  // namespace

std::string text_field(const Json& obj, const char* key, const std::string& fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::int64_t int_field(const Json& obj, const char* key, std::int64_t fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<std::int64_t>() : fallback;
}

bool bool_field(const Json& obj, const char* key, bool fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

bool is_report_kind(const std::string& kind) {
  const auto& k = report_kinds();
  return std::find(k.begin(), k.end(), kind) != k.end();
}
bool is_data_set(const std::string& name) {
  const auto& k = data_sets();
  return std::find(k.begin(), k.end(), name) != k.end();
}

const char* to_string(Urgency u) {
  switch (u) {
    case Urgency::kLow:
      return "low";
    case Urgency::kNormal:
      return "normal";
    case Urgency::kHigh:
      return "high";
    case Urgency::kFatal:
      return "fatal";
  }
  return "normal";
}
std::optional<Urgency> urgency_from(const std::string& s) {
  if (s == "low") return Urgency::kLow;
  if (s == "normal") return Urgency::kNormal;
  if (s == "high") return Urgency::kHigh;
  if (s == "fatal") return Urgency::kFatal;
  return std::nullopt;
}

const char* to_string(JobKind k) {
  switch (k) {
    case JobKind::kCollect:
      return "collect";
    case JobKind::kConfigure:
      return "configure";
    case JobKind::kSchedule:
      return "schedule";
    case JobKind::kReboot:
      return "reboot";
    case JobKind::kFirmware:
      return "firmware";
    case JobKind::kRelayUpdate:
      return "relay-update";
  }
  return "collect";
}
std::optional<JobKind> job_kind_from(const std::string& s) {
  if (s == "collect") return JobKind::kCollect;
  if (s == "configure") return JobKind::kConfigure;
  if (s == "schedule") return JobKind::kSchedule;
  if (s == "reboot") return JobKind::kReboot;
  if (s == "firmware") return JobKind::kFirmware;
  if (s == "relay-update") return JobKind::kRelayUpdate;
  return std::nullopt;
}

const char* to_string(JobState s) {
  switch (s) {
    case JobState::kWaiting:
      return "waiting";
    case JobState::kAcquired:
      return "acquired";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
    case JobState::kExpired:
      return "expired";
  }
  return "waiting";
}
std::optional<JobState> job_state_from(const std::string& s) {
  for (auto st : {JobState::kWaiting, JobState::kAcquired, JobState::kRunning, JobState::kSucceeded,
                  JobState::kFailed, JobState::kCancelled, JobState::kExpired}) {
    if (s == to_string(st)) return st;
  }
  return std::nullopt;
}
bool is_terminal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kFailed || s == JobState::kCancelled ||
         s == JobState::kExpired;
}

const char* to_string(JobEventType t) {
  switch (t) {
    case JobEventType::kAcquired:
      return "acquired";
    case JobEventType::kStarted:
      return "started";
    case JobEventType::kProgress:
      return "progress";
    case JobEventType::kDeferred:
      return "deferred";
    case JobEventType::kSucceeded:
      return "succeeded";
    case JobEventType::kFailed:
      return "failed";
    case JobEventType::kCancelled:
      return "cancelled";
  }
  return "progress";
}
std::optional<JobEventType> job_event_type_from(const std::string& s) {
  for (auto t : {JobEventType::kAcquired, JobEventType::kStarted, JobEventType::kProgress,
                 JobEventType::kDeferred, JobEventType::kSucceeded, JobEventType::kFailed,
                 JobEventType::kCancelled}) {
    if (s == to_string(t)) return t;
  }
  return std::nullopt;
}

const char* to_string(Role r) {
  switch (r) {
    case Role::kViewer:
      return "viewer";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
    case Role::kRelay:
      return "relay";
  }
  return "viewer";
}
std::optional<Role> role_from(const std::string& s) {
  if (s == "viewer") return Role::kViewer;
  if (s == "operator") return Role::kOperator;
  if (s == "admin") return Role::kAdmin;
  if (s == "relay") return Role::kRelay;
  return std::nullopt;
}

Result<Json> parse_body(std::string_view body) {
  if (body.size() > kMaxBodyBytes) {
    return Error{ErrorKind::kTooLarge,
                 "body is larger than " + std::to_string(kMaxBodyBytes) + " bytes"};
  }
  auto j = parse_json(body);
  if (!j) return bad_input("body: " + j.error().message);
  if (!j->is_object()) return bad_input("body must be a JSON object");
  return j;
}

bool is_valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
  });
}

Result<Report> parse_report(const Json& j) {
  if (!j.is_object()) return bad_input("a report must be a JSON object");
  Report r;
  auto id = get_string(j, "id", true, kMaxIdLength);
  if (!id) return id.error();
  if (!is_valid_id(*id)) return bad_input("report id must be 1-64 characters of [A-Za-z0-9._:-]");
  r.id = *id;
  auto kind = get_string(j, "kind", true, 32);
  if (!kind) return kind.error();
  if (!is_report_kind(*kind)) return bad_input("unknown report kind '" + *kind + "'");
  r.kind = *kind;
  auto created = get_time(j, "created_at");
  if (!created) return created.error();
  if (!*created) return bad_input("missing field 'created_at'");
  r.created_at = **created;
  auto urg = get_string(j, "urgency", false, 16);
  if (!urg) return urg.error();
  if (!urg->empty()) {
    auto u = urgency_from(*urg);
    if (!u) return bad_input("urgency must be low, normal, high or fatal");
    r.urgency = *u;
  }
  auto job = get_string(j, "job_id", false, kMaxIdLength);
  if (!job) return job.error();
  if (!job->empty()) r.job_id = *job;
  auto body = j.find("body");
  if (body == j.end()) return bad_input("missing field 'body'");
  if (!body->is_object()) return bad_input("field 'body' must be an object");
  if (body->dump().size() > kMaxReportBodyBytes) {
    return Error{ErrorKind::kTooLarge,
                 "report body is larger than " + std::to_string(kMaxReportBodyBytes) + " bytes"};
  }
  r.body = *body;
  return r;
}

Json to_json(const Report& r) {
  Json j = {{"id", r.id},
            {"kind", r.kind},
            {"created_at", format_time(r.created_at)},
            {"urgency", to_string(r.urgency)},
            {"body", r.body}};
  if (r.job_id) j["job_id"] = *r.job_id;
  return j;
}

std::string canonical_report(const Report& r) { return to_json(r).dump(); }

Json to_json(const Receipt& r) {
  Json j = {{"report_id", r.report_id},
            {"reception_no", r.reception_no},
            {"server_time", format_time(r.server_time)},
            {"sha256", r.sha256},
            {"duplicate", r.duplicate}};
  if (r.reply) {
    j["reply"] = {{"reception_no", r.reply->reception_no}, {"description", r.reply->description}};
  }
  return j;
}

Result<Receipt> parse_receipt(const Json& j) {
  if (!j.is_object()) return bad_input("a receipt must be an object");
  Receipt r;
  auto id = get_string(j, "report_id", true, kMaxIdLength);
  if (!id) return id.error();
  r.report_id = *id;
  auto no = get_string(j, "reception_no", true, 64);
  if (!no) return no.error();
  r.reception_no = *no;
  auto sha = get_string(j, "sha256", true, 64);
  if (!sha) return sha.error();
  r.sha256 = *sha;
  auto t = get_time(j, "server_time");
  if (!t) return t.error();
  r.server_time = t->value_or(0);
  r.duplicate = bool_field(j, "duplicate", false);
  if (auto it = j.find("reply"); it != j.end() && it->is_object()) {
    r.reply = PanelReply{text_field(*it, "reception_no"), text_field(*it, "description")};
  }
  return r;
}

Json to_json(const StoredReport& r) {
  Json j = to_json(r.report);
  j["reception_no"] = std::to_string(r.seq);
  j["serial"] = r.serial;
  j["received_at"] = format_time(r.received_at);
  j["sha256"] = r.sha256;
  return j;
}

Result<PollPolicy> parse_poll_policy(const Json& j) {
  if (!j.is_object()) return bad_input("poll_policy must be an object");
  PollPolicy p;
  if (auto it = j.find("interval_s"); it != j.end()) {
    if (!it->is_number_integer()) return bad_input("poll_policy.interval_s must be an integer");
    auto v = it->get<std::int64_t>();
    if (v < 5 || v > 7 * 86400) return bad_input("poll_policy.interval_s must be 5..604800");
    p.interval_s = int(v);
  }
  if (auto it = j.find("times_of_day"); it != j.end()) {
    if (!it->is_array() || it->size() > 48) {
      return bad_input("poll_policy.times_of_day must be an array of at most 48 \"HH:MM\"");
    }
    for (const auto& t : *it) {
      if (!t.is_string()) return bad_input("poll_policy.times_of_day entries must be \"HH:MM\"");
      auto m = parse_time_of_day(t.get<std::string>());
      if (!m) return bad_input("poll_policy.times_of_day: " + m.error().message);
      p.times_of_day.push_back(t.get<std::string>());
    }
  }
  if (auto it = j.find("on_power_on"); it != j.end()) {
    if (!it->is_boolean()) return bad_input("poll_policy.on_power_on must be a boolean");
    p.on_power_on = it->get<bool>();
  }
  if (auto it = j.find("conditions"); it != j.end()) {
    if (!it->is_array() || it->size() > 32) {
      return bad_input("poll_policy.conditions must be an array of at most 32 conditions");
    }
    for (const auto& c : *it) {
      if (!c.is_object()) return bad_input("poll_policy.conditions entries must be objects");
      PollCondition pc;
      pc.kind = text_field(c, "kind");
      if (pc.kind == "counter_at_least") {
        auto counter = c.find("counter");
        auto value = c.find("value");
        if (counter == c.end() || !counter->is_string() || value == c.end() ||
            !value->is_number_integer() || value->get<std::int64_t>() < 0) {
          return bad_input("counter_at_least needs 'counter' (string) and 'value' (integer >= 0)");
        }
        pc.counter = counter->get<std::string>();
        pc.value = value->get<std::int64_t>();
      } else if (pc.kind == "error_code") {
        auto code = c.find("code");
        if (code == c.end() || !code->is_string() || code->get<std::string>().empty()) {
          return bad_input("error_code condition needs 'code' (string)");
        }
        pc.code = code->get<std::string>();
      } else {
        return bad_input("poll condition kind must be counter_at_least or error_code");
      }
      p.conditions.push_back(pc);
    }
  }
  return p;
}

Json to_json(const PollPolicy& p) {
  Json conds = Json::array();
  for (const auto& c : p.conditions) {
    if (c.kind == "counter_at_least") {
      conds.push_back({{"kind", c.kind}, {"counter", c.counter}, {"value", c.value}});
    } else {
      conds.push_back({{"kind", c.kind}, {"code", c.code}});
    }
  }
  return {{"interval_s", p.interval_s},
          {"times_of_day", p.times_of_day},
          {"on_power_on", p.on_power_on},
          {"conditions", conds}};
}

namespace {
Status validate_params_of_kind(JobKind kind, const Json& params) {
  switch (kind) {
    case JobKind::kCollect: {
      auto it = params.find("data_sets");
      if (it == params.end() || !it->is_array() || it->empty()) {
        return bad_input("collect needs params.data_sets: a non-empty array of data set names");
      }
      for (const auto& d : *it) {
        if (!d.is_string() || !is_data_set(d.get<std::string>())) {
          return bad_input("unknown data set " + d.dump() +
                           " (counters, supplies, identification, structure, calls, jams, "
                           "adjustment, settings, comm-history)");
        }
      }
      return ok_status();
    }
    case JobKind::kConfigure: {
      auto it = params.find("settings");
      if (it == params.end() || !it->is_object() || it->empty()) {
        return bad_input("configure needs params.settings: a non-empty object");
      }
      for (const auto& [k, v] : it->items()) {
        if (k.empty() || k.size() > 64) return bad_input("setting names must be 1-64 characters");
        if (!(v.is_string() || v.is_number() || v.is_boolean())) {
          return bad_input("setting '" + k + "' must be a string, number or boolean");
        }
      }
      return ok_status();
    }
    case JobKind::kSchedule: {
      auto it = params.find("poll_policy");
      if (it == params.end()) return bad_input("schedule needs params.poll_policy");
      auto p = parse_poll_policy(*it);
      if (!p) return p.error();
      return ok_status();
    }
    case JobKind::kReboot:
      return ok_status();
    case JobKind::kRelayUpdate: {
      // The artifact to install: a relayd build pushed with `relayctl artifact push --kind relay`.
      const std::string a = text_field(params, "artifact");
      const bool hex = a.size() == 64 && std::all_of(a.begin(), a.end(), [](char c) {
                         return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                       });
      if (!hex) return bad_input("relay-update needs params.artifact: the build's sha256 (64 hex)");
      return ok_status();
    }
    case JobKind::kFirmware: {
      auto spec = parse_firmware_params(params);
      if (!spec) return spec.error();
      return ok_status();
    }
  }
  return bad_input("unknown job kind");
}
}  // namespace

Status validate_job_params(JobKind kind, const Json& params) {
  if (!params.is_object()) return bad_input("params must be an object");
  if (params.contains("envelope")) {
    auto env = envelope_of(params);
    if (!env) return env.error();
  } else if (kind == JobKind::kFirmware) {
    // A device installs firmware only from a job the service center signed; refusing the unsigned
    // job here tells the operator at once instead of when the device refuses it.
    return bad_input(
        "a firmware job must be signed by the service center: give it an envelope "
        "(relayctl signs jobs with --sign-key)");
  }
  return validate_params_of_kind(kind, params_without_envelope(params));
}

Result<Job> parse_job_request(const Json& j, TimeMs now) {
  if (!j.is_object()) return bad_input("a job must be an object");
  Job job;
  std::optional<TimeMs> j_expires_override;
  auto serial = get_string(j, "serial", true, kMaxIdLength);
  if (!serial) return serial.error();
  if (!is_valid_id(*serial)) return bad_input("serial must be 1-64 characters of [A-Za-z0-9._:-]");
  job.serial = *serial;
  auto kind = get_string(j, "kind", true, 32);
  if (!kind) return kind.error();
  auto k = job_kind_from(*kind);
  if (!k) return bad_input("unknown job kind '" + *kind + "'");
  job.kind = *k;
  job.params = j.value("params", Json::object());
  if (j.contains("envelope")) {
    // A signed job: what it does comes from the signed text, so the request's own fields must
    // agree with it (or be left out).
    auto signed_env = envelope_of(Json{{"envelope", j["envelope"]}});
    if (!signed_env) return signed_env.error();
    auto env = parse_envelope_text(signed_env->text);
    if (!env) return env.error();
    if (env->serial != job.serial && env->serial != kAnyDevice)
      return bad_input("the envelope is for another serial");
    if (env->kind != job.kind) return bad_input("the envelope is for another job kind");
    if (j.contains("params") && params_without_envelope(job.params) != env->params) {
      return bad_input("params differ from the signed envelope's params");
    }
    job.params = env->params;
    job.params["envelope"] = {{"text", signed_env->text}, {"signature", signed_env->signature}};
    if (env->expires_at) {
      if (j.contains("expires_at") && j["expires_at"] != format_time(*env->expires_at)) {
        return bad_input("expires_at differs from the signed envelope's");
      }
      j_expires_override = env->expires_at;
    }
  }
  if (auto st = validate_job_params(job.kind, job.params); !st) return st.error();
  auto nb = get_time(j, "not_before");
  if (!nb) return nb.error();
  job.not_before = nb->value_or(now);
  auto ex = get_time(j, "execute_at");
  if (!ex) return ex.error();
  job.execute_at = *ex;
  auto exp = get_time(j, "expires_at");
  if (!exp) return exp.error();
  job.expires_at = j_expires_override ? j_expires_override : *exp;
  if (job.expires_at && *job.expires_at <= now) return bad_input("expires_at is in the past");
  if (job.expires_at && *job.expires_at <= job.not_before) {
    return bad_input("expires_at must be after not_before");
  }
  if (job.execute_at && job.expires_at && *job.execute_at >= *job.expires_at) {
    return bad_input("execute_at must be before expires_at");
  }
  return job;
}

Json to_json(const Job& j) {
  std::string data_type;
  if (j.kind == JobKind::kCollect) {
    for (const auto& d : j.params.value("data_sets", Json::array())) {
      if (!d.is_string()) continue;  // parse_job (a parent relay's job) does not check params
      if (!data_type.empty()) data_type += ",";
      data_type += d.get<std::string>();
    }
  } else if (j.kind == JobKind::kConfigure) {
    const Json settings = j.params.value("settings", Json::object());
    for (const auto& [k, v] : settings.items()) {
      if (!data_type.empty()) data_type += ",";
      data_type += k;
    }
  } else if (j.kind == JobKind::kSchedule) {
    data_type = "poll_policy";
  }
  return {{"id", j.id},
          {"serial", j.serial},
          {"kind", to_string(j.kind)},
          {"data_type", data_type},
          {"params", j.params},
          {"state", to_string(j.state)},
          {"instructing_user", j.instructing_user},
          {"managing_relay", j.managing_relay},
          {"created_at", format_time(j.created_at)},
          {"not_before", format_time(j.not_before)},
          {"execute_at", opt_time(j.execute_at)},
          {"expires_at", opt_time(j.expires_at)},
          {"executed_at", opt_time(j.executed_at)},
          {"updated_at", format_time(j.updated_at)},
          {"acknowledged", j.acknowledged},
          {"result", j.result}};
}

Result<Job> parse_job(const Json& j) {
  if (!j.is_object()) return bad_input("a job must be an object");
  Job job;
  auto id = get_string(j, "id", true, kMaxIdLength);
  if (!id) return id.error();
  job.id = *id;
  auto serial = get_string(j, "serial", true, kMaxIdLength);
  if (!serial) return serial.error();
  job.serial = *serial;
  auto kind = job_kind_from(text_field(j, "kind"));
  if (!kind) return bad_input("unknown job kind");
  job.kind = *kind;
  job.params = j.contains("params") && j["params"].is_object() ? j["params"] : Json::object();
  auto st = job_state_from(text_field(j, "state", "waiting"));
  if (!st) return bad_input("unknown job state");
  job.state = *st;
  job.instructing_user = text_field(j, "instructing_user");
  job.managing_relay = text_field(j, "managing_relay");
  auto nb = get_time(j, "not_before");
  if (!nb) return nb.error();
  job.not_before = nb->value_or(0);
  auto ex = get_time(j, "execute_at");
  if (!ex) return ex.error();
  job.execute_at = *ex;
  auto exp = get_time(j, "expires_at");
  if (!exp) return exp.error();
  job.expires_at = *exp;
  auto cr = get_time(j, "created_at");
  if (!cr) return cr.error();
  job.created_at = cr->value_or(0);
  return job;
}

Json to_json(const JobTransition& t) {
  return {{"job_id", t.job_id},
          {"at", format_time(t.at)},
          {"from", to_string(t.from)},
          {"to", to_string(t.to)},
          {"cause", t.cause}};
}

Result<JobEvent> parse_job_event(const Json& j, const std::string& job_id) {
  if (!j.is_object()) return bad_input("a job event must be an object");
  JobEvent e;
  e.job_id = job_id;
  auto id = get_string(j, "event_id", true, kMaxIdLength);
  if (!id) return id.error();
  if (!is_valid_id(*id)) return bad_input("event_id must be 1-64 characters of [A-Za-z0-9._:-]");
  e.event_id = *id;
  auto type = get_string(j, "type", true, 16);
  if (!type) return type.error();
  auto t = job_event_type_from(*type);
  if (!t) {
    return bad_input(
        "event type must be acquired, started, progress, deferred, succeeded or failed");
  }
  e.type = *t;
  auto at = get_time(j, "at");
  if (!at) return at.error();
  e.at = at->value_or(0);
  auto reason = get_string(j, "reason", false, 1024);
  if (!reason) return reason.error();
  e.reason = *reason;
  if (e.type == JobEventType::kFailed && e.reason.empty()) {
    return bad_input("a failed event needs a 'reason'");
  }
  if (auto it = j.find("detail"); it != j.end()) {
    if (!it->is_object()) return bad_input("field 'detail' must be an object");
    if (it->dump().size() > kMaxReportBodyBytes) {
      return Error{ErrorKind::kTooLarge, "event detail is too large"};
    }
    e.detail = *it;
  }
  return e;
}

Json to_json(const JobEvent& e) {
  Json j = {{"event_id", e.event_id}, {"type", to_string(e.type)}, {"detail", e.detail}};
  if (e.at) j["at"] = format_time(e.at);
  if (!e.reason.empty()) j["reason"] = e.reason;
  return j;
}

Result<Registration> parse_registration(const Json& j) {
  if (!j.is_object()) return bad_input("a registration must be an object");
  Registration r;
  auto serial = get_string(j, "serial", true, kMaxIdLength);
  if (!serial) return serial.error();
  if (!is_valid_id(*serial)) return bad_input("serial must be 1-64 characters of [A-Za-z0-9._:-]");
  r.serial = *serial;
  auto model = get_string(j, "model", true, 128);
  if (!model) return model.error();
  if (model->empty()) return bad_input("model must not be empty");
  r.model = *model;
  for (auto [key, field] : {std::pair{"place", &r.place}, std::pair{"customer", &r.customer},
                            std::pair{"contact", &r.contact}}) {
    auto v = get_string(j, key, false, 256);
    if (!v) return v.error();
    *field = *v;
  }
  return r;
}

Json to_json(const Registration& r) {
  return {{"serial", r.serial},   {"model", r.model},
          {"place", r.place},     {"customer", r.customer},
          {"contact", r.contact}, {"created_at", format_time(r.created_at)}};
}

Json to_json(const Device& d) {
  return {{"serial", d.serial},
          {"model", d.model},
          {"enrolled_at", format_time(d.enrolled_at)},
          {"last_seen", d.last_seen ? Json(format_time(d.last_seen)) : Json()},
          {"state", d.state},
          {"firmware", d.firmware}};
}

Json to_json(const Alert& a) {
  return {{"id", a.id},
          {"serial", a.serial},
          {"report_id", a.report_id},
          {"code", a.code},
          {"type", a.type},
          {"urgency", to_string(a.urgency)},
          {"message", a.message},
          {"raised_at", format_time(a.raised_at)},
          {"open", a.open},
          {"acknowledged_at", opt_time(a.acknowledged_at)},
          {"acknowledged_by", a.acknowledged_by}};
}

Json error_json(const Error& e) {
  // Messages may quote outside text: never let them make the answer unwritable.
  return {{"error", {{"code", error_code(e.kind)}, {"message", valid_utf8(e.message)}}}};
}

std::string customers_text(const AdminCredential& c) { return Json(c.customers).dump(); }

std::vector<std::string> customers_from(std::string_view text) {
  auto j = parse_json(text);
  std::vector<std::string> out;
  if (!j || !j->is_array()) return out;
  for (const auto& v : *j) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace printrelay
