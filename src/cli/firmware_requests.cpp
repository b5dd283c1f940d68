#include "cli/firmware_requests.h"

#include <map>
#include <set>

#include "core/artifact.h"
#include "core/codec.h"
#include "core/firmware_job.h"
#include "core/firmware_rules.h"
#include "core/time.h"

namespace printrelay::cli {
namespace {

constexpr int kMaxExpiryH = 366 * 24;

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

Status check_range(const std::optional<int>& v, int lo, int hi, const char* flag) {
  if (!v || (*v >= lo && *v <= hi)) return ok_status();
  return bad_input(std::string(flag) + " must be " + std::to_string(lo) + "-" + std::to_string(hi) +
                   ", not " + std::to_string(*v));
}

// Sets body[key] to the wire form of an input time; nothing when `text` is empty.
Status add_time(Json& body, const char* key, const char* flag, const std::string& text,
                TimeMs now) {
  if (text.empty()) return ok_status();
  auto wire = parse_time_input(text, now);
  if (!wire) return bad_input(std::string(flag) + ": " + wire.error().message);
  body[key] = *wire;
  return ok_status();
}

Status check_artifact_list(const std::vector<std::string>& artifacts) {
  if (artifacts.empty()) return bad_input("--artifact is required (the sha256 of a pushed image)");
  if (artifacts.size() > 16) return bad_input("at most 16 --artifact (one per component)");
  std::set<std::string> seen;
  for (const auto& sha : artifacts) {
    if (!is_sha256_hex(sha)) {
      return bad_input(
          "--artifact must be an image's sha256 (64 lower-case hex, see relayctl "
          "artifact list): '" +
          sha + "'");
    }
    if (!seen.insert(sha).second) return bad_input("--artifact " + sha + " is given twice");
  }
  return ok_status();
}

// The schedule and limits shared by single jobs and campaigns, as job-params keys.
Status add_limits(Json& body, const std::vector<std::string>& forbid, int utc_offset_min,
                  const DeferralArgs& deferral, const std::optional<int>& max_attempts,
                  const std::optional<int>& write_estimate_s) {
  if (!forbid.empty()) {
    auto windows = forbidden_windows_json(forbid, utc_offset_min);
    if (!windows) return windows.error();
    body["forbidden_windows"] = *windows;
  }
  auto d = deferral_json(deferral);
  if (!d) return d.error();
  if (*d) body["deferral"] = **d;
  if (auto s = check_range(max_attempts, 1, 10, "--max-attempts"); !s) return s;
  if (max_attempts) body["max_attempts"] = *max_attempts;
  if (auto s = check_range(write_estimate_s, 1, 86400, "--write-estimate-s"); !s) return s;
  if (write_estimate_s) body["write_estimate_s"] = *write_estimate_s;
  return ok_status();
}

Status check_utc_offset(int utc_offset_min) {
  if (utc_offset_min >= kMinUtcOffsetMin && utc_offset_min <= kMaxUtcOffsetMin) return ok_status();
  return bad_input("--utc-offset-min must be " + std::to_string(kMinUtcOffsetMin) + ".." +
                   std::to_string(kMaxUtcOffsetMin) + " (minutes east of UTC, e.g. 60 for CET)");
}

}  // namespace

Result<std::optional<Json>> deferral_json(const DeferralArgs& a) {
  Json d = Json::object();
  if (auto s = check_range(a.max_count, 0, 100, "--max-deferrals"); !s) return s.error();
  if (a.max_count) d["max_count"] = *a.max_count;
  if (auto s = check_range(a.max_period_s, 0, 2'592'000, "--max-deferral-period-s"); !s) {
    return s.error();
  }
  if (a.max_period_s) d["max_period_s"] = *a.max_period_s;
  if (auto s = check_range(a.step_s, 1, 604'800, "--deferral-step-s"); !s) return s.error();
  if (a.step_s) d["step_s"] = *a.step_s;
  if (!a.when_exhausted.empty()) {
    if (a.when_exhausted != "proceed" && a.when_exhausted != "fail") {
      return bad_input("--when-deferral-exhausted must be proceed or fail");
    }
    d["when_exhausted"] = a.when_exhausted;
  }
  if (d.empty()) return std::optional<Json>();
  if (auto p = parse_deferral_policy(d); !p) return bad_input("deferral: " + p.error().message);
  return std::optional<Json>(std::move(d));
}

Result<Json> forbidden_windows_json(const std::vector<std::string>& texts, int utc_offset_min) {
  if (auto s = check_utc_offset(utc_offset_min); !s) return s.error();
  if (texts.size() > kMaxForbiddenWindows) {
    return bad_input("at most " + std::to_string(kMaxForbiddenWindows) + " --forbid windows");
  }
  Json out = Json::array();
  for (const auto& text : texts) {
    auto w = parse_forbidden_window_text(trim(text), utc_offset_min);
    if (!w) return bad_input("--forbid: " + w.error().message);
    out.push_back(utc_offset_min == 0 ? Json(to_text(*w)) : printrelay::to_json(*w));
  }
  if (auto all = parse_forbidden_windows(out); !all) {
    return bad_input("--forbid: " + all.error().message);
  }
  return out;
}

Result<std::map<std::string, std::string>> parse_component_versions(
    const std::vector<std::string>& items, const char* flag, const char* meaning) {
  std::map<std::string, std::string> versions;
  for (const auto& cv : items) {
    auto eq = cv.find('=');
    const std::string comp = trim(cv.substr(0, eq == std::string::npos ? 0 : eq));
    const std::string ver = eq == std::string::npos ? "" : trim(cv.substr(eq + 1));
    if (comp.empty() || ver.empty()) {
      return bad_input(std::string(flag) + " must look like main=1.0.3 (" + meaning + "): '" + cv +
                       "'");
    }
    if (!versions.emplace(comp, ver).second) {
      return bad_input(std::string(flag) + " " + comp + " is given twice");
    }
  }
  return versions;
}

Result<std::string> expiry_input(const std::string& expires_at, std::optional<int> expires_in_h,
                                 TimeMs now) {
  if (!expires_at.empty() && expires_in_h) {
    return bad_input("give --expires-at or --expires-in-h, not both");
  }
  if (!expires_at.empty()) {
    auto wire = parse_time_input(expires_at, now);
    if (!wire) return bad_input("--expires-at: " + wire.error().message);
    if (*parse_time(*wire) <= now) return bad_input("--expires-at is in the past");
    return wire;
  }
  const int hours = expires_in_h.value_or(kDefaultFirmwareExpiryH);
  if (hours < 1 || hours > kMaxExpiryH) {
    return bad_input("--expires-in-h must be 1-" + std::to_string(kMaxExpiryH));
  }
  return format_time(now + TimeMs(hours) * 3'600'000);
}

Status check_firmware_job_args(const FirmwareJobArgs& a, TimeMs now) {
  if (a.serial.empty()) return bad_input("--serial is required");
  if (!is_valid_id(a.serial)) {
    return bad_input("--serial must be 1-64 characters of [A-Za-z0-9._:-]: '" + a.serial + "'");
  }
  if (auto s = check_artifact_list(a.artifacts); !s) return s;
  Json scratch = Json::object();
  if (auto s = add_time(scratch, "update_at", "--update-at", a.update_at, now); !s) return s;
  if (auto s = add_time(scratch, "not_before", "--not-before", a.not_before, now); !s) return s;
  if (auto s = add_limits(scratch, a.forbid, a.utc_offset_min, a.deferral, a.max_attempts,
                          a.write_estimate_s);
      !s) {
    return s;
  }
  if (auto e = expiry_input(a.expires_at, a.expires_in_h, now); !e) return e.error();
  return ok_status();
}

Result<Json> firmware_components(const std::vector<std::string>& artifacts,
                                 const std::vector<Json>& manifests) {
  if (artifacts.size() != manifests.size()) return bad_input("one manifest per --artifact");
  Json components = Json::array();
  std::set<std::string> seen;
  std::string model;
  for (std::size_t i = 0; i < artifacts.size(); ++i) {
    const Json& m = manifests[i];
    const std::string short_sha = artifacts[i].substr(0, 12);
    if (!m.is_object() || text_field(m, "sha256") != artifacts[i]) {
      return bad_input("the relay's manifest for " + short_sha + " names another image");
    }
    if (text_field(m, "kind") != kArtifactKindFirmware) {
      return bad_input("artifact " + short_sha + " is a " + text_field(m, "kind", "?") +
                       " artifact, not a firmware image");
    }
    const std::string component = text_field(m, "component");
    const std::string version = text_field(m, "version");
    const Json size = m.value("size", Json());
    if (component.empty() || version.empty() || !size.is_number_integer()) {
      return bad_input("the manifest of " + short_sha + " lacks its component, version or size");
    }
    if (!seen.insert(component).second) {
      return bad_input("two images for component " + component + " (one --artifact per component)");
    }
    const std::string image_model = text_field(m, "model");
    if (i > 0 && image_model != model) {
      return bad_input("the images are for different models (" + model + ", " + image_model + ")");
    }
    model = image_model;
    components.push_back({{"component", component},
                          {"version", version},
                          {"artifact", artifacts[i]},
                          {"size", size.get<std::int64_t>()}});
  }
  return components;
}

Result<Json> firmware_job_params(const FirmwareJobArgs& a, const std::vector<Json>& manifests,
                                 TimeMs now) {
  if (auto s = check_firmware_job_args(a, now); !s) return s.error();
  auto components = firmware_components(a.artifacts, manifests);
  if (!components) return components.error();
  Json params = {{"components", *components}};
  if (a.allow_downgrade) params["allow_downgrade"] = true;
  if (auto s = add_time(params, "update_at", "--update-at", a.update_at, now); !s) return s.error();
  if (auto s = add_limits(params, a.forbid, a.utc_offset_min, a.deferral, a.max_attempts,
                          a.write_estimate_s);
      !s) {
    return s.error();
  }
  auto spec = parse_firmware_params(params);
  if (!spec) return bad_input("firmware params: " + spec.error().message);
  return printrelay::to_json(*spec);
}

Result<ApiCall> firmware_job_call(const FirmwareJobArgs& a, const std::vector<Json>& manifests,
                                  TimeMs now) {
  auto params = firmware_job_params(a, manifests, now);
  if (!params) return params.error();
  auto expires = expiry_input(a.expires_at, a.expires_in_h, now);
  if (!expires) return expires.error();
  Json body = {{"serial", a.serial},
               {"kind", "firmware"},
               {"params", std::move(*params)},
               {"expires_at", *expires}};
  if (auto s = add_time(body, "not_before", "--not-before", a.not_before, now); !s) {
    return s.error();
  }
  return ApiCall{"POST", "/v1/jobs", std::move(body)};
}

SerialsFile parse_serials_file(std::string_view text) {
  SerialsFile out;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // spreadsheet BOM
  std::map<std::string, int> first_line;
  int line = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    ++line;
    auto end = text.find('\n', pos);
    std::string_view raw = text.substr(pos, end == std::string_view::npos ? text.npos : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    if (auto hash = raw.find('#'); hash != std::string_view::npos) raw = raw.substr(0, hash);
    const std::string serial = trim(raw);
    if (serial.empty()) continue;
    const std::string where = "line " + std::to_string(line) + ": ";
    if (!is_valid_id(serial)) {
      out.problems.push_back(where + "'" + serial.substr(0, 80) +
                             "' is not a serial (1-64 characters of [A-Za-z0-9._:-], one per "
                             "line)");
      continue;
    }
    auto [it, fresh] = first_line.emplace(serial, line);
    if (!fresh) {
      out.duplicates.push_back(where + serial + " repeats line " + std::to_string(it->second));
      continue;
    }
    out.serials.push_back(serial);
  }
  if (out.serials.empty() && out.problems.empty()) out.problems.push_back("no serials in the file");
  return out;
}

Result<Json> campaign_body(const CampaignArgs& a, const std::vector<std::string>& file_serials,
                           TimeMs now) {
  if (a.name.size() > 200) return bad_input("--name is longer than 200 characters");
  Json select = Json::object();
  if (!a.model.empty()) select["model"] = a.model;
  auto versions = parse_component_versions(a.versions, "--version", "component=current version");
  if (!versions) return versions.error();
  if (!versions->empty()) select["versions"] = *versions;
  std::vector<std::string> serials;
  std::set<std::string> seen;
  for (const auto* list : {&a.serials, &file_serials}) {
    for (const auto& s : *list) {
      if (!is_valid_id(s)) {
        return bad_input("--serial must be 1-64 characters of [A-Za-z0-9._:-]: '" + s + "'");
      }
      if (seen.insert(s).second) serials.push_back(s);
    }
  }
  if (!serials.empty()) select["serials"] = serials;
  if (a.model.empty() && serials.empty()) {
    return bad_input("choose the devices with --model, --serial or --serials-file");
  }
  if (auto s = check_artifact_list(a.artifacts); !s) return s.error();
  Json components = Json::array();
  for (const auto& sha : a.artifacts) components.push_back({{"artifact", sha}});

  Json body = {{"select", select}, {"components", components}};
  if (!a.name.empty()) body["name"] = a.name;
  if (!a.waves.empty()) {
    Json waves = Json::array();
    for (std::size_t i = 0; i < a.waves.size(); ++i) {
      const std::string w = trim(a.waves[i]);
      auto size = parse_wave_size(std::string_view(w));
      if (!size) return bad_input("--wave '" + a.waves[i] + "': " + size.error().message);
      if (size->kind == WaveSize::Kind::kRest && i + 1 != a.waves.size()) {
        return bad_input("--wave rest must be the last wave");
      }
      waves.push_back(w);
    }
    body["waves"] = waves;
  }
  if (!a.failure_threshold.empty()) {
    const std::string t = trim(a.failure_threshold);
    if (auto th = parse_failure_threshold(Json(t)); !th) {
      return bad_input("--failure-threshold '" + a.failure_threshold + "': " + th.error().message +
                       " (e.g. 5% or 3)");
    }
    body["failure_threshold"] = t;
  }
  if (auto s = add_time(body, "transmit_at", "--transmit-at", a.transmit_at, now); !s) {
    return s.error();
  }
  if (auto s = add_time(body, "update_at", "--update-at", a.update_at, now); !s) return s.error();
  auto expires = expiry_input(a.expires_at, a.expires_in_h, now);
  if (!expires) return expires.error();
  body["expires_at"] = *expires;
  if (a.utc_offset_min && a.forbid.empty()) {
    return bad_input("--utc-offset-min is the offset of the --forbid windows; give some");
  }
  if (auto s = add_limits(body, a.forbid, a.utc_offset_min.value_or(0), a.deferral, a.max_attempts,
                          a.write_estimate_s);
      !s) {
    return s.error();
  }
  if (a.offline_after_s) {
    if (*a.offline_after_s < 60) return bad_input("--offline-after-s must be at least 60");
    body["offline_after_s"] = *a.offline_after_s;
  }
  return body;
}

Result<Json> sign_campaign_envelopes(
    const Json& plan, const JobSigner& signer, TimeMs now,
    const std::function<void(std::size_t, std::size_t)>& progress) {
  if (!plan.is_object() || !plan.contains("targets") || !plan["targets"].is_array() ||
      !plan.contains("job_params") || !plan["job_params"].is_object()) {
    return bad_input("the relay's plan has no targets or job_params");
  }
  const Json& targets = plan["targets"];
  const Json& params = plan["job_params"];
  auto expires = parse_time(text_field(plan, "expires_at"));
  if (!expires) return bad_input("the relay's plan has no valid expires_at");
  Json envelopes = Json::object();
  const std::size_t total = targets.size();
  for (std::size_t i = 0; i < total; ++i) {
    const std::string serial = text_field(targets[i], "serial");
    auto env = signer.sign(serial, JobKind::kFirmware, params, *expires, now);
    if (!env) return bad_input("target '" + serial + "': " + env.error().message);
    envelopes[serial] = envelope_json(*env);
    if (progress) progress(i + 1, total);
  }
  return envelopes;
}

// ---------------- standing auto-update authorisations ----------------

namespace {

// The component versions an auto_updates entry authorises, read from its signed text; nullopt
// when the entry is not a readable authorisation.
std::optional<std::map<std::string, std::string>> entry_versions(const Json& entry,
                                                                 JobEnvelope* parsed = nullptr) {
  if (!entry.is_object()) return std::nullopt;
  auto signed_env = envelope_of(Json{{"envelope", entry.value("envelope", Json())}});
  if (!signed_env) return std::nullopt;
  auto env = parse_envelope_text(signed_env->text);
  if (!env) return std::nullopt;
  auto spec = parse_firmware_params(env->params);
  if (!spec) return std::nullopt;
  std::map<std::string, std::string> versions;
  for (const auto& c : spec->components) versions[c.component] = c.version;
  if (parsed) *parsed = std::move(*env);
  return versions;
}

}  // namespace

std::string versions_text(const std::map<std::string, std::string>& versions) {
  std::string text;
  for (const auto& [component, version] : versions) {
    text += (text.empty() ? "" : ", ") + component + "=" + version;
  }
  return text;
}

Result<std::map<std::string, std::string>> authorisation_versions(
    const std::string& model, const std::vector<std::string>& components) {
  if (model.empty()) return bad_input("--model is required");
  if (!is_valid_id(model)) {
    return bad_input("--model must be 1-64 characters of [A-Za-z0-9._:-]: '" + model + "'");
  }
  if (components.empty()) {
    return bad_input("--component is required: main=2.0.0 (component=version to install)");
  }
  if (components.size() > 16) return bad_input("at most 16 --component");
  return parse_component_versions(components, "--component", "component=version to install");
}

Status check_authorisation_days(int days) {
  if (days >= 1 && days <= kMaxAuthorisationDays) return ok_status();
  return bad_input("--expires-days must be 1-" + std::to_string(kMaxAuthorisationDays) + ", not " +
                   std::to_string(days));
}

Result<std::vector<Json>> find_firmware_images(const Json& artifacts, const std::string& model,
                                               const std::map<std::string, std::string>& versions) {
  std::vector<Json> images;
  for (const auto& [component, version] : versions) {
    std::vector<Json> found;
    std::set<std::string> pushed;  // the component's other versions, for the message
    if (artifacts.is_array()) {
      for (const auto& a : artifacts) {
        if (!a.is_object() || text_field(a, "kind") != kArtifactKindFirmware ||
            text_field(a, "model") != model || text_field(a, "component") != component) {
          continue;
        }
        if (text_field(a, "version") == version) {
          found.push_back(a);
        } else {
          pushed.insert(text_field(a, "version"));
        }
      }
    }
    const std::string what = model + " " + component + " " + version;
    if (found.empty()) {
      std::string known;
      for (const auto& v : pushed) known += (known.empty() ? "" : ", ") + v;
      return bad_input("no firmware image of " + what + " on the relay (" +
                       (known.empty() ? "none of " + model + " " + component
                                      : component + " versions pushed: " + known) +
                       "; see relayctl artifact list)");
    }
    if (found.size() > 1) {
      std::string shas;
      for (const auto& f : found) {
        shas += (shas.empty() ? "" : ", ") + text_field(f, "sha256").substr(0, 12);
      }
      return bad_input("several firmware images of " + what + " on the relay (" + shas +
                       "): an authorisation names exactly one image per component");
    }
    images.push_back(std::move(found.front()));
  }
  return images;
}

Result<Json> sign_authorisation(const std::string& model, const std::vector<Json>& images, int days,
                                const JobSigner& signer, TimeMs now) {
  if (auto s = check_authorisation_days(days); !s) return s.error();
  std::vector<std::string> shas;
  for (const auto& m : images) shas.push_back(text_field(m, "sha256"));
  auto components = firmware_components(shas, images);
  if (!components) return components.error();
  if (!images.empty() && text_field(images.front(), "model") != model) {
    return bad_input("the images are for " + text_field(images.front(), "model") + ", not " +
                     model);
  }
  auto spec = parse_firmware_params(Json{{"components", *components}});
  if (!spec) return bad_input("firmware params: " + spec.error().message);
  const TimeMs expires_at = now + TimeMs(days) * 86'400'000;
  auto env =
      signer.sign(kAnyDevice, JobKind::kFirmware, printrelay::to_json(*spec), expires_at, now);
  if (!env) return env.error();
  return Json{{"model", model}, {"envelope", envelope_json(*env)}};
}

Json authorisation_rows(const Json& auto_updates, TimeMs now) {
  Json rows = Json::array();
  if (!auto_updates.is_array()) return rows;
  for (const auto& entry : auto_updates) {
    const std::string model = entry.is_object() ? text_field(entry, "model") : "";
    JobEnvelope env;
    auto versions = entry_versions(entry, &env);
    if (!versions) {
      rows.push_back({{"model", model}, {"problem", "the envelope is not an authorisation"}});
      continue;
    }
    Json row = {{"model", model},
                {"versions", *versions},
                {"expires_at", env.expires_at ? Json(format_time(*env.expires_at)) : Json()},
                {"expired", env.expires_at && *env.expires_at <= now},
                {"envelope_id", env.id},
                {"key_id", env.key_id},
                {"signed_at", format_time(env.signed_at)}};
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<Json> with_authorisation(const Json& auto_updates, const Json& entry, bool* replaced) {
  if (!auto_updates.is_array()) return bad_input("the auto_updates table is not a list");
  auto versions = entry_versions(entry);
  if (!versions) return bad_input("not an authorisation");
  const std::string model = text_field(entry, "model");
  Json out = Json::array();
  *replaced = false;
  for (const auto& e : auto_updates) {
    if (!*replaced && text_field(e, "model") == model && entry_versions(e) == versions) {
      out.push_back(entry);
      *replaced = true;
      continue;
    }
    out.push_back(e);
  }
  if (!*replaced) out.push_back(entry);
  return out;
}

Result<Json> without_authorisation(const Json& auto_updates, const std::string& model,
                                   const std::map<std::string, std::string>& versions,
                                   Json* removed) {
  if (!auto_updates.is_array()) return bad_input("the auto_updates table is not a list");
  Json out = Json::array();
  std::vector<std::string> others;
  bool found = false;
  for (const auto& e : auto_updates) {
    if (text_field(e, "model") != model) {
      out.push_back(e);
      continue;
    }
    auto v = entry_versions(e);
    if (!found && v == versions) {
      *removed = e;
      found = true;
      continue;
    }
    if (v) others.push_back(versions_text(*v));
    out.push_back(e);
  }
  if (found) return out;
  std::string known;
  for (const auto& o : others) known += (known.empty() ? "" : "; ") + o;
  return not_found("no authorisation of " + model + " for " + versions_text(versions) + " (" +
                   (known.empty() ? model + " has none" : model + " is authorised for " + known) +
                   ")");
}

}  // namespace printrelay::cli
