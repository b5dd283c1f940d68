// A child relay's copy of its parent's artifacts (seed 004 claim 1: the intermediary takes an
// image from the service center once, keeps it and serves every local device from there).
//
// A child asks its parent for an artifact when it first needs it: a job it received names it, a
// device's update check is offered it, or a device or a child of its own asks for it. The
// fetcher then:
// - takes the signed manifest from the parent and checks it (fields, SHA-256 named, Ed25519
//   signature by a key this relay trusts, `--trust-key`) before it asks for a byte;
// - downloads the bytes with HTTP Range into DATA_DIR/artifacts/.tmp-fetch-<sha>, which survives
//   an interrupted transfer and a restart: the next attempt asks only for the rest;
// - checks size and SHA-256 of the whole, and only then stores the blob (BlobDirectory::
//   put_file): nothing unverified is ever served;
// - fetches each artifact once, however many ask meanwhile: they are told it is on its way (the
//   API answers 503 with Retry-After and the progress) and ask again;
// - keeps the cache under `cache_bytes` by removing the least recently used images that no open
//   job needs. An image an open job needs is never removed, even when that leaves the cache over
//   its bound (a warning says so): a job is not failed to keep a disk quota.
//
// Transfers run one at a time on the fetcher's own thread (one WAN link, one queue, in the order
// asked). A transient failure (parent unreachable, 5xx, transfer cut) is tried again after 1, 2,
// 4 ... 30 s; a refusal for good (the parent has no such artifact, a manifest that does not verify,
// bytes that do not hash) is remembered for a minute and answered as such meanwhile.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/model.h"
#include "core/result.h"
#include "relay/upstream_link.h"
#include "store/blob_dir.h"

namespace printrelay {

struct ArtifactFetchOptions {
  // Where the parent is now (UpstreamLink::parent_access): the fetch follows a failover.
  std::function<UpstreamLink::ParentAccess()> parent;
  // The artifacts open jobs name: never evicted. An error keeps everything (no eviction then).
  std::function<Result<std::set<std::string>>()> needed;
  std::vector<std::string> trusted_keys;  // PEM Ed25519 keys a manifest must be signed by
  std::int64_t cache_bytes = 0;           // 0: no bound
  long transfer_timeout_ms = 6L * 3600 * 1000;
  // A transfer from the parent completed: `bytes` in `seconds` (the WAN rate is measured on it).
  std::function<void(std::int64_t bytes, double seconds)> on_transfer;
};

// The signed manifest (with "signature") of an artifact, checked: its fields (parse_manifest),
// that it describes `sha256`, and that its signature verifies against one of `trusted_keys`.
// Returns the manifest with its signature. Forbidden when no trusted key signed it, bad input
// when it is malformed or names another artifact.
Result<Json> verify_signed_manifest(const Json& signed_manifest, const std::string& sha256,
                                    const std::vector<std::string>& trusted_keys);

// The artifacts a job names (firmware components, a relay-update's build); none for other kinds.
std::vector<std::string> artifacts_of(const Job& job);

class ArtifactFetcher {
 public:
  ArtifactFetcher(BlobDirectory& blobs, ArtifactFetchOptions options);
  ~ArtifactFetcher();
  ArtifactFetcher(const ArtifactFetcher&) = delete;
  ArtifactFetcher& operator=(const ArtifactFetcher&) = delete;

  // Starts the transfer thread. `resume` names artifacts to ask for at once (the open jobs' at
  // start, so that a transfer cut by a restart continues).
  void start(const std::vector<std::string>& resume);
  void stop();  // ends a transfer in flight within about a second and joins

  struct Progress {
    enum class Phase { kHeld, kQueued, kFetching, kRefused };
    Phase phase = Phase::kQueued;
    std::int64_t have = 0;  // bytes on disk (kFetching, kQueued after an interruption)
    std::int64_t size = 0;  // 0 until the manifest was read
    Error refusal{ErrorKind::kNotFound, ""};  // kRefused: why
    // "fetching from the parent relay: 3.1 of 8.0 MiB" and the like, for an API answer.
    std::string describe(const std::string& sha256) const;
  };
  // Asks for `sha256` unless it is held; returns where it stands. A malformed name is refused.
  // A refusal is answered as such for a minute, unless `ask_again`: a new job or an explicit
  // fetch asks the parent again at once (the artifact may have been pushed again, re-signed).
  Progress want(const std::string& sha256, bool ask_again = false);
  // Whether `sha256` was asked for and is not stored yet (queued, on its way, or refused).
  bool pending(const std::string& sha256) const;
  // want(ask_again) for every artifact the job names.
  void want_job(const Job& job);
  // Waits until `sha256` is held (Ok), refused (the refusal), or `abort` turns true or the
  // fetcher stops (unavailable). Asks again after a refusal.
  Status fetch(const std::string& sha256, const std::atomic<bool>& abort);

  struct Counters {
    std::int64_t fetched = 0;       // artifacts stored
    std::int64_t bytes = 0;         // bytes received from parents
    std::int64_t resumed = 0;       // transfers that continued a partial file
    std::int64_t refused = 0;       // fetches refused for good
    std::int64_t evicted = 0;       // images removed to keep the bound
    std::int64_t cached_bytes = 0;  // blob bytes after the last store or eviction
    double last_rate_bps = 0;       // bytes per second of the last completed transfer
  };
  Counters counters() const;
  // The counters in Prometheus text (printrelay_artifact_fetches_total and the like).
  std::string metrics_text() const;

 private:
  struct Entry {
    Progress progress;
    TimeMs next_try = 0;  // queued: not before; refused: asked again only after
    int failures = 0;
  };
  void loop();
  // One attempt. Ok when held; a refusal for good or a transient failure otherwise.
  Status fetch_one(const std::string& sha256);
  void evict();
  bool stopping() const { return stop_.load(); }

  BlobDirectory& blobs_;
  ArtifactFetchOptions options_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;       // work for the thread
  std::condition_variable changed_;  // an entry moved (fetch() waiters)
  std::map<std::string, Entry> entries_;
  std::deque<std::string> queue_;  // in the order asked
  std::map<std::string, TimeMs> last_used_;
  Counters counters_;
  std::thread thread_;
};

}  // namespace printrelay
