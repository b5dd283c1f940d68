#include "relay/firmware_catalog.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "core/artifact.h"
#include "core/codec.h"

namespace printrelay {

FirmwareCatalog::FirmwareCatalog(Store& store, const BlobDirectory* artifacts,
                                 std::string parent_catalog_file)
    : store_(store), artifacts_(artifacts), parent_catalog_file_(std::move(parent_catalog_file)) {
  if (parent_catalog_file_.empty()) return;
  std::ifstream in(parent_catalog_file_);
  if (!in) return;  // none yet
  auto kept = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!kept.is_array()) {
    std::cerr << "relayd: " << parent_catalog_file_
              << " is unreadable; the parent's catalog comes with the next sync" << std::endl;
    return;
  }
  for (auto& m : kept) {
    if (m.is_object() && is_sha256_hex(m.value("sha256", ""))) parent_images_[m["sha256"]] = m;
  }
}

Status FirmwareCatalog::take_parent_images(const Json& manifests) {
  std::map<std::string, Json> fresh;
  for (const auto& m : manifests) {
    if (m.is_object() && is_sha256_hex(m.value("sha256", ""))) fresh[m["sha256"]] = m;
  }
  std::lock_guard lock(mu_);
  if (fresh == parent_images_) return ok_status();
  if (!parent_catalog_file_.empty()) {
    Json list = Json::array();
    for (const auto& [sha, m] : fresh) list.push_back(m);
    const std::string tmp = parent_catalog_file_ + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << list.dump();
      out.flush();
      if (!out) return unavailable("cannot write " + tmp);
    }
    std::error_code ec;
    std::filesystem::rename(tmp, parent_catalog_file_, ec);
    if (ec) return unavailable("cannot replace " + parent_catalog_file_ + ": " + ec.message());
  }
  parent_images_ = std::move(fresh);
  return ok_status();
}

Result<Json> FirmwareCatalog::manifest(const std::string& sha256) const {
  if (!artifacts_) return not_found("this relay keeps no artifacts");
  auto meta = artifacts_->meta(sha256);
  if (!meta) {
    std::lock_guard lock(mu_);
    if (auto it = parent_images_.find(sha256); it != parent_images_.end()) meta = it->second;
  }
  if (!meta) return not_found("artifact " + sha256.substr(0, 12) + " is not on this relay");
  if (meta->value("kind", "") != kArtifactKindFirmware) {
    return bad_input("artifact " + sha256.substr(0, 12) + " is not a firmware image");
  }
  return *meta;
}

std::vector<Json> FirmwareCatalog::images(const std::string& model) const {
  std::vector<Json> out;
  if (!artifacts_) return out;
  std::set<std::string> seen;
  auto take = [&](Json m) {
    if (m.value("kind", "") != kArtifactKindFirmware) return;
    if (!model.empty() && m.value("model", "") != model) return;
    if (!seen.insert(m.value("sha256", "")).second) return;
    out.push_back(std::move(m));
  };
  for (auto& m : artifacts_->list()) take(std::move(m));
  {
    std::lock_guard lock(mu_);
    for (const auto& [sha, m] : parent_images_) take(m);
  }
  std::sort(out.begin(), out.end(), [](const Json& a, const Json& b) {
    const std::string ca = a.value("component", ""), cb = b.value("component", "");
    if (ca != cb) return ca < cb;
    return compare_versions(a.value("version", ""), b.value("version", "")) > 0;
  });
  return out;
}

Result<std::string> FirmwareCatalog::prepare_job(Job& job, const std::string& device_model,
                                                 TimeMs now) const {
  auto spec = parse_firmware_params(params_without_envelope(job.params));
  if (!spec) return spec.error();
  for (const auto& c : spec->components) {
    auto m = manifest(c.artifact);
    if (!m)
      return m.error().kind == ErrorKind::kNotFound ? bad_input(m.error().message) : m.error();
    if (!device_model.empty() && m->value("model", "") != device_model) {
      return bad_input("image " + c.artifact.substr(0, 12) + " is for model " +
                       m->value("model", "") + "; device " + job.serial + " is a " + device_model);
    }
    if (m->value("component", "") != c.component) {
      return bad_input("image " + c.artifact.substr(0, 12) + " is component " +
                       m->value("component", "") + ", not " + c.component);
    }
    if (m->value("version", "") != c.version) {
      return bad_input("image " + c.artifact.substr(0, 12) + " is version " +
                       m->value("version", "") + ", not " + c.version);
    }
    if (c.size != 0 && m->value("size", std::int64_t{-1}) != c.size) {
      return bad_input("component " + c.component + ": size differs from the image's manifest");
    }
  }
  auto plan = planned_update_time(*spec, std::max(now, job.not_before));
  if (!plan) return plan.error();
  if (job.expires_at && plan->at >= *job.expires_at) {
    return bad_input("the update time " + format_time(plan->at) + " is not before the expiry " +
                     format_time(*job.expires_at) +
                     (plan->moved() ? " (" + plan->reason + ")" : std::string()));
  }
  job.execute_at = plan->at;
  std::string note = "update at " + format_time(plan->at);
  if (plan->moved()) note += "; " + plan->reason;
  return note;
}

Result<Json> FirmwareCatalog::check(const std::string& serial, const Json& body, TimeMs now) {
  if (!body.is_object()) return bad_input("an update check must be an object");
  const std::string model = text_field(body, "model");
  const Json firmware = body.value("firmware", Json::object());
  if (model.empty() || model.size() > 64) return bad_input("model must be 1-64 characters");
  if (!firmware.is_object() || firmware.size() > 32) {
    return bad_input("firmware must be an object of at most 32 components");
  }
  // Versions that already failed on this device are not offered again (seed 002: the answer
  // comes from the update history as well as the images).
  auto past = store_.list_firmware_history(serial, 500);
  if (!past) return past.error();  // an offer must not repeat a version that failed here
  std::set<std::pair<std::string, std::string>> failed;
  for (const auto& h : *past) {
    if (h.event == "failed") failed.insert({h.component, h.version});
  }
  Json offers = Json::array();
  std::set<std::string> offered;
  for (const auto& m : images(model)) {
    const std::string comp = m.value("component", "");
    if (offered.count(comp) || !firmware.contains(comp) || !firmware[comp].is_string()) continue;
    const std::string current = firmware[comp].get<std::string>();
    const std::string version = m.value("version", "");
    if (compare_versions(version, current) <= 0) continue;
    if (failed.count({comp, version})) continue;
    offered.insert(comp);
    offers.push_back({{"component", comp},
                      {"current", current},
                      {"version", version},
                      {"artifact", m.value("sha256", "")},
                      {"size", m.value("size", std::int64_t{0})}});
  }
  FirmwareHistoryEntry e;
  e.serial = serial;
  e.at = now;
  e.event = "checked";
  e.detail = {{"model", model}, {"firmware", firmware}, {"offers", offers}};
  if (auto id = store_.append_firmware_history(e); !id) return id.error();
  return Json{{"offers", offers}, {"checked_at", format_time(now)}};
}

void FirmwareCatalog::record_sent(const std::string& serial, const std::string& sha256,
                                  std::int64_t from, std::int64_t bytes, TimeMs now) {
  FirmwareHistoryEntry e;
  e.serial = serial;
  e.at = now;
  e.event = "sent";
  e.artifact = sha256;
  if (auto m = manifest(sha256)) {
    e.component = m->value("component", "");
    e.version = m->value("version", "");
  }
  e.detail = {{"from", from}, {"bytes", bytes}};
  (void)store_.append_firmware_history(e);
}

void FirmwareCatalog::record_result(const Job& job, TimeMs now) {
  if (job.kind != JobKind::kFirmware || !is_terminal(job.state)) return;
  if (job.state != JobState::kSucceeded && job.state != JobState::kFailed) return;
  auto spec = parse_firmware_params(params_without_envelope(job.params));
  if (!spec) return;
  for (const auto& c : spec->components) {
    FirmwareHistoryEntry e;
    e.serial = job.serial;
    e.at = now;
    e.event = job.state == JobState::kSucceeded ? "installed" : "failed";
    e.component = c.component;
    e.version = c.version;
    e.artifact = c.artifact;
    e.job_id = job.id;
    const Json old = job.result.value("old", Json::object());
    e.detail = {{"previous", old.is_object() ? old.value(c.component, "") : ""}};
    if (job.state == JobState::kFailed) e.detail["reason"] = job.result.value("reason", "");
    (void)store_.append_firmware_history(e);
  }
}

Result<Json> FirmwareCatalog::history(const std::string& serial, int limit) const {
  if (limit < 1 || limit > 1000) return bad_input("limit must be 1-1000");
  auto entries = store_.list_firmware_history(serial, limit);
  if (!entries) return entries.error();
  Json rows = Json::array();
  for (const auto& h : *entries) {
    rows.push_back({{"id", h.id},
                    {"serial", h.serial},
                    {"at", format_time(h.at)},
                    {"event", h.event},
                    {"component", h.component},
                    {"version", h.version},
                    {"artifact", h.artifact},
                    {"job_id", h.job_id},
                    {"detail", h.detail}});
  }
  return Json{{"history", rows}};
}

}  // namespace printrelay
