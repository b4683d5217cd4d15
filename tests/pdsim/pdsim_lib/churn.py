# SPDX-License-Identifier: MIT
"""A moving account: incident changes at a steady rate (--churn N per minute).

Each change is one of what happens to a real account between two reads: an
incident is created, acknowledged, resolved, has its urgency changed, is moved
to another service, or is merged into another open one. Changes go through
the model (model.Account), so the incidents, the indexes and the log
(GET /log_entries) stay true to one another, exactly as the REST writes do.
The choices come from a random stream of their own (seeded), the times from
the simulator's clock; which change happens when is not meant to be
reproducible across runs, only the account's consistency is.
"""

import random
import threading

KINDS = ("create", "acknowledge", "resolve", "urgency", "move", "merge")


class Churn:
    def __init__(self, sim, per_minute, seed):
        self.sim = sim
        self.rng = random.Random("churn-%d" % seed)
        self.per_minute = per_minute
        self.done = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None

    # -- the steady rate ----------------------------------------------------------
    def start(self):
        self._thread = threading.Thread(target=self._run, name="pdsim-churn", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._wake.set()

    def set_rate(self, per_minute):
        self.per_minute = per_minute
        self._wake.set()      # a new rate takes effect now, not after the old pause

    def _run(self):
        while not self._stop.is_set():
            rate = self.per_minute
            self._wake.clear()
            if rate <= 0:
                self._wake.wait()
                continue
            if not self._wake.wait(60.0 / rate) and not self._stop.is_set():
                self.step(1)

    # -- the changes --------------------------------------------------------------
    def step(self, count):
        """Makes `count` changes now; returns [{"kind", "incident_id", ...}]."""
        out = []
        a = self.sim.account
        with a.lock:
            for _ in range(count):
                change = self._one(a, self.sim.clock.now())
                if change is not None:
                    out.append(change)
                    self.done += 1
        return out

    def _actor(self, a):
        return a.tokens[a.manager_token].user_id

    def _open_ids(self, a):
        return sorted(i for ids in a.open_by_service.values() for i in ids)

    def _one(self, a, now):
        """One change, of a kind drawn at random; a kind that has nothing to act
        on (no triggered incident to acknowledge, ...) creates an incident instead."""
        kind = self.rng.choice(KINDS)
        open_ids = self._open_ids(a)
        services = sorted(s for s in a.services if not a.services[s].disabled)
        actor = self._actor(a)
        if kind == "acknowledge":
            triggered = [i for i in open_ids if a.incidents[i].status == "triggered"]
            if triggered:
                inc = a.incidents[self.rng.choice(triggered)]
                a.set_status(inc, "acknowledged", now, user_id=actor)
                return {"kind": kind, "incident_id": inc.id}
        elif kind == "resolve" and open_ids:
            inc = a.incidents[self.rng.choice(open_ids)]
            a.set_status(inc, "resolved", now, user_id=actor)
            return {"kind": kind, "incident_id": inc.id}
        elif kind == "urgency" and open_ids:
            inc = a.incidents[self.rng.choice(open_ids)]
            a.change_urgency(inc, "low" if inc.urgency == "high" else "high", now, actor)
            return {"kind": kind, "incident_id": inc.id, "urgency": inc.urgency}
        elif kind == "move" and open_ids and len(services) > 1:
            inc = a.incidents[self.rng.choice(open_ids)]
            old = inc.service_id
            target = self.rng.choice([s for s in services if s != old])
            a.move(inc, a.services[target], now, actor)
            return {"kind": kind, "incident_id": inc.id, "from": old, "to": target}
        elif kind == "merge" and len(open_ids) > 1:
            target_id, source_id = self.rng.sample(open_ids, 2)
            a.merge(a.incidents[target_id], [a.incidents[source_id]], now, actor)
            return {"kind": kind, "incident_id": source_id, "into": target_id}
        if not services:
            return None
        service = a.services[self.rng.choice(services)]
        inc = a.new_incident(service, "Churn incident %d" % (self.done + 1),
                             self.rng.choice(("high", "low")), now,
                             incident_key="churn/%d" % len(a.incidents),
                             agent=("service_reference", service.id), assignees=[actor])
        return {"kind": "create", "incident_id": inc.id, "service_id": service.id}
