// Fuzz target: artifact manifests (core/artifact.h), both ways the relay reads one: the exact text
// of an X-Artifact-Manifest header (parse_manifest_text), and a JSON value from parse_body handed
// to parse_manifest (the upload path). The input is the text. A manifest that parses holds
// exactly the eight fields in their documented ranges, is returned unchanged, and is rebuilt by
// make_manifest() from its own fields; its canonical text is accepted by parse_manifest_text.
// Every refusal serialises. Nothing throws.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/artifact.h"
#include "core/codec.h"
#include "core/time.h"
#include "fuzz_check.h"

namespace printrelay {
namespace {

bool printable(const std::string& s) {
  for (char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

void check_manifest(const Json& input, const Json& manifest) {
  FUZZ_CHECK(manifest == input);
  FUZZ_CHECK(manifest.is_object() && manifest.size() == 8);
  FUZZ_CHECK(is_sha256_hex(manifest["sha256"].get<std::string>()));
  FUZZ_CHECK(is_key_id(manifest["key_id"].get<std::string>()));
  const auto size = manifest["size"].get<std::int64_t>();
  FUZZ_CHECK(size >= 0);

  ArtifactDescription described{
      manifest["kind"].get<std::string>(), manifest["model"].get<std::string>(),
      manifest["component"].get<std::string>(), manifest["version"].get<std::string>()};
  FUZZ_CHECK(described.kind == kArtifactKindFirmware || described.kind == kArtifactKindRelay);
  FUZZ_CHECK(!described.version.empty() && described.version.size() <= 64);
  for (const auto* s : {&described.version, &described.model, &described.component}) {
    FUZZ_CHECK(s->size() <= 64 && printable(*s));
  }
  if (described.kind == kArtifactKindFirmware) FUZZ_CHECK(!described.model.empty());
  FUZZ_CHECK(check_description(described).ok());

  const auto signed_at = parse_time(manifest["signed_at"].get<std::string>());
  FUZZ_CHECK(signed_at.ok());
  const auto rebuilt = make_manifest(described, manifest["sha256"].get<std::string>(), size,
                                     manifest["key_id"].get<std::string>(), *signed_at);
  FUZZ_CHECK(rebuilt.ok());

  // What the relay stores is manifest.dump(); the header form of it must be accepted.
  const std::string canonical = manifest.dump();
  const auto reread = parse_manifest_text(canonical);
  FUZZ_CHECK(reread.ok() && *reread == manifest);
}

}  // namespace
}  // namespace printrelay

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace printrelay;
  const std::string_view text = fuzz::text_of(data, size);

  const auto from_text = parse_manifest_text(text);
  fuzz::check_refusal(from_text);
  if (from_text) {
    FUZZ_CHECK(from_text->dump() == text);
    check_manifest(Json::parse(text), *from_text);
  }

  const auto body = parse_body(text);
  if (from_text) FUZZ_CHECK(body.ok());
  if (!body) return 0;
  const auto manifest = parse_manifest(*body);
  fuzz::check_refusal(manifest);
  if (manifest) check_manifest(*body, *manifest);
  // The header form is the canonical form: it parses exactly when the value does and is canonical.
  if (from_text) FUZZ_CHECK(manifest.ok());
  return 0;
}
