#!/usr/bin/env python3
"""Out of file descriptors, relayd backs off instead of spinning: started under
`prlimit --nofile=64:64` with --max-connections 1000 (so the descriptor limit, not the connection
cap, is what runs out) and --header-timeout-s 120 (so nothing frees a descriptor meanwhile),
100 idle TCP connections leave accept() failing with EMFILE. The relay logs that once, uses
little CPU in that state (under 1 s of user+system time in 3 s: a retry loop without a pause
would take all 3), keeps running, and serves /healthz again once the connections are closed."""

import os
import socket
import time

import harness
from harness import check, wait_until

FD_LIMIT = 64
CONNECTIONS = 100  # more than the descriptors relayd has
MARKER = "cannot accept connections"


def cpu_s(pid):
    """User plus system CPU time of `pid` so far, in seconds (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_side_connections(port):
    """Connections whose local end is `port` that the server has not closed yet: ESTABLISHED (01)
    or CLOSE_WAIT (08, the client closed, relayd has not) in /proc/net/tcp."""
    count = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] in ("01", "08"):
                count += 1
    return count


def test(env):
    relay = env.relay()
    relay.command_prefix = ["prlimit", f"--nofile={FD_LIMIT}:{FD_LIMIT}", "--"]
    relay.start("--max-connections", "1000", "--header-timeout-s", "120")
    pid = relay.proc.popen.pid
    with open(f"/proc/{pid}/limits") as f:
        limits = f.read()
    check(any(line.startswith("Max open files") and line.split()[3:5] == [str(FD_LIMIT)] * 2
              for line in limits.splitlines()),
          f"relayd does not run with {FD_LIMIT} file descriptors:\n{limits}")
    check(relay.get("/healthz", token=None).status == 200, "/healthz before the flood")
    # relayd closes the /healthz connections when it reads their end; until it has, one of their
    # descriptors could come free during the flood and end the episode early (a second log line).
    wait_until(lambda: server_side_connections(relay.port) == 0, 30,
               "relayd to close the connections made before the flood")

    held = []
    try:
        for _ in range(CONNECTIONS):
            # The kernel completes the TCP handshake from the listen queue, accepted or not.
            held.append(socket.create_connection(("127.0.0.1", relay.port), timeout=10))
        wait_until(lambda: MARKER in relay.proc.log_text(), 30,
                   f"relayd to log '{MARKER}' with {CONNECTIONS} connections and {FD_LIMIT} fds")

        before = cpu_s(pid)
        time.sleep(3)  # the measuring window, not a wait for a state
        used = cpu_s(pid) - before
        print(f"CPU while accept() fails: {used:.2f} s in 3 s")
        check(used < 1.0, f"relayd used {used:.2f} s of CPU in 3 s while out of descriptors "
                          "(a busy accept loop)")
        log = relay.proc.log_text()
        check("accepting connections again" not in log,
              "relayd logged that it accepts again while every descriptor was taken")
        check(log.count(MARKER) == 1, f"'{MARKER}' must be logged once, found {log.count(MARKER)}")
        check(relay.proc.alive(), "relayd exited when out of descriptors")
    finally:
        for s in held:
            s.close()

    relay.wait_healthy(60, "/healthz once the connections are closed")
    check("accepting connections again" in relay.proc.log_text(),
          "relayd does not log that it accepts connections again")


if __name__ == "__main__":
    harness.run(test)
