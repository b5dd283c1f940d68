#include "sim/fleet.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "core/codec.h"
#include "printrelay/agent.h"

namespace printrelay::sim {
namespace {

using Clock = std::chrono::steady_clock;

// A control file that still does not parse after this long is given up on.
constexpr auto kUnreadableGrace = std::chrono::seconds(2);

// The agents' messages, on the simulator's stderr with its own prefix and the level. Agent
// messages about one device already name its serial ("agent SIM-0001: poll: ..."). The agent
// serialises the calls, so lines from the devices' threads do not interleave.
void log_agent_message(void*, int level, const char* message) {
  static const char* const kLevels[] = {"error", "warn", "info", "debug"};
  const char* name = level >= 0 && level <= PR_LOG_DEBUG ? kLevels[level] : "log";
  std::fprintf(stderr, "mfp-sim: %s: %s\n", name, message);
}

}  // namespace

std::string fleet_serial(const std::string& prefix, int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d", i);
  return prefix + buf;
}

Result<std::unique_ptr<Fleet>> Fleet::create(const FleetOptions& options) {
  if (options.devices < 1) return bad_input("--devices must be at least 1");
  if (options.device.relay_urls.empty()) return bad_input("at least one --relay is needed");
  if (options.speed <= 0) return bad_input("--speed must be positive");
  // Before the first pr_agent_create, which logs why it refuses a device's configuration.
  pr_agent_set_log_callback(&log_agent_message, nullptr);
  std::unique_ptr<Fleet> f(new Fleet(options));
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir / "control", ec);
  if (ec)
    return unavailable("create " + (options.state_dir / "control").string() + ": " + ec.message());
  for (int i = 1; i <= options.devices; ++i) {
    std::string serial = fleet_serial(options.serial_prefix, i);
    if (!is_valid_id(serial)) return bad_input("serial '" + serial + "' is not a valid id");
    f->devices_.push_back(
        std::make_unique<SimDevice>(serial, options.device, options.state_dir / serial));
  }
  return f;
}

Fleet::~Fleet() { stop(); }

Status Fleet::start() {
  for (auto& d : devices_) {
    if (auto st = d->start(); !st) return st;
  }
  return ok_status();
}

void Fleet::stop() {
  // Stopping an agent aborts its in-flight request (a long-poll) within about a second; stop
  // them all at once so that a fleet of 200 also exits in about a second.
  std::vector<std::thread> stoppers;
  stoppers.reserve(devices_.size());
  for (auto& d : devices_) stoppers.emplace_back([&d] { d->stop(); });
  for (auto& t : stoppers) t.join();
}

SimDevice* Fleet::find(const std::string& serial) {
  for (auto& d : devices_) {
    if (d->serial() == serial) return d.get();
  }
  return nullptr;
}

std::size_t Fleet::scan_control() {
  const auto dir = options_.state_dir / "control";
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::size_t handled = 0;
  for (const auto& p : files) {
    const std::string stem = p.stem().string();
    // "<serial>.json" or "<serial>-<anything>.json"; the longest matching serial wins.
    SimDevice* target = nullptr;
    for (auto& d : devices_) {
      const auto& s = d->serial();
      if (stem.size() < s.size() || stem.compare(0, s.size(), s) != 0) continue;
      if (stem.size() > s.size() && stem[s.size()] != '-') continue;
      if (!target || s.size() > target->serial().size()) target = d.get();
    }
    std::ifstream in(p);
    std::stringstream text;
    text << in.rdbuf();
    in.close();
    auto action = parse_body(text.str());
    if (!action) {
      auto [it, fresh] = unreadable_since_.try_emplace(p.string(), Clock::now());
      if (Clock::now() - it->second < kUnreadableGrace) continue;  // maybe still being written
      std::cerr << "mfp-sim: control file " << p << ": " << action.error().message << "\n";
      unreadable_since_.erase(it);
      std::filesystem::remove(p, ec);
      continue;
    }
    unreadable_since_.erase(p.string());
    std::filesystem::remove(p, ec);
    ++handled;
    if (!target) {
      std::cerr << "mfp-sim: control file " << p << " names no device of this fleet\n";
      continue;
    }
    if (auto st = target->act(*action); !st) {
      std::cerr << "mfp-sim: " << target->serial() << ": " << st.error().message << "\n";
    }
    target->write_status(true);
  }
  return handled;
}

void Fleet::run(const std::atomic<bool>& stop, double duration_s) {
  const auto started = Clock::now();
  auto last_tick = started;
  while (!stop) {
    const auto now = Clock::now();
    if (duration_s > 0 && now - started >= std::chrono::duration<double>(duration_s)) break;
    scan_control();
    const double elapsed = std::chrono::duration<double>(now - last_tick).count();
    if (elapsed >= 1.0) {
      last_tick = now;
      for (auto& d : devices_) {
        d->advance(elapsed * options_.speed);
        d->write_status(true);
      }
    } else {
      for (auto& d : devices_) d->write_status(false);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace printrelay::sim
