#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sim_seeds.py OUTDIR [--limit N] - seed inputs for the fuzz targets from
the simulator's answers (tests/pdsim, demo scenario).

Starts pdsim, asks it what the plugin asks PagerDuty (every endpoint the
read side parses, and requests that draw error bodies: bad token, faults
of every kind) and writes each answer's body, byte for byte, to
OUTDIR/<target>/sim-<what>.json, where <target> is the fuzz target that
reads such a body (parse_incidents, error, ...). --limit bounds list
lengths (default 3: small seeds run fast). Standard library only.
"""

import argparse
import datetime
import os
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pdsim"))
from pdsim_client import SimProcess  # noqa: E402


def raw_get(sim, path, token=None, query=None):
    """(status, body bytes) of one GET."""
    if query:
        path += "?" + urllib.parse.urlencode(query, doseq=True)
    headers = {"Accept": "application/vnd.pagerduty+json;version=2"}
    if token is not None:
        headers["Authorization"] = "Token token=" + token
    conn = sim.connection()
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def sim_time_plus(iso, seconds):
    """The simulator's ISO 8601 time iso plus seconds, in UTC."""
    t = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    t = t.astimezone(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--limit", type=int, default=3)
    args = ap.parse_args()
    written = 0

    def save(target, what, body):
        nonlocal written
        d = os.path.join(args.outdir, target)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "sim-%s.json" % what), "wb") as f:
            f.write(body)
        written += 1

    with SimProcess("demo") as sim:
        lim = {"limit": args.limit}
        reads = [
            ("parse_user", "users_me", "/users/me", {}),
            ("parse_teams", "teams", "/teams", lim),
            ("parse_services", "services", "/services", lim),
            ("parse_incidents", "incidents", "/incidents",
             dict(lim, **{"statuses[]": ["triggered", "acknowledged"]})),
            ("parse_schedules", "schedules", "/schedules", lim),
            ("parse_oncalls", "oncalls", "/oncalls", lim),
            ("parse_policies", "policies", "/escalation_policies", lim),
            ("parse_log_entries", "log_entries", "/log_entries",
             dict(lim, **{"include[]": ["incidents"]})),
            ("parse_maintenance_windows", "maintenance_windows",
             "/maintenance_windows", dict(lim, filter="open")),
        ]
        for target, what, path, query in reads:
            status, body = raw_get(sim, path, sim.token, query)
            if status != 200:
                raise SystemExit("sim_seeds: GET %s -> %s" % (path, status))
            save(target, what, body)
        # One schedule with its final_schedule (GET /schedules/{id}).
        schedules = sim.api("/schedules", limit=1)["schedules"]
        if schedules:
            status, body = raw_get(sim, "/schedules/" + schedules[0]["id"],
                                   sim.token, {"since": "2026-01-01T00:00:00Z",
                                               "until": "2026-01-02T00:00:00Z"})
            if status == 200:
                save("parse_schedule", "schedule", body)
        # Shift-based schedules: the list (GET /v3/schedules), and each
        # one's detail with its final_schedule over two days from the
        # simulator's now (overlapping shifts and empty_member gaps), and
        # once without final_schedule.
        status, body = raw_get(sim, "/v3/schedules", sim.token, lim)
        if status != 200:
            raise SystemExit("sim_seeds: GET /v3/schedules -> %s" % status)
        save("parse_schedules_v3", "schedules_v3", body)
        now = sim.control("GET", "clock")["now"]
        until = sim_time_plus(now, 2 * 86400)
        for i, ref in enumerate(sim.api("/v3/schedules")["schedules"]):
            path = "/v3/schedules/" + ref["id"]
            status, body = raw_get(sim, path, sim.token,
                                   {"since": now, "until": until,
                                    "include[]": "final_schedule"})
            if status != 200:
                raise SystemExit("sim_seeds: GET %s -> %s" % (path, status))
            save("parse_schedule_v3", "schedule_v3-%d" % i, body)
            if i == 0:
                status, body = raw_get(sim, path, sim.token)
                if status == 200:
                    save("parse_schedule_v3", "schedule_v3-nofinal", body)
        # Error bodies: a bad token, and every fault kind with a body.
        save("error", "401", raw_get(sim, "/services", "u+notAValidToken00000")[1])
        faults = [("status", {"status": 503}), ("html", {"status": 502}),
                  ("garbage", {}), ("notjson401", {}),
                  ("ratelimit", {"body": True})]
        for kind, extra in faults:
            sim.control("POST", "faults", dict(extra, kind=kind, count=1,
                                               path="/services"))
            save("error", "fault-" + kind,
                 raw_get(sim, "/services", sim.token)[1])
    print("sim_seeds: %d seeds in %s" % (written, args.outdir))


if __name__ == "__main__":
    main()
