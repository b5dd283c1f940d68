// relayctl's side of the admin API: sends ApiCalls with the admin token and turns every failure
// into the one line relayctl prints after "error: ":
//   server error:  "<message> (<code>, HTTP <status>)"
//   transport:     "cannot reach relay at <url>: <detail>"
// A transport failure is unavailable, a 409 a conflict (someone changed what was read), any other
// refusal bad input.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "cli/connection.h"
#include "cli/requests.h"
#include "cli/sse.h"
#include "core/result.h"

namespace printrelay {
class HttpClient;
struct HttpRequest;
struct HttpResponse;
}  // namespace printrelay

namespace printrelay::cli {

// The text after "error: " for a non-2xx answer (uses the JSON error body when there is one).
std::string describe_http_error(int status, const std::string& body);

class RelayClient {
 public:
  explicit RelayClient(Connection connection);
  ~RelayClient();

  // The JSON answer of a 2xx (null for an empty body), or the error line.
  Result<Json> call(const ApiCall& call);

  // The body of a 2xx as it is (a CSV export), asked for with Accept: `accept`; failures as for
  // call(). `timeout_ms` bounds the exchange: an export of a large fleet takes a while.
  Result<std::string> fetch_text(const ApiCall& call, const std::string& accept, long timeout_ms);

  // Sends raw bytes (an artifact) with the call's extra headers; the answer as for call(). The
  // body is moved out of `call` rather than copied: it may be hundreds of MiB.
  Result<Json> upload(UploadCall call);

  // Follows GET `path` as an event stream, handing each event to `on_event` until it returns
  // false (then Ok(true)), the server closes (Ok(false)), or `timeout_ms` passes (Ok(false) with
  // *timed_out set); 0 means no limit.
  Result<bool> follow(const std::string& path, long timeout_ms,
                      const std::function<bool(const SseEvent&)>& on_event, bool* timed_out);

  const std::string& url() const { return connection_.url; }

 private:
  // Adds the credential, sends, and turns the answer into JSON or the error line.
  Result<Json> exchange(HttpRequest& req);
  // Adds the credential and Accept, sends; a 2xx answer, else the error line.
  Result<HttpResponse> send(HttpRequest& req, const std::string& accept);
  std::string transport_error(const Error& e, const std::string& method,
                              const std::string& full_url) const;

  Connection connection_;
  std::unique_ptr<HttpClient> http_;
};

}  // namespace printrelay::cli
