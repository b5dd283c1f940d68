#include "core/result.h"

namespace printrelay {

const char* error_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kBadInput:
      return "bad_input";
    case ErrorKind::kUnauthorized:
      return "unauthorized";
    case ErrorKind::kForbidden:
      return "forbidden";
    case ErrorKind::kNotFound:
      return "not_found";
    case ErrorKind::kConflict:
      return "conflict";
    case ErrorKind::kTooLarge:
      return "too_large";
    case ErrorKind::kRateLimited:
      return "rate_limited";
    case ErrorKind::kUnavailable:
      return "unavailable";
  }
  return "internal";
}

}  // namespace printrelay
