#include "net/http_errors.h"

#include "core/codec.h"

namespace printrelay {

int http_status(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kBadInput:
      return 400;
    case ErrorKind::kUnauthorized:
      return 401;
    case ErrorKind::kForbidden:
      return 403;
    case ErrorKind::kNotFound:
      return 404;
    case ErrorKind::kConflict:
      return 409;
    case ErrorKind::kTooLarge:
      return 413;
    case ErrorKind::kRateLimited:
      return 429;
    case ErrorKind::kUnavailable:
      return 503;
  }
  return 500;
}

std::string error_body(const Error& e) { return error_json(e).dump(); }

std::string internal_error_body() {
  return Json{{"error", {{"code", "internal"}, {"message", "internal error (see the relay log)"}}}}
      .dump();
}

}  // namespace printrelay
