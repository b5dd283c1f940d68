#!/usr/bin/env python3
"""Guessing credentials from one address is cut off: after a burst of requests with unknown
bearer tokens (admin and device API alike) every further one from that address is answered 429
with a Retry-After instead of 401, while the valid admin and device credentials still work from
the same address, and an unknown token from another address (127.0.0.2) still gets its 401."""

import time

import harness
from harness import check, read_answer

BURST = 50  # ApiOptions::auth_failures_per_address; one more is allowed a second
TRIES = 100


def test(env):
    relay = env.relay()
    relay.start("--device-rate", "0")
    relay.register("SIM-0001")
    device = relay.enroll("SIM-0001")

    statuses = []
    t0 = time.monotonic()
    for i in range(TRIES):
        if i % 2:
            a = relay.get("/v1/jobs", token=f"at_guess-{i}")
        else:
            a = relay.post("/v1/device/poll", {"state": "idle"}, token=f"dt_guess-{i}")
        statuses.append(a.status)
        if a.status == 429:
            check(a.error_code == "rate_limited", f"429 without the rate_limited error: {a!r}")
            check(int(a.headers.get("Retry-After", "0")) > 0, f"429 without Retry-After: {a!r}")
        else:
            check(a.status == 401 and a.error_code == "unauthorized",
                  f"guess #{i + 1}: expected 401 or 429, got {a!r}")
    elapsed = time.monotonic() - t0
    refilled = int(elapsed) + 1
    check(statuses[:BURST] == [401] * BURST,
          f"the first {BURST} guesses must get 401: {statuses[:BURST]}")
    check(statuses.count(429) >= TRIES - BURST - refilled,
          f"{TRIES} guesses in {elapsed:.1f} s: {statuses.count(401)} x 401, "
          f"{statuses.count(429)} x 429 (at most {BURST} + {refilled} may be 401)")

    # Right after the burst, the address is still held back for unknown tokens.
    check(relay.get("/v1/jobs").status == 200, "the admin credential from the same address")
    a = relay.post("/v1/device/poll", {"state": "idle"}, token=device)
    check(a.status == 200, f"the device credential from the same address: {a!r}")

    sock = relay.open_socket(source_address=("127.0.0.2", 0))
    try:
        sock.sendall(b"GET /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Authorization: Bearer at_guess-other\r\nConnection: close\r\n\r\n")
        a = read_answer(sock)
        check(a is not None and a.status == 401, f"an unknown token from 127.0.0.2: {a!r}")
    finally:
        sock.close()


if __name__ == "__main__":
    harness.run(test)
