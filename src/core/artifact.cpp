#include "core/artifact.h"

#include <algorithm>
#include <array>
#include <limits>

#include "core/json_fields.h"
#include "core/json_text.h"

namespace printrelay {
namespace {

constexpr std::size_t kFieldMaxChars = 64;
constexpr std::array<std::string_view, 8> kManifestFields = {
    "component", "key_id", "kind", "model", "sha256", "signed_at", "size", "version"};

bool is_lower_hex(std::string_view s, std::size_t length) {
  return s.size() == length && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Printable ASCII only: the manifest travels in an HTTP header and is shown in tables, so control
// characters and bytes a terminal or a header parser might reinterpret are kept out.
bool is_printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

Status check_text(const std::string& value, const char* name) {
  if (!is_printable_ascii(value)) {
    return bad_input(std::string("manifest ") + name + " must be printable ASCII");
  }
  if (value.size() > kFieldMaxChars) {
    return bad_input(std::string("manifest ") + name + " must be at most 64 characters");
  }
  return ok_status();
}

Status check_described_fields(const ArtifactDescription& d) {
  if (d.kind != kArtifactKindFirmware && d.kind != kArtifactKindRelay) {
    return bad_input("manifest kind must be \"firmware\" or \"relay\"");
  }
  if (auto s = check_text(d.version, "version"); !s) return s;
  if (d.version.empty()) return bad_input("manifest version must not be empty");
  for (auto [value, name] : {std::pair{&d.model, "model"}, std::pair{&d.component, "component"}}) {
    if (auto s = check_text(*value, name); !s) return s;
    if (value->empty() && d.kind == kArtifactKindFirmware) {
      return bad_input(std::string("manifest ") + name + " must not be empty for firmware");
    }
  }
  return ok_status();
}

std::string whole_seconds_time(TimeMs t) {
  TimeMs floor_s = t - ((t % 1000) + 1000) % 1000;
  std::string s = format_time(floor_s);  // "...:SS.000Z"
  auto dot = s.rfind('.');
  return dot == std::string::npos ? s : s.substr(0, dot) + "Z";
}

}  // namespace

bool is_sha256_hex(std::string_view s) { return is_lower_hex(s, 64); }

bool is_key_id(std::string_view s) { return is_lower_hex(s, 16); }

Status check_description(const ArtifactDescription& description) {
  return check_described_fields(description);
}

Result<Json> parse_manifest(const Json& manifest) {
  if (!manifest.is_object()) return bad_input("manifest must be a JSON object");
  for (std::string_view name : kManifestFields) {
    if (!manifest.contains(name)) return bad_input("manifest lacks " + std::string(name));
  }
  if (auto st = check_fields(manifest, "manifest", kManifestFields); !st) return st.error();

  const Json& sha = manifest["sha256"];
  if (!sha.is_string() || !is_sha256_hex(sha.get_ref<const std::string&>())) {
    return bad_input("manifest sha256 must be 64 lower-case hex digits");
  }
  const Json& size = manifest["size"];
  bool size_ok =
      size.is_number_unsigned()
          ? size.get<std::uint64_t>() <= std::uint64_t(std::numeric_limits<std::int64_t>::max())
          : size.is_number_integer() && size.get<std::int64_t>() >= 0;
  if (!size_ok) return bad_input("manifest size must be an integer >= 0");

  ArtifactDescription described;
  for (auto [name, field] :
       {std::pair{"kind", &described.kind}, std::pair{"version", &described.version},
        std::pair{"model", &described.model}, std::pair{"component", &described.component}}) {
    const Json& v = manifest[name];
    if (!v.is_string()) return bad_input(std::string("manifest ") + name + " must be a string");
    *field = v.get<std::string>();
  }
  if (auto s = check_described_fields(described); !s) return s.error();
  const Json& key_id = manifest["key_id"];
  if (!key_id.is_string() || !is_key_id(key_id.get_ref<const std::string&>())) {
    return bad_input("manifest key_id must be 16 lower-case hex digits");
  }
  const Json& signed_at = manifest["signed_at"];
  if (!signed_at.is_string()) return bad_input("manifest signed_at must be a string");
  if (auto t = parse_time(signed_at.get_ref<const std::string&>()); !t) {
    return bad_input("manifest signed_at: " + t.error().message);
  }
  return manifest;
}

Result<Json> parse_manifest_text(std::string_view text) {
  if (text.size() > kManifestTextMaxBytes) return bad_input("manifest is longer than 4096 bytes");
  auto j = parse_json(text);
  if (!j) return bad_input("manifest is not valid JSON: " + j.error().message);
  auto manifest = parse_manifest(*j);
  if (!manifest) return manifest.error();
  // Every string is printable ASCII by now, so dump() cannot throw on bad UTF-8.
  if (manifest->dump() != text) {
    return bad_input("manifest text is not canonical (keys sorted, no spaces, as signed)");
  }
  return manifest;
}

Result<Json> make_manifest(const ArtifactDescription& description, const std::string& sha256,
                           std::int64_t size_bytes, const std::string& key_id, TimeMs signed_at) {
  Json manifest = {{"component", description.component},
                   {"key_id", key_id},
                   {"kind", description.kind},
                   {"model", description.model},
                   {"sha256", sha256},
                   {"signed_at", whole_seconds_time(signed_at)},
                   {"size", size_bytes},
                   {"version", description.version}};
  return parse_manifest(manifest);
}

}  // namespace printrelay
