#include "cli/connection.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/json_text.h"

namespace printrelay::cli {
namespace {

struct ConfigFile {
  std::string url;
  std::string token;
  std::string ca;
  std::string proxy;
  std::string sign_key;
  bool insecure = false;
};

Result<ConfigFile> read_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return bad_input("cannot read config file " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parse_json(text.str());
  const Json j = parsed ? std::move(*parsed) : Json();
  if (!j.is_object()) {
    return bad_input("config file " + path +
                     " is not a JSON object like {\"url\": ..., \"token\": ..., \"ca\": ...}");
  }
  ConfigFile c;
  for (auto [key, field] :
       {std::pair{"url", &c.url}, std::pair{"token", &c.token}, std::pair{"ca", &c.ca},
        std::pair{"proxy", &c.proxy}, std::pair{"sign_key", &c.sign_key}}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_string())
      return bad_input("config file " + path + ": \"" + key + "\" must be a string");
    *field = it->get<std::string>();
  }
  if (auto it = j.find("insecure"); it != j.end()) {
    if (!it->is_boolean())
      return bad_input("config file " + path + ": \"insecure\" must be a boolean");
    c.insecure = it->get<bool>();
  }
  if (!c.ca.empty() && std::filesystem::path(c.ca).is_relative()) {
    c.ca = (std::filesystem::path(path).parent_path() / c.ca).string();
  }
  return c;
}

// The config file named by --config or PRINTRELAY_CONFIG; all empty when none is named.
Result<ConfigFile> config_of(const ConnectionFlags& flags, const EnvLookup& env) {
  std::string config_path = flags.config;
  if (config_path.empty()) config_path = env("PRINTRELAY_CONFIG").value_or("");
  if (config_path.empty()) return ConfigFile{};
  return read_config(config_path);
}

}  // namespace

EnvLookup process_env() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

Result<Connection> resolve_connection(const ConnectionFlags& flags, const EnvLookup& env) {
  auto config = config_of(flags, env);
  if (!config) return config.error();
  const ConfigFile& file = *config;
  auto pick = [&](const std::string& flag, const char* var, const std::string& from_file) {
    if (!flag.empty()) return flag;
    if (auto v = env(var)) return *v;
    return from_file;
  };
  Connection c;
  c.url = pick(flags.url, "PRINTRELAY_URL", file.url);
  c.token = pick(flags.token, "PRINTRELAY_TOKEN", file.token);
  c.ca = pick(flags.ca, "PRINTRELAY_CA", file.ca);
  c.proxy = pick(flags.proxy, "PRINTRELAY_PROXY", file.proxy);
  if (!c.proxy.empty() && c.proxy.rfind("http://", 0) != 0 && c.proxy.rfind("https://", 0) != 0) {
    return bad_input("proxy URL must start with http:// or https://: '" + c.proxy + "'");
  }
  c.insecure = flags.insecure || file.insecure;
  while (!c.url.empty() && c.url.back() == '/') c.url.pop_back();
  if (c.url.empty()) {
    return bad_input(
        "no relay URL: set --url or PRINTRELAY_URL (e.g. https://relay.example:8443), or name a "
        "config file with --config or PRINTRELAY_CONFIG");
  }
  if (c.url.rfind("http://", 0) != 0 && c.url.rfind("https://", 0) != 0) {
    return bad_input("relay URL must start with https:// or http://: '" + c.url + "'");
  }
  if (c.token.empty()) {
    return bad_input(
        "no admin token: set --token or PRINTRELAY_TOKEN, or name a config file with --config "
        "or PRINTRELAY_CONFIG");
  }
  return c;
}

Result<std::string> resolve_sign_key_name(const std::string& flag, const ConnectionFlags& flags,
                                          const EnvLookup& env) {
  if (!flag.empty()) return flag;
  if (auto v = env("PRINTRELAY_SIGN_KEY")) return *v;
  auto config = config_of(flags, env);
  if (!config) return config.error();
  return config->sign_key;
}

}  // namespace printrelay::cli
