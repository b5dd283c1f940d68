// What every relayctl command shares: the console, the global flags (connection, --json), the one
// connection to the relay, the action chosen for each subcommand, and the ways a command ends
// (printed JSON, a table, an error line with its exit code; see cli/relayctl.h for the codes).
//
// A command group (commands/*.cpp) keeps its flags in storage owned by its actions and registers
// one action per subcommand with on(). A command asks the relay through call(), which connects on
// first use: a missing URL or token is printed once and every later failed() returns kExitUsage.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/connection.h"
#include "cli/firmware_requests.h"
#include "cli/job_signing.h"
#include "cli/relay_client.h"
#include "cli/relayctl.h"
#include "cli/requests.h"
#include "core/result.h"

namespace printrelay::cli {

// Completes "a firmware job must be ", "a campaign's jobs must be " and "a standing authorisation
// must be ".
inline constexpr const char* kNoSignKey =
    "signed by the service center: pass --sign-key NAME (or set PRINTRELAY_SIGN_KEY, or "
    "\"sign_key\" in the config file); make a key with `relayctl keys create NAME` and install "
    "NAME.pub on the devices as a job key";

// --sign-key and --keys-dir of a command that signs (see add_signing()).
struct SigningFlags {
  std::string sign_key;  // see resolve_sign_key_name()
  std::string keys_dir;  // see resolve_keys_dir()
};

// --sign-key and --keys-dir on a command that makes signed jobs or authorisations.
void add_signing(CLI::App* command, SigningFlags& flags);

// The --max-deferrals ... --when-deferral-exhausted options of a firmware job or campaign.
void add_deferral(CLI::App* command, DeferralArgs& deferral);

// The whole file in one string (an artifact is uploaded as one body); bad input when unreadable.
Result<std::string> read_file(const std::string& path);

// Everything on a stream (`tables put NAME -` reads standard input); `what` names it in errors.
Result<std::string> read_stream(std::istream& in, const std::string& what);

// `j` as JSON text; invalid UTF-8 is replaced rather than thrown on.
std::string json_text(const Json& j, int indent);

class CommandContext {
 public:
  using Action = std::function<int()>;

  explicit CommandContext(Console console);

  // The global flags, bound by run_relayctl before any command runs.
  ConnectionFlags& connection_flags() { return connection_; }
  bool& json_flag() { return json_; }

  // Runs `action` when `command` is the subcommand chosen; nullptr when none was registered.
  void on(CLI::App* command, Action action);
  const Action* action_for(CLI::App* command) const;

  std::ostream& out() { return console_.out; }
  std::ostream& err() { return console_.err; }
  std::istream& in() { return *console_.in; }
  const EnvLookup& env() const { return console_.env; }
  TimeMs now() const { return console_.now(); }
  bool json() const { return json_; }

  // Connects on first use; false after printing why not (no URL or token: a usage error).
  bool connect();
  // The connected client; only after connect() returned true.
  RelayClient& client() { return *client_; }
  // Whether a call failed for want of a URL or token (already explained by connect()).
  bool usage_error() const { return usage_error_; }

  // The relay's answer; a missing URL/token is reported here and marked as a usage error.
  Result<Json> call(const ApiCall& request);

  // Each returns the exit code to end the command with.
  int failed(const Error& e);
  // A table change that did not go through: why, and whether the table changed.
  int change_failed(const Error& e, const std::string& table);
  int usage(const std::string& message);
  int print_json(const Json& j);
  // GET `path`: the JSON with --json, else the items under `key` through `render`.
  int list(const std::string& path, const char* key, void (*render)(const Json&, std::ostream&));
  // The answer to `request`: the JSON with --json, else through `render`.
  int show(const ApiCall& request, void (*render)(const Json&, std::ostream&));

  // Revokes a device's, an admin's or a child relay's credential (`what`: devices, credentials,
  // relays); effective on every node at once.
  int revoke(const std::string& what, const std::string& name);

  // The job signer named by --sign-key, PRINTRELAY_SIGN_KEY or the config file's "sign_key";
  // nullopt when none is named. Bad input when the key cannot be read.
  Result<std::optional<JobSigner>> load_signer(const SigningFlags& flags);

 private:
  Console console_;
  ConnectionFlags connection_;
  bool json_ = false;
  std::map<CLI::App*, Action> actions_;
  std::unique_ptr<RelayClient> client_;
  bool usage_error_ = false;
};

}  // namespace printrelay::cli
