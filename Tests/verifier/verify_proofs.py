#!/usr/bin/env python3
"""An independent verifier of Placement Ledger's placement proofs, written from docs/proofs.md
alone (Python standard library plus `cryptography` for Ed25519).

    python3 Tests/verifier/verify_proofs.py .build/debug/placementd

Starts its own daemon (demo mode, embedded cluster, sealing every 2 s; placementctl is taken from
the same directory), waits for a signed seal, then fetches the proof
(GET /v1/placements/{posting_id}/{student_id}/proof) of every placement the university key lists
(read with min_position at the first seal's end: right after start the read models may not reflect
the demo history yet), plus, with the platform key, one of each status and stipend kind the
university has none of and one with the company key, and checks each by every step of "Checking a
placement proof", with nothing but the proof and GET /v1/seals/keys:

  * the seal and the stream's head: for each, its key listed, the key id derived from the key, the
    key not retired before the seal's `sealed_at` (one retired at or after it counts), the Ed25519
    signature (the seal's over the RFC 8785 bytes of the seal without `signature`; the head's over
    those of {"event_hash", "key_id", "posting_id" (the proof's), "seal", "statement":
    "stream_head", "version"}); the head's `seal` is the seal's number;
  * the stream: versions 1..n, positions increasing, every hash recomputed (format 2 from the
    disclosed envelopes and salts, or the withheld events' commitment and subject; format 1 by its
    own rule), disclosed events of the posting and of the student only, every withheld event of
    format 2 with a subject (never null: the posting's own events are disclosed) that is not the
    student's tag;
  * the end: as many events as `stream_head.version`, and `inclusion.event_hash` is
    `stream_head.event_hash`;
  * the inclusion: the last hash is `inclusion.event_hash`, its position within the seal, and the
    RFC 9162 §2.1.3.2 audit path gives the seal's root;
  * the figures: every member of `placement` recomputed from the disclosed events by the rules of
    step 4 (stream order for "latest", a reversal cancels the earlier payments it names, hourly
    minutes clamped to 0..max_hours×60, integers only), and no other member (JSON with a key twice
    is refused).

Against the ground truth a platform key reads (GET /v1/postings/{posting_id}/events) it also checks
that each proof's hashes are the stream's, that it holds the stream up to its last sealed event with
exactly the posting's and the student's events disclosed, that its stream_head names that event
(version, hash) and the proof's seal, and that its text names no other student of the posting,
their university, event ids or payment references; `placementctl proof verify FILE --keys
KEYS.json` must accept each proof (exit 0).

Then it tampers with two proofs with payments (one of the demo's, and the one below), one change
at a time: a disclosed field, an event of the student removed (a gap, or versions renumbered: the
signed head's end, or with the head re-signed by a trusted key of ours to match, the chain), the
stream's last event removed, and the one the stream head is there for: the proof cut short before
the student's last event, with the genuine RFC 9162 inclusion path of the event before it, computed
here from the global feed (GET /v1/events, the seal's first tree_size events, checked against its
root) and the figures those events give (checked to pass every check but the signed head's); one
of their events withheld under their own tag, another student's commitment or subject, the subject
salt, positions, the proof's posting (the head is signed for it) and student, the audit path, the
leaf index, the event hash, the stream head's version, seal number, event hash and signature, the
head signed by an untrusted key (not listed, under the ledger's key id, under an id not derived
from it, retired before the seal), the head re-signed by a trusted key of ours with another seal
number, version or event hash, the seal's signature and fields, another key (under the seal's key
id, under its own), a key retired before the seal, a seal signed by a trusted key of ours whose
tree ends before the proved event, a proof forged whole under such a key with a gap, swapped
positions or another student's or posting's event disclosed, each figure of the placement, a
figure given twice in the JSON, an extra member in the placement (placementctl must name it: "the
placement has members a placement does not have: NAME"). Where the hashes would catch a change of
events, the figures are made to match so that only the step meant can. This verifier must refuse
each at the step that checks it, and placementctl must refuse each too (exit 1, a message on
stderr); controls (a key retired after or at the seal, an extra key, the seal and its stream head
re-signed or the proof forged unchanged under a trusted key of ours, the stream head alone
re-signed by a trusted key of ours, also by one retired at the seal's time, an unknown member
beside the proof's) must pass both.

Last, the rejections: another university's (or company's) placement and no placement 404
`not_found`, no key or an unknown key 401, and a placement appended right after a seal 409
`not_sealed` (skipped with a note if a seal keeps covering it first). Once sealed, that placement's
proof (its events meet the rules' corners: times given with offsets, strings with escapes, hours
over the cap and a negative correction, a revision, a reversed latest payment made earlier in time,
a withdrawal after acceptance as its last event; another student of another university on the
posting) verifies with the figures expected.

Exits 0 when all hold, 1 naming what failed.
"""

import base64
import copy
import datetime
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
import urllib.parse
import urllib.request
import uuid

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

FAILURES = []


def check(condition, what):
    if not condition:
        FAILURES.append(what)
        print(f"FAIL: {what}", file=sys.stderr)
    return condition


# --- RFC 8785 --------------------------------------------------------------------------------------

def jcs_string(text):
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def jcs(value):
    """RFC 8785 (JCS) for JSON of strings, integers, booleans, null, arrays and objects: object keys
    sorted by UTF-16 code units, no white space, integers as digits, strings escaped as JCS says
    (only `"`, `\\` and control characters; \\b \\f \\n \\r \\t short, others \\u00xx) and the rest as
    UTF-8. A non-integer number is refused (nothing the ledger hashes holds one)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return jcs_string(value)
    if isinstance(value, list):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(jcs_string(k) + ":" + jcs(v) for k, v in items) + "}"
    raise ValueError(f"not a value the ledger hashes: {value!r}")


def jcs_bytes(value):
    return jcs(value).encode("utf-8")


def sha256(data):
    return hashlib.sha256(data).digest()


# --- RFC 3339 times --------------------------------------------------------------------------------

TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")


def instant(text):
    """An RFC 3339 time as integer nanoseconds since the epoch (exact for any fraction we meet)."""
    match = TIME.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    y, mo, d, h, mi, s, fraction, zone = match.groups()
    moment = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=datetime.timezone.utc)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    seconds = (moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(seconds=1)
    return seconds * 10**9 + int(((fraction or "") + "000000000")[:9])


def rfc3339(nanoseconds):
    """The ledger's form: UTC, `Z`, six fraction digits when the microseconds are not zero."""
    seconds, rest = divmod(nanoseconds, 10**9)
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    micro = rest // 1000
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{micro:06d}" if micro else "") + "Z"


# --- RFC 9162 §2.1 ---------------------------------------------------------------------------------

def leaf_hash(data):
    return sha256(b"\x00" + data)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def inclusion_root(leaf_index, tree_size, leaf, path):
    """RFC 9162 §2.1.3.2, step by step: the root the audit path gives, or None when the path does not
    fit the tree."""
    if leaf_index < 0 or leaf_index >= tree_size:
        return None
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


# --- checking a placement proof --------------------------------------------------------------------

class Refused(Exception):
    def __init__(self, step, reason):
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


def need(condition, step, reason):
    if not condition:
        raise Refused(step, reason)


def hex_bytes(value, step, what, length=32):
    need(isinstance(value, str) and re.fullmatch(r"[0-9a-f]*", value) is not None and len(value) == 2 * length,
         step, f"{what} is not {length} bytes of lower-case hex")
    return bytes.fromhex(value)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def derived_key_id(public_key):
    return "sk-" + hashlib.sha256(public_key).hexdigest()[:16]


def seal_bytes(seal):
    return jcs_bytes({k: v for k, v in seal.items() if k != "signature"})


def trusted_key(step, what, key_id, keys, sealed_at, signed, signature):
    """The key of step 1 (and "Checking a seal" 1-2): listed under `key_id`, its id derived from it,
    not retired before `sealed_at` (the seal's), and its Ed25519 signature over `signed` verifies."""
    candidates = [k for k in keys if isinstance(k, dict) and k.get("key_id") == key_id]
    need(candidates, step, f"{what} names key {key_id!r}, which is not among the keys")
    problems = []
    for key in candidates:
        try:
            public = base64.b64decode(key.get("public_key", ""), validate=True)
        except (ValueError, TypeError):
            problems.append("a public key is not base64")
            continue
        if key.get("algorithm") != "ed25519" or len(public) != 32:
            problems.append("the key is not a raw Ed25519 key")
            continue
        if derived_key_id(public) != key["key_id"]:
            problems.append(f"key id {key['key_id']} is not derived from its public key ({derived_key_id(public)})")
            continue
        if key.get("retired_at") is not None and instant(key["retired_at"]) < sealed_at:
            problems.append(f"key {key['key_id']} was retired at {key['retired_at']}, before the seal was made")
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(signature, validate=True), signed)
            return key
        except (InvalidSignature, ValueError, TypeError):
            problems.append(f"{what}'s Ed25519 signature does not verify with key {key['key_id']}")
    raise Refused(step, "; ".join(problems))


def check_seal(seal, keys):
    """Step 1, the seal."""
    need(isinstance(seal, dict), "seal", "no seal")
    for field in ("seal", "tree_size", "up_to_position"):
        need(is_int(seal.get(field)), "seal", f"seal.{field} is not an integer")
    need(isinstance(seal.get("signature"), str), "seal", "the seal has no signature")
    return trusted_key("seal", "the seal", seal.get("key_id"), keys, instant(seal.get("sealed_at")), seal_bytes(seal), seal["signature"])


def stream_head_bytes(head, posting_id):
    """What `stream_head` signs: the RFC 8785 bytes of its statement about the proof's posting."""
    return jcs_bytes({"event_hash": head["event_hash"], "key_id": head["key_id"], "posting_id": posting_id, "seal": head["seal"],
                      "statement": "stream_head", "version": head["version"]})


def check_stream_head(proof, keys):
    """Step 1, the stream's head: signed by a key that counts for the seal (listed, id derived, not
    retired before the seal's `sealed_at`), about the proof's posting, as of the proof's seal."""
    head, seal = proof.get("stream_head"), proof["seal"]
    need(isinstance(head, dict), "stream_head", "no stream_head")
    need(isinstance(proof.get("posting_id"), str), "stream_head", "no posting_id")
    need(is_int(head.get("seal")) and is_int(head.get("version")), "stream_head", "stream_head.seal or .version is not an integer")
    hex_bytes(head.get("event_hash"), "stream_head", "stream_head.event_hash")
    need(isinstance(head.get("key_id"), str) and isinstance(head.get("signature"), str), "stream_head",
         "stream_head has no key_id or signature")
    trusted_key("stream_head", "stream_head", head["key_id"], keys, instant(seal.get("sealed_at")),
                stream_head_bytes(head, proof["posting_id"]), head["signature"])
    need(head["seal"] == seal["seal"], "stream_head", f"stream_head speaks of seal #{head['seal']}, the proof's seal is #{seal['seal']}")


def check_stream(proof):
    """Step 2: every hash recomputed; returns the hashes (hex) in version order."""
    posting, student = proof.get("posting_id"), proof.get("student_id")
    need(isinstance(posting, str) and isinstance(student, str), "stream", "no posting_id or student_id")
    events = proof.get("events")
    need(isinstance(events, list) and events, "stream", "no events")
    subject_salt = hex_bytes(proof.get("subject_salt"), "stream", "subject_salt")
    tag = sha256(subject_salt + student.encode("utf-8")).hex()
    prev, last_position, hashes = "", None, []
    for i, entry in enumerate(events):
        need(isinstance(entry, dict), "stream", f"events[{i}] is not an object")
        version, position = entry.get("version"), entry.get("position")
        recorded_at, fmt = entry.get("recorded_at"), entry.get("hash_format")
        need(is_int(version) and version == i + 1, "stream", f"events[{i}].version is {version!r}, not {i + 1}")
        need(is_int(position) and (last_position is None or position > last_position), "stream",
             f"version {version}: position {position!r} does not increase")
        need(isinstance(recorded_at, str), "stream", f"version {version}: no recorded_at")
        need(fmt in (1, 2) and is_int(fmt), "stream", f"version {version}: hash_format {fmt!r}")
        last_position = position
        if "event" in entry:
            event = entry["event"]
            need(isinstance(event, dict) and isinstance(event.get("data"), dict), "stream",
                 f"version {version}: the event is not an envelope")
            need(event.get("posting_id") == posting, "stream", f"version {version}: an event of posting {event.get('posting_id')!r}")
            data = event["data"]
            need("student_id" not in data or data["student_id"] == student, "stream",
                 f"version {version}: a disclosed event of another student")
            if fmt == 2:
                salt = hex_bytes(entry.get("salt"), "stream", f"version {version}: salt")
                commitment = sha256(salt + jcs_bytes(event)).hex()
                subject = tag if "student_id" in data else None
            else:
                record = dict(event, hash_format=1, position=position, prev_hash=prev, recorded_at=recorded_at, version=version)
                prev = hashlib.sha256(jcs_bytes(record)).hexdigest()
                hashes.append(prev)
                continue
        else:
            need(fmt == 2, "stream", f"version {version}: a withheld event of hash format {fmt}")
            commitment = hex_bytes(entry.get("commitment"), "stream", f"version {version}: commitment").hex()
            need(entry.get("subject") is not None, "stream",
                 f"version {version}: a withheld event with no subject (the posting's own events are disclosed)")
            subject = hex_bytes(entry.get("subject"), "stream", f"version {version}: subject").hex()
            need(subject != tag, "stream", f"version {version}: one of the student's own events is withheld")
        record = {"commitment": commitment, "hash_format": 2, "position": position, "posting_id": posting, "prev_hash": prev,
                  "recorded_at": recorded_at, "subject": subject, "version": version}
        prev = hashlib.sha256(jcs_bytes(record)).hexdigest()
        hashes.append(prev)
    return hashes


def check_end(proof):
    """Step 3, the end: the stream shown ends where the ledger signed that it does as of the seal."""
    head, inclusion = proof["stream_head"], proof.get("inclusion")
    need(len(proof["events"]) == head["version"], "end",
         f"the stream shown ends at version {len(proof['events'])}, the ledger signed that it ends at version {head['version']} "
         f"as of seal #{head['seal']}")
    need(isinstance(inclusion, dict) and inclusion.get("event_hash") == head["event_hash"], "end",
         "inclusion.event_hash is not the stream_head's event_hash")


def check_inclusion(proof, hashes):
    """Step 3, inclusion."""
    seal, inclusion = proof["seal"], proof.get("inclusion")
    need(isinstance(inclusion, dict), "inclusion", "no inclusion proof")
    event_hash = hex_bytes(inclusion.get("event_hash"), "inclusion", "event_hash")
    need(hashes[-1] == event_hash.hex(), "inclusion", "the stream's last hash is not inclusion.event_hash")
    need(proof["events"][-1]["position"] <= seal["up_to_position"], "inclusion",
         f"the last event (position {proof['events'][-1]['position']}) is after the seal's up_to_position {seal['up_to_position']}")
    leaf_index, path = inclusion.get("leaf_index"), inclusion.get("path")
    need(is_int(leaf_index), "inclusion", "leaf_index is not an integer")
    need(isinstance(path, list), "inclusion", "path is not a list")
    nodes = [hex_bytes(p, "inclusion", "a path node") for p in path]
    computed = inclusion_root(leaf_index, seal["tree_size"], leaf_hash(event_hash), nodes)
    need(computed is not None and computed.hex() == seal.get("root"), "inclusion",
         f"the audit path of leaf {leaf_index} does not give the root of the seal's {seal['tree_size']} leaves")


PLACEMENT_FIELDS = ("posting_id", "student_id", "company_id", "university_id", "title", "status", "settled", "stipend_kind",
                    "currency", "minutes_logged", "cap_minor", "earned_minor", "paid_minor", "balance_minor", "rating",
                    "selected_at", "delivered_at", "reviewed_at", "last_paid_at")


def figures(proof):
    """Step 4: the placement the disclosed events give, by the rules of docs/proofs.md."""
    p = {field: None for field in PLACEMENT_FIELDS}
    p["posting_id"], p["student_id"] = proof["posting_id"], proof["student_id"]
    stipend, minutes, payments = None, 0, []
    verdict, awaiting_review, withdrawn = None, False, False
    for entry in proof["events"]:
        if "event" not in entry:
            continue
        event = entry["event"]
        kind, data, at = event.get("type"), event["data"], event.get("occurred_at")
        if kind == "posted":
            p["company_id"], p["title"], stipend = data.get("company_id"), data.get("title"), data.get("stipend")
        elif kind == "applied":
            p["university_id"] = data.get("university_id")
        elif kind == "selected":
            p["selected_at"] = at
        elif kind == "hours_logged":
            need(is_int(data.get("minutes")), "figures", "hours_logged without integer minutes")
            minutes += data["minutes"]
        elif kind == "delivered":
            p["delivered_at"], awaiting_review = at, True
        elif kind == "reviewed":
            p["rating"], p["reviewed_at"], verdict, awaiting_review = data.get("rating"), at, data.get("accepted"), False
        elif kind == "paid":
            need(is_int(data.get("amount_minor")), "figures", "paid without an integer amount")
            payments.append({"ref": data.get("payment_ref"), "amount": data["amount_minor"], "reversed": False})
            p["last_paid_at"] = at
        elif kind == "payment_reversed":
            # It reverses the payments before it (in version order) that it names.
            for payment in payments:
                if payment["ref"] == data.get("payment_ref"):
                    payment["reversed"] = True
        elif kind == "withdrawn":
            withdrawn = True
        elif kind != "closed":
            raise Refused("figures", f"an event type the rules do not know: {kind!r}")
    need(isinstance(stipend, dict), "figures", "no posted event with a stipend")
    p["stipend_kind"], p["currency"] = stipend.get("kind"), stipend.get("currency")
    p["minutes_logged"] = minutes
    if stipend.get("kind") == "fixed":
        need(is_int(stipend.get("amount_minor")), "figures", "a fixed stipend without an integer amount")
        p["cap_minor"] = stipend["amount_minor"]
        p["earned_minor"] = stipend["amount_minor"] if verdict is True else 0
    elif stipend.get("kind") == "hourly":
        rate, max_hours = stipend.get("rate_minor"), stipend.get("max_hours")
        need(is_int(rate) and is_int(max_hours), "figures", "an hourly stipend without integer rate and hours")
        p["cap_minor"] = rate * max_hours
        p["earned_minor"] = (rate * max(0, min(minutes, max_hours * 60)) + 30) // 60
    else:
        raise Refused("figures", f"a stipend of kind {stipend.get('kind')!r}")
    p["paid_minor"] = sum(payment["amount"] for payment in payments if not payment["reversed"])
    p["balance_minor"] = p["earned_minor"] - p["paid_minor"]
    p["settled"] = p["earned_minor"] > 0 and p["balance_minor"] == 0
    if withdrawn:
        p["status"] = "withdrawn"
    elif awaiting_review:
        p["status"] = "delivered"
    elif verdict is not None:
        p["status"] = "accepted" if verdict else "revision_requested"
    else:
        p["status"] = "in_progress"
    return p


def check_figures(proof):
    expected, served = figures(proof), proof.get("placement")
    need(isinstance(served, dict), "figures", "no placement")
    extra, missing = sorted(set(served) - set(PLACEMENT_FIELDS)), sorted(set(PLACEMENT_FIELDS) - set(served))
    need(not extra, "figures", f"the placement has members a placement does not have: {', '.join(extra)}")
    need(not missing, "figures", f"the placement lacks members: {', '.join(missing)}")
    for field in PLACEMENT_FIELDS:
        a, b = served[field], expected[field]
        need(type(a) is type(b) and a == b, "figures", f"placement.{field} is {a!r}, the events give {b!r}")
    return expected


def strict_object(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a duplicate key in an object: {sorted(k for k in keys if keys.count(k) > 1)[0]!r}")
    return dict(pairs)


def refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def load(text):
    """A proof's text as JSON, refusing what could be read two ways (a key twice, NaN)."""
    try:
        return json.loads(text, object_pairs_hook=strict_object, parse_constant=refuse_constant)
    except ValueError as error:
        raise Refused("format", f"not JSON that reads one way: {error}")


def verify_proof(proof, keys_document, end=True):
    """All of "Checking a placement proof"; returns the stream's hashes, raises Refused(step, why).
    The steps are named "format" (the JSON), "seal" and "stream_head" (step 1), "stream" (2), "end"
    (3: the events against the signed head) and "inclusion" (3), "figures" (4). `end=False` leaves
    out step 3's comparison with the signed head, only to show that it alone refuses a proof cut
    short (the other checks still run, the head's signature included)."""
    try:
        need(isinstance(proof, dict) and proof.get("proof_format") == 1, "format", "not a proof of format 1")
        keys = keys_document.get("keys") if isinstance(keys_document, dict) else None
        need(isinstance(keys, list), "seal", "no keys")
        check_seal(proof.get("seal"), keys)
        check_stream_head(proof, keys)
        hashes = check_stream(proof)
        if end:
            check_end(proof)
        check_inclusion(proof, hashes)
        check_figures(proof)
        return hashes
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeError) as error:
        raise Refused("format", f"malformed: {error!r}")


# --- the daemon ------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, path, key=None, body=None):
    """(status, raw body) of a request; errors are answers too."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base + path, data=body, headers=headers, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def request(base, path, key=None, body=None):
    status, raw = call(base, path, key, body)
    if status not in (200, 201):
        raise SystemExit(f"{'POST' if body is not None else 'GET'} {path}: {status} {raw[:300]!r}")
    return json.loads(raw)


def start_daemon(binary, port, data):
    process = subprocess.Popen(
        [binary, "--demo", "--data-dir", data, "--listen", f"127.0.0.1:{port}", "--log-level", "warning", "--seal-interval", "2"],
        stdout=subprocess.PIPE, stderr=None, text=True)
    keys, deadline = {}, time.time() + 300
    while time.time() < deadline and "admin" not in keys:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                raise SystemExit(f"placementd exited with {process.returncode} before printing its keys")
            continue
        match = re.match(r"^\s+(platform|admin)\s+(plk_[0-9a-f_]+)", line)
        if match:
            keys[match.group(1)] = match.group(2)
        match = re.match(r"^\s+(company|university)\s+(\S+)\s+(plk_[0-9a-f_]+)", line)
        if match:
            keys[match.group(1)] = match.group(3)
            keys[match.group(1) + "_id"] = match.group(2)
    missing = {"platform", "company", "university", "admin"} - set(keys)
    if missing:
        process.kill()
        raise SystemExit(f"placementd printed no {', '.join(sorted(missing))} key within 300 s")
    return process, keys


def wait_ready(base):
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if call(base, "/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("placementd not ready within 120 s")


def latest_seal(base):
    status, raw = call(base, "/v1/seals/latest")
    if status == 404:
        return None
    if status != 200:
        raise SystemExit(f"GET /v1/seals/latest: {status} {raw[:300]!r}")
    return json.loads(raw)["seal"]


def wait_for_seal(base, after):
    deadline = time.time() + 60
    while time.time() < deadline:
        seal = latest_seal(base)
        if seal is not None and seal["seal"] > after:
            return seal
        time.sleep(0.1)
    raise SystemExit(f"no seal after #{after} within 60 s")


def wait_for_cover(base, position):
    """The first seal seen that covers `position`."""
    deadline = time.time() + 60
    while time.time() < deadline:
        seal = latest_seal(base)
        if seal is not None and seal["up_to_position"] >= position:
            return seal
        time.sleep(0.1)
    raise SystemExit(f"no seal covers position {position} within 60 s")


def paged(base, path, key, field):
    rows, cursor = [], None
    while True:
        page = request(base, path + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else ""), key)
        rows += page[field]
        cursor = page.get("next_cursor")
        if not cursor:
            return rows


# --- what the ledger serves, checked ---------------------------------------------------------------

def mentions(text, token):
    """Whether the identifier `token` occurs in `text` as a whole identifier (s-4 is not in s-41)."""
    return re.search(r"(?<![A-Za-z0-9._-])" + re.escape(token) + r"(?![A-Za-z0-9._-])", text) is not None


def private_of_others(stream, student, university):
    """What of the other students of a posting must not show in a proof: their ids, their
    universities (unless the proof's own), their events' ids and their payment references."""
    others = [e for e in stream if "student_id" in e["data"] and e["data"]["student_id"] != student]
    names = {("student", e["data"]["student_id"]) for e in others}
    names |= {("university", e["data"]["university_id"]) for e in others
              if e["type"] == "applied" and e["data"]["university_id"] != university}
    names |= {("event id", e["id"]) for e in others}
    names |= {("payment_ref", e["data"]["payment_ref"]) for e in others if "payment_ref" in e["data"]}
    return names


def check_against_ledger(name, proof, text, hashes, stream, served_placement):
    """The proof against the ground truth a platform key reads: the same hashes, the stream up to its
    last sealed event, the right events disclosed and nothing of the other students in its text."""
    seal = proof["seal"]
    sealed = [e for e in stream if e["position"] <= seal["up_to_position"]]
    check(len(proof["events"]) == len(sealed), f"{name}: the proof holds the stream's {len(sealed)} sealed events ({len(proof['events'])})")
    head = proof["stream_head"]
    check(sealed and head["version"] == sealed[-1]["version"] and head["event_hash"] == sealed[-1]["hash"]
          and head["seal"] == seal["seal"],
          f"{name}: stream_head is the stream's last sealed event (version {head['version']}, seal #{head['seal']})")
    for entry, event, computed in zip(proof["events"], sealed, hashes):
        check(computed == event["hash"], f"{name}: version {entry['version']}'s hash is the ledger's")
        own = "student_id" not in event["data"] or event["data"]["student_id"] == proof["student_id"]
        if own:
            envelope = {k: v for k, v in event.items() if k not in ("position", "version", "recorded_at", "hash", "hash_format")}
            check(entry.get("event") == envelope,
                  f"{name}: version {entry['version']} (the posting's or the student's) is disclosed as recorded")
        else:
            check("event" not in entry and "salt" not in entry, f"{name}: version {entry['version']} (another student's) is withheld")
    for what, token in sorted(private_of_others(stream, proof["student_id"], proof["placement"].get("university_id"))):
        check(not mentions(text, token), f"{name}: the proof names another student's {what} {token}")
    if served_placement is not None and stream[-1]["position"] <= seal["up_to_position"]:
        check(proof["placement"] == served_placement, f"{name}: the placement as of the seal is the one GET /v1/placements serves")


# --- tampering -------------------------------------------------------------------------------------

def flip_hex(h):
    return ("0" if h[0] != "0" else "1") + h[1:]


def restamp(text, seconds):
    return rfc3339(instant(text) + seconds * 10**9)


def own_key():
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, public


def key_entry(public, key_id=None, retired_at=None):
    return {"key_id": key_id or derived_key_id(public), "algorithm": "ed25519", "public_key": base64.b64encode(public).decode(),
            "created_at": "2026-01-01T00:00:00Z", "retired_at": retired_at}


def public_of(private):
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign_head(proof, private, key_id=None, **changes):
    """The proof with its stream_head's members changed as given and signed by `private` (under
    `key_id`, else the key's own id)."""
    bad = copy.deepcopy(proof)
    head = {k: v for k, v in bad["stream_head"].items() if k != "signature"}
    head.update({"key_id": key_id or derived_key_id(public_of(private)), **changes})
    head["signature"] = base64.b64encode(private.sign(stream_head_bytes(head, bad["posting_id"]))).decode()
    bad["stream_head"] = head
    return bad


def resign(proof, private, head=None, **changes):
    """The proof under a seal of ours: its fields changed as given, signed by `private`, and the
    stream_head signed by the same key under the same key id (its members changed as `head` says,
    its seal the seal's number)."""
    bad = copy.deepcopy(proof)
    seal = {k: v for k, v in bad["seal"].items() if k != "signature"}
    seal.update({"key_id": derived_key_id(public_of(private)), **changes})
    seal["signature"] = base64.b64encode(private.sign(jcs_bytes(seal))).decode()
    bad["seal"] = seal
    return sign_head(bad, private, key_id=seal["key_id"], **{"seal": seal["seal"], **(head or {})})


def rehash(proof):
    """The format 2 hashes of a proof's events, checking nothing (to forge with)."""
    tag = sha256(bytes.fromhex(proof["subject_salt"]) + proof["student_id"].encode()).hex()
    prev, hashes = "", []
    for e in proof["events"]:
        if "event" in e:
            commitment = sha256(bytes.fromhex(e["salt"]) + jcs_bytes(e["event"])).hex()
            subject = tag if "student_id" in e["event"]["data"] else None
        else:
            commitment, subject = e["commitment"], e["subject"]
        prev = hashlib.sha256(jcs_bytes({"commitment": commitment, "hash_format": 2, "position": e["position"],
                                         "posting_id": proof["posting_id"], "prev_hash": prev, "recorded_at": e["recorded_at"],
                                         "subject": subject, "version": e["version"]})).hexdigest()
        hashes.append(prev)
    return hashes


def forge(proof, private, mutate=None):
    """A proof made whole again after `mutate`, as a lying ledger holding a trusted key could: the
    chain re-hashed, a one-leaf tree of its last event, the placement the events give, a seal of
    that tree signed by `private`. Only the checks that do not rest on the hashes can catch it."""
    bad = copy.deepcopy(proof)
    if mutate:
        mutate(bad)
    last = rehash(bad)[-1]
    bad["inclusion"] = {"leaf_index": 0, "event_hash": last, "path": []}
    try:
        bad["placement"] = figures(bad)
    except (Refused, KeyError, TypeError, ValueError):
        pass
    return resign(bad, private, head={"version": len(bad["events"]), "event_hash": last}, tree_size=1,
                  root=leaf_hash(bytes.fromhex(last)).hex(), up_to_position=max(e["position"] for e in bad["events"]))


def tree_root(leaves):
    """RFC 9162 §2.1.1 MTH over leaf hashes."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(tree_root(leaves[:k]), tree_root(leaves[k:]))


def audit_path(m, leaves):
    """RFC 9162 §2.1.3.1 PATH(m, D[n]) over leaf hashes."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return audit_path(m, leaves[:k]) + [tree_root(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [tree_root(leaves[:k])]


def sealed_feed(base, key, seal):
    """The ledger's events a seal covers, from the global feed (GET /v1/events, gap-free position
    order), checked against the seal: its tree_size events, the last at up_to_position, their root."""
    events, after = [], 0
    while len(events) < seal["tree_size"]:
        page = request(base, f"/v1/events?after={after}&limit=1000", key)["events"]
        if not page:
            break
        events += page
        after = page[-1]["position"]
    events = events[:seal["tree_size"]]
    check(len(events) == seal["tree_size"] and events[-1]["position"] == seal["up_to_position"],
          f"the feed holds seal #{seal['seal']}'s {seal['tree_size']} events, the last at up_to_position")
    check(tree_root([leaf_hash(bytes.fromhex(e["hash"])) for e in events]).hex() == seal["root"],
          f"the feed's first {seal['tree_size']} events give seal #{seal['seal']}'s root")
    return events


def tamperings(proof, keys_document, feed):
    """(name, the step that must refuse it, proof, keys, what placementctl's message must say or
    None) for each single change. `feed`: the events the proof's seal covers, in position order."""
    student, tag_salt = proof["student_id"], bytes.fromhex(proof["subject_salt"])
    tag = sha256(tag_salt + student.encode()).hex()
    events = proof["events"]

    # The student's payment that counts: the latest paid event not reversed.
    reversed_refs = {e["event"]["data"]["payment_ref"] for e in events if "event" in e and e["event"]["type"] == "payment_reversed"}
    paid = max(i for i, e in enumerate(events)
               if "event" in e and e["event"]["type"] == "paid" and e["event"]["data"]["payment_ref"] not in reversed_refs)
    # An event of the student inside the stream (removing the stream's last event is a case of its
    # own, refused by the signed head): a payment if one is, the one that counts if it can.
    inside = [i for i, e in enumerate(events[:-1]) if "event" in e and "student_id" in e["event"]["data"]]
    inside_paid = [i for i in inside if events[i]["event"]["type"] == "paid"]
    removed = paid if paid < len(events) - 1 else (inside_paid or inside)[-1]
    withheld = [i for i, e in enumerate(events) if "event" not in e]
    cases = []

    # A key of ours: trusted in some cases (listed alone, or beside the ledger's keys), to reach the
    # checks after the signatures; untrusted (not listed) in others.
    private, public = own_key()
    trusted = {"keys": [key_entry(public)]}
    beside = {"keys": keys_document["keys"] + [key_entry(public)]}

    def case(name, step, mutate=None, keys=None, base=None, consistent=True, said=None):
        """`consistent`: the placement is then made what the changed events give, so that only the
        step named can catch the change. `said`: what placementctl's message must contain."""
        bad = copy.deepcopy(base if base is not None else proof)
        if mutate:
            mutate(bad)
        if consistent:
            try:
                bad["placement"] = figures(bad)
            except (Refused, KeyError, TypeError, ValueError):
                pass
        cases.append((name, step, bad, keys if keys is not None else keys_document, said))
        return bad

    def changed(mutate):
        bad = copy.deepcopy(proof)
        mutate(bad)
        return bad

    def set_amount(p):
        p["events"][paid]["event"]["data"]["amount_minor"] += 1
    case("the amount of the student's paid event (figures to match)", "inclusion", set_amount)

    def set_date(p):
        p["events"][paid]["event"]["occurred_at"] = restamp(p["events"][paid]["event"]["occurred_at"], 1)
    case("the occurred_at of the student's paid event", "inclusion", set_date)

    def remove_gap(p):
        del p["events"][removed]
    case(f"the student's {events[removed]['event']['type']} event removed (a gap in versions, figures to match)", "stream", remove_gap)

    def remove_renumbered(p):
        del p["events"][removed]
        for i, e in enumerate(p["events"]):
            e["version"] = i + 1
    case(f"the student's {events[removed]['event']['type']} event removed, versions renumbered (figures to match)", "end",
         remove_renumbered)
    case(f"the student's {events[removed]['event']['type']} event removed, versions renumbered (figures as served)", "end",
         remove_renumbered, consistent=False)
    case(f"the student's {events[removed]['event']['type']} event removed, versions renumbered, the head re-signed to match by "
         "a trusted key of ours (figures to match)", "inclusion",
         base=sign_head(changed(remove_renumbered), private, version=len(events) - 1), keys=beside)

    def remove_last(p):
        del p["events"][-1]
    case(f"the stream's last event ({'withheld' if 'event' not in events[-1] else events[-1]['event']['type']}) removed "
         "(figures to match)", "end", remove_last)

    # The important one: the proof cut short before the student's last event, with the genuine
    # inclusion path of the event before it in the seal's tree (computed here from the feed) and the
    # figures those events give: every check but the signed head's holds (checked below).
    own = [i for i, e in enumerate(events) if "event" in e and "student_id" in e["event"]["data"]]
    cut_at = own[-1]
    leaves = [leaf_hash(bytes.fromhex(e["hash"])) for e in feed]
    index_of = {e["position"]: i for i, e in enumerate(feed)}

    def cut_short(p):
        del p["events"][cut_at:]
        earlier = check_stream(p)[-1]
        leaf = index_of[p["events"][-1]["position"]]
        check(feed[leaf]["hash"] == earlier, "the feed's event at the cut proof's last position has the stream's hash")
        p["inclusion"] = {"leaf_index": leaf, "event_hash": earlier, "path": [h.hex() for h in audit_path(leaf, leaves)]}
    cut = case(f"cut short before the student's last event ({events[cut_at]['event']['type']}, version {cut_at + 1}) with the "
               f"genuine inclusion path of version {cut_at} (figures to match)", "end", cut_short)
    refused = ours(cut, keys_document, end=False)
    check(refused is None, f"the proof cut short before version {cut_at + 1} passes every check but the signed head's "
                           f"(so only that one refuses it): {refused}")
    check(cut["placement"] != proof["placement"], "the proof cut short gives other figures than the whole one")
    if refused is None:
        differ = [f for f in PLACEMENT_FIELDS if cut["placement"][f] != proof["placement"][f]]
        print(f"  cut short before version {cut_at + 1} (leaf {cut['inclusion']['leaf_index']} of {len(feed)}, "
              f"{len(cut['inclusion']['path'])} path nodes, other {', '.join(differ)}): every check but the signed head's accepts it")
    case("cut short as above, the head's version and event_hash changed to match (its signature then fails)", "stream_head",
         base=cut, mutate=lambda p: p["stream_head"].update(version=cut_at, event_hash=p["inclusion"]["event_hash"]))

    def hide_own(p):
        e = p["events"][paid]
        commitment = sha256(bytes.fromhex(e.pop("salt")) + jcs_bytes(e.pop("event"))).hex()
        e.update(commitment=commitment, subject=tag)
    case("the student's paid event withheld under their own tag (hash unchanged, figures to match)", "stream", hide_own)
    case("the student's paid event withheld under their own tag (hash unchanged, figures as served)", "stream", hide_own, consistent=False)

    def hide_own_other_subject(p):
        hide_own(p)
        p["events"][paid]["subject"] = sha256(b"someone else").hex()
    case("the student's paid event withheld under another subject", "inclusion", hide_own_other_subject)

    closed = [i for i, e in enumerate(events) if "event" in e and e["event"]["type"] == "closed"]
    if closed:
        def hide_closed(p):
            e = p["events"][closed[0]]
            commitment = sha256(bytes.fromhex(e.pop("salt")) + jcs_bytes(e.pop("event"))).hex()
            e.update(commitment=commitment, subject=None)
        case("the posting's closed event withheld with no subject (hash unchanged)", "stream", hide_closed)

    if withheld:
        def other_commitment(p):
            p["events"][withheld[0]]["commitment"] = flip_hex(p["events"][withheld[0]]["commitment"])
        case("another student's commitment", "inclusion", other_commitment)

        def other_subject(p):
            p["events"][withheld[0]]["subject"] = flip_hex(p["events"][withheld[0]]["subject"])
        case("another student's subject", "inclusion", other_subject)

    def swap_positions(p):
        a, b = p["events"][0], p["events"][1]
        a["position"], b["position"] = b["position"], a["position"]
    case("two positions swapped", "stream", swap_positions)

    def format_one(p):
        p["events"][paid]["hash_format"] = 1
    case("the student's paid event said to be hash format 1", "inclusion", format_one)

    def other_student(p):
        p["student_id"] = "s-nobody"
    case("the proof's student_id", "stream", other_student)

    def other_posting(p):
        p["posting_id"] = "p-nothing"
    case("the proof's posting_id (the head is signed for the posting)", "stream_head", other_posting)
    case("the proof's posting_id, the head re-signed for it by a trusted key of ours", "stream",
         base=sign_head(changed(other_posting), private), keys=beside)

    def subject_salt(p):
        p["subject_salt"] = flip_hex(p["subject_salt"])
    case("the subject salt", "inclusion", subject_salt)

    if proof["inclusion"]["path"]:
        for n in sorted({0, len(proof["inclusion"]["path"]) - 1}):
            def path_node(p, n=n):
                p["inclusion"]["path"][n] = flip_hex(p["inclusion"]["path"][n])
            case(f"inclusion path node {n}", "inclusion", path_node)

        def path_short(p):
            p["inclusion"]["path"].pop()
        case("the inclusion path one node short", "inclusion", path_short)

    def path_long(p):
        p["inclusion"]["path"].append(p["inclusion"]["event_hash"])
    case("the inclusion path one node longer", "inclusion", path_long)

    for delta in (1, -1):
        def leaf_index(p, delta=delta):
            p["inclusion"]["leaf_index"] += delta
        case(f"the leaf index {delta:+d}", "inclusion", leaf_index)

    def event_hash(p):
        p["inclusion"]["event_hash"] = flip_hex(p["inclusion"]["event_hash"])
    case("inclusion.event_hash", "end", event_hash)
    case("inclusion.event_hash, the head re-signed to match by a trusted key of ours", "inclusion",
         base=sign_head(changed(event_hash), private, event_hash=flip_hex(proof["inclusion"]["event_hash"])), keys=beside)

    # The stream's head: each member changed under the ledger's signature, the signature itself,
    # other keys; then, re-signed by a trusted key of ours, what step 1 and step 3 check of it.
    head = proof["stream_head"]
    for field, value in (("version", head["version"] + 1), ("version", head["version"] - 1), ("seal", head["seal"] - 1),
                         ("seal", head["seal"] + 1), ("event_hash", flip_hex(head["event_hash"]))):
        def head_field(p, field=field, value=value):
            p["stream_head"][field] = value
        case(f"the stream head's {field} ({head[field]!r} -> {value!r})", "stream_head", head_field)

    def head_signature(p):
        raw = bytearray(base64.b64decode(p["stream_head"]["signature"]))
        raw[-1] ^= 1
        p["stream_head"]["signature"] = base64.b64encode(bytes(raw)).decode()
    case("the stream head's signature", "stream_head", head_signature)
    case("the stream head signed by another key, not among the keys", "stream_head", base=sign_head(proof, private))
    case("the stream head signed by another key under the seal's key id", "stream_head",
         base=sign_head(proof, private, key_id=head["key_id"]))
    case("the stream head signed by a key listed under an id not derived from it", "stream_head",
         base=sign_head(proof, private, key_id="sk-0000000000000000"),
         keys={"keys": keys_document["keys"] + [key_entry(public, key_id="sk-0000000000000000")]})
    case("the stream head signed by a key retired 1 s before the seal", "stream_head", base=sign_head(proof, private),
         keys={"keys": keys_document["keys"] + [key_entry(public, retired_at=restamp(proof["seal"]["sealed_at"], -1))]})
    for delta in (-1, 1):
        case(f"the stream head's seal {delta:+d}, re-signed by a trusted key of ours", "stream_head",
             base=sign_head(proof, private, seal=head["seal"] + delta), keys=beside)
    for delta in (-1, 1):
        case(f"the stream head's version {delta:+d}, re-signed by a trusted key of ours", "end",
             base=sign_head(proof, private, version=head["version"] + delta), keys=beside)
    case("the stream head's event_hash, re-signed by a trusted key of ours", "end",
         base=sign_head(proof, private, event_hash=flip_hex(head["event_hash"])), keys=beside)

    def signature(p):
        raw = bytearray(base64.b64decode(p["seal"]["signature"]))
        raw[0] ^= 1
        p["seal"]["signature"] = base64.b64encode(bytes(raw)).decode()
    case("the seal's signature", "seal", signature)

    for field, value in (("root", flip_hex(proof["seal"]["root"])), ("tree_size", proof["seal"]["tree_size"] + 1),
                         ("up_to_position", proof["seal"]["up_to_position"] + 1), ("sealed_at", restamp(proof["seal"]["sealed_at"], 1))):
        def seal_field(p, field=field, value=value):
            p["seal"][field] = value
        case(f"the seal's {field}", "seal", seal_field)

    real = next(k for k in keys_document["keys"] if k["key_id"] == proof["seal"]["key_id"])
    others = [k for k in keys_document["keys"] if k is not real]
    case("another public key under the seal's key id", "seal", keys={"keys": others + [key_entry(public, key_id=real["key_id"])]})

    def own_id(p):
        p["seal"]["key_id"] = derived_key_id(public)
    case("another public key under its own id (the seal naming it)", "seal", own_id, keys={"keys": others + [key_entry(public)]})
    case("the seal's key not among the keys", "seal", keys={"keys": others + [key_entry(public)]})
    case("a seal signed by another key, listed under the seal's key id", "seal",
         base=resign(proof, private, key_id=real["key_id"]), keys={"keys": others + [key_entry(public, key_id=real["key_id"])]})
    before = restamp(proof["seal"]["sealed_at"], -1)
    case("the key retired 1 s before the seal", "seal", keys={"keys": others + [dict(real, retired_at=before)]})

    # A seal of our own, with our key trusted: only what the step checks is wrong.
    last = events[-1]["position"]
    case("a seal (signed by a trusted key of ours) ending before the proved event", "inclusion",
         base=resign(proof, private, up_to_position=last - 1), keys={"keys": [key_entry(public)]})
    case("a seal (signed by a trusted key of ours) whose tree ends before the leaf", "inclusion",
         base=resign(proof, private, tree_size=proof["inclusion"]["leaf_index"]), keys={"keys": [key_entry(public)]})

    # Forged whole under a trusted key of ours (the untouched forgery is a control that passes).
    def forged(name, mutate):
        case(f"forged under a trusted key: {name}", "stream", base=forge(proof, private, mutate), keys=trusted, consistent=False)

    def swap_forged(p):
        swap_positions(p)
    forged("two positions swapped", swap_forged)
    forged(f"the student's {events[removed]['event']['type']} event removed (a gap in versions)", remove_gap)

    def from_zero(p):
        for e in p["events"]:
            e["version"] -= 1
    forged("versions from 0", from_zero)
    forged("a disclosed event of another student (the proof's student_id changed)", other_student)

    def event_posting(p):
        p["events"][-1 if "event" in p["events"][-1] else 0]["event"]["posting_id"] = "p-elsewhere"
    forged("a disclosed event of another posting", event_posting)
    if withheld:
        def withheld_format_one(p):
            p["events"][withheld[0]]["hash_format"] = 1
        forged("a withheld event of hash format 1", withheld_format_one)

    placement = proof["placement"]
    for field in PLACEMENT_FIELDS:
        value = placement[field]
        if isinstance(value, bool):
            new = not value
        elif isinstance(value, int):
            new = value + 1
        elif value is None:
            new = "2025-01-01T00:00:00Z" if field.endswith("_at") else 3
        elif field.endswith("_at"):
            new = restamp(value, 1)
        elif field == "status":
            new = "in_progress" if value != "in_progress" else "accepted"
        elif field == "stipend_kind":
            new = "hourly" if value == "fixed" else "fixed"
        else:
            new = value + "x"

        def figure(p, field=field, new=new):
            p["placement"][field] = new
        case(f"placement.{field} ({value!r} -> {new!r})", "figures", figure, consistent=False)

    def as_float(p):
        p["placement"]["paid_minor"] = float(p["placement"]["paid_minor"])
    case("placement.paid_minor as a float of the same value", "figures", as_float, consistent=False)

    text = json.dumps(proof, ensure_ascii=False)
    served = f'"paid_minor": {placement["paid_minor"]}'
    twice = text.replace(served, f'"paid_minor": {placement["paid_minor"] + 1}, ' + served, 1)
    assert twice != text
    cases.append(("placement.paid_minor twice in the JSON text (a wrong value, then the right one)", "format", twice, keys_document,
                  None))

    def extra_field(p):
        p["placement"]["bonus_minor"] = 1
    case("an extra member in the placement", "figures", extra_field, consistent=False,
         said="the placement has members a placement does not have: bonus_minor")
    return cases


def controls(proof, keys_document):
    """Changes that must keep the proof valid (so that the refusals above are for the change)."""
    real = next(k for k in keys_document["keys"] if k["key_id"] == proof["seal"]["key_id"])
    others = [k for k in keys_document["keys"] if k is not real]
    private, public = own_key()
    after = restamp(proof["seal"]["sealed_at"], 1)
    sealed_at = proof["seal"]["sealed_at"]
    extra = copy.deepcopy(proof)
    extra["comment"] = "a member the checks ignore"
    return [
        ("the key retired 1 s after the seal", proof, {"keys": others + [dict(real, retired_at=after)]}),
        ("the key retired at the seal's own time", proof, {"keys": others + [dict(real, retired_at=sealed_at)]}),
        ("an unrelated key listed as well", proof, {"keys": keys_document["keys"] + [key_entry(public)]}),
        ("the same seal and stream head re-signed by a trusted key of ours", resign(proof, private), {"keys": [key_entry(public)]}),
        ("the proof forged whole (unchanged) under a trusted key of ours", forge(proof, private), {"keys": [key_entry(public)]}),
        ("the stream head (alone) re-signed by a trusted key of ours, listed beside the ledger's", sign_head(proof, private),
         {"keys": keys_document["keys"] + [key_entry(public)]}),
        ("the stream head re-signed by a key of ours retired at the seal's own time", sign_head(proof, private),
         {"keys": keys_document["keys"] + [key_entry(public, retired_at=sealed_at)]}),
        ("an unknown member beside the proof's", extra, keys_document),
    ]


class Ctl:
    def __init__(self, binary, directory):
        self.binary, self.directory, self.runs = binary, directory, 0

    def verify(self, name, proof, keys_document):
        """(exit code, stderr) of `placementctl proof verify` on the proof and keys as files."""
        self.runs += 1
        proof_file = os.path.join(self.directory, f"proof-{self.runs}.json")
        keys_file = os.path.join(self.directory, f"keys-{self.runs}.json")
        with open(proof_file, "w", encoding="utf-8") as f:
            f.write(proof if isinstance(proof, str) else json.dumps(proof, ensure_ascii=False))
        with open(keys_file, "w", encoding="utf-8") as f:
            json.dump(keys_document, f)
        done = subprocess.run([self.binary, "proof", "verify", proof_file, "--keys", keys_file], cwd=self.directory,
                              capture_output=True, text=True, timeout=120)
        return done.returncode, done.stderr.strip()


def ours(proof, keys_document, end=True):
    try:
        verify_proof(load(proof) if isinstance(proof, str) else proof, keys_document, end=end)
        return None
    except Refused as refused:
        return refused


# --- the run ---------------------------------------------------------------------------------------

def tamper(target, keys_document, ctl, feed):
    """The controls and every tampering of one proof through both verifiers: (tamperings refused by
    both at the right step, tamperings, controls accepted by both, controls). `feed`: the events
    the proof's seal covers."""
    print(f"tampering with the proof of {target['posting_id']}/{target['student_id']}")
    refused_both = controls_ok = 0
    checks = controls(target, keys_document)
    for name, proof, keys_doc in checks:
        refused = ours(proof, keys_doc)
        code, err = ctl.verify(name, proof, keys_doc)
        check(refused is None, f"control '{name}': this verifier accepts it ({refused})")
        check(code == 0, f"control '{name}': placementctl proof verify accepts it (exit {code}: {err})")
        controls_ok += refused is None and code == 0
        print(f"  accepted: {name} [{'ok' if refused is None else refused.step} | placementctl exit {code}]")
    cases = tamperings(target, keys_document, feed)
    for name, step, proof, keys_doc, said in cases:
        refused = ours(proof, keys_doc)
        code, err = ctl.verify(name, proof, keys_doc)
        mine = refused is not None and refused.step == step
        theirs = code == 1 and bool(err) and (said is None or said in err)
        check(mine, f"tampering '{name}': this verifier refuses it at step {step} ({refused or 'accepted'})")
        check(theirs, f"tampering '{name}': placementctl proof verify refuses it (exit {code}, stderr {err[:300]!r})"
                      + (f", saying {said!r}" if said else ""))
        refused_both += mine and theirs
        message = err.split("\n")[-1].removeprefix("placementctl: the proof does not hold: ")[:160] if err else ""
        print(f"  refused: {name} [{refused.step if refused else 'ACCEPTED'} | placementctl exit {code}: {message}]")
    return [refused_both, len(cases), controls_ok, len(checks)]


def pick(placements):
    """Every placement, the varied ones first (status, stipend kind, paid or not, settled or not)."""
    seen, first, rest = set(), [], []
    for p in placements:
        kind = (p["status"], p["stipend_kind"], p["paid_minor"] > 0, p["settled"])
        (rest if kind in seen else first).append(p)
        seen.add(kind)
    return first + rest


def check_rejections(base, keys, university, placements_all):
    """404 for another university's placement and for none at all, 401 without a key (or with a
    wrong one)."""
    foreign = next((p for p in placements_all if p["university_id"] != university), None)
    if check(foreign is not None, "the demo has a placement of another university"):
        status, raw = call(base, f"/v1/placements/{foreign['posting_id']}/{foreign['student_id']}/proof", keys["university"])
        body = json.loads(raw) if raw else {}
        check(status == 404 and body.get("error", {}).get("code") == "not_found",
              f"another university's placement: 404 not_found (got {status} {raw[:200]!r})")
    company_foreign = next((p for p in placements_all if p["company_id"] != keys["company_id"]), None)
    if company_foreign is not None:
        status, raw = call(base, f"/v1/placements/{company_foreign['posting_id']}/{company_foreign['student_id']}/proof", keys["company"])
        check(status == 404 and json.loads(raw).get("error", {}).get("code") == "not_found",
              f"another company's placement with a company key: 404 not_found (got {status} {raw[:200]!r})")
    status, raw = call(base, "/v1/placements/p-none/s-none/proof", keys["platform"])
    check(status == 404 and json.loads(raw).get("error", {}).get("code") == "not_found",
          f"no such placement: 404 not_found (got {status} {raw[:200]!r})")
    some = placements_all[0]
    status, raw = call(base, f"/v1/placements/{some['posting_id']}/{some['student_id']}/proof")
    check(status == 401, f"a proof without a key: 401 (got {status})")
    status, raw = call(base, f"/v1/placements/{some['posting_id']}/{some['student_id']}/proof", "plk_000000000000_" + "0" * 64)
    check(status == 401, f"a proof with an unknown key: 401 (got {status})")
    print("rejections: another university's (and another company's) placement 404 not_found, no such placement 404, "
          "no key or an unknown key 401")


def edge_placement(posting, student, other, other_university, company, university):
    """The events of a placement that meets the rules' corners, with another student of another
    university on the same posting: offsets and fractions in occurred_at (the ledger stores them in
    UTC), escapes in strings, hours over the cap and a negative correction, a revision then an
    acceptance, a later payment made earlier in time and reversed, a withdrawal after acceptance.
    Then what its placement must be."""
    def e(kind, at, data):
        return {"id": str(uuid.uuid4()), "type": kind, "posting_id": posting, "occurred_at": at, "data": data}
    events = [
        e("posted", "2026-01-01T00:00:00Z", {"company_id": company, "title": "Proof \"check\" \u00e9\t\u2028", "openings": 2,
                                              "stipend": {"kind": "hourly", "rate_minor": 1999, "max_hours": 3, "currency": "EUR"}}),
        e("applied", "2026-01-02T00:00:00Z", {"student_id": other, "university_id": other_university}),
        e("applied", "2026-01-02T00:00:00.5Z", {"student_id": student, "university_id": university}),
        e("selected", "2026-01-03T02:00:00+02:00", {"student_id": student}),
        e("selected", "2026-01-03T03:00:00Z", {"student_id": other}),
        e("hours_logged", "2026-01-03T05:00:00Z", {"student_id": student, "minutes": 125, "work_date": "2026-01-03",
                                                    "note": "line\nbreak \u0001 \U0001f600"}),
        e("hours_logged", "2026-01-03T05:30:00Z", {"student_id": other, "minutes": 60, "work_date": "2026-01-03"}),
        e("hours_logged", "2026-01-03T08:00:00+02:00", {"student_id": student, "minutes": 100, "work_date": "2026-01-03"}),
        e("hours_logged", "2026-01-03T07:00:00Z", {"student_id": student, "minutes": -30, "work_date": "2026-01-03",
                                                    "reason": "double-counted"}),
        e("delivered", "2026-01-04T00:00:00-05:00", {"student_id": student, "summary": "v1"}),
        e("reviewed", "2026-01-05T00:00:00Z", {"student_id": student, "accepted": False, "rating": 2, "comment": "again"}),
        e("delivered", "2026-01-06T00:00:00Z", {"student_id": student, "summary": "v2"}),
        e("reviewed", "2026-01-07T00:00:00Z", {"student_id": student, "accepted": True, "rating": 5}),
        e("paid", "2026-01-07T12:00:00Z", {"student_id": other, "amount_minor": 100, "currency": "EUR", "payment_ref": f"po-{posting}"}),
        e("paid", "2026-01-10T00:00:00Z", {"student_id": student, "amount_minor": 1000, "currency": "EUR", "payment_ref": f"pa-{posting}"}),
        e("paid", "2026-01-08T00:00:00Z", {"student_id": student, "amount_minor": 500, "currency": "EUR", "payment_ref": f"pb-{posting}"}),
        e("payment_reversed", "2026-01-11T00:00:00Z", {"student_id": student, "payment_ref": f"pb-{posting}", "reason": "bounced"}),
        e("withdrawn", "2026-01-12T00:00:00Z", {"student_id": student, "reason": "moved"}),
    ]
    earned = (1999 * min(125 + 100 - 30, 3 * 60) + 30) // 60
    placement = {"posting_id": posting, "student_id": student, "company_id": company, "university_id": university,
                 "title": "Proof \"check\" \u00e9\t\u2028", "status": "withdrawn", "settled": False, "stipend_kind": "hourly",
                 "currency": "EUR", "minutes_logged": 195, "cap_minor": 1999 * 3, "earned_minor": earned, "paid_minor": 1000,
                 "balance_minor": earned - 1000, "rating": 5, "selected_at": "2026-01-03T00:00:00Z",
                 "delivered_at": "2026-01-06T00:00:00Z", "reviewed_at": "2026-01-07T00:00:00Z",
                 "last_paid_at": "2026-01-08T00:00:00Z"}
    return events, placement


def check_not_sealed(base, keys, university, ctl, keys_document):
    """A placement appended right after a seal: 409 not_sealed until a seal covers it; then its proof
    verifies, with the figures its corners give, and withholds the other student."""
    observed = False
    for attempt in range(5):
        # The ledger seals only when there is something new: append a posting, wait for the seal
        # that covers it, then append the placement at once.
        filler = {"id": str(uuid.uuid4()), "type": "posted", "posting_id": f"p-filler-{uuid.uuid4().hex[:10]}",
                  "occurred_at": "2026-01-01T00:00:00Z",
                  "data": {"company_id": keys["company_id"], "title": "Filler", "openings": 1,
                           "stipend": {"kind": "fixed", "amount_minor": 1000, "currency": "USD"}}}
        seal = wait_for_cover(base, request(base, "/v1/events", keys["platform"], json.dumps(filler).encode())["events"][-1]["position"])
        posting, student, other = f"p-proofs-{uuid.uuid4().hex[:10]}", f"s-proofs-{uuid.uuid4().hex[:8]}", f"s-other-{uuid.uuid4().hex[:8]}"
        events, expected = edge_placement(posting, student, other, f"u-other-{uuid.uuid4().hex[:6]}", keys["company_id"], university)
        last = request(base, "/v1/events", keys["platform"], json.dumps(events).encode())["events"][-1]["position"]
        status, raw = call(base, f"/v1/placements/{posting}/{student}/proof?min_position={last}", keys["platform"])
        covered = latest_seal(base)["up_to_position"] >= last
        if status == 409 and not covered:
            check(json.loads(raw).get("error", {}).get("code") == "not_sealed",
                  f"an unsealed placement: 409 not_sealed (got {raw[:200]!r})")
            print(f"rejections: a placement appended after seal #{seal['seal']} 409 not_sealed (attempt {attempt + 1})")
            observed = True
            break
        if status == 200 and covered:
            print(f"note: the seal after #{seal['seal']} covered the new placement before its proof was asked for; again")
            continue
        check(False, f"an unsealed placement: 409 not_sealed (got {status} {raw[:200]!r}, sealed: {covered})")
        break
    else:
        print("note: 409 not_sealed not observed (every placement was sealed before its proof was asked for): skipped")
    sealed = wait_for_cover(base, last)
    name = f"{posting}/{student}"
    status, raw = call(base, f"/v1/placements/{name}/proof", keys["university"])
    if not check(status == 200, f"{name} (appended), once sealed: 200 (got {status} {raw[:200]!r})"):
        return observed, None
    text = raw.decode("utf-8")
    proof = load(text)
    refused = ours(proof, keys_document)
    check(refused is None, f"{name} (appended): the proof verifies ({refused})")
    check(proof["seal"]["seal"] >= sealed["seal"], f"{name} (appended): the proof is made against the latest seal")
    for field in PLACEMENT_FIELDS:
        check(proof["placement"].get(field) == expected[field],
              f"{name} (appended): placement.{field} is {proof['placement'].get(field)!r}, expected {expected[field]!r}")
    if refused is None:
        stream = request(base, f"/v1/postings/{posting}/events", keys["platform"])["events"]
        check_against_ledger(name, proof, text, verify_proof(proof, keys_document), stream, None)
    code, err = ctl.verify(name, text, keys_document)
    check(code == 0, f"{name} (appended): placementctl proof verify accepts it (exit {code}: {err})")
    print(f"ok {name} (appended, sealed by #{proof['seal']['seal']}): {len(proof['events'])} events "
          f"({sum('event' not in e for e in proof['events'])} withheld), the rules' corners as expected")
    return observed, proof


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    started = time.time()
    daemon = os.path.abspath(sys.argv[1])
    placementctl = os.path.join(os.path.dirname(daemon), "placementctl")
    if not os.access(placementctl, os.X_OK):
        raise SystemExit(f"no placementctl next to {daemon}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tempfile.mkdtemp(prefix="placement-verifier-")
    work = tempfile.mkdtemp(prefix="placement-proofs-")
    ctl = Ctl(placementctl, work)
    process = None
    verified, refused_both, tamper_count, controls_ok, control_count, observed_409 = 0, 0, 0, 0, 0, False
    try:
        process, keys = start_daemon(daemon, port, data)
        wait_ready(base)
        # Demo mode seals its history before it serves: a proof can be fetched at once.
        check(latest_seal(base) is not None, "the demo daemon serves a signed seal as soon as it is ready")
        first = wait_for_seal(base, 0)
        university = keys["university_id"]
        keys_document = request(base, "/v1/seals/keys")
        check(all(derived_key_id(base64.b64decode(k["public_key"])) == k["key_id"] for k in keys_document["keys"]),
              "each served key id is derived from its public key")
        # Right after start the read models may not reflect the demo history yet (a read then
        # answers X-Ledger-Position 0 and no rows): read at least up to the first seal.
        listing = f"/v1/placements?limit=1000&min_position={first['up_to_position']}"
        placements = paged(base, listing, keys["university"], "placements")
        check(len(placements) >= 5 and all(p["university_id"] == university for p in placements),
              f"the university key lists at least 5 placements, all of {university} ({len(placements)})")
        placements_all = paged(base, listing, keys["platform"], "placements")

        # Every placement of the university, proved and checked; then, with the platform key, one of
        # each status and stipend kind the university has none of, and one with the company key.
        chosen = [(p, "university") for p in pick(placements)]
        kinds_seen = {(p["status"], p["stipend_kind"]) for p in placements}
        for p in placements_all:
            if (p["status"], p["stipend_kind"]) not in kinds_seen:
                kinds_seen.add((p["status"], p["stipend_kind"]))
                chosen.append((p, "platform"))
        chosen += [(p, "company") for p in placements_all if p["company_id"] == keys["company_id"]][:1]
        proofs = []
        for placement, role in chosen:
            name = f"{placement['posting_id']}/{placement['student_id']}" + ("" if role == "university" else f" ({role} key)")
            status, raw = call(base, f"/v1/placements/{placement['posting_id']}/{placement['student_id']}/proof", keys[role])
            if not check(status == 200, f"{name}: GET proof 200 (got {status} {raw[:200]!r})"):
                continue
            text = raw.decode("utf-8")
            try:
                proof = load(text)
                hashes = verify_proof(proof, keys_document)
            except Refused as refused:
                check(False, f"{name}: the proof verifies ({refused})")
                continue
            verified += 1
            stream = request(base, f"/v1/postings/{placement['posting_id']}/events", keys["platform"])["events"]
            check_against_ledger(name, proof, text, hashes, stream, placement)
            code, err = ctl.verify(name, text, keys_document)
            check(code == 0, f"{name}: placementctl proof verify accepts it (exit {code}: {err})")
            withheld = sum("event" not in e for e in proof["events"])
            kinds = [e["event"]["type"] for e in proof["events"] if "event" in e]
            proofs.append((proof, kinds))
            p = proof["placement"]
            print(f"ok {name}: {len(proof['events'])} events ({withheld} withheld), {p['status']} {p['stipend_kind']}, "
                  f"earned {p['earned_minor']} paid {p['paid_minor']} {p['currency']}"
                  + (f", {kinds.count('payment_reversed')} reversal(s)" if "payment_reversed" in kinds else "")
                  + (f", {kinds.count('hours_logged')} hours" if "hours_logged" in kinds else ""))
        statuses = {pr["placement"]["status"] for pr, _ in proofs}
        check(any("paid" in k for _, k in proofs), "a proof with payments was checked")
        check({"withdrawn", "accepted", "delivered", "revision_requested"} <= statuses,
              f"withdrawn, accepted, delivered and revision_requested placements were checked ({sorted(statuses)})")
        check({pr["placement"]["stipend_kind"] for pr, _ in proofs} == {"fixed", "hourly"}, "fixed and hourly stipends were checked")

        # The tamperings, on one of these proofs with payments: one with a payment inside the stream,
        # a reversal, withheld events and a closed event if there is one.
        def score(item):
            pr, k = item
            last_paid = max((i for i, e in enumerate(pr["events"]) if "event" in e and e["event"]["type"] == "paid"), default=-1)
            return ("paid" in k, 0 <= last_paid < len(pr["events"]) - 1, "payment_reversed" in k,
                    any("event" not in e for e in pr["events"]), "closed" in k)
        target = max(proofs, key=score)[0]
        counts = tamper(target, keys_document, ctl, sealed_feed(base, keys["platform"], target["seal"]))

        code, err = ctl.verify("not JSON", "{\"proof_format\": 1,", keys_document)
        check(code == 1 and err, f"placementctl proof verify refuses a file that is not JSON (exit {code})")

        check_rejections(base, keys, university, placements_all)
        observed_409, new_proof = check_not_sealed(base, keys, university, ctl, keys_document)
        verified += new_proof is not None
        if new_proof is not None:
            feed = sealed_feed(base, keys["platform"], new_proof["seal"])
            counts = [a + b for a, b in zip(counts, tamper(new_proof, keys_document, ctl, feed))]
        refused_both, tamper_count, controls_ok, control_count = counts
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        subprocess.run(["rm", "-rf", data, work], check=False)
    if FAILURES:
        print(f"\n{len(FAILURES)} check(s) failed:", file=sys.stderr)
        for failure in FAILURES:
            print(f"  - {failure}", file=sys.stderr)
        sys.exit(1)
    print(f"proofs: {verified} placement proofs verified independently and by placementctl proof verify, nothing of other students "
          f"in them; {refused_both} of {tamper_count} tamperings refused by both "
          f"(and {controls_ok} of {control_count} controls accepted by both); "
          f"rejections 404/401{'/409' if observed_409 else ' (409 not observed)'} as documented ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
