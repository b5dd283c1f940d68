#!/usr/bin/env python3
"""A device configured with two relays keeps working when the first one dies (kill -9): it moves
to the second (enrolling there with its code), runs a job created on the second relay, and its
reports, panel messages included, keep flowing to the second relay."""

import harness
from harness import check, wait_until

SERIAL = "SIM-0001"


def test(env):
    a = env.relay("relay-a")
    b = env.relay("relay-b")
    # One service center, one CA: B serves a certificate from A's quick-start CA. (Two
    # quick-start CAs in one bundle do not work: both are named "printrelay quick-start CA" and
    # carry no key identifiers, so OpenSSL checks B's certificate against A's key.)
    b.share_pki_of(a)
    a.start("--relay-id", "relay-a")
    b.start("--relay-id", "relay-b")
    sim = harness.start_fleet(env, [a, b], 1)

    check(sim.relay_url(SERIAL) == a.url, f"the device must start on the first relay {a.url}: "
                                          f"{sim.relay_url(SERIAL)}")
    check(SERIAL not in {d["serial"] for d in b.devices()},
          "the device talked to the second relay while the first was up")
    # It is working with A: a job made there succeeds.
    job_a = env.relayctl_ok(a, "jobs", "create", "collect", "--serial", SERIAL,
                            "--data-sets", "counters").splitlines()[0].strip()
    rc, out, err = env.relayctl(a, "jobs", "wait", job_a, "--timeout-s", "30", timeout=60)
    check(rc == 0, f"job on relay A: exit {rc}: {out}{err}")

    a.kill9()

    job_b = env.relayctl_ok(b, "jobs", "create", "collect", "--serial", SERIAL,
                            "--data-sets", "counters,supplies").splitlines()[0].strip()
    rc, out, err = env.relayctl(b, "jobs", "wait", job_b, "--timeout-s", "45", timeout=80)
    check(rc == 0, f"a job created on relay B after A died must succeed: exit {rc}: {out}{err}")
    kinds = sorted(r["kind"] for r in b.reports(SERIAL) if r.get("job_id") == job_b)
    check(kinds == ["counters", "supplies"], f"relay B has the job's reports: {kinds}")
    check(b.job(job_b)["job"]["managing_relay"] == "relay-b", "job B's managing relay")

    wait_until(lambda: sim.relay_url(SERIAL) == b.url, 10,
               f"status.json of {SERIAL} to show it uses {b.url}")

    # Reports keep flowing to B: a panel message is stored there and the panel shows B's reply.
    before = len(b.reports(SERIAL))
    sim.control(SERIAL, {"action": "message", "text": "paper tray 2 squeaks"})
    msg = wait_until(lambda: [r for r in b.reports(SERIAL, kind="message")
                              if r["body"].get("text") == "paper tray 2 squeaks"], 20,
                     "the panel message to reach relay B")
    check(len(msg) == 1, f"the message was stored {len(msg)} times")
    reply = wait_until(lambda: (sim.status(SERIAL) or {}).get("last_panel_reply"), 10,
                       "the panel reply on the device")
    check("relay-b" in reply.get("description", "") and reply.get("reception_no"),
          f"the panel reply must come from relay B: {reply}")
    check(len(b.reports(SERIAL)) > before, "no new reports on relay B")

    # The device stays on B (A is still dead) and its outbox drains there.
    wait_until(lambda: sim.outbox_size(SERIAL) == 0, 20, "the outbox to drain to relay B")
    check(sim.relay_url(SERIAL) == b.url, "the device left relay B")


if __name__ == "__main__":
    harness.run(test)
