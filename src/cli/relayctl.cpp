#include "cli/relayctl.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <exception>
#include <iostream>

#include "cli/commands/commands.h"
#include "cli/commands/context.h"
#include "clock/wall_clock.h"

namespace printrelay::cli {
namespace {

// The deepest subcommand the user chose (the app itself when none).
CLI::App* chosen(CLI::App* app) {
  while (true) {
    auto subs = app->get_subcommands();
    if (subs.empty()) return app;
    app = subs.front();
  }
}

}  // namespace

Console process_console() { return Console{std::cout, std::cerr, process_env(), wall_clock_ms}; }

int run_relayctl(int argc, const char* const* argv, Console console) {
  CommandContext context(console);
  CLI::App app{"relayctl: the service center's command line for printrelay", "relayctl"};
  app.fallthrough();  // connection flags and --json may follow the subcommand
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every command");
  ConnectionFlags& connection = context.connection_flags();
  app.add_option("--url", connection.url, "relay URL (env PRINTRELAY_URL)");
  app.add_option("--token", connection.token, "admin token (env PRINTRELAY_TOKEN)");
  app.add_option("--ca", connection.ca, "CA bundle (PEM) to verify the relay (env PRINTRELAY_CA)");
  app.add_option("--proxy", connection.proxy,
                 "HTTP proxy to the relay, e.g. http://proxy.lan:3128 (or PRINTRELAY_PROXY)");
  app.add_flag("--insecure", connection.insecure, "do not verify the relay's certificate");
  app.add_option("--config", connection.config,
                 "JSON file {\"url\",\"token\",\"ca\"} (env PRINTRELAY_CONFIG)");
  app.add_flag("--json", context.json_flag(), "print the relay's JSON instead of a table");

  // In the order `relayctl --help` lists them (commands/commands.h says which file has which).
  add_devices_command(app, context);
  add_device_command(app, context);
  add_reports_command(app, context);
  add_jobs_command(app, context);
  add_alerts_command(app, context);
  add_registrations_command(app, context);
  add_relays_command(app, context);
  add_credentials_command(app, context);
  add_watch_command(app, context);
  add_keys_command(app, context);
  add_artifact_command(app, context);
  add_campaigns_command(app, context);
  add_firmware_command(app, context);
  add_billing_command(app, context);
  add_tables_command(app, context);
  add_notifications_command(app, context);
  add_monitoring_command(app, context);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e, console.out, console.err);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  try {
    const CommandContext::Action* action = context.action_for(chosen(&app));
    if (!action) {
      console.err << app.help();
      return kExitUsage;
    }
    return (*action)();
  } catch (const std::exception& e) {
    console.err << "error: " << e.what() << '\n';
    return kExitFailed;
  }
}

}  // namespace printrelay::cli
