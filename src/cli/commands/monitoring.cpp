// alerts, watch, notifications, monitoring: what needs attention and what was said about it.
#include <algorithm>
#include <memory>
#include <optional>

#include "cli/commands/commands.h"
#include "cli/monitoring_requests.h"
#include "cli/render.h"
#include "cli/requests.h"
#include "core/json_text.h"

namespace printrelay::cli {
namespace {

struct AlertFlags {
  std::string serial, id;
  bool all = false;
};

int list_alerts(CommandContext& ctx, const AlertFlags& f) {
  return ctx.list(with_query("/v1/alerts", {{"serial", f.serial}, {"all", f.all ? "1" : ""}}),
                  "alerts", print_alerts);
}

int ack_alert(CommandContext& ctx, const std::string& id) {
  auto reply = ctx.call({"POST", "/v1/alerts/" + url_encode(id) + "/ack", Json::object()});
  if (!reply) return ctx.failed(reply.error());
  if (ctx.json()) return ctx.print_json(*reply);
  ctx.out() << "acknowledged alert " << id << '\n';
  return kExitOk;
}

struct WatchFlags {
  std::string kinds;
  std::optional<int> count, timeout_s;
};

int follow_events(CommandContext& ctx, const WatchFlags& f) {
  std::vector<std::string> kinds = {"alert", "job", "report"};
  if (!f.kinds.empty()) {
    auto k = split_list(f.kinds, "--kinds");
    if (!k) return ctx.usage(k.error().message);
    for (const auto& kind : *k) {
      if (kind != "alert" && kind != "job" && kind != "report") {
        return ctx.usage("--kinds: unknown event kind '" + kind + "' (alert, job, report)");
      }
    }
    kinds = *k;
  }
  if (f.count && *f.count < 1) return ctx.usage("--count must be at least 1");
  if (f.timeout_s && *f.timeout_s < 1) return ctx.usage("--timeout-s must be at least 1");
  if (!ctx.connect()) return kExitUsage;
  int seen = 0;
  bool timed_out = false;
  auto result = ctx.client().follow(
      "/v1/events", f.timeout_s ? long(*f.timeout_s) * 1000 : 0,
      [&](const SseEvent& e) {
        if (std::find(kinds.begin(), kinds.end(), e.event) == kinds.end()) return true;
        auto parsed = parse_json(e.data);
        Json data = parsed ? std::move(*parsed) : Json(e.data);
        if (ctx.json()) {
          ctx.out() << json_text(Json{{"event", e.event}, {"data", data}}, -1) << std::endl;
        } else {
          ctx.out() << event_line(e.event, data, ctx.now()) << std::endl;
        }
        ++seen;
        return !(f.count && seen >= *f.count);
      },
      &timed_out);
  if (!result) return ctx.failed(result.error());
  if (*result) return kExitOk;  // --count events seen
  if (timed_out) {
    if (!f.count) return kExitOk;  // a plain "watch for N seconds" ended as asked
    ctx.err() << "timeout: saw " << seen << " of " << *f.count << " events in " << *f.timeout_s
              << " s\n";
    return kExitTimeout;
  }
  ctx.err() << "error: the relay closed the event stream\n";
  return kExitFailed;
}

int list_notifications(CommandContext& ctx, const std::string& serial,
                       const std::optional<int>& limit) {
  auto request = notifications_call(serial, limit);
  if (!request) return ctx.usage(request.error().message);
  return ctx.list(request->path, "notifications", print_notifications);
}

int device_monitoring(CommandContext& ctx, const std::string& serial) {
  auto request = device_monitoring_call(serial);
  if (!request) return ctx.usage(request.error().message);
  return ctx.show(*request, print_device_monitoring);
}

}  // namespace

void add_alerts_command(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<AlertFlags>();
  auto* alerts = app.add_subcommand("alerts", "open alerts (all with --all)");
  alerts->require_subcommand(0, 1);
  alerts->add_option("--serial", f->serial);
  alerts->add_flag("--all", f->all, "include acknowledged alerts");
  ctx.on(alerts, [&ctx, f] { return list_alerts(ctx, *f); });
  auto* ack = alerts->add_subcommand("ack", "acknowledge (close) an alert");
  ack->add_option("ID", f->id)->required();
  ctx.on(ack, [&ctx, f] { return ack_alert(ctx, f->id); });
}

void add_watch_command(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<WatchFlags>();
  auto* watch = app.add_subcommand("watch", "follow the relay's event stream");
  watch->add_option("--kinds", f->kinds, "alert,job,report (default all)");
  watch->add_option("--count", f->count, "exit 0 after this many events");
  watch->add_option("--timeout-s", f->timeout_s, "give up after this long (exit 3 with --count)");
  ctx.on(watch, [&ctx, f] { return follow_events(ctx, *f); });
}

void add_notifications_command(CLI::App& app, CommandContext& ctx) {
  struct Flags {
    std::string serial;
    std::optional<int> limit;
  };
  auto f = std::make_shared<Flags>();
  auto* notifications = app.add_subcommand(
      "notifications", "the record of notifications sent (e-mail, webhooks), newest first");
  notifications->add_option("--serial", f->serial, "only this device's");
  notifications->add_option("--limit", f->limit, "1-1000 (relay default 200)")
      ->check(CLI::Range(1, 1000));
  ctx.on(notifications, [&ctx, f] { return list_notifications(ctx, f->serial, f->limit); });
}

void add_monitoring_command(CLI::App& app, CommandContext& ctx) {
  auto serial = std::make_shared<std::string>();
  auto* monitoring = app.add_subcommand(
      "monitoring",
      "a device as the monitoring center judges it: compatibility, troubles, supply forecasts");
  monitoring->add_option("SERIAL", *serial, "device serial")->required();
  ctx.on(monitoring, [&ctx, serial] { return device_monitoring(ctx, *serial); });
}

}  // namespace printrelay::cli
