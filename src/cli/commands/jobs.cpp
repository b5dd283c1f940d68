// jobs: the job list, one job, creating a job of each kind (signed when a sign key is named; a
// firmware job always), cancelling, acknowledging and waiting for one.
#include <chrono>
#include <memory>
#include <thread>

#include "cli/commands/commands.h"
#include "cli/firmware_requests.h"
#include "cli/job_signing.h"
#include "cli/render.h"
#include "cli/requests.h"
#include "cli/table.h"

namespace printrelay::cli {
namespace {

struct JobFlags {
  std::string serial, state, id;
  bool all = false;
  int wait_timeout_s = 60;
  CollectJobArgs collect;
  ConfigureJobArgs configure;
  ScheduleJobArgs schedule;
  std::string reboot_serial;
  JobTimes reboot_times;
  std::string relay_update_relay, relay_update_artifact;
  JobTimes relay_update_times;
  FirmwareJobArgs firmware;
  SigningFlags signing;
};

void add_job_times(CLI::App* command, JobTimes& t) {
  command->add_option("--not-before", t.not_before,
                      "instructed time: RFC 3339 UTC or +10m/+2h/+1d");
  command->add_option("--execute-at", t.execute_at, "execution time: RFC 3339 UTC or +10m/+2h/+1d");
  command->add_option("--expires-at", t.expires_at, "expiry: RFC 3339 UTC or +10m/+2h/+1d");
}

int list_jobs(CommandContext& ctx, const JobFlags& f) {
  if (!f.state.empty() && !job_state_from(f.state)) {
    return ctx.usage(
        "--state must be waiting, acquired, running, succeeded, failed, cancelled or "
        "expired");
  }
  return ctx.list(
      with_query("/v1/jobs", {{"serial", f.serial}, {"state", f.state}, {"all", f.all ? "1" : ""}}),
      "jobs", print_jobs);
}

int show_job(CommandContext& ctx, const std::string& id) {
  return ctx.show({"GET", "/v1/jobs/" + url_encode(id), {}}, print_job_detail);
}

// POST /v1/jobs, then the job's transitions for the "created" cause when the job is signed.
int send_job(CommandContext& ctx, const ApiCall& request) {
  auto reply = ctx.call(request);
  if (!reply) return ctx.failed(reply.error());
  if (ctx.json()) return ctx.print_json(*reply);
  Json job = object_of(*reply, "job");
  if (!request.body || !request.body->contains("envelope")) {
    ctx.out() << display(job.value("id", Json())) << '\n';
    print_jobs(Json::array({job}), ctx.out());
    return kExitOk;
  }
  Json transitions = Json::array();
  if (auto detail = ctx.client().call({"GET", "/v1/jobs/" + url_encode(job.value("id", "")), {}})) {
    transitions = detail->value("transitions", Json::array());
  }
  print_created_job(job, transitions, ctx.out());
  return kExitOk;
}

// Signs the job when a sign key is named (--sign-key, PRINTRELAY_SIGN_KEY or the config file).
int create_job(CommandContext& ctx, const Result<ApiCall>& request, const SigningFlags& signing) {
  if (!request) return ctx.usage(request.error().message);
  auto signer = ctx.load_signer(signing);
  if (!signer) return ctx.usage(signer.error().message);
  if (!*signer) return send_job(ctx, *request);
  ApiCall signed_call = *request;
  if (auto s = sign_job_call(signed_call, **signer, ctx.now()); !s)
    return ctx.usage(s.error().message);
  return send_job(ctx, signed_call);
}

// The manifest of each artifact, in order (GET /v1/artifacts/{sha}).
Result<std::vector<Json>> fetch_manifests(CommandContext& ctx,
                                          const std::vector<std::string>& artifacts) {
  std::vector<Json> manifests;
  for (const auto& sha : artifacts) {
    auto reply = ctx.call({"GET", "/v1/artifacts/" + sha, {}});
    if (!reply) {
      if (ctx.usage_error()) return reply.error();
      return Error{reply.error().kind,
                   "artifact " + sha.substr(0, 12) + ": " + reply.error().message};
    }
    manifests.push_back(object_of(*reply, "artifact"));
  }
  return manifests;
}

// A firmware job is always signed: a device installs only firmware the service center signed.
// Everything local (flags, the key) is checked before the relay is asked for the manifests.
int create_firmware_job(CommandContext& ctx, const FirmwareJobArgs& firmware,
                        const SigningFlags& signing) {
  const TimeMs now = ctx.now();
  if (auto s = check_firmware_job_args(firmware, now); !s) return ctx.usage(s.error().message);
  auto signer = ctx.load_signer(signing);
  if (!signer) return ctx.usage(signer.error().message);
  if (!*signer) return ctx.usage(std::string("a firmware job must be ") + kNoSignKey);
  auto manifests = fetch_manifests(ctx, firmware.artifacts);
  if (!manifests) return ctx.failed(manifests.error());
  auto request = firmware_job_call(firmware, *manifests, now);
  if (!request) return ctx.failed(request.error());
  if (auto s = sign_job_call(*request, **signer, now); !s) return ctx.failed(s.error());
  return send_job(ctx, *request);
}

int job_action(CommandContext& ctx, const std::string& id, const char* action, const char* done) {
  auto reply = ctx.call({"POST", "/v1/jobs/" + url_encode(id) + "/" + action, Json::object()});
  if (!reply) return ctx.failed(reply.error());
  if (ctx.json()) return ctx.print_json(*reply);
  Json job = object_of(*reply, "job");
  if (job.is_object() && job.contains("id")) {
    print_jobs(Json::array({job}), ctx.out());
  } else {
    ctx.out() << done << ' ' << id << '\n';
  }
  return kExitOk;
}

int wait_for_job(CommandContext& ctx, const std::string& id, int timeout_s) {
  if (timeout_s < 0) return ctx.usage("--timeout-s must not be negative");
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (true) {
    auto reply = ctx.call({"GET", "/v1/jobs/" + url_encode(id), {}});
    if (!reply) return ctx.failed(reply.error());
    Json job = object_of(*reply, "job");
    std::string state = job.value("state", "");
    auto parsed = job_state_from(state);
    if (parsed && is_terminal(*parsed)) {
      if (ctx.json()) {
        ctx.print_json(job);
      } else {
        std::string line = state;
        const Json& result = job.contains("result") ? job["result"] : Json();
        if (result.is_object() && result.contains("reason"))
          line += ": " + display(result["reason"]);
        ctx.out() << line << '\n';
      }
      return *parsed == JobState::kSucceeded ? kExitOk : kExitFailed;
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      ctx.err() << "timeout: job " << id << " is still " << (state.empty() ? "?" : state)
                << " after " << timeout_s << " s\n";
      return kExitTimeout;
    }
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::milliseconds(200), deadline - now));
  }
}

// jobs create KIND: one subcommand per job kind.
void add_create_commands(CLI::App* jobs, CommandContext& ctx, const std::shared_ptr<JobFlags>& f) {
  auto* create = jobs->add_subcommand("create", "create a job");
  create->require_subcommand(1);
  auto* collect = create->add_subcommand("collect", "send data sets now or at a time");
  collect->add_option("--serial", f->collect.serial)->required();
  collect->add_option("--data-sets", f->collect.data_sets, "e.g. counters,supplies")->required();
  add_job_times(collect, f->collect.times);
  add_signing(collect, f->signing);
  ctx.on(collect, [&ctx, f] {
    return create_job(ctx, collect_job_call(f->collect, ctx.now()), f->signing);
  });

  auto* configure = create->add_subcommand("configure", "rewrite device settings");
  configure->add_option("--serial", f->configure.serial)->required();
  configure->add_option("--set", f->configure.settings, "key=value (repeatable)")
      ->required()
      ->allow_extra_args(false);
  add_job_times(configure, f->configure.times);
  add_signing(configure, f->signing);
  ctx.on(configure, [&ctx, f] {
    return create_job(ctx, configure_job_call(f->configure, ctx.now()), f->signing);
  });

  auto* schedule = create->add_subcommand("schedule", "change the poll policy");
  ScheduleJobArgs& s = f->schedule;
  schedule->add_option("--serial", s.serial)->required();
  schedule->add_option("--interval-s", s.interval_s, "periodic access, 5-604800 s");
  schedule->add_option("--times", s.times_of_day, "extra accesses, e.g. 02:00,14:30");
  schedule->add_option("--on-power-on", s.on_power_on, "true|false");
  schedule->add_option("--when-counter", s.when_counter, "e.g. total>=100000 (repeatable)")
      ->allow_extra_args(false);
  schedule->add_option("--when-error", s.when_error, "e.g. SC542 (repeatable)")
      ->allow_extra_args(false);
  add_job_times(schedule, s.times);
  add_signing(schedule, f->signing);
  ctx.on(schedule, [&ctx, f] {
    return create_job(ctx, schedule_job_call(f->schedule, ctx.now()), f->signing);
  });

  auto* reboot = create->add_subcommand("reboot", "restart the device");
  reboot->add_option("--serial", f->reboot_serial)->required();
  add_job_times(reboot, f->reboot_times);
  add_signing(reboot, f->signing);
  ctx.on(reboot, [&ctx, f] {
    return create_job(ctx, reboot_job_call(f->reboot_serial, f->reboot_times, ctx.now()),
                      f->signing);
  });

  auto* relay_update = create->add_subcommand("relay-update", "replace a child relay's program");
  relay_update->add_option("--relay", f->relay_update_relay, "the child relay's id")->required();
  relay_update->add_option("--artifact", f->relay_update_artifact, "sha256 of a pushed relay build")
      ->required();
  add_job_times(relay_update, f->relay_update_times);
  add_signing(relay_update, f->signing);
  ctx.on(relay_update, [&ctx, f] {
    return create_job(ctx,
                      relay_update_job_call(f->relay_update_relay, f->relay_update_artifact,
                                            f->relay_update_times, ctx.now()),
                      f->signing);
  });

  auto* firmware = create->add_subcommand(
      "firmware", "update a device's firmware with pushed images (signed: needs --sign-key)");
  FirmwareJobArgs& fw = f->firmware;
  firmware->add_option("--serial", fw.serial)->required();
  firmware->add_option("--artifact", fw.artifacts, "sha256 of a pushed image (repeatable)")
      ->required()
      ->allow_extra_args(false);
  firmware->add_option("--update-at", fw.update_at,
                       "update time: RFC 3339 UTC or +2h (default: once downloaded)");
  firmware->add_option("--not-before", fw.not_before, "hand the job out from this time");
  firmware->add_option("--forbid", fw.forbid, "forbidden window, e.g. \"mon-fri 09:00-17:00\"")
      ->allow_extra_args(false);
  firmware->add_option("--utc-offset-min", fw.utc_offset_min,
                       "the --forbid windows' local time: minutes east of UTC (default 0)");
  add_deferral(firmware, fw.deferral);
  firmware->add_option("--max-attempts", fw.max_attempts, "writes tried, 1-10 (default 3)");
  firmware->add_option("--write-estimate-s", fw.write_estimate_s,
                       "expected write + reboot time (default 120)");
  auto* expires_at =
      firmware->add_option("--expires-at", fw.expires_at, "expiry: RFC 3339 UTC or +3d");
  firmware->add_option("--expires-in-h", fw.expires_in_h, "expiry in hours (default 72)")
      ->excludes(expires_at);
  firmware->add_flag("--allow-downgrade", fw.allow_downgrade,
                     "let the device install a version older than the one it runs");
  add_signing(firmware, f->signing);
  ctx.on(firmware, [&ctx, f] { return create_firmware_job(ctx, f->firmware, f->signing); });
}

}  // namespace

void add_jobs_command(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<JobFlags>();
  auto* jobs = app.add_subcommand("jobs", "the job list (seed 001 Fig. 9) and job commands");
  jobs->require_subcommand(0, 1);
  jobs->add_option("--serial", f->serial);
  jobs->add_option("--state", f->state);
  jobs->add_flag("--all", f->all, "include finished and acknowledged jobs");
  ctx.on(jobs, [&ctx, f] { return list_jobs(ctx, *f); });

  auto* show = jobs->add_subcommand("show", "one job and its transitions");
  show->add_option("ID", f->id)->required();
  ctx.on(show, [&ctx, f] { return show_job(ctx, f->id); });

  add_create_commands(jobs, ctx, f);

  auto* cancel = jobs->add_subcommand("cancel", "cancel a waiting or acquired job");
  cancel->add_option("ID", f->id)->required();
  ctx.on(cancel, [&ctx, f] { return job_action(ctx, f->id, "cancel", "cancelled"); });

  auto* ack = jobs->add_subcommand("ack", "acknowledge a failed job");
  ack->add_option("ID", f->id)->required();
  ctx.on(ack, [&ctx, f] { return job_action(ctx, f->id, "ack", "acknowledged"); });

  auto* wait =
      jobs->add_subcommand("wait", "wait until a job ends: exit 0 succeeded, 1 not, 3 timeout");
  wait->add_option("ID", f->id)->required();
  wait->add_option("--timeout-s", f->wait_timeout_s, "default 60");
  ctx.on(wait, [&ctx, f] { return wait_for_job(ctx, f->id, f->wait_timeout_s); });
}

}  // namespace printrelay::cli
