// relays, credentials: who may talk to this relay (child relays, admin credentials).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <sstream>

#include "cli/commands/commands.h"
#include "cli/render.h"
#include "cli/requests.h"
#include "cli/table.h"

namespace printrelay::cli {
namespace {

struct RelayFlags {
  std::string id, token_file, customers, revoke_id, rates_id;
  bool all_customers = false;
};

// A child relay's credential. With --token-file the token goes to that file (mode 0600), ready
// for `relayd run --upstream-token-file`; otherwise to standard output.
int add_relay(CommandContext& ctx, const RelayFlags& f) {
  Json customers = Json::array();
  if (f.all_customers) customers.push_back("*");
  std::stringstream list(f.customers);
  for (std::string c; std::getline(list, c, ',');) {
    if (!c.empty()) customers.push_back(c);
  }
  if (customers.empty() || (f.all_customers && !f.customers.empty())) {
    return ctx.usage(
        "say whose devices the child serves: --customers NAME[,NAME...] or --all-customers");
  }
  auto reply = ctx.call({"POST", "/v1/relays", Json{{"id", f.id}, {"customers", customers}}});
  if (!reply) return ctx.failed(reply.error());
  const std::string token = reply->value("token", "");
  if (!f.token_file.empty()) {
    // Created with its final mode: the token is never readable by others, not even briefly.
    const int fd = ::open(f.token_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const std::string line = token + "\n";
    const bool written = fd >= 0 && ::fchmod(fd, 0600) == 0 &&
                         ::write(fd, line.data(), line.size()) == ssize_t(line.size());
    if (fd >= 0) ::close(fd);
    if (!written) return ctx.failed(unavailable("cannot write " + f.token_file));
  }
  if (ctx.json()) return ctx.print_json(*reply);
  if (f.token_file.empty()) ctx.out() << token << '\n';
  ctx.err() << "child relay " << f.id << ": its credential "
            << (f.token_file.empty() ? "is above" : "is in " + f.token_file)
            << "; the parent stores only its hash\n";
  return kExitOk;
}

int list_credentials(CommandContext& ctx) {
  return ctx.list("/v1/credentials", "credentials", print_credentials);
}

int create_credential(CommandContext& ctx, const std::string& name, const std::string& role) {
  if (name.empty()) return ctx.usage("--name is required");
  if (!role_from(role)) return ctx.usage("--role must be viewer, operator or admin");
  auto reply = ctx.call({"POST", "/v1/credentials", Json{{"name", name}, {"role", role}}});
  if (!reply) return ctx.failed(reply.error());
  if (ctx.json()) return ctx.print_json(*reply);
  Json cred = object_of(*reply, "credential");
  ctx.out() << display(cred.value("token", Json())) << '\n';
  ctx.err() << "credential " << name << " (" << role
            << "): keep this token now; the relay stores only its hash\n";
  return kExitOk;
}

}  // namespace

void add_relays_command(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<RelayFlags>();
  auto list = [&ctx] { return ctx.list("/v1/relays", "relays", print_relays); };
  auto* relays = app.add_subcommand("relays", "child relays of this relay");
  ctx.on(relays, list);
  ctx.on(relays->add_subcommand("list", "list child relays and their last sync"), list);
  auto* add = relays->add_subcommand("add", "create a child relay's credential");
  add->add_option("ID", f->id, "the child's relay id (its --relay-id)")->required();
  add->add_option("--token-file", f->token_file, "write the token to this file");
  add->add_option("--customers", f->customers,
                  "the customers whose devices it serves (comma-separated)");
  add->add_flag("--all-customers", f->all_customers,
                "it serves every customer's devices (a regional relay)");
  ctx.on(add, [&ctx, f] { return add_relay(ctx, *f); });
  auto* rates = relays->add_subcommand(
      "rates", "a child's measured WAN rate (from its parent) and LAN rate to each device");
  rates->add_option("ID", f->rates_id, "the child's relay id")->required();
  ctx.on(rates, [&ctx, f] {
    return ctx.show({"GET", "/v1/relays/" + url_encode(f->rates_id) + "/rates", {}},
                    print_relay_rates);
  });
  auto* revoke = relays->add_subcommand("revoke", "revoke a child relay's credential");
  revoke->add_option("ID", f->revoke_id, "the child's relay id")->required();
  ctx.on(revoke, [&ctx, f] { return ctx.revoke("relays", f->revoke_id); });
}

void add_credentials_command(CLI::App& app, CommandContext& ctx) {
  struct Flags {
    std::string name, role, revoke_name;
  };
  auto f = std::make_shared<Flags>();
  auto* creds = app.add_subcommand("credentials", "admin credentials");
  creds->require_subcommand(0, 1);
  ctx.on(creds, [&ctx] { return list_credentials(ctx); });
  ctx.on(creds->add_subcommand("list", "list credentials"),
         [&ctx] { return list_credentials(ctx); });
  auto* create = creds->add_subcommand("create", "create a credential; prints its token");
  create->add_option("--name", f->name)->required();
  create->add_option("--role", f->role, "viewer|operator|admin")->required();
  ctx.on(create, [&ctx, f] { return create_credential(ctx, f->name, f->role); });
  auto* revoke = creds->add_subcommand("revoke", "revoke a credential on every node");
  revoke->add_option("NAME", f->revoke_name, "the credential's name")->required();
  ctx.on(revoke, [&ctx, f] { return ctx.revoke("credentials", f->revoke_name); });
}

}  // namespace printrelay::cli
