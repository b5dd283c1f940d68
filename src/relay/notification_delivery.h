// Delivery of notifications (issue 4): one attempt to send an e-mail over SMTP or to POST a
// webhook. The outbox decides when to call and whether to retry; this layer only says how one
// attempt went.
//
// Contracts callers may rely on:
// - Every function is stateless and thread-safe (each call uses its own curl handle), blocks for
//   at most about the configured timeout, and throws nothing for an expected failure: the outcome
//   is a DeliveryResult whose `temporary` flag says whether a later attempt may succeed.
// - Mail: smtp:// requires STARTTLS before anything else is sent (unless starttls = false), and
//   the server certificate is always verified (ca_file, or the system store). One attempt sends
//   one message to all recipients or to none: a refused recipient fails the attempt.
//   Header injection is impossible: header text is written with control characters replaced by
//   spaces, addresses are checked before sending, and non-ASCII text is RFC 2047 encoded. The
//   body is UTF-8, quoted-printable (lines of any length, any bytes).
// - Webhook: the body is sent byte for byte as given, and the signature is over exactly those
//   bytes, so a receiver verifies it before parsing. Redirects are not followed; proxies come from
//   libcurl's environment variables (https_proxy, no_proxy, ...).
// - Targets (security issue 11): every address a connection is opened to, for mail and webhooks
//   alike, is judged by `target_policy` (core/address_policy.h) after name resolution, at the
//   connect itself: a name that resolves differently later (DNS rebinding) gains nothing. A
//   refused address is never connected to; when no address was allowed the attempt fails for
//   good: "notification target HOST connects to ADDRESS, which the notify policy refuses: ...".
//   Through a proxy the address judged is the proxy's; where the proxy goes is not judged.
// - Classification (the `temporary` flag): network failures (refused, timeout, reset, DNS),
//   SMTP 4xx and HTTP 5xx, 408, 429 are temporary; SMTP 5xx, HTTP 3xx/4xx, a certificate that does
//   not verify, a server without STARTTLS, bad settings or addresses, and a target the policy
//   refuses are permanent.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/address_policy.h"
#include "core/time.h"

namespace printrelay {

struct SmtpSettings {
  // "smtp://host:587" (STARTTLS required unless starttls=false) or "smtps://host:465"
  std::string url;
  std::string username;  // empty: no AUTH
  std::string password;
  std::string from;      // "printrelay <relay@example.com>" or "relay@example.com"
  std::string ca_file;   // empty: system CAs
  bool starttls = true;  // require STARTTLS on smtp:// (refuse to send in clear); false: plain SMTP
  long timeout_s = 30;
  NotifyTargetPolicy target_policy;  // default: internal ranges refused
};

struct MailMessage {
  std::vector<std::string> to;  // 1..32 addresses ("a@example.com" or "Name <a@example.com>")
  std::string subject;          // one line
  std::string text;             // UTF-8 body
  // Stable per notification, "<n-42@relay-id>" (used for dedup by receivers).
  std::string message_id;
};

struct WebhookSettings {
  std::string secret;   // HMAC key; empty: sent without the signature header
  std::string ca_file;  // empty: system CAs (https:// only)
  long timeout_s = 15;
  NotifyTargetPolicy target_policy;  // default: internal ranges refused
};

struct WebhookCall {
  std::string url;          // http:// or https://
  std::string event_type;   // X-Printrelay-Event
  std::string delivery_id;  // X-Printrelay-Delivery, stable across retries
  std::string body;         // JSON text, sent as is and signed as is
};

// Outcome of one attempt. ok; or an error that is temporary (retry later: network, 4xx SMTP, 5xx
// HTTP, 408/429) or permanent (bad address, 5xx SMTP, 4xx HTTP, bad settings); `detail` is one
// line for the record ("smtp 451 4.3.0 try later", "http 500", "connection refused").
struct DeliveryResult {
  bool ok = false;
  bool temporary = false;
  std::string detail;
  static DeliveryResult success(std::string detail) { return {true, false, std::move(detail)}; }
};

// Sends `m` once. `now` is the Date header. Never logs or returns the password.
DeliveryResult send_mail(const SmtpSettings& smtp, const MailMessage& m, TimeMs now);

// POSTs `c.body` once with Content-Type application/json, X-Printrelay-Event,
// X-Printrelay-Delivery and (when a secret is set) X-Printrelay-Signature: sha256=<hex>.
// Any 2xx is ok.
DeliveryResult post_webhook(const WebhookSettings& s, const WebhookCall& c);

// Lowercase hex HMAC-SHA256 of body with secret (also used by tests and docs).
std::string webhook_signature(const std::string& secret, const std::string& body);

// The RFC 5322 message as sent (headers + body, CRLF line ends), exposed for tests. Never fails:
// what send_mail would refuse (a bad address) is still written without control characters.
std::string compose_mail(const SmtpSettings& smtp, const MailMessage& m, TimeMs now);

}  // namespace printrelay
