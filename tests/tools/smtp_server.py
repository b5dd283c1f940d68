#!/usr/bin/env python3
"""A real SMTP server for tests (Debian's python3-aiosmtpd).

    smtp_server.py --host 127.0.0.1 --port 0 --cert CERT --key KEY --user USER --password PASS
                   --out DIR [--fail-first N] [--no-tls | --implicit-tls]

By default it offers STARTTLS and requires it before anything but EHLO/STARTTLS/QUIT, accepts
AUTH PLAIN and LOGIN (only after STARTTLS) for USER/PASS, and requires AUTH before MAIL.
--no-tls offers no STARTTLS at all (a server that cannot protect the password); --implicit-tls
speaks TLS from the first byte (smtps://, port 465 style).

Prints exactly one line, `listening <port>`, when ready; exits on SIGTERM. Each accepted message
is saved as DIR/<n>.json (n = 1, 2, ...; written before the 250 reply) with:
  mail_from, rcpt_tos, data (the raw message text), authenticated_as (null without AUTH),
  tls (whether the session was encrypted), and parsed: what Python's email package reads from
  the data (decoded headers, the decoded text body, the parser's defects), an independent check
  of the message's encoding.

Test hooks: --fail-first N answers the first N messages (the reply to DATA's end) with
"451 4.3.0 ..."; a recipient whose domain ends in ".invalid" is refused with "550 5.1.1 ...".
"""
import argparse
import asyncio
import email
import email.policy
import json
import os
import signal
import ssl
import sys

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:
    # Debian's python3-aiosmtpd is installed for /usr/bin/python3; the `python3` on PATH may be
    # another interpreter (pyenv, a venv) that does not see it.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and os.access(
            "/usr/bin/python3", os.X_OK):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit("smtp_server.py: aiosmtpd is missing; install python3-aiosmtpd "
             "(scripts/install-deps.sh)")


def parse_message(data: bytes):
    msg = email.message_from_bytes(data, policy=email.policy.default)
    parsed = {"headers": {}, "defects": [type(d).__name__ for d in msg.defects]}
    for name in msg.keys():
        value = msg[name]
        parsed["headers"][name.lower()] = str(value)
        parsed["defects"] += [type(d).__name__ for d in getattr(value, "defects", ())]
    try:
        parsed["content_type"] = msg.get_content_type()
        parsed["charset"] = msg.get_content_charset()
        parsed["text"] = msg.get_content()
    except Exception as e:  # recorded, the test fails on it
        parsed["defects"].append(f"get_content: {e!r}")
    return parsed


class Handler:
    def __init__(self, out_dir, fail_first):
        self.out_dir = out_dir
        self.fail_left = fail_first
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().rstrip(">").endswith(".invalid"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_left > 0:
            self.fail_left -= 1
            return "451 4.3.0 temporary failure, try again later"
        self.count += 1
        data = envelope.original_content or envelope.content
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": data.decode("utf-8", errors="replace"),
            "authenticated_as": getattr(session, "printrelay_user", None),
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "parsed": parse_message(data),
        }
        path = os.path.join(self.out_dir, f"{self.count}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 OK queued as %d" % self.count


def make_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if mechanism not in ("PLAIN", "LOGIN") or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login == user.encode() and auth_data.password == password.encode()
        if ok:
            session.printrelay_user = auth_data.login.decode()
        return AuthResult(success=ok, handled=False)

    return authenticate


async def serve(args):
    os.makedirs(args.out, exist_ok=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    handler = Handler(args.out, args.fail_first)
    loop = asyncio.get_running_loop()

    def factory():
        kwargs = dict(
            hostname="smtp.test",
            authenticator=make_authenticator(args.user, args.password) if args.user else None,
            auth_required=bool(args.user),
        )
        if args.implicit_tls or args.no_tls:
            # aiosmtpd's auth_require_tls means "after STARTTLS"; with implicit TLS the connection
            # is encrypted from the start, and --no-tls is the test of sending in clear.
            kwargs.update(auth_require_tls=False)
        else:
            kwargs.update(tls_context=context, require_starttls=True, auth_require_tls=True)
        return SMTP(handler, **kwargs)

    server = await loop.create_server(factory, host=args.host, port=args.port,
                                      ssl=context if args.implicit_tls else None)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--out", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-tls", action="store_true")
    mode.add_argument("--implicit-tls", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(args))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
