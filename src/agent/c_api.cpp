// The C edge of the agent: converts pr_* types to the C++ engine and catches everything, so that
// no exception crosses into vendor firmware.
#include <cstring>

#include "agent/agent_log.h"
#include "agent/device_agent.h"
#include "agent/durable_file.h"
#include "core/codec.h"
#include "printrelay/agent.h"

struct pr_buffer {
  std::string text;
  bool set = false;
};

struct pr_agent {
  std::unique_ptr<printrelay::agent::DeviceAgent> engine;
  pr_device_hooks hooks{};
};

namespace {

using printrelay::ErrorKind;
using printrelay::Json;
using printrelay::Result;
using printrelay::Status;
using printrelay::agent::LogLevel;
using printrelay::agent::LogLine;

std::string str(const char* s) { return s ? std::string(s) : std::string(); }

pr_status to_status(const printrelay::Error& e) {
  switch (e.kind) {
    case ErrorKind::kBadInput:
    case ErrorKind::kTooLarge:
      return PR_ERR_INVALID;
    case ErrorKind::kConflict:
      return PR_ERR_STATE;
    case ErrorKind::kNotFound:
      return PR_ERR_NOT_FOUND;
    case ErrorKind::kUnavailable:
      return PR_ERR_IO;
    default:
      return PR_ERR_INTERNAL;
  }
}

pr_status copy_out(const std::string& s, char* out, std::size_t size) {
  if (!out) return PR_OK;
  if (s.size() + 1 > size) return PR_ERR_BUFFER;
  std::memcpy(out, s.c_str(), s.size() + 1);
  return PR_OK;
}

// Runs `fn` and turns any escaping exception into PR_ERR_INTERNAL.
template <typename Fn>
pr_status guarded(const char* what, Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    LogLine(LogLevel::kError) << "printrelay agent: " << what << ": " << e.what();
  } catch (...) {
    LogLine(LogLevel::kError) << "printrelay agent: " << what << ": unknown exception";
  }
  return PR_ERR_INTERNAL;
}

// Adapts the vendor's C hooks to the engine's DeviceHooks.
printrelay::agent::DeviceHooks adapt(const pr_device_hooks& h) {
  printrelay::agent::DeviceHooks d;
  if (h.read_data_set) {
    d.read_data_set = [h](const std::string& name) -> Result<Json> {
      pr_buffer b;
      if (h.read_data_set(h.user, name.c_str(), &b) != 0 || !b.set) {
        return printrelay::not_found("data set '" + name + "' not available");
      }
      return printrelay::parse_body(b.text);
    };
  }
  if (h.apply_settings) {
    d.apply_settings = [h](const Json& settings, bool validate_only) -> Status {
      pr_buffer reason;
      std::string text = settings.dump();
      if (h.apply_settings(h.user, text.c_str(), validate_only ? 1 : 0, &reason) != 0) {
        return printrelay::bad_input(reason.set && !reason.text.empty() ? reason.text
                                                                        : "refused by device");
      }
      return printrelay::ok_status();
    };
  }
  if (h.current_state) {
    d.current_state = [h]() {
      pr_buffer b;
      if (h.current_state(h.user, &b) != 0 || !b.set) return std::string("idle");
      return b.text;
    };
  }
  if (h.read_counters) {
    d.read_counters = [h]() -> Result<Json> {
      pr_buffer b;
      if (h.read_counters(h.user, &b) != 0 || !b.set) return printrelay::not_found("no counters");
      return printrelay::parse_body(b.text);
    };
  }
  if (h.firmware_summary) {
    d.firmware_summary = [h]() {
      pr_buffer b;
      if (h.firmware_summary(h.user, &b) != 0 || !b.set) return Json::object();
      auto j = printrelay::parse_body(b.text);
      return j ? *j : Json::object();
    };
  }
  if (h.reboot) {
    d.reboot = [h]() -> Status {
      if (h.reboot(h.user) != 0) return printrelay::unavailable("reboot refused by device");
      return printrelay::ok_status();
    };
  }
  if (h.panel_reply) {
    d.panel_reply = [h](const Json& reply) { h.panel_reply(h.user, reply.dump().c_str()); };
  }
  if (h.busy) {
    d.busy = [h]() {
      const int flags = h.busy(h.user);
      printrelay::BusySignals b;
      b.printing = flags > 0 && (flags & PR_BUSY_PRINTING);
      b.user_at_panel = flags > 0 && (flags & PR_BUSY_PANEL);
      return b;
    };
  }
  if (h.firmware_write) {
    d.firmware_write = [h](const std::string& component, const std::string& version,
                           const std::string& path) -> Status {
      pr_buffer reason;
      if (h.firmware_write(h.user, component.c_str(), version.c_str(), path.c_str(), &reason) !=
          0) {
        return printrelay::unavailable(reason.set && !reason.text.empty() ? reason.text
                                                                          : "write refused");
      }
      return printrelay::ok_status();
    };
  }
  if (h.firmware_activate) {
    d.firmware_activate = [h]() -> Status {
      if (h.firmware_activate(h.user) != 0) {
        return printrelay::unavailable("the device refused to boot the new image");
      }
      return printrelay::ok_status();
    };
  }
  if (h.last_boot) {
    d.last_boot = [h]() -> std::optional<Json> {
      pr_buffer b;
      if (h.last_boot(h.user, &b) != 0 || !b.set) return std::nullopt;
      auto j = printrelay::parse_body(b.text);
      if (!j) return std::nullopt;
      return *j;
    };
  }
  if (h.firmware_screen) {
    d.firmware_screen = [h](const Json& screen) {
      h.firmware_screen(h.user, screen.dump().c_str());
    };
  }
  return d;
}

}  // namespace

extern "C" {

const char* pr_status_text(pr_status status) {
  switch (status) {
    case PR_OK:
      return "ok";
    case PR_ERR_INVALID:
      return "invalid argument";
    case PR_ERR_STATE:
      return "wrong state for this call";
    case PR_ERR_IO:
      return "state directory not writable";
    case PR_ERR_NOT_FOUND:
      return "not found";
    case PR_ERR_BUFFER:
      return "buffer too small";
    case PR_ERR_INTERNAL:
      return "internal error";
  }
  return "unknown status";
}

void pr_agent_set_log_callback(pr_log_fn fn, void* user) {
  printrelay::agent::set_log_sink(fn, user);
}

void pr_buffer_set(pr_buffer* buffer, const char* data, size_t length) {
  if (!buffer) return;
  try {
    buffer->text.assign(data ? data : "", data ? length : 0);
    buffer->set = true;
  } catch (...) {
    buffer->set = false;
  }
}

void pr_agent_config_init(pr_agent_config* config) {
  if (!config) return;
  std::memset(config, 0, sizeof *config);
  config->long_poll_wait_s = 25;
  config->connect_timeout_ms = 5000;
}

pr_status pr_agent_create(const pr_agent_config* config, const pr_device_hooks* hooks,
                          pr_agent** out) {
  if (!config || !out) return PR_ERR_INVALID;
  *out = nullptr;
  return guarded("create", [&]() -> pr_status {
    printrelay::agent::AgentConfig c;
    if (!config->relay_urls || config->relay_url_count == 0) return PR_ERR_INVALID;
    for (std::size_t i = 0; i < config->relay_url_count; ++i) {
      if (!config->relay_urls[i]) return PR_ERR_INVALID;
      c.relay_urls.emplace_back(config->relay_urls[i]);
    }
    c.enrollment = {str(config->serial), str(config->model), str(config->enrollment_code)};
    c.state_dir = str(config->state_dir);
    c.client.ca_file = str(config->ca_file);
    c.client.insecure = config->insecure != 0;
    c.client.proxy = str(config->proxy);
    if (config->connect_timeout_ms > 0) c.client.connect_timeout_ms = config->connect_timeout_ms;
    c.long_poll_wait_s = config->long_poll_wait_s;
    c.poll_interval_s = config->poll_interval_s;
    // Keys are read once here: a key file that cannot be read or holds no key is a
    // configuration error, not a device that silently trusts nothing.
    auto read_keys = [](const char* const* files, std::size_t n,
                        std::vector<std::string>& out) -> bool {
      for (std::size_t i = 0; i < n; ++i) {
        if (!files || !files[i]) return false;
        auto pem = printrelay::agent::read_file(files[i]);
        if (!pem || pem->find("-----BEGIN PUBLIC KEY-----") == std::string::npos) {
          LogLine(LogLevel::kError)
              << "printrelay agent: " << files[i] << " holds no PEM public key";
          return false;
        }
        out.push_back(*pem);
      }
      return true;
    };
    if (!read_keys(config->vendor_key_files, config->vendor_key_count, c.vendor_keys_pem) ||
        !read_keys(config->job_key_files, config->job_key_count, c.job_keys_pem)) {
      return PR_ERR_INVALID;
    }
    if (config->download_rate_limit < 0 || config->firmware_check_interval_s < 0) {
      return PR_ERR_INVALID;
    }
    c.download_rate_limit = config->download_rate_limit;
    c.firmware_check_interval_s = config->firmware_check_interval_s;
    auto a = std::make_unique<pr_agent>();
    if (hooks) a->hooks = *hooks;
    auto engine = printrelay::agent::DeviceAgent::create(std::move(c), adapt(a->hooks));
    if (!engine) {
      LogLine(LogLevel::kError) << "printrelay agent: create: " << engine.error().message;
      return to_status(engine.error());
    }
    a->engine = std::move(*engine);
    *out = a.release();
    return PR_OK;
  });
}

pr_status pr_agent_start(pr_agent* agent) {
  if (!agent) return PR_ERR_INVALID;
  return guarded("start", [&]() -> pr_status {
    auto st = agent->engine->start();
    return st ? PR_OK : to_status(st.error());
  });
}

pr_status pr_agent_stop(pr_agent* agent) {
  if (!agent) return PR_ERR_INVALID;
  return guarded("stop", [&]() -> pr_status {
    agent->engine->stop();
    return PR_OK;
  });
}

void pr_agent_destroy(pr_agent* agent) {
  if (!agent) return;
  (void)guarded("destroy", [&]() -> pr_status {
    agent->engine->stop();
    delete agent;
    return PR_OK;
  });
}

pr_status pr_agent_submit_report(pr_agent* agent, const char* kind, const char* urgency,
                                 const char* body_json, char* report_id_out,
                                 size_t report_id_size) {
  if (!agent || !kind || !body_json) return PR_ERR_INVALID;
  if (report_id_out && report_id_size <= printrelay::kMaxIdLength) return PR_ERR_BUFFER;
  return guarded("submit_report", [&]() -> pr_status {
    auto u = printrelay::urgency_from(urgency ? urgency : "normal");
    if (!u) return PR_ERR_INVALID;
    auto body = printrelay::parse_body(body_json);
    if (!body) return PR_ERR_INVALID;
    auto id = agent->engine->submit(kind, *u, std::move(*body));
    if (!id) return to_status(id.error());
    return copy_out(*id, report_id_out, report_id_size);
  });
}

pr_status pr_agent_report_fault(pr_agent* agent, const pr_fault* fault, char* report_id_out,
                                size_t report_id_size) {
  if (!agent || !fault || !fault->type || !fault->code) return PR_ERR_INVALID;
  if (report_id_out && report_id_size <= printrelay::kMaxIdLength) return PR_ERR_BUFFER;
  return guarded("report_fault", [&]() -> pr_status {
    printrelay::agent::Fault f;
    using Severity = printrelay::agent::Fault::Severity;
    switch (fault->severity) {
      case PR_FAULT_RECOVERED:
        f.severity = Severity::kRecovered;
        break;
      case PR_FAULT_DEGRADED:
        f.severity = Severity::kDegraded;
        break;
      case PR_FAULT_FATAL:
        f.severity = Severity::kFatal;
        break;
      default:
        return PR_ERR_INVALID;
    }
    f.type = fault->type;
    f.code = fault->code;
    f.sc_type = str(fault->sc_type);
    f.message = str(fault->message);
    f.location = str(fault->location);
    auto id = agent->engine->report_fault(f);
    if (!id) return to_status(id.error());
    return copy_out(*id, report_id_out, report_id_size);
  });
}

pr_status pr_agent_last_panel_reply(pr_agent* agent, char* json_out, size_t json_size) {
  if (!agent) return PR_ERR_INVALID;
  return guarded("last_panel_reply", [&]() -> pr_status {
    auto reply = agent->engine->last_panel_reply();
    if (!reply) return PR_ERR_NOT_FOUND;
    return copy_out(reply->dump(), json_out, json_size);
  });
}

pr_status pr_agent_status(pr_agent* agent, char* json_out, size_t json_size) {
  if (!agent) return PR_ERR_INVALID;
  return guarded("status", [&]() -> pr_status {
    return copy_out(agent->engine->status().dump(), json_out, json_size);
  });
}

pr_status pr_agent_firmware_panel(pr_agent* agent, const char* action) {
  if (!agent || !action) return PR_ERR_INVALID;
  return guarded("firmware_panel", [&]() -> pr_status {
    const std::string a(action);
    if (a != "defer" && a != "cancel") return PR_ERR_INVALID;
    auto st = agent->engine->firmware_panel(a);
    if (st) return PR_OK;
    LogLine(LogLevel::kWarn) << "printrelay agent: panel " << a << ": " << st.error().message;
    return st.error().kind == ErrorKind::kConflict ? PR_ERR_STATE : to_status(st.error());
  });
}

pr_status pr_agent_poll_now(pr_agent* agent) {
  if (!agent) return PR_ERR_INVALID;
  return guarded("poll_now", [&]() -> pr_status {
    agent->engine->poll_now();
    return PR_OK;
  });
}

}  // extern "C"
