// devices, device, reports, registrations: the fleet and what it reports.
#include <fstream>
#include <memory>
#include <sstream>

#include "cli/commands/commands.h"
#include "cli/render.h"
#include "cli/requests.h"
#include "cli/table.h"

namespace printrelay::cli {
namespace {

int list_devices(CommandContext& ctx, const std::string& state, const std::string& query) {
  return ctx.list(with_query("/v1/devices", {{"state", state}, {"q", query}}), "devices",
                  print_devices);
}

int show_device(CommandContext& ctx, const std::string& serial) {
  return ctx.show({"GET", "/v1/devices/" + url_encode(serial), {}}, print_device_detail);
}

struct ReportFlags {
  std::string serial, kind, since, until;
  std::optional<int> limit;
};

int list_reports(CommandContext& ctx, const ReportFlags& f) {
  std::vector<std::pair<std::string, std::string>> q = {{"serial", f.serial}, {"kind", f.kind}};
  for (auto [name, text] : {std::pair{"since", &f.since}, std::pair{"until", &f.until}}) {
    if (text->empty()) continue;
    auto t = parse_time_input(*text, ctx.now());
    if (!t) return ctx.usage("--" + std::string(name) + ": " + t.error().message);
    q.emplace_back(name, *t);
  }
  if (!f.kind.empty() && !is_report_kind(f.kind)) {
    return ctx.usage("--kind: unknown report kind '" + f.kind + "'");
  }
  if (f.limit) q.emplace_back("limit", std::to_string(*f.limit));
  return ctx.list(with_query("/v1/reports", q), "reports", print_reports);
}

int list_registrations(CommandContext& ctx) {
  return ctx.list("/v1/registrations", "registrations", print_registrations);
}

int registration_add(CommandContext& ctx, const RegistrationArgs& registration) {
  if (auto s = validate_registration(registration); !s) return ctx.usage(s.error().message);
  auto reply = ctx.call(registration_call(registration));
  if (!reply) return ctx.failed(reply.error());
  if (ctx.json()) return ctx.print_json(*reply);
  Json reg = object_of(*reply, "registration");
  if (!reg.is_object() || !reg.contains("serial"))
    reg = registration_call(registration).body.value();
  print_registrations(Json::array({reg}), ctx.out());
  return kExitOk;
}

// The whole file is checked before the first row is sent; rows are then sent one by one, and an
// unreachable relay stops the import.
int registration_import(CommandContext& ctx, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return ctx.usage("cannot read " + file);
  std::stringstream text;
  text << in.rdbuf();
  auto import = parse_registrations_csv(text.str());
  if (!import.problems.empty()) {
    for (const auto& p : import.problems) ctx.err() << "error: " << file << ": " << p << '\n';
    ctx.err() << "nothing was imported\n";
    return kExitUsage;
  }
  if (!ctx.connect()) return kExitUsage;
  const std::size_t total = import.rows.size();
  std::size_t done = 0, failures = 0;
  for (std::size_t i = 0; i < total; ++i) {
    const auto& [line, row] = import.rows[i];
    auto reply = ctx.client().call(registration_call(row));
    std::string progress = std::to_string(i + 1) + "/" + std::to_string(total) + " " + row.serial;
    if (reply) {
      ++done;
      ctx.out() << progress << " ok" << std::endl;
      continue;
    }
    ++failures;
    ctx.out() << progress << " failed" << std::endl;
    ctx.err() << "error: line " << line << " (" << row.serial << "): " << reply.error().message
              << '\n';
    if (reply.error().kind == ErrorKind::kUnavailable) {
      ctx.err() << "stopped: the relay is unreachable\n";
      break;
    }
  }
  ctx.out() << "imported " << done << " of " << total << " registrations";
  if (failures) ctx.out() << ", " << failures << " failed";
  if (done + failures < total) ctx.out() << ", " << total - done - failures << " not sent";
  ctx.out() << '\n';
  return done == total ? kExitOk : kExitFailed;
}

int registration_remove(CommandContext& ctx, const std::string& serial) {
  auto reply = ctx.call({"DELETE", "/v1/registrations/" + url_encode(serial), {}});
  if (!reply) return ctx.failed(reply.error());
  if (ctx.json()) return ctx.print_json(reply->is_null() ? Json{{"removed", serial}} : *reply);
  ctx.out() << "removed registration " << serial << '\n';
  return kExitOk;
}

}  // namespace

void add_devices_command(CLI::App& app, CommandContext& ctx) {
  struct Flags {
    std::string state, query, revoke_serial;
  };
  auto f = std::make_shared<Flags>();
  auto* devices = app.add_subcommand("devices", "list devices");
  devices->add_option("--state", f->state, "only devices in this state");
  devices->add_option("--q", f->query, "search serial, model, place, customer");
  ctx.on(devices, [&ctx, f] { return list_devices(ctx, f->state, f->query); });
  devices->require_subcommand(0, 1);
  auto* revoke =
      devices->add_subcommand("revoke", "revoke a device's credential (it may enrol again)");
  revoke->add_option("SERIAL", f->revoke_serial, "device serial")->required();
  ctx.on(revoke, [&ctx, f] { return ctx.revoke("devices", f->revoke_serial); });
}

void add_device_command(CLI::App& app, CommandContext& ctx) {
  auto serial = std::make_shared<std::string>();
  auto* device = app.add_subcommand("device", "one device in detail");
  device->add_option("SERIAL", *serial, "device serial")->required();
  ctx.on(device, [&ctx, serial] { return show_device(ctx, *serial); });
}

void add_reports_command(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<ReportFlags>();
  auto* reports = app.add_subcommand("reports", "report history, newest first");
  reports->add_option("--serial", f->serial);
  reports->add_option("--kind", f->kind);
  reports->add_option("--since", f->since, "RFC 3339 UTC or +10m/+2h/+1d");
  reports->add_option("--until", f->until, "RFC 3339 UTC or +10m/+2h/+1d");
  reports->add_option("--limit", f->limit, "1-1000 (relay default 100)")
      ->check(CLI::Range(1, 1000));
  ctx.on(reports, [&ctx, f] { return list_reports(ctx, *f); });
}

void add_registrations_command(CLI::App& app, CommandContext& ctx) {
  struct Flags {
    RegistrationArgs registration;
    std::string import_file, remove_serial;
  };
  auto f = std::make_shared<Flags>();
  auto* regs = app.add_subcommand("registrations", "the registration table");
  regs->require_subcommand(0, 1);
  ctx.on(regs, [&ctx] { return list_registrations(ctx); });
  ctx.on(regs->add_subcommand("list", "list registrations"),
         [&ctx] { return list_registrations(ctx); });
  auto* add = regs->add_subcommand("add", "register or update a device");
  add->add_option("--serial", f->registration.serial)->required();
  add->add_option("--model", f->registration.model)->required();
  add->add_option("--place", f->registration.place);
  add->add_option("--customer", f->registration.customer);
  add->add_option("--contact", f->registration.contact);
  add->add_option("--enrollment-code", f->registration.enrollment_code)->required();
  ctx.on(add, [&ctx, f] { return registration_add(ctx, f->registration); });
  auto* import = regs->add_subcommand(
      "import", "register devices from a CSV: serial,model,place,customer,contact,enrollment_code");
  import->add_option("FILE", f->import_file)->required();
  ctx.on(import, [&ctx, f] { return registration_import(ctx, f->import_file); });
  auto* rm = regs->add_subcommand("rm", "remove a registration");
  rm->add_option("SERIAL", f->remove_serial)->required();
  ctx.on(rm, [&ctx, f] { return registration_remove(ctx, f->remove_serial); });
}

}  // namespace printrelay::cli
