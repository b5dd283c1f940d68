#include "agent/agent_log.h"

#include <cstdio>
#include <mutex>

namespace printrelay::agent {
namespace {

struct Sink {
  std::mutex mu;
  pr_log_fn fn = nullptr;
  void* user = nullptr;
};

// A function-local static: agents may log while other translation units are still being
// initialised (a vendor's static pr_agent), and it must exist by then.
Sink& sink() {
  static Sink s;
  return s;
}

}  // namespace

void set_log_sink(pr_log_fn fn, void* user) {
  Sink& s = sink();
  std::lock_guard lock(s.mu);
  s.fn = fn;
  s.user = user;
}

void log(LogLevel level, const std::string& message) noexcept {
  Sink& s = sink();
  std::lock_guard lock(s.mu);
  if (s.fn) {
    s.fn(s.user, static_cast<int>(level), message.c_str());
    return;
  }
  // As before the callback existed: one line per message on stderr. stdio, not std::cerr,
  // because this must not throw whatever the stream's exception mask says.
  std::fprintf(stderr, "%s\n", message.c_str());
}

}  // namespace printrelay::agent
