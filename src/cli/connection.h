// Where relayctl finds its relay and credential. Precedence per setting: flag (--url, --token,
// --ca, --proxy, --insecure), then environment (PRINTRELAY_URL, PRINTRELAY_TOKEN, PRINTRELAY_CA,
// PRINTRELAY_PROXY), then a JSON config file named by --config or PRINTRELAY_CONFIG:
// {"url", "token", "ca", "proxy"} (what
// `relayd init` writes as DATA_DIR/relayctl.json). A relative "ca" in the file is taken relative
// to the file's directory. The file may also name the key that signs jobs: "sign_key".
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/result.h"

namespace printrelay::cli {

struct ConnectionFlags {
  std::string url;
  std::string token;
  std::string ca;
  std::string proxy;
  std::string config;
  bool insecure = false;
};

struct Connection {
  std::string url;  // without a trailing slash
  std::string token;
  std::string ca;
  std::string proxy;  // HTTP proxy the service center's LAN goes out through; empty: none
  bool insecure = false;
};

// Returns the value of an environment variable, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
EnvLookup process_env();

// Bad input (a usage error, exit 2) when the config file is unreadable or malformed, or when no
// URL or token is found; the message says which flag or variable to set.
Result<Connection> resolve_connection(const ConnectionFlags& flags, const EnvLookup& env);

// The signing key NAME for jobs (see signing_keys.h): `flag` (--sign-key), else
// PRINTRELAY_SIGN_KEY, else "sign_key" of the config file; empty when none is set. Bad input only
// when the config file is named but unreadable or malformed.
Result<std::string> resolve_sign_key_name(const std::string& flag, const ConnectionFlags& flags,
                                          const EnvLookup& env);

}  // namespace printrelay::cli
