#!/usr/bin/env python3
"""A malformed or unsatisfiable Range on an artifact download is refused before a byte is sent.
A device asks for a pushed firmware image with Range headers that are not one well-formed byte
range (a negative end, a zero suffix, an end before the start, two ranges, a number too large for
64 bits, a space): each is answered 400 (malformed) or 416 (no byte of the file in it) with no
Content-Range, and neither the device's firmware history nor
printrelay_artifact_bytes_sent_total records anything for them. A well-formed range afterwards is
served and recorded, so the counts are seen to move when they should."""

import hashlib
import os

import harness
from harness import check, metric_value, wait_until

SIZE = 4096
BYTES_SENT = "printrelay_artifact_bytes_sent_total"
# (Range header, expected status): 400 when malformed, 416 when well formed but past the file.
REFUSED = [
    ("bytes=0--5", 400),
    ("bytes=-0", 416),
    ("bytes=5-2", 400),
    ("bytes=1-2,4-5", 400),
    ("bytes=99999999999999999999-", 400),
    ("bytes= 1-2", 400),
    (f"bytes={SIZE}-", 416),
]


def bytes_sent(relay):
    value = metric_value(relay.metrics(), BYTES_SENT)
    check(value is not None, f"{BYTES_SENT} is missing from /metrics")
    return int(value)


def sent_entries(relay, serial):
    hist = relay.ok_json("GET", f"/v1/devices/{serial}/firmware-history")["history"]
    return [h for h in hist if h["event"] == "sent"]


def status_of(relay, sha, token, range_header):
    """(status, Content-Range, Content-Length) of a data request; the body is not read, so a
    response that announced a huge length cannot stall the test."""
    conn = relay.connection(timeout=30)
    try:
        conn.request("GET", f"/v1/artifacts/{sha}/data",
                     headers={"Authorization": f"Bearer {token}", "Range": range_header})
        res = conn.getresponse()
        return res.status, res.getheader("Content-Range"), res.getheader("Content-Length")
    finally:
        conn.close()


def test(env):
    relay = env.relay()
    relay.start()
    serial = "SIM-0001"
    relay.register(serial)
    token = relay.enroll(serial)

    image = os.path.join(env.tmp, "firmware.bin")
    data = os.urandom(SIZE)
    with open(image, "wb") as f:
        f.write(data)
    sha = hashlib.sha256(data).hexdigest()
    relay.push_firmware(env, image, sha)

    sent0 = bytes_sent(relay)
    history0 = sent_entries(relay, serial)
    for header, want in REFUSED:
        status, content_range, length = status_of(relay, sha, token, header)
        check(status == want,
              f"Range {header!r}: HTTP {status} (Content-Range {content_range}, Content-Length "
              f"{length}), expected {want}")
        check(content_range is None, f"Range {header!r}: refused with Content-Range {content_range}")
    check(sent_entries(relay, serial) == history0,
          f"refused ranges were recorded as sent: {sent_entries(relay, serial)}")
    check(bytes_sent(relay) == sent0,
          f"{BYTES_SENT} grew by {bytes_sent(relay) - sent0} for refused ranges")

    # A well-formed range is served and counted: the counts above could have moved.
    conn = relay.connection(timeout=30)
    conn.request("GET", f"/v1/artifacts/{sha}/data",
                 headers={"Authorization": f"Bearer {token}", "Range": "bytes=-10"})
    res = conn.getresponse()
    tail = res.read()
    conn.close()
    check((res.status, res.getheader("Content-Range"), tail) ==
          (206, f"bytes {SIZE - 10}-{SIZE - 1}/{SIZE}", data[-10:]),
          f"bytes=-10: HTTP {res.status} {res.getheader('Content-Range')} {len(tail)} bytes")
    wait_until(lambda: bytes_sent(relay) - sent0 == 10, 10, f"{BYTES_SENT} to count 10 bytes")
    added = sent_entries(relay, serial)[:len(sent_entries(relay, serial)) - len(history0)]
    check([(h["detail"]["from"], h["detail"]["bytes"]) for h in added] == [(SIZE - 10, 10)],
          f"the history records {added} for bytes=-10")


if __name__ == "__main__":
    harness.run(test)
