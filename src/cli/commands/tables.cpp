// tables [list|show|put]: the service center's tables (codes, rules, authorisations) on the relay.
#include <memory>

#include "cli/commands/commands.h"
#include "cli/monitoring_requests.h"
#include "cli/render.h"
#include "cli/requests.h"
#include "cli/table.h"

namespace printrelay::cli {
namespace {

struct TableFlags {
  std::string name, file;
};

// "1 entry", "12 entries" from a table's "entries".
std::string entries_text(const Json& entries) {
  return display(entries) + (entries == 1 ? " entry" : " entries");
}

// Code tables as a table, the others as their JSON body (ready to edit and `tables put`); the
// revision and who changed it last on stderr, so that stdout is the body alone.
int show_table(CommandContext& ctx, const std::string& name) {
  auto reply = ctx.call({"GET", "/v1/tables/" + url_encode(name), {}});
  if (!reply) return ctx.failed(reply.error());
  if (ctx.json()) return ctx.print_json(*reply);
  const Json updated_at = reply->value("updated_at", Json());
  ctx.err() << name << ": revision " << display(reply->value("revision", Json())) << ", "
            << entries_text(reply->value("entries", Json())) << ", "
            << (updated_at.is_null() ? "never changed (the defaults)"
                                     : "updated " + display_time(updated_at) + " by " +
                                           display(reply->value("updated_by", Json())))
            << '\n';
  const Json body = reply->value("body", Json());
  if (is_code_table(name)) {
    print_code_table(name, body, ctx.out());
    return kExitOk;
  }
  ctx.out() << json_text(body, 2) << '\n';
  return kExitOk;
}

// Replaces a table with FILE's content at the revision the file was read at (a `tables show
// --json` answer) or, for a bare body, the current one. The relay checks every entry.
int put_table(CommandContext& ctx, const TableFlags& f) {
  if (!ctx.connect()) return kExitUsage;
  const bool from_stdin = f.file == "-";
  const std::string source = from_stdin ? "standard input" : f.file;
  auto text = from_stdin ? read_stream(ctx.in(), source) : read_file(f.file);
  if (!text) return ctx.usage(text.error().message);
  auto file = parse_table_file(f.name, *text);
  if (!file.problems.empty()) {
    for (const auto& p : file.problems) ctx.err() << "error: " << source << ": " << p << '\n';
    ctx.err() << "nothing was changed\n";
    return kExitUsage;
  }
  std::int64_t revision = 0;
  if (file.revision) {
    revision = *file.revision;
  } else {
    auto current = ctx.call({"GET", "/v1/tables/" + url_encode(f.name), {}});
    if (!current) return ctx.failed(current.error());
    revision = current->value("revision", std::int64_t(0));
  }
  auto reply = ctx.call(table_put_call(f.name, file.body, revision));
  if (!reply) return ctx.change_failed(reply.error(), f.name);
  if (ctx.json()) return ctx.print_json(*reply);
  ctx.out() << f.name << " revision " << display(reply->value("revision", Json())) << " ("
            << entries_text(reply->value("entries", Json())) << ")\n";
  return kExitOk;
}

}  // namespace

void add_tables_command(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<TableFlags>();
  auto list = [&ctx] { return ctx.list("/v1/tables", "tables", print_tables); };
  auto* tables = app.add_subcommand(
      "tables",
      "the service center's tables: error_codes, order_codes, compatibility, troubles, forecast, "
      "notification_rules, auto_updates");
  tables->alias("table");
  tables->require_subcommand(0, 1);
  ctx.on(tables, list);
  ctx.on(tables->add_subcommand("list", "list the tables: revision, entries, last change"), list);
  auto* show = tables->add_subcommand(
      "show", "one table: its body as JSON (code tables as a table; --json: with its revision)");
  show->add_option("NAME", f->name, "the table's name")->required();
  ctx.on(show, [&ctx, f] { return show_table(ctx, f->name); });
  auto* put = tables->add_subcommand(
      "put", "replace a table with FILE (the relay checks every entry; nothing changes on error)");
  put->add_option("NAME", f->name, "the table's name")->required();
  put->add_option("FILE", f->file,
                  "JSON: the body, or what `tables show NAME --json` printed; for error_codes "
                  "also CSV code,text[,action,urgency], for order_codes code,text; - reads "
                  "standard input")
      ->required();
  ctx.on(put, [&ctx, f] { return put_table(ctx, *f); });
}

}  // namespace printrelay::cli
