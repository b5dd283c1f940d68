// A content-addressed blob directory: artifacts stored by SHA-256 (DESIGN.md §10), next to the
// Store but not in it, so that a 500 MiB firmware image never passes through SQLite or libpq.
//
// Layout: <dir>/<sha256> holds the bytes, <dir>/<sha256>.json the caller's metadata (for
// artifacts: the manifest and its signature). Temporary files start with ".tmp-" and are never
// listed.
//
// Durability contract: put() returns only after both files are fsynced and renamed into place and
// the directory is fsynced. Files appear under their final names only when complete, so a crash
// at any point leaves either the old state or the new one, never a half blob; the blob is renamed
// before its metadata, so a listed blob (one with a .json) always has all of its bytes. A crash may
// leave ".tmp-" files behind; they are harmless and may be deleted.
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

class BlobDirectory {
 public:
  // Creates `dir` (and its parents) when missing. Throws std::runtime_error when it cannot: a
  // relay without its artifact directory does not start.
  explicit BlobDirectory(std::string dir);

  // Stores `bytes` under `sha256_hex` with `meta`. Bad input when the name is malformed or when
  // sha256(bytes) differs from it (then nothing is written). Idempotent: putting the same blob
  // again rewrites it and replaces its metadata. Unavailable on an I/O error (disk full, ...).
  Status put(const std::string& sha256_hex, std::string_view bytes, const Json& meta);

  // The metadata stored with a blob; not found when there is no such blob.
  Result<Json> meta(const std::string& sha256_hex) const;
  // The metadata of every stored blob, ordered by sha256. Unreadable entries are left out.
  std::vector<Json> list() const;
  // The blob's size in bytes; not found when there is no such blob.
  Result<std::int64_t> size(const std::string& sha256_hex) const;
  // Up to `length` bytes from `offset` (fewer at the end of the blob; none when offset == size).
  // Bad input when offset > size or either is negative. The caller bounds `length`: up to that
  // many bytes are held in memory.
  Result<std::string> read(const std::string& sha256_hex, std::int64_t offset,
                           std::int64_t length) const;

  const std::string& dir() const { return dir_; }

 private:
  std::string path_of(const std::string& sha256_hex) const;

  std::string dir_;
};

}  // namespace printrelay
