// Where the agent library's messages go: to the embedder's pr_log_fn when one is set
// (pr_agent_set_log_callback in include/printrelay/agent.h), else to stderr as one line each.
//
// The sink is process-wide, not per agent: pr_agent_create reports a bad key file or state
// directory before any pr_agent exists, and the outbox, roster and job runner have no agent to
// ask. Agents that must be told apart put their serial into the message.
//
// Contract: log() never throws and may be called from any thread. Calls are serialised under
// one mutex, held while the embedder's callback runs, so the callback need not be thread-safe
// and is not called any more once set_log_sink has returned.
#pragma once

#include <sstream>
#include <string>

#include "printrelay/agent.h"

namespace printrelay::agent {

enum class LogLevel {
  kError = PR_LOG_ERROR,  // something the device asked for was not done or not kept durably
  kWarn = PR_LOG_WARN,    // the agent works around it: a relay unreachable, a file ignored
  kInfo = PR_LOG_INFO,
  kDebug = PR_LOG_DEBUG,
};

// Replaces the sink; fn == nullptr restores stderr.
void set_log_sink(pr_log_fn fn, void* user);

// One message, without a trailing newline.
void log(LogLevel level, const std::string& message) noexcept;

// Builds one message with << and logs it at the end of the full expression:
//   LogLine(LogLevel::kWarn) << "agent " << serial << ": poll: " << why;
class LogLine {
 public:
  explicit LogLine(LogLevel level) : level_(level) {}
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  ~LogLine() {
    try {
      log(level_, text_.str());
    } catch (...) {  // str() could not allocate: the message is lost, the caller goes on
    }
  }

  // Never throws either: it is used in catch blocks at the C edge (c_api.cpp `guarded`). A
  // message that cannot be built, out of memory, is logged cut short.
  template <typename T>
  LogLine& operator<<(const T& value) noexcept {
    try {
      text_ << value;
    } catch (...) {  // the rest of the message is dropped
    }
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream text_;
};

}  // namespace printrelay::agent
