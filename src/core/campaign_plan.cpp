#include "core/campaign_plan.h"

#include <set>

#include "core/artifact.h"
#include "core/codec.h"
#include "core/firmware_job.h"

namespace printrelay {
namespace {

constexpr std::size_t kMaxSerials = 100000;
constexpr std::int64_t kMaxOfflineAfterS = 10LL * 365 * 86400;

Result<std::optional<TimeMs>> optional_time(const Json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::optional<TimeMs>();
  if (!body[key].is_string()) return bad_input(std::string(key) + " must be a time");
  auto t = parse_time(body[key].get<std::string>());
  if (!t) return bad_input(std::string(key) + ": " + t.error().message);
  return std::optional<TimeMs>(*t);
}

// select: a model, current versions and explicit serials.
Status read_selection(const Json& body, CampaignRequest& r) {
  r.select = body.value("select", Json::object());
  if (!r.select.is_object()) return bad_input("select must be an object");
  r.model = text_field(r.select, "model");
  r.versions = r.select.value("versions", Json::object());
  if (!r.versions.is_object()) return bad_input("select.versions must be {component: version}");
  if (r.select.contains("serials")) {
    if (!r.select["serials"].is_array()) return bad_input("select.serials must be an array");
    std::set<std::string> seen;
    for (const auto& s : r.select["serials"]) {
      if (!s.is_string() || !is_valid_id(s.get<std::string>())) {
        return bad_input("select.serials: " + s.dump() + " is not a serial");
      }
      if (seen.insert(s.get<std::string>()).second) r.serials.push_back(s.get<std::string>());
    }
    if (r.serials.size() > kMaxSerials) return bad_input("at most 100000 serials");
  }
  if (r.model.empty() && r.serials.empty()) return bad_input("select needs a model or serials");
  return ok_status();
}

// components: each an image of `images`, one per component, all for one model.
Result<FirmwareJobSpec> read_images(const Json& body, const CampaignImages& images,
                                    CampaignRequest& r) {
  const Json comps = body.value("components", Json());
  if (!comps.is_array() || comps.empty() || comps.size() > 16) {
    return bad_input("components must be 1-16 of {\"artifact\": sha256}");
  }
  FirmwareJobSpec spec;
  for (const auto& c : comps) {
    const std::string sha = c.is_object() ? text_field(c, "artifact") : "";
    if (!is_sha256_hex(sha)) return bad_input("each component needs artifact: a sha256 (64 hex)");
    auto image = images.find(sha);
    if (image == images.end())
      return bad_input("artifact " + sha.substr(0, 12) + " was not looked up");
    if (!image->second) return bad_input(image->second.error().message);
    const Json& m = *image->second;
    FirmwareComponent fc{m.value("component", ""), m.value("version", ""), sha,
                         m.value("size", std::int64_t{0})};
    if (r.targets.count(fc.component)) return bad_input("two images for component " + fc.component);
    if (!r.image_model.empty() && m.value("model", "") != r.image_model) {
      return bad_input("the images are for different models");
    }
    r.image_model = m.value("model", "");
    r.targets[fc.component] = fc.version;
    r.components.push_back({{"component", fc.component},
                            {"version", fc.version},
                            {"artifact", sha},
                            {"size", fc.size},
                            {"model", r.image_model}});
    spec.components.push_back(std::move(fc));
  }
  if (!r.model.empty() && r.model != r.image_model) {
    return bad_input("select.model is " + r.model + " but the images are for " + r.image_model);
  }
  return spec;
}

// Schedule and limits: the job params every device's envelope signs.
Status read_schedule(const Json& body, FirmwareJobSpec& spec, TimeMs now, CampaignRequest& r) {
  auto transmit_at = optional_time(body, "transmit_at");
  if (!transmit_at) return transmit_at.error();
  auto update_at = optional_time(body, "update_at");
  if (!update_at) return update_at.error();
  auto expires_at = optional_time(body, "expires_at");
  if (!expires_at) return expires_at.error();
  if (!*expires_at) return bad_input("expires_at is needed: when the campaign's jobs give up");
  if (**expires_at <= now) return bad_input("expires_at is in the past");
  r.transmit_at = *transmit_at;
  r.expires_at = **expires_at;
  spec.update_at = *update_at;
  Json params = {{"components", Json::array()}};
  for (const auto& c : spec.components) {
    params["components"].push_back({{"component", c.component},
                                    {"version", c.version},
                                    {"artifact", c.artifact},
                                    {"size", c.size}});
  }
  for (const char* key : {"forbidden_windows", "deferral", "max_attempts", "write_estimate_s"}) {
    if (body.contains(key)) params[key] = body[key];
  }
  if (*update_at) params["update_at"] = format_time(**update_at);
  auto parsed = parse_firmware_params(params);
  if (!parsed) return parsed.error();
  r.job_params = to_json(*parsed);
  return ok_status();
}

// Waves, the failure threshold and when a device counts as offline.
Status read_rollout(const Json& body, CampaignRequest& r) {
  const Json waves = body.value("waves", Json::array({"rest"}));
  if (!waves.is_array() || waves.empty() || waves.size() > 100) {
    return bad_input("waves must be a list of sizes, e.g. [\"1\", \"10%\", \"rest\"]");
  }
  r.waves.clear();
  for (const auto& w : waves) {
    auto s = parse_wave_size(w);
    if (!s) return bad_input("waves: " + s.error().message);
    r.waves.push_back(*s);
  }
  // "rest" before the end is refused now, before any device is read.
  if (auto planned = plan_waves({}, r.waves); !planned) return planned.error();
  auto threshold = parse_failure_threshold(body.value("failure_threshold", Json(1)));
  if (!threshold) return bad_input("failure_threshold: " + threshold.error().message);
  r.threshold = *threshold;
  // Bounded above so that the milliseconds fit in a TimeMs.
  const Json offline = body.value("offline_after_s", Json(86400));
  if (!offline.is_number_integer() || offline.get<std::int64_t>() > kMaxOfflineAfterS) {
    return bad_input("offline_after_s must be a whole number of seconds, 60..315360000 (10 years)");
  }
  r.offline_after_s = offline.get<std::int64_t>();
  if (r.offline_after_s < 60) return bad_input("offline_after_s must be at least 60");
  return ok_status();
}

// Why a device is not a target. The reason is "" for a device left out without a word: another
// model or other versions than a selection by model asks for.
struct Exclusion {
  std::string reason;
  std::string detail;
};

// The rules of plan_campaign() in order (campaign_plan.h); nullopt for a target. `listed`: the
// device was named in select.serials.

std::optional<Exclusion> exclusion_of(const CampaignRequest& r, const CampaignCandidate& device,
                                      bool listed, TimeMs now) {
  if (!r.model.empty() && device.model != r.model && !listed) return Exclusion{};
  if (device.model != r.image_model) {
    return Exclusion{"incompatible",
                     "model " + device.model + "; the images are for " + r.image_model};
  }
  if (!device.enrolled) return Exclusion{"offline", "registered but never enrolled"};
  const Json& fw = device.firmware;
  std::string mismatch;
  for (const auto& [comp, ver] : r.versions.items()) {
    const std::string have = fw.is_object() ? fw.value(comp, "") : "";
    if (!ver.is_string() || have != ver.get<std::string>()) {
      mismatch = comp + " is " + (have.empty() ? "unknown" : have) + ", selection wants " +
                 (ver.is_string() ? ver.get<std::string>() : ver.dump());
    }
  }
  if (!mismatch.empty()) return listed ? Exclusion{"incompatible", mismatch} : Exclusion{};
  std::string missing;
  bool up_to_date = true;
  for (const auto& [comp, ver] : r.targets) {
    if (!fw.is_object() || !fw.contains(comp)) missing = comp;
    if (!fw.is_object() || fw.value(comp, "") != ver) up_to_date = false;
  }
  if (!missing.empty()) {
    return Exclusion{"incompatible", fw.is_object() && !fw.empty()
                                         ? "the device reports no " + missing + " component"
                                         : "the device has not reported its versions yet"};
  }
  if (up_to_date) return Exclusion{"up to date", "already runs the target versions"};
  if (!device.firmware_job.empty()) {
    return Exclusion{"busy", "a firmware job is already under way (" + device.firmware_job + ")"};
  }
  if (now - device.last_seen > r.offline_after_s * 1000) {
    return Exclusion{"offline", "last seen " + format_time(device.last_seen)};
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> campaign_artifacts(const Json& request) {
  std::vector<std::string> out;
  if (!request.is_object() || !request.contains("components")) return out;
  const Json& comps = request["components"];
  if (!comps.is_array()) return out;
  for (const auto& c : comps) {
    const std::string sha = c.is_object() ? text_field(c, "artifact") : "";
    if (is_sha256_hex(sha)) out.push_back(sha);
  }
  return out;
}

Result<CampaignRequest> parse_campaign_request(const Json& request, const CampaignImages& images,
                                               TimeMs now) {
  if (!request.is_object()) return bad_input("a campaign must be an object");
  CampaignRequest r;
  r.name = text_field(request, "name");
  if (auto st = read_selection(request, r); !st) return st.error();
  auto spec = read_images(request, images, r);
  if (!spec) return spec.error();
  if (auto st = read_schedule(request, *spec, now, r); !st) return st.error();
  if (auto st = read_rollout(request, r); !st) return st.error();
  return r;
}

Result<Json> plan_campaign(const CampaignRequest& request,
                           const std::vector<CampaignCandidate>& known, TimeMs now) {
  std::map<std::string, const CampaignCandidate*> by_serial;
  for (const auto& c : known) {
    if (!by_serial.emplace(c.serial, &c).second) {
      return bad_input("device " + c.serial + " is listed twice among the candidates");
    }
  }
  const bool listed = !request.serials.empty();
  std::vector<std::string> candidates = request.serials;
  if (!listed) {
    for (const auto& [serial, c] : by_serial) candidates.push_back(serial);
  }
  Json target_rows = Json::array();
  Json excluded = Json::array();
  std::vector<std::string> target_serials;
  for (const auto& serial : candidates) {
    auto found = by_serial.find(serial);
    std::optional<Exclusion> exclusion =
        found == by_serial.end() ? Exclusion{"unregistered", "not in the registration table"}
                                 : exclusion_of(request, *found->second, listed, now);
    if (exclusion) {
      if (!exclusion->reason.empty()) {
        excluded.push_back(
            {{"serial", serial}, {"reason", exclusion->reason}, {"detail", exclusion->detail}});
      }
      continue;
    }
    const CampaignCandidate& device = *found->second;
    auto cells = version_change_cells(device.firmware, request.targets);
    target_rows.push_back({{"serial", serial},
                           {"model", device.model},
                           {"place", device.place},
                           {"customer", device.customer},
                           {"cells", cells ? Json(*cells) : Json::object()}});
    target_serials.push_back(serial);
  }
  auto planned = plan_waves(target_serials, request.waves);
  if (!planned) return planned.error();
  Json wave_rows = Json::array();
  for (const auto& w : *planned) {
    wave_rows.push_back({{"number", w.number}, {"serials", w.serials}});
  }
  Json wave_texts = Json::array();
  for (const auto& s : request.waves) wave_texts.push_back(to_text(s));
  return Json{
      {"name", request.name},
      {"select", request.select},
      {"components", request.components},
      {"model", request.image_model},
      {"job_params", request.job_params},
      {"expires_at", format_time(request.expires_at)},
      {"transmit_at", request.transmit_at ? Json(format_time(*request.transmit_at)) : Json()},
      {"wave_sizes", wave_texts},
      {"failure_threshold", to_text(request.threshold)},
      {"threshold_devices",
       threshold_devices(request.threshold, static_cast<std::int64_t>(target_serials.size()))},
      {"targets", target_rows},
      {"excluded", excluded},
      {"waves", wave_rows}};
}

}  // namespace printrelay
