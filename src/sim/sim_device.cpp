#include "sim/sim_device.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "core/codec.h"

namespace printrelay::sim {
namespace {

constexpr double kPeriodicReportS = 24 * 3600;  // meter reading once a simulated day

TimeMs wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SimDevice* device(void* user) { return static_cast<SimDevice*>(user); }

void set(pr_buffer* out, const std::string& s) { pr_buffer_set(out, s.data(), s.size()); }

}  // namespace

SimDevice::SimDevice(std::string serial, const DeviceOptions& options,
                     std::filesystem::path state_dir)
    : serial_(serial),
      options_(options),
      state_dir_(std::move(state_dir)),
      mfp_(std::move(serial), options.model, options.seed, wall_ms()) {}

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
    set(out, device(user)->mfp_.firmware().dump());
    return 0;
  };
  h.reboot = [](void* user) -> int {
    SimDevice* d = device(user);
    d->mfp_.reboot();
    (void)d->submit("boot", "normal", {{"reason", "reboot job"}, {"firmware", d->mfp_.firmware()}});
    d->dirty_ = true;
    return 0;
  };
  h.panel_reply = [](void* user, const char*) { device(user)->dirty_ = true; };
  return h;
}

Status SimDevice::start() {
  if (agent_) return conflict("already started");
  std::vector<const char*> urls;
  for (const auto& u : options_.relay_urls) urls.push_back(u.c_str());
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
  pr_device_hooks hooks = hooks_for(this);
  if (pr_status st = pr_agent_create(&c, &hooks, &agent_); st != PR_OK) {
    agent_ = nullptr;
    return unavailable(serial_ + ": agent: " + pr_status_text(st));
  }
  if (pr_status st = pr_agent_start(agent_); st != PR_OK) {
    return unavailable(serial_ + ": agent start: " + pr_status_text(st));
  }
  (void)submit("boot", "normal", {{"reason", "power_on"}, {"firmware", mfp_.firmware()}});
  (void)submit("counters", "normal", mfp_.counters());
  (void)submit("supplies", "normal", mfp_.supplies());
  return ok_status();
}

void SimDevice::stop() {
  if (!agent_) return;
  pr_agent_destroy(agent_);
  agent_ = nullptr;
}

Status SimDevice::submit(const std::string& kind, const char* urgency, const Json& body) {
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
  if (!agent_) return conflict("agent not running");
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
  s["updated_at"] = format_time(wall_ms());
  s["last_panel_reply"] = Json();
  s["relay_url"] = Json();
  s["outbox_size"] = Json();
  if (agent_) {
    char buf[4096];
    if (pr_agent_last_panel_reply(agent_, buf, sizeof buf) == PR_OK) {
      auto j = parse_body(buf);
      if (j) s["last_panel_reply"] = *j;
    }
    if (pr_agent_status(agent_, buf, sizeof buf) == PR_OK) {
      auto j = parse_body(buf);
      if (j) {
        s["relay_url"] = (*j)["relay_url"];
        s["outbox_size"] = (*j)["outbox_size"];
        s["agent"] = *j;
      }
    }
  }
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
