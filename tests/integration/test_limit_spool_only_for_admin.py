#!/usr/bin/env python3
"""Only the admin credential gets bytes onto the relay's disk: relayd spools every request body
whose target starts with /v1/artifacts/ (the large-body path, up to --max-artifact-mb) to the
artifacts directory, so every such request, whatever its method or the rest of its path, must be
refused from its header unless it carries the admin credential. Each request below announces
300 MiB with `Expect: 100-continue` and a credential that is not the admin's (an unknown token, a
device's, a viewer's); each must be answered 401 or 403 with no "100 Continue" first, and no
spooled upload file may appear, not even after 1 MiB of body is pushed after the header."""

import os

import harness
from harness import check, read_answer, wait_closed

SHA = "cd" * 32
LENGTH = 300 << 20


def test(env):
    relay = env.relay()
    relay.start("--device-rate", "0")
    relay.register("SIM-0001")
    device = relay.enroll("SIM-0001")
    viewer = relay.credential("viewer-1", "viewer")
    spool = os.path.join(relay.data_dir, "artifacts")
    before = sorted(os.listdir(spool))

    cases = [
        ("PUT", f"/v1/artifacts/{SHA}", "at_unknown"),
        ("PUT", f"/v1/artifacts//{SHA}", "at_unknown"),
        ("POST", f"/v1/artifacts/{SHA}", "at_unknown"),
        ("PUT", f"/v1/artifacts/{SHA}/data", "at_unknown"),
        ("POST", f"/v1/artifacts/{SHA}/data", device),
        ("PUT", "/v1/artifacts/x/y/z", viewer),
        ("PUT", "/v1/artifacts/../jobs", "at_unknown"),
        ("GET", f"/v1/artifacts/{SHA}/data", device),
    ]
    whose = {device: "a device's", viewer: "a viewer's", "at_unknown": "an unknown"}
    failures = []
    for method, target, token in cases:
        what = f"{method} {target} with {whose[token]} credential"
        sock = relay.open_socket(timeout=10)
        try:
            sock.sendall((f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{relay.port}\r\n"
                          f"Content-Length: {LENGTH}\r\nExpect: 100-continue\r\n"
                          f"Authorization: Bearer {token}\r\n\r\n").encode())
            try:
                a = read_answer(sock)
            except TimeoutError:
                a = None
            if a is not None and a.status == 100:
                try:
                    sock.sendall(b"x" * (1 << 20))
                except OSError:
                    pass
                spooled = [n for n in os.listdir(spool) if n.startswith(".tmp-upload-")]
                failures.append(f"{what}: got 100 Continue and its body was spooled "
                                f"({spooled} in {spool})")
            elif a is None or a.status not in (401, 403) or a.error_code is None:
                failures.append(f"{what}: expected 401 or 403 from the header, got {a!r}")
            else:
                wait_closed(sock, 10, f"the relay to close the refused {what}")
        finally:
            sock.close()
    check(not failures, f"{len(failures)} request(s) got past the header to the spool:\n  "
                        + "\n  ".join(failures))
    check(sorted(os.listdir(spool)) == before, f"left in {spool}: {sorted(os.listdir(spool))}")
    check(relay.get("/healthz", token=None).status == 200, "relayd serves afterwards")


if __name__ == "__main__":
    harness.run(test)
