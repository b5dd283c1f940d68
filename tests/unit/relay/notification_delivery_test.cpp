// Notification delivery against real servers on loopback: tests/tools/smtp_server.py (aiosmtpd,
// STARTTLS + AUTH) and tests/tools/webhook_receiver.py (http.server, HTTP and HTTPS), started
// once for the suite with a throwaway self-signed certificate.
#include "relay/notification_delivery.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/address_policy.h"
#include "core/model.h"

#ifndef PRINTRELAY_TOOLS_DIR
#error "PRINTRELAY_TOOLS_DIR must name tests/tools"
#endif

namespace printrelay {
namespace {

namespace fs = std::filesystem;

constexpr TimeMs kNow = 1795425300000;  // Mon, 23 Nov 2026 09:15:00 UTC
constexpr const char* kUser = "relay-user";
constexpr const char* kPassword = "s3cret pass";
constexpr const char* kSecret = "hook-secret-42";

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The test servers listen on loopback, which the notify policy refuses unless allowed.
NotifyTargetPolicy loopback_allowed() { return {*parse_address_ranges({"127.0.0.0/8"}), {}}; }

// A refusal by the notify policy: permanent, with a detail that starts with `detail`.
void expect_refused(const DeliveryResult& r, const std::string& detail) {
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.temporary) << r.detail;
  EXPECT_TRUE(r.detail.starts_with(detail)) << r.detail;
}

// A port nothing listens on (bound, then closed).
int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("cannot bind 127.0.0.1:0");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// One of the Python test servers as a child process. It prints `listening <port>` when ready;
// stderr goes to `log`. The child dies with this process (PR_SET_PDEATHSIG) even on a crash.
class ToolServer {
 public:
  ToolServer(const std::string& script, std::vector<std::string> args, fs::path out_dir,
             fs::path log)
      : out_dir_(std::move(out_dir)), log_(std::move(log)) {
    fs::create_directories(out_dir_);
    args.insert(args.begin(), {"python3", std::string(PRINTRELAY_TOOLS_DIR) + "/" + script,
                               "--host", "127.0.0.1", "--port", "0", "--out", out_dir_.string()});
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(1);
      ::dup2(fds[1], 1);
      int err = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (err >= 0) ::dup2(err, 2);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    stdout_ = fds[0];
  }

  ~ToolServer() {
    if (stdout_ >= 0) ::close(stdout_);
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }

  ToolServer(const ToolServer&) = delete;
  ToolServer& operator=(const ToolServer&) = delete;

  // Reads the `listening <port>` line (servers start in parallel; this waits for one).
  void wait_ready() {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (line.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{stdout_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, int(left.count())) <= 0) {
        throw std::runtime_error("no `listening` line in 30 s; stderr:\n" + read_text(log_));
      }
      char buf[256];
      ssize_t n = ::read(stdout_, buf, sizeof buf);
      if (n <= 0) throw std::runtime_error("server exited; stderr:\n" + read_text(log_));
      line.append(buf, std::size_t(n));
    }
    if (line.rfind("listening ", 0) != 0) throw std::runtime_error("unexpected output: " + line);
    port_ = std::stoi(line.substr(10));
  }

  int port() const { return port_; }
  std::string log() const { return read_text(log_); }

  // What the server saved so far, in arrival order (1.json, 2.json, ...).
  std::vector<Json> saved() const {
    std::vector<Json> out;
    for (int n = 1;; ++n) {
      fs::path p = out_dir_ / (std::to_string(n) + ".json");
      if (!fs::exists(p)) return out;
      out.push_back(Json::parse(read_text(p)));
    }
  }

 private:
  fs::path out_dir_;
  fs::path log_;
  pid_t pid_ = -1;
  int stdout_ = -1;
  int port_ = 0;
};

class NotificationDeliveryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      start_servers();
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }

  void SetUp() override {
    if (!setup_error_.empty()) GTEST_FAIL() << "test servers did not start: " << setup_error_;
  }

  static void start_servers() {
    std::string tmpl = (fs::temp_directory_path() / "printrelay-delivery-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    make_cert("server");
    make_cert("other");  // a certificate nobody trusts for the servers' key
    const std::string cert = (dir_ / "server.pem").string();
    const std::string key = (dir_ / "server.key").string();
    std::vector<std::string> smtp_args = {"--cert", cert,  "--key",      key,
                                          "--user", kUser, "--password", kPassword};
    auto start = [&](const char* name, const char* script, std::vector<std::string> extra) {
      return std::make_unique<ToolServer>(script, std::move(extra), dir_ / name,
                                          dir_ / (std::string(name) + ".log"));
    };
    auto with = [&](std::vector<std::string> base, std::vector<std::string> more) {
      base.insert(base.end(), more.begin(), more.end());
      return base;
    };
    smtp_ = start("smtp", "smtp_server.py", smtp_args);
    smtp_retry_ = start("smtp_retry", "smtp_server.py", with(smtp_args, {"--fail-first", "1"}));
    smtp_no_tls_ = start("smtp_no_tls", "smtp_server.py", with(smtp_args, {"--no-tls"}));
    smtps_ = start("smtps", "smtp_server.py", with(smtp_args, {"--implicit-tls"}));
    hook_http_ = start("hook_http", "webhook_receiver.py", {"--secret", kSecret});
    hook_https_ = start("hook_https", "webhook_receiver.py",
                        {"--secret", kSecret, "--cert", cert, "--key", key});
    for (auto* s : {&smtp_, &smtp_retry_, &smtp_no_tls_, &smtps_, &hook_http_, &hook_https_}) {
      (*s)->wait_ready();
    }
  }

  static void TearDownTestSuite() {
    for (auto* s : {&smtp_, &smtp_retry_, &smtp_no_tls_, &smtps_, &hook_http_, &hook_https_}) {
      s->reset();
    }
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  static void make_cert(const std::string& name) {
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout '" +
        (dir_ / (name + ".key")).string() + "' -out '" + (dir_ / (name + ".pem")).string() +
        "' 2>'" + (dir_ / "openssl.log").string() + "'";
    if (std::system(cmd.c_str()) != 0) {
      throw std::runtime_error("openssl failed: " + read_text(dir_ / "openssl.log"));
    }
  }

  static std::string ca(const char* name = "server") {
    return (dir_ / (std::string(name) + ".pem")).string();
  }

  static SmtpSettings smtp_settings(const ToolServer& server, const char* scheme = "smtp") {
    SmtpSettings s;
    s.url = std::string(scheme) + "://127.0.0.1:" + std::to_string(server.port());
    s.username = kUser;
    s.password = kPassword;
    s.from = "printrelay <relay@example.com>";
    s.ca_file = ca();
    s.timeout_s = 10;
    s.target_policy = loopback_allowed();
    return s;
  }

  static MailMessage simple_mail(const std::string& id) {
    MailMessage m;
    m.to = {"ops@example.com"};
    m.subject = "Toner low on SIM-0001";
    m.text = "Black toner is at 5 %.\n";
    m.message_id = "<" + id + "@relay-test>";
    return m;
  }

  static WebhookCall hook_call(const ToolServer& server, const std::string& path,
                               const char* scheme = "http") {
    WebhookCall c;
    c.url = std::string(scheme) + "://127.0.0.1:" + std::to_string(server.port()) + path;
    c.event_type = "device.alert";
    c.delivery_id = "d-42";
    c.body = R"({"serial":"SIM-0001","text":"Papierstau in Fach 2 – bitte prüfen"})";
    return c;
  }

  static inline std::string setup_error_;
  static inline fs::path dir_;
  static inline std::unique_ptr<ToolServer> smtp_, smtp_retry_, smtp_no_tls_, smtps_;
  static inline std::unique_ptr<ToolServer> hook_http_, hook_https_;
};

std::string without_cr(std::string s) {
  std::erase(s, '\r');
  return s;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find("\r\n", start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

// ---- compose_mail: the message as written ------------------------------------------------------

TEST_F(NotificationDeliveryTest, ComposedMailHasHeadersAndSafeEncoding) {
  SmtpSettings s;
  s.from = "printrelay <relay@example.com>";
  MailMessage m;
  m.to = {"ops@example.com", "Ann Example <ann@example.com>"};
  m.subject = "Störung: Drucker „Empfang“ meldet Papierstau";
  m.text = "Zeile 1\n" + std::string(300, 'x') + "\n.punkt\nA = B  \n";
  m.message_id = "<n-42@relay-test>";
  const std::string mail = compose_mail(s, m, kNow);

  const auto split = mail.find("\r\n\r\n");
  ASSERT_NE(split, std::string::npos);
  const std::string head = mail.substr(0, split + 2);
  EXPECT_NE(head.find("Date: Mon, 23 Nov 2026 09:15:00 +0000\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("From: printrelay <relay@example.com>\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("To: ops@example.com, Ann Example <ann@example.com>\r\n"), std::string::npos)
      << head;
  EXPECT_NE(head.find("Subject: =?UTF-8?B?"), std::string::npos) << head;
  EXPECT_NE(head.find("Message-ID: <n-42@relay-test>\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("MIME-Version: 1.0\r\n"), std::string::npos);
  EXPECT_NE(head.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(head.find("Content-Transfer-Encoding: quoted-printable\r\n"), std::string::npos);

  // 7-bit clean, CRLF only, short lines: safe through any MTA without 8BITMIME.
  for (unsigned char c : mail) ASSERT_LT(c, 0x80);
  for (std::size_t i = 0; i < mail.size(); ++i) {
    if (mail[i] == '\n') {
      ASSERT_TRUE(i > 0 && mail[i - 1] == '\r') << "bare LF at " << i;
    }
    if (mail[i] == '\r') {
      ASSERT_TRUE(i + 1 < mail.size() && mail[i + 1] == '\n') << "bare CR at " << i;
    }
  }
  for (const auto& line : lines_of(mail)) EXPECT_LE(line.size(), 78u) << line;
  ASSERT_TRUE(mail.ends_with("\r\n"));
  EXPECT_NE(mail.find("A =3D B =20\r\n"), std::string::npos) << mail;  // '=' and trailing space
}

TEST_F(NotificationDeliveryTest, SubjectWithLineBreaksCannotInjectHeaders) {
  SmtpSettings s;
  s.from = "relay@example.com";
  MailMessage m;
  m.to = {"Eve\r\nBcc: hidden@example.com <eve@example.com>"};
  m.subject = "Alert\r\nBcc: victim@example.com\r\n\r\nspoofed body";
  m.text = "real body";
  m.message_id = "<n-1@relay-test>";
  const std::string mail = compose_mail(s, m, kNow);
  const std::string head = mail.substr(0, mail.find("\r\n\r\n") + 2);
  std::vector<std::string> names;
  for (const auto& line : lines_of(head)) {
    if (line.empty() || line[0] == ' ' || line[0] == '\t') continue;  // folded continuation
    names.push_back(line.substr(0, line.find(':')));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"Date", "From", "To", "Subject", "Message-ID",
                                             "MIME-Version", "Content-Type",
                                             "Content-Transfer-Encoding", "Auto-Submitted"}));
  EXPECT_NE(head.find("Subject: Alert Bcc: victim@example.com spoofed body\r\n"), std::string::npos)
      << head;
  EXPECT_NE(head.find("To: \"Eve Bcc: hidden@example.com\" <eve@example.com>\r\n"),
            std::string::npos)
      << head;
  EXPECT_EQ(mail.substr(mail.find("\r\n\r\n") + 4), "real body\r\n");

  // An address with a line break in it is refused before anything is sent.
  MailMessage bad = simple_mail("n-2");
  bad.to = {"ops@example.com\r\nBcc: hidden@example.com"};
  auto r = send_mail(smtp_settings(*smtp_), bad, kNow);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.temporary) << r.detail;
  EXPECT_NE(r.detail.find("bad address"), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find('\n'), std::string::npos);
}

// ---- send_mail against the real server --------------------------------------------------------

TEST_F(NotificationDeliveryTest, MailReachesAllRecipientsOnceOverStarttlsWithAuth) {
  const auto before = smtp_->saved().size();
  MailMessage m;
  m.to = {"ops@example.com", "Ann Example <ann@example.com>", "Jürgen Groß <jg@example.net>"};
  m.subject =
      "Tonerstand niedrig: Drucker „Empfang“ – nur noch 5 % übrig, bitte Kartusche "
      "K-2000 bestellen";
  m.text =
      "Gerät SIM-0001 (Empfang, 2. OG) meldet:\n\n"
      "  • Schwarz: 5 %\n"
      ".eine Zeile mit Punkt am Anfang\n"
      "A=B und ein Leerzeichen am Ende \n" +
      std::string(120, 'y') + " " + std::string(200, 'z') + "\n" + "日本語のテキスト\n";
  m.message_id = "<n-42@relay-test>";
  const auto r = send_mail(smtp_settings(*smtp_), m, kNow);
  ASSERT_TRUE(r.ok) << r.detail << "\nserver log:\n" << smtp_->log();
  EXPECT_NE(r.detail.find("250"), std::string::npos) << r.detail;

  const auto saved = smtp_->saved();
  ASSERT_EQ(saved.size(), before + 1);  // once, with every recipient in one transaction
  const Json& got = saved.back();
  EXPECT_EQ(got["rcpt_tos"], Json({"ops@example.com", "ann@example.com", "jg@example.net"}));
  EXPECT_EQ(got["mail_from"], "relay@example.com");
  EXPECT_EQ(got["authenticated_as"], kUser);
  EXPECT_EQ(got["tls"], true);
  EXPECT_EQ(got["data"].get<std::string>(), compose_mail(smtp_settings(*smtp_), m, kNow));

  // What a mail reader decodes (Python's email package).
  const Json& parsed = got["parsed"];
  EXPECT_EQ(parsed["defects"], Json::array()) << parsed.dump(2);
  const Json& h = parsed["headers"];
  EXPECT_EQ(h["subject"], m.subject);
  EXPECT_EQ(h["from"], "printrelay <relay@example.com>");
  EXPECT_EQ(h["to"],
            "ops@example.com, Ann Example <ann@example.com>, Jürgen Groß <jg@example.net>");
  EXPECT_EQ(h["date"], "Mon, 23 Nov 2026 09:15:00 +0000");
  EXPECT_EQ(h["message-id"], "<n-42@relay-test>");
  EXPECT_EQ(h["auto-submitted"], "auto-generated");
  EXPECT_EQ(parsed["content_type"], "text/plain");
  EXPECT_EQ(parsed["charset"], "utf-8");
  EXPECT_EQ(without_cr(parsed["text"].get<std::string>()), m.text);
}

TEST_F(NotificationDeliveryTest, InjectedSubjectArrivesAsOneHeaderAndNoExtraRecipient) {
  const auto before = smtp_->saved().size();
  MailMessage m = simple_mail("n-43");
  m.subject = "Alert\r\nBcc: victim@example.com\nX-Evil: 1";
  const auto r = send_mail(smtp_settings(*smtp_), m, kNow);
  ASSERT_TRUE(r.ok) << r.detail;
  const auto saved = smtp_->saved();
  ASSERT_EQ(saved.size(), before + 1);
  EXPECT_EQ(saved.back()["rcpt_tos"], Json({"ops@example.com"}));
  const Json& h = saved.back()["parsed"]["headers"];
  EXPECT_FALSE(h.contains("bcc")) << h.dump(2);
  EXPECT_FALSE(h.contains("x-evil")) << h.dump(2);
  EXPECT_EQ(h["subject"], "Alert Bcc: victim@example.com X-Evil: 1");
}

TEST_F(NotificationDeliveryTest, WrongPasswordIsAPermanentAuthenticationError) {
  const auto before = smtp_->saved().size();
  SmtpSettings s = smtp_settings(*smtp_);
  s.password = "wrong";
  const auto r = send_mail(s, simple_mail("n-44"), kNow);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.temporary) << r.detail;
  EXPECT_NE(r.detail.find("authentication failed"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("535"), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find("wrong"), std::string::npos) << "password leaked: " << r.detail;
  EXPECT_EQ(smtp_->saved().size(), before);
}

TEST_F(NotificationDeliveryTest, UntrustedCertificateIsRefused) {
  const auto before = smtp_->saved().size();
  SmtpSettings s = smtp_settings(*smtp_);
  s.ca_file = ca("other");
  const auto r = send_mail(s, simple_mail("n-45"), kNow);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.temporary) << r.detail;
  EXPECT_NE(r.detail.find("certificate"), std::string::npos) << r.detail;
  EXPECT_EQ(smtp_->saved().size(), before);
}

TEST_F(NotificationDeliveryTest, ServerWithoutStarttlsIsRefusedUnlessAllowed) {
  const auto before = smtp_no_tls_->saved().size();
  const auto r = send_mail(smtp_settings(*smtp_no_tls_), simple_mail("n-46"), kNow);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.temporary) << r.detail;
  EXPECT_NE(r.detail.find("STARTTLS"), std::string::npos) << r.detail;
  EXPECT_EQ(smtp_no_tls_->saved().size(), before);

  SmtpSettings clear = smtp_settings(*smtp_no_tls_);
  clear.starttls = false;  // e.g. a local MTA on the same host
  const auto r2 = send_mail(clear, simple_mail("n-47"), kNow);
  ASSERT_TRUE(r2.ok) << r2.detail << "\n" << smtp_no_tls_->log();
  const auto saved = smtp_no_tls_->saved();
  ASSERT_EQ(saved.size(), before + 1);
  EXPECT_EQ(saved.back()["tls"], false);
  EXPECT_EQ(saved.back()["authenticated_as"], kUser);
}

TEST_F(NotificationDeliveryTest, SmtpsUsesTlsFromTheStart) {
  const auto before = smtps_->saved().size();
  const auto r = send_mail(smtp_settings(*smtps_, "smtps"), simple_mail("n-48"), kNow);
  ASSERT_TRUE(r.ok) << r.detail << "\n" << smtps_->log();
  const auto saved = smtps_->saved();
  ASSERT_EQ(saved.size(), before + 1);
  EXPECT_EQ(saved.back()["tls"], true);
  EXPECT_EQ(saved.back()["authenticated_as"], kUser);
}

TEST_F(NotificationDeliveryTest, Smtp451IsTemporaryAndTheRetryDelivers) {
  const auto before = smtp_retry_->saved().size();
  const auto first = send_mail(smtp_settings(*smtp_retry_), simple_mail("n-49"), kNow);
  EXPECT_FALSE(first.ok);
  EXPECT_TRUE(first.temporary) << first.detail;
  EXPECT_NE(first.detail.find("451"), std::string::npos) << first.detail;
  EXPECT_EQ(smtp_retry_->saved().size(), before);

  const auto second = send_mail(smtp_settings(*smtp_retry_), simple_mail("n-49"), kNow);
  ASSERT_TRUE(second.ok) << second.detail;
  const auto saved = smtp_retry_->saved();
  ASSERT_EQ(saved.size(), before + 1);
  EXPECT_EQ(saved.back()["parsed"]["headers"]["message-id"], "<n-49@relay-test>");
}

TEST_F(NotificationDeliveryTest, Smtp5xxIsPermanentAndNothingIsSent) {
  const auto before = smtp_->saved().size();
  MailMessage m = simple_mail("n-50");
  m.to = {"ops@example.com", "nobody@printers.invalid"};
  const auto r = send_mail(smtp_settings(*smtp_), m, kNow);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.temporary) << r.detail;
  EXPECT_NE(r.detail.find("550"), std::string::npos) << r.detail;
  EXPECT_EQ(smtp_->saved().size(), before);  // all recipients or none
}

TEST_F(NotificationDeliveryTest, ConnectionRefusedIsTemporary) {
  SmtpSettings s = smtp_settings(*smtp_);
  s.url = "smtp://127.0.0.1:" + std::to_string(unused_port());
  const auto r = send_mail(s, simple_mail("n-51"), kNow);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.temporary) << r.detail;
  EXPECT_NE(r.detail.find("connection refused"), std::string::npos) << r.detail;
}

TEST_F(NotificationDeliveryTest, MailServerInAnInternalRangeIsRefusedWithoutConnecting) {
  const auto before = smtp_->saved().size();
  SmtpSettings s = smtp_settings(*smtp_);
  s.target_policy = {};  // the default: internal ranges refused
  const auto r = send_mail(s, simple_mail("n-53"), kNow);
  expect_refused(r,
                 "notification target 127.0.0.1 connects to 127.0.0.1, which the notify policy "
                 "refuses: internal range 127.0.0.0/8 (loopback); allow it with --notify-allow "
                 "127.0.0.0/8");
  EXPECT_EQ(smtp_->saved().size(), before);
}

TEST_F(NotificationDeliveryTest, BadSettingsAndAddressesArePermanentWithoutSending) {
  const auto before = smtp_->saved().size();
  auto expect_permanent = [&](const SmtpSettings& s, const MailMessage& m, const char* what) {
    const auto r = send_mail(s, m, kNow);
    EXPECT_FALSE(r.ok) << what;
    EXPECT_FALSE(r.temporary) << what << ": " << r.detail;
    EXPECT_FALSE(r.detail.empty()) << what;
  };
  SmtpSettings http = smtp_settings(*smtp_);
  http.url = "http://127.0.0.1:" + std::to_string(smtp_->port());
  expect_permanent(http, simple_mail("n-52"), "http url");
  SmtpSettings bad_from = smtp_settings(*smtp_);
  bad_from.from = "printrelay";
  expect_permanent(bad_from, simple_mail("n-52"), "from without address");
  MailMessage none = simple_mail("n-52");
  none.to.clear();
  expect_permanent(smtp_settings(*smtp_), none, "no recipient");
  MailMessage many = simple_mail("n-52");
  many.to.assign(33, "ops@example.com");
  expect_permanent(smtp_settings(*smtp_), many, "33 recipients");
  MailMessage bad_to = simple_mail("n-52");
  bad_to.to = {"ops at example.com"};
  expect_permanent(smtp_settings(*smtp_), bad_to, "address without @");
  MailMessage no_id = simple_mail("n-52");
  no_id.message_id.clear();
  expect_permanent(smtp_settings(*smtp_), no_id, "no message id");
  SmtpSettings no_timeout = smtp_settings(*smtp_);
  no_timeout.timeout_s = 0;  // libcurl would wait forever
  expect_permanent(no_timeout, simple_mail("n-52"), "timeout 0");
  EXPECT_EQ(smtp_->saved().size(), before);
}

// ---- webhooks ---------------------------------------------------------------------------------

TEST_F(NotificationDeliveryTest, WebhookSignatureIsHmacSha256Hex) {
  // RFC 4231 test case 2.
  EXPECT_EQ(webhook_signature("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_F(NotificationDeliveryTest, WebhookPostsSignedJsonWithHeaders) {
  const auto before = hook_http_->saved().size();
  const WebhookCall call = hook_call(*hook_http_, "/hooks/printrelay");
  const auto r = post_webhook(WebhookSettings{kSecret, "", 5, loopback_allowed()}, call);
  ASSERT_TRUE(r.ok) << r.detail << "\n" << hook_http_->log();
  EXPECT_EQ(r.detail, "http 200");
  const auto saved = hook_http_->saved();
  ASSERT_EQ(saved.size(), before + 1);
  const Json& got = saved.back();
  EXPECT_EQ(got["method"], "POST");
  EXPECT_EQ(got["path"], "/hooks/printrelay");
  EXPECT_EQ(got["body"], call.body);        // byte for byte
  EXPECT_EQ(got["signature_valid"], true);  // verified by the receiver with its own HMAC
  const Json& h = got["headers"];
  EXPECT_EQ(h["content-type"], "application/json");
  EXPECT_EQ(h["x-printrelay-event"], "device.alert");
  EXPECT_EQ(h["x-printrelay-delivery"], "d-42");
  EXPECT_EQ(h["x-printrelay-signature"], "sha256=" + webhook_signature(kSecret, call.body));
}

TEST_F(NotificationDeliveryTest, WebhookWithoutSecretIsUnsigned) {
  const auto before = hook_http_->saved().size();
  const auto r = post_webhook(WebhookSettings{"", "", 5, loopback_allowed()},
                              hook_call(*hook_http_, "/unsigned"));
  ASSERT_TRUE(r.ok) << r.detail;
  const auto saved = hook_http_->saved();
  ASSERT_EQ(saved.size(), before + 1);
  EXPECT_FALSE(saved.back()["headers"].contains("x-printrelay-signature"));
  EXPECT_EQ(saved.back()["signature_valid"], false);
}

TEST_F(NotificationDeliveryTest, WebhookStatusDecidesTemporaryOrPermanent) {
  struct Case {
    int status;
    bool ok;
    bool temporary;
  };
  for (const Case& c :
       {Case{200, true, false}, Case{204, true, false}, Case{500, false, true},
        Case{502, false, true}, Case{503, false, true}, Case{408, false, true},
        Case{429, false, true}, Case{400, false, false}, Case{401, false, false},
        Case{404, false, false}, Case{410, false, false}, Case{301, false, false}}) {
    const auto r = post_webhook(WebhookSettings{kSecret, "", 5, loopback_allowed()},
                                hook_call(*hook_http_, "/status/" + std::to_string(c.status)));
    EXPECT_EQ(r.ok, c.ok) << c.status << ": " << r.detail;
    EXPECT_EQ(r.temporary, c.temporary) << c.status << ": " << r.detail;
    EXPECT_TRUE(r.detail.starts_with("http " + std::to_string(c.status))) << r.detail;
  }
}

TEST_F(NotificationDeliveryTest, WebhookTimeoutAndRefusedConnectionAreTemporary) {
  const auto start = std::chrono::steady_clock::now();
  const auto slow = post_webhook(WebhookSettings{kSecret, "", 1, loopback_allowed()},
                                 hook_call(*hook_http_, "/sleep/4"));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(slow.ok);
  EXPECT_TRUE(slow.temporary) << slow.detail;
  EXPECT_NE(slow.detail.find("timeout"), std::string::npos) << slow.detail;
  EXPECT_LT(took, std::chrono::seconds(3));

  WebhookCall refused = hook_call(*hook_http_, "/");
  refused.url = "http://127.0.0.1:" + std::to_string(unused_port()) + "/";
  const auto r = post_webhook(WebhookSettings{kSecret, "", 5, loopback_allowed()}, refused);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.temporary) << r.detail;
  EXPECT_NE(r.detail.find("connection refused"), std::string::npos) << r.detail;
}

TEST_F(NotificationDeliveryTest, HttpsWebhookVerifiesTheServerAgainstTheCaFile) {
  const auto before = hook_https_->saved().size();
  const auto ok = post_webhook(WebhookSettings{kSecret, ca(), 5, loopback_allowed()},
                               hook_call(*hook_https_, "/secure", "https"));
  ASSERT_TRUE(ok.ok) << ok.detail << "\n" << hook_https_->log();
  ASSERT_EQ(hook_https_->saved().size(), before + 1);
  EXPECT_EQ(hook_https_->saved().back()["signature_valid"], true);

  const auto untrusted = post_webhook(WebhookSettings{kSecret, ca("other"), 5, loopback_allowed()},
                                      hook_call(*hook_https_, "/secure", "https"));
  EXPECT_FALSE(untrusted.ok);
  EXPECT_FALSE(untrusted.temporary) << untrusted.detail;
  EXPECT_NE(untrusted.detail.find("certificate"), std::string::npos) << untrusted.detail;
  EXPECT_EQ(hook_https_->saved().size(), before + 1);
}

TEST_F(NotificationDeliveryTest, WebhookHeaderInjectionAndBadUrlsArePermanent) {
  const auto before = hook_http_->saved().size();
  WebhookCall evil = hook_call(*hook_http_, "/");
  evil.event_type = "device.alert\r\nX-Evil: 1";
  auto r = post_webhook(WebhookSettings{kSecret, "", 5, loopback_allowed()}, evil);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.temporary);
  EXPECT_EQ(r.detail.find('\n'), std::string::npos) << r.detail;
  WebhookCall no_id = hook_call(*hook_http_, "/");
  no_id.delivery_id.clear();
  r = post_webhook(WebhookSettings{kSecret, "", 5, loopback_allowed()}, no_id);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.temporary);
  WebhookCall ftp = hook_call(*hook_http_, "/");
  ftp.url = "ftp://127.0.0.1/";
  r = post_webhook(WebhookSettings{kSecret, "", 5, loopback_allowed()}, ftp);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.temporary);
  r = post_webhook(WebhookSettings{kSecret, "", 0, loopback_allowed()},
                   hook_call(*hook_http_, "/"));
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.temporary);
  EXPECT_EQ(hook_http_->saved().size(), before);
}

// ---- the notify policy at the connect -----------------------------------------------------------

TEST_F(NotificationDeliveryTest, WebhookToLoopbackIsRefusedByDefaultAndNothingArrives) {
  const auto before = hook_http_->saved().size();
  const WebhookCall call = hook_call(*hook_http_, "/hooks/secret-token");
  const auto r = post_webhook(WebhookSettings{kSecret, "", 5}, call);
  expect_refused(r,
                 "notification target 127.0.0.1 connects to 127.0.0.1, which the notify policy "
                 "refuses: internal range 127.0.0.0/8 (loopback); allow it with --notify-allow "
                 "127.0.0.0/8");
  EXPECT_EQ(r.detail.find("secret-token"), std::string::npos) << "the url's path leaked";
  EXPECT_EQ(hook_http_->saved().size(), before);
}

TEST_F(NotificationDeliveryTest, WebhookDenyRangeWinsOverAllowRange) {
  const auto before = hook_http_->saved().size();
  WebhookSettings s{kSecret, "", 5, loopback_allowed()};
  s.target_policy.deny = *parse_address_ranges({"127.0.0.1/32"});
  const auto r = post_webhook(s, hook_call(*hook_http_, "/"));
  expect_refused(r,
                 "notification target 127.0.0.1 connects to 127.0.0.1, which the notify policy "
                 "refuses: deny range 127.0.0.1/32 (--notify-deny)");
  EXPECT_EQ(hook_http_->saved().size(), before);
}

TEST_F(NotificationDeliveryTest, WebhookToAMappedAddressIsJudgedAsItsIpv4Address) {
  const auto before = hook_http_->saved().size();
  WebhookCall call = hook_call(*hook_http_, "/mapped");
  call.url = "http://[::ffff:127.0.0.1]:" + std::to_string(hook_http_->port()) + "/mapped";
  const auto refused = post_webhook(WebhookSettings{kSecret, "", 5}, call);
  expect_refused(
      refused,
      "notification target [::ffff:127.0.0.1] connects to ::ffff:127.0.0.1 (IPv4 "
      "127.0.0.1), which the notify policy refuses: internal range 127.0.0.0/8 (loopback); "
      "allow it with --notify-allow 127.0.0.0/8");
  EXPECT_EQ(hook_http_->saved().size(), before);

  // Allowed as 127.0.0.1, it is connected to (an IPv6 socket reaching the IPv4 listener).
  const NotifyTargetPolicy one_host{*parse_address_ranges({"127.0.0.1"}), {}};
  const auto sent = post_webhook(WebhookSettings{kSecret, "", 5, one_host}, call);
  ASSERT_TRUE(sent.ok) << sent.detail;
  ASSERT_EQ(hook_http_->saved().size(), before + 1);
  EXPECT_EQ(hook_http_->saved().back()["path"], "/mapped");
}

TEST_F(NotificationDeliveryTest, WebhookByNameIsJudgedOnEveryAddressItResolvesTo) {
  // "localhost" resolves to 127.0.0.1 (and often ::1): each address is judged at its connect.
  const auto before = hook_http_->saved().size();
  WebhookCall call = hook_call(*hook_http_, "/by-name");
  call.url = "http://localhost:" + std::to_string(hook_http_->port()) + "/by-name";
  const auto refused = post_webhook(WebhookSettings{kSecret, "", 5}, call);
  expect_refused(refused, "notification target localhost connects to ");
  EXPECT_NE(refused.detail.find("which the notify policy refuses: internal range"),
            std::string::npos)
      << refused.detail;
  EXPECT_EQ(hook_http_->saved().size(), before);

  // Only 127.0.0.0/8 allowed: ::1, if tried, is refused and 127.0.0.1 delivers.
  const auto sent = post_webhook(WebhookSettings{kSecret, "", 5, loopback_allowed()}, call);
  ASSERT_TRUE(sent.ok) << sent.detail;
  ASSERT_EQ(hook_http_->saved().size(), before + 1);
  EXPECT_EQ(hook_http_->saved().back()["path"], "/by-name");
}

}  // namespace
}  // namespace printrelay
