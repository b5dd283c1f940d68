#!/usr/bin/env python3
"""relayd's TLS listener offers TLS 1.2 and 1.3 only, and in TLS 1.2 only AEAD suites with an
ECDHE key exchange (net/tls.h restrict_server_tls), as two real clients see it:

- Debian's sslscan finds SSLv2, SSLv3, TLS 1.0 and TLS 1.1 disabled, TLS 1.2 and 1.3 enabled,
  and every TLS 1.2 suite it gets accepted is ECDHE with AES-GCM or ChaCha20-Poly1305;
- `openssl s_client -tls1_2` is refused a CBC suite (AES128-SHA, ECDHE-ECDSA-AES128-SHA) and
  gets the AEAD suite it asks for (ECDHE-ECDSA-AES128-GCM-SHA256), verified against the relay's
  CA."""

import subprocess
import xml.etree.ElementTree as ET

import harness
from harness import check

AEAD = ("-GCM-", "-CHACHA20-POLY1305")


def s_client(relay, cipher):
    """Runs `openssl s_client -tls1_2 -cipher CIPHER` against the relay with no input; returns
    (exit code, the suite agreed on or None, output)."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{relay.port}", "-tls1_2",
                        "-cipher", cipher, "-CAfile", relay.ca_file, "-verify_return_error",
                        "-servername", "127.0.0.1"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    agreed = None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Cipher    :"):
            value = line.split(":", 1)[1].strip()
            agreed = None if value in ("0000", "(NONE)") else value
    return r.returncode, agreed, out


def test(env):
    relay = env.relay()
    relay.start()

    r = subprocess.run(["sslscan", "--no-colour", "--xml=-", f"127.0.0.1:{relay.port}"],
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"sslscan exited {r.returncode}: {r.stdout[-2000:]}{r.stderr[-2000:]}")
    xml = r.stdout[r.stdout.find("<?xml"):]
    try:
        doc = ET.fromstring(xml)
    except ET.ParseError as e:
        raise harness.TestFailure(f"sslscan printed no XML ({e}): {r.stdout[-2000:]}")
    test_el = doc.find("ssltest")
    check(test_el is not None, f"sslscan found no TLS service: {r.stdout[-2000:]}")
    offered = {f"{p.get('type')}{p.get('version')}": p.get("enabled")
               for p in test_el.findall("protocol")}
    want = {"ssl2": "0", "ssl3": "0", "tls1.0": "0", "tls1.1": "0", "tls1.2": "1", "tls1.3": "1"}
    check(offered == want, f"protocols: expected {want}, sslscan found {offered}")

    ciphers = [(c.get("sslversion"), c.get("cipher")) for c in test_el.findall("cipher")]
    tls12 = [name for version, name in ciphers if version == "TLSv1.2"]
    check(tls12, f"sslscan found no TLS 1.2 suite: {ciphers}")
    weak = [name for name in tls12
            if not (name.startswith("ECDHE-") and any(a in name for a in AEAD))]
    check(not weak, f"TLS 1.2 suites that are not ECDHE with AEAD: {weak} (all: {tls12})")
    older = [(v, n) for v, n in ciphers if v not in ("TLSv1.2", "TLSv1.3")]
    check(not older, f"suites accepted under older protocols: {older}")
    print("TLS 1.2 suites:", ", ".join(tls12))

    for cbc in ("AES128-SHA", "ECDHE-ECDSA-AES128-SHA"):
        rc, agreed, out = s_client(relay, cbc)
        check(rc != 0 and agreed is None,
              f"openssl s_client -tls1_2 -cipher {cbc}: the CBC suite was accepted "
              f"(exit {rc}, cipher {agreed}):\n{out[-2000:]}")
        check("handshake failure" in out,
              f"-cipher {cbc}: no handshake failure alert:\n{out[-2000:]}")
    rc, agreed, out = s_client(relay, "ECDHE-ECDSA-AES128-GCM-SHA256")
    check(rc == 0 and agreed == "ECDHE-ECDSA-AES128-GCM-SHA256",
          f"openssl s_client -tls1_2 with an AEAD suite (exit {rc}, cipher {agreed}):\n"
          f"{out[-2000:]}")
    check(relay.get("/healthz", token=None).status == 200, "/healthz after the scans")


if __name__ == "__main__":
    harness.run(test)
