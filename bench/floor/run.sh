#!/usr/bin/env bash
# The floor of an HTTP append on this stack, beside pgbench and placementd, on one server in one
# run (see docs/performance.md, "The floor"). Needs a running placementd on its embedded cluster
# (release build), wrk and pgbench, and the floor server built:
#   (cd bench/floor && swift build -c release)
#   PLACEMENT_KEY=<platform key> bench/floor/run.sh DATA_DIR [SECONDS] [CONNECTIONS]
set -euo pipefail
data=${1:?the placementd data directory}
seconds=${2:-10}
connections=${3:-32}
: "${PLACEMENT_KEY:?set PLACEMENT_KEY to a platform key}"
here=$(cd "$(dirname "$0")" && pwd)
socket="$data/run"
server="$here/.build/release/floor-server"
hz=$(getconf CLK_TCK)
psql() { runuser -u postgres -- psql -h "$socket" -d placement -qAtc "$1"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
postgres_ticks() {
    local total=0
    for pid in $(pgrep -u postgres); do total=$((total + $(ticks "$pid"))); done
    echo "$total"
}

psql "DROP TABLE IF EXISTS floor_events; DROP SEQUENCE IF EXISTS floor_events_seq;
      CREATE TABLE floor_events (LIKE events INCLUDING ALL); CREATE SEQUENCE floor_events_seq;"
data_json='{"company_id":"c-bench","title":"Bench","openings":1,"stipend":{"kind":"fixed","amount_minor":1000,"currency":"USD"}}'
script=$(mktemp /tmp/floor-XXXX.sql)
chmod 644 "$script"
cat > "$script" <<SQL
INSERT INTO floor_events (position, id, posting_id, version, type, occurred_at, recorded_at, expected_version, actor, data, prev_hash, hash)
VALUES (nextval('floor_events_seq'), gen_random_uuid(), 'raw-' || gen_random_uuid(), 1, 'posted', now(), now(), NULL, 'bench',
        '$data_json'::jsonb, '\\xabababababababababababababababababababababababababababababababab'::bytea,
        '\\xabababababababababababababababababababababababababababababababab'::bytea);
SQL

# One measured wrk run of scripts/wrk-append.lua (batches with BATCH_SIZE) against URL; the CPU of
# process PID and of PostgreSQL around it, per request.
measure() {
    local name=$1 url=$2 pid=$3 script=$here/../../scripts/wrk-append.lua
    local d0 p0 d1 p1 out rate
    d0=$(ticks "$pid"); p0=$(postgres_ticks)
    out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$script" "$url/v1/events")
    d1=$(ticks "$pid"); p1=$(postgres_ticks)
    rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    local p99 errors
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    awk -v name="$name" -v r="$rate" -v p99="$p99" -v d=$((d1 - d0)) -v p=$((p1 - p0)) -v hz="$hz" -v s="$seconds" -v e="${errors:-0}" 'BEGIN {
        n = r * s
        printf "%-42s %8.0f requests/s  p99 %-8s server CPU %.3f ms  PostgreSQL CPU %.3f ms per request  (non-2xx: %s)\n",
            name, r, p99, 1000 * d / hz / n, 1000 * p / hz / n, e
    }'
}

if ss -ltn | grep -q '127.0.0.1:8090 '; then echo "port 8090 is taken (a floor server left running?)" >&2; exit 1; fi
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $connections connections, ${seconds} s each"
runuser -u postgres -- pgbench -h "$socket" -n -M prepared -c "$connections" -j 2 -T "$seconds" -f "$script" placement 2>/dev/null \
    | awk '/^tps/ {printf "%-42s %8.0f transactions/s\n", "pgbench single-row INSERT", $3}'
floor() {
    "$server" "$socket" placement 8090 "$1" > /dev/null 2>&1 &
    local pid=$!
    sleep 1
    measure "$2" http://127.0.0.1:8090 "$pid"
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
}
floor http "floor: HTTP alone (no database)"
floor insert "floor: HTTP + one INSERT"
floor transaction "floor: HTTP + BEGIN, lock, INSERT, COMMIT"
measure "placementd appends" http://127.0.0.1:8080 "$(pgrep -n -x placementd)"

# 100-event batches: pgbench's 100-row INSERT, the floor's, placementd's (requests/s × 100 = events/s).
batch_script=$(mktemp /tmp/floor-batch-XXXX.sql)
chmod 644 "$batch_script"
{
    echo "INSERT INTO floor_events (position, id, posting_id, version, type, occurred_at, recorded_at, expected_version, actor, data, prev_hash, hash) VALUES"
    for i in $(seq 1 100); do
        [ "$i" -gt 1 ] && echo ","
        printf "(nextval('floor_events_seq'), gen_random_uuid(), 'raw-' || gen_random_uuid(), 1, 'posted', now(), now(), NULL, 'bench', '%s'::jsonb, '\\\\xabababababababababababababababababababababababababababababababab'::bytea, '\\\\xabababababababababababababababababababababababababababababababab'::bytea)" "$data_json"
    done
    echo ";"
} > "$batch_script"
runuser -u postgres -- pgbench -h "$socket" -n -M prepared -c "$connections" -j 2 -T "$seconds" -f "$batch_script" placement 2>/dev/null \
    | awk '/^tps/ {printf "%-42s %8.0f transactions/s\n", "pgbench 100-row INSERT", $3}'
export BATCH_SIZE=100
floor batch "floor: HTTP + one 100-row INSERT"
measure "placementd 100-event batches" http://127.0.0.1:8080 "$(pgrep -n -x placementd)"
rm -f "$script" "$batch_script"
