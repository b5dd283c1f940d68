#include "cli/relayctl.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/firmware_requests.h"
#include "cli/job_signing.h"
#include "cli/monitoring_requests.h"
#include "cli/relay_client.h"
#include "cli/render.h"
#include "cli/requests.h"
#include "cli/signing_keys.h"
#include "cli/table.h"
#include "core/codec.h"
#include "core/json_text.h"

namespace printrelay::cli {
namespace {

// Everything the flags can set, one field per flag.
struct Flags {
  ConnectionFlags connection;
  bool json = false;

  std::string device_state, device_query, device_serial;

  std::string report_serial, report_kind, report_since, report_until;
  std::optional<int> report_limit;

  std::string job_serial, job_state, job_id;
  bool job_all = false;
  int wait_timeout_s = 60;
  CollectJobArgs collect;
  ConfigureJobArgs configure;
  ScheduleJobArgs schedule;
  std::string reboot_serial;
  JobTimes reboot_times;

  std::string alert_serial, alert_id;
  bool alert_all = false;

  RegistrationArgs registration;
  std::string import_file, remove_serial;

  std::string credential_name, credential_role;
  std::string relay_id, relay_token_file, relay_customers;
  bool relay_all_customers = false;
  std::string revoke_name;
  std::string relay_update_relay, relay_update_artifact;
  JobTimes relay_update_times;

  std::string watch_kinds;
  std::optional<int> watch_count, watch_timeout_s;

  std::string keys_dir, key_name;
  std::string artifact_file;
  ArtifactDescription artifact;

  std::string sign_key;  // --sign-key NAME; see resolve_sign_key_name()
  FirmwareJobArgs firmware;
  CampaignArgs campaign;
  std::string campaign_id;
  std::string history_serial;
  std::optional<int> history_limit;

  std::string billing_from, billing_to, billing_serial, billing_customer, billing_out;

  std::string table_name, table_file;
  std::string notification_serial;
  std::optional<int> notification_limit;
  std::string monitoring_serial;
  std::string authorisation_model;
  std::vector<std::string> authorisation_components;  // COMP=VER
  int authorisation_days = kDefaultAuthorisationDays;
};

// Completes "a firmware job must be " and "a campaign's jobs must be ".
constexpr const char* kNoSignKey =
    "signed by the service center: pass --sign-key NAME (or set PRINTRELAY_SIGN_KEY, or "
    "\"sign_key\" in the config file); make a key with `relayctl keys create NAME` and install "
    "NAME.pub on the devices as a job key";

// A billing export reads every device's readings of the period: give it longer than a call.
constexpr long kBillingExportTimeoutMs = 10 * 60 * 1000;

// Campaigns at least this large show signing progress on stderr.
constexpr std::size_t kSigningProgressFrom = 100;

// The whole file in one string (an artifact is uploaded as one body).
Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return bad_input("cannot read " + path);
  const std::streamoff size = in.tellg();
  if (size < 0) return bad_input("cannot read " + path + " (not a regular file?)");
  std::string bytes(std::size_t(size), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), size)) return bad_input("cannot read " + path);
  return bytes;
}

// Everything on a stream (`tables put NAME -` reads standard input).
Result<std::string> read_stream(std::istream& in, const std::string& what) {
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return bad_input("cannot read " + what);
  return text.str();
}

// "1 entry", "12 entries" from a table's "entries".
std::string entries_text(const Json& entries) {
  return display(entries) + (entries == 1 ? " entry" : " entries");
}

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

std::string json_text(const Json& j, int indent) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

class Commands {
 public:
  Commands(Console console, Flags& flags) : c_(std::move(console)), f_(flags) {}

  int devices() {
    return list(with_query("/v1/devices", {{"state", f_.device_state}, {"q", f_.device_query}}),
                "devices", print_devices);
  }

  int device() {
    auto reply = call({"GET", "/v1/devices/" + url_encode(f_.device_serial), {}});
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    print_device_detail(*reply, c_.out);
    return kExitOk;
  }

  int reports() {
    std::vector<std::pair<std::string, std::string>> q = {{"serial", f_.report_serial},
                                                          {"kind", f_.report_kind}};
    for (auto [name, text] :
         {std::pair{"since", &f_.report_since}, std::pair{"until", &f_.report_until}}) {
      if (text->empty()) continue;
      auto t = parse_time_input(*text, c_.now());
      if (!t) return usage("--" + std::string(name) + ": " + t.error().message);
      q.emplace_back(name, *t);
    }
    if (!f_.report_kind.empty() && !is_report_kind(f_.report_kind)) {
      return usage("--kind: unknown report kind '" + f_.report_kind + "'");
    }
    if (f_.report_limit) q.emplace_back("limit", std::to_string(*f_.report_limit));
    return list(with_query("/v1/reports", q), "reports", print_reports);
  }

  int jobs() {
    if (!f_.job_state.empty() && !job_state_from(f_.job_state)) {
      return usage(
          "--state must be waiting, acquired, running, succeeded, failed, cancelled or "
          "expired");
    }
    return list(with_query("/v1/jobs", {{"serial", f_.job_serial},
                                        {"state", f_.job_state},
                                        {"all", f_.job_all ? "1" : ""}}),
                "jobs", print_jobs);
  }

  int job_show() {
    auto reply = call({"GET", "/v1/jobs/" + url_encode(f_.job_id), {}});
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    print_job_detail(*reply, c_.out);
    return kExitOk;
  }

  // Signs the job when a sign key is named (--sign-key, PRINTRELAY_SIGN_KEY or the config file).
  int job_create(const Result<ApiCall>& request) {
    if (!request) return usage(request.error().message);
    auto signer = load_signer();
    if (!signer) return usage(signer.error().message);
    if (!*signer) return send_job(*request);
    ApiCall signed_call = *request;
    if (auto s = sign_job_call(signed_call, **signer, c_.now()); !s)
      return usage(s.error().message);
    return send_job(signed_call);
  }

  // A firmware job is always signed: a device installs only firmware the service center signed.
  // Everything local (flags, the key) is checked before the relay is asked for the manifests.
  int firmware_job_create() {
    const TimeMs now = c_.now();
    if (auto s = check_firmware_job_args(f_.firmware, now); !s) return usage(s.error().message);
    auto signer = load_signer();
    if (!signer) return usage(signer.error().message);
    if (!*signer) return usage(std::string("a firmware job must be ") + kNoSignKey);
    auto manifests = fetch_manifests(f_.firmware.artifacts);
    if (!manifests) return failed(manifests.error());
    auto request = firmware_job_call(f_.firmware, *manifests, now);
    if (!request) return failed(request.error());
    if (auto s = sign_job_call(*request, **signer, now); !s) return failed(s.error());
    return send_job(*request);
  }

  int job_action(const char* action, const char* done) {
    auto reply = call({"POST", "/v1/jobs/" + url_encode(f_.job_id) + "/" + action, Json::object()});
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    Json job = object_of(*reply, "job");
    if (job.is_object() && job.contains("id")) {
      print_jobs(Json::array({job}), c_.out);
    } else {
      c_.out << done << ' ' << f_.job_id << '\n';
    }
    return kExitOk;
  }

  int job_wait() {
    if (f_.wait_timeout_s < 0) return usage("--timeout-s must not be negative");
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::seconds(f_.wait_timeout_s);
    while (true) {
      auto reply = call({"GET", "/v1/jobs/" + url_encode(f_.job_id), {}});
      if (!reply) return failed(reply.error());
      Json job = object_of(*reply, "job");
      std::string state = job.value("state", "");
      auto parsed = job_state_from(state);
      if (parsed && is_terminal(*parsed)) {
        if (f_.json) {
          print_json(job);
        } else {
          std::string line = state;
          const Json& result = job.contains("result") ? job["result"] : Json();
          if (result.is_object() && result.contains("reason"))
            line += ": " + display(result["reason"]);
          c_.out << line << '\n';
        }
        return *parsed == JobState::kSucceeded ? kExitOk : kExitFailed;
      }
      const auto now = Clock::now();
      if (now >= deadline) {
        c_.err << "timeout: job " << f_.job_id << " is still " << (state.empty() ? "?" : state)
               << " after " << f_.wait_timeout_s << " s\n";
        return kExitTimeout;
      }
      std::this_thread::sleep_for(
          std::min<Clock::duration>(std::chrono::milliseconds(200), deadline - now));
    }
  }

  int alerts() {
    return list(
        with_query("/v1/alerts", {{"serial", f_.alert_serial}, {"all", f_.alert_all ? "1" : ""}}),
        "alerts", print_alerts);
  }

  int alert_ack() {
    auto reply = call({"POST", "/v1/alerts/" + url_encode(f_.alert_id) + "/ack", Json::object()});
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    c_.out << "acknowledged alert " << f_.alert_id << '\n';
    return kExitOk;
  }

  int registrations() { return list("/v1/registrations", "registrations", print_registrations); }

  int registration_add() {
    if (auto s = validate_registration(f_.registration); !s) return usage(s.error().message);
    auto reply = call(registration_call(f_.registration));
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    Json reg = object_of(*reply, "registration");
    if (!reg.is_object() || !reg.contains("serial"))
      reg = registration_call(f_.registration).body.value();
    print_registrations(Json::array({reg}), c_.out);
    return kExitOk;
  }

  int registration_import() {
    std::ifstream in(f_.import_file, std::ios::binary);
    if (!in) return usage("cannot read " + f_.import_file);
    std::stringstream text;
    text << in.rdbuf();
    auto import = parse_registrations_csv(text.str());
    if (!import.problems.empty()) {
      for (const auto& p : import.problems)
        c_.err << "error: " << f_.import_file << ": " << p << '\n';
      c_.err << "nothing was imported\n";
      return kExitUsage;
    }
    if (!connect()) return kExitUsage;
    const std::size_t total = import.rows.size();
    std::size_t done = 0, failures = 0;
    for (std::size_t i = 0; i < total; ++i) {
      const auto& [line, row] = import.rows[i];
      auto reply = client_->call(registration_call(row));
      std::string progress = std::to_string(i + 1) + "/" + std::to_string(total) + " " + row.serial;
      if (reply) {
        ++done;
        c_.out << progress << " ok" << std::endl;
        continue;
      }
      ++failures;
      c_.out << progress << " failed" << std::endl;
      c_.err << "error: line " << line << " (" << row.serial << "): " << reply.error().message
             << '\n';
      if (reply.error().kind == ErrorKind::kUnavailable) {
        c_.err << "stopped: the relay is unreachable\n";
        break;
      }
    }
    c_.out << "imported " << done << " of " << total << " registrations";
    if (failures) c_.out << ", " << failures << " failed";
    if (done + failures < total) c_.out << ", " << total - done - failures << " not sent";
    c_.out << '\n';
    return done == total ? kExitOk : kExitFailed;
  }

  int registration_remove() {
    auto reply = call({"DELETE", "/v1/registrations/" + url_encode(f_.remove_serial), {}});
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(reply->is_null() ? Json{{"removed", f_.remove_serial}} : *reply);
    c_.out << "removed registration " << f_.remove_serial << '\n';
    return kExitOk;
  }

  int credentials() { return list("/v1/credentials", "credentials", print_credentials); }

  int credential_create() {
    if (f_.credential_name.empty()) return usage("--name is required");
    if (!role_from(f_.credential_role)) return usage("--role must be viewer, operator or admin");
    auto reply = call({"POST", "/v1/credentials",
                       Json{{"name", f_.credential_name}, {"role", f_.credential_role}}});
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    Json cred = object_of(*reply, "credential");
    c_.out << display(cred.value("token", Json())) << '\n';
    c_.err << "credential " << f_.credential_name << " (" << f_.credential_role
           << "): keep this token now; the relay stores only its hash\n";
    return kExitOk;
  }

  int relays() { return list("/v1/relays", "relays", print_relays); }

  // A child relay's credential. With --token-file the token goes to that file (mode 0600), ready
  // for `relayd run --upstream-token-file`; otherwise to standard output.
  int relay_add() {
    Json customers = Json::array();
    if (f_.relay_all_customers) customers.push_back("*");
    std::stringstream list(f_.relay_customers);
    for (std::string c; std::getline(list, c, ',');) {
      if (!c.empty()) customers.push_back(c);
    }
    if (customers.empty() || (f_.relay_all_customers && !f_.relay_customers.empty())) {
      return usage(
          "say whose devices the child serves: --customers NAME[,NAME...] or --all-customers");
    }
    auto reply = call({"POST", "/v1/relays", Json{{"id", f_.relay_id}, {"customers", customers}}});
    if (!reply) return failed(reply.error());
    const std::string token = reply->value("token", "");
    if (!f_.relay_token_file.empty()) {
      // Created with its final mode: the token is never readable by others, not even briefly.
      const int fd =
          ::open(f_.relay_token_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      const std::string line = token + "\n";
      const bool written = fd >= 0 && ::fchmod(fd, 0600) == 0 &&
                           ::write(fd, line.data(), line.size()) == ssize_t(line.size());
      if (fd >= 0) ::close(fd);
      if (!written) return failed(unavailable("cannot write " + f_.relay_token_file));
    }
    if (f_.json) return print_json(*reply);
    if (f_.relay_token_file.empty()) c_.out << token << '\n';
    c_.err << "child relay " << f_.relay_id << ": its credential "
           << (f_.relay_token_file.empty() ? "is above" : "is in " + f_.relay_token_file)
           << "; the parent stores only its hash\n";
    return kExitOk;
  }

  // Revokes a device's, an admin's or a child relay's credential (`what`: devices, credentials,
  // relays); effective on every node at once.
  int revoke(const std::string& what) {
    const std::string path = what == "devices"
                                 ? "/v1/devices/" + url_encode(f_.revoke_name) + "/revoke"
                                 : "/v1/" + what + "/" + url_encode(f_.revoke_name);
    auto reply = call({what == "devices" ? "POST" : "DELETE", path, {}});
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    c_.out << f_.revoke_name << ": credential revoked\n";
    if (what == "devices")
      c_.err << "the device may enrol again with its enrollment code; delete its registration "
                "to keep it out\n";
    return kExitOk;
  }

  int watch() {
    std::vector<std::string> kinds = {"alert", "job", "report"};
    if (!f_.watch_kinds.empty()) {
      auto k = split_list(f_.watch_kinds, "--kinds");
      if (!k) return usage(k.error().message);
      for (const auto& kind : *k) {
        if (kind != "alert" && kind != "job" && kind != "report") {
          return usage("--kinds: unknown event kind '" + kind + "' (alert, job, report)");
        }
      }
      kinds = *k;
    }
    if (f_.watch_count && *f_.watch_count < 1) return usage("--count must be at least 1");
    if (f_.watch_timeout_s && *f_.watch_timeout_s < 1)
      return usage("--timeout-s must be at least 1");
    if (!connect()) return kExitUsage;
    int seen = 0;
    bool timed_out = false;
    auto result = client_->follow(
        "/v1/events", f_.watch_timeout_s ? long(*f_.watch_timeout_s) * 1000 : 0,
        [&](const SseEvent& e) {
          if (std::find(kinds.begin(), kinds.end(), e.event) == kinds.end()) return true;
          auto parsed = parse_json(e.data);
          Json data = parsed ? std::move(*parsed) : Json(e.data);
          if (f_.json) {
            c_.out << json_text(Json{{"event", e.event}, {"data", data}}, -1) << std::endl;
          } else {
            c_.out << event_line(e.event, data, c_.now()) << std::endl;
          }
          ++seen;
          return !(f_.watch_count && seen >= *f_.watch_count);
        },
        &timed_out);
    if (!result) return failed(result.error());
    if (*result) return kExitOk;  // --count events seen
    if (timed_out) {
      if (!f_.watch_count) return kExitOk;  // a plain "watch for N seconds" ended as asked
      c_.err << "timeout: saw " << seen << " of " << *f_.watch_count << " events in "
             << *f_.watch_timeout_s << " s\n";
      return kExitTimeout;
    }
    c_.err << "error: the relay closed the event stream\n";
    return kExitFailed;
  }

  // Local: no relay is involved. The private key never leaves DIR.
  int key_create() {
    auto dir = resolve_keys_dir(f_.keys_dir, c_.env);
    if (!dir) return usage(dir.error().message);
    auto key = create_key_files(*dir, f_.key_name);
    if (!key) {
      c_.err << "error: " << key.error().message << '\n';
      return key.error().kind == ErrorKind::kBadInput ? kExitUsage : kExitFailed;
    }
    if (f_.json) {
      Json j = to_json(*key);
      j["private_key"] = *dir + "/" + key->name + ".key";
      j["public_key"] = *dir + "/" + key->name + ".pub";
      return print_json(j);
    }
    c_.out << key->key_id << '\n';
    c_.err << "signing key " << key->name << ": private key in " << *dir << "/" << key->name
           << ".key (keep it secret), public key in " << *dir << "/" << key->name
           << ".pub (install it where artifacts or jobs are verified)\n";
    return kExitOk;
  }

  int keys() {
    auto dir = resolve_keys_dir(f_.keys_dir, c_.env);
    if (!dir) return usage(dir.error().message);
    auto keys = list_key_files(*dir);
    if (!keys) return failed(keys.error());
    Json rows = Json::array();
    for (const auto& k : *keys) rows.push_back(to_json(k));
    if (f_.json) return print_json(Json{{"dir", *dir}, {"keys", rows}});
    print_keys(rows, c_.out);
    for (const auto& k : *keys) {
      if (!k.problem.empty()) c_.err << "warning: " << *dir << "/" << k.problem << '\n';
    }
    return kExitOk;
  }

  int artifacts() { return list("/v1/artifacts", "artifacts", print_artifacts); }

  // Everything that can be refused locally is checked before the file is read: the description,
  // the key, the relay's URL and token.
  int artifact_push() {
    if (auto s = check_description(f_.artifact); !s) return usage(s.error().message);
    auto dir = resolve_keys_dir(f_.keys_dir, c_.env);
    if (!dir) return usage(dir.error().message);
    auto private_pem = read_private_key(*dir, f_.key_name);
    if (!private_pem) return usage(private_pem.error().message);
    if (!connect()) return kExitUsage;
    auto bytes = read_file(f_.artifact_file);
    if (!bytes) return usage(bytes.error().message);
    auto push = artifact_push_call(std::move(*bytes), f_.artifact, *private_pem, c_.now());
    if (!push) {
      if (push.error().kind != ErrorKind::kBadInput) return failed(push.error());
      return usage(push.error().message);
    }
    const std::string sha = push->manifest.value("sha256", "");
    const Json size = push->manifest["size"];
    // The client cannot report progress mid-transfer; a line before and after shows what is
    // happening during a long upload.
    c_.err << "uploading " << f_.artifact_file << " (" << size_text(size) << ", sha256 " << sha
           << ", key " << push->manifest.value("key_id", "") << ") to " << client_->url() << " ..."
           << std::endl;
    using Clock = std::chrono::steady_clock;
    const auto started = Clock::now();
    auto reply = client_->upload(std::move(push->call));
    if (!reply) return failed(reply.error());
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    char took[32];
    std::snprintf(took, sizeof took, "%.1f", seconds);
    c_.err << "uploaded " << size_text(size) << " in " << took << " s" << std::endl;
    if (f_.json) return print_json(*reply);
    c_.out << sha << '\n';
    return kExitOk;
  }

  int campaign_plan() {
    auto body = campaign_body_of_flags();
    if (!body) return kExitUsage;  // explained
    auto plan = call({"POST", "/v1/campaigns/plan", *body});
    if (!plan) return failed(plan.error());
    if (f_.json) return print_json(*plan);
    print_campaign_plan(*plan, c_.out);
    return kExitOk;
  }

  // Plan, sign one envelope per target with exactly the plan's job params and expiry, create. The
  // relay plans again on create and refuses when a target has no matching envelope.
  int campaign_create() {
    if (f_.campaign.name.empty()) return usage("--name is required (1-200 characters)");
    auto body = campaign_body_of_flags();
    if (!body) return kExitUsage;
    auto signer = load_signer();
    if (!signer) return usage(signer.error().message);
    if (!*signer) return usage(std::string("a campaign's jobs must be ") + kNoSignKey);
    auto plan = call({"POST", "/v1/campaigns/plan", *body});
    if (!plan) return failed(plan.error());
    const std::size_t targets = plan->value("targets", Json::array()).size();
    if (targets == 0) {
      return failed(bad_input("no device can be included (" +
                              std::to_string(plan->value("excluded", Json::array()).size()) +
                              " excluded; see `relayctl campaigns plan` with the same flags)"));
    }
    const std::size_t step = std::max<std::size_t>(50, targets / 20);
    auto envelopes = sign_campaign_envelopes(
        *plan, **signer, c_.now(), [&](std::size_t done, std::size_t total) {
          if (total < kSigningProgressFrom || (done % step != 0 && done != total)) return;
          c_.err << "signing " << done << "/" << total << std::endl;
        });
    if (!envelopes) return failed(envelopes.error());
    (*body)["envelopes"] = std::move(*envelopes);
    const std::size_t size = body->dump().size();
    if (size > kMaxBodyBytes) {
      return failed(
          bad_input("the campaign with its " + std::to_string(targets) + " signed envelopes is " +
                    std::to_string(size) + " bytes, more than the relay accepts in one request (" +
                    std::to_string(kMaxBodyBytes) + "); split the devices into smaller campaigns"));
    }
    auto reply = call({"POST", "/v1/campaigns", *body});
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    c_.err << "campaign created: " << targets << " jobs signed with key " << (*signer)->key_id()
           << std::endl;
    print_campaign_detail(*reply, c_.out);
    return kExitOk;
  }

  int campaigns() { return list("/v1/campaigns", "campaigns", print_campaigns); }

  int campaign_show() {
    auto reply = call({"GET", "/v1/campaigns/" + url_encode(f_.campaign_id), {}});
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    print_campaign_detail(*reply, c_.out);
    return kExitOk;
  }

  int campaign_action(const char* action) {
    auto reply = call(
        {"POST", "/v1/campaigns/" + url_encode(f_.campaign_id) + "/" + action, Json::object()});
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    print_campaign_detail(*reply, c_.out);
    return kExitOk;
  }

  int firmware_history() {
    std::string limit = f_.history_limit ? std::to_string(*f_.history_limit) : "";
    return list(with_query("/v1/devices/" + url_encode(f_.history_serial) + "/firmware-history",
                           {{"limit", limit}}),
                "history", print_firmware_history);
  }

  // The CSV of GET /v1/billing?format=csv to standard output or --out (the JSON with --json).
  int billing_export() {
    auto path = billing_path(f_.json ? "json" : "csv");
    if (!path) return usage(path.error().message);
    if (!connect()) return kExitUsage;
    Result<std::string> text = client_->fetch_text(
        {"GET", *path, {}}, f_.json ? "application/json" : "text/csv", kBillingExportTimeoutMs);
    if (!text) return failed(text.error());
    if (f_.json) {
      auto j = parse_json(*text);
      if (!j) return failed(unavailable("the relay's billing answer is not JSON"));
      text = json_text(*j, 2) + "\n";
    }
    if (f_.billing_out.empty() || f_.billing_out == "-") {
      c_.out << *text;
      return kExitOk;
    }
    // Written beside the target and renamed: a failed export never leaves half a file behind.
    const std::string tmp = f_.billing_out + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << *text;
      out.close();
      if (!out) {
        std::remove(tmp.c_str());
        return failed(unavailable("cannot write " + tmp));
      }
    }
    if (std::rename(tmp.c_str(), f_.billing_out.c_str()) != 0) {
      std::remove(tmp.c_str());
      return failed(unavailable("cannot write " + f_.billing_out));
    }
    c_.err << "wrote " << f_.billing_out;
    if (!f_.json) c_.err << " (" << csv_records(*text) - 1 << " rows)";
    c_.err << '\n';
    return kExitOk;
  }

  int billing_show() {
    auto path = billing_path("json");
    if (!path) return usage(path.error().message);
    auto reply = call({"GET", *path, {}});
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    print_billing(*reply, c_.out);
    return kExitOk;
  }

  int tables() { return list("/v1/tables", "tables", print_tables); }

  // Code tables as a table, the others as their JSON body (ready to edit and `tables put`); the
  // revision and who changed it last on stderr, so that stdout is the body alone.
  int table_show() {
    auto reply = call({"GET", "/v1/tables/" + url_encode(f_.table_name), {}});
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    const Json updated_at = reply->value("updated_at", Json());
    c_.err << f_.table_name << ": revision " << display(reply->value("revision", Json())) << ", "
           << entries_text(reply->value("entries", Json())) << ", "
           << (updated_at.is_null() ? "never changed (the defaults)"
                                    : "updated " + display_time(updated_at) + " by " +
                                          display(reply->value("updated_by", Json())))
           << '\n';
    const Json body = reply->value("body", Json());
    if (is_code_table(f_.table_name)) {
      print_code_table(f_.table_name, body, c_.out);
      return kExitOk;
    }
    c_.out << json_text(body, 2) << '\n';
    return kExitOk;
  }

  // Replaces a table with FILE's content at the revision the file was read at (a `tables show
  // --json` answer) or, for a bare body, the current one. The relay checks every entry.
  int table_put() {
    if (!connect()) return kExitUsage;
    const bool from_stdin = f_.table_file == "-";
    const std::string source = from_stdin ? "standard input" : f_.table_file;
    auto text = from_stdin ? read_stream(*c_.in, source) : read_file(f_.table_file);
    if (!text) return usage(text.error().message);
    auto file = parse_table_file(f_.table_name, *text);
    if (!file.problems.empty()) {
      for (const auto& p : file.problems) c_.err << "error: " << source << ": " << p << '\n';
      c_.err << "nothing was changed\n";
      return kExitUsage;
    }
    std::int64_t revision = 0;
    if (file.revision) {
      revision = *file.revision;
    } else {
      auto current = call({"GET", "/v1/tables/" + url_encode(f_.table_name), {}});
      if (!current) return failed(current.error());
      revision = current->value("revision", std::int64_t(0));
    }
    auto reply = call(table_put_call(f_.table_name, file.body, revision));
    if (!reply) return change_failed(reply.error(), f_.table_name);
    if (f_.json) return print_json(*reply);
    c_.out << f_.table_name << " revision " << display(reply->value("revision", Json())) << " ("
           << entries_text(reply->value("entries", Json())) << ")\n";
    return kExitOk;
  }

  int notifications() {
    auto request = notifications_call(f_.notification_serial, f_.notification_limit);
    if (!request) return usage(request.error().message);
    return list(request->path, "notifications", print_notifications);
  }

  int device_monitoring() {
    auto request = device_monitoring_call(f_.monitoring_serial);
    if (!request) return usage(request.error().message);
    auto reply = call(*request);
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    print_device_monitoring(*reply, c_.out);
    return kExitOk;
  }

  // Signs a standing authorisation for the pushed images of the model at the given versions and
  // adds it to the auto_updates table (in place of one for the same versions). Everything local
  // (flags, the key) is checked before the relay is asked.
  int firmware_authorise() {
    const std::string& model = f_.authorisation_model;
    auto versions = authorisation_versions(model, f_.authorisation_components);
    if (!versions) return usage(versions.error().message);
    if (auto s = check_authorisation_days(f_.authorisation_days); !s) {
      return usage(s.error().message);
    }
    auto signer = load_signer();
    if (!signer) return usage(signer.error().message);
    if (!*signer) return usage(std::string("a standing authorisation must be ") + kNoSignKey);
    auto artifacts = call({"GET", "/v1/artifacts", {}});
    if (!artifacts) return failed(artifacts.error());
    auto images = find_firmware_images(items_of(*artifacts, "artifacts"), model, *versions);
    if (!images) return failed(images.error());
    const TimeMs now = c_.now();
    auto entry = sign_authorisation(model, *images, f_.authorisation_days, **signer, now);
    if (!entry) return failed(entry.error());
    auto table = call({"GET", "/v1/tables/auto_updates", {}});
    if (!table) return failed(table.error());
    bool replaced = false;
    auto body = with_authorisation(table->value("body", Json::array()), *entry, &replaced);
    if (!body) return failed(body.error());
    auto reply =
        call(table_put_call("auto_updates", *body, table->value("revision", std::int64_t(0))));
    if (!reply) return change_failed(reply.error(), "auto_updates");
    const Json row = authorisation_rows(Json::array({*entry}), now).at(0);
    if (f_.json) {
      return print_json(Json{{"authorisation", row},
                             {"replaced", replaced},
                             {"revision", reply->value("revision", Json())}});
    }
    c_.out << "authorised " << model << " " << versions_text(*versions) << " until "
           << display_time(row["expires_at"]) << " (envelope " << display(row["envelope_id"])
           << ", key " << display(row["key_id"]) << ")\n";
    c_.err << (replaced ? "replaced the authorisation of the same versions; " : "")
           << "auto_updates is at revision " << display(reply->value("revision", Json())) << '\n';
    return kExitOk;
  }

  int firmware_authorisations() {
    auto table = call({"GET", "/v1/tables/auto_updates", {}});
    if (!table) return failed(table.error());
    const Json rows = authorisation_rows(table->value("body", Json::array()), c_.now());
    if (f_.json) {
      return print_json(
          Json{{"authorisations", rows}, {"revision", table->value("revision", Json())}});
    }
    print_authorisations(rows, c_.out);
    return kExitOk;
  }

  int firmware_revoke() {
    const std::string& model = f_.authorisation_model;
    auto versions = authorisation_versions(model, f_.authorisation_components);
    if (!versions) return usage(versions.error().message);
    auto table = call({"GET", "/v1/tables/auto_updates", {}});
    if (!table) return failed(table.error());
    Json removed;
    auto body =
        without_authorisation(table->value("body", Json::array()), model, *versions, &removed);
    if (!body) return failed(body.error());
    auto reply =
        call(table_put_call("auto_updates", *body, table->value("revision", std::int64_t(0))));
    if (!reply) return change_failed(reply.error(), "auto_updates");
    const Json rows = authorisation_rows(Json::array({removed}), c_.now());
    if (f_.json) {
      return print_json(
          Json{{"revoked", rows.at(0)}, {"revision", reply->value("revision", Json())}});
    }
    c_.out << "revoked " << model << " " << versions_text(*versions) << " (envelope "
           << display(rows.at(0).value("envelope_id", Json())) << ")\n";
    c_.err << "the relay no longer attaches it to automatic updates; jobs it already created keep "
              "their envelope until it expires ("
           << display_time(rows.at(0).value("expires_at", Json()))
           << "): see relayctl jobs, relayctl jobs cancel\n";
    return kExitOk;
  }

 private:
  // GET /v1/billing with the period and filters of the flags.
  Result<std::string> billing_path(const char* format) {
    std::vector<std::pair<std::string, std::string>> q;
    for (auto [name, text] :
         {std::pair{"from", &f_.billing_from}, std::pair{"to", &f_.billing_to}}) {
      auto t = parse_time_input(*text, c_.now());
      if (!t) return bad_input("--" + std::string(name) + ": " + t.error().message);
      q.emplace_back(name, *t);
    }
    q.emplace_back("serial", f_.billing_serial);
    q.emplace_back("customer", f_.billing_customer);
    q.emplace_back("format", format);
    return with_query("/v1/billing", q);
  }

  // The job signer named by --sign-key, PRINTRELAY_SIGN_KEY or the config file's "sign_key";
  // nullopt when none is named. Bad input when the key cannot be read.
  Result<std::optional<JobSigner>> load_signer() {
    auto name = resolve_sign_key_name(f_.sign_key, f_.connection, c_.env);
    if (!name) return name.error();
    if (name->empty()) return std::optional<JobSigner>();
    auto dir = resolve_keys_dir(f_.keys_dir, c_.env);
    if (!dir) return dir.error();
    auto pem = read_private_key(*dir, *name);
    if (!pem) return bad_input(pem.error().message);
    auto signer = JobSigner::from_private_pem(std::move(*pem));
    if (!signer) return bad_input("sign key " + *name + ": " + signer.error().message);
    return std::optional<JobSigner>(std::move(*signer));
  }

  // The manifest of each artifact, in order (GET /v1/artifacts/{sha}).
  Result<std::vector<Json>> fetch_manifests(const std::vector<std::string>& artifacts) {
    std::vector<Json> manifests;
    for (const auto& sha : artifacts) {
      auto reply = call({"GET", "/v1/artifacts/" + sha, {}});
      if (!reply) {
        if (usage_error_) return reply.error();
        return Error{reply.error().kind,
                     "artifact " + sha.substr(0, 12) + ": " + reply.error().message};
      }
      manifests.push_back(object_of(*reply, "artifact"));
    }
    return manifests;
  }

  // POST /v1/jobs, then the job's transitions for the "created" cause when the job is signed.
  int send_job(const ApiCall& request) {
    auto reply = call(request);
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    Json job = object_of(*reply, "job");
    if (!request.body || !request.body->contains("envelope")) {
      c_.out << display(job.value("id", Json())) << '\n';
      print_jobs(Json::array({job}), c_.out);
      return kExitOk;
    }
    Json transitions = Json::array();
    if (auto detail = client_->call({"GET", "/v1/jobs/" + url_encode(job.value("id", "")), {}})) {
      transitions = detail->value("transitions", Json::array());
    }
    print_created_job(job, transitions, c_.out);
    return kExitOk;
  }

  // The plan/create body from the flags and --serials-file; nullopt after printing why not.
  std::optional<Json> campaign_body_of_flags() {
    std::vector<std::string> file_serials;
    if (const std::string& path = f_.campaign.serials_file; !path.empty()) {
      auto text = read_file(path);
      if (!text) {
        usage(text.error().message);
        return std::nullopt;
      }
      auto parsed = parse_serials_file(*text);
      for (const auto& d : parsed.duplicates) {
        c_.err << "warning: " << path << ": " << d << " (listed once)\n";
      }
      if (!parsed.problems.empty()) {
        for (const auto& p : parsed.problems) c_.err << "error: " << path << ": " << p << '\n';
        return std::nullopt;
      }
      file_serials = std::move(parsed.serials);
    }
    auto body = campaign_body(f_.campaign, file_serials, c_.now());
    if (!body) {
      usage(body.error().message);
      return std::nullopt;
    }
    return std::move(*body);
  }

  bool connect() {
    if (client_) return true;
    auto conn = resolve_connection(f_.connection, c_.env);
    if (!conn) {
      c_.err << "error: " << conn.error().message << '\n';
      return false;
    }
    client_ = std::make_unique<RelayClient>(*conn);
    return true;
  }

  // The relay's answer; a missing URL/token is reported here and marked as a usage error.
  Result<Json> call(const ApiCall& request) {
    if (!connect()) {
      usage_error_ = true;
      return Error{ErrorKind::kBadInput, ""};
    }
    return client_->call(request);
  }

  int failed(const Error& e) {
    if (usage_error_) return kExitUsage;  // already explained by connect()
    c_.err << "error: " << e.message << '\n';
    return kExitFailed;
  }

  // A table change that did not go through: why, and whether the table changed.
  int change_failed(const Error& e, const std::string& table) {
    if (usage_error_) return kExitUsage;
    c_.err << "error: " << e.message << '\n';
    if (e.kind == ErrorKind::kUnavailable) {
      c_.err << "the relay may or may not have taken the change: see relayctl tables\n";
    } else if (e.kind == ErrorKind::kConflict) {
      c_.err << "nothing was changed: " << table
             << " was changed meanwhile by someone else; read it again and retry\n";
    } else {
      c_.err << "nothing was changed\n";
    }
    return kExitFailed;
  }

  int usage(const std::string& message) {
    c_.err << "error: " << message << '\n';
    return kExitUsage;
  }

  int print_json(const Json& j) {
    c_.out << json_text(j, 2) << '\n';
    return kExitOk;
  }

  int list(const std::string& path, const char* key, void (*render)(const Json&, std::ostream&)) {
    auto reply = call({"GET", path, {}});
    if (!reply) return failed(reply.error());
    if (f_.json) return print_json(*reply);
    render(items_of(*reply, key), c_.out);
    return kExitOk;
  }

  Console c_;
  Flags& f_;
  std::unique_ptr<RelayClient> client_;
  bool usage_error_ = false;
};

// --sign-key on every command that makes jobs; the key is read from the keys directory.
void add_signing(CLI::App* cmd, Flags& f) {
  cmd->add_option("--sign-key", f.sign_key,
                  "sign the job with key NAME (env PRINTRELAY_SIGN_KEY, config \"sign_key\")");
  cmd->add_option("--keys-dir", f.keys_dir,
                  "keys directory (env PRINTRELAY_KEYS_DIR, default ~/.config/printrelay/keys)");
}

void add_deferral(CLI::App* cmd, DeferralArgs& d) {
  cmd->add_option("--max-deferrals", d.max_count, "deferrals allowed, 0-100 (device default 3)");
  cmd->add_option("--max-deferral-period-s", d.max_period_s,
                  "deferral allowed this long after the first, 0-2592000 (default 86400)");
  cmd->add_option("--deferral-step-s", d.step_s, "each deferral moves the update by this (1200)");
  cmd->add_option("--when-deferral-exhausted", d.when_exhausted, "proceed|fail (default proceed)");
}

void add_job_times(CLI::App* cmd, JobTimes& t) {
  cmd->add_option("--not-before", t.not_before, "instructed time: RFC 3339 UTC or +10m/+2h/+1d");
  cmd->add_option("--execute-at", t.execute_at, "execution time: RFC 3339 UTC or +10m/+2h/+1d");
  cmd->add_option("--expires-at", t.expires_at, "expiry: RFC 3339 UTC or +10m/+2h/+1d");
}

// The deepest subcommand the user chose (the app itself when none).
CLI::App* chosen(CLI::App* app) {
  while (true) {
    auto subs = app->get_subcommands();
    if (subs.empty()) return app;
    app = subs.front();
  }
}

}  // namespace

Console process_console() {
  return Console{
      std::cout, std::cerr, process_env(), [] {
        using namespace std::chrono;
        return TimeMs{duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count()};
      }};
}

int run_relayctl(int argc, const char* const* argv, Console console) {
  Flags f;
  CLI::App app{"relayctl: the service center's command line for printrelay", "relayctl"};
  app.fallthrough();  // connection flags and --json may follow the subcommand
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every command");
  app.add_option("--url", f.connection.url, "relay URL (env PRINTRELAY_URL)");
  app.add_option("--token", f.connection.token, "admin token (env PRINTRELAY_TOKEN)");
  app.add_option("--ca", f.connection.ca,
                 "CA bundle (PEM) to verify the relay (env PRINTRELAY_CA)");
  app.add_option("--proxy", f.connection.proxy,
                 "HTTP proxy to the relay, e.g. http://proxy.lan:3128 (or PRINTRELAY_PROXY)");
  app.add_flag("--insecure", f.connection.insecure, "do not verify the relay's certificate");
  app.add_option("--config", f.connection.config,
                 "JSON file {\"url\",\"token\",\"ca\"} (env PRINTRELAY_CONFIG)");
  app.add_flag("--json", f.json, "print the relay's JSON instead of a table");

  Commands cmd(console, f);
  std::map<CLI::App*, std::function<int()>> actions;

  auto* devices = app.add_subcommand("devices", "list devices");
  devices->add_option("--state", f.device_state, "only devices in this state");
  devices->add_option("--q", f.device_query, "search serial, model, place, customer");
  actions[devices] = [&] { return cmd.devices(); };
  devices->require_subcommand(0, 1);
  auto* device_revoke =
      devices->add_subcommand("revoke", "revoke a device's credential (it may enrol again)");
  device_revoke->add_option("SERIAL", f.revoke_name, "device serial")->required();
  actions[device_revoke] = [&] { return cmd.revoke("devices"); };

  auto* device = app.add_subcommand("device", "one device in detail");
  device->add_option("SERIAL", f.device_serial, "device serial")->required();
  actions[device] = [&] { return cmd.device(); };

  auto* reports = app.add_subcommand("reports", "report history, newest first");
  reports->add_option("--serial", f.report_serial);
  reports->add_option("--kind", f.report_kind);
  reports->add_option("--since", f.report_since, "RFC 3339 UTC or +10m/+2h/+1d");
  reports->add_option("--until", f.report_until, "RFC 3339 UTC or +10m/+2h/+1d");
  reports->add_option("--limit", f.report_limit, "1-1000 (relay default 100)")
      ->check(CLI::Range(1, 1000));
  actions[reports] = [&] { return cmd.reports(); };

  auto* jobs = app.add_subcommand("jobs", "the job list (seed 001 Fig. 9) and job commands");
  jobs->require_subcommand(0, 1);
  jobs->add_option("--serial", f.job_serial);
  jobs->add_option("--state", f.job_state);
  jobs->add_flag("--all", f.job_all, "include finished and acknowledged jobs");
  actions[jobs] = [&] { return cmd.jobs(); };

  auto* show = jobs->add_subcommand("show", "one job and its transitions");
  show->add_option("ID", f.job_id)->required();
  actions[show] = [&] { return cmd.job_show(); };

  auto* create = jobs->add_subcommand("create", "create a job");
  create->require_subcommand(1);
  auto* collect = create->add_subcommand("collect", "send data sets now or at a time");
  collect->add_option("--serial", f.collect.serial)->required();
  collect->add_option("--data-sets", f.collect.data_sets, "e.g. counters,supplies")->required();
  add_job_times(collect, f.collect.times);
  add_signing(collect, f);
  actions[collect] = [&] { return cmd.job_create(collect_job_call(f.collect, console.now())); };

  auto* configure = create->add_subcommand("configure", "rewrite device settings");
  configure->add_option("--serial", f.configure.serial)->required();
  configure->add_option("--set", f.configure.settings, "key=value (repeatable)")
      ->required()
      ->allow_extra_args(false);
  add_job_times(configure, f.configure.times);
  add_signing(configure, f);
  actions[configure] = [&] {
    return cmd.job_create(configure_job_call(f.configure, console.now()));
  };

  auto* schedule = create->add_subcommand("schedule", "change the poll policy");
  schedule->add_option("--serial", f.schedule.serial)->required();
  schedule->add_option("--interval-s", f.schedule.interval_s, "periodic access, 5-604800 s");
  schedule->add_option("--times", f.schedule.times_of_day, "extra accesses, e.g. 02:00,14:30");
  schedule->add_option("--on-power-on", f.schedule.on_power_on, "true|false");
  schedule->add_option("--when-counter", f.schedule.when_counter, "e.g. total>=100000 (repeatable)")
      ->allow_extra_args(false);
  schedule->add_option("--when-error", f.schedule.when_error, "e.g. SC542 (repeatable)")
      ->allow_extra_args(false);
  add_job_times(schedule, f.schedule.times);
  add_signing(schedule, f);
  actions[schedule] = [&] { return cmd.job_create(schedule_job_call(f.schedule, console.now())); };

  auto* reboot = create->add_subcommand("reboot", "restart the device");
  reboot->add_option("--serial", f.reboot_serial)->required();
  add_job_times(reboot, f.reboot_times);
  add_signing(reboot, f);
  actions[reboot] = [&] {
    return cmd.job_create(reboot_job_call(f.reboot_serial, f.reboot_times, console.now()));
  };

  auto* relay_update = create->add_subcommand("relay-update", "replace a child relay's program");
  relay_update->add_option("--relay", f.relay_update_relay, "the child relay's id")->required();
  relay_update->add_option("--artifact", f.relay_update_artifact, "sha256 of a pushed relay build")
      ->required();
  add_job_times(relay_update, f.relay_update_times);
  add_signing(relay_update, f);
  actions[relay_update] = [&] {
    return cmd.job_create(relay_update_job_call(f.relay_update_relay, f.relay_update_artifact,
                                                f.relay_update_times, console.now()));
  };

  auto* firmware_job = create->add_subcommand(
      "firmware", "update a device's firmware with pushed images (signed: needs --sign-key)");
  FirmwareJobArgs& fw = f.firmware;
  firmware_job->add_option("--serial", fw.serial)->required();
  firmware_job->add_option("--artifact", fw.artifacts, "sha256 of a pushed image (repeatable)")
      ->required()
      ->allow_extra_args(false);
  firmware_job->add_option("--update-at", fw.update_at,
                           "update time: RFC 3339 UTC or +2h (default: once downloaded)");
  firmware_job->add_option("--not-before", fw.not_before, "hand the job out from this time");
  firmware_job->add_option("--forbid", fw.forbid, "forbidden window, e.g. \"mon-fri 09:00-17:00\"")
      ->allow_extra_args(false);
  firmware_job->add_option("--utc-offset-min", fw.utc_offset_min,
                           "the --forbid windows' local time: minutes east of UTC (default 0)");
  add_deferral(firmware_job, fw.deferral);
  firmware_job->add_option("--max-attempts", fw.max_attempts, "writes tried, 1-10 (default 3)");
  firmware_job->add_option("--write-estimate-s", fw.write_estimate_s,
                           "expected write + reboot time (default 120)");
  auto* fw_expires_at =
      firmware_job->add_option("--expires-at", fw.expires_at, "expiry: RFC 3339 UTC or +3d");
  firmware_job->add_option("--expires-in-h", fw.expires_in_h, "expiry in hours (default 72)")
      ->excludes(fw_expires_at);
  firmware_job->add_flag("--allow-downgrade", fw.allow_downgrade,
                         "let the device install a version older than the one it runs");
  add_signing(firmware_job, f);
  actions[firmware_job] = [&] { return cmd.firmware_job_create(); };

  auto* cancel = jobs->add_subcommand("cancel", "cancel a waiting or acquired job");
  cancel->add_option("ID", f.job_id)->required();
  actions[cancel] = [&] { return cmd.job_action("cancel", "cancelled"); };

  auto* ack = jobs->add_subcommand("ack", "acknowledge a failed job");
  ack->add_option("ID", f.job_id)->required();
  actions[ack] = [&] { return cmd.job_action("ack", "acknowledged"); };

  auto* wait =
      jobs->add_subcommand("wait", "wait until a job ends: exit 0 succeeded, 1 not, 3 timeout");
  wait->add_option("ID", f.job_id)->required();
  wait->add_option("--timeout-s", f.wait_timeout_s, "default 60");
  actions[wait] = [&] { return cmd.job_wait(); };

  auto* alerts = app.add_subcommand("alerts", "open alerts (all with --all)");
  alerts->require_subcommand(0, 1);
  alerts->add_option("--serial", f.alert_serial);
  alerts->add_flag("--all", f.alert_all, "include acknowledged alerts");
  actions[alerts] = [&] { return cmd.alerts(); };
  auto* alert_ack = alerts->add_subcommand("ack", "acknowledge (close) an alert");
  alert_ack->add_option("ID", f.alert_id)->required();
  actions[alert_ack] = [&] { return cmd.alert_ack(); };

  auto* regs = app.add_subcommand("registrations", "the registration table");
  regs->require_subcommand(0, 1);
  actions[regs] = [&] { return cmd.registrations(); };
  actions[regs->add_subcommand("list", "list registrations")] = [&] { return cmd.registrations(); };
  auto* reg_add = regs->add_subcommand("add", "register or update a device");
  reg_add->add_option("--serial", f.registration.serial)->required();
  reg_add->add_option("--model", f.registration.model)->required();
  reg_add->add_option("--place", f.registration.place);
  reg_add->add_option("--customer", f.registration.customer);
  reg_add->add_option("--contact", f.registration.contact);
  reg_add->add_option("--enrollment-code", f.registration.enrollment_code)->required();
  actions[reg_add] = [&] { return cmd.registration_add(); };
  auto* reg_import = regs->add_subcommand(
      "import", "register devices from a CSV: serial,model,place,customer,contact,enrollment_code");
  reg_import->add_option("FILE", f.import_file)->required();
  actions[reg_import] = [&] { return cmd.registration_import(); };
  auto* reg_rm = regs->add_subcommand("rm", "remove a registration");
  reg_rm->add_option("SERIAL", f.remove_serial)->required();
  actions[reg_rm] = [&] { return cmd.registration_remove(); };

  auto* relays = app.add_subcommand("relays", "child relays of this relay");
  actions[relays] = [&] { return cmd.relays(); };
  actions[relays->add_subcommand("list", "list child relays and their last sync")] = [&] {
    return cmd.relays();
  };
  auto* relay_add = relays->add_subcommand("add", "create a child relay's credential");
  relay_add->add_option("ID", f.relay_id, "the child's relay id (its --relay-id)")->required();
  relay_add->add_option("--token-file", f.relay_token_file, "write the token to this file");
  relay_add->add_option("--customers", f.relay_customers,
                        "the customers whose devices it serves (comma-separated)");
  relay_add->add_flag("--all-customers", f.relay_all_customers,
                      "it serves every customer's devices (a regional relay)");
  actions[relay_add] = [&] { return cmd.relay_add(); };
  auto* relay_revoke = relays->add_subcommand("revoke", "revoke a child relay's credential");
  relay_revoke->add_option("ID", f.revoke_name, "the child's relay id")->required();
  actions[relay_revoke] = [&] { return cmd.revoke("relays"); };
  auto* creds = app.add_subcommand("credentials", "admin credentials");
  creds->require_subcommand(0, 1);
  actions[creds] = [&] { return cmd.credentials(); };
  actions[creds->add_subcommand("list", "list credentials")] = [&] { return cmd.credentials(); };
  auto* cred_create = creds->add_subcommand("create", "create a credential; prints its token");
  cred_create->add_option("--name", f.credential_name)->required();
  cred_create->add_option("--role", f.credential_role, "viewer|operator|admin")->required();
  actions[cred_create] = [&] { return cmd.credential_create(); };
  auto* cred_revoke = creds->add_subcommand("revoke", "revoke a credential on every node");
  cred_revoke->add_option("NAME", f.revoke_name, "the credential's name")->required();
  actions[cred_revoke] = [&] { return cmd.revoke("credentials"); };

  auto* watch = app.add_subcommand("watch", "follow the relay's event stream");
  watch->add_option("--kinds", f.watch_kinds, "alert,job,report (default all)");
  watch->add_option("--count", f.watch_count, "exit 0 after this many events");
  watch->add_option("--timeout-s", f.watch_timeout_s,
                    "give up after this long (exit 3 with --count)");
  actions[watch] = [&] { return cmd.watch(); };

  auto* keys = app.add_subcommand("keys", "artifact signing keys on this machine (no relay)");
  keys->require_subcommand(0, 1);
  keys->add_option("--dir", f.keys_dir,
                   "keys directory (env PRINTRELAY_KEYS_DIR, default ~/.config/printrelay/keys)");
  actions[keys] = [&] { return cmd.keys(); };
  auto* keys_list = keys->add_subcommand("list", "list keys: name, key id, private key present");
  keys_list->add_option("--dir", f.keys_dir, "keys directory");
  actions[keys_list] = [&] { return cmd.keys(); };
  auto* key_create = keys->add_subcommand("create", "make an Ed25519 key pair; prints its key id");
  key_create->add_option("NAME", f.key_name, "writes DIR/NAME.key (0600) and DIR/NAME.pub")
      ->required();
  key_create->add_option("--dir", f.keys_dir, "keys directory");
  actions[key_create] = [&] { return cmd.key_create(); };

  auto* artifact =
      app.add_subcommand("artifact", "signed artifacts: firmware images, relay builds");
  artifact->alias("artifacts");
  artifact->require_subcommand(0, 1);
  actions[artifact] = [&] { return cmd.artifacts(); };
  actions[artifact->add_subcommand("list", "list the relay's artifacts")] = [&] {
    return cmd.artifacts();
  };
  auto* push = artifact->add_subcommand("push", "sign a file's manifest and upload the file");
  push->add_option("FILE", f.artifact_file, "the firmware image or relayd build")->required();
  push->add_option("--kind", f.artifact.kind, "relay|firmware")->required();
  push->add_option("--version", f.artifact.version, "1-64 characters")->required();
  push->add_option("--model", f.artifact.model, "device model (firmware)");
  push->add_option("--component", f.artifact.component, "main, controller, ... (firmware)");
  push->add_option("--key", f.key_name, "signing key NAME (relayctl keys create)")->required();
  push->add_option("--dir", f.keys_dir, "keys directory");
  actions[push] = [&] { return cmd.artifact_push(); };

  auto* campaigns = app.add_subcommand("campaigns", "firmware campaigns (seed 004)");
  campaigns->alias("campaign");
  campaigns->require_subcommand(0, 1);
  actions[campaigns] = [&] { return cmd.campaigns(); };
  actions[campaigns->add_subcommand("list", "list campaigns and their tallies")] = [&] {
    return cmd.campaigns();
  };
  auto add_campaign_options = [&f](CLI::App* c) {
    CampaignArgs& a = f.campaign;
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
  };
  auto* campaign_plan =
      campaigns->add_subcommand("plan", "show the devices a campaign would update, and why not");
  add_campaign_options(campaign_plan);
  // Accepted so that a plan and its create take the same flags; a plan signs nothing.
  campaign_plan->add_option("--sign-key", f.sign_key, "ignored (create signs)");
  campaign_plan->add_option("--keys-dir", f.keys_dir, "ignored (create signs)");
  actions[campaign_plan] = [&] { return cmd.campaign_plan(); };
  auto* campaign_create = campaigns->add_subcommand(
      "create", "plan, sign one firmware job per device and start the campaign");
  add_campaign_options(campaign_create);
  add_signing(campaign_create, f);
  actions[campaign_create] = [&] { return cmd.campaign_create(); };
  auto* campaign_show = campaigns->add_subcommand("show", "one campaign, device by device");
  campaign_show->add_option("ID", f.campaign_id)->required();
  actions[campaign_show] = [&] { return cmd.campaign_show(); };
  auto* campaign_resume =
      campaigns->add_subcommand("resume", "resume a campaign paused at its failure threshold");
  campaign_resume->add_option("ID", f.campaign_id)->required();
  actions[campaign_resume] = [&] { return cmd.campaign_action("resume"); };
  auto* campaign_cancel =
      campaigns->add_subcommand("cancel", "cancel a campaign and its jobs not yet started");
  campaign_cancel->add_option("ID", f.campaign_id)->required();
  actions[campaign_cancel] = [&] { return cmd.campaign_action("cancel"); };

  auto* firmware = app.add_subcommand(
      "firmware", "a device's firmware history; standing auto-update authorisations");
  firmware->require_subcommand(1);
  auto* history = firmware->add_subcommand(
      "history", "a device's firmware history: checked, sent, installed, failed");
  history->add_option("SERIAL", f.history_serial)->required();
  history->add_option("--limit", f.history_limit, "1-1000 (relay default 100)")
      ->check(CLI::Range(1, 1000));
  actions[history] = [&] { return cmd.firmware_history(); };
  auto* authorise = firmware->add_subcommand(
      "authorise",
      "sign a standing authorisation: the relay may update devices of MODEL to these pushed "
      "images automatically (signed: needs --sign-key)");
  authorise->alias("authorize");
  authorise->add_option("--model", f.authorisation_model, "device model")->required();
  authorise
      ->add_option("--component", f.authorisation_components,
                   "COMP=VER of a pushed image, e.g. main=2.0.0 (repeatable)")
      ->required()
      ->allow_extra_args(false);
  authorise->add_option("--expires-days", f.authorisation_days,
                        "valid for this many days, 1-365 (default 30)");
  add_signing(authorise, f);
  actions[authorise] = [&] { return cmd.firmware_authorise(); };
  auto* authorisations = firmware->add_subcommand(
      "authorisations", "standing auto-update authorisations: model, versions, expiry, envelope");
  authorisations->alias("authorizations");
  actions[authorisations] = [&] { return cmd.firmware_authorisations(); };
  auto* revoke = firmware->add_subcommand(
      "revoke", "remove the standing authorisation of a model at exactly these versions");
  revoke->add_option("--model", f.authorisation_model, "device model")->required();
  revoke
      ->add_option("--component", f.authorisation_components,
                   "COMP=VER as authorised, e.g. main=2.0.0 (repeatable)")
      ->required()
      ->allow_extra_args(false);
  actions[revoke] = [&] { return cmd.firmware_revoke(); };

  auto* billing = app.add_subcommand("billing", "meter readings for billing by counted pages");
  billing->require_subcommand(1);
  auto add_billing_options = [&f](CLI::App* c) {
    c->add_option("--from", f.billing_from, "period start: RFC 3339 UTC or -30d")->required();
    c->add_option("--to", f.billing_to, "period end (excluded): RFC 3339 UTC or -0s (now)")
        ->required();
    c->add_option("--serial", f.billing_serial, "only this device");
    c->add_option("--customer", f.billing_customer, "only devices registered to this customer");
  };
  auto* billing_export = billing->add_subcommand(
      "export", "CSV: per device and counter the start, end and difference, with flags");
  add_billing_options(billing_export);
  billing_export->add_option("--out", f.billing_out, "write the CSV to FILE (default stdout)");
  actions[billing_export] = [&] { return cmd.billing_export(); };
  auto* billing_show = billing->add_subcommand("show", "the same as a table");
  add_billing_options(billing_show);
  actions[billing_show] = [&] { return cmd.billing_show(); };

  auto* tables = app.add_subcommand(
      "tables",
      "the service center's tables: error_codes, order_codes, compatibility, troubles, forecast, "
      "notification_rules, auto_updates");
  tables->alias("table");
  tables->require_subcommand(0, 1);
  actions[tables] = [&] { return cmd.tables(); };
  actions[tables->add_subcommand("list", "list the tables: revision, entries, last change")] = [&] {
    return cmd.tables();
  };
  auto* table_show = tables->add_subcommand(
      "show", "one table: its body as JSON (code tables as a table; --json: with its revision)");
  table_show->add_option("NAME", f.table_name, "the table's name")->required();
  actions[table_show] = [&] { return cmd.table_show(); };
  auto* table_put = tables->add_subcommand(
      "put", "replace a table with FILE (the relay checks every entry; nothing changes on error)");
  table_put->add_option("NAME", f.table_name, "the table's name")->required();
  table_put
      ->add_option("FILE", f.table_file,
                   "JSON: the body, or what `tables show NAME --json` printed; for error_codes "
                   "also CSV code,text[,action,urgency], for order_codes code,text; - reads "
                   "standard input")
      ->required();
  actions[table_put] = [&] { return cmd.table_put(); };

  auto* notifications = app.add_subcommand(
      "notifications", "the record of notifications sent (e-mail, webhooks), newest first");
  notifications->add_option("--serial", f.notification_serial, "only this device's");
  notifications->add_option("--limit", f.notification_limit, "1-1000 (relay default 200)")
      ->check(CLI::Range(1, 1000));
  actions[notifications] = [&] { return cmd.notifications(); };

  auto* monitoring = app.add_subcommand(
      "monitoring",
      "a device as the monitoring center judges it: compatibility, troubles, supply forecasts");
  monitoring->add_option("SERIAL", f.monitoring_serial, "device serial")->required();
  actions[monitoring] = [&] { return cmd.device_monitoring(); };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e, console.out, console.err);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  try {
    auto it = actions.find(chosen(&app));
    if (it == actions.end()) {
      console.err << app.help();
      return kExitUsage;
    }
    return it->second();
  } catch (const std::exception& e) {
    console.err << "error: " << e.what() << '\n';
    return kExitFailed;
  }
}

}  // namespace printrelay::cli
