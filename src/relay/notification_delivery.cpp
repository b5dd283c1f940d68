#include "relay/notification_delivery.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include "core/sha256.h"

namespace printrelay {
namespace {

constexpr std::size_t kMaxRecipients = 32;
constexpr std::size_t kMaxLineChars = 78;  // RFC 5322 2.1.1 "SHOULD" limit for header lines
constexpr std::size_t kMaxDetailChars = 300;

std::once_flag g_curl_init;

void init_curl() {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;
using CurlList = std::unique_ptr<curl_slist, SlistDeleter>;
using CurlUrl = std::unique_ptr<CURLU, UrlDeleter>;

// false when libcurl could not allocate the item (the list is unchanged).
[[nodiscard]] bool append(CurlList& list, const std::string& item) {
  curl_slist* grown = curl_slist_append(list.get(), item.c_str());
  if (grown == nullptr) return false;
  (void)list.release();  // `grown` is the same list, one item longer
  list.reset(grown);
  return true;
}

DeliveryResult temporary_failure(std::string detail) { return {false, true, std::move(detail)}; }
DeliveryResult permanent_failure(std::string detail) { return {false, false, std::move(detail)}; }

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

// Header text with every run of control characters (CR and LF among them) turned into one space,
// trimmed. What is left cannot end a header line or start a new one.
std::string header_text(std::string_view s) {
  std::string out;
  bool in_control = false;
  for (unsigned char c : s) {
    if (is_control(c)) {
      if (!in_control) out += ' ';
      in_control = true;
      continue;
    }
    in_control = false;
    out += char(c);
  }
  auto b = out.find_first_not_of(' ');
  if (b == std::string::npos) return "";
  return out.substr(b, out.find_last_not_of(' ') - b + 1);
}

// One line for a DeliveryResult: no control characters, bounded length.
std::string one_line(std::string_view s) {
  std::string out = header_text(s);
  if (out.size() > kMaxDetailChars) out = out.substr(0, kMaxDetailChars) + "...";
  return out;
}

bool is_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t n = std::uint32_t(static_cast<unsigned char>(in[i])) << 16;
    if (i + 1 < in.size()) n |= std::uint32_t(static_cast<unsigned char>(in[i + 1])) << 8;
    if (i + 2 < in.size()) n |= std::uint32_t(static_cast<unsigned char>(in[i + 2]));
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

// RFC 2047 encoded words ("=?UTF-8?B?...?="), folded one per line. Each carries at most 42 bytes
// (56 base64 characters), so a word fits a 78-character line after "Subject: " or a fold, and a
// UTF-8 sequence is never split between two words (RFC 2047 section 5).
std::string encoded_words(std::string_view text) {
  constexpr std::size_t kBytesPerWord = 42;
  std::string out;
  while (!text.empty()) {
    std::size_t n = std::min(kBytesPerWord, text.size());
    while (n < text.size() && n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    if (n == 0) n = std::min(kBytesPerWord, text.size());  // not UTF-8: split anywhere
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(text.substr(0, n)) + "?=";
    text.remove_prefix(n);
  }
  return out;
}

// An unstructured header value (Subject). ASCII text is folded at spaces; text that is not ASCII,
// that could be mistaken for an encoded word, or that has a word too long to fold is encoded.
std::string unstructured_value(std::string_view name, std::string_view raw) {
  const std::string text = header_text(raw);
  bool encode = !is_ascii(text) || text.find("=?") != std::string::npos;
  std::vector<std::string_view> words;
  for (std::size_t start = 0; !encode;) {
    auto space = text.find(' ', start);
    words.push_back(std::string_view(text).substr(
        start, space == std::string::npos ? std::string::npos : space - start));
    if (words.back().size() > kMaxLineChars - 2) encode = true;
    if (space == std::string::npos) break;
    start = space + 1;
  }
  if (encode) return encoded_words(text);
  std::string out;
  std::size_t line = name.size() + 2;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) {
      // Fold only before a word: unfolding (removing the CRLF) gives back the text exactly, and
      // no line is all white space.
      if (!words[i].empty() && line + 1 + words[i].size() > kMaxLineChars) {
        out += "\r\n";
        line = 0;
      }
      out += ' ';
      ++line;
    }
    out += words[i];
    line += words[i].size();
  }
  return out;
}

struct Mailbox {
  std::string display_name;  // may be empty
  std::string address;       // addr-spec, ASCII
};

// "a@example.com" or "Name <a@example.com>" (the name may be quoted). Not validated.
Mailbox split_mailbox(std::string_view s) {
  const std::string text = header_text(s);
  Mailbox box;
  auto open = text.rfind('<');
  if (text.empty() || text.back() != '>' || open == std::string::npos) {
    box.address = text;
    return box;
  }
  box.address = text.substr(open + 1, text.size() - open - 2);
  std::string name = header_text(text.substr(0, open));
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
    std::string unquoted;
    for (std::size_t i = 1; i + 1 < name.size(); ++i) {
      if (name[i] == '\\' && i + 2 < name.size()) ++i;
      unquoted += name[i];
    }
    name = unquoted;
  }
  box.display_name = name;
  return box;
}

// A plain addr-spec: dot-atom local part (no quoted strings, no comments) and a host name or
// address literal; ASCII only (the relay does not use SMTPUTF8).
bool valid_address(std::string_view a) {
  if (a.size() < 3 || a.size() > 254) return false;
  auto at = a.find('@');
  if (at == std::string_view::npos || at == 0 || at > 64 || at + 1 == a.size()) return false;
  std::string_view local = a.substr(0, at);
  std::string_view domain = a.substr(at + 1);
  static constexpr std::string_view kLocalSpecials = "!#$%&'*+-/=?^_`{|}~.";
  for (char c : local) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && kLocalSpecials.find(c) == std::string_view::npos) return false;
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return false;
  }
  if (domain.front() == '[' && domain.back() == ']') {
    for (char c : domain.substr(1, domain.size() - 2)) {
      bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                c == '.' || c == ':';
      if (!ok) return false;
    }
    return domain.size() > 2;
  }
  for (char c : domain) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return domain.front() != '.' && domain.back() != '.' &&
         domain.find("..") == std::string_view::npos;
}

// Characters of RFC 5322 atext, plus the space between words of a phrase.
bool is_phrase_char(char c) {
  static constexpr std::string_view kAtextSpecials = "!#$%&'*+-/=?^_`{|}~ ";
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         kAtextSpecials.find(c) != std::string_view::npos;
}

std::string format_mailbox(const Mailbox& box) {
  // The address went through header_text; valid_address is checked before sending. Any '<' or
  // '>' left in an invalid one is dropped so the header stays parseable.
  std::string address;
  for (char c : box.address) {
    if (c != '<' && c != '>') address += c;
  }
  if (box.display_name.empty()) return address;
  const std::string& name = box.display_name;
  if (!is_ascii(name) || name.find("=?") != std::string::npos) {
    return encoded_words(name) + " <" + address + ">";
  }
  bool plain = true;
  for (char c : name) plain = plain && is_phrase_char(c);
  if (plain) return name + " <" + address + ">";
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\" <" + address + ">";
}

// "Mon, 23 Nov 2026 09:15:00 +0000" (RFC 5322 3.3), in UTC.
std::string rfc5322_date(TimeMs now) {
  std::time_t t = std::time_t(now >= 0 ? now / 1000 : (now - 999) / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);  // C locale names
  return buf;
}

// "<id@host>", adding the angle brackets when the caller left them out.
std::string normalized_message_id(std::string_view raw) {
  std::string id;
  for (char c : header_text(raw)) {
    if (c != ' ') id += c;
  }
  if (id.empty()) return id;
  if (id.front() != '<') id = "<" + id;
  if (id.back() != '>') id += ">";
  return id;
}

bool valid_message_id(std::string_view id) {
  if (id.size() < 5 || id.front() != '<' || id.back() != '>') return false;
  std::string_view inner = id.substr(1, id.size() - 2);
  auto at = inner.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == inner.size()) return false;
  for (char c : inner) {
    if (c == '<' || c == '>' || c == ' ' || c == '"' || c == '\\') return false;
  }
  return is_ascii(inner);
}

// Quoted-printable (RFC 2045 6.7) of UTF-8 text. Any line break in the text (LF, CRLF or CR)
// becomes CRLF; encoded lines are at most 76 characters.
std::string quoted_printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  std::size_t line = 0;
  auto put = [&](std::string_view token) {
    if (line + token.size() > 75) {
      out += "=\r\n";
      line = 0;
    }
    out += token;
    line += token.size();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "\r\n";
      line = 0;
      continue;
    }
    bool at_line_end = i + 1 == text.size() || text[i + 1] == '\r' || text[i + 1] == '\n';
    bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end);
    if (literal) {
      char one[1] = {char(c)};
      put(std::string_view(one, 1));
      continue;
    }
    char escaped[3] = {'=', kHex[c >> 4], kHex[c & 15]};
    put(std::string_view(escaped, 3));
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

// Folds a list of mailboxes after the commas so that lines stay short where they can.
std::string address_list(std::string_view name, const std::vector<std::string>& entries) {
  std::string out;
  std::size_t line = name.size() + 2;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string& e = entries[i];
    if (i > 0) {
      out += ',';
      ++line;
      if (line + 1 + e.size() > kMaxLineChars) {
        out += "\r\n";
        line = 0;
      }
      out += ' ';
      ++line;
    }
    out += e;
    auto last_break = e.rfind('\n');
    line = last_break == std::string::npos ? line + e.size() : e.size() - last_break - 1;
  }
  return out;
}

// Server replies as libcurl's debug callback sees them (HEADER_IN): the last one, and the last
// error (4xx/5xx). "221" (the answer to QUIT, which libcurl may send before returning) is skipped
// so that it does not hide the reply that decided the outcome.
struct SmtpTrace {
  std::string last_reply;
  std::string last_error;
};

int trace_smtp(CURL*, curl_infotype type, char* data, size_t size, void* userp) {
  if (type != CURLINFO_HEADER_IN) return 0;
  // A chunk may hold several lines of a multi-line reply; the last one has the final status.
  std::string_view text(data, size);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  auto newline = text.rfind('\n');
  if (newline != std::string_view::npos) text.remove_prefix(newline + 1);
  if (text.empty() || text.starts_with("221")) return 0;
  auto* trace = static_cast<SmtpTrace*>(userp);
  trace->last_reply = one_line(text);
  if (text[0] == '4' || text[0] == '5') trace->last_error = trace->last_reply;
  return 0;
}

struct Upload {
  std::string_view rest;
};

size_t read_upload(char* buffer, size_t size, size_t nitems, void* userp) {
  auto* upload = static_cast<Upload*>(userp);
  std::size_t n = std::min(size * nitems, upload->rest.size());
  upload->rest.copy(buffer, n);
  upload->rest.remove_prefix(n);
  return n;
}

size_t discard_body(char*, size_t size, size_t nmemb, void*) { return size * nmemb; }

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// Outcomes of transport failures shared by SMTP and HTTP; nullopt when the caller should decide
// from the protocol's reply code.
std::optional<DeliveryResult> transport_failure(CURLcode rc, const std::string& why) {
  switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
      return permanent_failure("tls certificate not trusted: " + why);
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return permanent_failure("bad settings: ca_file: " + why);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return permanent_failure("bad settings: url: " + why);
    case CURLE_COULDNT_CONNECT:
      return temporary_failure("connection refused: " + why);
    case CURLE_OPERATION_TIMEDOUT:
      return temporary_failure("timeout: " + why);
    case CURLE_COULDNT_RESOLVE_HOST:
      return temporary_failure("host not found: " + why);
    default:
      return std::nullopt;
  }
}

std::string curl_reason(CURLcode rc, const char* errbuf) {
  return one_line(errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

// The host a URL names, for a detail. Never the whole URL: a webhook's path or user part may be
// a secret.
std::string url_host(const std::string& url) {
  CurlUrl u(curl_url());
  char* host = nullptr;
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
      curl_url_get(u.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    return "(url not understood)";
  }
  std::string out = one_line(host);
  curl_free(host);
  return out;
}

// The notify policy at the connect (security issue 11). libcurl calls open_judged_socket after
// name resolution, once for every address it tries, so the address judged is the one connected
// to and a name that resolves to something else later (DNS rebinding) gains nothing. Through a
// proxy (libcurl's environment variables) the address judged is the proxy's: where the proxy
// connects is not seen here.
struct TargetGuard {
  const NotifyTargetPolicy& policy;
  const std::string& url;
  std::string refusal;  // the first refusal, as the attempt's detail
  int allowed = 0;      // connections the policy let through
};

std::optional<IpAddress> socket_address(const curl_sockaddr& a) {
  // `addr` is declared a sockaddr but holds the whole address of its family (addrlen bytes).
  const auto* raw = reinterpret_cast<const unsigned char*>(&a) + offsetof(curl_sockaddr, addr);
  if (a.family == AF_INET && a.addrlen >= sizeof(sockaddr_in)) {
    sockaddr_in in;
    std::memcpy(&in, raw, sizeof in);
    std::uint8_t bytes[4];
    std::memcpy(bytes, &in.sin_addr, sizeof bytes);
    return *ip_address_from_bytes(bytes);
  }
  if (a.family == AF_INET6 && a.addrlen >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6;
    std::memcpy(&in6, raw, sizeof in6);
    return *ip_address_from_bytes(in6.sin6_addr.s6_addr);
  }
  return std::nullopt;
}

std::string refusal_detail(const std::string& url, const IpAddress& address,
                           const TargetVerdict& verdict) {
  std::string detail =
      "notification target " + url_host(url) + " connects to " + to_string(address);
  if (auto v4 = carried_ipv4(address)) detail += " (IPv4 " + to_string(*v4) + ")";
  detail += ", which the notify policy refuses: " + verdict.reason;
  if (verdict.rule == TargetRule::kInternal) {
    detail += "; allow it with --notify-allow " + to_string(*verdict.range);
  } else if (verdict.rule == TargetRule::kDenied) {
    detail += " (--notify-deny)";
  }
  return detail;
}

curl_socket_t open_judged_socket(void* clientp, curlsocktype, curl_sockaddr* address) {
  auto* guard = static_cast<TargetGuard*>(clientp);
  const auto ip = socket_address(*address);
  if (!ip) {
    if (guard->refusal.empty()) {
      guard->refusal = "notification target " + url_host(guard->url) +
                       ": not an IP connection (family " + std::to_string(address->family) + ")";
    }
    return CURL_SOCKET_BAD;
  }
  const TargetVerdict verdict = judge_target(guard->policy, *ip);
  if (!verdict.allowed) {
    if (guard->refusal.empty()) guard->refusal = refusal_detail(guard->url, *ip, verdict);
    return CURL_SOCKET_BAD;
  }
  ++guard->allowed;
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

void judge_connections(CURL* c, TargetGuard& guard) {
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_judged_socket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &guard);
}

// A failed attempt whose every address the policy refused: permanent, whatever libcurl made of
// it. Nothing when some connection was allowed (its failure decides).
std::optional<DeliveryResult> refused_target(const TargetGuard& guard) {
  if (guard.refusal.empty() || guard.allowed > 0) return std::nullopt;
  return permanent_failure(guard.refusal);
}

}  // namespace

std::string webhook_signature(const std::string& secret, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), int(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &mac_len);
  return to_hex(mac, mac_len);
}

std::string compose_mail(const SmtpSettings& smtp, const MailMessage& m, TimeMs now) {
  std::vector<std::string> to;
  to.reserve(m.to.size());
  for (const auto& r : m.to) to.push_back(format_mailbox(split_mailbox(r)));
  std::string out;
  out += "Date: " + rfc5322_date(now) + "\r\n";
  out += "From: " + format_mailbox(split_mailbox(smtp.from)) + "\r\n";
  out += "To: " + address_list("To", to) + "\r\n";
  out += "Subject: " + unstructured_value("Subject", m.subject) + "\r\n";
  const std::string id = normalized_message_id(m.message_id);
  if (!id.empty()) out += "Message-ID: " + id + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: quoted-printable\r\n";
  // RFC 3834: machine-generated, so auto-responders do not answer it.
  out += "Auto-Submitted: auto-generated\r\n";
  out += "\r\n";
  out += quoted_printable(m.text);
  return out;
}

DeliveryResult send_mail(const SmtpSettings& smtp, const MailMessage& m, TimeMs now) {
  const bool implicit_tls = starts_with_ci(smtp.url, "smtps://");
  if (!implicit_tls && !starts_with_ci(smtp.url, "smtp://")) {
    return permanent_failure("bad settings: smtp url must start with smtp:// or smtps://");
  }
  if (smtp.timeout_s <= 0) return permanent_failure("bad settings: smtp timeout_s must be > 0");
  const Mailbox from = split_mailbox(smtp.from);
  if (!valid_address(from.address)) {
    return permanent_failure("bad settings: from address \"" + one_line(smtp.from) + "\"");
  }
  if (m.to.empty() || m.to.size() > kMaxRecipients) {
    return permanent_failure("bad address: " + std::to_string(m.to.size()) + " recipients (1 to " +
                             std::to_string(kMaxRecipients) + ")");
  }
  std::vector<std::string> recipients;
  for (const auto& r : m.to) {
    Mailbox box = split_mailbox(r);
    if (!valid_address(box.address)) {
      return permanent_failure("bad address \"" + one_line(r) + "\"");
    }
    recipients.push_back(box.address);
  }
  if (!valid_message_id(normalized_message_id(m.message_id))) {
    return permanent_failure("bad message id \"" + one_line(m.message_id) + "\"");
  }

  init_curl();
  CurlHandle curl(curl_easy_init());
  if (!curl) return temporary_failure("curl_easy_init failed");
  const std::string message = compose_mail(smtp, m, now);
  Upload upload{message};
  CurlList rcpt;
  for (const auto& a : recipients) {
    if (!append(rcpt, "<" + a + ">")) return temporary_failure("out of memory");
  }
  const std::string mail_from = "<" + from.address + ">";
  char errbuf[CURL_ERROR_SIZE] = {0};
  SmtpTrace trace;
  TargetGuard guard{smtp.target_policy, smtp.url};

  CURL* c = curl.get();
  judge_connections(c, guard);
  curl_easy_setopt(c, CURLOPT_URL, smtp.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, smtp.timeout_s);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, smtp.timeout_s);
  curl_easy_setopt(c, CURLOPT_USE_SSL,
                   implicit_tls || smtp.starttls ? long(CURLUSESSL_ALL) : long(CURLUSESSL_NONE));
  curl_easy_setopt(c, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
  if (!smtp.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, smtp.ca_file.c_str());
  if (!smtp.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, smtp.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, smtp.password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, curl_off_t(message.size()));
  // The debug callback records server replies only (HEADER_IN); what the client sends, AUTH
  // among it, is never looked at.
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, trace_smtp);
  curl_easy_setopt(c, CURLOPT_DEBUGDATA, &trace);
  curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);

  const CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (rc == CURLE_OK) return DeliveryResult::success("smtp " + trace.last_reply);
  if (auto r = refused_target(guard)) return *r;

  // The reply that decided the outcome: the last error reply when it carries the final code.
  const std::string code_text = std::to_string(code);
  const std::string& server_said =
      trace.last_error.starts_with(code_text) ? trace.last_error : trace.last_reply;
  const std::string why = curl_reason(rc, errbuf);
  const std::string server_detail = server_said.starts_with(code_text) ? server_said : why;
  if (rc == CURLE_LOGIN_DENIED) {
    return {false, code / 100 == 4, "smtp authentication failed: " + server_detail};
  }
  if (rc == CURLE_USE_SSL_FAILED) {
    return permanent_failure("smtp server does not offer STARTTLS; refusing to send in clear");
  }
  if (auto r = transport_failure(rc, why)) return *r;
  if (code / 100 == 4 || code / 100 == 5) {
    return {false, code / 100 == 4,
            "smtp " + (server_detail == why ? code_text + " " + why : server_detail)};
  }
  const std::string reply = server_said.empty() ? "" : " (last reply " + server_said + ")";
  return temporary_failure("smtp: " + why + reply);  // reset, broken pipe, unexpected reply
}

DeliveryResult post_webhook(const WebhookSettings& s, const WebhookCall& call) {
  if (!starts_with_ci(call.url, "http://") && !starts_with_ci(call.url, "https://")) {
    return permanent_failure("bad settings: webhook url must start with http:// or https://");
  }
  if (s.timeout_s <= 0) return permanent_failure("bad settings: webhook timeout_s must be > 0");
  // Header values: printable ASCII without spaces, so nothing can end the header line.
  auto header_safe = [](const std::string& value) {
    if (value.empty()) return false;
    for (unsigned char c : value) {
      if (c <= 0x20 || c >= 0x7f) return false;
    }
    return true;
  };
  if (!header_safe(call.event_type)) {
    return permanent_failure("bad webhook event type \"" + one_line(call.event_type) + "\"");
  }
  if (!header_safe(call.delivery_id)) {
    return permanent_failure("bad webhook delivery id \"" + one_line(call.delivery_id) + "\"");
  }

  init_curl();
  CurlHandle curl(curl_easy_init());
  if (!curl) return temporary_failure("curl_easy_init failed");
  CurlList headers;
  std::vector<std::string> lines = {"Content-Type: application/json",
                                    "Expect:",  // no 100-continue round trip
                                    "X-Printrelay-Event: " + call.event_type,
                                    "X-Printrelay-Delivery: " + call.delivery_id};
  if (!s.secret.empty()) {
    lines.push_back("X-Printrelay-Signature: sha256=" + webhook_signature(s.secret, call.body));
  }
  for (const auto& line : lines) {
    if (!append(headers, line)) return temporary_failure("out of memory");
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  TargetGuard guard{s.target_policy, call.url};

  CURL* c = curl.get();
  judge_connections(c, guard);
  curl_easy_setopt(c, CURLOPT_URL, call.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, s.timeout_s);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, s.timeout_s);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
  if (!s.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, s.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "printrelay-webhook");
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, call.body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(call.body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);

  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    if (auto r = refused_target(guard)) return *r;
    const std::string why = curl_reason(rc, errbuf);
    if (auto r = transport_failure(rc, why)) return *r;
    return temporary_failure("http: " + why);
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  const std::string detail = "http " + std::to_string(status);
  if (status >= 200 && status <= 299) return DeliveryResult::success(detail);
  if (status == 408 || status == 429 || (status >= 500 && status <= 599)) {
    return temporary_failure(detail);
  }
  if (status >= 300 && status <= 399) {
    return permanent_failure(detail + " (redirects are not followed)");
  }
  return permanent_failure(detail);
}

}  // namespace printrelay
