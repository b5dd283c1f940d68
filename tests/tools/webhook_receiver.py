#!/usr/bin/env python3
"""A webhook receiver for tests: records every POST and answers as its path asks.

    webhook_receiver.py --host 127.0.0.1 --port 0 --out DIR [--secret S] [--cert C --key K]

Prints exactly one line, `listening <port>`, when ready; exits on SIGTERM. Each request is saved
as DIR/<n>.json (n = 1, 2, ...; written before the answer is sent) with "method", "path",
"headers" (names in lower case), "body" (the exact bytes, as UTF-8 text) and "signature_valid":
whether X-Printrelay-Signature is "sha256=" + HMAC-SHA256(secret, body) in lower-case hex (null
when no --secret was given).

The path chooses the answer: /status/<code> answers <code>; /sleep/<seconds> waits, then 200;
anything else 200. With --cert/--key it speaks HTTPS.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import signal
import ssl
import sys
import threading
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--secret")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    lock = threading.Lock()
    counter = [0]

    def save(record):
        with lock:
            counter[0] += 1
            n = counter[0]
        path = os.path.join(args.out, f"{n}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(path + ".tmp", path)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            valid = None
            if args.secret is not None:
                expected = "sha256=" + hmac.new(args.secret.encode(), body,
                                                hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(
                    expected, self.headers.get("X-Printrelay-Signature", ""))
            save({
                "method": "POST",
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", errors="replace"),
                "signature_valid": valid,
            })
            status = 200
            parts = self.path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "status":
                status = int(parts[1])
            elif len(parts) == 2 and parts[0] == "sleep":
                time.sleep(float(parts[1]))
            reply = b'{"received":true}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, fmt, *a):
            sys.stderr.write("webhook_receiver: " + (fmt % a) + "\n")

    server = http.server.ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
