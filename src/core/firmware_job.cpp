#include "core/firmware_job.h"

#include <algorithm>
#include <set>

#include "core/artifact.h"
#include "core/codec.h"
#include "core/json_fields.h"
#include "core/json_text.h"

namespace printrelay {
namespace {

bool is_hex_of(std::string_view s, std::size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

}  // namespace

// ---------------- envelopes ----------------

Result<std::string> envelope_text(const JobEnvelope& e) {
  Json j = {{"v", 1},
            {"id", e.id},
            {"serial", e.serial},
            {"kind", to_string(e.kind)},
            {"params", e.params},
            {"expires_at", e.expires_at ? Json(format_time(*e.expires_at)) : Json(nullptr)},
            {"key_id", e.key_id},
            {"signed_at", format_time(e.signed_at)}};
  std::string text = j.dump();
  auto back = parse_envelope_text(text);
  if (!back) return back.error();
  return text;
}

Result<JobEnvelope> parse_envelope_text(std::string_view text) {
  if (text.size() > kMaxEnvelopeTextBytes) return bad_input("envelope text is too large");
  auto parsed = parse_json(text);
  if (!parsed) return bad_input("envelope text: " + parsed.error().message);
  const Json j = std::move(*parsed);
  if (!j.is_object()) return bad_input("envelope text is not a JSON object");
  if (j.dump() != text) return bad_input("envelope text is not canonical (sorted keys, no spaces)");
  if (auto st = check_fields(
          j, "envelope",
          {"v", "id", "serial", "kind", "params", "expires_at", "key_id", "signed_at"});
      !st) {
    return st.error();
  }
  if (j.value("v", Json()) != Json(1)) return bad_input("envelope version must be 1");
  JobEnvelope e;
  e.id = text_field(j, "id");
  if (e.id.size() < 16 || !is_valid_id(e.id)) {
    return bad_input("envelope id must be 16-64 characters of [A-Za-z0-9._:-]");
  }
  e.serial = text_field(j, "serial");
  if (e.serial != kAnyDevice && !is_valid_id(e.serial))
    return bad_input("envelope serial is not a valid serial");
  auto kind = job_kind_from(text_field(j, "kind"));
  if (!kind) return bad_input("envelope kind is not a job kind");
  e.kind = *kind;
  if (e.serial == kAnyDevice &&
      (e.kind != JobKind::kFirmware || j.value("expires_at", Json()).is_null()))
    return bad_input("a standing authorisation (serial *) must be a firmware job with an expiry");
  if (!j.contains("params") || !j["params"].is_object()) {
    return bad_input("envelope params must be an object");
  }
  e.params = j["params"];
  if (e.params.contains("envelope")) return bad_input("envelope params may not hold an envelope");
  if (e.serial == kAnyDevice && e.params.value("allow_downgrade", Json()) == Json(true)) {
    return bad_input("a standing authorisation (serial *) may not allow a downgrade");
  }
  const Json& exp = j.value("expires_at", Json());
  if (!exp.is_null()) {
    if (!exp.is_string()) return bad_input("envelope expires_at must be a time or null");
    auto t = parse_time(exp.get<std::string>());
    if (!t) return bad_input("envelope expires_at: " + t.error().message);
    e.expires_at = *t;
  }
  e.key_id = text_field(j, "key_id");
  if (!is_key_id(e.key_id)) return bad_input("envelope key_id must be 16 lower-case hex digits");
  auto signed_at = parse_time(text_field(j, "signed_at"));
  if (!signed_at) return bad_input("envelope signed_at: " + signed_at.error().message);
  e.signed_at = *signed_at;
  return e;
}

Result<SignedEnvelope> envelope_of(const Json& params) {
  if (!params.is_object() || !params.contains("envelope")) {
    return not_found("the job is not signed (no envelope)");
  }
  const Json& env = params["envelope"];
  if (!env.is_object() || !env.contains("text") || !env["text"].is_string() ||
      !env.contains("signature") || !env["signature"].is_string() || env.size() != 2) {
    return bad_input("params.envelope must be {\"text\", \"signature\"}");
  }
  SignedEnvelope s{env["text"].get<std::string>(), env["signature"].get<std::string>()};
  if (!is_hex_of(s.signature, 128)) {
    return bad_input("params.envelope.signature must be 128 lower-case hex digits");
  }
  return s;
}

Json params_without_envelope(const Json& params) {
  Json p = params.is_object() ? params : Json::object();
  p.erase("envelope");
  return p;
}

Result<Json> check_envelope_for(const JobEnvelope& e, const std::string& serial, JobKind kind) {
  if (e.serial != serial && e.serial != kAnyDevice) {
    return forbidden("the signed envelope is for device " + e.serial + ", not " + serial);
  }
  if (e.kind != kind) {
    return forbidden(std::string("the signed envelope is a ") + to_string(e.kind) + " job, not " +
                     to_string(kind));
  }
  return e.params;
}

Status check_envelope_expiry(const JobEnvelope& e, TimeMs now) {
  if (!e.expires_at) {
    return forbidden(
        "the signed job has no expiry (expires_at): this device runs only signed jobs that expire");
  }
  if (*e.expires_at <= now) return forbidden("the signed job has expired");
  if (*e.expires_at - now > kMaxEnvelopeLifetimeMs) {
    return forbidden("the signed job expires " + format_time(*e.expires_at) +
                     ", more than 400 days ahead: refused");
  }
  return ok_status();
}

// ---------------- firmware params ----------------

Result<FirmwareJobSpec> parse_firmware_params(const Json& params) {
  if (!params.is_object()) return bad_input("firmware params must be an object");
  if (auto st = check_fields(params, "firmware params",
                             {"components", "update_at", "forbidden_windows", "deferral",
                              "max_attempts", "campaign", "write_estimate_s", "allow_downgrade"});
      !st) {
    return st.error();
  }
  FirmwareJobSpec spec;
  const Json& comps = params.value("components", Json());
  if (!comps.is_array() || comps.empty() || comps.size() > 16) {
    return bad_input("firmware needs params.components: 1-16 of {component, version, artifact}");
  }
  std::set<std::string> seen;
  for (const auto& c : comps) {
    if (!c.is_object()) return bad_input("each firmware component must be an object");
    if (auto st =
            check_fields(c, "a firmware component", {"component", "version", "artifact", "size"});
        !st) {
      return st.error();
    }
    FirmwareComponent fc;
    fc.component = text_field(c, "component");
    fc.version = text_field(c, "version");
    fc.artifact = text_field(c, "artifact");
    if (fc.component.empty() || fc.component.size() > 64 || !is_printable(fc.component)) {
      return bad_input("component names must be 1-64 printable characters");
    }
    if (fc.version.empty() || fc.version.size() > 64 || !is_printable(fc.version)) {
      return bad_input("component '" + fc.component +
                       "': version must be 1-64 printable characters");
    }
    if (!is_sha256_hex(fc.artifact)) {
      return bad_input("component '" + fc.component + "': artifact must be a sha256 (64 hex)");
    }
    if (c.contains("size")) {
      if (!c["size"].is_number_integer() || c["size"].get<std::int64_t>() < 0) {
        return bad_input("component '" + fc.component + "': size must be an integer >= 0");
      }
      fc.size = c["size"].get<std::int64_t>();
    }
    if (!seen.insert(fc.component).second) {
      return bad_input("component '" + fc.component + "' is listed twice");
    }
    spec.components.push_back(std::move(fc));
  }
  if (params.contains("update_at") && !params["update_at"].is_null()) {
    if (!params["update_at"].is_string()) return bad_input("update_at must be a time");
    auto t = parse_time(params["update_at"].get<std::string>());
    if (!t) return bad_input("update_at: " + t.error().message);
    spec.update_at = *t;
  }
  if (params.contains("forbidden_windows")) {
    auto w = parse_forbidden_windows(params["forbidden_windows"]);
    if (!w) return bad_input("forbidden_windows: " + w.error().message);
    spec.forbidden_windows = std::move(*w);
  }
  if (params.contains("deferral")) {
    auto d = parse_deferral_policy(params["deferral"]);
    if (!d) return bad_input("deferral: " + d.error().message);
    spec.deferral = *d;
  }
  if (params.contains("max_attempts")) {
    const Json& m = params["max_attempts"];
    if (!m.is_number_integer() || m.get<std::int64_t>() < 1 || m.get<std::int64_t>() > 10) {
      return bad_input("max_attempts must be an integer 1-10");
    }
    spec.max_attempts = m.get<int>();
  }
  if (params.contains("campaign")) {
    if (!params["campaign"].is_string() || !is_valid_id(params["campaign"].get<std::string>())) {
      return bad_input("campaign must be a campaign id");
    }
    spec.campaign = params["campaign"].get<std::string>();
  }
  if (params.contains("write_estimate_s")) {
    const Json& w = params["write_estimate_s"];
    if (!w.is_number_integer() || w.get<std::int64_t>() < 1 || w.get<std::int64_t>() > 86400) {
      return bad_input("write_estimate_s must be an integer 1-86400");
    }
    spec.write_estimate_s = w.get<int>();
  }
  if (params.contains("allow_downgrade")) {
    if (!params["allow_downgrade"].is_boolean())
      return bad_input("allow_downgrade must be a boolean");
    spec.allow_downgrade = params["allow_downgrade"].get<bool>();
  }
  return spec;
}

Json to_json(const FirmwareJobSpec& spec) {
  Json comps = Json::array();
  for (const auto& c : spec.components) {
    comps.push_back({{"component", c.component},
                     {"version", c.version},
                     {"artifact", c.artifact},
                     {"size", c.size}});
  }
  Json j = {{"components", comps},
            {"deferral", to_json(spec.deferral)},
            {"max_attempts", spec.max_attempts},
            {"write_estimate_s", spec.write_estimate_s}};
  if (spec.update_at) j["update_at"] = format_time(*spec.update_at);
  if (!spec.forbidden_windows.empty()) {
    Json w = Json::array();
    for (const auto& x : spec.forbidden_windows) w.push_back(to_json(x));
    j["forbidden_windows"] = w;
  }
  if (!spec.campaign.empty()) j["campaign"] = spec.campaign;
  if (spec.allow_downgrade) j["allow_downgrade"] = true;
  return j;
}

Result<UpdateTimeMove> planned_update_time(const FirmwareJobSpec& spec, TimeMs ready_at) {
  const TimeMs wanted = spec.update_at ? std::max(*spec.update_at, ready_at) : ready_at;
  if (spec.forbidden_windows.empty()) return UpdateTimeMove{wanted, wanted, {}, {}};
  return plan_update_time(spec.forbidden_windows, wanted);
}

Status check_not_downgrade(const FirmwareJobSpec& spec, const Json& installed) {
  if (spec.allow_downgrade || !installed.is_object()) return ok_status();
  for (const auto& c : spec.components) {
    auto it = installed.find(c.component);
    if (it == installed.end() || !it->is_string()) continue;
    const std::string running = it->get<std::string>();
    if (compare_versions(c.version, running) < 0) {
      return forbidden("refusing to downgrade " + c.component + " from " + running + " to " +
                       c.version + " (the signed job does not say allow_downgrade)");
    }
  }
  return ok_status();
}

int compare_versions(std::string_view a, std::string_view b) {
  auto next = [](std::string_view& s) {
    auto dot = s.find('.');
    std::string_view part = s.substr(0, dot);
    s = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
    return part;
  };
  auto numeric = [](std::string_view p) {
    return !p.empty() && p.size() < 18 &&
           std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  while (!a.empty() || !b.empty()) {
    std::string_view pa = next(a), pb = next(b);
    if (pa.empty()) pa = "0";
    if (pb.empty()) pb = "0";
    int c = 0;
    if (numeric(pa) && numeric(pb)) {
      long long x = std::stoll(std::string(pa)), y = std::stoll(std::string(pb));
      c = x < y ? -1 : x > y ? 1 : 0;
    } else {
      c = pa.compare(pb);
      c = c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (c != 0) return c;
  }
  return 0;
}

}  // namespace printrelay
