#include "cli/signing_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "net/signing.h"

namespace printrelay::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPrivateSuffix = ".key";
constexpr const char* kPublicSuffix = ".pub";

std::string path_in(const std::string& dir, const std::string& name, const char* suffix) {
  return (fs::path(dir) / (name + suffix)).string();
}

Error io_error(const char* what, const std::string& path) {
  const int err = errno;
  return unavailable(std::string("cannot ") + what + " " + path + ": " + std::strerror(err));
}

// Creates `path` with `mode` (failing when it exists), writes `text` and fsyncs it.
Status write_new_file(const std::string& path, const std::string& text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return conflict(path + " already exists");
    return io_error("create", path);
  }
  std::string_view rest = text;
  while (!rest.empty()) {
    ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Error e = io_error("write", path);
      ::close(fd);
      ::unlink(path.c_str());
      return e;
    }
    rest.remove_prefix(std::size_t(n));
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    Error e = io_error("write", path);
    ::unlink(path.c_str());
    return e;
  }
  return ok_status();
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("read", path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The key id of a pair, from whichever files exist; a .pub that does not match its .key is a
// problem worth showing: the operator would hand out a public key that verifies nothing.
void identify(const std::string& dir, SigningKeyFiles& key, bool has_public) {
  std::string from_private, from_public;
  if (key.has_private) {
    auto pem = read_text(path_in(dir, key.name, kPrivateSuffix));
    auto pub = pem ? public_pem_of(*pem) : Result<std::string>(pem.error());
    auto id = pub ? key_id(*pub) : Result<std::string>(pub.error());
    if (id) {
      from_private = *id;
    } else {
      key.problem = key.name + kPrivateSuffix + ": " + id.error().message;
    }
  }
  if (has_public) {
    auto pem = read_text(path_in(dir, key.name, kPublicSuffix));
    auto id = pem ? key_id(*pem) : Result<std::string>(pem.error());
    if (id) {
      from_public = *id;
    } else if (key.problem.empty()) {
      key.problem = key.name + kPublicSuffix + ": " + id.error().message;
    }
  }
  if (!from_private.empty() && !from_public.empty() && from_private != from_public) {
    key.problem = key.name + kPublicSuffix + " does not match " + key.name + kPrivateSuffix;
  }
  key.key_id = !from_private.empty() ? from_private : from_public;
}

}  // namespace

Result<std::string> resolve_keys_dir(const std::string& flag_dir, const EnvLookup& env) {
  if (!flag_dir.empty()) return flag_dir;
  if (auto dir = env("PRINTRELAY_KEYS_DIR"); dir && !dir->empty()) return *dir;
  if (auto home = env("HOME"); home && !home->empty()) {
    return (fs::path(*home) / ".config" / "printrelay" / "keys").string();
  }
  return bad_input("no keys directory: pass --dir or set PRINTRELAY_KEYS_DIR (HOME is not set)");
}

Status check_key_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.' && name[0] != '-' &&
            std::all_of(name.begin(), name.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '_' || c == '-';
            });
  if (ok) return ok_status();
  return bad_input("key name '" + std::string(name.substr(0, 64)) +
                   "' must be 1-64 of A-Z a-z 0-9 . _ - and not start with . or -");
}

Json to_json(const SigningKeyFiles& key) {
  Json j = {{"name", key.name}, {"key_id", key.key_id}, {"private", key.has_private}};
  if (!key.problem.empty()) j["problem"] = key.problem;
  return j;
}

Result<SigningKeyFiles> create_key_files(const std::string& dir, const std::string& name) {
  if (auto s = check_key_name(name); !s) return s.error();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return unavailable("cannot create " + dir + ": " + ec.message());
    // Only the operator lists and reads the private keys.
    ::chmod(dir.c_str(), 0700);
  }
  const std::string private_path = path_in(dir, name, kPrivateSuffix);
  const std::string public_path = path_in(dir, name, kPublicSuffix);
  for (const auto& path : {private_path, public_path}) {
    if (fs::exists(path, ec)) {
      return conflict(path + " already exists; a signing key is never overwritten");
    }
  }
  auto key = make_signing_key();
  if (!key) return key.error();
  auto id = key_id(key->public_pem);
  if (!id) return id.error();
  if (auto s = write_new_file(private_path, key->private_pem, 0600); !s) return s.error();
  if (auto s = write_new_file(public_path, key->public_pem, 0644); !s) {
    ::unlink(private_path.c_str());  // never used: a half pair would only confuse `keys list`
    return s.error();
  }
  return SigningKeyFiles{name, *id, true, {}};
}

Result<std::vector<SigningKeyFiles>> list_key_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return std::vector<SigningKeyFiles>{};
  std::map<std::string, std::pair<bool, bool>> found;  // name -> (has .key, has .pub)
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    const std::string ext = p.extension().string();
    const std::string stem = p.stem().string();
    if ((ext != kPrivateSuffix && ext != kPublicSuffix) || !check_key_name(stem)) continue;
    (ext == kPrivateSuffix ? found[stem].first : found[stem].second) = true;
  }
  if (ec) return unavailable("cannot list " + dir + ": " + ec.message());
  std::vector<SigningKeyFiles> keys;
  for (const auto& [name, files] : found) {
    SigningKeyFiles key{name, {}, files.first, {}};
    identify(dir, key, files.second);
    keys.push_back(std::move(key));
  }
  return keys;
}

Result<std::string> read_private_key(const std::string& dir, const std::string& name) {
  if (auto s = check_key_name(name); !s) return s.error();
  const std::string path = path_in(dir, name, kPrivateSuffix);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return not_found("no private key " + path + " (make one with: relayctl keys create " + name +
                     ")");
  }
  return read_text(path);
}

}  // namespace printrelay::cli
