// A child relay replacing its own program (seed 001 claim 28): the `relay-update` job.
//
// The build is an artifact pushed at the root (`relayctl artifact push --kind relay`). The child
// takes it from its parent through its ArtifactFetcher (HTTP Range, an interrupted transfer
// resumes; SHA-256 and the Ed25519 signature of its manifest checked against the keys it was
// told to trust; kept in the blob directory, so a relay below this one fetches it from here),
// copies it to DATA_DIR/bin, then
// starts the new build beside itself on the same port (SO_REUSEPORT) and the same data
// directory. Only when the new process says it is serving does the old one hand over and exit;
// the new one reports the job succeeded with its version. A build that does not start (or not
// within the time limit) is killed and the job fails with that reason: the old build keeps
// running, and DATA_DIR/bin/current, which a restarted relayd runs, still names the old one.
//
// Job events (transitions at the child, forwarded upward): acquired = downloaded and verified,
// running = new build starting, then succeeded (from the new build) or failed (with the reason).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/model.h"
#include "relay/artifact_fetcher.h"
#include "relay/relay.h"
#include "store/blob_dir.h"

namespace printrelay {

struct RelayUpdateOptions {
  std::string data_dir;                   // bin/ (installed builds) and updates/ (downloads)
  std::vector<std::string> trusted_keys;  // Ed25519 public keys (PEM) a build must be signed by
  std::vector<std::string> argv;          // how this relayd was started; the new build likewise
  int start_timeout_s = 30;
  // The version of the build this process runs (running_build_version()): a build with an older
  // version is refused, however well signed, so that a parent cannot roll a child back to a
  // build with known holes. A newer signed build is the way back from a bad one.
  std::string running_version;
};

// Environment variables by which the old build tells the new one what it is finishing.
inline constexpr const char* kUpdateJobEnv = "PRINTRELAY_UPDATE_JOB";
inline constexpr const char* kUpdateVersionEnv = "PRINTRELAY_UPDATE_VERSION";
inline constexpr const char* kUpdateArtifactEnv = "PRINTRELAY_UPDATE_ARTIFACT";

// Where the new build says "serving" (it writes its pid there).
std::string update_ready_file(const std::string& data_dir, const std::string& job_id);

// The version of the running build: the one a relay-update just started (kUpdateVersionEnv),
// else the one recorded for DATA_DIR/bin/current when this process is that build, else
// `compiled_version` (a build never installed by an update).
std::string running_build_version(const std::string& data_dir, const std::string& compiled_version);

class RelayUpdater {
 public:
  // `hand_over` is called (from the updater's thread) once the new build serves: the caller
  // stops this process.
  RelayUpdater(Relay& relay, ArtifactFetcher& fetcher, const BlobDirectory& blobs,
               RelayUpdateOptions options, std::function<void()> hand_over);
  ~RelayUpdater();
  RelayUpdater(const RelayUpdater&) = delete;
  RelayUpdater& operator=(const RelayUpdater&) = delete;

  // Runs the job on a thread of its own unless one is already running.
  void run(const Job& job);

 private:
  void work(Job job);
  // Downloads and verifies; returns the installed path or the reason it failed.
  Result<std::string> fetch(const Job& job, Json& manifest);
  Result<std::string> start_new_build(const Job& job, const std::string& path,
                                      const Json& manifest);
  void event(const Job& job, const std::string& type, Json detail = Json::object(),
             const std::string& reason = "");

  Relay& relay_;
  ArtifactFetcher& fetcher_;
  const BlobDirectory& blobs_;
  RelayUpdateOptions options_;
  std::function<void()> hand_over_;
  std::mutex mu_;
  std::string running_job_;
  std::atomic<bool> stop_{false};
  std::thread worker_;
};

}  // namespace printrelay
