#include "relay/relay_update.h"

#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "clock/wall_clock.h"
#include "core/artifact.h"
#include "core/codec.h"
#include "core/firmware_job.h"
#include "core/sha256.h"
#include "net/signing.h"
#include "relay/artifact_fetcher.h"

extern char** environ;

namespace printrelay {

namespace fs = std::filesystem;

namespace {

Result<std::string> file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unavailable("cannot read " + path);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return sha256_hex(data);
}

// Writes `version` and a newline to `path` through a temporary file and a rename.
bool write_version_file(const fs::path& path, const std::string& version) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!(f << version << "\n")) return false;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  return !ec;
}

}  // namespace

std::string update_ready_file(const std::string& data_dir, const std::string& job_id) {
  return (fs::path(data_dir) / "updates" / ("ready-" + job_id)).string();
}

RelayUpdater::RelayUpdater(Relay& relay, ArtifactFetcher& fetcher, const BlobDirectory& blobs,
                           RelayUpdateOptions options, std::function<void()> hand_over)
    : relay_(relay),
      fetcher_(fetcher),
      blobs_(blobs),
      options_(std::move(options)),
      hand_over_(std::move(hand_over)) {}

RelayUpdater::~RelayUpdater() {
  stop_ = true;
  if (worker_.joinable()) worker_.join();
}

void RelayUpdater::run(const Job& job) {
  std::lock_guard lock(mu_);
  if (!running_job_.empty()) return;
  if (worker_.joinable()) worker_.join();
  running_job_ = job.id;
  worker_ = std::thread([this, job] { work(job); });
}

void RelayUpdater::event(const Job& job, const std::string& type, Json detail,
                         const std::string& reason) {
  // Deterministic ids: a repeat (after a restart) is recognised as the same event.
  Json ev{{"event_id", "ru-" + job.id + "-" + type}, {"type", type}, {"detail", std::move(detail)}};
  if (!reason.empty()) ev["reason"] = reason;
  auto r = relay_.record_job_event(job.serial, job.id, ev, wall_clock_ms());
  if (!r) {
    std::cerr << "relayd: relay-update " << job.id << ": cannot record " << type << ": "
              << r.error().message << std::endl;
  }
}

void RelayUpdater::work(Job job) {
  Json manifest;
  auto installed = fetch(job, manifest);
  const std::string version = manifest.is_object() ? manifest.value("version", "") : "";
  if (!installed) {
    event(job, "failed", Json::object(), installed.error().message);
  } else if (!options_.running_version.empty() &&
             compare_versions(version, options_.running_version) < 0) {
    event(job, "failed", Json::object(),
          "the build is version " + version + ", older than " + options_.running_version +
              ", which this relay runs: refused (no rollback; sign a newer build to go back)");
  } else {
    event(job, "acquired", Json{{"version", manifest.value("version", "")}});
    event(job, "started", Json{{"path", *installed}});
    auto started = start_new_build(job, *installed, manifest);
    if (!started) {
      event(job, "failed", Json::object(), started.error().message);
    } else {
      std::cerr << "relayd: relay-update " << job.id << ": " << *started
                << "; handing over and exiting" << std::endl;
      hand_over_();
    }
  }
  std::lock_guard lock(mu_);
  running_job_.clear();
}

Result<std::string> RelayUpdater::fetch(const Job& job, Json& manifest) {
  const std::string sha = text_field(job.params, "artifact");
  // Fetched from the parent (resumed, verified, kept in the blob directory for any relay below
  // this one) unless it is here already.
  if (auto st = fetcher_.fetch(sha, stop_); !st) {
    if (st.error().kind == ErrorKind::kNotFound)
      return not_found("the parent has no build " + sha + ": " + st.error().message);
    return st.error();
  }
  auto meta = blobs_.meta(sha);
  if (!meta) return meta.error();
  // End-to-end trust, again at install time: a blob that reached the directory another way
  // (an upload here) is held to the same keys.
  auto verified = verify_signed_manifest(*meta, sha, options_.trusted_keys);
  if (!verified) {
    return Error{verified.error().kind, "refused build " + sha + ": " + verified.error().message};
  }
  manifest = *verified;
  manifest.erase("signature");
  if (manifest["kind"] != kArtifactKindRelay) {
    return bad_input("artifact " + sha + " is not a relay build");
  }
  const fs::path bin = fs::path(options_.data_dir) / "bin";
  std::error_code ec;
  fs::create_directories(bin, ec);
  fs::create_directories(fs::path(options_.data_dir) / "updates", ec);  // the ready file's
  const fs::path installed = bin / ("relayd-" + sha.substr(0, 16));
  const fs::path part = installed.string() + ".part";
  fs::copy_file(fs::path(blobs_.dir()) / sha, part, fs::copy_options::overwrite_existing, ec);
  if (ec) return unavailable("cannot copy the build to " + part.string() + ": " + ec.message());
  auto got = file_sha256(part.string());
  if (!got) return got.error();
  if (*got != sha) {
    fs::remove(part, ec);
    return bad_input("the build's SHA-256 is " + *got + ", not " + sha +
                     " (the blob directory was changed)");
  }
  fs::rename(part, installed, ec);
  if (ec) return unavailable("cannot install " + installed.string() + ": " + ec.message());
  ::chmod(installed.c_str(), 0755);
  return installed.string();
}

Result<std::string> RelayUpdater::start_new_build(const Job& job, const std::string& path,
                                                  const Json& manifest) {
  const std::string ready = update_ready_file(options_.data_dir, job.id);
  std::error_code ec;
  fs::remove(ready, ec);
  std::vector<std::string> args = options_.argv;
  if (args.empty()) args.push_back(path);
  args[0] = path;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    if (kv.rfind("PRINTRELAY_UPDATE_", 0) == 0) continue;
    env_store.push_back(kv);
  }
  env_store.push_back(std::string(kUpdateJobEnv) + "=" + job.id);
  env_store.push_back(std::string(kUpdateVersionEnv) + "=" + manifest.value("version", ""));
  env_store.push_back(std::string(kUpdateArtifactEnv) + "=" + manifest.value("sha256", ""));
  std::vector<char*> envp;
  for (auto& kv : env_store) envp.push_back(kv.data());
  envp.push_back(nullptr);

  // Only stdin/stdout/stderr go to the new build. Our listening sockets in particular must not:
  // the kernel would keep handing them connections that nobody accepts once we are gone.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return unavailable("the new build did not start: " + std::string(std::strerror(rc)) +
                       "; still running the previous build");
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(options_.start_timeout_s);
  while (std::chrono::steady_clock::now() < deadline && !stop_) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      std::string how = WIFEXITED(status)
                            ? "exited with status " + std::to_string(WEXITSTATUS(status))
                            : "was killed by signal " + std::to_string(WTERMSIG(status));
      return unavailable("the new build " + how + " before serving; rolled back to the " +
                         "previous build, which keeps running");
    }
    if (fs::exists(ready)) {
      // The new build serves: from now on it is the relay. DATA_DIR/bin/current follows it.
      const fs::path current = fs::path(options_.data_dir) / "bin" / "current";
      const fs::path tmp = fs::path(options_.data_dir) / "bin" / ".current.tmp";
      fs::remove(tmp, ec);
      fs::create_symlink(fs::path(path).filename(), tmp, ec);
      if (!ec) fs::rename(tmp, current, ec);
      if (ec) std::cerr << "relayd: cannot point bin/current at the new build: " << ec.message();
      // Its version, for running_build_version() after a restart (no environment then).
      const std::string version = manifest.value("version", "");
      if (!ec &&
          !write_version_file(fs::path(options_.data_dir) / "bin" / "current.version", version)) {
        std::cerr << "relayd: cannot record the new build's version in bin/current.version"
                  << std::endl;
      }
      return "new build (pid " + std::to_string(pid) + ") is serving";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return unavailable("the new build did not start serving within " +
                     std::to_string(options_.start_timeout_s) +
                     " s; stopped it and rolled back to the previous build");
}

std::string running_build_version(const std::string& data_dir,
                                  const std::string& compiled_version) {
  if (const char* v = std::getenv(kUpdateVersionEnv); v != nullptr && *v != '\0') return v;
  std::error_code ec;
  const fs::path bin = fs::path(data_dir) / "bin";
  const auto current = fs::canonical(bin / "current", ec);
  const auto self = fs::canonical("/proc/self/exe", ec);
  if (!ec && current == self) {
    std::ifstream f(bin / "current.version");
    std::string version;
    if (f && std::getline(f, version) && !version.empty()) return version;
  }
  return compiled_version;
}

}  // namespace printrelay
