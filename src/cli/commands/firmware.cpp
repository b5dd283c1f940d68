// campaigns, firmware: rolling firmware out to many devices, a device's firmware history, and the
// standing authorisations the relay updates devices with on its own.
#include <algorithm>
#include <memory>
#include <optional>

#include "cli/commands/commands.h"
#include "cli/firmware_requests.h"
#include "cli/job_signing.h"
#include "cli/monitoring_requests.h"
#include "cli/render.h"
#include "cli/requests.h"
#include "cli/table.h"
#include "core/model.h"

namespace printrelay::cli {
namespace {

// Campaigns at least this large show signing progress on stderr.
constexpr std::size_t kSigningProgressFrom = 100;

struct CampaignFlags {
  CampaignArgs campaign;
  SigningFlags signing;
  std::string id;
};

// The plan/create body from the flags and --serials-file; nullopt after printing why not.
std::optional<Json> campaign_body_of_flags(CommandContext& ctx, const CampaignArgs& campaign) {
  std::vector<std::string> file_serials;
  if (const std::string& path = campaign.serials_file; !path.empty()) {
    auto text = read_file(path);
    if (!text) {
      ctx.usage(text.error().message);
      return std::nullopt;
    }
    auto parsed = parse_serials_file(*text);
    for (const auto& d : parsed.duplicates) {
      ctx.err() << "warning: " << path << ": " << d << " (listed once)\n";
    }
    if (!parsed.problems.empty()) {
      for (const auto& p : parsed.problems) ctx.err() << "error: " << path << ": " << p << '\n';
      return std::nullopt;
    }
    file_serials = std::move(parsed.serials);
  }
  auto body = campaign_body(campaign, file_serials, ctx.now());
  if (!body) {
    ctx.usage(body.error().message);
    return std::nullopt;
  }
  return std::move(*body);
}

int plan_campaign(CommandContext& ctx, const CampaignFlags& f) {
  auto body = campaign_body_of_flags(ctx, f.campaign);
  if (!body) return kExitUsage;  // explained
  auto plan = ctx.call({"POST", "/v1/campaigns/plan", *body});
  if (!plan) return ctx.failed(plan.error());
  if (ctx.json()) return ctx.print_json(*plan);
  print_campaign_plan(*plan, ctx.out());
  return kExitOk;
}

// Plan, sign one envelope per target with exactly the plan's job params and expiry, create. The
// relay plans again on create and refuses when a target has no matching envelope.
int create_campaign(CommandContext& ctx, const CampaignFlags& f) {
  if (f.campaign.name.empty()) return ctx.usage("--name is required (1-200 characters)");
  auto body = campaign_body_of_flags(ctx, f.campaign);
  if (!body) return kExitUsage;
  auto signer = ctx.load_signer(f.signing);
  if (!signer) return ctx.usage(signer.error().message);
  if (!*signer) return ctx.usage(std::string("a campaign's jobs must be ") + kNoSignKey);
  auto plan = ctx.call({"POST", "/v1/campaigns/plan", *body});
  if (!plan) return ctx.failed(plan.error());
  const std::size_t targets = plan->value("targets", Json::array()).size();
  if (targets == 0) {
    return ctx.failed(bad_input("no device can be included (" +
                                std::to_string(plan->value("excluded", Json::array()).size()) +
                                " excluded; see `relayctl campaigns plan` with the same flags)"));
  }
  const std::size_t step = std::max<std::size_t>(50, targets / 20);
  auto envelopes =
      sign_campaign_envelopes(*plan, **signer, ctx.now(), [&](std::size_t done, std::size_t total) {
        if (total < kSigningProgressFrom || (done % step != 0 && done != total)) return;
        ctx.err() << "signing " << done << "/" << total << std::endl;
      });
  if (!envelopes) return ctx.failed(envelopes.error());
  (*body)["envelopes"] = std::move(*envelopes);
  const std::size_t size = body->dump().size();
  if (size > kMaxBodyBytes) {
    return ctx.failed(
        bad_input("the campaign with its " + std::to_string(targets) + " signed envelopes is " +
                  std::to_string(size) + " bytes, more than the relay accepts in one request (" +
                  std::to_string(kMaxBodyBytes) + "); split the devices into smaller campaigns"));
  }
  auto reply = ctx.call({"POST", "/v1/campaigns", *body});
  if (!reply) return ctx.failed(reply.error());
  if (ctx.json()) return ctx.print_json(*reply);
  ctx.err() << "campaign created: " << targets << " jobs signed with key " << (*signer)->key_id()
            << std::endl;
  print_campaign_detail(*reply, ctx.out());
  return kExitOk;
}

int show_campaign(CommandContext& ctx, const std::string& id) {
  return ctx.show({"GET", "/v1/campaigns/" + url_encode(id), {}}, print_campaign_detail);
}

int campaign_action(CommandContext& ctx, const std::string& id, const char* action) {
  return ctx.show({"POST", "/v1/campaigns/" + url_encode(id) + "/" + action, Json::object()},
                  print_campaign_detail);
}

// Every option of `campaigns plan` and `campaigns create`: a plan takes what its create takes.
void add_campaign_options(CLI::App* c, CampaignArgs& a) {
  c->add_option("--name", a.name, "the campaign's name (1-200 characters)");
  c->add_option("--model", a.model, "devices of this model");
  c->add_option("--version", a.versions, "COMP=VER: devices now at VER (repeatable)")
      ->allow_extra_args(false);
  c->add_option("--serial", a.serials, "this device (repeatable)")->allow_extra_args(false);
  c->add_option("--serials-file", a.serials_file, "one serial per line, # comments");
  c->add_option("--artifact", a.artifacts, "sha256 of a pushed image (repeatable)")
      ->required()
      ->allow_extra_args(false);
  c->add_option("--wave", a.waves, "wave size: 1, 10% or rest (repeatable; default rest)")
      ->allow_extra_args(false);
  c->add_option("--failure-threshold", a.failure_threshold,
                "pause at this many devices in error: 5% or 3 (default 1)");
  c->add_option("--transmit-at", a.transmit_at, "hand the jobs out from: RFC 3339 UTC or +1h");
  c->add_option("--update-at", a.update_at, "update time: RFC 3339 UTC or +2h");
  auto* expires_at = c->add_option("--expires-at", a.expires_at, "expiry: RFC 3339 UTC or +3d");
  c->add_option("--expires-in-h", a.expires_in_h, "expiry in hours (default 72)")
      ->excludes(expires_at);
  c->add_option("--forbid", a.forbid, "forbidden window, e.g. \"mon-fri 09:00-17:00\"")
      ->allow_extra_args(false);
  c->add_option("--utc-offset-min", a.utc_offset_min,
                "the --forbid windows' local time: minutes east of UTC");
  c->add_option("--max-attempts", a.max_attempts, "writes tried per device, 1-10 (default 3)");
  c->add_option("--write-estimate-s", a.write_estimate_s,
                "expected write + reboot time (default 120)");
  add_deferral(c, a.deferral);
  c->add_option("--offline-after-s", a.offline_after_s,
                "exclude devices not seen this long (default 86400)");
}

struct FirmwareFlags {
  std::string history_serial;
  std::optional<int> history_limit;
  std::string model;
  std::vector<std::string> components;  // COMP=VER
  int days = kDefaultAuthorisationDays;
  SigningFlags signing;
};

int firmware_history(CommandContext& ctx, const FirmwareFlags& f) {
  std::string limit = f.history_limit ? std::to_string(*f.history_limit) : "";
  return ctx.list(with_query("/v1/devices/" + url_encode(f.history_serial) + "/firmware-history",
                             {{"limit", limit}}),
                  "history", print_firmware_history);
}

// Signs a standing authorisation for the pushed images of the model at the given versions and
// adds it to the auto_updates table (in place of one for the same versions). Everything local
// (flags, the key) is checked before the relay is asked.
int create_authorisation(CommandContext& ctx, const FirmwareFlags& f) {
  const std::string& model = f.model;
  auto versions = authorisation_versions(model, f.components);
  if (!versions) return ctx.usage(versions.error().message);
  if (auto s = check_authorisation_days(f.days); !s) {
    return ctx.usage(s.error().message);
  }
  auto signer = ctx.load_signer(f.signing);
  if (!signer) return ctx.usage(signer.error().message);
  if (!*signer) return ctx.usage(std::string("a standing authorisation must be ") + kNoSignKey);
  auto artifacts = ctx.call({"GET", "/v1/artifacts", {}});
  if (!artifacts) return ctx.failed(artifacts.error());
  auto images = find_firmware_images(items_of(*artifacts, "artifacts"), model, *versions);
  if (!images) return ctx.failed(images.error());
  const TimeMs now = ctx.now();
  auto entry = sign_authorisation(model, *images, f.days, **signer, now);
  if (!entry) return ctx.failed(entry.error());
  auto table = ctx.call({"GET", "/v1/tables/auto_updates", {}});
  if (!table) return ctx.failed(table.error());
  bool replaced = false;
  auto body = with_authorisation(table->value("body", Json::array()), *entry, &replaced);
  if (!body) return ctx.failed(body.error());
  auto reply =
      ctx.call(table_put_call("auto_updates", *body, table->value("revision", std::int64_t(0))));
  if (!reply) return ctx.change_failed(reply.error(), "auto_updates");
  const Json row = authorisation_rows(Json::array({*entry}), now).at(0);
  if (ctx.json()) {
    return ctx.print_json(Json{{"authorisation", row},
                               {"replaced", replaced},
                               {"revision", reply->value("revision", Json())}});
  }
  ctx.out() << "authorised " << model << " " << versions_text(*versions) << " until "
            << display_time(row["expires_at"]) << " (envelope " << display(row["envelope_id"])
            << ", key " << display(row["key_id"]) << ")\n";
  ctx.err() << (replaced ? "replaced the authorisation of the same versions; " : "")
            << "auto_updates is at revision " << display(reply->value("revision", Json())) << '\n';
  return kExitOk;
}

int list_authorisations(CommandContext& ctx) {
  auto table = ctx.call({"GET", "/v1/tables/auto_updates", {}});
  if (!table) return ctx.failed(table.error());
  const Json rows = authorisation_rows(table->value("body", Json::array()), ctx.now());
  if (ctx.json()) {
    return ctx.print_json(
        Json{{"authorisations", rows}, {"revision", table->value("revision", Json())}});
  }
  print_authorisations(rows, ctx.out());
  return kExitOk;
}

int revoke_authorisation(CommandContext& ctx, const FirmwareFlags& f) {
  const std::string& model = f.model;
  auto versions = authorisation_versions(model, f.components);
  if (!versions) return ctx.usage(versions.error().message);
  auto table = ctx.call({"GET", "/v1/tables/auto_updates", {}});
  if (!table) return ctx.failed(table.error());
  Json removed;
  auto body =
      without_authorisation(table->value("body", Json::array()), model, *versions, &removed);
  if (!body) return ctx.failed(body.error());
  auto reply =
      ctx.call(table_put_call("auto_updates", *body, table->value("revision", std::int64_t(0))));
  if (!reply) return ctx.change_failed(reply.error(), "auto_updates");
  const Json rows = authorisation_rows(Json::array({removed}), ctx.now());
  if (ctx.json()) {
    return ctx.print_json(
        Json{{"revoked", rows.at(0)}, {"revision", reply->value("revision", Json())}});
  }
  ctx.out() << "revoked " << model << " " << versions_text(*versions) << " (envelope "
            << display(rows.at(0).value("envelope_id", Json())) << ")\n";
  ctx.err() << "the relay no longer attaches it to automatic updates; jobs it already created keep "
               "their envelope until it expires ("
            << display_time(rows.at(0).value("expires_at", Json()))
            << "): see relayctl jobs, relayctl jobs cancel\n";
  return kExitOk;
}

}  // namespace

void add_campaigns_command(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<CampaignFlags>();
  auto list = [&ctx] { return ctx.list("/v1/campaigns", "campaigns", print_campaigns); };
  auto* campaigns = app.add_subcommand("campaigns", "firmware campaigns (seed 004)");
  campaigns->alias("campaign");
  campaigns->require_subcommand(0, 1);
  ctx.on(campaigns, list);
  ctx.on(campaigns->add_subcommand("list", "list campaigns and their tallies"), list);
  auto* plan =
      campaigns->add_subcommand("plan", "show the devices a campaign would update, and why not");
  add_campaign_options(plan, f->campaign);
  // Accepted so that a plan and its create take the same flags; a plan signs nothing.
  plan->add_option("--sign-key", f->signing.sign_key, "ignored (create signs)");
  plan->add_option("--keys-dir", f->signing.keys_dir, "ignored (create signs)");
  ctx.on(plan, [&ctx, f] { return plan_campaign(ctx, *f); });
  auto* create = campaigns->add_subcommand(
      "create", "plan, sign one firmware job per device and start the campaign");
  add_campaign_options(create, f->campaign);
  add_signing(create, f->signing);
  ctx.on(create, [&ctx, f] { return create_campaign(ctx, *f); });
  auto* show = campaigns->add_subcommand("show", "one campaign, device by device");
  show->add_option("ID", f->id)->required();
  ctx.on(show, [&ctx, f] { return show_campaign(ctx, f->id); });
  auto* resume =
      campaigns->add_subcommand("resume", "resume a campaign paused at its failure threshold");
  resume->add_option("ID", f->id)->required();
  ctx.on(resume, [&ctx, f] { return campaign_action(ctx, f->id, "resume"); });
  auto* cancel =
      campaigns->add_subcommand("cancel", "cancel a campaign and its jobs not yet started");
  cancel->add_option("ID", f->id)->required();
  ctx.on(cancel, [&ctx, f] { return campaign_action(ctx, f->id, "cancel"); });
}

void add_firmware_command(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<FirmwareFlags>();
  auto* firmware = app.add_subcommand(
      "firmware", "a device's firmware history; standing auto-update authorisations");
  firmware->require_subcommand(1);
  auto* history = firmware->add_subcommand(
      "history", "a device's firmware history: checked, sent, installed, failed");
  history->add_option("SERIAL", f->history_serial)->required();
  history->add_option("--limit", f->history_limit, "1-1000 (relay default 100)")
      ->check(CLI::Range(1, 1000));
  ctx.on(history, [&ctx, f] { return firmware_history(ctx, *f); });
  auto* authorise = firmware->add_subcommand(
      "authorise",
      "sign a standing authorisation: the relay may update devices of MODEL to these pushed "
      "images automatically (signed: needs --sign-key)");
  authorise->alias("authorize");
  authorise->add_option("--model", f->model, "device model")->required();
  authorise
      ->add_option("--component", f->components,
                   "COMP=VER of a pushed image, e.g. main=2.0.0 (repeatable)")
      ->required()
      ->allow_extra_args(false);
  authorise->add_option("--expires-days", f->days, "valid for this many days, 1-365 (default 30)");
  add_signing(authorise, f->signing);
  ctx.on(authorise, [&ctx, f] { return create_authorisation(ctx, *f); });
  auto* authorisations = firmware->add_subcommand(
      "authorisations", "standing auto-update authorisations: model, versions, expiry, envelope");
  authorisations->alias("authorizations");
  ctx.on(authorisations, [&ctx] { return list_authorisations(ctx); });
  auto* revoke = firmware->add_subcommand(
      "revoke", "remove the standing authorisation of a model at exactly these versions");
  revoke->add_option("--model", f->model, "device model")->required();
  revoke
      ->add_option("--component", f->components,
                   "COMP=VER as authorised, e.g. main=2.0.0 (repeatable)")
      ->required()
      ->allow_extra_args(false);
  ctx.on(revoke, [&ctx, f] { return revoke_authorisation(ctx, *f); });
}

}  // namespace printrelay::cli
