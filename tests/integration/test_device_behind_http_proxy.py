#!/usr/bin/env python3
"""A device that reaches the relay only through an HTTP proxy (CONNECT tunnel, as in a customer
LAN with outbound HTTPS through a proxy) enrols, runs a collect job and reports. tinyproxy's log
shows the CONNECTs to the relay's port: the traffic went through it. relayctl --proxy goes the
same way (a service center behind its own proxy)."""

import os
import shutil
import socket

import harness
from harness import check, wait_until

SERIAL = "SIM-0001"


def start_tinyproxy(env, relay):
    tp = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
    check(os.path.exists(tp), "tinyproxy is not installed (Debian package tinyproxy)")
    d = os.path.join(env.tmp, "tinyproxy")
    os.makedirs(d)
    os.chmod(env.tmp, 0o755)  # tinyproxy drops to nobody when started as root
    os.chmod(d, 0o777)
    port = harness.free_port()
    log = os.path.join(d, "tinyproxy.log")
    conf = os.path.join(d, "tinyproxy.conf")
    lines = [f"Port {port}", "Listen 127.0.0.1", "Allow 127.0.0.1", f"ConnectPort {relay.port}",
             f"LogFile \"{log}\"", "LogLevel Connect", "Timeout 120", "MaxClients 50",
             "DisableViaHeader Yes"]
    if os.geteuid() == 0:
        lines += ["User nobody", "Group nogroup"]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    proc = env.spawn("tinyproxy", [tp, "-d", "-c", conf])

    def listening():
        check(proc.alive(), f"tinyproxy exited: {proc.log_text()}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0
    wait_until(listening, 15, "tinyproxy to listen")
    return proc, port, log


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def test(env):
    relay = env.relay()
    relay.start()
    proxy_proc, port, log = start_tinyproxy(env, relay)
    proxy = f"http://127.0.0.1:{port}"

    sim = harness.start_fleet(env, relay, 1, proxy=proxy)
    tunnel = f"CONNECT 127.0.0.1:{relay.port}"
    wait_until(lambda: tunnel in read(log), 10, f"tinyproxy's log to show {tunnel}")

    job = env.relayctl_ok(relay, "jobs", "create", "collect", "--serial", SERIAL,
                          "--data-sets", "counters,supplies").splitlines()[0].strip()
    rc, out, err = env.relayctl(relay, "jobs", "wait", job, "--timeout-s", "30", timeout=60)
    check(rc == 0, f"collect job through the proxy: exit {rc}: {out}{err}")
    kinds = sorted(r["kind"] for r in relay.reports(SERIAL) if r.get("job_id") == job)
    check(kinds == ["counters", "supplies"], f"job reports: {kinds}")
    check(sim.relay_url(SERIAL) == relay.url, f"status.json relay_url: {sim.relay_url(SERIAL)}")

    # Every connection the device made is a tunnel through the proxy: kill the proxy and the
    # device can no longer reach the relay (a direct path would keep the outbox draining).
    tunnels = read(log).count(tunnel)
    check(tunnels >= 1, f"no CONNECT in the proxy log:\n{read(log)[-2000:]}")
    print(f"{tunnels} CONNECT tunnel(s) to 127.0.0.1:{relay.port} in tinyproxy's log")
    # The service center can sit behind a proxy too: relayctl --proxy tunnels through it.
    rc, out, err = env.relayctl(relay, "--proxy", proxy, "devices", "--json")
    check(rc == 0 and SERIAL in out, f"relayctl through the proxy: exit {rc}: {out}{err}")
    check(read(log).count(tunnel) > tunnels, "relayctl --proxy did not go through tinyproxy")

    proxy_proc.kill9()
    rc, out, err = env.relayctl(relay, "--proxy", proxy, "devices")
    check(rc != 0 and "cannot reach" in err, f"relayctl with its proxy down: exit {rc}: {out}{err}")
    before = len(relay.reports(SERIAL))
    sim.control(SERIAL, {"action": "message", "text": "behind the proxy"})
    wait_until(lambda: (sim.outbox_size(SERIAL) or 0) >= 1, 10,
               "the message to wait in the outbox while the proxy is down")
    check(len(relay.reports(SERIAL)) == before, "a report reached the relay without the proxy")


if __name__ == "__main__":
    harness.run(test)
