// billing export|show: meter readings of a period for billing by counted pages.
#include <cstdio>
#include <fstream>
#include <memory>

#include "cli/commands/commands.h"
#include "cli/render.h"
#include "cli/requests.h"
#include "core/json_text.h"

namespace printrelay::cli {
namespace {

// A billing export reads every device's readings of the period: give it longer than a call.
constexpr long kBillingExportTimeoutMs = 10 * 60 * 1000;

struct BillingFlags {
  std::string from, to, serial, customer, out;
};

// Records in RFC 4180 text: line ends outside quoted fields (a quoted field may hold one).
long csv_records(const std::string& text) {
  long records = 0;
  bool quoted = false;
  for (char c : text) {
    if (c == '"') quoted = !quoted;
    if (c == '\n' && !quoted) ++records;
  }
  return records;
}

// GET /v1/billing with the period and filters of the flags.
Result<std::string> billing_path(CommandContext& ctx, const BillingFlags& f, const char* format) {
  std::vector<std::pair<std::string, std::string>> q;
  for (auto [name, text] : {std::pair{"from", &f.from}, std::pair{"to", &f.to}}) {
    auto t = parse_time_input(*text, ctx.now());
    if (!t) return bad_input("--" + std::string(name) + ": " + t.error().message);
    q.emplace_back(name, *t);
  }
  q.emplace_back("serial", f.serial);
  q.emplace_back("customer", f.customer);
  q.emplace_back("format", format);
  return with_query("/v1/billing", q);
}

// The CSV of GET /v1/billing?format=csv to standard output or --out (the JSON with --json).
int export_billing(CommandContext& ctx, const BillingFlags& f) {
  auto path = billing_path(ctx, f, ctx.json() ? "json" : "csv");
  if (!path) return ctx.usage(path.error().message);
  if (!ctx.connect()) return kExitUsage;
  Result<std::string> text = ctx.client().fetch_text(
      {"GET", *path, {}}, ctx.json() ? "application/json" : "text/csv", kBillingExportTimeoutMs);
  if (!text) return ctx.failed(text.error());
  if (ctx.json()) {
    auto j = parse_json(*text);
    if (!j) return ctx.failed(unavailable("the relay's billing answer is not JSON"));
    text = json_text(*j, 2) + "\n";
  }
  if (f.out.empty() || f.out == "-") {
    ctx.out() << *text;
    return kExitOk;
  }
  // Written beside the target and renamed: a failed export never leaves half a file behind.
  const std::string tmp = f.out + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << *text;
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      return ctx.failed(unavailable("cannot write " + tmp));
    }
  }
  if (std::rename(tmp.c_str(), f.out.c_str()) != 0) {
    std::remove(tmp.c_str());
    return ctx.failed(unavailable("cannot write " + f.out));
  }
  ctx.err() << "wrote " << f.out;
  if (!ctx.json()) ctx.err() << " (" << csv_records(*text) - 1 << " rows)";
  ctx.err() << '\n';
  return kExitOk;
}

int show_billing(CommandContext& ctx, const BillingFlags& f) {
  auto path = billing_path(ctx, f, "json");
  if (!path) return ctx.usage(path.error().message);
  return ctx.show({"GET", *path, {}}, print_billing);
}

}  // namespace

void add_billing_command(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<BillingFlags>();
  auto* billing = app.add_subcommand("billing", "meter readings for billing by counted pages");
  billing->require_subcommand(1);
  auto add_billing_options = [&f](CLI::App* c) {
    c->add_option("--from", f->from, "period start: RFC 3339 UTC or -30d")->required();
    c->add_option("--to", f->to, "period end (excluded): RFC 3339 UTC or -0s (now)")->required();
    c->add_option("--serial", f->serial, "only this device");
    c->add_option("--customer", f->customer, "only devices registered to this customer");
  };
  auto* export_ = billing->add_subcommand(
      "export", "CSV: per device and counter the start, end and difference, with flags");
  add_billing_options(export_);
  export_->add_option("--out", f->out, "write the CSV to FILE (default stdout)");
  ctx.on(export_, [&ctx, f] { return export_billing(ctx, *f); });
  auto* show = billing->add_subcommand("show", "the same as a table");
  add_billing_options(show);
  ctx.on(show, [&ctx, f] { return show_billing(ctx, *f); });
}

}  // namespace printrelay::cli
