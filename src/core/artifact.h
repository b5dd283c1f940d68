// Signed artifacts (firmware images, relayd builds): the manifest that describes one and whose
// exact text is what the vendor key signs (docs/protocol.md, "Artifacts"). Pure: no I/O and no
// crypto here; net/signing.h signs and verifies the text.
//
// A manifest is the JSON object
//   {"component", "key_id", "kind", "model", "sha256", "signed_at", "size", "version"}
// and the signed text is exactly `manifest.dump()`: nlohmann-json sorts object keys and dump()
// adds no spaces, so one manifest has exactly one text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/model.h"
#include "core/result.h"
#include "core/time.h"

namespace printrelay {

inline constexpr const char* kArtifactKindFirmware = "firmware";
inline constexpr const char* kArtifactKindRelay = "relay";
inline constexpr std::size_t kManifestTextMaxBytes = 4096;

// 64 lower-case hex digits: an artifact's name in URLs, the blob directory and job params.
bool is_sha256_hex(std::string_view s);
// 16 lower-case hex digits (net/signing.h key_id()).
bool is_key_id(std::string_view s);

// What the uploader says about an artifact; the rest of the manifest is computed.
struct ArtifactDescription {
  std::string kind;       // "firmware" or "relay"
  std::string model;      // device model a firmware is for; empty for a relay build
  std::string component;  // "main", "controller", "document-feeder", ...; empty for a relay build
  std::string version;
};

// The checks parse_manifest() makes on the described fields (kind, version, model, component),
// so that a bad --kind or --version is reported before a large file is read and hashed.
Status check_description(const ArtifactDescription& description);

// The manifest for `bytes`-many bytes hashing to `sha256`, signed by `key_id` at `signed_at`
// (written to whole seconds, "2026-11-23T10:00:00Z"). Validated as parse_manifest() does.
Result<Json> make_manifest(const ArtifactDescription& description, const std::string& sha256,
                           std::int64_t size_bytes, const std::string& key_id, TimeMs signed_at);

// Validates a manifest: exactly the eight fields, each of its type and range:
//   sha256     64 lower-case hex
//   size       integer >= 0
//   kind       "firmware" | "relay"
//   version    1-64 printable ASCII characters
//   model      printable ASCII string, at most 64 characters; non-empty for kind firmware
//   component  as model
//   key_id     16 lower-case hex
//   signed_at  RFC 3339 UTC (core/time.h parse_time)
// Returns the manifest unchanged, or bad input naming the first field at fault. Unknown fields
// are refused: whatever is signed must be understood by whoever verifies it.
Result<Json> parse_manifest(const Json& manifest);

// Parses the text of an X-Artifact-Manifest header and validates it as parse_manifest() does.
// The text must be canonical (equal to the parsed manifest's dump()), so that the signature
// checked over the received text is also valid over the stored manifest's dump().
Result<Json> parse_manifest_text(std::string_view text);

}  // namespace printrelay
