#!/usr/bin/env bash
# Fuzzes placementd's HTTP API from its own OpenAPI document with schemathesis.
#
#   bash Tests/fuzz/run_schemathesis.sh .build/debug [MAX_EXAMPLES]
#
# Creates .build/fuzz-venv with the pinned schemathesis when missing, starts its own daemon on a
# fresh embedded cluster under /tmp (loopback only), seeds one posting, runs schemathesis once per
# key role (platform, company, admin, university) with the checks of schemathesis.toml plus the
# custom ones of st_hooks.py, then checks with st_summary.py that nothing was recorded by an
# erroring request. Stops the daemon and exits non-zero on any failure.
# Environment: FUZZ_MAX_EXAMPLES (default 40 per operation for the platform key, a third of that
# for the others), FUZZ_SEED (default 1), FUZZ_REPORT_DIR (default .build/fuzz-report),
# FUZZ_VENV (default .build/fuzz-venv).
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the work tree

BIN=$(cd "${1:?usage: run_schemathesis.sh BINDIR [MAX_EXAMPLES]}" && pwd)
EXAMPLES=${2:-${FUZZ_MAX_EXAMPLES:-40}}
SEED=${FUZZ_SEED:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${FUZZ_VENV:-$ROOT/.build/fuzz-venv}
REPORT=${FUZZ_REPORT_DIR:-$ROOT/.build/fuzz-report}

for exe in placementd placementctl; do
  [ -x "$BIN/$exe" ] || { echo "run_schemathesis: $BIN/$exe missing; build first (swift build)" >&2; exit 2; }
done

want=$(sed -n 's/^schemathesis==//p' "$HERE/requirements.txt")
have=$("$VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}' || true)
if [ "$have" != "$want" ]; then
  echo "== installing schemathesis $want into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
fi

rm -rf "$REPORT" && mkdir -p "$REPORT"
DATA=/tmp/fuzz-st-$$-$RANDOM
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
LOG=$REPORT/daemon.log
"$BIN/placementd" --data-dir "$DATA" --listen "127.0.0.1:$PORT" --log-level info >"$LOG" 2>&1 </dev/null &
DAEMON=$!
status=1
cleanup() {
  if kill -0 "$DAEMON" 2>/dev/null; then
    kill -TERM "$DAEMON"
    for _ in $(seq 1 60); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 1; done
    kill -KILL "$DAEMON" 2>/dev/null || true
  fi
  wait "$DAEMON" 2>/dev/null || true
  if [ "$status" = 0 ]; then rm -rf "$DATA"; else echo "data dir kept: $DATA; daemon log: $LOG; reports: $REPORT"; fi
}
trap cleanup EXIT

for _ in $(seq 1 180); do
  curl -sf "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$DAEMON" 2>/dev/null || { echo "run_schemathesis: placementd exited while starting; see $LOG" >&2; exit 1; }
  sleep 1
done
curl -sf "$BASE/readyz" >/dev/null || { echo "run_schemathesis: placementd not ready after 180 s; see $LOG" >&2; exit 1; }

key() { "$BIN/placementctl" keys create --data-dir "$DATA" "$@" 2>/dev/null | head -n 1; }
PLATFORM=$(key --role platform)
ADMIN=$(key --role admin)
COMPANY=$(key --role company --org c-st-1)
UNIVERSITY=$(key --role university --org u-st-1)

# One posting with a placement, so that min_position=1 is reached and reads find rows.
python3 - "$BASE" "$PLATFORM" <<'EOF'
import json, sys, urllib.request, uuid
base, key = sys.argv[1], sys.argv[2]
def ev(t, data):
    return {"id": str(uuid.uuid4()), "type": t, "posting_id": "p-st-1", "occurred_at": "2026-01-05T10:00:00Z", "data": data}
batch = [ev("posted", {"company_id": "c-st-1", "title": "Seed", "openings": 2,
                       "stipend": {"kind": "fixed", "amount_minor": 50000, "currency": "USD"}}),
         ev("applied", {"student_id": "s-st-1", "university_id": "u-st-1"}), ev("selected", {"student_id": "s-st-1"})]
req = urllib.request.Request(base + "/v1/events", data=json.dumps(batch).encode(), method="POST",
                             headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
with urllib.request.urlopen(req) as r:
    assert r.status == 201, r.status
EOF
SEED_EVENTS=3

CALLS=$REPORT/calls.jsonl
: >"$CALLS"
failed=0
run() {  # role key examples
  local role=$1 secret=$2 n=$3
  echo "== schemathesis as $role key, max $n examples per operation"
  local t0=$SECONDS
  # Run from the report directory: schemathesis keeps a crash cache (.schemathesis/) in its cwd.
  # GET /v1/events/live is left out: an endless Server-Sent Events stream, which schemathesis can
  # only end by its request timeout (20 s a request). LiveFeedTests and fault scenario 7 cover it.
  if ! cd "$REPORT" || ! LEDGER_FUZZ_LOG=$CALLS LEDGER_FUZZ_ROLE=$role SCHEMATHESIS_HOOKS=st_hooks PYTHONPATH=$HERE \
      "$VENV/bin/schemathesis" --config-file "$HERE/schemathesis.toml" run "$BASE/openapi.json" \
      -H "Authorization: Bearer $secret" --checks all \
      --exclude-checks not_a_server_error,positive_data_acceptance,unsupported_method --max-examples "$n" --seed "$SEED" \
      --phases examples,coverage,fuzzing --workers 1 --request-timeout 20 --generation-database none --exclude-path /v1/events/live \
      --report junit,har --report-dir "$REPORT/$role" --no-color >"$REPORT/$role.txt" 2>&1; then
    failed=1
    echo "   FAILED (full output: $REPORT/$role.txt)"
    sed -n '/^=* FAILURES =*/,/^=* SUMMARY/p' "$REPORT/$role.txt" | grep -E '^(_{3,}|- ST|\[[0-9]{3}\]|    `|    curl)' | cut -c1-300 | head -60
  fi
  cd "$ROOT"
  sed -n '/^Test cases:/,+1p' "$REPORT/$role.txt" | tail -n 1
  echo "   $((SECONDS - t0)) s"
}
run platform "$PLATFORM" "$EXAMPLES"
small=$(( EXAMPLES / 3 > 0 ? EXAMPLES / 3 : 1 ))
run company "$COMPANY" "$small"
run admin "$ADMIN" "$small"
run university "$UNIVERSITY" "$small"

curl -sf "$BASE/healthz" >/dev/null || { echo "run_schemathesis: the daemon no longer answers /healthz" >&2; failed=1; }
python3 "$HERE/st_summary.py" "$CALLS" "$BASE" "$ADMIN" "$SEED_EVENTS" "$LOG" || failed=1
status=$failed
exit "$failed"
