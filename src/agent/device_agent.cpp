#include "agent/device_agent.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/agent_log.h"
#include "agent/durable_file.h"
#include "agent/poll_pacing.h"
#include "clock/wall_clock.h"
#include "core/codec.h"
#include "core/json_text.h"
#include "core/poll_schedule.h"

namespace printrelay::agent {
namespace {

constexpr std::size_t kCommHistoryKept = 100;
constexpr std::size_t kErrorLogKept = 200;
// Seed 003: error logs go to the service center when enough has accumulated, not per entry.
constexpr int kErrorLogReportEvery = 20;
constexpr int kMaxBackoffS = 30;

Json to_array(const std::deque<Json>& items) {
  Json a = Json::array();
  for (const auto& i : items) a.push_back(i);
  return a;
}

std::chrono::system_clock::time_point at(TimeMs t) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(t));
}

double unit_random() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::string make_boot_id() {
  char buf[40];
  std::snprintf(buf, sizeof buf, "b-%llx-%04x", static_cast<unsigned long long>(wall_clock_ms()),
                unsigned(unit_random() * 65535));
  return buf;
}

// A JSON state file the agent wrote earlier, or nothing when it is missing or unreadable (a
// state directory is outside the process too: never trust it to be shallow).
std::optional<Json> read_state(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return std::nullopt;
  auto j = parse_json(*text);
  if (!j) {
    LogLine(LogLevel::kWarn) << "agent: ignoring unreadable " << path.string() << ": "
                             << j.error().message;
    return std::nullopt;
  }
  return std::move(*j);
}

// Exponential backoff with jitter: 0.5 s, 1 s, 2 s ... capped, times [0.5, 1).
double backoff_s(int failures) {
  double base = std::min<double>(kMaxBackoffS, 0.5 * std::pow(2.0, std::max(0, failures - 1)));
  return base * (0.5 + 0.5 * unit_random());
}

}  // namespace

DeviceAgent::DeviceAgent(AgentConfig config, DeviceHooks hooks)
    : config_(std::move(config)), hooks_(std::move(hooks)), boot_id_(make_boot_id()) {
  batch_limit_ = std::clamp<std::size_t>(config_.max_batch, 1, kMaxReportsPerBatch);
}

DeviceAgent::~DeviceAgent() { stop(); }

Result<std::unique_ptr<DeviceAgent>> DeviceAgent::create(AgentConfig config, DeviceHooks hooks) {
  if (config.relay_urls.empty()) return bad_input("at least one relay URL is needed");
  for (auto& u : config.relay_urls) {
    if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0) {
      return bad_input("relay URL must start with http:// or https://: " + u);
    }
    while (!u.empty() && u.back() == '/') u.pop_back();
  }
  if (!is_valid_id(config.enrollment.serial)) {
    return bad_input("serial must be 1-64 characters of [A-Za-z0-9._:-]");
  }
  if (config.state_dir.empty()) return bad_input("a state directory is needed");
  config.long_poll_wait_s = std::clamp(config.long_poll_wait_s, 0, kMaxLongPollWaitS);
  std::error_code ec;
  // The state directory holds the device tokens: made 0700 from the start (its parents as the
  // umask says), never made and then chmod-ed.
  if (!std::filesystem::exists(config.state_dir, ec)) {
    if (config.state_dir.has_parent_path())
      std::filesystem::create_directories(config.state_dir.parent_path(), ec);
    if (::mkdir(config.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return unavailable("create " + config.state_dir.string() + ": " + std::strerror(errno));
    }
  }

  std::unique_ptr<DeviceAgent> a(new DeviceAgent(std::move(config), std::move(hooks)));
  const auto& dir = a->config_.state_dir;
  auto box = Outbox::open(dir);
  if (!box) return box.error();
  a->outbox_ = std::move(*box);
  a->roster_ = std::make_unique<RelayRoster>(a->config_.relay_urls, dir / "tokens.json",
                                             a->config_.enrollment);
  a->runner_ =
      std::make_unique<JobRunner>(*a->outbox_, *a, dir / "jobs_done.json",
                                  JobTrust{a->config_.enrollment.serial, a->config_.job_keys_pem});
  if (a->hooks_.firmware_write) {
    JobRunner* runner = a->runner_.get();
    a->installer_ = std::make_unique<FirmwareInstaller>(
        dir / "firmware", *a,
        [runner](const std::string& job_id, JobEventType type, const std::string& suffix,
                 std::string reason, Json detail) {
          runner->queue_firmware_event(job_id, type, suffix, std::move(reason), std::move(detail));
        },
        a->config_.vendor_keys_pem);
    a->runner_->set_firmware_installer(a->installer_.get(), wall_clock_ms());
  }

  bool policy_from_job = false;
  if (auto j = read_state(dir / "poll_policy.json"); j && j->is_object()) {
    if (auto p = parse_poll_policy(j->value("policy", Json::object()))) a->policy_ = *p;
    policy_from_job = j->value("from_job", Json(false)) == Json(true);
  }
  if (a->config_.poll_interval_s > 0 && !policy_from_job) {
    a->policy_.interval_s = std::clamp(a->config_.poll_interval_s, 1, 7 * 86400);
    a->interval_override_ = true;
  }
  a->conditions_fired_.assign(a->policy_.conditions.size(), false);
  if (auto j = read_state(dir / "panel_reply.json"); j && j->is_object()) a->panel_reply_ = *j;
  if (auto j = read_state(dir / "error_log.json"); j && j->is_array()) {
    for (auto& e : *j) a->error_log_.push_back(e);
  }
  DeviceAgent* self = a.get();
  a->outbox_->set_on_added([self](bool alert) {
    std::lock_guard lock(self->mu_);
    self->send_requested_ = true;
    if (alert) self->alert_waiting_ = true;
    self->send_cv_.notify_one();
  });
  return a;
}

Status DeviceAgent::start() {
  if (started_.exchange(true)) return conflict("agent already started");
  stop_ = false;
  poller_ = std::thread([this] { poll_loop(); });
  sender_ = std::thread([this] { send_loop(); });
  return ok_status();
}

void DeviceAgent::stop() {
  if (!started_.exchange(false)) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    poll_cv_.notify_all();
    send_cv_.notify_all();
  }
  if (poller_.joinable()) poller_.join();
  if (sender_.joinable()) sender_.join();
}

Result<std::string> DeviceAgent::submit(const std::string& kind, Urgency urgency, Json body) {
  if (!is_report_kind(kind)) return bad_input("unknown report kind '" + kind + "'");
  if (!body.is_object()) return bad_input("a report body must be a JSON object");
  if (body.dump().size() > kMaxReportBodyBytes) return bad_input("report body too large");
  Report r = make_report(kind, urgency, std::move(body));
  auto seq = outbox_->add_report(r);
  if (!seq) return seq.error();
  return r.id;
}

Result<std::string> DeviceAgent::report_fault(const Fault& fault) {
  if (fault.code.empty() || fault.type.empty()) return bad_input("a fault needs type and code");
  const char* severity = fault.severity == Fault::Severity::kFatal      ? "fatal"
                         : fault.severity == Fault::Severity::kDegraded ? "degraded"
                                                                        : "recovered";
  Json entry = {{"at", format_time(wall_clock_ms())},
                {"type", fault.type},
                {"code", fault.code},
                {"severity", severity},
                {"message", fault.message}};
  if (!fault.sc_type.empty()) entry["sc_type"] = fault.sc_type;
  if (!fault.location.empty()) entry["location"] = fault.location;
  bool wake = false;
  std::optional<Json> log_report;
  {
    std::lock_guard lock(mu_);
    error_log_.push_back(entry);
    if (++error_log_unsent_ >= kErrorLogReportEvery) {
      Json recent = Json::array();
      std::size_t from = error_log_.size() -
                         std::min<std::size_t>(error_log_.size(), std::size_t(error_log_unsent_));
      for (std::size_t i = from; i < error_log_.size(); ++i) recent.push_back(error_log_[i]);
      log_report = Json{{"entries", recent}};
      error_log_unsent_ = 0;
    }
    while (error_log_.size() > kErrorLogKept) error_log_.pop_front();
    Json all = to_array(error_log_);
    if (auto st = write_durably(config_.state_dir / "error_log.json", all.dump()); !st) {
      LogLine(LogLevel::kError) << "agent: " << st.error().message;
    }
    last_error_code_ = fault.code;
    wake = condition_fires(policy_, Json::object(), fault.code);
  }
  if (wake) poll_now();
  if (log_report) (void)submit("error-log", Urgency::kLow, std::move(*log_report));
  if (fault.severity == Fault::Severity::kRecovered) return std::string();
  Json body = {{"type", fault.type}, {"code", fault.code}, {"message", fault.message}};
  if (!fault.sc_type.empty()) body["sc_type"] = fault.sc_type;
  if (!fault.location.empty()) body["location"] = fault.location;
  return submit("alert",
                fault.severity == Fault::Severity::kFatal ? Urgency::kFatal : Urgency::kHigh,
                std::move(body));
}

std::optional<Json> DeviceAgent::last_panel_reply() const {
  std::lock_guard lock(mu_);
  return panel_reply_;
}

Json DeviceAgent::status() const {
  std::lock_guard lock(mu_);
  return {{"relay_url", roster_->current_url()},
          {"outbox_size", outbox_->size()},
          {"last_poll_at", last_poll_at_ ? Json(format_time(last_poll_at_)) : Json()},
          {"last_poll_ok", last_poll_ok_},
          {"poll_policy", to_json(policy_)},
          {"pending_jobs", runner_->pending_count()},
          {"long_poll", long_poll_},
          {"boot_id", boot_id_},
          {"firmware_bytes_fetched", installer_ ? installer_->bytes_fetched() : 0},
          {"firmware_offers", firmware_offers_ ? *firmware_offers_ : Json()}};
}

Status DeviceAgent::firmware_panel(const std::string& action) {
  auto st = runner_->firmware_panel(action, wall_clock_ms());
  if (st) poll_now();  // the poller recomputes when the job is due
  return st;
}

BusySignals DeviceAgent::busy() { return hooks_.busy ? hooks_.busy() : BusySignals{}; }

Json DeviceAgent::firmware_summary() {
  return hooks_.firmware_summary ? hooks_.firmware_summary() : Json::object();
}

std::optional<Json> DeviceAgent::last_boot() {
  return hooks_.last_boot ? hooks_.last_boot() : std::nullopt;
}

Status DeviceAgent::write_slot(const std::string& component, const std::string& version,
                               const std::filesystem::path& image) {
  if (!hooks_.firmware_write) return forbidden("this device takes no firmware");
  return hooks_.firmware_write(component, version, image.string());
}

Status DeviceAgent::activate() {
  if (!hooks_.firmware_activate) return forbidden("this device cannot boot a new image");
  return hooks_.firmware_activate();
}

void DeviceAgent::show(const Json& screen) {
  if (hooks_.firmware_screen) hooks_.firmware_screen(screen);
}

Result<Json> DeviceAgent::artifact_meta(const std::string& sha256) {
  if (!poller_client_) return unavailable("no relay connection");
  auto resp = poller_client_->call("GET", "/v1/artifacts/" + sha256, Json(), 30000);
  if (!resp) return resp.error();
  if (resp->status == 404) return not_found("artifact not on the relay");
  if (resp->status != 200) return unavailable("artifact: HTTP " + std::to_string(resp->status));
  auto j = parse_body(resp->body);
  if (!j || !j->contains("artifact")) return unavailable("artifact: unreadable answer");
  return (*j)["artifact"];
}

Result<std::int64_t> DeviceAgent::download(const std::string& sha256,
                                           const std::filesystem::path& file, std::int64_t offset,
                                           std::int64_t size_bytes,
                                           const std::function<bool(std::int64_t)>& on_bytes) {
  if (!poller_transport_) return unavailable("no relay connection");
  std::int64_t fetched = 0;
  for (int round = 0; round < 2; ++round) {
    const std::string url = roster_->current_url();
    auto token = roster_->token(url);
    if (!token) {
      if (auto st = poller_client_->enroll(url); !st) return st.error();
      token = roster_->token(url);
    }
    std::FILE* out = std::fopen(file.c_str(), offset > 0 ? "ab" : "wb");
    if (!out) return unavailable("cannot write " + file.string());
    HttpRequest req;
    req.url = url + "/v1/artifacts/" + sha256 + "/data";
    req.headers = {{"Authorization", "Bearer " + token.value_or("")}};
    if (offset > 0) req.headers.push_back({"Range", "bytes=" + std::to_string(offset) + "-"});
    req.timeout_ms = 6 * 3600 * 1000L;
    bool write_failed = false;
    bool too_much = false;
    const auto started = std::chrono::steady_clock::now();
    const std::int64_t fetched_before = fetched;
    auto resp = poller_transport_->download(req, [&](std::string_view data) {
      // Checked before the bytes are written: a relay cannot fill the device's storage.
      if (offset + fetched + static_cast<std::int64_t>(data.size()) > size_bytes) {
        too_much = true;
        return false;
      }
      if (std::fwrite(data.data(), 1, data.size(), out) != data.size()) {
        write_failed = true;
        return false;
      }
      fetched += static_cast<std::int64_t>(data.size());
      // The rate limit is kept here rather than by libcurl, which reads whatever the socket
      // holds (megabytes on a fast link) before it throttles.
      if (config_.download_rate_limit > 0) {
        const auto due =
            started + std::chrono::microseconds((fetched - fetched_before) * 1'000'000 /
                                                config_.download_rate_limit);
        while (!stop_ && std::chrono::steady_clock::now() < due) {
          std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
              due - std::chrono::steady_clock::now(), std::chrono::milliseconds(100)));
        }
        if (stop_) return false;
      }
      return on_bytes(fetched);
    });
    std::fflush(out);
    ::fsync(fileno(out));
    std::fclose(out);
    if (write_failed) return unavailable("cannot write " + file.string());
    if (too_much) {
      std::error_code ec;
      std::filesystem::resize_file(file, std::uintmax_t(offset), ec);
      return Error{ErrorKind::kTooLarge, "the relay sent more than the signed manifest's " +
                                             std::to_string(size_bytes) + " bytes for image " +
                                             sha256.substr(0, 12) + ": download stopped"};
    }
    if (!resp) {
      roster_->advance_from(roster_->current());
      return fetched > 0 ? Result<std::int64_t>(fetched) : Result<std::int64_t>(resp.error());
    }
    if (resp->status == 401 && round == 0) {
      if (auto st = poller_client_->enroll(url); !st) return st.error();
      continue;
    }
    if (resp->status == 404) return not_found("artifact not on the relay");
    if (resp->status == 416) {
      // What we hold is not a prefix of this artifact: start over.
      std::error_code ec;
      std::filesystem::resize_file(file, 0, ec);
      return unavailable("range refused; starting the download over");
    }
    if (resp->status != 200 && resp->status != 206) {
      return unavailable("artifact download: HTTP " + std::to_string(resp->status));
    }
    if (offset > 0 && resp->status == 200) {
      // The relay ignored the range and sent everything: keep only the fresh copy.
      return unavailable("relay ignored the range; retrying");
    }
    return fetched;
  }
  return unavailable("artifact download: not authorised");
}

Status DeviceAgent::confirm_event(const JobEvent& e) {
  if (!poller_client_) return unavailable("no relay connection");
  auto resp =
      poller_client_->call("POST", "/v1/device/jobs/" + e.job_id + "/events", to_json(e), 30000);
  if (!resp) return resp.error();
  if (resp->status == 200 || resp->status == 201) return ok_status();
  if (resp->status == 409 || resp->status == 404 || resp->status == 403) {
    return conflict("the relay refused the job's start: HTTP " + std::to_string(resp->status) +
                    " " + resp->body.substr(0, 200));
  }
  return unavailable("job event: HTTP " + std::to_string(resp->status));
}

void DeviceAgent::check_firmware(RelayClient& client) {
  Json body = {{"model", config_.enrollment.model}, {"firmware", firmware_summary()}};
  auto resp = client.call("POST", "/v1/device/firmware-check", body, 30000);
  if (!resp || resp->status != 200) return;
  auto j = parse_body(resp->body);
  if (!j) return;
  std::lock_guard lock(mu_);
  firmware_offers_ = j->value("offers", Json::array());
}

void DeviceAgent::poll_now() {
  std::lock_guard lock(mu_);
  poll_requested_ = true;
  poll_cv_.notify_one();
}

Result<Json> DeviceAgent::read_data_set(const std::string& name) {
  if (hooks_.read_data_set) {
    auto j = hooks_.read_data_set(name);
    if (j && j->is_object()) return j;
  }
  std::lock_guard lock(mu_);
  if (name == "comm-history") {
    return Json{{"entries", to_array(comm_history_)}};
  }
  if (name == "error-log") return Json{{"entries", to_array(error_log_)}};
  return not_found("data set '" + name + "' is not available on this device");
}

Status DeviceAgent::apply_settings(const Json& settings, bool validate_only) {
  if (!hooks_.apply_settings) return forbidden("this device accepts no settings");
  return hooks_.apply_settings(settings, validate_only);
}

Status DeviceAgent::apply_poll_policy(const PollPolicy& policy) {
  std::lock_guard lock(mu_);
  policy_ = policy;
  interval_override_ = false;
  conditions_fired_.assign(policy_.conditions.size(), false);
  Json j = {{"policy", to_json(policy_)}, {"from_job", true}};
  if (auto st = write_durably(config_.state_dir / "poll_policy.json", j.dump()); !st) return st;
  poll_cv_.notify_one();
  return ok_status();
}

Status DeviceAgent::reboot() {
  if (!hooks_.reboot) return ok_status();
  return hooks_.reboot();
}

void DeviceAgent::note_exchange(const std::string& what, const std::string& url, int status,
                                const std::string& error) {
  Json e = {
      {"at", format_time(wall_clock_ms())}, {"what", what}, {"relay", url}, {"status", status}};
  if (!error.empty()) e["error"] = error;
  std::lock_guard lock(mu_);
  comm_history_.push_back(std::move(e));
  while (comm_history_.size() > kCommHistoryKept) comm_history_.pop_front();
}

bool DeviceAgent::conditions_fire() {
  std::vector<PollCondition> counters;
  {
    std::lock_guard lock(mu_);
    for (const auto& c : policy_.conditions) {
      if (c.kind == "counter_at_least") counters.push_back(c);
    }
  }
  if (counters.empty() || !hooks_.read_counters) return false;
  auto values = hooks_.read_counters();
  if (!values) return false;
  std::lock_guard lock(mu_);
  bool fire = false;
  // Edge-triggered: a counter that stays above its threshold fires once, not every second.
  for (std::size_t i = 0; i < policy_.conditions.size() && i < conditions_fired_.size(); ++i) {
    const auto& c = policy_.conditions[i];
    if (c.kind != "counter_at_least") continue;
    PollPolicy one;
    one.conditions = {c};
    bool now_true = condition_fires(one, *values, "");
    if (now_true && !conditions_fired_[i]) fire = true;
    conditions_fired_[i] = now_true;
  }
  return fire;
}

void DeviceAgent::poll_loop() {
  ClientOptions client_options = config_.client;
  client_options.abort = &stop_;
  HttpClient transport(client_options);
  RelayClient client(*roster_, [&transport](const HttpRequest& r) { return transport.send(r); });
  // Firmware downloads use their own connection (rate-limited in download()).
  HttpClient download_transport(client_options);
  poller_client_ = &client;
  poller_transport_ = &download_transport;
  struct Unset {
    DeviceAgent* self;
    ~Unset() {
      self->poller_client_ = nullptr;
      self->poller_transport_ = nullptr;
    }
  } unset{this};
  TimeMs next_poll = 0;
  std::optional<TimeMs> next_tod;
  {
    std::lock_guard lock(mu_);
    next_poll =
        policy_.on_power_on ? wall_clock_ms() : wall_clock_ms() + TimeMs(policy_.interval_s) * 1000;
    next_tod = next_time_of_day(policy_, wall_clock_ms());
  }
  bool first = true;
  while (!stop_) {
    runner_->run_due(wall_clock_ms());
    TimeMs now = wall_clock_ms();
    bool due = now >= next_poll || (next_tod && now >= *next_tod);
    {
      std::lock_guard lock(mu_);
      if (poll_requested_) due = true;
      poll_requested_ = false;
    }
    if (!due && conditions_fire()) due = true;
    if (!due) {
      // One-second tick for the counter conditions; earlier for the other deadlines.
      TimeMs deadline = std::min(next_poll, now + 1000);
      if (next_tod) deadline = std::min(deadline, *next_tod);
      if (auto d = runner_->next_due()) deadline = std::min(deadline, std::max(now, *d));
      std::unique_lock lock(mu_);
      poll_cv_.wait_until(lock, at(deadline), [this] { return stop_ || poll_requested_; });
      continue;
    }
    double delay_s = poll_once(client, first);
    first = false;
    if (config_.firmware_check_interval_s > 0 && wall_clock_ms() >= next_firmware_check_) {
      check_firmware(client);
      next_firmware_check_ = wall_clock_ms() + TimeMs(config_.firmware_check_interval_s) * 1000;
    }
    now = wall_clock_ms();
    next_poll = now + TimeMs(delay_s * 1000);
    std::lock_guard lock(mu_);
    next_tod = next_time_of_day(policy_, now);
  }
}

double DeviceAgent::poll_once(RelayClient& client, bool first) {
  const TimeMs now = wall_clock_ms();
  int wait_s = 0;
  bool lp = false;
  PollPolicy policy;
  {
    std::lock_guard lock(mu_);
    lp = long_poll_;
    policy = policy_;
  }
  if (!first && lp && config_.long_poll_wait_s > 0) {
    wait_s = config_.long_poll_wait_s;
    // Do not stay inside a long-poll past a job's execution time or a time of day.
    if (auto d = runner_->next_due())
      wait_s = int(std::clamp<TimeMs>((*d - now) / 1000, 0, wait_s));
    if (auto t = next_time_of_day(policy, now)) {
      wait_s = int(std::clamp<TimeMs>((*t - now) / 1000, 0, wait_s));
    }
  }
  Json body = {{"boot_id", boot_id_},
               {"state", hooks_.current_state ? hooks_.current_state() : std::string("idle")},
               {"firmware", hooks_.firmware_summary ? hooks_.firmware_summary() : Json::object()},
               {"wait_s", wait_s}};
  auto resp = client.call("POST", "/v1/device/poll", body, (wait_s + 15) * 1000L);
  {
    std::lock_guard lock(mu_);
    last_poll_at_ = now;
    last_poll_ok_ = resp && resp->status == 200;
    if (!last_poll_ok_) long_poll_ = false;
  }
  if (!resp) {
    if (stop_) return 0;
    note_exchange("poll", roster_->current_url(), 0, resp.error().message);
    LogLine(LogLevel::kWarn) << "agent " << config_.enrollment.serial
                             << ": poll: " << resp.error().message;
    return backoff_s(++poll_failures_) * 2;
  }
  note_exchange("poll", client.last_url(), resp->status, "");
  if (resp->status == 429) return retry_after_s(*resp);
  if (resp->status != 200) {
    LogLine(LogLevel::kWarn) << "agent " << config_.enrollment.serial << ": poll: HTTP "
                             << resp->status << " " << resp->body.substr(0, 200);
    return backoff_s(++poll_failures_) * 2;
  }
  poll_failures_ = 0;
  auto j = parse_body(resp->body);
  if (!j) return policy.interval_s;
  std::vector<Job> jobs;
  for (const auto& item : j->value("jobs", Json::array())) {
    auto job = parse_job(item);
    if (!job) {
      LogLine(LogLevel::kWarn) << "agent: ignoring a job I cannot read: " << job.error().message;
      continue;
    }
    jobs.push_back(std::move(*job));
  }
  const bool relay_long_poll = j->value("long_poll", Json(false)) == Json(true);
  const Json next_poll_s = j->value("next_poll_s", Json());
  bool override_interval = false;
  // With service-center keys the relay is not trusted with the policy: it could silence the
  // device. Only a signed schedule job changes it then (apply_poll_policy).
  const bool signed_only = !config_.job_keys_pem.empty();
  {
    std::lock_guard lock(mu_);
    long_poll_ = relay_long_poll && config_.long_poll_wait_s > 0;
    if (auto it = j->find("poll_policy"); it != j->end() && signed_only) {
      auto p = parse_poll_policy(*it);
      const std::string offered = p ? to_json(*p).dump() : it->dump().substr(0, 200);
      if ((!p || to_json(*p) != to_json(policy_)) && offered != ignored_policy_) {
        // Logged once per policy offered, not on every poll.
        ignored_policy_ = offered;
        LogLine(LogLevel::kWarn)
            << "agent " << config_.enrollment.serial << ": ignoring the relay's poll_policy "
            << offered << " (this device takes policy changes only from signed schedule jobs)";
      }
    } else if (it != j->end()) {
      auto p = parse_poll_policy(*it);
      if (p && to_json(*p) != to_json(policy_)) {
        int kept_interval = policy_.interval_s;
        policy_ = *p;
        if (interval_override_) policy_.interval_s = kept_interval;
        conditions_fired_.assign(policy_.conditions.size(), false);
        Json saved = {{"policy", to_json(policy_)}, {"from_job", false}};
        (void)write_durably(config_.state_dir / "poll_policy.json", saved.dump());
      }
    }
    policy = policy_;
    override_interval = interval_override_;
  }
  std::size_t fresh = runner_->on_poll(jobs, wall_clock_ms());
  runner_->run_due(wall_clock_ms());

  double regular = override_interval ? double(policy.interval_s)
                                     : regular_poll_delay_s(next_poll_s, policy.interval_s);
  bool known_only = !jobs.empty() && fresh == 0;
  known_streak_ = known_only ? known_streak_ + 1 : 0;
  double delay = regular;
  if (known_only) {
    // The relay keeps delivering a job until its terminal event arrives, and a job waiting for
    // its execution time is always deliverable: poll again soon (to see a cancellation), but
    // back off so that this does not become a busy loop.
    delay = std::min(regular, std::min<double>(30, std::pow(2.0, known_streak_ - 1)));
  } else if (long_poll_ && config_.long_poll_wait_s > 0) {
    // The next long-poll goes out at once, unless this one came back early with nothing new
    // (a relay restarting, or one that says "long_poll" but holds nothing, even on purpose):
    // then back off, 1 s doubling up to the regular delay, so that it cannot make the device
    // poll back to back.
    const bool early = jobs.empty() && wait_s > 0 && wall_clock_ms() - now < TimeMs(wait_s) * 500;
    early_streak_ = early ? early_streak_ + 1 : 0;
    delay = early ? std::min(regular, std::pow(2.0, std::min(early_streak_, 20) - 1)) : 0;
  }
  if (auto d = runner_->next_due())
    delay = std::min<double>(delay, std::max<TimeMs>(0, *d - wall_clock_ms()) / 1000.0);
  return delay;
}

void DeviceAgent::send_loop() {
  ClientOptions client_options = config_.client;
  client_options.abort = &stop_;
  HttpClient transport(client_options);
  RelayClient client(*roster_, [&transport](const HttpRequest& r) { return transport.send(r); });
  TimeMs not_before = 0;
  while (!stop_) {
    OutboxBatch batch = outbox_->next_batch(batch_limit_);
    TimeMs now = wall_clock_ms();
    {
      std::unique_lock lock(mu_);
      if (batch.empty()) {
        send_cv_.wait(lock, [this] { return stop_ || send_requested_; });
        send_requested_ = false;
        continue;
      }
      // A fresh alert skips the backoff (the relay admits alerts even while shedding bulk).
      bool bypass = batch.alerts_only && alert_waiting_;
      if (now < not_before && !bypass) {
        send_cv_.wait_until(lock, at(not_before), [this] { return stop_ || alert_waiting_; });
        continue;
      }
      alert_waiting_ = false;
      send_requested_ = false;
    }
    SendOutcome out =
        batch.reports.empty() ? send_event(client, *batch.event) : send_reports(client, batch);
    if (stop_) break;
    switch (out.kind) {
      case SendOutcome::Kind::kDelivered:
        send_failures_ = 0;
        not_before = 0;
        break;
      case SendOutcome::Kind::kFailed:
        not_before = wall_clock_ms() + TimeMs(backoff_s(++send_failures_) * 1000);
        break;
      case SendOutcome::Kind::kRetryAfter:
        not_before = wall_clock_ms() + TimeMs(out.retry_after_s) * 1000;
        break;
    }
  }
}

DeviceAgent::SendOutcome DeviceAgent::send_reports(RelayClient& client, const OutboxBatch& batch) {
  Json reports = Json::array();
  for (const auto& e : batch.reports) reports.push_back(to_json(*e.report));
  auto resp = client.call("POST", "/v1/device/reports", {{"reports", reports}}, 30000);
  if (!resp) {
    if (stop_) return {SendOutcome::Kind::kFailed};
    note_exchange("reports", roster_->current_url(), 0, resp.error().message);
    LogLine(LogLevel::kWarn) << "agent " << config_.enrollment.serial
                             << ": reports: " << resp.error().message;
    return {SendOutcome::Kind::kFailed};
  }
  note_exchange("reports", client.last_url(), resp->status, "");
  if (resp->status == 429) {
    return {SendOutcome::Kind::kRetryAfter, retry_after_s(*resp)};
  }
  if (resp->status == 400 || resp->status == 413) {
    if (batch.reports.size() > 1) {
      // Find the one the relay refuses by sending them one at a time.
      batch_limit_ = 1;
      return {};
    }
    LogLine(LogLevel::kWarn) << "agent " << config_.enrollment.serial << ": relay refuses report "
                             << batch.reports[0].report->id << ": " << resp->body.substr(0, 200);
    outbox_->reject(batch.reports[0].seq, resp->body.substr(0, 500));
    return {};
  }
  if (resp->status != 200) {
    LogLine(LogLevel::kWarn) << "agent " << config_.enrollment.serial << ": reports: HTTP "
                             << resp->status << " " << resp->body.substr(0, 200);
    return {SendOutcome::Kind::kFailed};
  }
  auto j = parse_body(resp->body);
  std::vector<Receipt> receipts;
  if (j) {
    for (const auto& item : j->value("receipts", Json::array())) {
      if (auto r = parse_receipt(item)) receipts.push_back(std::move(*r));
    }
  }
  auto confirmed = outbox_->confirm(receipts);
  std::size_t matched = 0;
  for (std::size_t i = 0; i < receipts.size(); ++i) {
    if (!confirmed[i]) continue;
    ++matched;
    const Report& r = *confirmed[i];
    if ((r.kind == "message" || r.kind == "order") && receipts[i].reply) {
      Json reply = {{"report_id", r.id},
                    {"reception_no", receipts[i].reply->reception_no},
                    {"description", receipts[i].reply->description}};
      {
        std::lock_guard lock(mu_);
        panel_reply_ = reply;
      }
      (void)write_durably(config_.state_dir / "panel_reply.json", reply.dump());
      if (hooks_.panel_reply) hooks_.panel_reply(reply);
    }
  }
  if (matched < batch.reports.size()) {
    // Reports without a matching receipt stay in the outbox and are sent again.
    LogLine(LogLevel::kWarn) << "agent " << config_.enrollment.serial << ": "
                             << batch.reports.size() - matched
                             << " report(s) without a matching receipt; will retransmit\n";
    return {SendOutcome::Kind::kFailed};
  }
  batch_limit_ = std::clamp<std::size_t>(config_.max_batch, 1, kMaxReportsPerBatch);
  return {};
}

DeviceAgent::SendOutcome DeviceAgent::send_event(RelayClient& client, const OutboxEntry& entry) {
  const JobEvent& e = *entry.event;
  auto resp = client.call("POST", "/v1/device/jobs/" + e.job_id + "/events", to_json(e), 30000);
  if (!resp) {
    if (stop_) return {SendOutcome::Kind::kFailed};
    note_exchange("job event", roster_->current_url(), 0, resp.error().message);
    return {SendOutcome::Kind::kFailed};
  }
  note_exchange("job event", client.last_url(), resp->status, "");
  if (resp->status == 200 || resp->status == 201) {
    outbox_->remove(entry.seq);
    return {};
  }
  if (resp->status == 429) {
    return {SendOutcome::Kind::kRetryAfter, retry_after_s(*resp)};
  }
  if (resp->status == 409 || resp->status == 404 || resp->status == 403 || resp->status == 400 ||
      resp->status == 413) {
    // 409: the job was cancelled or expired meanwhile; the others will never succeed. Either
    // way the job is over for this device.
    if (resp->status != 409) {
      LogLine(LogLevel::kWarn) << "agent " << config_.enrollment.serial << ": event " << e.event_id
                               << ": HTTP " << resp->status << " " << resp->body.substr(0, 200);
    }
    outbox_->reject(entry.seq,
                    "HTTP " + std::to_string(resp->status) + " " + resp->body.substr(0, 300));
    runner_->drop(e.job_id);
    return {};
  }
  return {SendOutcome::Kind::kFailed};
}

}  // namespace printrelay::agent
