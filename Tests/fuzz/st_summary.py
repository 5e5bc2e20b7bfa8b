#!/usr/bin/env python3
"""Summarises a schemathesis run of run_schemathesis.sh and checks what schemathesis cannot:

  * the ledger holds exactly the seed events plus the events of the 201 responses (nothing was
    recorded by an erroring request), counted by paging the admin feed;
  * no 5xx other than the contract's 503s, every error code one of the contract's;
  * the daemon's log has no "internal error" line.

    st_summary.py CALL_LOG BASE_URL ADMIN_KEY SEED_EVENTS DAEMON_LOG
"""

import collections
import json
import sys
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the work tree
sys.path.insert(0, __file__.rsplit("/", 1)[0])
from contract import SPEC_CODES  # noqa: E402


def count_events(base, key):
    total, after = 0, 0
    while True:
        req = urllib.request.Request(f"{base}/v1/events?after={after}&limit=1000", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            events = json.load(r)["events"]
        if not events:  # a page may end short of its limit (at 4 MiB): only an empty one ends the log
            return total
        total += len(events)
        after = events[-1]["position"]


def main():
    log, base, admin, seed, daemon_log = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    lines = [json.loads(x) for x in open(log)]
    problems = []
    per_op = collections.defaultdict(lambda: collections.Counter())
    per_key = collections.Counter()
    recorded = 0
    for x in lines:
        op = x["operation"] if x["method"] == x["operation"].split(" ")[0] else f"{x['method']} {x['operation'].split(' ', 1)[1]} (undeclared method)"
        label = str(x["status"]) + (f" {x['code']}" if x.get("code") else "")
        per_op[op][label] += 1
        per_key[x["key"]] += 1
        recorded += x.get("recorded", 0)
        if x["status"] >= 500 and not (x["status"] == 503 and x.get("code") in ("unavailable", "projection_lagging")):
            problems.append(f"{op}: {label}")
        if x.get("code") is not None and x["code"] not in SPEC_CODES:
            problems.append(f"{op}: code {x['code']!r} is not the contract's")
    declared = {op: c for op, c in per_op.items() if "undeclared" not in op}
    undeclared = {op: c for op, c in per_op.items() if "undeclared" in op}
    print(f"\n{'operation':52} {'requests':>8}  statuses")
    print("-" * 120)
    for op in sorted(declared):
        c = declared[op]
        print(f"{op:52} {sum(c.values()):>8}  " + ", ".join(f"{k}: {v}" for k, v in sorted(c.items())))
    if undeclared:
        n = sum(sum(c.values()) for c in undeclared.values())
        statuses = collections.Counter()
        for c in undeclared.values():
            statuses.update(c)
        print(f"{'undeclared-method probes (' + str(len(undeclared)) + ' method x path pairs)':52} {n:>8}  " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    print("-" * 120)
    print(f"{'total':52} {len(lines):>8}  by key: " + ", ".join(f"{k} {v}" for k, v in per_key.items()))
    # The feed serves the gap-free horizon, which an open transaction may hold back a moment.
    deadline = time.monotonic() + 10
    while True:
        events = count_events(base, admin)
        if events >= seed + recorded or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    print(f"events in the ledger: {events}; seed {seed} + events of 201 responses {recorded} = {seed + recorded}")
    if events != seed + recorded:
        problems.append(f"the ledger holds {events} events, but the seed and the 201 responses account for {seed + recorded}")
    with open(daemon_log, errors="replace") as f:
        internal = [line.strip() for line in f if "internal error" in line]
    problems += [f"daemon log: {line[:300]}" for line in internal[:10]]
    if problems:
        print(f"\nFAIL: {len(problems)} problem(s):")
        for p in problems:
            print("  -", p)
        return 1
    print("OK: no unexpected 5xx, every error code the contract's, nothing recorded by an erroring request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
