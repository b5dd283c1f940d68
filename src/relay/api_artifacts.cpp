// Artifacts over HTTP: manifests, ranged downloads streamed from the blob directory, uploads.
#include <algorithm>

#include "core/artifact.h"
#include "core/byte_range.h"
#include "relay/api.h"
#include "relay/api_internal.h"
#include "relay/artifact_fetcher.h"

namespace printrelay {

namespace asio = boost::asio;
using namespace api_detail;

// Signed artifacts (firmware images, relay builds): devices, child relays and the service
// center download them (artifact_download checks the credential: any kind will do); only an
// admin uploads one (its credential was checked from the header, by admit(), before the body).
void RelayApi::add_artifact_routes() {
  using http::verb;
  routes_.add(verb::get, "/v1/artifacts/{sha}", Access::kPublic,
              [this](Call& c) { return artifact_download(c.ex, c.params[0], false); });
  routes_.add(verb::get, "/v1/artifacts/{sha}/data", Access::kPublic,
              [this](Call& c) { return artifact_download(c.ex, c.params[0], true); });
  routes_.add(verb::get, "/v1/artifacts", Access::kViewer, [this](Call&) {
    if (!options_.artifacts) return ok_reply(200, Json{{"artifacts", Json::array()}});
    Json list = Json::array();
    for (auto& m : options_.artifacts->list()) list.push_back(std::move(m));
    return ok_reply(200, Json{{"artifacts", std::move(list)}});
  });
  routes_.add(verb::put, "/v1/artifacts/{sha}", Access::kAdmin,
              [this](Call& c) { return artifact_upload(c.ex, c.params[0]); });
}

RelayApi::Reply RelayApi::artifact_upload(Exchange& ex, const std::string& sha) {
  const auto& req = ex.request();
  if (!options_.artifacts) return error_reply(not_found("this relay keeps no artifacts"));
  auto manifest_text = std::string(req[kManifestHeader]);
  auto signature = std::string(req[kSignatureHeader]);
  auto parsed = parse_body(manifest_text);
  if (manifest_text.empty() || !parsed) {
    return error_reply(bad_input(std::string("header ") + kManifestHeader +
                                 " must hold the artifact's manifest (JSON)"));
  }
  auto manifest = parse_manifest(*parsed);
  if (!manifest) return error_reply(manifest.error());
  if ((*manifest)["sha256"] != sha) {
    return error_reply(bad_input("the manifest's sha256 is not the one in the path"));
  }
  // Under the large-body path the server wrote the body to a file in the blob directory and
  // hashed it on the way; only an empty body is left in memory.
  const auto& spooled = ex.spooled_body();
  const auto body_bytes =
      spooled ? std::int64_t(spooled->size_bytes) : std::int64_t(req.body().size());
  if ((*manifest)["size"].get<std::int64_t>() != body_bytes) {
    return error_reply(bad_input("the manifest's size is not the body's size (" +
                                 std::to_string(body_bytes) + " bytes)"));
  }
  const bool hex_sig =
      signature.size() == 128 && std::all_of(signature.begin(), signature.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      });
  if (!hex_sig) {
    return error_reply(bad_input(std::string("header ") + kSignatureHeader +
                                 " must hold the Ed25519 signature (128 hex)"));
  }
  // The relay does not judge the signature: devices and child relays verify it against the keys
  // they trust, so a tampered relay cannot make them install anything.
  Json meta = *manifest;
  meta["signature"] = signature;
  auto stored = spooled
                    ? options_.artifacts->put_file(sha, spooled->path, meta, spooled->sha256_hex)
                    : options_.artifacts->put(sha, req.body(), meta);
  if (!stored) return error_reply(stored.error());
  return ok_reply(201, Json{{"artifact", meta}});
}

RelayApi::Reply RelayApi::artifact_download(Exchange& ex, const std::string& sha, bool data) {
  const auto& req = ex.request();
  const auto token = bearer(req);
  const bool admin = static_cast<bool>(relay_.authenticate_admin(token));
  auto device = admin ? Result<std::string>(unauthorized("")) : relay_.authenticate_device(token);
  if (!admin && !device) {
    return error_reply(unauthorized("artifacts need a device, relay or admin credential"));
  }
  if (!options_.artifacts) return error_reply(not_found("this relay keeps no artifacts"));
  auto meta = options_.artifacts->meta(sha);
  // A child relay fetches from its parent what the parent offers (its catalog) or what a job
  // here named; any other name is simply not here, so that askers cannot make it fetch, and
  // remember, whatever they like.
  const bool fetchable =
      options_.fetcher &&
      (options_.fetcher->pending(sha) || (options_.firmware && options_.firmware->manifest(sha)));
  if (!meta && meta.error().kind == ErrorKind::kNotFound && fetchable) {
    // From the parent, once (every asker meanwhile is told to come back).
    auto p = options_.fetcher->want(sha);
    // Refused (the parent lacks it, or it failed this relay's checks): for the asker it is
    // simply not here; the reason is in the log and the answer.
    if (p.phase == ArtifactFetcher::Progress::Phase::kRefused) {
      return error_reply(p.refusal.kind == ErrorKind::kNotFound ? p.refusal
                                                                : not_found(p.describe(sha)));
    }
    if (p.phase != ArtifactFetcher::Progress::Phase::kHeld) {
      // Not error_reply(): this 503 names no host or store, and the asker wants the progress.
      Reply wait;
      wait.status = 503;
      wait.body = error_json(unavailable(p.describe(sha)));
      wait.retry_after_s = retry_after();
      return wait;
    }
    meta = options_.artifacts->meta(sha);
  }
  if (!meta) return error_reply(meta.error());
  if (!data) return ok_reply(200, Json{{"artifact", *meta}});
  // The size of the open file: a concurrent put() of the same blob cannot change what is sent.
  auto file = options_.artifacts->open(sha);
  if (!file) return error_reply(file.error());
  const std::int64_t size = file->size_bytes();
  std::int64_t from = 0, to = size - 1;
  const std::string range(req[http::field::range]);
  Reply r;
  r.status = 200;
  if (!range.empty()) {
    // One range, strictly (core/byte_range.h): malformed is 400, no byte of the file is 416.
    auto spec = parse_range_header(range);
    if (!spec) return error_reply(spec.error());
    auto bytes = resolve_range(*spec, size);
    if (!bytes) {
      Reply bad = error_reply(bad_input("range " + range + " is not satisfiable: the file has " +
                                        std::to_string(size) + " bytes"));
      bad.status = 416;
      return bad;
    }
    from = bytes->first;
    to = bytes->last;
    r.status = 206;
    r.content_range =
        "bytes " + std::to_string(from) + "-" + std::to_string(to) + "/" + std::to_string(size);
  }
  r.file = std::make_shared<BlobFile>(std::move(*file));
  if (device) r.serial = *device;  // the LAN rate to it is measured on this download
  r.file_offset = from;
  r.file_length = to - from + 1;
  // The update history records every image a device fetched, and from where (seed 002).
  if (device && options_.firmware && meta->value("kind", "") == "firmware") {
    options_.firmware->record_sent(*device, sha, from, r.file_length, wall_clock_ms());
  }
  r.content_type = "application/octet-stream";
  return r;
}

}  // namespace printrelay
