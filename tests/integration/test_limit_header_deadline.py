#!/usr/bin/env python3
"""A client has --header-timeout-s to send a request header, and the TLS handshake counts in it:
with --header-timeout-s 2 the relay closes, without an answer,

- a TCP connection that never starts the TLS handshake,
- a TLS connection that sends half a header line and then nothing,
- a TLS connection that keeps trickling a header, one byte every 0.2 s (slowloris): the deadline
  runs from the request's first byte, so bytes that keep coming do not extend it.

The bound waited is generous (30 s): what is proved is that the relay closes them, not when. An
ordinary request is served throughout."""

import select
import ssl
import time

import harness
from harness import check, wait_closed

BOUND_S = 30


def closed_now(sock):
    """Whether the readable `sock` was closed by the peer. TLS 1.3 session tickets make a socket
    readable too, with no application data behind them."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        data = sock.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except (ConnectionError, ssl.SSLError):
        return True
    finally:
        sock.settimeout(timeout)
    check(data == b"", f"the relay answered a header it never got whole: {data[:200]!r}")
    return True


def trickle_until_closed(sock, data, interval_s, timeout):
    """Sends `data` one byte every `interval_s` until the peer closes `sock`; returns the bytes
    sent by then. Fails the test if it is still open after `timeout` s or all of `data` went."""
    deadline = time.monotonic() + timeout
    for i in range(len(data)):
        try:
            sock.sendall(data[i:i + 1])
        except (ConnectionError, OSError):
            return i
        readable, _, _ = select.select([sock], [], [], interval_s)
        if readable and closed_now(sock):
            return i + 1
        check(time.monotonic() < deadline,
              f"a trickled header was still being read after {timeout} s")
    raise harness.TestFailure(f"all {len(data)} bytes of the trickled header went and the "
                              "connection stayed open")


def test(env):
    relay = env.relay()
    relay.start("--header-timeout-s", "2")

    silent = relay.open_socket(tls=False)
    half = relay.open_socket()
    half.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ab")
    check(relay.get("/healthz", token=None).status == 200, "/healthz while two clients stall")
    for what, sock in (("a connection that never starts TLS", silent),
                       ("a half-sent header", half)):
        t0 = time.monotonic()
        rest = wait_closed(sock, BOUND_S, f"the relay to close {what}")
        check(rest == b"", f"{what}: the relay answered instead of closing: {rest[:200]!r}")
        print(f"{what}: closed after {time.monotonic() - t0:.1f} s more")
        sock.close()

    slow = relay.open_socket()
    try:
        t0 = time.monotonic()
        header = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 1000 + b"\r\n\r\n"
        sent = trickle_until_closed(slow, header, 0.2, BOUND_S)
        print(f"trickled header: closed after {sent} bytes, {time.monotonic() - t0:.1f} s")
    finally:
        slow.close()

    check(relay.proc.alive(), "relayd exited")
    check(relay.get("/healthz", token=None).status == 200, "/healthz after the stalled clients")


if __name__ == "__main__":
    harness.run(test)
