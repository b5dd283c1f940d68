#include "cli/commands/context.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "cli/render.h"
#include "cli/signing_keys.h"

namespace printrelay::cli {

void add_signing(CLI::App* command, SigningFlags& flags) {
  command->add_option("--sign-key", flags.sign_key,
                      "sign the job with key NAME (env PRINTRELAY_SIGN_KEY, config \"sign_key\")");
  command->add_option(
      "--keys-dir", flags.keys_dir,
      "keys directory (env PRINTRELAY_KEYS_DIR, default ~/.config/printrelay/keys)");
}

void add_deferral(CLI::App* command, DeferralArgs& deferral) {
  command->add_option("--max-deferrals", deferral.max_count,
                      "deferrals allowed, 0-100 (device default 3)");
  command->add_option("--max-deferral-period-s", deferral.max_period_s,
                      "deferral allowed this long after the first, 0-2592000 (default 86400)");
  command->add_option("--deferral-step-s", deferral.step_s,
                      "each deferral moves the update by this (1200)");
  command->add_option("--when-deferral-exhausted", deferral.when_exhausted,
                      "proceed|fail (default proceed)");
}

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

Result<std::string> read_stream(std::istream& in, const std::string& what) {
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return bad_input("cannot read " + what);
  return text.str();
}

std::string json_text(const Json& j, int indent) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

CommandContext::CommandContext(Console console) : console_(std::move(console)) {}

void CommandContext::on(CLI::App* command, Action action) { actions_[command] = std::move(action); }

const CommandContext::Action* CommandContext::action_for(CLI::App* command) const {
  auto it = actions_.find(command);
  return it == actions_.end() ? nullptr : &it->second;
}

bool CommandContext::connect() {
  if (client_) return true;
  auto conn = resolve_connection(connection_, console_.env);
  if (!conn) {
    console_.err << "error: " << conn.error().message << '\n';
    return false;
  }
  client_ = std::make_unique<RelayClient>(*conn);
  return true;
}

Result<Json> CommandContext::call(const ApiCall& request) {
  if (!connect()) {
    usage_error_ = true;
    return Error{ErrorKind::kBadInput, ""};
  }
  return client_->call(request);
}

int CommandContext::failed(const Error& e) {
  if (usage_error_) return kExitUsage;  // already explained by connect()
  console_.err << "error: " << e.message << '\n';
  return kExitFailed;
}

int CommandContext::change_failed(const Error& e, const std::string& table) {
  if (usage_error_) return kExitUsage;
  console_.err << "error: " << e.message << '\n';
  if (e.kind == ErrorKind::kUnavailable) {
    console_.err << "the relay may or may not have taken the change: see relayctl tables\n";
  } else if (e.kind == ErrorKind::kConflict) {
    console_.err << "nothing was changed: " << table
                 << " was changed meanwhile by someone else; read it again and retry\n";
  } else {
    console_.err << "nothing was changed\n";
  }
  return kExitFailed;
}

int CommandContext::usage(const std::string& message) {
  console_.err << "error: " << message << '\n';
  return kExitUsage;
}

int CommandContext::print_json(const Json& j) {
  console_.out << json_text(j, 2) << '\n';
  return kExitOk;
}

int CommandContext::list(const std::string& path, const char* key,
                         void (*render)(const Json&, std::ostream&)) {
  auto reply = call({"GET", path, {}});
  if (!reply) return failed(reply.error());
  if (json_) return print_json(*reply);
  render(items_of(*reply, key), console_.out);
  return kExitOk;
}

int CommandContext::show(const ApiCall& request, void (*render)(const Json&, std::ostream&)) {
  auto reply = call(request);
  if (!reply) return failed(reply.error());
  if (json_) return print_json(*reply);
  render(*reply, console_.out);
  return kExitOk;
}

int CommandContext::revoke(const std::string& what, const std::string& name) {
  const std::string path = what == "devices" ? "/v1/devices/" + url_encode(name) + "/revoke"
                                             : "/v1/" + what + "/" + url_encode(name);
  auto reply = call({what == "devices" ? "POST" : "DELETE", path, {}});
  if (!reply) return failed(reply.error());
  if (json_) return print_json(*reply);
  console_.out << name << ": credential revoked\n";
  if (what == "devices")
    console_.err << "the device may enrol again with its enrollment code; delete its registration "
                    "to keep it out\n";
  return kExitOk;
}

Result<std::optional<JobSigner>> CommandContext::load_signer(const SigningFlags& flags) {
  auto name = resolve_sign_key_name(flags.sign_key, connection_, console_.env);
  if (!name) return name.error();
  if (name->empty()) return std::optional<JobSigner>();
  auto dir = resolve_keys_dir(flags.keys_dir, console_.env);
  if (!dir) return dir.error();
  auto pem = read_private_key(*dir, *name);
  if (!pem) return bad_input(pem.error().message);
  auto signer = JobSigner::from_private_pem(std::move(*pem));
  if (!signer) return bad_input("sign key " + *name + ": " + signer.error().message);
  return std::optional<JobSigner>(std::move(*signer));
}

}  // namespace printrelay::cli
