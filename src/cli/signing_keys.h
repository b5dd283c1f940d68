// The service center's artifact signing keys, kept by relayctl as files on the operator's machine
// (`relayctl keys create|list`; used by `artifact push --key NAME`). Never sent to a relay.
//
// A key NAME is DIR/NAME.key (private PEM, PKCS#8, mode 0600) and DIR/NAME.pub (public PEM, the
// file to install on devices and relays that must trust the key). DIR is --dir, else
// $PRINTRELAY_KEYS_DIR, else ~/.config/printrelay/keys.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cli/connection.h"
#include "core/model.h"
#include "core/result.h"

namespace printrelay::cli {

// The keys directory; bad input when neither --dir, PRINTRELAY_KEYS_DIR nor HOME is set.
Result<std::string> resolve_keys_dir(const std::string& flag_dir, const EnvLookup& env);

// 1-64 of [A-Za-z0-9._-], not starting with '.' or '-': a file name, never a path.
Status check_key_name(std::string_view name);

struct SigningKeyFiles {
  std::string name;
  std::string key_id;        // empty when no file of the pair is a readable Ed25519 key
  bool has_private = false;  // NAME.key exists
  std::string problem;       // why key_id is empty, or that .key and .pub do not match
};
Json to_json(const SigningKeyFiles& key);

// Makes a fresh key pair and writes NAME.key (0600) then NAME.pub, creating DIR (0700) when
// missing. Conflict when either file exists: a signing key is never overwritten. Unavailable on
// an I/O error, after removing what it wrote.
Result<SigningKeyFiles> create_key_files(const std::string& dir, const std::string& name);

// Every key in DIR (a .key or .pub file with a valid name), ordered by name. An absent DIR has
// no keys.
Result<std::vector<SigningKeyFiles>> list_key_files(const std::string& dir);

// The private PEM of NAME; not found (naming `relayctl keys create`) when DIR/NAME.key is absent.
Result<std::string> read_private_key(const std::string& dir, const std::string& name);

}  // namespace printrelay::cli
