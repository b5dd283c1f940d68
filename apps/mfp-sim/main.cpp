// mfp-sim: runs simulated MFPs, each driven by the real agent library. See src/sim/fleet.h for
// the state directory layout, status.json and the control (panel) files.
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <iostream>

#include "sim/fleet.h"

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }
}  // namespace

int main(int argc, char** argv) {
  printrelay::sim::FleetOptions o;
  std::string state_dir = "./var/sim";
  double duration_s = 0;
  CLI::App app{"mfp-sim: simulated MFPs driven by the printrelay agent"};
  app.add_option("--relay", o.device.relay_urls, "relay URL (repeatable, tried in order)")
      ->required();
  app.add_option("--enrollment-code", o.device.enrollment_code, "enrollment code")->required();
  app.add_option("--devices", o.devices, "number of devices")->capture_default_str();
  app.add_option("--serial-prefix", o.serial_prefix, "serials are <prefix>0001...")
      ->capture_default_str();
  app.add_option("--model", o.device.model, "model name")->capture_default_str();
  app.add_option("--state-dir", state_dir, "state directory")->capture_default_str();
  app.add_option("--ca", o.device.ca_file, "PEM CA bundle to verify the relays");
  app.add_flag("--insecure", o.device.insecure, "skip TLS verification (tests only)");
  app.add_option("--proxy", o.device.proxy, "HTTP proxy, e.g. http://127.0.0.1:8888");
  app.add_option("--seed", o.device.seed, "random seed")->capture_default_str();
  app.add_option("--speed", o.speed, "simulated activity rate multiplier")->capture_default_str();
  app.add_option("--long-poll-wait-s", o.device.long_poll_wait_s, "long-poll wait, 0 disables")
      ->capture_default_str()
      ->check(CLI::Range(0, 60));
  app.add_option("--duration-s", duration_s, "exit after this many seconds (0: until signal)")
      ->capture_default_str();
  app.add_option("--poll-interval-s", o.device.poll_interval_s,
                 "poll interval override until a schedule job (0: relay's policy)");
  CLI11_PARSE(app, argc, argv);
  o.state_dir = state_dir;

  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  auto fleet = printrelay::sim::Fleet::create(o);
  if (!fleet) {
    std::cerr << "mfp-sim: " << fleet.error().message << "\n";
    return 2;
  }
  if (auto st = (*fleet)->start(); !st) {
    std::cerr << "mfp-sim: " << st.error().message << "\n";
    (*fleet)->stop();
    return 1;
  }
  std::cout << "mfp-sim: " << (*fleet)->size() << " devices, state dir " << state_dir << std::endl;
  (*fleet)->run(g_stop, duration_s);
  (*fleet)->stop();
  return 0;
}
