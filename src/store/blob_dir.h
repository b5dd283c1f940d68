// A content-addressed blob directory: artifacts stored by SHA-256 (DESIGN.md §10), next to the
// Store but not in it, so that a 500 MiB firmware image never passes through SQLite or libpq.
//
// Layout: <dir>/<sha256> holds the bytes, <dir>/<sha256>.json the caller's metadata (for
// artifacts: the manifest and its signature). Temporary files start with ".tmp-" and are never
// listed.
//
// Durability contract: put() and put_file() return only after both files are fsynced and renamed
// into place and the directory is fsynced. Files appear under their final names only when complete,
// so a crash at any point leaves either the old state or the new one, never a half blob; the blob
// is renamed before its metadata, so a listed blob (one with a .json) always has all of its bytes.
// A crash may leave ".tmp-" files behind; they are harmless and may be deleted.
//
// Every method validates `sha256_hex` (64 lower-case hex digits) before touching the file system,
// so no name from a request can reach outside the directory. Methods are thread-safe and may be
// called from several processes sharing the directory: there is no in-memory state, and renames
// are atomic.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/result.h"

namespace printrelay {

// A blob opened for reading. Reads see the bytes it had when opened, even if put() replaces it
// meanwhile (a new inode is renamed into place; this descriptor keeps the old one). Move-only;
// closes the file when destroyed.
class BlobFile {
 public:
  BlobFile(int fd, std::int64_t size_bytes) : fd_(fd), size_bytes_(size_bytes) {}
  BlobFile(BlobFile&& other) noexcept;
  BlobFile& operator=(BlobFile&& other) noexcept;
  BlobFile(const BlobFile&) = delete;
  BlobFile& operator=(const BlobFile&) = delete;
  ~BlobFile();

  int fd() const { return fd_; }  // for pread(); owned by this object
  std::int64_t size_bytes() const { return size_bytes_; }

 private:
  int fd_ = -1;
  std::int64_t size_bytes_ = 0;
};

class BlobDirectory {
 public:
  // Creates `dir` (and its parents) when missing. Throws std::runtime_error when it cannot: a
  // relay without its artifact directory does not start.
  explicit BlobDirectory(std::string dir);

  // Stores `bytes` under `sha256_hex` with `meta`. Bad input when the name is malformed or when
  // sha256(bytes) differs from it (then nothing is written). Idempotent: putting the same blob
  // again rewrites it and replaces its metadata. Unavailable on an I/O error (disk full, ...).
  Status put(const std::string& sha256_hex, std::string_view bytes, const Json& meta);

  // Moves the complete file `temp_path` into place as blob `sha256_hex` with `meta`, with the
  // same durability as put(); for bodies too large to hold in memory (artifact uploads are
  // streamed to a file). `temp_path` must be a regular file directly in dir() whose name starts
  // with ".tmp-" (same file system, so the move is a rename; never listed meanwhile).
  // `file_sha256_hex` is the SHA-256 the caller computed while writing the file, taken on trust
  // (reading the file again costs about 1 s per 256 MiB with core/sha256); when empty, put_file()
  // reads the file to compute it. Bad input, with nothing stored, when the name is malformed,
  // the hash is not `sha256_hex` or the path is not such a file. On success `temp_path` no
  // longer exists; on failure it is left to the caller to remove. Unavailable on an I/O error.
  Status put_file(const std::string& sha256_hex, const std::string& temp_path, const Json& meta,
                  const std::string& file_sha256_hex = "");

  // The metadata stored with a blob; not found when there is no such blob.
  Result<Json> meta(const std::string& sha256_hex) const;
  // The metadata of every stored blob, ordered by sha256. Unreadable entries are left out.
  std::vector<Json> list() const;
  // The blob's size in bytes; not found when there is no such blob.
  Result<std::int64_t> size(const std::string& sha256_hex) const;
  // Opens a blob to stream it (a download): not found when there is no such blob.
  Result<BlobFile> open(const std::string& sha256_hex) const;
  // Up to `length` bytes from `offset` (fewer at the end of the blob; none when offset == size).
  // Bad input when offset > size or either is negative. The caller bounds `length`: up to that
  // many bytes are held in memory.
  Result<std::string> read(const std::string& sha256_hex, std::int64_t offset,
                           std::int64_t length) const;

  // Removes a blob: its metadata first (it is no longer listed), then its bytes. A reader that
  // opened it keeps its bytes (the inode lives while open). Not found when there is no such blob.
  // Unavailable on an I/O error.
  Status remove(const std::string& sha256_hex);

  const std::string& dir() const { return dir_; }

 private:
  std::string path_of(const std::string& sha256_hex) const;

  std::string dir_;
};

}  // namespace printrelay
