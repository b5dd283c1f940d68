// Typed results for expected failures on the data path (bad input, not found, conflict, ...).
// Exceptions are kept for the truly exceptional (startup, configuration, programming errors).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace printrelay {

enum class ErrorKind {
  kBadInput,      // malformed or out-of-range request: 400
  kUnauthorized,  // missing or unknown credential: 401
  kForbidden,     // credential valid but role/ownership does not allow it: 403
  kNotFound,      // 404
  kConflict,      // state does not allow the operation: 409
  kTooLarge,      // body or batch over the documented limit: 413
  kRateLimited,   // overload or per-credential rate limit: 429
  kUnavailable,   // storage or upstream not reachable: 503
};

struct Error {
  ErrorKind kind;
  std::string message;
};

// Stable wire name of an error kind ("bad_input", "not_found", ...). Its HTTP status is the
// transport's business (net/http_errors.h).
const char* error_code(ErrorKind kind);

inline Error bad_input(std::string m) { return {ErrorKind::kBadInput, std::move(m)}; }
inline Error not_found(std::string m) { return {ErrorKind::kNotFound, std::move(m)}; }
inline Error conflict(std::string m) { return {ErrorKind::kConflict, std::move(m)}; }
inline Error forbidden(std::string m) { return {ErrorKind::kForbidden, std::move(m)}; }
inline Error unauthorized(std::string m) { return {ErrorKind::kUnauthorized, std::move(m)}; }
inline Error unavailable(std::string m) { return {ErrorKind::kUnavailable, std::move(m)}; }

// A value or an Error. Deliberately small: ok(), value(), error(), and implicit construction
// from either side so that `return bad_input("...")` and `return value` both work.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace printrelay
