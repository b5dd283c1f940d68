// relayctl: the service center's command line on the admin API (docs/protocol.md).
// Exit codes: 0 ok; 1 the relay refused or could not be reached, a job ended badly, or some
// rows of an import failed; 2 usage errors (bad flags, bad input file, missing URL/token);
// 3 timeouts (`jobs wait`, `watch --count`).
#pragma once

#include <functional>
#include <iostream>
#include <istream>
#include <ostream>

#include "cli/connection.h"
#include "core/time.h"

namespace printrelay::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitTimeout = 3;

// What a run of relayctl talks to; tests substitute streams, environment and clock.
struct Console {
  std::ostream& out;
  std::ostream& err;
  EnvLookup env;
  std::function<TimeMs()> now;
  std::istream* in = &std::cin;  // read by commands given "-" as a file
};
Console process_console();

// Parses argv, runs the chosen command and returns the exit code. Never throws.
int run_relayctl(int argc, const char* const* argv, Console console);

}  // namespace printrelay::cli
