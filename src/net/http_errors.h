// The one place an Error becomes HTTP: its status, and the error body every answer carries
// ({"error": {"code", "message"}}, the shape of core/codec.h's error_json). The relay's API
// (relay/api.cpp, error_reply) and the server's own refusals (a header too large, a body over
// the limit, a handler that threw) both answer through here.
#pragma once

#include <string>

#include "core/result.h"

namespace printrelay {

// 400 bad input, 401, 403, 404, 409, 413, 429, 503 unavailable.
int http_status(ErrorKind kind);
// The JSON text of the error body.
std::string error_body(const Error& e);
// The body of a 500: a handler failed in a way no ErrorKind names (the cause is in the log).
std::string internal_error_body();

}  // namespace printrelay
