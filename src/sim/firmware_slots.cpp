#include "sim/firmware_slots.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "core/codec.h"
#include "core/sha256.h"

namespace printrelay::sim {
namespace {

// The write time is slept in steps this long, so a kill -9 lands mid-write, not between writes.
constexpr int kWriteStepMs = 50;

// The simulator stands in for vendor firmware, which sees only include/printrelay/agent.h; so it
// keeps its own small durable-write helpers rather than reaching into src/agent.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Error io_error(const std::string& what, const std::filesystem::path& p) {
  return unavailable(what + " " + p.string() + ": " + std::strerror(errno));
}

Status write_all(int fd, std::string_view data, const std::filesystem::path& p) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("write", p);
    data.remove_prefix(std::size_t(n));
  }
  return ok_status();
}

Status sync_dir(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return io_error("open directory", dir);
  if (::fsync(fd.get()) != 0) return io_error("fsync directory", dir);
  return ok_status();
}

// After return either the old or the new content is at `path` in full.
Status write_durably(const std::filesystem::path& path, std::string_view content) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return io_error("create", tmp);
    if (auto st = write_all(fd.get(), content, tmp); !st) return st;
    if (::fsync(fd.get()) != 0) return io_error("fsync", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("rename", tmp);
  return sync_dir(path.parent_path());
}

Result<std::string> read_whole(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unavailable("cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return unavailable("cannot read " + path.string());
  return s.str();
}

// Images are streamed in pieces this big: a fleet updating at once must not hold whole images.
constexpr std::size_t kChunkBytes = 1 << 20;

// Copies an image at the simulated flash speed (`write_ms` spread over small steps), fsyncs it
// and returns its SHA-256.
Result<std::string> copy_image_slowly(std::ifstream& in, const std::filesystem::path& src,
                                      const std::filesystem::path& path, int write_ms) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(src, ec);
  if (ec) return unavailable("cannot read " + src.string() + ": " + ec.message());
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return io_error("create", path);
  const int steps = std::max(1, write_ms / kWriteStepMs);
  const std::uintmax_t per_step = (size + std::uintmax_t(steps) - 1) / std::uintmax_t(steps);
  Sha256Hasher hasher;
  std::vector<char> buf(kChunkBytes);
  // Copies up to `limit` bytes (all that is left when 0).
  auto copy = [&](std::uintmax_t limit) -> Status {
    std::uintmax_t left = limit;
    while (limit == 0 || left > 0) {
      const std::size_t want =
          limit == 0 ? buf.size() : std::size_t(std::min<std::uintmax_t>(left, buf.size()));
      in.read(buf.data(), std::streamsize(want));
      const auto n = std::size_t(in.gcount());
      if (n == 0) break;
      hasher.update({buf.data(), n});
      if (auto st = write_all(fd.get(), {buf.data(), n}, path); !st) return st;
      left -= std::min<std::uintmax_t>(left, n);
    }
    if (in.bad()) return unavailable("cannot read " + src.string());
    return ok_status();
  };
  const auto started = std::chrono::steady_clock::now();
  for (int i = 1; i <= steps; ++i) {
    if (per_step > 0) {
      if (auto st = copy(per_step); !st) return st.error();
    }
    std::this_thread::sleep_until(started + std::chrono::milliseconds(write_ms) * i / steps);
  }
  if (auto st = copy(0); !st) return st.error();  // whatever the size did not announce
  if (::fsync(fd.get()) != 0) return io_error("fsync", path);
  if (auto st = sync_dir(path.parent_path()); !st) return st.error();
  return hasher.hex_digest();
}

// Why a slot image would not boot: "" when it boots.
std::string boot_failure(const std::filesystem::path& path, const std::string& sha256) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "image missing";
  const std::string_view marker = kBadBootMarker;
  Sha256Hasher hasher;
  std::string buf(kChunkBytes, '\0');
  std::string carry;  // the tail of the previous chunk, for a marker across the boundary
  bool marked = false;
  while (true) {
    in.read(buf.data(), std::streamsize(buf.size()));
    const auto n = std::size_t(in.gcount());
    if (n == 0) break;
    const std::string_view chunk(buf.data(), n);
    hasher.update(chunk);
    std::string window = carry;
    window.append(chunk);
    marked = marked || window.find(marker) != std::string::npos;
    carry = window.substr(window.size() - std::min(window.size(), marker.size() - 1));
  }
  if (in.bad()) return "image unreadable";
  if (hasher.hex_digest() != sha256) return "image checksum mismatch";
  if (marked) return "watchdog reset";
  return "";
}

Json empty_slot() { return {{"version", ""}, {"sha256", ""}, {"valid", false}}; }

std::string inactive_of(const std::string& active) { return active == "A" ? "B" : "A"; }

std::uint64_t boot_seed(std::uint64_t seed, const std::string& serial, std::int64_t boot_count) {
  auto h = sha256(serial + "/boot/" + std::to_string(boot_count));
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | h[std::size_t(i)];
  return v ^ (seed * 0x9E3779B97F4A7C15ULL);
}

}  // namespace

FirmwareSlots::FirmwareSlots(std::filesystem::path dir, std::string serial, Json initial,
                             FirmwareSlotOptions options)
    : dir_(std::move(dir)),
      serial_(std::move(serial)),
      initial_(std::move(initial)),
      options_(options) {}

std::filesystem::path FirmwareSlots::image_path(const std::string& component, char slot) const {
  return dir_ / ("slot-" + component + "-" + std::string(1, slot) + ".img");
}

Status FirmwareSlots::persist_locked() {
  return write_durably(dir_ / "slots.json", state_.dump(2) + "\n");
}

Json& FirmwareSlots::component_locked(const std::string& component) {
  return state_["components"][component];
}

Status FirmwareSlots::load() {
  std::lock_guard write_lock(write_mu_);
  std::lock_guard lock(mu_);
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return unavailable("create " + dir_.string() + ": " + ec.message());
  const auto file = dir_ / "slots.json";
  if (std::filesystem::exists(file, ec)) {
    auto text = read_whole(file);
    if (!text) return text.error();
    auto j = parse_body(*text);
    if (!j || !j->contains("components") || !(*j)["components"].is_object()) {
      return unavailable(file.string() + ": not a slots file");
    }
    state_ = std::move(*j);
    return ok_status();
  }
  // First power-on: the factory firmware sits in slot A of every component.
  Json components = Json::object();
  Json booted = Json::object();
  for (const auto& [name, version] : initial_.items()) {
    const std::string v = version.get<std::string>();
    const std::string image = "printrelay simulated firmware " + name + " " + v + "\n";
    if (auto st = write_durably(image_path(name, 'A'), image); !st) return st;
    components[name] = {{"active", "A"},
                        {"written_since_boot", false},
                        {"slots",
                         {{"A", {{"version", v}, {"sha256", sha256_hex(image)}, {"valid", true}}},
                          {"B", empty_slot()}}}};
    booted[name] = "A";
  }
  state_ = {
      {"format", 1},
      {"boot_count", 0},
      {"components", components},
      {"pending", Json::array()},
      {"last_boot", {{"slots", booted}, {"fell_back", false}, {"reason", "factory firmware"}}}};
  return persist_locked();
}

Status FirmwareSlots::write(const std::string& component, const std::string& version,
                            const std::filesystem::path& image_path_in) {
  if (version.empty()) return bad_input("firmware version is empty");
  std::lock_guard write_lock(write_mu_);
  std::string slot;
  {
    std::lock_guard lock(mu_);
    if (!state_.is_object()) return conflict("firmware slots not loaded");
    if (!state_["components"].contains(component)) {
      return bad_input("this device has no firmware component '" + component + "'");
    }
  }
  std::ifstream image(image_path_in, std::ios::binary);
  if (!image) return unavailable("cannot read firmware image " + image_path_in.string());
  {
    // Invalid first, durably: from here a power cut leaves a slot that boot() never picks.
    std::lock_guard lock(mu_);
    Json& c = component_locked(component);
    slot = inactive_of(c["active"].get<std::string>());
    c["slots"][slot] = empty_slot();
    c["written_since_boot"] = false;
    auto& pending = state_["pending"];
    pending.erase(std::remove(pending.begin(), pending.end(), Json(component)), pending.end());
    if (auto st = persist_locked(); !st) return st;
  }
  auto sha =
      copy_image_slowly(image, image_path_in, image_path(component, slot[0]), options_.write_ms);
  if (!sha) return sha.error();
  std::lock_guard lock(mu_);
  Json& c = component_locked(component);
  c["slots"][slot] = {{"version", version}, {"sha256", *sha}, {"valid", true}};
  c["written_since_boot"] = true;
  return persist_locked();
}

Status FirmwareSlots::activate() {
  std::lock_guard lock(mu_);
  if (!state_.is_object()) return conflict("firmware slots not loaded");
  auto& pending = state_["pending"];
  for (auto& [name, c] : state_["components"].items()) {
    const std::string inactive = inactive_of(c["active"].get<std::string>());
    if (!c.value("written_since_boot", false) || !c["slots"][inactive].value("valid", false)) {
      continue;
    }
    if (std::find(pending.begin(), pending.end(), Json(name)) == pending.end()) {
      pending.push_back(name);
    }
  }
  if (pending.empty()) return conflict("no firmware written since the last boot");
  return persist_locked();
}

bool FirmwareSlots::has_pending() const {
  std::lock_guard lock(mu_);
  return state_.is_object() && !state_.value("pending", Json::array()).empty();
}

Result<Json> FirmwareSlots::boot() {
  std::lock_guard write_lock(write_mu_);
  std::lock_guard lock(mu_);
  if (!state_.is_object()) return conflict("firmware slots not loaded");
  const std::int64_t boot_count = state_.value("boot_count", std::int64_t(0)) + 1;
  state_["boot_count"] = boot_count;
  std::mt19937_64 rng(boot_seed(options_.seed, serial_, boot_count));
  auto& components = state_["components"];

  std::vector<std::string> started;  // pending components whose new image came up
  std::vector<std::string> failures;
  for (const auto& p : state_["pending"]) {
    const std::string name = p.get<std::string>();
    if (!components.contains(name)) continue;
    Json& c = components[name];
    const std::string old_slot = c["active"].get<std::string>();
    const std::string new_slot = inactive_of(old_slot);
    Json& fresh = c["slots"][new_slot];
    const double draw = double(rng() >> 11) * (1.0 / 9007199254740992.0);
    if (!fresh.value("valid", false)) continue;  // rewritten after activate: nothing to try
    std::string why = boot_failure(image_path(name, new_slot[0]), fresh.value("sha256", ""));
    if (why.empty() && draw < options_.bad_boot_chance) why = "watchdog reset";
    if (why.empty()) {
      started.push_back(name);
      continue;
    }
    const Json& old = c["slots"][old_slot];
    failures.push_back(name + " " + fresh.value("version", "") + " did not boot (" + why +
                       "): fell back to slot " + old_slot + " (" + old.value("version", "") + ")");
    fresh["valid"] = false;  // known not to boot: never activated again without a rewrite
  }

  std::string reason;
  const bool fell_back = !failures.empty();
  if (fell_back) {
    // The new set belongs together: when one part does not come up, none of it is kept.
    for (const auto& f : failures) reason += (reason.empty() ? "" : "; ") + f;
    for (const auto& name : started) {
      const Json& c = components[name];
      const std::string old_slot = c["active"].get<std::string>();
      reason += "; " + name + " " + c["slots"][inactive_of(old_slot)].value("version", "") +
                " not kept: stayed on slot " + old_slot + " (" +
                c["slots"][old_slot].value("version", "") + ")";
    }
  } else {
    for (const auto& name : started) {
      Json& c = components[name];
      const std::string new_slot = inactive_of(c["active"].get<std::string>());
      c["active"] = new_slot;
      reason += (reason.empty() ? "booted " : ", ") + name + " " +
                c["slots"][new_slot].value("version", "") + " from slot " + new_slot;
    }
    if (reason.empty()) reason = "no update pending";
  }

  Json booted = Json::object();
  for (auto& [name, c] : components.items()) {
    c["written_since_boot"] = false;
    booted[name] = c["active"];
  }
  state_["pending"] = Json::array();
  state_["last_boot"] = {{"slots", booted}, {"fell_back", fell_back}, {"reason", reason}};
  if (auto st = persist_locked(); !st) return st.error();
  return state_["last_boot"];
}

Json FirmwareSlots::versions() const {
  std::lock_guard lock(mu_);
  if (!state_.is_object()) return initial_;
  Json v = Json::object();
  for (const auto& [name, c] : state_["components"].items()) {
    v[name] = c["slots"][c["active"].get<std::string>()].value("version", "");
  }
  return v;
}

Json FirmwareSlots::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

Json FirmwareSlots::last_boot() const {
  std::lock_guard lock(mu_);
  return state_.is_object() ? state_.value("last_boot", Json()) : Json();
}

}  // namespace printrelay::sim
