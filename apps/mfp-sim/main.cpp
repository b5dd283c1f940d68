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
  app.add_option("--vendor-key", o.device.vendor_key_files,
                 "PEM Ed25519 vendor public key firmware must verify against (repeatable)")
      ->check(CLI::ExistingFile);
  app.add_option("--job-key", o.device.job_key_files,
                 "PEM Ed25519 service center key for signed jobs (repeatable)")
      ->check(CLI::ExistingFile);
  app.add_option("--download-rate", o.device.download_rate_limit,
                 "firmware download limit in bytes per second (0: unlimited)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--firmware-check-interval-s", o.device.firmware_check_interval_s,
                 "ask the relay for newer firmware this often (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--bad-boot-chance", o.device.bad_boot_chance,
                 "chance that a new firmware image does not boot (0-1)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--firmware-write-ms", o.device.firmware_write_ms,
                 "simulated flash write time per firmware image")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
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
