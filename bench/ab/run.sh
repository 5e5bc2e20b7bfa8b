#!/usr/bin/env bash
# A/B of HTTP appends between two builds of placementd, driven by wrk, beside pgbench on the same
# PostgreSQL server in the same run:
#   - wrk: single-event appends (32 connections) and 100-event batches (scripts/wrk-append.lua:
#     every event a `posted` on a new posting, as the contract's baseline rows are independent),
#     then single `hours_logged` appends over 200 hourly placements (the same script with
#     HOURS_POSTINGS=200: appends contend on streams and on the report summary rows);
#   - pgbench: single-row and 100-row INSERTs into a copy of `events` (the contract's raw baseline),
#     and "the ledger's own write set": one transaction per append doing what one append group of
#     one `posted` event writes (the streams' turn, the stream row locked, the event, the stream
#     head, the read-model row).
#   - with FLOOR=<floor-server binary> (bench/floor): the floor of a grouped append, the same write
#     set grouped as placementd groups appends, over HTTP, without the rules (floor-server `group`).
# Usage: bench/ab/run.sh SECONDS ROUNDS NAME=BIN_DIR [NAME=BIN_DIR ...]
#   e.g. bench/ab/run.sh 20 2 before=/tmp/old/.build/release after=.build/release
# Each BIN_DIR holds placementd and placementctl (release builds); each round runs every build in
# turn, then the pgbench baselines. Needs wrk, pgbench and the PostgreSQL server binaries; as root,
# the server runs as the postgres user. Loopback only.
set -euo pipefail
SECONDS_PER=${1:?seconds per phase}; ROUNDS=${2:?rounds}; shift 2
[ $# -ge 1 ] || { echo "usage: $0 SECONDS ROUNDS NAME=BIN_DIR [NAME=BIN_DIR ...]" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
WORK=$(mktemp -d /tmp/placement-ab.XXXXXX); chmod 777 "$WORK"
PORT=$((20000 + RANDOM % 20000)); HTTP=$((PORT + 1))
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else bash -c "$*"; fi; }
cleanup() { pkill -f "placementd --database-url postgres://postgres@127.0.0.1:$PORT" 2>/dev/null || true
            as_pg "$PGBIN/pg_ctl -D $WORK/data -m fast stop" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
as_pg "$PGBIN/initdb -D $WORK/data -A trust -U postgres" >/dev/null
as_pg "$PGBIN/pg_ctl -D $WORK/data -l $WORK/pg.log -o '-p $PORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=512MB' start" >/dev/null
URL="postgres://postgres@127.0.0.1:$PORT"
psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT, durable (fsync, synchronous_commit on); $(nproc) cores"

cpu_ticks() {  # PID...: user + system clock ticks of these processes
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo $total
}
postgres_pids() { local pm; pm=$(head -1 "$WORK/data/postmaster.pid"); echo "$pm $(pgrep -P "$pm" | tr '\n' ' ')"; }

wrk_rate() {  # KEY BATCH CONNECTIONS SECONDS [HOURS_POSTINGS]: requests/s, p99, and CPU ms per request of placementd and of PostgreSQL
  local d0 p0 d1 p1 out hz; hz=$(getconf CLK_TCK)
  d0=$(cpu_ticks "$DAEMON"); p0=$(cpu_ticks $(postgres_pids))
  out=$(PLACEMENT_KEY=$1 BATCH_SIZE=$2 HOURS_POSTINGS=${5:-0} wrk -t2 -c"$3" -d"$4"s --latency -s "$HERE/scripts/wrk-append.lua" "http://127.0.0.1:$HTTP/v1/events" 2>&1)
  d1=$(cpu_ticks "$DAEMON"); p1=$(cpu_ticks $(postgres_pids))
  local non2xx; non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  if [ -n "$non2xx" ]; then echo "wrk saw $non2xx non-2xx responses:" >&2; echo "$out" >&2; exit 1; fi
  local requests; requests=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}')/s p99 $(echo "$out" | awk '$1 == "99%" {print $2}')" \
    "cpu/req daemon $(awk -v t=$((d1 - d0)) -v n="$requests" -v hz="$hz" 'BEGIN {printf "%.3f", t * 1000 / hz / n}') ms" \
    "pg $(awk -v t=$((p1 - p0)) -v n="$requests" -v hz="$hz" 'BEGIN {printf "%.3f", t * 1000 / hz / n}') ms"
}

run_side() {  # NAME BIN_DIR ROUND
  local name=$1 bin=$2 db="ab_${1//-/_}_$3"
  psql -c "CREATE DATABASE $db" postgres
  "$bin/placementctl" migrate --database-url "$URL/$db" >/dev/null 2>&1
  local key; key=$("$bin/placementctl" keys create --role platform --database-url "$URL/$db" 2>/dev/null | head -1)
  "$bin/placementd" --database-url "$URL/$db" --listen "127.0.0.1:$HTTP" --log-level warning >"$WORK/$db.log" 2>&1 &
  local pid=$!; DAEMON=$pid
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$HTTP/readyz" >/dev/null && break; sleep 0.2; done
  wrk_rate "$key" 1 32 5 >/dev/null  # warm-up
  local single batch hours
  single=$(wrk_rate "$key" 1 32 "$SECONDS_PER")
  batch=$(wrk_rate "$key" 100 8 "$SECONDS_PER")
  # 200 hourly placements (one batch), then hours logged on them at random.
  local setup=""
  for n in $(seq 1 200); do
    setup+="{\"id\":\"$(cat /proc/sys/kernel/random/uuid)\",\"type\":\"posted\",\"posting_id\":\"hb-$n\",\"occurred_at\":\"2026-03-01T09:00:00Z\",\"data\":{\"company_id\":\"c-$((n % 5))\",\"title\":\"Hours\",\"openings\":1,\"stipend\":{\"kind\":\"hourly\",\"rate_minor\":6000,\"max_hours\":2000,\"currency\":\"USD\"}}},"
    setup+="{\"id\":\"$(cat /proc/sys/kernel/random/uuid)\",\"type\":\"applied\",\"posting_id\":\"hb-$n\",\"occurred_at\":\"2026-03-01T09:01:00Z\",\"data\":{\"student_id\":\"s-$n\",\"university_id\":\"u-$((n % 7))\"}},"
    setup+="{\"id\":\"$(cat /proc/sys/kernel/random/uuid)\",\"type\":\"selected\",\"posting_id\":\"hb-$n\",\"occurred_at\":\"2026-03-01T09:02:00Z\",\"data\":{\"student_id\":\"s-$n\"}},"
  done
  curl -sf -o /dev/null -H "Authorization: Bearer $key" -H "Content-Type: application/json" -d "[${setup%,}]" "http://127.0.0.1:$HTTP/v1/events" \
    || { echo "setting up the hourly placements failed" >&2; exit 1; }
  hours=$(wrk_rate "$key" 1 32 "$SECONDS_PER" 200)
  kill -TERM $pid; wait $pid 2>/dev/null || true
  local events; events=$(psql -t -A -c "SELECT count(*) FROM events" "$db")
  psql -c "DROP DATABASE $db" postgres
  echo "$name round $3: single $single | batches of 100: $batch | hours $hours | events recorded $events"
}

pgbench_tps() {  # SCRIPT CLIENTS
  echo "$1" > "$WORK/script.sql"
  "$PGBIN/pgbench" -n -M prepared -h 127.0.0.1 -p "$PORT" -U postgres -c "$2" -j 2 -T "$SECONDS_PER" -f "$WORK/script.sql" raw 2>&1 \
    | awk '/^tps = / {print $3}'
}

raw_baselines() {
  psql -c "DROP DATABASE IF EXISTS raw" postgres; psql -c "CREATE DATABASE raw" postgres
  psql raw <<'SQL'
CREATE SEQUENCE raw_seq;
CREATE TABLE raw_events (position bigint PRIMARY KEY, id uuid NOT NULL UNIQUE, posting_id text NOT NULL, version bigint NOT NULL,
  type text NOT NULL, occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL, expected_version bigint, actor text,
  data jsonb NOT NULL, prev_hash bytea NOT NULL, hash bytea NOT NULL, UNIQUE (posting_id, version));
CREATE TABLE raw_streams (posting_id text PRIMARY KEY, company_id text NOT NULL, version bigint NOT NULL, head_position bigint NOT NULL,
  head_hash bytea NOT NULL, snapshot_format integer NOT NULL, snapshot text NOT NULL);
CREATE TABLE raw_postings (posting_id text PRIMARY KEY, company_id text NOT NULL, title text NOT NULL, status text NOT NULL,
  openings int8 NOT NULL, applicants int8 NOT NULL, selected int8 NOT NULL, withdrawn int8 NOT NULL, stipend text NOT NULL, created_at int8 NOT NULL);
CREATE INDEX ON raw_postings (company_id, posting_id);
SQL
  local data='{"company_id":"c-bench","openings":1,"stipend":{"amount_minor":1000,"currency":"USD","kind":"fixed"},"title":"Bench"}'
  local hash; hash=$(printf 'ab%.0s' $(seq 1 32))
  local row="(nextval('raw_seq'), gen_random_uuid(), 'raw-' || gen_random_uuid(), 1, 'posted', now(), now(), NULL, NULL, '$data'::jsonb, '\\x$hash'::bytea, '\\x$hash'::bytea)"
  local single="INSERT INTO raw_events VALUES $row;"
  local rows; rows=$(for _ in $(seq 1 100); do printf '%s,' "$row"; done); rows=${rows%,}
  local hundred="INSERT INTO raw_events VALUES $rows;"
  # What one append group of one new posting writes, statement by statement as the daemon does.
  local writeset="\\set n random(1, 1000000000)
BEGIN;
SELECT pg_advisory_xact_lock_shared(1348, 0), pg_advisory_xact_lock(1347, hashtext('w-' || :n || '-' || :client_id));
SELECT posting_id FROM raw_streams WHERE posting_id = 'w-' || :n || '-' || :client_id FOR UPDATE;
WITH e AS (INSERT INTO raw_events VALUES (nextval('raw_seq'), gen_random_uuid(), 'w-' || :n || '-' || :client_id, 1, 'posted', now(), now(), NULL, NULL, '$data'::jsonb, '\\x$hash'::bytea, '\\x$hash'::bytea))
INSERT INTO raw_streams VALUES ('w-' || :n || '-' || :client_id, 'c-bench', 1, 1, '\\x$hash'::bytea, 1, '$data')
  ON CONFLICT (posting_id) DO UPDATE SET version = EXCLUDED.version;
INSERT INTO raw_postings VALUES ('w-' || :n || '-' || :client_id, 'c-bench', 'Bench', 'open', 1, 0, 0, 0, '{}', 0)
  ON CONFLICT (posting_id) DO UPDATE SET status = EXCLUDED.status;
COMMIT;"
  echo "pgbench single-row INSERT, 32 clients: $(pgbench_tps "$single" 32) tps"
  echo "pgbench 100-row INSERT, 8 clients: $(pgbench_tps "$hundred" 8) tps"
  echo "pgbench the ledger's write set of one append, 32 clients: $(pgbench_tps "$writeset" 32) tps"
  if [ -n "${FLOOR:-}" ]; then
    FLOOR_PG_PORT=$PORT "$FLOOR" "$WORK" raw "$HTTP" group >"$WORK/floor.log" 2>&1 &
    DAEMON=$!
    for _ in $(seq 1 50); do curl -s -o /dev/null -d '{}' "http://127.0.0.1:$HTTP/v1/events" && break; sleep 0.2; done
    wrk_rate none 1 32 5 >/dev/null  # warm-up
    echo "floor: the write set grouped as placementd groups, over HTTP, 32 conn.: $(wrk_rate none 1 32 "$SECONDS_PER")"
    kill -9 "$DAEMON"; wait "$DAEMON" 2>/dev/null || true
  fi
}

for round in $(seq 1 "$ROUNDS"); do
  for side in "$@"; do run_side "${side%%=*}" "${side#*=}" "$round"; done
  raw_baselines
done
