#!/usr/bin/env python3
"""An independent verifier of Placement Ledger's signed Merkle seals, written from docs/proofs.md
alone (Python standard library plus `cryptography` for Ed25519).

    python3 Tests/verifier/verify_seals.py .build/debug/placementd

Starts its own daemon (demo mode, embedded cluster, sealing every 2 s), appends between seals so
the tree grows, then checks with nothing but what the daemon serves:

  * every seal's Ed25519 signature over the RFC 8785 bytes of the seal without `signature`, with
    the public key from GET /v1/seals/keys, and the key id derived from that key;
  * the chain: each seal's `previous` is the SHA-256 of the seal before it;
  * each seal's root is the RFC 9162 root of the leaf hashes of the first `tree_size` events of
    the feed, and the last of them is at `up_to_position`;
  * the RFC 9162 consistency proof between every pair of seals (GET /v1/seals/consistency);
  * and that each single change (a field of the seal, a proof node, the key, a root) makes the
    check fail.

Exits 0 when all hold, 1 naming what failed.
"""

import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FAILURES = []


def check(condition, what):
    if not condition:
        FAILURES.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


# --- RFC 8785 for the values a seal holds (integers, strings, null) --------------------------------

def canonical(value):
    """RFC 8785 (JCS) for objects of integers, strings and null: keys sorted by UTF-16 code units,
    no white space, strings escaped as JSON requires and nothing more."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return "{" + ",".join(canonical(k) + ":" + canonical(v) for k, v in items) + "}"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise ValueError(f"not a seal value: {value!r}")


def signed_bytes(seal):
    return canonical({k: v for k, v in seal.items() if k != "signature"}).encode("utf-8")


def digest(seal):
    return hashlib.sha256(signed_bytes(seal)).hexdigest()


def key_id(public_key):
    return "sk-" + hashlib.sha256(public_key).hexdigest()[:16]


def signature_ok(seal, public_key):
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(base64.b64decode(seal["signature"]), signed_bytes(seal))
        return True
    except (InvalidSignature, ValueError):
        return False


# --- RFC 9162 §2.1 ---------------------------------------------------------------------------------

def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k << 1 < len(leaves):
        k <<= 1
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def verify_consistency(first, second, first_hash, second_hash, proof):
    """RFC 9162 §2.1.4.2, step by step."""
    if first == second:
        return not proof and first_hash == second_hash
    if first <= 0 or first > second:
        return False
    proof = list(proof)
    if first & (first - 1) == 0:
        proof.insert(0, first_hash)
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


# --- the daemon ------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(base, path, key=None, body=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base + path, data=body, headers=headers, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.loads(response.read())


def start_daemon(binary, port, data):
    process = subprocess.Popen(
        [binary, "--demo", "--demo-postings", "20", "--data-dir", data, "--listen", f"127.0.0.1:{port}", "--log-level", "warning",
         "--seal-interval", "2"],
        stdout=subprocess.PIPE, stderr=None, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                raise SystemExit(f"placementd exited with {process.returncode} before printing its keys")
            continue
        match = re.match(r"^\s+platform\s+(plk_[0-9a-f_]+)", line)
        if match:
            return process, match.group(1)
    raise SystemExit("placementd printed no platform key within 300 s")


def append_postings(base, key, count):
    events = [{"id": str(uuid.uuid4()), "type": "posted", "posting_id": f"p-verifier-{uuid.uuid4().hex[:10]}",
               "occurred_at": "2026-03-01T09:00:00Z",
               "data": {"company_id": "c-verifier", "title": "Verifier", "openings": 1,
                        "stipend": {"kind": "fixed", "amount_minor": 1000, "currency": "USD"}}} for _ in range(count)]
    request(base, "/v1/events", key, json.dumps(events).encode())


def wait_for_seal(base, after):
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            seal = request(base, "/v1/seals/latest")["seal"]
            if seal["seal"] > after:
                return seal
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
        time.sleep(0.3)
    raise SystemExit(f"no seal after #{after} within 60 s")


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tempfile.mkdtemp(prefix="placement-verifier-")
    process, platform = start_daemon(sys.argv[1], port, data)
    try:
        # Three seals over a growing tree (the demo history, then two more batches).
        last = wait_for_seal(base, 0)["seal"]
        for count in (300, 40):
            append_postings(base, platform, count)
            last = wait_for_seal(base, last)["seal"]
        seals = [request(base, f"/v1/seals/{n}")["seal"] for n in range(1, last + 1)]
        keys = {k["key_id"]: base64.b64decode(k["public_key"]) for k in request(base, "/v1/seals/keys")["keys"]}
        check(all(key_id(public) == kid for kid, public in keys.items()), "each key id is derived from its public key")
        # The feed (a platform key reads it), page by page until an empty page.
        events, after = [], 0
        while True:
            page = request(base, f"/v1/events?after={after}&limit=1000", platform)["events"]
            if not page:
                break
            events += page
            after = page[-1]["position"]
        leaves = [leaf_hash(bytes.fromhex(e["hash"])) for e in events]
        previous = None
        for seal in seals:
            n = seal["seal"]
            public = keys.get(seal["key_id"])
            check(public is not None, f"seal {n}: its key {seal['key_id']} is listed")
            check(public is not None and signature_ok(seal, public), f"seal {n}: the signature verifies")
            check(seal["previous"] == previous, f"seal {n}: previous is the digest of seal {n - 1}")
            size = seal["tree_size"]
            check(size <= len(events) and events[size - 1]["position"] == seal["up_to_position"], f"seal {n}: the tree ends at up_to_position")
            check(root(leaves[:size]).hex() == seal["root"], f"seal {n}: the root is the RFC 9162 root of the first {size} events")
            previous = digest(seal)
        # Consistency between every pair.
        for a in seals:
            for b in seals:
                if a["seal"] > b["seal"]:
                    continue
                reply = request(base, f"/v1/seals/consistency?from={a['seal']}&to={b['seal']}")
                proof = [bytes.fromhex(h) for h in reply["proof"]]
                check(reply["from"] == a and reply["to"] == b, f"consistency {a['seal']}..{b['seal']}: the seals as served")
                check(verify_consistency(a["tree_size"], b["tree_size"], bytes.fromhex(a["root"]), bytes.fromhex(b["root"]), proof),
                      f"consistency {a['seal']}..{b['seal']} verifies")
                if proof:
                    bad = list(proof)
                    bad[-1] = bytes([bad[-1][0] ^ 1]) + bad[-1][1:]
                    check(not verify_consistency(a["tree_size"], b["tree_size"], bytes.fromhex(a["root"]), bytes.fromhex(b["root"]), bad),
                          f"consistency {a['seal']}..{b['seal']}: a changed node fails")
        # Each single change is caught.
        seal, public = seals[-1], keys[seals[-1]["key_id"]]
        for field, value in (("tree_size", seal["tree_size"] + 1), ("root", "00" * 32), ("up_to_position", seal["up_to_position"] - 1),
                             ("sealed_at", "2030-01-01T00:00:00Z"), ("previous", None)):
            check(not signature_ok(dict(seal, **{field: value}), public), f"a changed {field} breaks the signature")
        check(not signature_ok(seal, hashlib.sha256(b"another key").digest()), "another public key does not verify the seal")
        check(root(leaves[: seal["tree_size"] - 1]).hex() != seal["root"], "a tree without the last event has another root")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        subprocess.run(["rm", "-rf", data], check=False)
    if FAILURES:
        print(f"\n{len(FAILURES)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print(f"seals: {len(seals)} signed seals, their chain, roots over {seals[-1]['tree_size']} events and "
          f"{len(seals) * (len(seals) + 1) // 2} consistency proofs verified independently; every single change refused")


if __name__ == "__main__":
    main()
