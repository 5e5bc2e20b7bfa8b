#!/usr/bin/env bash
# Restore drill (docs/operations.md, "The drill"): back a small ledger up three ways, restore each
# copy into a fresh cluster, and prove each restore complete with the commands an operator uses.
#
#   bash Tests/ops/restore_drill.sh .build/debug
#
#   A  the source ledger: embedded cluster (placementctl --data-dir A), WAL archived to a directory
#   B  logical restore: pg_dump -Fc  -> a fresh embedded cluster -> role, pg_restore --create
#   C  physical restore: pg_basebackup -Ft -Xstream -> a new PGDATA started with pg_ctl
#   D  physical restore plus the WAL archive (recovery.signal, restore_command)
#
# Every restored ledger gets, with no other manual step: placementctl migrate (which moves the
# ledger clock forward when a restore put it behind the log), verify, verify --digest with the seal
# digest stored beside the backup; then new events are appended and sealed, and the seal chain must
# continue with positions above every restored event. Events appended to A after the backups are
# lost by B and C (their seal's digest no longer verifies) and recovered by D. Finally B is tampered
# with and `verify --digest` must exit 1 naming the position.
#
# Everything lives under one mktemp -d directory (removed on exit, with every cluster stopped) and
# PostgreSQL listens on unix sockets only. Exit 0 when every check passed; otherwise the failing
# step, the command, its exit code and its output, and exit 1. RESTORE_DRILL_KEEP=1 keeps the
# directory for inspection.
set -euo pipefail

usage="usage: bash Tests/ops/restore_drill.sh BIN_DIR   (the directory of placementctl, e.g. .build/debug)"
[ $# -eq 1 ] || { echo "$usage" >&2; exit 2; }
[ -x "$1/placementctl" ] || { echo "restore drill: no executable $1/placementctl ($usage)" >&2; exit 2; }
started_at=$(date +%s)

# PostgreSQL's programs: the directory placementctl itself would pick (PLACEMENT_PG_BIN, else the
# newest /usr/lib/postgresql/N/bin with N >= 15, else PATH), exported so that both agree.
pg_bin=${PLACEMENT_PG_BIN:-}
if [ -z "$pg_bin" ]; then
    for v in $(ls /usr/lib/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -rn); do
        if [ "$v" -ge 15 ] && [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then pg_bin=/usr/lib/postgresql/$v/bin; break; fi
    done
fi
if [ -z "$pg_bin" ] && command -v pg_ctl >/dev/null; then pg_bin=$(dirname "$(command -v pg_ctl)"); fi
[ -n "$pg_bin" ] && [ -x "$pg_bin/pg_basebackup" ] || {
    echo "restore drill: PostgreSQL 15+ server binaries not found (apt-get install postgresql-15, or set PLACEMENT_PG_BIN)" >&2; exit 2; }
export PLACEMENT_PG_BIN=$pg_bin
unset PLACEMENT_DATABASE_URL PLACEMENT_DATA_DIR PLACEMENT_SEAL_KEYS

# PostgreSQL refuses to run as root: as root, the clusters and their tools run as `postgres`, as
# the embedded cluster's own do.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "restore drill: running as root but there is no postgres user" >&2; exit 2; }
    as_pg() { runuser -u postgres -- "$@"; }
    pg_dir() { mkdir -p "$1"; chown postgres:postgres "$1"; chmod 700 "$1"; }
else
    as_pg() { "$@"; }
    pg_dir() { mkdir -p "$1"; chmod 700 "$1"; }
fi

WORK=$(mktemp -d /tmp/restore-drill.XXXXXX)
chmod 755 "$WORK"   # the postgres user must be able to enter it
LOGS=$WORK/logs
mkdir "$LOGS"
A=$WORK/A B=$WORK/B C=$WORK/C D=$WORK/D
BACKUP=$WORK/backup ARCHIVE=$WORK/wal-archive
current_step="setup"
clusters=("$A/pg" "$B/pg" "$C/pg" "$D/pg")   # stopped on exit if running

cleanup() {
    local status=$?
    set +e
    for pgdata in "${clusters[@]}"; do
        if [ -f "$pgdata/postmaster.pid" ] && as_pg "$pg_bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
            as_pg "$pg_bin/pg_ctl" -D "$pgdata" -m fast -w -t 30 stop >/dev/null 2>&1 \
                || as_pg "$pg_bin/pg_ctl" -D "$pgdata" -m immediate -w -t 30 stop >/dev/null 2>&1
        fi
    done
    if [ "$status" != 0 ]; then
        echo "FAILED in step: $current_step (exit $status)" >&2
        if [ "${RESTORE_DRILL_KEEP:-}" = 1 ]; then echo "kept $WORK" >&2; fi
    fi
    if [ "${RESTORE_DRILL_KEEP:-}" != 1 ]; then rm -rf "$WORK"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A copy of placementctl: a rebuild during the drill cannot swap it.
mkdir "$WORK/bin"
cp "$1/placementctl" "$WORK/bin/placementctl"
CTL=$WORK/bin/placementctl

step() { current_step=$*; echo "== $*"; }
note() { echo "   $*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# run NAME CMD...: runs CMD with stdout in $LOGS/NAME.out and stderr in $LOGS/NAME.err; a non-zero
# exit fails the drill, showing the command and both outputs.
n=0
run() {
    local name=$1; shift
    n=$((n + 1)); last_out=$LOGS/$n-$name.out; last_err=$LOGS/$n-$name.err
    local rc=0
    "$@" >"$last_out" 2>"$last_err" || rc=$?
    if [ "$rc" != 0 ]; then
        echo "FAIL: $name exited $rc: $*" >&2
        echo "--- stdout (last 30 lines)" >&2; tail -n 30 "$last_out" >&2
        echo "--- stderr (last 30 lines)" >&2; tail -n 30 "$last_err" >&2
        exit 1
    fi
}

# expect_exit CODE NAME CMD...: the same, but CMD must exit with CODE.
expect_exit() {
    local want=$1 name=$2; shift 2
    n=$((n + 1)); last_out=$LOGS/$n-$name.out; last_err=$LOGS/$n-$name.err
    local rc=0
    "$@" >"$last_out" 2>"$last_err" || rc=$?
    if [ "$rc" != "$want" ]; then
        echo "FAIL: $name exited $rc, expected $want: $*" >&2
        echo "--- stdout (last 30 lines)" >&2; tail -n 30 "$last_out" >&2
        echo "--- stderr (last 30 lines)" >&2; tail -n 30 "$last_err" >&2
        exit 1
    fi
}

out() { cat "$last_out"; }
both() { cat "$last_out" "$last_err"; }

# A field of `placementctl status`: events, last position, seals.
status_field() {   # status_field FIELD < status output
    case $1 in
        events) sed -n 's/^events: *\([0-9]*\) in .*/\1/p' ;;
        position) sed -n 's/^last position: *\([0-9]*\) .*/\1/p' ;;
        horizon) sed -n 's/^last position: .*gap-free horizon \([0-9]*\).*/\1/p' ;;
        seals) sed -n 's/^seals: *\([0-9]*\).*/\1/p' ;;
    esac
}
check_eq() {   # check_eq WHAT GOT WANT
    [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}

# A cluster started here, as the embedded cluster starts its own: unix socket in SOCKDIR, no TCP.
pg_start() {   # pg_start PGDATA SOCKDIR [extra server options]
    local pgdata=$1 sock=$2; shift 2
    run pg_ctl-start as_pg "$pg_bin/pg_ctl" -D "$pgdata" -l "$sock/postgresql.log" -w -t 60 \
        -o "-c listen_addresses='' -k '$sock' -c max_connections=200 -c unix_socket_permissions=0700 -c idle_in_transaction_session_timeout=60s $*" start
}
pg_stop() {   # pg_stop PGDATA
    run pg_ctl-stop as_pg "$pg_bin/pg_ctl" -D "$1" -m fast -w -t 60 stop
}
psql_at() {   # psql_at SOCKDIR DATABASE SQL...: one value per line
    local sock=$1 db=$2; shift 2
    local args=()
    for sql in "$@"; do args+=(-c "$sql"); done
    as_pg "$pg_bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$sock" -U postgres -d "$db" "${args[@]}"
}

# New events in NDJSON: the demo generator's history for two postings (seed SEED), renamed to
# postings p-PREFIXnnn so they add to any ledger made with `demo` instead of conflicting with it.
make_events() {   # make_events SEED PREFIX FILE
    "$CTL" demo --postings 2 --seed "$1" --ndjson | sed "s/\"p-1\([0-9][0-9][0-9]\)\"/\"p-$2\1\"/g" >"$3"
    [ -s "$3" ] || fail "demo --ndjson wrote no events"
    grep -q "\"p-$2" "$3" || fail "renaming the demo postings to p-$2… changed nothing"
}

# The checks that prove a restored ledger complete, then new events and a seal (step 5).
# LEDGER is the placementctl database option (--data-dir DIR or --database-url URL).
prove_restore() {   # prove_restore NAME EXPECTED_EVENTS EXPECTED_SEALS CLOCK(moved|kept) SEAL_KEYS_OPT... -- LEDGER...
    local name=$1 want_events=$2 want_seals=$3 clock=$4; shift 4
    local keys=()
    while [ "$1" != -- ]; do keys+=("$1"); shift; done
    shift
    local ledger=("$@")

    run "$name-migrate" "$CTL" migrate "${ledger[@]}"
    note "migrate: $(out)"
    if [ "$clock" = moved ]; then
        grep -q "clock was behind its log" "$last_err" \
            || fail "$name: migrate did not report moving the ledger clock after a restore into a fresh cluster (stderr: $(tail -c 600 "$last_err"))"
        note "migrate moved the clock: $(grep -o 'clock was behind its log[^"]*' "$last_err" | head -1)"
    else
        if grep -q "clock was behind" "$last_err"; then fail "$name: migrate moved the clock of a physical restore, whose transaction ids continue"; fi
    fi
    run "$name-status" "$CTL" status "${ledger[@]}"
    local status_out; status_out=$(out)
    grep -q '^clock: *next position .*head room' <<<"$status_out" || fail "$name: status shows the clock behind after migrate: $(grep '^clock' <<<"$status_out")"
    local events position horizon seals
    events=$(status_field events <<<"$status_out"); position=$(status_field position <<<"$status_out")
    horizon=$(status_field horizon <<<"$status_out"); seals=$(status_field seals <<<"$status_out")
    check_eq "$name: events restored" "$events" "$want_events"
    check_eq "$name: seals restored" "$seals" "$want_seals"
    check_eq "$name: gap-free horizon = last position" "$horizon" "$position"
    note "restored: $events events, last position $position, $seals seal(s); $(grep '^clock' <<<"$status_out" | sed 's/^clock: *//')"

    run "$name-verify" "$CTL" verify "${ledger[@]}"
    note "verify: $(head -n 1 "$last_out")"
    run "$name-verify-digest" "$CTL" verify --digest "$digest1" "${ledger[@]}"
    note "verify --digest <seal at backup>: $(head -n 1 "$last_out")"
    if [ "$want_events" = "$events_at_backup" ]; then
        # The seal made on A after the backup is not in this copy: its digest must not verify.
        expect_exit 1 "$name-verify-later-digest" "$CTL" verify --digest "$digest2" "${ledger[@]}"
        note "verify --digest <seal made after the backup>: exit 1, as expected (that seal is lost): $(head -n 1 "$last_out" | cut -c1-110)…"
        run "$name-export" "$CTL" export "${ledger[@]}"
        cmp -s "$last_out" "$BACKUP/events.ndjson" || fail "$name: the restored export differs from the export taken with the backup"
        note "export is byte-identical to the export taken with the backup"
    else
        run "$name-verify-later-digest" "$CTL" verify --digest "$digest2" "${ledger[@]}"
        note "verify --digest <seal made after the backup>: $(head -n 1 "$last_out")"
        run "$name-export" "$CTL" export "${ledger[@]}"
        cmp -s "$last_out" "$WORK/events-final.ndjson" || fail "$name: the recovered export differs from A's final export"
        note "export is byte-identical to A's export after the late events"
    fi

    # Rebuild the derived read models from the log before anything appends (the dump leaves the
    # proj_* schemas out; A's were never built, as no daemon ran on it).
    run "$name-replay" "$CTL" replay --all "${ledger[@]}"
    note "replay --all: $(both | tr '\n' ' ' | cut -c1-120)…"

    # New events after the restore; the seal chain continues from the restored seals.
    run "$name-import" "$CTL" import "$WORK/new-events.ndjson" "${ledger[@]}"
    run "$name-seal" "$CTL" seal "${keys[@]}" "${ledger[@]}"
    local digest_new; digest_new=$(out)
    [[ "$digest_new" =~ ^[0-9a-f]{64}$ ]] || fail "$name: seal printed no digest: $(both)"
    run "$name-verify-after" "$CTL" verify --deep "${ledger[@]}"
    note "after $new_count new events and a seal, verify --deep: $(grep '^OK (deep)' "$last_out" | cut -c1-60)…; $(tail -n 1 "$last_out")"
    run "$name-verify-digest-after" "$CTL" verify --digest "$digest1" "${ledger[@]}"
    run "$name-verify-new-digest" "$CTL" verify --digest "$digest_new" "${ledger[@]}"
    run "$name-status-after" "$CTL" status "${ledger[@]}"
    check_eq "$name: seals after one more seal" "$(status_field seals <"$last_out")" "$((want_seals + 1))"
    check_eq "$name: events after the import" "$(status_field events <"$last_out")" "$((want_events + new_count))"
    run "$name-export-after" "$CTL" export --after "$position" "${ledger[@]}"
    check_eq "$name: events above the highest restored position $position" "$(wc -l <"$last_out")" "$new_count"
    note "seal #$((want_seals + 1)) chains on; all $new_count new events are above position $position"
}

# ---------------------------------------------------------------------------------------------
step "1. source ledger A: embedded cluster, demo history, seal key, seal"
pg_dir "$ARCHIVE"
mkdir -p "$BACKUP"
run migrate-A "$CTL" migrate --data-dir "$A"
# WAL archiving, as production sets it in postgresql.conf (here with ALTER SYSTEM, so that every
# later start of A, by placementctl too, archives). Compressed: with archiving on, every stop of
# the server closes its WAL segment, each placementctl command here starts and stops A, and those
# 16 MB segments are mostly empty.
# And a ledger that has run a while has used many transaction ids, more than a fresh cluster has:
# A uses 50,000 here, so that a logical restore into a fresh cluster puts the ledger clock behind
# the log, which migrate must correct.
pg_start "$A/pg" "$A/run"
run configure-A psql_at "$A/run" placement \
    "ALTER SYSTEM SET archive_mode = on" \
    "ALTER SYSTEM SET archive_command = 'test ! -f $ARCHIVE/%f.gz && gzip -c %p > $ARCHIVE/%f.gz.part && mv $ARCHIVE/%f.gz.part $ARCHIVE/%f.gz'" \
    'DO $$ BEGIN FOR i IN 1..50000 LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$'
pg_stop "$A/pg"
run demo-A "$CTL" demo --postings 40 --data-dir "$A"
note "$(both | tail -n 1)"
run seal-key-A "$CTL" seal-keys create --data-dir "$A"
run seal-A "$CTL" seal --data-dir "$A"
digest1=$(out)
[[ "$digest1" =~ ^[0-9a-f]{64}$ ]] || fail "seal printed no digest: $(both)"
run digest-A "$CTL" digest --data-dir "$A"
check_eq "placementctl digest after seal" "$(out)" "$digest1"
run status-A "$CTL" status --data-dir "$A"
events_at_backup=$(status_field events <"$last_out")
position_at_backup=$(status_field position <"$last_out")
note "A: $events_at_backup events up to position $position_at_backup, sealed; published digest $digest1"

# ---------------------------------------------------------------------------------------------
step "2. logical backup: pg_dump -Fc of A (and, beside it, the seal digest and an export)"
echo "$digest1" >"$BACKUP/seal-digest.txt"
run export-A "$CTL" export --data-dir "$A"
cp "$last_out" "$BACKUP/events.ndjson"
pg_start "$A/pg" "$A/run"
pg_dir "$BACKUP/dump"
run pg_dump as_pg "$pg_bin/pg_dump" -h "$A/run" -U postgres -d placement -Fc --exclude-schema='proj_*' -f "$BACKUP/dump/placement.dump"
note "placement.dump: $(stat -c %s "$BACKUP/dump/placement.dump") bytes"

# ---------------------------------------------------------------------------------------------
step "3. physical backup: pg_basebackup -Ft -Xstream of A"
pg_dir "$BACKUP/base"
run pg_basebackup as_pg "$pg_bin/pg_basebackup" -h "$A/run" -U postgres -D "$BACKUP/base" -Ft -Xstream --checkpoint=fast
[ -s "$BACKUP/base/base.tar" ] && [ -s "$BACKUP/base/pg_wal.tar" ] || fail "pg_basebackup wrote no base.tar and pg_wal.tar: $(ls -l "$BACKUP/base")"
note "base.tar $(stat -c %s "$BACKUP/base/base.tar") bytes, pg_wal.tar $(stat -c %s "$BACKUP/base/pg_wal.tar") bytes"
pg_stop "$A/pg"

# ---------------------------------------------------------------------------------------------
step "4. after the backups: more events on A, sealed (a restore from the backups alone loses them)"
make_events 7 8 "$WORK/late-events.ndjson"
make_events 9 9 "$WORK/new-events.ndjson"
new_count=$(wc -l <"$WORK/new-events.ndjson")
run import-late-A "$CTL" import "$WORK/late-events.ndjson" --data-dir "$A"
run seal-A-2 "$CTL" seal --data-dir "$A"
digest2=$(out)
run status-A-2 "$CTL" status --data-dir "$A"
events_final=$(status_field events <"$last_out")
[ "$events_final" -gt "$events_at_backup" ] || fail "the late events were not appended to A ($events_final events)"
run export-A-2 "$CTL" export --data-dir "$A"
cp "$last_out" "$WORK/events-final.ndjson"
# Close the WAL segment holding them and wait until it is archived (archive_timeout does this in
# production).
pg_start "$A/pg" "$A/run"
run switch-wal psql_at "$A/run" placement "SELECT pg_walfile_name(pg_switch_wal())"
segment=$(out)
for _ in $(seq 1 100); do
    run archiver psql_at "$A/run" placement "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"
    archived=$(out)
    [[ -n "$archived" && ! "$archived" < "$segment" ]] && break
    sleep 0.1
done
[[ -n "$archived" && ! "$archived" < "$segment" ]] || fail "WAL segment $segment was not archived within 10 s (last archived: '$archived'; see $A/run/postgresql.log)"
pg_stop "$A/pg"
note "A: $events_final events, seal #2 $digest2 (after the backup); WAL archived up to $segment"

# ---------------------------------------------------------------------------------------------
step "5a. logical restore into a fresh cluster B: role, pg_restore --create, then prove it"
# An empty embedded cluster, made the way placementctl makes one; then emptied to what a fresh
# server has: no ledger database, no placement_app role.
run init-B "$CTL" status --data-dir "$B"
pg_start "$B/pg" "$B/run"
run empty-B psql_at "$B/run" postgres "DROP DATABASE placement" "DROP ROLE placement_app"
# Roles are not in a database dump: the daemon's role must exist before pg_restore.
run role-B psql_at "$B/run" postgres "CREATE ROLE placement_app NOLOGIN"
run pg_restore as_pg "$pg_bin/pg_restore" -h "$B/run" -U postgres -d postgres --create --exit-on-error "$BACKUP/dump/placement.dump"
# Before migrate, read-only over the URL (an embedded --data-dir would migrate on opening): the
# fresh cluster's transaction ids are far below those the restored positions came from.
run status-B-before "$CTL" status --database-url "postgresql://postgres@/placement?host=$B/run"
grep -q '^clock: *BEHIND the log' "$last_out" || fail "B: before migrate, status does not show the clock behind the log: $(grep '^clock' "$last_out")"
note "before migrate: $(grep '^clock' "$last_out" | sed 's/^clock: *//')"
pg_stop "$B/pg"
# The private halves of seal keys are files, not in the database: restored from their own backup.
cp -a "$A/seal-keys" "$B/seal-keys"
prove_restore B "$events_at_backup" 1 moved -- --data-dir "$B"

# ---------------------------------------------------------------------------------------------
step "5b. physical restore C: the base backup alone, in a new PGDATA started with pg_ctl"
# The restored server must not archive into A's archive: archive_mode=off on its command line.
restore_base() {   # restore_base DIR: DIR/pg is the PGDATA, DIR/run the socket directory
    mkdir -p "$1"; chmod 755 "$1"
    pg_dir "$1/pg"; pg_dir "$1/run"
    run untar-base as_pg tar -xf "$BACKUP/base/base.tar" -C "$1/pg"
    run untar-wal as_pg tar -xf "$BACKUP/base/pg_wal.tar" -C "$1/pg/pg_wal"
    rm -f "$1/pg/postmaster.pid"
}
restore_base "$C"
pg_start "$C/pg" "$C/run" -c archive_mode=off
url_C="postgresql://postgres@/placement?host=$C/run"
# The seal key directory is lost with A in this scenario: a new key signs the next seals; the
# seals of the old key still verify (its public half is in the database).
run seal-key-C "$CTL" seal-keys create --seal-keys "$C/seal-keys" --database-url "$url_C"
prove_restore C "$events_at_backup" 1 kept --seal-keys "$C/seal-keys" -- --database-url "$url_C"
pg_stop "$C/pg"

# ---------------------------------------------------------------------------------------------
step "5c. physical restore D: the base backup plus the WAL archive (recovery to the archive's end)"
restore_base "$D"
cat >>"$D/pg/postgresql.auto.conf" <<CONF
restore_command = 'gunzip -c $ARCHIVE/%f.gz > %p'
CONF
as_pg touch "$D/pg/recovery.signal"
pg_start "$D/pg" "$D/run" -c archive_mode=off
for _ in $(seq 1 300); do
    run in-recovery psql_at "$D/run" postgres "SELECT pg_is_in_recovery()"
    [ "$(out)" = f ] && break
    sleep 0.1
done
[ "$(out)" = f ] || fail "D is still in recovery after 30 s (see $D/run/postgresql.log)"
note "recovery ended: $(grep -E 'archive recovery complete|selected new timeline' "$D/run/postgresql.log" | tail -n 1 | sed 's/^.*LOG: *//')"
url_D="postgresql://postgres@/placement?host=$D/run"
prove_restore D "$events_final" 2 kept --seal-keys "$A/seal-keys" -- --database-url "$url_D"
pg_stop "$D/pg"

# ---------------------------------------------------------------------------------------------
step "6. negative check: tamper with one restored event in B; verify --digest must exit 1 naming it"
pg_start "$B/pg" "$B/run"
run pick-event psql_at "$B/run" placement "SELECT position FROM events WHERE type = 'posted' AND position <= $position_at_backup ORDER BY position OFFSET 5 LIMIT 1"
tampered=$(out)
[ -n "$tampered" ] || fail "no event to tamper with in B"
run tamper psql_at "$B/run" placement \
    "ALTER TABLE events DISABLE TRIGGER events_append_only" \
    "UPDATE events SET data = jsonb_set(data, '{title}', '\"Tampered title\"') WHERE position = $tampered" \
    "ALTER TABLE events ENABLE TRIGGER events_append_only"
pg_stop "$B/pg"
expect_exit 1 tampered-verify-digest "$CTL" verify --digest "$digest1" --data-dir "$B"
grep -q "position $tampered" "$last_out" "$last_err" || fail "verify --digest exited 1 but did not name the tampered position $tampered: $(both)"
note "verify --digest: exit 1: $(head -n 1 "$last_out")"
expect_exit 1 tampered-verify "$CTL" verify --data-dir "$B"
grep -q "position $tampered" "$last_out" "$last_err" || fail "verify exited 1 but did not name the tampered position $tampered: $(both)"
note "verify: exit 1: $(head -n 1 "$last_out")"

step "restore drill passed in $(( $(date +%s) - started_at )) s"
