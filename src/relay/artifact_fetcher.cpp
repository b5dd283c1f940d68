#include "relay/artifact_fetcher.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "clock/wall_clock.h"
#include "core/artifact.h"
#include "core/codec.h"
#include "core/firmware_job.h"
#include "net/http_client.h"
#include "net/signing.h"

namespace printrelay {

namespace {

constexpr TimeMs kRefusalRememberedMs = 60 * 1000;

std::string mib(std::int64_t bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << double(bytes) / (1024.0 * 1024.0) << " MiB";
  return out.str();
}

// A file's size; 0 when it does not exist.
std::int64_t size_or_zero(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? std::int64_t(st.st_size) : 0;
}

// The parent's error message from an error body, or the start of the body.
std::string parent_message(const HttpResponse& res) {
  auto j = parse_body(res.body);
  if (j && j->is_object()) {
    auto m = j->value("error", Json::object()).value("message", "");
    if (!m.empty()) return m;
  }
  return res.body.substr(0, 200);
}

bool transient(const Error& e) {
  return e.kind == ErrorKind::kUnavailable || e.kind == ErrorKind::kRateLimited;
}

}  // namespace

Result<Json> verify_signed_manifest(const Json& signed_manifest, const std::string& sha256,
                                    const std::vector<std::string>& trusted_keys) {
  if (!signed_manifest.is_object()) return bad_input("the artifact's manifest is not an object");
  Json manifest = signed_manifest;
  const std::string signature = text_field(manifest, "signature");
  manifest.erase("signature");
  auto parsed = parse_manifest(manifest);
  if (!parsed) return bad_input("the artifact's manifest is invalid: " + parsed.error().message);
  if ((*parsed)["sha256"] != sha256) {
    return bad_input("the manifest of " + sha256.substr(0, 12) + " names another artifact");
  }
  if (trusted_keys.empty()) {
    return forbidden(
        "this relay trusts no signing key (--trust-key), so it takes no artifact "
        "from its parent");
  }
  // End-to-end trust: checked here against our keys, not the parent's word.
  std::string why = "signed by key " + parsed->value("key_id", "") +
                    ", which this relay does "
                    "not trust";
  for (const auto& pem : trusted_keys) {
    auto id = key_id(pem);
    if (!id || *id != (*parsed)["key_id"]) continue;
    auto ok = verify_text(parsed->dump(), signature, pem);
    if (ok && *ok) {
      Json out = *parsed;
      out["signature"] = signature;
      return out;
    }
    why = "the manifest's signature does not verify against trusted key " + *id;
  }
  return forbidden("refused artifact " + sha256.substr(0, 12) + ": " + why);
}

std::vector<std::string> artifacts_of(const Job& job) {
  std::vector<std::string> out;
  if (job.kind == JobKind::kRelayUpdate) {
    const std::string sha = text_field(job.params, "artifact");
    if (!sha.empty()) out.push_back(sha);
  } else if (job.kind == JobKind::kFirmware) {
    if (auto spec = parse_firmware_params(params_without_envelope(job.params)); spec) {
      for (const auto& c : spec->components) out.push_back(c.artifact);
    }
  }
  return out;
}

std::string ArtifactFetcher::Progress::describe(const std::string& sha256) const {
  const std::string name = "artifact " + sha256.substr(0, 12);
  switch (phase) {
    case Phase::kHeld:
      return name + " is on this relay";
    case Phase::kRefused:
      return name + ": " + refusal.message;
    case Phase::kFetching:
      return name + " is being fetched from the parent relay: " + mib(have) + " of " +
             (size > 0 ? mib(size) : std::string("?"));
    case Phase::kQueued:
      break;
  }
  return name + " is queued to be fetched from the parent relay" +
         (have > 0 ? " (" + mib(have) + " already here)" : std::string());
}

ArtifactFetcher::ArtifactFetcher(BlobDirectory& blobs, ArtifactFetchOptions options)
    : blobs_(blobs), options_(std::move(options)) {}

ArtifactFetcher::~ArtifactFetcher() { stop(); }

void ArtifactFetcher::start(const std::vector<std::string>& resume) {
  for (const auto& sha : resume) want(sha);
  thread_ = std::thread([this] { loop(); });
}

void ArtifactFetcher::stop() {
  stop_ = true;
  cv_.notify_all();
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

ArtifactFetcher::Progress ArtifactFetcher::want(const std::string& sha256, bool ask_again) {
  Progress p;
  if (!is_sha256_hex(sha256)) {
    p.phase = Progress::Phase::kRefused;
    p.refusal = bad_input("an artifact is named by 64 lower-case hex digits");
    return p;
  }
  const TimeMs now = wall_clock_ms();
  std::lock_guard lock(mu_);
  last_used_[sha256] = now;
  if (auto it = entries_.find(sha256); it != entries_.end()) {
    Entry& e = it->second;
    if (e.progress.phase != Progress::Phase::kRefused) return e.progress;
    if (now < e.next_try && !ask_again) return e.progress;
    // Refused a while ago: the parent may have it by now.
    e = Entry{};
    e.progress.have = size_or_zero(blobs_.dir() + "/.tmp-fetch-" + sha256);
    queue_.push_back(sha256);
    cv_.notify_all();
    return e.progress;
  }
  if (blobs_.size(sha256)) {
    p.phase = Progress::Phase::kHeld;
    return p;
  }
  Entry e;
  e.progress.have = size_or_zero(blobs_.dir() + "/.tmp-fetch-" + sha256);
  entries_[sha256] = e;
  queue_.push_back(sha256);
  cv_.notify_all();
  return e.progress;
}

bool ArtifactFetcher::pending(const std::string& sha256) const {
  std::lock_guard lock(mu_);
  return entries_.count(sha256) > 0;
}

void ArtifactFetcher::want_job(const Job& job) {
  for (const auto& sha : artifacts_of(job)) want(sha, /*ask_again=*/true);
}

Status ArtifactFetcher::fetch(const std::string& sha256, const std::atomic<bool>& abort) {
  auto p = want(sha256, /*ask_again=*/true);
  if (p.phase == Progress::Phase::kHeld) return ok_status();
  if (p.phase == Progress::Phase::kRefused) return p.refusal;
  std::unique_lock lock(mu_);
  while (!stopping() && !abort.load()) {
    auto it = entries_.find(sha256);
    if (it == entries_.end()) return ok_status();  // stored: held entries are dropped
    if (it->second.progress.phase == Progress::Phase::kHeld) return ok_status();
    if (it->second.progress.phase == Progress::Phase::kRefused) return it->second.progress.refusal;
    changed_.wait_for(lock, std::chrono::milliseconds(500));
  }
  return unavailable("stopped while fetching artifact " + sha256.substr(0, 12));
}

ArtifactFetcher::Counters ArtifactFetcher::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

std::string ArtifactFetcher::metrics_text() const {
  const Counters c = counters();
  std::ostringstream out;
  out << "# TYPE printrelay_artifact_fetches_total counter\n"
      << "printrelay_artifact_fetches_total{result=\"stored\"} " << c.fetched << "\n"
      << "printrelay_artifact_fetches_total{result=\"refused\"} " << c.refused << "\n"
      << "# TYPE printrelay_artifact_fetch_resumed_total counter\n"
      << "printrelay_artifact_fetch_resumed_total " << c.resumed << "\n"
      << "# TYPE printrelay_artifact_fetched_bytes_total counter\n"
      << "printrelay_artifact_fetched_bytes_total " << c.bytes << "\n"
      << "# TYPE printrelay_artifact_cache_evictions_total counter\n"
      << "printrelay_artifact_cache_evictions_total " << c.evicted << "\n"
      << "# TYPE printrelay_artifact_cache_bytes gauge\n"
      << "printrelay_artifact_cache_bytes " << c.cached_bytes << "\n"
      << "# TYPE printrelay_artifact_fetch_rate_bytes_per_second gauge\n"
      << "printrelay_artifact_fetch_rate_bytes_per_second " << std::int64_t(c.last_rate_bps)
      << "\n";
  return out.str();
}

void ArtifactFetcher::loop() {
  while (!stopping()) {
    std::string sha;
    {
      std::unique_lock lock(mu_);
      const TimeMs now = wall_clock_ms();
      TimeMs earliest = now + 60 * 1000;
      for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        const TimeMs at = entries_[*it].next_try;
        if (at <= now) {
          sha = *it;
          queue_.erase(it);
          break;
        }
        earliest = std::min(earliest, at);
      }
      if (sha.empty()) {
        cv_.wait_for(lock, std::chrono::milliseconds(std::max<TimeMs>(10, earliest - now)));
        continue;
      }
      entries_[sha].progress.phase = Progress::Phase::kFetching;
    }
    changed_.notify_all();
    Status st = fetch_one(sha);
    {
      std::lock_guard lock(mu_);
      Entry& e = entries_[sha];
      if (st) {
        entries_.erase(sha);  // held: want() sees the blob
      } else if (transient(st.error()) && !stopping()) {
        ++e.failures;
        e.progress.phase = Progress::Phase::kQueued;
        e.next_try =
            wall_clock_ms() + std::min<TimeMs>(30000, TimeMs(1000) << std::min(e.failures - 1, 5));
        queue_.push_back(sha);
        std::cerr << "relayd: fetching artifact " << sha.substr(0, 12)
                  << " from the parent: " << st.error().message << "; trying again in "
                  << (e.next_try - wall_clock_ms() + 500) / 1000 << " s" << std::endl;
      } else if (!stopping()) {
        e.progress.phase = Progress::Phase::kRefused;
        e.progress.refusal = st.error();
        e.next_try = wall_clock_ms() + kRefusalRememberedMs;
        ++counters_.refused;
        std::cerr << "relayd: artifact " << sha.substr(0, 12)
                  << " not taken from the parent: " << st.error().message << std::endl;
      }
    }
    changed_.notify_all();
    if (st) evict();
  }
}

Status ArtifactFetcher::fetch_one(const std::string& sha) {
  if (blobs_.size(sha)) return ok_status();
  const auto parent = options_.parent();
  if (parent.url.empty()) return unavailable("no parent relay to fetch from");
  HttpClient client(ClientOptions{parent.ca_file, false, parent.proxy, 5000, &stop_});
  const std::vector<std::pair<std::string, std::string>> auth = {
      {"Authorization", "Bearer " + parent.token}};
  const std::string base = parent.url + "/v1/artifacts/" + sha;

  auto meta_res = client.send(HttpRequest{"GET", base, "", auth, 30000});
  if (!meta_res) return unavailable(parent.url + ": " + meta_res.error().message);
  if (meta_res->status == 404) {
    return not_found("the parent relay has no artifact " + sha.substr(0, 12));
  }
  if (meta_res->status >= 500 || meta_res->status == 429) {
    return unavailable("the parent answered " + std::to_string(meta_res->status) + ": " +
                       parent_message(*meta_res));
  }
  if (meta_res->status != 200) {
    return forbidden("the parent refused the artifact's manifest (HTTP " +
                     std::to_string(meta_res->status) + "): " + parent_message(*meta_res));
  }
  auto body = parse_body(meta_res->body);
  if (!body || !body->is_object()) return unavailable("unreadable manifest from the parent");
  auto manifest =
      verify_signed_manifest(body->value("artifact", Json::object()), sha, options_.trusted_keys);
  if (!manifest) return manifest.error();
  const std::int64_t size = (*manifest)["size"].get<std::int64_t>();

  const std::string part = blobs_.dir() + "/.tmp-fetch-" + sha;
  std::int64_t have = size_or_zero(part);
  if (have > size) {
    ::unlink(part.c_str());
    have = 0;
  }
  {
    std::lock_guard lock(mu_);
    Entry& e = entries_[sha];
    e.progress.size = size;
    e.progress.have = have;
    if (have > 0) ++counters_.resumed;
  }
  if (have > 0) {
    std::cerr << "relayd: artifact " << sha.substr(0, 12) << ": resuming the transfer from the "
              << "parent at " << have << " of " << size << " bytes" << std::endl;
  }
  const auto started = std::chrono::steady_clock::now();
  const std::int64_t have_at_start = have;
  while (have < size) {
    if (stopping()) return unavailable("relayd is stopping");
    const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return unavailable("cannot write " + part + ": " + std::strerror(errno));
    const std::int64_t asked_from = have;
    auto headers = auth;
    if (have > 0) headers.emplace_back("Range", "bytes=" + std::to_string(have) + "-");
    bool too_much = false, write_failed = false;
    auto res = client.download(
        HttpRequest{"GET", base + "/data", "", headers, options_.transfer_timeout_ms},
        [&](std::string_view data) {
          if (have + std::int64_t(data.size()) > size) {
            too_much = true;
            return false;
          }
          std::string_view left = data;
          while (!left.empty()) {
            const ssize_t n = ::write(fd, left.data(), left.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
              write_failed = true;
              return false;
            }
            left.remove_prefix(std::size_t(n));
          }
          have += std::int64_t(data.size());
          std::lock_guard lock(mu_);
          entries_[sha].progress.have = have;
          counters_.bytes += std::int64_t(data.size());
          return !stopping();
        });
    ::fsync(fd);
    ::close(fd);
    if (write_failed) return unavailable("cannot write " + part + ": disk full?");
    if (too_much) {
      ::unlink(part.c_str());
      return bad_input("the parent sent more than the manifest's " + std::to_string(size) +
                       " bytes for artifact " + sha.substr(0, 12));
    }
    if (!res)
      return unavailable("transfer from the parent cut at " + std::to_string(have) + " of " +
                         std::to_string(size) + " bytes: " + res.error().message);
    if (res->status == 416 || (asked_from > 0 && res->status == 200)) {
      // What we hold is not a prefix the parent recognises: start over.
      ::unlink(part.c_str());
      return unavailable("the parent refused the range; starting the transfer over");
    }
    if (res->status == 404)
      return not_found("the parent relay has no artifact " + sha.substr(0, 12));
    if (res->status != 200 && res->status != 206) {
      return unavailable("the parent answered " + std::to_string(res->status) + ": " +
                         parent_message(*res));
    }
    if (have < size && !stopping()) {
      return unavailable("the parent ended the transfer at " + std::to_string(have) + " of " +
                         std::to_string(size) + " bytes");
    }
  }
  // put_file hashes the whole file: nothing is stored, or served, unless it is the artifact.
  if (auto st = blobs_.put_file(sha, part, *manifest); !st) {
    if (st.error().kind == ErrorKind::kBadInput) {
      ::unlink(part.c_str());  // a corrupt copy must not be resumed
      return bad_input("the bytes from the parent do not match the manifest's SHA-256 " + sha +
                       " (tampered with or corrupted on the way)");
    }
    return st;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (options_.on_transfer && have > have_at_start)
    options_.on_transfer(have - have_at_start, seconds);
  std::lock_guard lock(mu_);
  ++counters_.fetched;
  if (seconds > 0 && have > have_at_start)
    counters_.last_rate_bps = double(have - have_at_start) / seconds;
  return ok_status();
}

void ArtifactFetcher::evict() {
  std::int64_t total = 0;
  struct Held {
    std::string sha;
    std::int64_t size;
    TimeMs used;
  };
  std::vector<Held> held;
  for (const auto& m : blobs_.list()) {
    const std::string sha = text_field(m, "sha256");
    auto size = blobs_.size(sha);
    if (!size) continue;
    total += *size;
    held.push_back({sha, *size, 0});
  }
  if (options_.cache_bytes <= 0 || total <= options_.cache_bytes) {
    std::lock_guard lock(mu_);
    counters_.cached_bytes = total;
    return;
  }
  auto needed =
      options_.needed ? options_.needed() : Result<std::set<std::string>>(std::set<std::string>());
  if (!needed) {
    std::cerr << "relayd: artifact cache over its bound, but the open jobs cannot be read to see "
                 "what may go: "
              << needed.error().message << std::endl;
    std::lock_guard lock(mu_);
    counters_.cached_bytes = total;
    return;
  }
  {
    std::lock_guard lock(mu_);
    for (auto& h : held) {
      if (auto it = last_used_.find(h.sha); it != last_used_.end()) h.used = it->second;
    }
  }
  std::sort(held.begin(), held.end(), [](const Held& a, const Held& b) { return a.used < b.used; });
  std::int64_t evicted = 0;
  for (const auto& h : held) {
    if (total <= options_.cache_bytes) break;
    if (needed->count(h.sha)) continue;
    if (blobs_.remove(h.sha)) {
      total -= h.size;
      ++evicted;
      std::cerr << "relayd: artifact " << h.sha.substr(0, 12) << " removed from the cache ("
                << h.size << " bytes; no open job needs it)" << std::endl;
    }
  }
  if (total > options_.cache_bytes) {
    std::cerr << "relayd: the artifact cache holds " << total << " bytes, over its bound of "
              << options_.cache_bytes << ": open jobs need every image left" << std::endl;
  }
  std::lock_guard lock(mu_);
  counters_.evicted += evicted;
  counters_.cached_bytes = total;
}

}  // namespace printrelay
