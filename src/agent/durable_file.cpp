#include "agent/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace printrelay::agent {
namespace {

Error io_error(const std::string& what, const std::filesystem::path& p) {
  return unavailable(what + " " + p.string() + ": " + std::strerror(errno));
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(std::size_t(n));
  }
  return true;
}

}  // namespace

Status sync_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("open directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return io_error("fsync directory", dir);
  return ok_status();
}

Status write_durably(const std::filesystem::path& path, std::string_view content) {
  // The temp name ends in ".tmp" so that directory scans (outbox reload) skip it.
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  // Tokens and state are secret: the file is created 0600 (O_EXCL, after removing a temp file
  // a crash left), so it never exists with another mode, whatever was there before; O_TRUNC on a
  // leftover would have kept the leftover's mode. O_NOFOLLOW: a planted link is not followed.
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return io_error("remove stale", tmp);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("create", tmp);
  if (!write_all(fd, content) || ::fsync(fd) != 0) {
    auto e = io_error("write", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto e = io_error("rename", tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  return sync_directory(path.parent_path().empty() ? "." : path.parent_path());
}

Status remove_durably(const std::filesystem::path& path, bool sync_dir) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return io_error("unlink", path);
  if (!sync_dir) return ok_status();
  return sync_directory(path.parent_path().empty() ? "." : path.parent_path());
}

Status append_line(const std::filesystem::path& path, std::string_view line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("open", path);
  std::string buf(line);
  buf += '\n';
  bool ok = write_all(fd, buf) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return io_error("append", path);
  return ok_status();
}

Result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace printrelay::agent
