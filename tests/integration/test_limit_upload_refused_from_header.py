#!/usr/bin/env python3
"""An artifact upload without the admin role is refused from its header alone: a PUT
/v1/artifacts/<sha> announcing 200 MiB with `Expect: 100-continue`, sent as headers only, is
answered 401 (no credential) or 403 (a viewer's) at once, with no "100 Continue" before it; the
relay closes the connection without waiting for the body, and no spooled upload file ever
appears in the artifacts directory. The same request with the admin credential does get its
"100 Continue", so the refusals are the credential's doing; the upload it abandons leaves no
file behind."""

import os

import harness
from harness import check, read_answer, wait_closed, wait_until

SHA = "ab" * 32
LENGTH = 200 << 20  # under --max-artifact-mb (512): refused for the credential, not the size


def head(relay, token):
    return (f"PUT /v1/artifacts/{SHA} HTTP/1.1\r\nHost: 127.0.0.1:{relay.port}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {LENGTH}\r\n"
            f"Expect: 100-continue\r\n"
            + (f"Authorization: Bearer {token}\r\n" if token else "") + "\r\n").encode()


def test(env):
    relay = env.relay()
    relay.start()
    spool = os.path.join(relay.data_dir, "artifacts")
    check(os.path.isdir(spool), f"no artifacts directory at {spool}")
    before = sorted(os.listdir(spool))
    viewer = relay.credential("viewer-1", "viewer")

    for who, token, status in (("an anonymous client", None, 401), ("a viewer", viewer, 403)):
        sock = relay.open_socket(timeout=10)
        try:
            sock.sendall(head(relay, token))
            try:
                a = read_answer(sock)
            except TimeoutError:
                # 10 s: well under the 30 s the relay would wait for a body it expected.
                raise harness.TestFailure(f"{who}: no answer within 10 s to the headers alone: "
                                          "the relay waits for the body")
            check(a is not None, f"{who}: the relay closed the upload without an answer")
            check(a.status != 100, f"{who}: the relay said 100 Continue to a refused upload")
            check(a.status == status, f"{who}: expected {status}, got {a!r}")
            check(a.headers.get("Connection", "").lower() == "close",
                  f"{who}: the refusal must close the connection: {a.headers}")
            check(sorted(os.listdir(spool)) == before,
                  f"{who}: the refused upload left {sorted(os.listdir(spool))} in {spool}")
            rest = wait_closed(sock, 10, f"the relay to close {who}'s refused upload")
            check(rest == b"", f"{who}: more after the refusal: {rest[:200]!r}")
        finally:
            sock.close()

    # The admin credential is let through: 100 Continue, and a spool file while the body comes.
    sock = relay.open_socket(timeout=10)
    try:
        sock.sendall(head(relay, relay.admin_token))
        a = read_answer(sock)
        check(a is not None and a.status == 100, f"admin upload: expected 100 Continue, got {a!r}")
        sock.sendall(b"x" * 65536)
        wait_until(lambda: any(n.startswith(".tmp-upload-") for n in os.listdir(spool)), 10,
                   "the admin's upload to be spooled")
    finally:
        sock.close()
    wait_until(lambda: sorted(os.listdir(spool)) == before, 10,
               "the abandoned upload's spool file to be removed")
    check(relay.get("/v1/artifacts").json["artifacts"] == [], "an artifact was stored")
    check(relay.get("/healthz", token=None).status == 200, "relayd serves after the uploads")


if __name__ == "__main__":
    harness.run(test)
