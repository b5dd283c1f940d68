#include "store/blob_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/artifact.h"
#include "core/sha256.h"

namespace printrelay {
namespace {

constexpr const char* kMetaSuffix = ".json";
constexpr const char* kTempPrefix = ".tmp-";

// Closes on scope exit; close() errors matter only after a write, and put() checks those itself.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Call right after the failing system call: errno is read first, before anything allocates.
Error io_error(const char* what, const std::string& path) {
  const int err = errno;
  return unavailable(std::string("blob directory: ") + what + " " + path + ": " +
                     std::strerror(err));
}

Status check_name(const std::string& sha256_hex) {
  if (is_sha256_hex(sha256_hex)) return ok_status();
  return bad_input("blob name must be 64 lower-case hex digits");
}

Status write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("cannot write", path);
    bytes.remove_prefix(std::size_t(n));
  }
  return ok_status();
}

Status sync_directory(const std::string& dir) {
  FileDescriptor fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return io_error("cannot open", dir);
  if (::fsync(fd.get()) != 0) return io_error("cannot fsync", dir);
  return ok_status();
}

// Writes `bytes` to a temporary file in `dir`, fsyncs it, renames it to `dir/name` and fsyncs
// the directory. On failure the temporary file is removed and `dir/name` is as it was.
Status replace_file(const std::string& dir, const std::string& name, std::string_view bytes) {
  const std::string final_path = dir + "/" + name;
  std::string temp_path = dir + "/" + kTempPrefix + name + "-XXXXXX";
  FileDescriptor fd(::mkostemp(temp_path.data(), O_CLOEXEC));
  if (fd.get() < 0) return io_error("cannot create a file in", dir);
  auto fail = [&](Error e) -> Status {
    ::unlink(temp_path.c_str());
    return e;
  };
  if (auto s = write_all(fd.get(), bytes, temp_path); !s) return fail(s.error());
  if (::fsync(fd.get()) != 0) return fail(io_error("cannot fsync", temp_path));
  if (::close(fd.release()) != 0) return fail(io_error("cannot close", temp_path));
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    return fail(io_error("cannot rename into place", final_path));
  }
  return sync_directory(dir);
}

// SHA-256 of an open file, read from the start in bounded chunks.
Result<std::string> hash_file(int fd, const std::string& path) {
  Sha256Hasher hasher;
  std::vector<char> buf(1 << 20);
  off_t at = 0;
  while (true) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("cannot read", path);
    if (n == 0) return hasher.hex_digest();
    hasher.update(std::string_view(buf.data(), std::size_t(n)));
    at += n;
  }
}

Result<std::string> read_whole_file(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return not_found("no blob " + path);
    return io_error("cannot open", path);
  }
  std::string text;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("cannot read", path);
    if (n == 0) return text;
    text.append(buf, std::size_t(n));
  }
}

}  // namespace

BlobFile::BlobFile(BlobFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), size_bytes_(other.size_bytes_) {}

BlobFile& BlobFile::operator=(BlobFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_bytes_ = other.size_bytes_;
  }
  return *this;
}

BlobFile::~BlobFile() {
  if (fd_ >= 0) ::close(fd_);
}

BlobDirectory::BlobDirectory(std::string dir) : dir_(std::move(dir)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec || !std::filesystem::is_directory(dir_, ec)) {
    throw std::runtime_error("blob directory: cannot create " + dir_ + ": " +
                             (ec ? ec.message() : "not a directory"));
  }
}

std::string BlobDirectory::path_of(const std::string& sha256_hex) const {
  return dir_ + "/" + sha256_hex;
}

Status BlobDirectory::put(const std::string& sha256_hex, std::string_view bytes, const Json& meta) {
  if (auto s = check_name(sha256_hex); !s) return s;
  if (printrelay::sha256_hex(bytes) != sha256_hex) {
    return bad_input("blob bytes do not hash to " + sha256_hex);
  }
  std::string meta_text;
  try {
    meta_text = meta.dump();
  } catch (const Json::exception&) {
    return bad_input("blob metadata is not valid UTF-8");
  }
  // The blob before its metadata: a .json under its final name vouches for a complete blob.
  if (auto s = replace_file(dir_, sha256_hex, bytes); !s) return s;
  return replace_file(dir_, sha256_hex + kMetaSuffix, meta_text);
}

Status BlobDirectory::put_file(const std::string& sha256_hex, const std::string& temp_path,
                               const Json& meta, const std::string& file_sha256_hex) {
  if (auto s = check_name(sha256_hex); !s) return s;
  const std::filesystem::path temp(temp_path);
  if (temp.parent_path().string() != dir_ || !temp.filename().string().starts_with(kTempPrefix)) {
    return bad_input("blob directory: " + temp_path + " is not a temporary file (" + kTempPrefix +
                     "*) in " + dir_);
  }
  std::string meta_text;
  try {
    meta_text = meta.dump();
  } catch (const Json::exception&) {
    return bad_input("blob metadata is not valid UTF-8");
  }
  FileDescriptor fd(::open(temp_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ELOOP) return bad_input("blob directory: no file " + temp_path);
    return io_error("cannot open", temp_path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error("cannot stat", temp_path);
  if (!S_ISREG(st.st_mode)) return bad_input("blob directory: " + temp_path + " is not a file");
  std::string got = file_sha256_hex;
  if (got.empty()) {
    auto hashed = hash_file(fd.get(), temp_path);
    if (!hashed) return hashed.error();
    got = std::move(*hashed);
  }
  if (got != sha256_hex) return bad_input("blob bytes do not hash to " + sha256_hex);
  // Linux flushes a file's dirty pages through any descriptor, a read-only one included.
  if (::fsync(fd.get()) != 0) return io_error("cannot fsync", temp_path);
  const std::string final_path = path_of(sha256_hex);
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    return io_error("cannot rename into place", final_path);
  }
  if (auto s = sync_directory(dir_); !s) return s;
  // As in put(): the metadata last, so a listed blob always has all of its bytes.
  return replace_file(dir_, sha256_hex + kMetaSuffix, meta_text);
}

Result<BlobFile> BlobDirectory::open(const std::string& sha256_hex) const {
  if (auto s = check_name(sha256_hex); !s) return s.error();
  const std::string path = path_of(sha256_hex);
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return not_found("no blob " + sha256_hex);
    return io_error("cannot open", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error("cannot stat", path);
  if (!S_ISREG(st.st_mode)) return unavailable("blob directory: " + path + " is not a file");
  return BlobFile(fd.release(), std::int64_t(st.st_size));
}

Result<Json> BlobDirectory::meta(const std::string& sha256_hex) const {
  if (auto s = check_name(sha256_hex); !s) return s.error();
  auto text = read_whole_file(path_of(sha256_hex) + kMetaSuffix);
  if (!text) {
    if (text.error().kind == ErrorKind::kNotFound) return not_found("no blob " + sha256_hex);
    return text.error();
  }
  auto j = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return unavailable("blob directory: corrupt metadata of " + sha256_hex);
  return j;
}

std::vector<Json> BlobDirectory::list() const {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir_.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      const std::string_view suffix = kMetaSuffix;
      if (name.size() != 64 + suffix.size() || !name.ends_with(suffix)) continue;
      std::string sha(name.substr(0, 64));
      if (is_sha256_hex(sha)) names.push_back(std::move(sha));
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::vector<Json> metas;
  metas.reserve(names.size());
  for (const auto& sha : names) {
    if (auto m = meta(sha)) metas.push_back(std::move(*m));
  }
  return metas;
}

Status BlobDirectory::remove(const std::string& sha256_hex) {
  if (auto s = check_name(sha256_hex); !s) return s;
  const std::string path = path_of(sha256_hex);
  const std::string meta_path = path + kMetaSuffix;
  if (::unlink(meta_path.c_str()) != 0 && errno != ENOENT)
    return io_error("cannot remove", meta_path);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return not_found("no blob " + sha256_hex);
    return io_error("cannot remove", path);
  }
  return sync_directory(dir_);
}

Result<std::int64_t> BlobDirectory::size(const std::string& sha256_hex) const {
  if (auto s = check_name(sha256_hex); !s) return s.error();
  const std::string path = path_of(sha256_hex);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return not_found("no blob " + sha256_hex);
    return io_error("cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) return unavailable("blob directory: " + path + " is not a file");
  return std::int64_t(st.st_size);
}

Result<std::string> BlobDirectory::read(const std::string& sha256_hex, std::int64_t offset,
                                        std::int64_t length) const {
  if (auto s = check_name(sha256_hex); !s) return s.error();
  if (offset < 0 || length < 0) return bad_input("blob range must not be negative");
  const std::string path = path_of(sha256_hex);
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return not_found("no blob " + sha256_hex);
    return io_error("cannot open", path);
  }
  // Size from the open file, not a separate stat: a concurrent put() renames a new inode into
  // place, and this descriptor keeps reading the old one (with the same bytes).
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error("cannot stat", path);
  const std::int64_t size = st.st_size;
  if (offset > size) {
    return bad_input("offset " + std::to_string(offset) + " is past the end of blob " + sha256_hex +
                     " (" + std::to_string(size) + " bytes)");
  }
  std::string bytes(std::size_t(std::min(length, size - offset)), '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pread(fd.get(), bytes.data() + done, bytes.size() - done, off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("cannot read", path);
    if (n == 0) break;  // truncated underneath us; return what there is
    done += std::size_t(n);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace printrelay
