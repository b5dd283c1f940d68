#!/usr/bin/env python3
"""No inbound, for real: seed 001 Fig. 1 built from network namespaces, veth pairs and nftables,
with a relay tree in between: the device talks to a child relay, the child to the root relay, and
the service center to the root.

                                    inet
                   relayd child-1 198.51.100.20:8443 (on lo)
                          | sync: --upstream https://198.51.100.10:8443
                   relayd root-1  198.51.100.10:8443 (on lo)
    cust-lan          cust-fw        cust0 .1/30  sc0 .5/30        sc-fw              sc-lan
    mfp-sim  ------  router+nftables  ---------------------  router+nftables  ------  relayctl
    10.1.0.2  lan0   + tinyproxy 10.1.0.1                    + tinyproxy 10.2.0.1     10.2.0.2
                     wan0 203.0.113.2/30                     wan0 203.0.113.6/30

Both firewalls run the same nftables rules: every new connection from outside is dropped (towards
the LAN and towards the firewall itself), LAN hosts may not go out directly, and the only thing
allowed out is the proxy on the firewall host (user nobody, when run as root), to its own site's
relay only: the customer proxy to child-1's HTTPS port, the service-center proxy to root-1's. The
internet namespace has routes back to both LANs, so what stops an inbound connection is the
firewall, not a missing route. One `relayd init` makes the CA and a server certificate for both
relay addresses (and 127.0.0.1); child-1 serves with copies of them, so one CA covers the tree.

The test first proves the paths exist without the rules (inbound from inet to a listener in each
LAN, and each LAN straight to both relays with a verified TLS handshake, all connect), loads the
rules, then proves the same connections fail and that the firewall's drop counters took them; the
customer proxy cannot reach the root nor the service-center proxy the child. Registrations are
made at the root only, and child-1 receives them through its sync. Then, through the proxies and
child-1 only: the device enrols with child-1 (its relay URL is child-1's), a configure job and a
collect job created at the root end succeeded with their reports stored at the root, managed by
"root-1 > child-1" and received by child-1 from its parent, and a fatal fault (an emergency
report) raised under child-1 reaches a `relayctl watch` on the root in the service-center LAN. At
the end the LAN listeners have still accepted nothing but the control connections.

relayctl has no proxy option, and libcurl's https_proxy is disabled by the HTTP client (it sets
CURLOPT_PROXY to ""), so in the service-center LAN relayctl talks to a small CONNECT forwarder on
127.0.0.1 that opens each connection as a tunnel through the service-center proxy to the root;
TLS is still end to end with the relay (its certificate covers 127.0.0.1 for that reason).

Needs root (ip netns, nft). Where namespaces cannot be made it prints "SKIPPED: ..." and exits
77, which CTest reports as skipped; with PRINTRELAY_REQUIRE_NETNS=1 it fails instead."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import types

import harness
from harness import check, netns_exec, wait_until

TAG = f"prni{os.getpid()}"
NS = types.SimpleNamespace(cl=f"{TAG}-cl", cf=f"{TAG}-cf", inet=f"{TAG}-in", sf=f"{TAG}-sf",
                           sl=f"{TAG}-sl")
NS_RE = re.compile(r"^prni(\d+)-(cl|cf|in|sf|sl|probe)$")

ROOT_IP, CHILD_IP, RELAY_PORT = "198.51.100.10", "198.51.100.20", 8443  # both in inet
ROOT_URL = f"https://{ROOT_IP}:{RELAY_PORT}"
CHILD_URL = f"https://{CHILD_IP}:{RELAY_PORT}"
ROOT_ID, CHILD_ID = "root-1", "child-1"
PROXY_PORT = 3128
LISTEN_PORT = 9100  # the "device host" / "service-center host" listeners of the inbound checks
FORWARDER_PORT = 8443  # relayctl's CONNECT forwarder, on 127.0.0.1 in sc-lan
SERIAL = "SIM-0001"
PROBE_TIMEOUT_S = 3  # a connection the firewall drops never completes; an allowed one takes ms


class Site:
    """One LAN behind its firewall."""

    def __init__(self, name, lan_ns, fw_ns, net, wan_fw, wan_inet, inet_if, relay_id, relay_ip):
        self.name = name
        self.relay_id = relay_id  # the one relay this site's proxy may reach
        self.relay_ip = relay_ip
        self.lan_ns = lan_ns
        self.fw_ns = fw_ns
        self.net = net  # "10.1.0"
        self.host_ip = f"{net}.2"
        self.fw_ip = f"{net}.1"
        self.wan_fw = wan_fw
        self.wan_inet = wan_inet
        self.inet_if = inet_if
        self.proxy = f"http://{self.fw_ip}:{PROXY_PORT}"
        self.proxy_log = None
        self.listener = None


CUST = Site("customer", NS.cl, NS.cf, "10.1.0", "203.0.113.2", "203.0.113.1", "cust0",
            CHILD_ID, CHILD_IP)
SC = Site("service-center", NS.sl, NS.sf, "10.2.0", "203.0.113.6", "203.0.113.5", "sc0",
          ROOT_ID, ROOT_IP)


# ---- helper programs run inside the namespaces (python3, standard library) ----

LISTENER = r'''
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(16)
print("ready", flush=True)
while True:
    c, a = s.accept()
    print("accepted", a[0], flush=True)
    c.close()
'''

PROBE = r'''
# probe HOST PORT TIMEOUT [PROXY_HOST:PORT|-] [CAFILE]: exit 0 if a TCP connection (through an HTTP
# CONNECT tunnel when a proxy is given, then a verified TLS handshake when a CA is given) works.
import socket, ssl, sys
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
proxy = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else ""
cafile = sys.argv[5] if len(sys.argv) > 5 else ""
try:
    if proxy:
        ph, pp = proxy.rsplit(":", 1)
        s = socket.create_connection((ph, int(pp)), timeout=timeout)
        s.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                raise OSError(f"the proxy closed the connection: {head!r}")
            head += chunk
        status = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if status.split()[1:2] != ["200"]:
            raise OSError(f"the proxy answered {status!r}")
    else:
        s = socket.create_connection((host, port), timeout=timeout)
    if cafile:
        s = ssl.create_default_context(cafile=cafile).wrap_socket(s, server_hostname=host)
        print(f"connected, {s.version()}, certificate for {host} verified")
    else:
        print("connected")
    s.close()
    sys.exit(0)
except Exception as e:
    print(f"failed: {type(e).__name__}: {e}")
    sys.exit(1)
'''

FORWARDER = r'''
# forwarder LISTEN_PORT PROXY_HOST PROXY_PORT TARGET_HOST TARGET_PORT: accepts on 127.0.0.1 and
# carries each connection through an HTTP CONNECT tunnel of the proxy to the target.
import socket, sys, threading
lp, ph, pp, th, tp = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])

def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass

def serve(c):
    try:
        u = socket.create_connection((ph, pp), timeout=10)
        u.sendall(f"CONNECT {th}:{tp} HTTP/1.1\r\nHost: {th}:{tp}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = u.recv(4096)
            if not chunk:
                raise OSError(f"the proxy closed the connection: {head!r}")
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0].decode(errors="replace")
        print(f"tunnel to {th}:{tp} via {ph}:{pp}: {status}", flush=True)
        if status.split()[1:2] != ["200"]:
            raise OSError(f"the proxy answered {status!r}")
        u.settimeout(None)
        if rest:
            c.sendall(rest)
        t = threading.Thread(target=pipe, args=(c, u), daemon=True)
        t.start()
        pipe(u, c)
        t.join()
    except OSError as e:
        print(f"tunnel failed: {e}", flush=True)
    finally:
        c.close()
        try:
            u.close()
        except Exception:
            pass

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", lp))
s.listen(64)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'''


def firewall_rules(site):
    """nftables for a LAN's firewall/router: lan0 faces the LAN, wan0 the internet."""
    owner = ' meta skuid "nobody"' if os.geteuid() == 0 else ""  # tinyproxy drops to nobody
    return f"""
table inet printrelay_fw {{
  chain input {{
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    iifname "lan0" ip saddr {site.net}.0/24 ip daddr {site.fw_ip} tcp dport {PROXY_PORT} ct state new accept comment "lan-to-proxy"
    iifname "wan0" ct state new counter drop comment "inbound-to-firewall"
    counter drop comment "input-other"
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "wan0" ct state new counter drop comment "inbound-to-lan"
    iifname "lan0" oifname "wan0" counter drop comment "lan-direct-out"
    counter drop comment "forward-other"
  }}
  chain output {{
    type filter hook output priority filter; policy drop;
    oif "lo" accept
    ct state established,related accept
    oifname "wan0" ip daddr {site.relay_ip} tcp dport {RELAY_PORT} ct state new{owner} counter accept comment "proxy-to-relay"
    counter drop comment "output-other"
  }}
}}
"""


# ---- running things ----

def sh(argv, timeout=20):
    """Runs a set-up command; fails the test with its output if it fails."""
    argv = [str(a) for a in argv]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise harness.TestFailure(f"`{' '.join(argv)}` did not finish in {timeout} s")
    check(r.returncode == 0, f"`{' '.join(argv)}` exited {r.returncode}: {r.stdout}{r.stderr}")
    return r.stdout


def remove_namespaces(names):
    """Kills whatever still runs in each namespace (only our own processes live there: the
    names carry this test's pid) and deletes it; its veth ends go with it."""
    for ns in names:
        r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10)
        for pid in r.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def remove_stale_namespaces():
    """Namespaces left by an earlier run of this test that was killed -9 (its pid is gone)."""
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    stale = []
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = NS_RE.match(name)
        if m and int(m.group(1)) != os.getpid() and not os.path.exists(f"/proc/{m.group(1)}"):
            stale.append(name)
    remove_namespaces(stale)


def netns_unavailable():
    """Why network namespaces with veth pairs cannot be made here, or None."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"{TAG}-probe"
    try:
        r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True,
                           timeout=10)
        if r.returncode != 0:
            return f"`ip netns add` failed: {(r.stderr or r.stdout).strip()}"
        r = subprocess.run(["ip", "-n", probe, "link", "add", "p0", "type", "veth", "peer", "name",
                            "p1"], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return f"cannot create a veth pair in a namespace: {(r.stderr or r.stdout).strip()}"
        return None
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{type(e).__name__}: {e}"
    finally:
        remove_namespaces([probe])


def build_topology(env):
    names = [NS.cl, NS.cf, NS.inet, NS.sf, NS.sl]
    env.cleanups.append(lambda: remove_namespaces(names))
    for ns in names:
        sh(["ip", "netns", "add", ns])
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
    for site in (CUST, SC):
        sh(["ip", "-n", site.fw_ns, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0",
            "netns", site.lan_ns])
        sh(["ip", "-n", site.fw_ns, "link", "add", "wan0", "type", "veth", "peer", "name",
            site.inet_if, "netns", NS.inet])
        for ns, dev, addr in ((site.lan_ns, "eth0", f"{site.host_ip}/24"),
                              (site.fw_ns, "lan0", f"{site.fw_ip}/24"),
                              (site.fw_ns, "wan0", f"{site.wan_fw}/30"),
                              (NS.inet, site.inet_if, f"{site.wan_inet}/30")):
            sh(["ip", "-n", ns, "addr", "add", addr, "dev", dev])
            sh(["ip", "-n", ns, "link", "set", dev, "up"])
        sh(["ip", "-n", site.lan_ns, "route", "add", "default", "via", site.fw_ip])
        sh(["ip", "-n", site.fw_ns, "route", "add", "default", "via", site.wan_inet])
        # The internet knows the way back to each LAN: only the firewall can stop inbound.
        sh(["ip", "-n", NS.inet, "route", "add", f"{site.net}.0/24", "via", site.wan_fw])
        sh(netns_exec(site.fw_ns, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]))
    for ip in (ROOT_IP, CHILD_IP):
        sh(["ip", "-n", NS.inet, "addr", "add", f"{ip}/32", "dev", "lo"])
    sh(netns_exec(NS.inet, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]))


def probe_all(env, specs):
    """Runs the probes [(label, ns, host, port, proxy or None, cafile or None)] in parallel;
    returns {label: (connected, what it printed)}."""
    script = os.path.join(env.tmp, "probe.py")
    procs = []
    for label, ns, host, port, proxy, cafile in specs:
        argv = [sys.executable, script, host, port, PROBE_TIMEOUT_S, proxy or "-"]
        if cafile:
            argv.append(cafile)
        procs.append((label, subprocess.Popen(netns_exec(ns, argv), stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True,
                                              stdin=subprocess.DEVNULL)))
    results = {}
    with open(os.path.join(env.log_dir, "probes.log"), "a") as log:
        for label, p in procs:
            try:
                out, _ = p.communicate(timeout=PROBE_TIMEOUT_S * 3 + 10)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
                out += " (probe hung)"
            results[label] = (p.returncode == 0, out.strip())
            log.write(f"{label}: rc={p.returncode} {out.strip()}\n")
    return results


def counters(ns):
    """{rule comment: packets} of the namespace's nftables counters."""
    data = json.loads(sh(netns_exec(ns, ["nft", "-j", "list", "ruleset"])))
    out = {}
    for item in data.get("nftables", []):
        rule = item.get("rule")
        if not rule or "comment" not in rule:
            continue
        for e in rule.get("expr", []):
            if isinstance(e, dict) and "counter" in e:
                out[rule["comment"]] = e["counter"]["packets"]
    return out


def start_listener(env, site):
    proc = harness.Process(env, f"listener-{site.name}",
                           netns_exec(site.lan_ns, [sys.executable, "-u",
                                                    os.path.join(env.tmp, "listener.py"),
                                                    LISTEN_PORT]),
                           stdout_pipe=True)
    _, line = proc.wait_line(0, 15)
    check(line == "ready", f"listener in the {site.name} LAN: {line!r}")
    site.listener = proc


def accepted(site):
    return [l for _, l in site.listener.lines if l.startswith("accepted")]


def start_proxy(env, site):
    tp = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
    check(os.path.exists(tp), "tinyproxy is not installed (scripts/install-deps.sh installs it)")
    conf = os.path.join(env.tmp, f"tinyproxy-{site.name}.conf")
    log = os.path.join(env.log_dir, f"tinyproxy-{site.name}.log")
    open(log, "a").close()
    os.chmod(log, 0o666)  # tinyproxy writes it as nobody
    lines = [f"Port {PROXY_PORT}", f"Listen {site.fw_ip}", f"Allow {site.net}.0/24",
             f"ConnectPort {RELAY_PORT}", f'LogFile "{log}"', "LogLevel Connect", "Timeout 120",
             "MaxClients 50", "DisableViaHeader Yes"]
    if os.geteuid() == 0:
        lines += ["User nobody", "Group nogroup"]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    proc = harness.Process(env, f"tinyproxy-{site.name}",
                           netns_exec(site.fw_ns, [tp, "-d", "-c", conf]))
    site.proxy_log = log
    return proc


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def rows(j, key):
    return j[key] if isinstance(j, dict) else j


def start_relayd(env, name, data_dir, ip, *extra):
    """`relayd run` in the internet namespace on ip:RELAY_PORT; waits until it listens."""
    proc = harness.Process(env, name, netns_exec(NS.inet, [
        harness.binary("relayd"), "run", "--data-dir", data_dir, "--listen", f"{ip}:{RELAY_PORT}",
        *extra]))

    def listening():
        check(proc.alive(), f"{name} exited with {proc.popen.returncode}:\n"
                            f"{proc.log_text()[-3000:]}")
        return f"listening on https://{ip}:{RELAY_PORT}" in proc.log_text()
    wait_until(listening, 30, f"{name} to listen on {ip}:{RELAY_PORT} in the internet namespace")
    return proc


def test(env):
    check(shutil.which("nft"), "nft is not installed (Debian package nftables; "
                               "scripts/install-deps.sh installs it)")
    os.chmod(env.tmp, 0o755)  # tinyproxy runs as nobody
    for name, src in (("listener.py", LISTENER), ("probe.py", PROBE), ("forwarder.py", FORWARDER)):
        with open(os.path.join(env.tmp, name), "w") as f:
            f.write(src)
    remove_stale_namespaces()
    build_topology(env)

    # The root relay, on the internet. Its `init` makes the service center's CA and one server
    # certificate for both relay addresses (and 127.0.0.1, which relayctl's forwarder in the
    # service-center LAN presents the root as); child-1 serves with copies of them.
    root_dir = os.path.join(env.tmp, "relayd-root")
    sh([harness.binary("relayd"), "init", "--data-dir", root_dir, "--host", ROOT_IP,
        "--host", CHILD_IP, "--host", "127.0.0.1", "--port", RELAY_PORT], timeout=60)
    ca = os.path.join(root_dir, "tls", "ca.pem")
    with open(os.path.join(root_dir, "admin.token")) as f:
        token = f.read().strip()
    root = start_relayd(env, "relayd-root", root_dir, ROOT_IP, "--relay-id", ROOT_ID)
    # The operator's view of each relay from inside the internet namespace (set-up and evidence
    # only: the service center itself reaches the root through its proxy, below).
    root_inet = types.SimpleNamespace(config_file=os.path.join(root_dir, "relayctl.json"))

    # child-1: a credential at the root, its own data directory, the root's PKI.
    child_token = os.path.join(env.tmp, f"{CHILD_ID}.token")
    env.relayctl_ok(root_inet, "relays", "add", CHILD_ID, "--token-file", child_token, "--all-customers",
                    netns=NS.inet)
    check(os.path.exists(child_token) and os.path.getsize(child_token) > 0, f"relayctl relays add wrote no token: {child_token}")
    child_dir = os.path.join(env.tmp, "relayd-child")
    sh([harness.binary("relayd"), "init", "--data-dir", child_dir, "--host", CHILD_IP,
        "--port", RELAY_PORT], timeout=60)
    for f in ("ca.pem", "server.pem", "server.key"):  # as harness.Relay.share_pki_of does
        shutil.copyfile(os.path.join(root_dir, "tls", f), os.path.join(child_dir, "tls", f))
    child = start_relayd(env, "relayd-child", child_dir, CHILD_IP, "--relay-id", CHILD_ID,
                         "--upstream", ROOT_URL, "--upstream-token-file", child_token,
                         "--upstream-ca", ca, "--sync-interval-s", 5)
    child_inet = types.SimpleNamespace(config_file=os.path.join(child_dir, "relayctl.json"))

    def child_at_root():
        rel = {r["id"]: r for r in rows(env.relayctl_json(root_inet, "relays", "list",
                                                          netns=NS.inet), "relays")}
        check(set(rel) == {CHILD_ID}, f"child relays at the root: {rel}")
        return rel[CHILD_ID] if rel[CHILD_ID].get("last_sync") else None
    wait_until(child_at_root, 30, f"{CHILD_ID} to sync with the root", interval=0.5)

    for site in (CUST, SC):
        start_listener(env, site)

    # 1. Without firewall rules every path is open: the routes exist, both ways, and each LAN
    # could talk TLS to either relay (the shared certificate covers both addresses).
    def direct_probes():
        return [(f"{site.name} LAN->{rid} direct", site.lan_ns, ip, RELAY_PORT, None, ca)
                for site in (CUST, SC) for rid, ip in ((CHILD_ID, CHILD_IP), (ROOT_ID, ROOT_IP))]
    before = probe_all(env, [
        ("inet->customer LAN", NS.inet, CUST.host_ip, LISTEN_PORT, None, None),
        ("inet->service-center LAN", NS.inet, SC.host_ip, LISTEN_PORT, None, None)]
        + direct_probes())
    for label, (ok, out) in before.items():
        check(ok, f"control check without firewall rules: {label} must connect, got {out}")
    for site in (CUST, SC):
        wait_until(lambda: len(accepted(site)) == 1, 10,
                   f"the {site.name} LAN listener to log the control connection")

    # 2. The firewalls.
    for site in (CUST, SC):
        path = os.path.join(env.tmp, f"nft-{site.name}.conf")
        with open(path, "w") as f:
            f.write(firewall_rules(site))
        sh(netns_exec(site.fw_ns, ["nft", "-f", path]))

    # 3. Now nothing gets in, and the LANs cannot go out (to either relay) except through their
    # proxy.
    def check_closed(when):
        after = probe_all(env, [
            ("inet->customer LAN", NS.inet, CUST.host_ip, LISTEN_PORT, None, None),
            ("inet->service-center LAN", NS.inet, SC.host_ip, LISTEN_PORT, None, None),
            ("inet->customer firewall", NS.inet, CUST.wan_fw, PROXY_PORT, None, None),
            ("inet->service-center firewall", NS.inet, SC.wan_fw, PROXY_PORT, None, None)]
            + direct_probes())
        for label, (ok, out) in after.items():
            check(not ok, f"{when}: {label} connected through the firewall: {out}")
        for site in (CUST, SC):
            check(len(accepted(site)) == 1,
                  f"{when}: the {site.name} LAN listener accepted an inbound connection: "
                  f"{accepted(site)}")
        return after

    c0 = {s.name: counters(s.fw_ns) for s in (CUST, SC)}
    closed = check_closed("with the firewall rules")
    for label, (_, out) in closed.items():
        print(f"blocked: {label}: {out}")
    for site in (CUST, SC):
        c1 = counters(site.fw_ns)
        for rule in ("inbound-to-lan", "lan-direct-out", "inbound-to-firewall"):
            check(c1.get(rule, 0) > c0[site.name].get(rule, 0),
                  f"the {site.name} firewall's {rule!r} rule dropped nothing: the probe failed "
                  f"for another reason (counters {c1})")

    # 4. The proxies on the firewall hosts: the way out, to the site's own relay only.
    for site in (CUST, SC):
        proxy = start_proxy(env, site)

        def through_proxy():
            check(proxy.alive(), f"tinyproxy ({site.name}) exited: {proxy.log_text()}")
            r = probe_all(env, [(f"{site.name} LAN->{site.relay_id} via proxy", site.lan_ns,
                                 site.relay_ip, RELAY_PORT, f"{site.fw_ip}:{PROXY_PORT}", ca)])
            return next(iter(r.values()))[0]
        wait_until(through_proxy, 20, f"a TLS connection from the {site.name} LAN to "
                                      f"{site.relay_id} through its proxy", interval=0.3)
    out0 = {s.name: counters(s.fw_ns).get("output-other", 0) for s in (CUST, SC)}
    via = probe_all(env, [
        ("customer LAN via proxy to a non-relay port", CUST.lan_ns, CHILD_IP, 22,
         f"{CUST.fw_ip}:{PROXY_PORT}", None),
        (f"customer LAN via proxy to {ROOT_ID}", CUST.lan_ns, ROOT_IP, RELAY_PORT,
         f"{CUST.fw_ip}:{PROXY_PORT}", None),
        (f"service-center LAN via proxy to {CHILD_ID}", SC.lan_ns, CHILD_IP, RELAY_PORT,
         f"{SC.fw_ip}:{PROXY_PORT}", None)])
    for label, (ok, out) in via.items():
        check(not ok, f"{label} connected: {out}")
    other = {CUST.name: SC, SC.name: CUST}
    wrong_tunnels = {}
    for site in (CUST, SC):  # the firewall stopped the proxy, not the proxy itself
        n = counters(site.fw_ns).get("output-other", 0)
        check(n > out0[site.name], f"the {site.name} firewall's 'output-other' rule dropped "
                                   f"nothing when its proxy tried {other[site.name].relay_id}")
        wrong_tunnels[site.name] = read(site.proxy_log).count(
            f"CONNECT {other[site.name].relay_ip}:{RELAY_PORT}")

    # relayctl's way out: the forwarder in the service-center LAN, through the proxy, to the root.
    fwd = harness.Process(env, "relayctl-forwarder", netns_exec(SC.lan_ns, [
        sys.executable, "-u", os.path.join(env.tmp, "forwarder.py"), FORWARDER_PORT, SC.fw_ip,
        PROXY_PORT, ROOT_IP, RELAY_PORT]), stdout_pipe=True)
    check(fwd.wait_line(0, 15)[1] == "ready", "the relayctl forwarder did not start")
    sc_conf = os.path.join(env.tmp, "sc-relayctl.json")
    with open(sc_conf, "w") as f:
        json.dump({"url": f"https://127.0.0.1:{FORWARDER_PORT}", "token": token, "ca": ca}, f)
    sc = types.SimpleNamespace(config_file=sc_conf)

    def ctl(*args, **kw):
        return env.relayctl_ok(sc, *args, netns=SC.lan_ns, **kw)

    def ctl_json(*args, **kw):
        return env.relayctl_json(sc, *args, netns=SC.lan_ns, **kw)

    def at_child(*args):
        return env.relayctl_json(child_inet, *args, netns=NS.inet)

    # 5. The device, registered at the root only, enrols with child-1 through the customer proxy.
    ctl("registrations", "add", "--serial", SERIAL, "--model", harness.MODEL, "--place", "Floor 3",
        "--customer", "ACME Corp", "--contact", "it@acme.example",
        "--enrollment-code", harness.ENROLLMENT_CODE)
    wait_until(lambda: SERIAL in {r["serial"] for r in rows(at_child("registrations", "list"),
                                                            "registrations")}, 30,
               f"{CHILD_ID} to receive the registration of {SERIAL} from the root", interval=0.5)
    sim = harness.Sim(env, types.SimpleNamespace(url=CHILD_URL, ca_file=ca), 1, proxy=CUST.proxy,
                      long_poll_wait_s=5, poll_interval_s=2)
    sim.argv = netns_exec(CUST.lan_ns, sim.argv)
    sim.start()
    wait_until(lambda: SERIAL in {d["serial"] for d in rows(at_child("devices"), "devices")}, 30,
               f"{SERIAL} to enrol with {CHILD_ID} through the customer proxy", interval=0.5)
    wait_until(lambda: SERIAL in {d["serial"] for d in rows(ctl_json("devices"), "devices")}, 30,
               f"{CHILD_ID} to send the enrolment of {SERIAL} up to the root", interval=0.5)
    sim.wait_status()
    check(sim.relay_url(SERIAL) == CHILD_URL,
          f"{SERIAL} talks to {sim.relay_url(SERIAL)!r}, not to {CHILD_ID} ({CHILD_URL})")
    wait_until(lambda: (child_at_root() or {}).get("devices") == 1, 30,
               f"the root to see {SERIAL} under {CHILD_ID}", interval=0.5)

    # The service center follows alerts live at the root, through its own proxy.
    watch = env.relayctl_spawn(sc, "relayctl-watch", "watch", "--kinds", "alert", "--count", "1",
                               "--json", "--timeout-s", "90", netns=SC.lan_ns)

    def sse_clients():
        text = sh(netns_exec(NS.inet, ["curl", "-sS", "--max-time", "5", "--cacert", ca,
                                       "-H", f"Authorization: Bearer {token}",
                                       f"{ROOT_URL}/metrics"]))
        return harness.metric_value(text, "printrelay_sse_clients") or 0
    wait_until(lambda: sse_clients() >= 1, 20, "relayctl watch to subscribe through the proxy",
               interval=0.3)

    # 6. A configure job, then a collect job that also shows the new setting, both created at
    # the root and carried down to the device by child-1.
    def run_job(*args):
        job_id = ctl("jobs", "create", *args).splitlines()[0].strip()
        check(job_id.startswith("j-"), f"jobs create {args} printed {job_id!r}")
        rc, out, err = env.relayctl(sc, "jobs", "wait", job_id, "--timeout-s", "40", timeout=60,
                                    netns=SC.lan_ns)
        check(rc == 0, f"job {job_id} ({' '.join(args)}): jobs wait exited {rc} (0 = succeeded): "
                       f"{out}{err}")
        detail = ctl_json("jobs", "show", job_id)
        job = detail["job"]
        check(job["state"] == "succeeded", f"job {job_id}: {job}")
        check(job.get("managing_relay") == f"{ROOT_ID} > {CHILD_ID}",
              f"job {job_id}: managing relay at the root {job.get('managing_relay')!r}")
        causes = [t.get("cause", "") for t in detail.get("transitions", [])]
        check(any(f"handed to child relay {CHILD_ID}" in c for c in causes),
              f"job {job_id}: transitions at the root {causes}")
        below = at_child("jobs", "show", job_id)
        check(below["job"]["state"] == "succeeded", f"job {job_id} at {CHILD_ID}: {below['job']}")
        check(any("received from parent relay" in t.get("cause", "")
                  for t in below.get("transitions", [])),
              f"job {job_id}: transitions at {CHILD_ID} {below.get('transitions')}")
        return job_id

    configure = run_job("configure", "--serial", SERIAL, "--set", "sleep_min=30")
    collect = run_job("collect", "--serial", SERIAL, "--data-sets", "counters,supplies,settings")
    reports = rows(ctl_json("reports", "--serial", SERIAL, "--limit", "1000"), "reports")
    tagged = {r["kind"]: r for r in reports if r.get("job_id") == collect}
    check(sorted(tagged) == ["counters", "settings", "supplies"],
          f"collect job {collect}: reports at the root {sorted(tagged)}")
    check(harness.find_key(tagged["settings"]["body"], "sleep_min") == 30,
          f"the settings report after configure job {configure}: {tagged['settings']['body']}")
    check(isinstance(harness.find_key(tagged["counters"]["body"], "total"), (int, float)),
          f"the counters report has no total: {tagged['counters']['body']}")

    # 7. The emergency report: a fatal service call under child-1 reaches the service center's
    # watch on the root.
    check(watch.lines == [], f"watch printed before the fault: {watch.lines}")
    sim.control(SERIAL, {"action": "fault", "code": "SC542", "sc_type": "A"})
    _, line = watch.wait_line(0, 30)
    ev = json.loads(line)
    alert = (ev.get("data") or {}).get("alert") or {}
    check(ev.get("event") == "alert" and (ev.get("data") or {}).get("serial") == SERIAL
          and alert.get("code") == "SC542" and alert.get("urgency") == "fatal",
          f"the watch event must be the fatal SC542 of {SERIAL}: {line}")
    open_alerts = rows(ctl_json("alerts"), "alerts")
    check([(a["serial"], a["code"]) for a in open_alerts] == [(SERIAL, "SC542")],
          f"open alerts: {open_alerts}")
    stored = rows(ctl_json("reports", "--serial", SERIAL, "--kind", "alert"), "reports")
    check(any(r.get("urgency") == "fatal" for r in stored), f"the alert report: {stored}")

    # 8. It all went through the proxies and child-1: each proxy's log shows tunnels to its own
    # relay and none to the other, the firewalls counted the proxies' connections out, the device
    # still talks to child-1, and still nothing came in.
    for site in (CUST, SC):
        log = read(site.proxy_log)
        n = log.count(f"CONNECT {site.relay_ip}:{RELAY_PORT}")
        check(n >= 1, f"the {site.name} proxy's log shows {n} tunnels to {site.relay_id}:\n"
                      f"{log[-2000:]}")
        tried = log.count(f"CONNECT {other[site.name].relay_ip}:{RELAY_PORT}")
        check(tried == wrong_tunnels[site.name],
              f"the {site.name} proxy was asked for {tried - wrong_tunnels[site.name]} more "
              f"tunnels to {other[site.name].relay_id} after the set-up probe:\n{log[-2000:]}")
        print(f"{site.name} proxy: {n} CONNECT tunnels to {site.relay_id} "
              f"{site.relay_ip}:{RELAY_PORT}")
        check(counters(site.fw_ns).get("proxy-to-relay", 0) > 0,
              f"the {site.name} firewall's proxy-to-relay rule counted no connection")
    check(any("200" in l for _, l in fwd.lines), f"forwarder: {fwd.lines}")
    check(sim.relay_url(SERIAL) == CHILD_URL, f"{SERIAL} moved to {sim.relay_url(SERIAL)!r}")
    check(root.alive() and child.alive(), "a relay exited during the test")
    check_closed("after the jobs and the alert")


def main():
    # ip, nft and sysctl live in /usr/sbin, which a non-login root shell may not have on PATH.
    path = os.environ.get("PATH", "").split(os.pathsep)
    path += [d for d in ("/usr/sbin", "/sbin") if d not in path]
    os.environ["PATH"] = os.pathsep.join(path)
    reason = netns_unavailable()
    if reason:
        if os.environ.get("PRINTRELAY_REQUIRE_NETNS") == "1":
            print(f"FAIL test_no_inbound_netns: cannot create network namespaces: {reason} "
                  "(PRINTRELAY_REQUIRE_NETNS=1)", file=sys.stderr)
            sys.exit(1)
        print(f"SKIPPED: cannot create network namespaces: {reason} "
              "(needs root: ip netns, veth, nftables)")
        sys.exit(77)
    harness.run(test)


if __name__ == "__main__":
    main()
