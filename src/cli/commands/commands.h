// relayctl's top-level commands, one function each, grouped in files by what an operator manages.
// Each adds its command and subcommands to `app` and registers their actions on `context`;
// run_relayctl calls them in the order `relayctl --help` lists the commands.
//
// A new subcommand goes into the function of its command; a new top-level command gets a function
// in the file of its group and a call in run_relayctl (cli/relayctl.cpp).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/commands/context.h"

namespace printrelay::cli {

// devices.cpp: the fleet and what it reports.
void add_devices_command(CLI::App& app, CommandContext& context);        // devices [revoke]
void add_device_command(CLI::App& app, CommandContext& context);         // device SERIAL
void add_reports_command(CLI::App& app, CommandContext& context);        // reports
void add_registrations_command(CLI::App& app, CommandContext& context);  // registrations ...

// jobs.cpp: jobs [show|create KIND|cancel|ack|wait].
void add_jobs_command(CLI::App& app, CommandContext& context);

// monitoring.cpp: what needs attention and what was said about it.
void add_alerts_command(CLI::App& app, CommandContext& context);         // alerts [ack]
void add_watch_command(CLI::App& app, CommandContext& context);          // watch
void add_notifications_command(CLI::App& app, CommandContext& context);  // notifications
void add_monitoring_command(CLI::App& app, CommandContext& context);     // monitoring SERIAL

// access.cpp: who may talk to this relay.
void add_relays_command(CLI::App& app, CommandContext& context);       // relays [list|add|revoke]
void add_credentials_command(CLI::App& app, CommandContext& context);  // credentials ...

// artifacts.cpp: signed artifacts and the local keys that sign them.
void add_keys_command(CLI::App& app, CommandContext& context);      // keys [list|create]
void add_artifact_command(CLI::App& app, CommandContext& context);  // artifact [list|push]

// firmware.cpp: rolling firmware out.
void add_campaigns_command(CLI::App& app, CommandContext& context);  // campaigns ...
void add_firmware_command(CLI::App& app, CommandContext& context);  // firmware history|authorise...

// billing.cpp: billing export|show.
void add_billing_command(CLI::App& app, CommandContext& context);

// tables.cpp: tables [list|show|put].
void add_tables_command(CLI::App& app, CommandContext& context);

}  // namespace printrelay::cli
