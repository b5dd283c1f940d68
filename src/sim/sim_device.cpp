#include "sim/sim_device.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "clock/wall_clock.h"
#include "core/codec.h"

namespace printrelay::sim {
namespace {

constexpr double kPeriodicReportS = 24 * 3600;  // meter reading once a simulated day
// A device does not cut power the instant it accepts a reboot: the agent gets this long to finish
// what it was doing (record the activation, send a job event) before it is stopped.
constexpr auto kRebootDelay = std::chrono::milliseconds(300);
constexpr std::size_t kPanelScreensKept = 20;
constexpr double kMaxBusyS = 24 * 3600;

SimDevice* device(void* user) { return static_cast<SimDevice*>(user); }

void set(pr_buffer* out, const std::string& s) { pr_buffer_set(out, s.data(), s.size()); }

}  // namespace

SimDevice::SimDevice(std::string serial, const DeviceOptions& options,
                     std::filesystem::path state_dir)
    : serial_(serial),
      options_(options),
      state_dir_(std::move(state_dir)),
      mfp_(std::move(serial), options.model, options.seed, wall_clock_ms()),
      slots_(
          state_dir_, serial_, mfp_.firmware(),
          FirmwareSlotOptions{options.firmware_write_ms, options.bad_boot_chance, options.seed}) {}

SimDevice::~SimDevice() { stop(); }

pr_device_hooks SimDevice::hooks_for(SimDevice* self) {
  pr_device_hooks h{};
  h.user = self;
  h.read_data_set = [](void* user, const char* name, pr_buffer* out) -> int {
    auto j = device(user)->mfp_.data_set(name);
    if (!j) return 1;
    set(out, j->dump());
    return 0;
  };
  h.apply_settings = [](void* user, const char* text, int validate_only, pr_buffer* reason) {
    auto settings = parse_body(text);
    if (!settings) {
      set(reason, settings.error().message);
      return 1;
    }
    Mfp& m = device(user)->mfp_;
    Status st = validate_only ? m.validate_settings(*settings) : m.apply_settings(*settings);
    if (!st) {
      set(reason, st.error().message);
      return 1;
    }
    if (!validate_only) device(user)->dirty_ = true;
    return 0;
  };
  h.current_state = [](void* user, pr_buffer* out) -> int {
    set(out, device(user)->mfp_.state());
    return 0;
  };
  h.read_counters = [](void* user, pr_buffer* out) -> int {
    set(out, device(user)->mfp_.counters().dump());
    return 0;
  };
  h.firmware_summary = [](void* user, pr_buffer* out) -> int {
    set(out, device(user)->slots_.versions().dump());
    return 0;
  };
  h.reboot = [](void* user) -> int {
    SimDevice* d = device(user);
    d->mfp_.reboot();
    (void)d->submit("boot", "normal",
                    {{"reason", "reboot job"}, {"firmware", d->slots_.versions()}});
    d->dirty_ = true;
    return 0;
  };
  h.panel_reply = [](void* user, const char*) { device(user)->dirty_ = true; };
  h.busy = [](void* user) -> int { return device(user)->busy(); };
  h.firmware_write = [](void* user, const char* component, const char* version,
                        const char* image_path, pr_buffer* reason) -> int {
    SimDevice* d = device(user);
    d->dirty_ = true;
    Status st = d->slots_.write(component, version, image_path);
    d->dirty_ = true;
    if (!st) {
      set(reason, st.error().message);
      return 1;
    }
    return 0;
  };
  h.firmware_activate = [](void* user) -> int { return device(user)->activate_firmware(); };
  h.last_boot = [](void* user, pr_buffer* out) -> int {
    Json j = device(user)->slots_.last_boot();
    if (j.is_null()) return 1;
    set(out, j.dump());
    return 0;
  };
  h.firmware_screen = [](void* user, const char* screen_json) {
    device(user)->show_screen(screen_json);
  };
  return h;
}

int SimDevice::busy() const {
  const auto now = Clock::now().time_since_epoch().count();
  int b = 0;
  if (mfp_.state() == "printing" || now < printing_until_.load()) b |= PR_BUSY_PRINTING;
  if (now < panel_until_.load()) b |= PR_BUSY_PANEL;
  return b;
}

void SimDevice::show_screen(const char* screen_json) {
  auto j = parse_body(screen_json ? screen_json : "");
  if (!j || !j->is_object()) {
    std::cerr << "mfp-sim " << serial_ << ": firmware screen is not a JSON object\n";
    return;
  }
  std::lock_guard lock(screen_mu_);
  const std::string name = j->value("screen", "");
  // The agent repeats a screen when its content changes (a deferral moves update_at); the
  // history keeps one entry per screen shown in a row.
  if (panel_screens_.empty() || panel_screens_.back() != name) panel_screens_.push_back(name);
  while (panel_screens_.size() > kPanelScreensKept) panel_screens_.pop_front();
  panel_screen_ = std::move(*j);
  dirty_ = true;
}

int SimDevice::activate_firmware() {
  std::lock_guard lock(reboot_mu_);
  if (stopping_ || rebooting_) return 1;  // shutting down, or already rebooting
  if (auto st = slots_.activate(); !st) {
    std::cerr << "mfp-sim " << serial_ << ": firmware activate: " << st.error().message << "\n";
    return 1;
  }
  // A previous reboot thread has finished its work (rebooting_ is false): this join is short.
  if (reboot_thread_.joinable()) reboot_thread_.join();
  rebooting_ = true;
  dirty_ = true;
  // Never from inside the hook: stopping the agent joins the thread that called it.
  reboot_thread_ = std::thread([this] { reboot_into_new_firmware(); });
  return 0;
}

bool SimDevice::rebooting() {
  std::lock_guard lock(reboot_mu_);
  return rebooting_;
}

void SimDevice::reboot_into_new_firmware() {
  std::this_thread::sleep_for(kRebootDelay);
  {
    std::lock_guard life(lifecycle_mu_);
    pr_agent* old = nullptr;
    {
      std::unique_lock lock(agent_mu_);
      std::swap(old, agent_);
    }
    pr_agent_destroy(old);
    dirty_ = true;

    Json report = {{"reason", "firmware update"}};
    auto booted = slots_.boot();
    if (!booted) {
      std::cerr << "mfp-sim " << serial_ << ": firmware boot: " << booted.error().message << "\n";
    }
    const Json last = slots_.last_boot();
    mfp_.reboot();
    mfp_.set_firmware(slots_.versions());
    report["firmware"] = slots_.versions();
    report["fell_back"] = last.value("fell_back", false);
    report["boot_reason"] = last.value("reason", "");

    // Like a real power-on: a fresh agent that reloads everything from the state directory.
    auto agent = create_agent();
    if (!agent) {
      std::cerr << "mfp-sim " << agent.error().message << "\n";
    } else {
      std::unique_lock lock(agent_mu_);
      agent_ = *agent;
    }
    (void)submit("boot", "normal", report);
    // Seed 003: the device tells the monitoring center its structure after every change.
    if (auto structure = mfp_.data_set("structure"))
      (void)submit("structure", "normal", *structure);
  }
  std::lock_guard lock(reboot_mu_);
  rebooting_ = false;
}

Status SimDevice::firmware_panel(const char* action) {
  std::shared_lock lock(agent_mu_);
  if (!agent_) return conflict("agent not running (the device is rebooting)");
  dirty_ = true;
  if (pr_status st = pr_agent_firmware_panel(agent_, action); st != PR_OK) {
    return conflict(std::string("firmware ") + action + " refused: " + pr_status_text(st));
  }
  return ok_status();
}

Result<pr_agent*> SimDevice::create_agent() {
  std::vector<const char*> urls;
  for (const auto& u : options_.relay_urls) urls.push_back(u.c_str());
  std::vector<const char*> vendor_keys;
  for (const auto& k : options_.vendor_key_files) vendor_keys.push_back(k.c_str());
  std::vector<const char*> job_keys;
  for (const auto& k : options_.job_key_files) job_keys.push_back(k.c_str());
  const std::string dir = state_dir_.string();
  pr_agent_config c;
  pr_agent_config_init(&c);
  c.relay_urls = urls.data();
  c.relay_url_count = urls.size();
  c.serial = serial_.c_str();
  c.model = options_.model.c_str();
  c.enrollment_code = options_.enrollment_code.c_str();
  c.state_dir = dir.c_str();
  c.ca_file = options_.ca_file.empty() ? nullptr : options_.ca_file.c_str();
  c.insecure = options_.insecure ? 1 : 0;
  c.proxy = options_.proxy.empty() ? nullptr : options_.proxy.c_str();
  c.long_poll_wait_s = options_.long_poll_wait_s;
  c.poll_interval_s = options_.poll_interval_s;
  c.vendor_key_files = vendor_keys.empty() ? nullptr : vendor_keys.data();
  c.vendor_key_count = vendor_keys.size();
  c.job_key_files = job_keys.empty() ? nullptr : job_keys.data();
  c.job_key_count = job_keys.size();
  c.download_rate_limit = options_.download_rate_limit;
  c.firmware_check_interval_s = options_.firmware_check_interval_s;
  pr_device_hooks hooks = hooks_for(this);
  pr_agent* agent = nullptr;
  if (pr_status st = pr_agent_create(&c, &hooks, &agent); st != PR_OK) {
    return unavailable(serial_ + ": agent: " + pr_status_text(st));
  }
  if (pr_status st = pr_agent_start(agent); st != PR_OK) {
    pr_agent_destroy(agent);
    return unavailable(serial_ + ": agent start: " + pr_status_text(st));
  }
  return agent;
}

Status SimDevice::start() {
  std::lock_guard life(lifecycle_mu_);
  {
    std::shared_lock lock(agent_mu_);
    if (agent_) return conflict("already started");
  }
  {
    std::lock_guard lock(reboot_mu_);
    stopping_ = false;
  }
  if (auto st = slots_.load(); !st) {
    return unavailable(serial_ + ": firmware slots: " + st.error().message);
  }
  Json boot = {{"reason", "power_on"}};
  if (slots_.has_pending()) {
    // Killed between a firmware activation and its reboot: this power-on is that reboot.
    auto booted = slots_.boot();
    if (!booted) return unavailable(serial_ + ": firmware boot: " + booted.error().message);
    boot["fell_back"] = (*booted)["fell_back"];
    boot["boot_reason"] = (*booted)["reason"];
  }
  mfp_.set_firmware(slots_.versions());
  boot["firmware"] = slots_.versions();
  auto agent = create_agent();
  if (!agent) return agent.error();
  {
    std::unique_lock lock(agent_mu_);
    agent_ = *agent;
  }
  (void)submit("boot", "normal", boot);
  if (auto structure = mfp_.data_set("structure")) (void)submit("structure", "normal", *structure);
  (void)submit("counters", "normal", mfp_.counters());
  (void)submit("supplies", "normal", mfp_.supplies());
  return ok_status();
}

void SimDevice::stop() {
  std::thread reboot;
  {
    std::lock_guard lock(reboot_mu_);
    stopping_ = true;
    reboot = std::move(reboot_thread_);
  }
  if (reboot.joinable()) reboot.join();
  std::lock_guard life(lifecycle_mu_);
  pr_agent* agent = nullptr;
  {
    std::unique_lock lock(agent_mu_);
    std::swap(agent, agent_);
  }
  pr_agent_destroy(agent);
}

Status SimDevice::submit(const std::string& kind, const char* urgency, const Json& body) {
  std::shared_lock lock(agent_mu_);
  if (!agent_) return conflict("agent not running");
  pr_status st =
      pr_agent_submit_report(agent_, kind.c_str(), urgency, body.dump().c_str(), nullptr, 0);
  dirty_ = true;
  if (st != PR_OK) {
    std::cerr << "mfp-sim " << serial_ << ": submit " << kind << ": " << pr_status_text(st) << "\n";
    return unavailable(pr_status_text(st));
  }
  return ok_status();
}

Status SimDevice::fault(const MfpEvent& e) {
  pr_fault f{};
  std::string type;
  switch (e.kind) {
    case MfpEvent::Kind::kJam:
      type = "jam";
      f.severity = PR_FAULT_RECOVERED;
      break;
    case MfpEvent::Kind::kServiceCall:
      type = "service_call";
      // Seed 004 Fig. 12: A stops the machine, B needs a power cycle -> fatal; C disables a
      // function -> high; D is only logged.
      f.severity = e.sc_type == "A" || e.sc_type == "B" ? PR_FAULT_FATAL
                   : e.sc_type == "C"                   ? PR_FAULT_DEGRADED
                                                        : PR_FAULT_RECOVERED;
      break;
    case MfpEvent::Kind::kSupplyEmpty:
      type = "supply_empty";
      f.severity = PR_FAULT_DEGRADED;
      break;
    case MfpEvent::Kind::kPartEndOfLife:
      type = "part_eol";
      f.severity = PR_FAULT_DEGRADED;
      break;
    case MfpEvent::Kind::kSupplyLow:
      return submit("supplies", "normal", mfp_.supplies());
  }
  f.type = type.c_str();
  f.code = e.code.c_str();
  f.sc_type = e.sc_type.empty() ? nullptr : e.sc_type.c_str();
  f.message = e.message.c_str();
  f.location = e.location.empty() ? nullptr : e.location.c_str();
  dirty_ = true;
  std::shared_lock lock(agent_mu_);
  if (!agent_) return conflict("agent not running");
  if (pr_status st = pr_agent_report_fault(agent_, &f, nullptr, 0); st != PR_OK) {
    std::cerr << "mfp-sim " << serial_ << ": fault " << e.code << ": " << pr_status_text(st)
              << "\n";
    return unavailable(pr_status_text(st));
  }
  return ok_status();
}

void SimDevice::forward(const std::vector<MfpEvent>& events) {
  for (const auto& e : events) (void)fault(e);
  if (!events.empty()) dirty_ = true;
}

void SimDevice::advance(double sim_seconds) {
  forward(mfp_.advance(sim_seconds));
  since_periodic_s_ += sim_seconds;
  if (since_periodic_s_ >= kPeriodicReportS) {
    since_periodic_s_ = 0;
    (void)submit("counters", "normal", mfp_.counters());
    (void)submit("supplies", "normal", mfp_.supplies());
  }
}

Status SimDevice::act(const Json& action) {
  if (!action.is_object()) return bad_input("an action must be a JSON object");
  const std::string what = action.value("action", "");
  if (what == "fault") {
    std::string code = action.value("code", "");
    std::string type = action.value("sc_type", "A");
    if (code.empty() || type.size() != 1 || type[0] < 'A' || type[0] > 'D') {
      return bad_input("fault needs code and sc_type A-D");
    }
    return fault(mfp_.service_call(code, type));
  }
  if (what == "jam") return fault(mfp_.jam(action.value("location", "tray1")));
  if (what == "message") {
    std::string text = action.value("text", "");
    if (text.empty()) return bad_input("message needs text");
    return submit("message", "normal", {{"text", text}});
  }
  if (what == "order") {
    std::string item = action.value("item", "");
    int quantity = action.value("quantity", 1);
    if (item.empty() || quantity < 1) return bad_input("order needs item and quantity >= 1");
    return submit("order", "normal", {{"item", item}, {"quantity", quantity}});
  }
  if (what == "burst") {
    int count = action.value("count", 0);
    if (count < 1 || count > 100000) return bad_input("burst needs count 1-100000");
    for (int i = 0; i < count; ++i) {
      if (auto st = submit("counters", "normal", mfp_.counters()); !st) return st;
    }
    return ok_status();
  }
  if (what == "print") {
    int pages = action.value("pages", 0);
    if (pages < 1 || pages > 1000000) return bad_input("print needs pages 1-1000000");
    forward(mfp_.print(pages));
    dirty_ = true;
    return ok_status();
  }
  if (what == "firmware-defer") return firmware_panel("defer");
  if (what == "firmware-cancel") return firmware_panel("cancel");
  if (what == "busy" || what == "panel-touch") {
    const Json seconds = action.value("seconds", Json());
    if (!seconds.is_number() || seconds.get<double>() <= 0 || seconds.get<double>() > kMaxBusyS) {
      return bad_input(what + " needs seconds > 0 and at most 86400");
    }
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(seconds.get<double>()));
    (what == "busy" ? printing_until_ : panel_until_) = until.time_since_epoch().count();
    dirty_ = true;
    return ok_status();
  }
  return bad_input("unknown action '" + what + "'");
}

void SimDevice::write_status(bool force) {
  if (!force && !dirty_.exchange(false)) return;
  dirty_ = false;
  std::lock_guard lock(status_mu_);
  Json s = mfp_.summary();
  s["serial"] = serial_;
  s["model"] = options_.model;
  s["state"] = mfp_.state();
  s["updated_at"] = format_time(wall_clock_ms());
  s["last_panel_reply"] = Json();
  s["relay_url"] = Json();
  s["outbox_size"] = Json();
  s["firmware"] = slots_.versions();
  s["slots"] = slots_.state();
  s["last_boot"] = slots_.last_boot();
  const int busy_now = busy();
  s["busy"] = {{"printing", (busy_now & PR_BUSY_PRINTING) != 0},
               {"panel", (busy_now & PR_BUSY_PANEL) != 0}};
  {
    std::lock_guard screen_lock(screen_mu_);
    s["panel_screen"] = panel_screen_;
    s["panel_screens"] = panel_screens_;
  }
  s["rebooting"] = rebooting();
  std::shared_lock agent_lock(agent_mu_);
  if (agent_) {
    std::vector<char> buf(16384);
    if (pr_agent_last_panel_reply(agent_, buf.data(), buf.size()) == PR_OK) {
      auto j = parse_body(buf.data());
      if (j) s["last_panel_reply"] = *j;
    }
    if (pr_agent_status(agent_, buf.data(), buf.size()) == PR_OK) {
      auto j = parse_body(buf.data());
      if (j) {
        s["relay_url"] = (*j)["relay_url"];
        s["outbox_size"] = (*j)["outbox_size"];
        s["agent"] = *j;
      }
    }
  }
  agent_lock.unlock();
  std::error_code ec;
  std::filesystem::create_directories(state_dir_, ec);
  auto tmp = state_dir_ / "status.json.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << s.dump(2) << "\n";
    if (!out) {
      std::cerr << "mfp-sim " << serial_ << ": cannot write " << tmp << "\n";
      return;
    }
  }
  std::filesystem::rename(tmp, state_dir_ / "status.json", ec);
  if (ec) std::cerr << "mfp-sim " << serial_ << ": rename status.json: " << ec.message() << "\n";
}

}  // namespace printrelay::sim
