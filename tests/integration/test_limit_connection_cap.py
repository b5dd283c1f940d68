#!/usr/bin/env python3
"""--max-connections bounds the connections open at once: with --max-connections 10 (and
--header-timeout-s 60, so idle clients are not cut off meanwhile) ten idle TLS connections are
held, and every further connection is closed by the relay at once without an answer. The relay
says so in its log once, not once per refused connection. When the ten close, /healthz is served
again."""

import harness
from harness import check, wait_closed

LIMIT = 10
MARKER = "connections open, the limit"


def test(env):
    relay = env.relay()
    relay.start("--max-connections", str(LIMIT), "--header-timeout-s", "60")
    check(f"at most {LIMIT} connections" in relay.proc.log_text(),
          "relayd does not announce the connection limit it runs with")

    # A finished TLS handshake proves the relay accepted (and counts) the connection.
    held = [relay.open_socket() for _ in range(LIMIT)]
    try:
        for i in range(3):
            extra = relay.open_socket(tls=False)
            try:
                rest = wait_closed(extra, 10, f"the relay to close connection #{LIMIT + 1 + i}")
                check(rest == b"", f"connection #{LIMIT + 1 + i} got an answer: {rest[:200]!r}")
            finally:
                extra.close()
        log = relay.proc.log_text()
        check(log.count(MARKER) == 1,
              f"the limit must be logged once for 3 refused connections, found "
              f"{log.count(MARKER)} lines with '{MARKER}'")
        check(relay.proc.alive(), "relayd exited at the connection limit")
    finally:
        for s in held:
            s.close()

    relay.wait_healthy(30, "/healthz once the held connections are closed")


if __name__ == "__main__":
    harness.run(test)
