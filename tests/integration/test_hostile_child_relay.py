#!/usr/bin/env python3
"""A child relay is trusted only for what it serves (docs/security.md). The test plays a stolen
child relay whose credential serves the customer "ACME Corp": against the root it tries to take
over another customer's device, enrol its own customer's device without the device's enrollment
code, upload reports and job events and sightings for a device it does not serve, and pull that
device's jobs. Every attempt is refused with a reason in `rejected`, and the root reads back
unchanged: the device's credential works, no report, the job still waiting, no future last-seen.
The directory it receives holds only its own customer's devices. A device that did prove its code
is taken; once the service center revokes the child's credential, its syncs are refused."""

import os

import harness
from harness import check

OTHER = "BETA-0001"


def test(env):
    root = env.relay("root")
    root.start()
    root.register("SIM-0001")  # customer ACME Corp
    root.ok_json("POST", "/v1/registrations",
                 {"serial": OTHER, "model": harness.MODEL, "enrollment_code": "beta-code-77",
                  "customer": "Beta Ltd"})
    token_file = os.path.join(env.tmp, "child.token")
    env.relayctl_ok(root, "relays", "add", "gw-acme", "--customers", "ACME Corp",
                    "--token-file", token_file)
    check(oct(os.stat(token_file).st_mode & 0o777) == "0o600",
          f"the child's token file must be created 0600: {oct(os.stat(token_file).st_mode)}")
    child_token = open(token_file).read().strip()

    # The other customer's device is enrolled at the root and in use; a job waits for it.
    other_token = root.enroll(OTHER, code="beta-code-77")
    a = root.post("/v1/device/poll", {"state": "idle"}, token=other_token)
    check(a.status == 200, f"{OTHER} polls the root: {a!r}")
    job = root.ok_json("POST", "/v1/jobs", {"serial": OTHER, "kind": "collect",
                                             "params": {"data_sets": ["counters"]}})
    seen_before = root.ok_json("GET", f"/v1/devices/{OTHER}")["device"].get("last_seen")

    report = {"id": "r-forged-1", "kind": "counters", "created_at": "2026-11-23T09:15:00.000Z",
              "urgency": "normal", "body": {"total": 1}}
    forged_hash = "ab" * 32

    def device(serial, code=None):
        body = {"serial": serial, "model": harness.MODEL, "token_hash": forged_hash,
                "enrolled_at": 4102444800000}
        if code is not None:
            body["enrollment_code"] = code
        return body

    items = [
        {"seq": 1, "kind": "device", "serial": OTHER, "body": device(OTHER, "beta-code-77")},
        {"seq": 2, "kind": "reports", "serial": OTHER, "body": {"reports": [report]}},
        {"seq": 3, "kind": "event", "serial": OTHER,
         "body": {"job_id": job["id"], "event": {"event_id": "e-forged", "type": "succeeded",
                                                  "detail": {"report_ids": []}}}},
        {"seq": 4, "kind": "device", "serial": "SIM-0001", "body": device("SIM-0001")},
        {"seq": 5, "kind": "device", "serial": "SIM-0001",
         "body": device("SIM-0001", "not-the-code")},
    ]
    sync = {"version": "hostile", "serials": [OTHER, "SIM-0001"], "items": items,
            "sightings": [{"serial": OTHER, "last_seen": 4102444800000, "state": "idle"}]}
    a = root.post("/v1/relay/sync", sync, token=child_token)
    check(a.status == 200, f"the sync itself is answered: {a!r}")
    answer = a.json
    by_seq = {r["seq"]: r for r in answer["rejected"] if "seq" in r}
    check(sorted(by_seq) == [1, 2, 3, 4, 5],
          f"every forged item must be rejected with a reason: {answer['rejected']}")
    for seq, r in by_seq.items():
        check(r["error"].get("message"), f"item {seq} was rejected without a reason: {r}")
    check(any(r.get("sighting") == OTHER for r in answer["rejected"]),
          f"the sighting of {OTHER} must be rejected: {answer['rejected']}")
    check(any(r.get("served") == OTHER for r in answer["rejected"]),
          f"claiming to serve {OTHER} must be rejected: {answer['rejected']}")
    check(not [j for j in answer["jobs"] if j["serial"] == OTHER],
          f"{OTHER}'s job must not be handed to the child: {answer['jobs']}")
    directory = answer.get("directory", {})
    listed = {r["serial"] for r in directory.get("registrations", [])} | \
        {d["serial"] for d in directory.get("devices", [])}
    check(listed == {"SIM-0001"}, f"the directory must hold only ACME's devices: {listed}")

    # Nothing changed at the root.
    a = root.post("/v1/device/poll", {"state": "idle"}, token=other_token)
    check(a.status == 200, f"{OTHER}'s own credential must still work: {a!r}")
    check(not [r for r in root.reports(OTHER) if r["id"] == "r-forged-1"],
          "a forged report was stored")
    check(root.job(job["id"])["job"]["state"] == "waiting",
          f"a forged event changed {OTHER}'s job: {root.job(job['id'])['job']}")
    seen_after = root.ok_json("GET", f"/v1/devices/{OTHER}")["device"].get("last_seen")
    check(seen_after is None or seen_after < "2100", f"a future sighting was taken: {seen_after}")
    check(seen_before is None or seen_after >= seen_before, "last_seen went back")

    # An enrolment the device proved (the child saw its code) is taken, on the root's clock.
    good = {"seq": 6, "kind": "device", "serial": "SIM-0001",
            "body": device("SIM-0001", harness.ENROLLMENT_CODE)}
    a = root.post("/v1/relay/sync", {"version": "hostile", "items": [good]}, token=child_token)
    check(a.status == 200 and not [r for r in a.json["rejected"] if r.get("seq") == 6],
          f"a proved enrolment of its own customer's device must be taken: {a!r}")
    dev = root.ok_json("GET", "/v1/devices/SIM-0001")["device"]
    check(dev.get("enrolled_at", "9999") < "2100", f"the child's clock was taken: {dev}")

    # The service center revokes the child: it is refused at once.
    env.relayctl_ok(root, "relays", "revoke", "gw-acme")
    a = root.post("/v1/relay/sync", {"version": "hostile"}, token=child_token)
    check(a.status == 401, f"a revoked child credential must be refused: {a!r}")


if __name__ == "__main__":
    harness.run(test)
