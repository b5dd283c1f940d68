// keys, artifact: signed artifacts (firmware images, relay builds) and the keys on this machine
// that sign them and jobs.
#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/commands/commands.h"
#include "cli/render.h"
#include "cli/requests.h"
#include "cli/signing_keys.h"

namespace printrelay::cli {
namespace {

// Local: no relay is involved. The private key never leaves DIR.
int create_key(CommandContext& ctx, const std::string& keys_dir, const std::string& name) {
  auto dir = resolve_keys_dir(keys_dir, ctx.env());
  if (!dir) return ctx.usage(dir.error().message);
  auto key = create_key_files(*dir, name);
  if (!key) {
    ctx.err() << "error: " << key.error().message << '\n';
    return key.error().kind == ErrorKind::kBadInput ? kExitUsage : kExitFailed;
  }
  if (ctx.json()) {
    Json j = to_json(*key);
    j["private_key"] = *dir + "/" + key->name + ".key";
    j["public_key"] = *dir + "/" + key->name + ".pub";
    return ctx.print_json(j);
  }
  ctx.out() << key->key_id << '\n';
  ctx.err() << "signing key " << key->name << ": private key in " << *dir << "/" << key->name
            << ".key (keep it secret), public key in " << *dir << "/" << key->name
            << ".pub (install it where artifacts or jobs are verified)\n";
  return kExitOk;
}

int list_keys(CommandContext& ctx, const std::string& keys_dir) {
  auto dir = resolve_keys_dir(keys_dir, ctx.env());
  if (!dir) return ctx.usage(dir.error().message);
  auto keys = list_key_files(*dir);
  if (!keys) return ctx.failed(keys.error());
  Json rows = Json::array();
  for (const auto& k : *keys) rows.push_back(to_json(k));
  if (ctx.json()) return ctx.print_json(Json{{"dir", *dir}, {"keys", rows}});
  print_keys(rows, ctx.out());
  for (const auto& k : *keys) {
    if (!k.problem.empty()) ctx.err() << "warning: " << *dir << "/" << k.problem << '\n';
  }
  return kExitOk;
}

struct PushFlags {
  std::string file, key_name, keys_dir;
  ArtifactDescription artifact;
};

// Everything that can be refused locally is checked before the file is read: the description,
// the key, the relay's URL and token.
int push_artifact(CommandContext& ctx, const PushFlags& f) {
  if (auto s = check_description(f.artifact); !s) return ctx.usage(s.error().message);
  auto dir = resolve_keys_dir(f.keys_dir, ctx.env());
  if (!dir) return ctx.usage(dir.error().message);
  auto private_pem = read_private_key(*dir, f.key_name);
  if (!private_pem) return ctx.usage(private_pem.error().message);
  if (!ctx.connect()) return kExitUsage;
  auto bytes = read_file(f.file);
  if (!bytes) return ctx.usage(bytes.error().message);
  auto push = artifact_push_call(std::move(*bytes), f.artifact, *private_pem, ctx.now());
  if (!push) {
    if (push.error().kind != ErrorKind::kBadInput) return ctx.failed(push.error());
    return ctx.usage(push.error().message);
  }
  const std::string sha = push->manifest.value("sha256", "");
  const Json size = push->manifest["size"];
  // The client cannot report progress mid-transfer; a line before and after shows what is
  // happening during a long upload.
  ctx.err() << "uploading " << f.file << " (" << size_text(size) << ", sha256 " << sha << ", key "
            << push->manifest.value("key_id", "") << ") to " << ctx.client().url() << " ..."
            << std::endl;
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  auto reply = ctx.client().upload(std::move(push->call));
  if (!reply) return ctx.failed(reply.error());
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  char took[32];
  std::snprintf(took, sizeof took, "%.1f", seconds);
  ctx.err() << "uploaded " << size_text(size) << " in " << took << " s" << std::endl;
  if (ctx.json()) return ctx.print_json(*reply);
  ctx.out() << sha << '\n';
  return kExitOk;
}

}  // namespace

void add_keys_command(CLI::App& app, CommandContext& ctx) {
  // One directory for `keys --dir D list` and `keys list --dir D` alike.
  struct Flags {
    std::string keys_dir, name;
  };
  auto f = std::make_shared<Flags>();
  auto* keys = app.add_subcommand("keys", "artifact signing keys on this machine (no relay)");
  keys->require_subcommand(0, 1);
  keys->add_option("--dir", f->keys_dir,
                   "keys directory (env PRINTRELAY_KEYS_DIR, default ~/.config/printrelay/keys)");
  ctx.on(keys, [&ctx, f] { return list_keys(ctx, f->keys_dir); });
  auto* list = keys->add_subcommand("list", "list keys: name, key id, private key present");
  list->add_option("--dir", f->keys_dir, "keys directory");
  ctx.on(list, [&ctx, f] { return list_keys(ctx, f->keys_dir); });
  auto* create = keys->add_subcommand("create", "make an Ed25519 key pair; prints its key id");
  create->add_option("NAME", f->name, "writes DIR/NAME.key (0600) and DIR/NAME.pub")->required();
  create->add_option("--dir", f->keys_dir, "keys directory");
  ctx.on(create, [&ctx, f] { return create_key(ctx, f->keys_dir, f->name); });
}

void add_artifact_command(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<PushFlags>();
  auto list = [&ctx] { return ctx.list("/v1/artifacts", "artifacts", print_artifacts); };
  auto* artifact =
      app.add_subcommand("artifact", "signed artifacts: firmware images, relay builds");
  artifact->alias("artifacts");
  artifact->require_subcommand(0, 1);
  ctx.on(artifact, list);
  ctx.on(artifact->add_subcommand("list", "list the relay's artifacts"), list);
  auto* push = artifact->add_subcommand("push", "sign a file's manifest and upload the file");
  push->add_option("FILE", f->file, "the firmware image or relayd build")->required();
  push->add_option("--kind", f->artifact.kind, "relay|firmware")->required();
  push->add_option("--version", f->artifact.version, "1-64 characters")->required();
  push->add_option("--model", f->artifact.model, "device model (firmware)");
  push->add_option("--component", f->artifact.component, "main, controller, ... (firmware)");
  push->add_option("--key", f->key_name, "signing key NAME (relayctl keys create)")->required();
  push->add_option("--dir", f->keys_dir, "keys directory");
  ctx.on(push, [&ctx, f] { return push_artifact(ctx, *f); });
}

}  // namespace printrelay::cli
