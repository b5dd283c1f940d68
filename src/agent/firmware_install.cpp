#include "agent/firmware_install.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "agent/agent_log.h"
#include "agent/durable_file.h"
#include "agent/job_runner.h"
#include "core/artifact.h"
#include "core/codec.h"
#include "core/json_text.h"
#include "net/signing.h"

namespace printrelay::agent {
namespace {

namespace fs = std::filesystem;

constexpr TimeMs kSecond = 1000;
constexpr TimeMs kRetryDelayMs = 30 * kSecond;  // after a failed attempt (seed 004: retransmit)
constexpr TimeMs kRebootTimeoutMs = 10 * 60 * kSecond;

// Lower-case hex SHA-256 of a file, read in 1 MiB pieces.
Result<std::string> hash_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unavailable("cannot read " + path.string());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    return unavailable("sha256 unavailable");
  }
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  unsigned char md[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::int64_t file_size_or_zero(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : static_cast<std::int64_t>(n);
}

Json versions_of(const FirmwareJobSpec& spec) {
  Json j = Json::object();
  for (const auto& c : spec.components) j[c.component] = c.version;
  return j;
}

Json old_versions(const FirmwareJobSpec& spec, const Json& summary) {
  Json j = Json::object();
  for (const auto& c : spec.components) {
    j[c.component] =
        summary.is_object() && summary.contains(c.component) && summary[c.component].is_string()
            ? summary[c.component]
            : Json("?");
  }
  return j;
}

}  // namespace

FirmwareInstaller::FirmwareInstaller(fs::path dir, FirmwareHost& host, QueueEvent queue,
                                     std::vector<std::string> vendor_keys_pem)
    : dir_(std::move(dir)),
      host_(host),
      queue_(std::move(queue)),
      vendor_keys_(std::move(vendor_keys_pem)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
}

std::optional<Json> FirmwareInstaller::load(const std::string& job_id) const {
  auto text = read_file(dir_ / (job_id + ".json"));
  if (!text) return std::nullopt;
  auto j = parse_json(*text);
  if (!j || !j->is_object()) return std::nullopt;
  return std::move(*j);
}

void FirmwareInstaller::save(const std::string& job_id, const Json& state) const {
  if (auto st = write_durably(dir_ / (job_id + ".json"), state.dump()); !st) {
    // Without its state file a crash would repeat or lose a step; the step still happens, and
    // the next save tries again.
    LogLine(LogLevel::kError) << "agent: firmware state of " << job_id << ": "
                              << st.error().message;
  }
}

void FirmwareInstaller::forget(const std::string& job_id, bool delete_images) {
  auto st = load(job_id);
  if (st && delete_images) {
    for (const auto& sha : st->value("images", Json::array())) {
      if (!sha.is_string()) continue;
      std::error_code ec;
      fs::remove(dir_ / (sha.get<std::string>() + ".img"), ec);
      fs::remove(dir_ / (sha.get<std::string>() + ".part"), ec);
    }
  }
  (void)remove_durably(dir_ / (job_id + ".json"));
}

std::vector<Job> FirmwareInstaller::unfinished() const {
  std::lock_guard lock(mu_);
  std::vector<Job> jobs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() != ".json" || name == "fetched.json") continue;
    auto st = load(entry.path().stem().string());
    if (!st || st->value("phase", "") == "done" || !st->contains("job")) continue;
    auto job = parse_job((*st)["job"]);
    if (job) jobs.push_back(std::move(*job));
  }
  return jobs;
}

bool FirmwareInstaller::committed(const std::string& job_id) const {
  // No lock: state files are replaced atomically, and the sender thread must not wait out a
  // download that holds mu_.
  auto st = load(job_id);
  if (!st) return false;
  const std::string phase = st->value("phase", "");
  return phase == "writing" || phase == "rebooting";
}

std::int64_t FirmwareInstaller::bytes_fetched() const {
  auto text = read_file(dir_ / "fetched.json");
  if (!text) return 0;
  auto j = parse_json(*text);
  if (!j || !j->is_object()) return 0;
  const Json bytes = j->value("bytes", Json());
  return bytes.is_number_integer() ? bytes.get<std::int64_t>() : 0;
}

void FirmwareInstaller::add_fetched(std::int64_t n) {
  if (n <= 0) return;
  Json j = {{"bytes", bytes_fetched() + n}};
  (void)write_durably(dir_ / "fetched.json", j.dump());
}

void FirmwareInstaller::abandon(const std::string& job_id) {
  {
    std::lock_guard flags(flag_mu_);
    if (downloading_id_ == job_id) cancel_download_ = true;
  }
  std::lock_guard lock(mu_);
  auto st = load(job_id);
  if (!st) return;
  const std::string phase = st->value("phase", "");
  if (phase == "writing" || phase == "rebooting") return;
  forget(job_id, true);
  host_.show({{"screen", "none"}, {"job_id", job_id}});
}

Json FirmwareInstaller::screen(const Job& job, const Json& st, const FirmwareJobSpec& spec,
                               const std::string& name) const {
  Json s = {{"screen", name},
            {"job_id", job.id},
            {"old", st.value("old", Json::object())},
            {"new", versions_of(spec)}};
  if (st.contains("update_at")) {
    const TimeMs at = st["update_at"].get<TimeMs>();
    s["update_at"] = format_time(at);
    s["expected_end"] = format_time(at + TimeMs(spec.write_estimate_s) * kSecond);
  }
  s["can_defer"] = name == "waiting";
  s["can_cancel"] = name == "waiting";
  return s;
}

FirmwareStep FirmwareInstaller::fail(const std::string& job_id, Json& st,
                                     const std::string& reason) {
  Json detail = {{"result", "failed"}, {"attempts", st.value("attempts", 0)}};
  if (st.contains("old")) detail["old"] = st["old"];
  queue_(job_id, JobEventType::kFailed, "", reason, detail);
  Json scr = {{"screen", "failed"}, {"job_id", job_id}, {"reason", reason}};
  if (st.contains("old")) scr["old"] = st["old"];
  host_.show(scr);
  st["phase"] = "done";
  forget(job_id, true);
  return {true, 0, false};
}

Status FirmwareInstaller::verify_manifest(const FirmwareComponent& c, const Json& meta) {
  if (!meta.is_object() || !meta.contains("signature") || !meta["signature"].is_string()) {
    return forbidden("artifact " + c.artifact.substr(0, 12) + " has no signature");
  }
  Json manifest = meta;
  const std::string signature = manifest["signature"].get<std::string>();
  manifest.erase("signature");
  auto m = parse_manifest(manifest);
  if (!m) return forbidden("artifact manifest is malformed: " + m.error().message);
  const std::string kid = (*m)["key_id"].get<std::string>();
  bool known = false;
  for (const auto& pem : vendor_keys_) {
    auto id = key_id(pem);
    if (!id || *id != kid) continue;
    known = true;
    auto ok = verify_text(m->dump(), signature, pem);
    if (ok && *ok) {
      if ((*m)["kind"] != kArtifactKindFirmware)
        return forbidden("artifact is not a firmware image");
      if ((*m)["sha256"] != c.artifact) return forbidden("manifest names another image");
      if ((*m)["model"] != host_.model()) {
        return forbidden("image is for model " + (*m)["model"].get<std::string>() + ", not " +
                         host_.model());
      }
      if ((*m)["component"] != c.component) {
        return forbidden("image is for component " + (*m)["component"].get<std::string>() +
                         ", not " + c.component);
      }
      if ((*m)["version"] != c.version) {
        return forbidden("image is version " + (*m)["version"].get<std::string>() + ", not " +
                         c.version);
      }
      return ok_status();
    }
  }
  if (!known) return forbidden("image is signed by an unknown key " + kid);
  return forbidden("image manifest signature does not verify (tampered)");
}

FirmwareStep FirmwareInstaller::advance(const Job& job, TimeMs now) {
  std::lock_guard lock(mu_);
  auto spec = parse_firmware_params(job.params);
  Json st = load(job.id).value_or(Json::object());
  if (!spec) return fail(job.id, st, "firmware params: " + spec.error().message);
  if (st.empty()) {
    // Anti-rollback, before anything is fetched: an older image may be signed and vulnerable.
    if (auto newer = check_not_downgrade(*spec, host_.firmware_summary()); !newer) {
      st = {{"old", old_versions(*spec, host_.firmware_summary())}};
      return fail(job.id, st, newer.error().message);
    }
    Json j = to_json(job);
    st = {{"job", j},
          {"phase", "download"},
          {"attempts", 0},
          {"deferrals", {{"count", 0}}},
          {"images", Json::array()},
          {"old", old_versions(*spec, host_.firmware_summary())}};
    for (const auto& c : spec->components) st["images"].push_back(c.artifact);
    save(job.id, st);
  }
  const std::string phase = st.value("phase", "download");
  if (phase == "download") return download_step(job, st, *spec, now);
  if (phase == "ready") return wait_step(job, st, *spec, now);
  if (phase == "writing") {
    // Killed during the write: the inactive slot is incomplete, the active one untouched. The
    // start was confirmed already; write again.
    st["phase"] = "ready";
    st["confirmed"] = true;
    return wait_step(job, st, *spec, now);
  }
  if (phase == "rebooting") return boot_step(job, st, *spec, now);
  return {true, 0, false};
}

FirmwareStep FirmwareInstaller::download_step(const Job& job, Json& st, const FirmwareJobSpec& spec,
                                              TimeMs now) {
  {
    std::lock_guard flags(flag_mu_);
    cancel_download_ = false;
    downloading_id_ = job.id;
  }
  struct Clear {
    FirmwareInstaller& self;
    ~Clear() {
      std::lock_guard flags(self.flag_mu_);
      self.downloading_id_.clear();
    }
  } clear{*this};
  for (const auto& c : spec.components) {
    const fs::path img = dir_ / (c.artifact + ".img");
    if (fs::exists(img)) continue;  // verified before a restart
    auto meta = host_.artifact_meta(c.artifact);
    if (!meta) {
      if (meta.error().kind == ErrorKind::kNotFound) {
        return fail(job.id, st, "artifact " + c.artifact.substr(0, 12) + " is not on the relay");
      }
      const int failures = st.value("download_failures", 0) + 1;
      st["download_failures"] = failures;
      save(job.id, st);
      return {false, now + std::min<TimeMs>(300, 5 << std::min(failures, 6)) * kSecond, false};
    }
    if (auto v = verify_manifest(c, *meta); !v) return fail(job.id, st, v.error().message);
    const std::int64_t size = (*meta)["size"].get<std::int64_t>();
    const fs::path part = dir_ / (c.artifact + ".part");
    std::int64_t have = file_size_or_zero(part);
    if (have > size) {
      std::error_code ec;
      fs::remove(part, ec);
      have = 0;
    }
    int reported = size > 0 ? int(have * 4 / size) : 4;
    std::int64_t fetched_here = 0;
    // All bytes on disk already (the agent stopped before it verified them): verify, do not ask
    // the relay for a range past the end.
    auto fetched = have == size
                       ? Result<std::int64_t>(0)
                       : host_.download(c.artifact, part, have, size, [&](std::int64_t total) {
                           fetched_here = total;
                           const int quarter = size > 0 ? int((have + total) * 4 / size) : 4;
                           if (quarter > reported && quarter < 4) {
                             reported = quarter;
                             queue_(job.id, JobEventType::kProgress,
                                    "dl-" + c.component + "-" + std::to_string(quarter), {},
                                    {{"phase", "downloading"},
                                     {"component", c.component},
                                     {"percent", quarter * 25},
                                     {"bytes", have + total},
                                     {"size", size}});
                           }
                           return !cancel_download_.load();
                         });
    add_fetched(fetched ? *fetched : fetched_here);
    if (cancel_download_) {
      // Cancelled at the panel (which sends the event) or at the relay: keep the part file, a
      // later job for the same image resumes it.
      return {true, 0, false};
    }
    if (!fetched && fetched.error().kind == ErrorKind::kTooLarge) {
      std::error_code ec;
      fs::remove(part, ec);
      return fail(job.id, st, fetched.error().message);
    }
    if (!fetched) {
      const int failures = st.value("download_failures", 0) + 1;
      st["download_failures"] = failures;
      save(job.id, st);
      return {false, now + std::min<TimeMs>(300, 5 << std::min(failures, 6)) * kSecond, false};
    }
    if (file_size_or_zero(part) < size) {
      save(job.id, st);
      return {false, now + 5 * kSecond, false};
    }
    auto hash = hash_file(part);
    if (!hash) return {false, now + 30 * kSecond, false};
    if (*hash != c.artifact) {
      std::error_code ec;
      fs::remove(part, ec);
      return fail(job.id, st,
                  "image " + c.component + " " + c.version +
                      " does not match its signed manifest (sha256 " + hash->substr(0, 12) +
                      "..., expected " + c.artifact.substr(0, 12) + "...): refused");
    }
    std::error_code ec;
    fs::rename(part, img, ec);
    if (ec) return {false, now + 30 * kSecond, false};
    (void)sync_directory(dir_);
  }
  auto plan = planned_update_time(spec, now);
  const TimeMs update_at = plan ? plan->at : now;
  st["phase"] = "ready";
  st["update_at"] = update_at;
  st["download_failures"] = 0;
  save(job.id, st);
  Json detail = {{"phase", "downloaded"},
                 {"update_at", format_time(update_at)},
                 {"old", st["old"]},
                 {"new", versions_of(spec)}};
  if (plan && plan->moved()) detail["update_time_moved"] = plan->reason;
  // Sent at once rather than queued: when the update time is now, the relay must see
  // "acquired" before "started", which is sent directly too.
  JobEvent acquired;
  acquired.event_id = event_id(job.id, JobEventType::kAcquired);
  acquired.job_id = job.id;
  acquired.type = JobEventType::kAcquired;
  acquired.at = now;
  acquired.reason = plan && plan->moved() ? plan->reason : "";
  acquired.detail = detail;
  auto told = host_.confirm_event(acquired);
  if (!told && told.error().kind == ErrorKind::kConflict) {
    forget(job.id, true);  // cancelled or expired at the relay meanwhile
    host_.show({{"screen", "none"}, {"job_id", job.id}});
    return {true, 0, false};
  }
  if (!told) queue_(job.id, JobEventType::kAcquired, "", acquired.reason, detail);
  host_.show(screen(job, st, spec, "waiting"));
  return {false, update_at, false};
}

FirmwareStep FirmwareInstaller::wait_step(const Job& job, Json& st, const FirmwareJobSpec& spec,
                                          TimeMs now) {
  const TimeMs update_at = st.value("update_at", now);
  if (now < update_at) return {false, update_at, false};
  if (!st.value("confirmed", false)) {
    DeferralHistory history;
    history.count = st["deferrals"].value("count", 0);
    if (st["deferrals"].contains("first_at")) {
      history.first_deferred_at = st["deferrals"]["first_at"].get<TimeMs>();
    }
    auto decision = decide_update_start(host_.busy(), spec.deferral, history, now);
    if (!decision) return fail(job.id, st, decision.error().message);
    if (decision->start == UpdateStart::kFail) return fail(job.id, st, decision->reason);
    if (decision->start == UpdateStart::kDefer) {
      history = record_deferral(history, now);
      const TimeMs until = next_allowed_time(spec.forbidden_windows, decision->until);
      st["deferrals"] = {{"count", history.count}, {"first_at", *history.first_deferred_at}};
      st["update_at"] = until;
      save(job.id, st);
      queue_(job.id, JobEventType::kDeferred, "d" + std::to_string(history.count), decision->reason,
             {{"update_at", format_time(until)}, {"deferrals", history.count}});
      host_.show(screen(job, st, spec, "waiting"));
      return {false, until, false};
    }
    // Not busy (or deferral used up and the job says proceed): the relay must still want it.
    const int attempt = st.value("attempts", 0) + 1;
    JobEvent started;
    started.job_id = job.id;
    started.type = JobEventType::kStarted;
    started.event_id = event_id(job.id, JobEventType::kStarted) + ".a" + std::to_string(attempt);
    if (started.event_id.size() > kMaxIdLength) started.event_id = started.event_id.substr(0, 64);
    started.at = now;
    started.detail = {{"phase", "writing"}, {"attempt", attempt}};
    if (!decision->reason.empty()) started.reason = decision->reason;
    auto confirmed = host_.confirm_event(started);
    if (!confirmed) {
      if (confirmed.error().kind == ErrorKind::kConflict) {
        // Cancelled or expired at the relay before the write: nothing was touched.
        forget(job.id, true);
        host_.show({{"screen", "none"}, {"job_id", job.id}});
        return {true, 0, false};
      }
      return {false, now + 30 * kSecond, false};
    }
  }
  st["phase"] = "writing";
  st["confirmed"] = true;
  save(job.id, st);
  host_.show(screen(job, st, spec, "updating"));
  for (const auto& c : spec.components) {
    if (auto w = host_.write_slot(c.component, c.version, dir_ / (c.artifact + ".img")); !w) {
      return attempt_failed(job, st, spec,
                            "writing " + c.component + " failed: " + w.error().message, now);
    }
  }
  st["phase"] = "rebooting";
  st["rebooted_at"] = now;
  save(job.id, st);
  if (auto a = host_.activate(); !a) {
    return attempt_failed(job, st, spec, "reboot refused: " + a.error().message, now);
  }
  // The device stops this agent and starts a new one after the boot, which judges it.
  return {false, now + kRebootTimeoutMs, true};
}

FirmwareStep FirmwareInstaller::boot_step(const Job& job, Json& st, const FirmwareJobSpec& spec,
                                          TimeMs now) {
  const Json running = host_.firmware_summary();
  auto boot = host_.last_boot();
  std::vector<std::string> missing;
  for (const auto& c : spec.components) {
    if (!running.is_object() || running.value(c.component, "") != c.version) {
      missing.push_back(c.component);
    }
  }
  if (missing.empty()) {
    Json detail = {{"result", "completed"},
                   {"old", st["old"]},
                   {"new", versions_of(spec)},
                   {"attempts", st.value("attempts", 0) + 1}};
    if (boot) detail["boot"] = *boot;
    queue_(job.id, JobEventType::kSucceeded, "", "", detail);
    Json scr = screen(job, st, spec, "done");
    host_.show(scr);
    st["phase"] = "done";
    forget(job.id, true);
    return {true, 0, false};
  }
  if (st.value("rebooted_at", now) + kRebootTimeoutMs > now && !boot && running.is_null()) {
    return {false, now + 10 * kSecond, true};
  }
  std::string reason;
  if (boot && boot->value("fell_back", false)) {
    reason = boot->value("reason", std::string("the new image did not boot: fell back"));
  } else {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    reason = "after the reboot " + names + " did not run the new version";
  }
  return attempt_failed(job, st, spec, reason, now);
}

FirmwareStep FirmwareInstaller::attempt_failed(const Job& job, Json& st,
                                               const FirmwareJobSpec& spec,
                                               const std::string& reason, TimeMs now) {
  const int attempts = st.value("attempts", 0) + 1;
  st["attempts"] = attempts;
  auto retry = decide_retry(attempts, spec.max_attempts, job.expires_at, now + kRetryDelayMs);
  if (!retry || !retry->allowed) {
    return fail(job.id, st, reason + "; " + (retry ? retry->reason : std::string("no retry")));
  }
  st["phase"] = "ready";
  st["confirmed"] = false;
  st["update_at"] = next_allowed_time(spec.forbidden_windows, now + kRetryDelayMs);
  save(job.id, st);
  queue_(job.id, JobEventType::kProgress, "a" + std::to_string(attempts),
         "attempt " + std::to_string(attempts) + " failed: " + reason,
         {{"attempt_failed", true},
          {"attempt", attempts},
          {"reason", reason},
          {"retry_at", format_time(st["update_at"].get<TimeMs>())}});
  host_.show(screen(job, st, spec, "waiting"));
  return {false, st["update_at"].get<TimeMs>(), false};
}

Result<FirmwareInstaller::PanelOutcome> FirmwareInstaller::panel(const std::string& action,
                                                                 TimeMs now) {
  if (action != "defer" && action != "cancel") {
    return bad_input("panel action must be 'defer' or 'cancel'");
  }
  if (action == "cancel") {
    std::lock_guard flags(flag_mu_);
    if (!downloading_id_.empty()) cancel_download_ = true;
  }
  // The panel's thread must not wait out a download or a write (minutes on a slow link): a
  // cancel has stopped the download above and waits only for it to return; a defer while the
  // installer is busy has nothing to defer yet.
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) {
    if (action == "defer")
      return conflict("the update is downloading or writing: nothing to defer");
    lock.lock();
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (entry.path().extension() != ".json" || entry.path().filename() == "fetched.json") continue;
    const std::string job_id = entry.path().stem().string();
    auto st = load(job_id);
    if (!st || !st->contains("job")) continue;
    const std::string phase = st->value("phase", "");
    if (phase != "ready" && phase != "download") continue;
    auto job = parse_job((*st)["job"]);
    if (!job) continue;
    auto spec = parse_firmware_params(job->params);
    if (!spec) continue;
    if (action == "cancel") {
      queue_(job_id, JobEventType::kCancelled, "", "cancelled at the device panel",
             {{"by", "panel"}});
      host_.show({{"screen", "none"}, {"job_id", job_id}});
      forget(job_id, true);
      return PanelOutcome{job_id, true, 0};
    }
    if (phase != "ready") continue;
    DeferralHistory history;
    history.count = (*st)["deferrals"].value("count", 0);
    if ((*st)["deferrals"].contains("first_at")) {
      history.first_deferred_at = (*st)["deferrals"]["first_at"].get<TimeMs>();
    }
    auto d = decide_deferral(spec->deferral, history, now);
    if (!d) return d.error();
    if (d->outcome == DeferralOutcome::kFail) {
      fail(job_id, *st, d->reason);
      return PanelOutcome{job_id, true, 0};
    }
    if (d->outcome == DeferralOutcome::kProceed) {
      return conflict("no more deferral: " + d->reason + "; the update proceeds");
    }
    history = record_deferral(history, now);
    // A deferral moves the update by one step from when it would have happened.
    const TimeMs base =
        std::max<TimeMs>(d->until, (*st).value("update_at", now) + spec->deferral.step_ms);
    const TimeMs until = next_allowed_time(spec->forbidden_windows, base);
    (*st)["deferrals"] = {{"count", history.count}, {"first_at", *history.first_deferred_at}};
    (*st)["update_at"] = until;
    save(job_id, *st);
    queue_(job_id, JobEventType::kDeferred, "d" + std::to_string(history.count),
           "deferred at the device panel until " + format_time(until),
           {{"update_at", format_time(until)}, {"deferrals", history.count}, {"by", "panel"}});
    host_.show(screen(*job, *st, *spec, "waiting"));
    return PanelOutcome{job_id, false, until};
  }
  return conflict("no firmware update is waiting that the panel could " + action);
}

}  // namespace printrelay::agent
