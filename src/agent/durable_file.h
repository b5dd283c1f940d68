// Durable small files in the agent's state directory: the outbox, tokens, finished jobs and the
// poll policy must survive kill -9 and power loss once the agent says they are written.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.h"

namespace printrelay::agent {

// Writes `content` to `path` so that after return either the old or the new file exists in
// full, never a torn one: write a temp file beside it, fsync, rename over, fsync the directory.
// The file is created with mode 0600 (less if the umask says so) and never has another mode.
Status write_durably(const std::filesystem::path& path, std::string_view content);

// Removes `path` and fsyncs its directory when `sync_dir`. Missing files are not an error.
Status remove_durably(const std::filesystem::path& path, bool sync_dir = true);

// fsyncs a directory (after several unlinks, say).
Status sync_directory(const std::filesystem::path& dir);

// Appends one line (a '\n' is added) and fsyncs: receipts.log, rejected.log. Created 0600.
Status append_line(const std::filesystem::path& path, std::string_view line);

// Reads a whole file; not found when missing.
Result<std::string> read_file(const std::filesystem::path& path);

}  // namespace printrelay::agent
