#!/usr/bin/env bash
# CPU time per single-event append, by process: placementd and the PostgreSQL server processes
# (every process of the postgres user), measured from /proc around a wrk run.
#
# Usage: PLACEMENT_KEY=<platform key> scripts/cpu-per-append.sh CONNECTIONS [SECONDS] [URL]
#   e.g. PLACEMENT_KEY=plk_... scripts/cpu-per-append.sh 32 10 http://127.0.0.1:8080
# Needs wrk (Debian's package) and a running placementd (the newest one is measured).
set -euo pipefail
connections=${1:?connections}
seconds=${2:-10}
url=${3:-http://127.0.0.1:8080}
: "${PLACEMENT_KEY:?set PLACEMENT_KEY to a platform key}"
here=$(cd "$(dirname "$0")" && pwd)
daemon=$(pgrep -n -x placementd)
hz=$(getconf CLK_TCK)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
postgres_ticks() {
    local total=0
    for pid in $(pgrep -u postgres); do total=$((total + $(ticks "$pid"))); done
    echo "$total"
}

d0=$(ticks "$daemon"); p0=$(postgres_ticks)
threads=$(( connections < 2 ? connections : 2 ))
out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$here/wrk-append.lua" "$url/v1/events")
d1=$(ticks "$daemon"); p1=$(postgres_ticks)
requests=$(echo "$out" | awk '/requests in/ {print $1}')
echo "$out" | grep -E "Requests/sec|50%|99%"
awk -v d=$((d1 - d0)) -v p=$((p1 - p0)) -v n="$requests" -v hz="$hz" -v s="$seconds" 'BEGIN {
    printf "appends %d in %d s\n", n, s
    printf "placementd CPU %.2f s = %.3f ms per append (%.2f cores)\n", d / hz, 1000 * d / hz / n, d / hz / s
    printf "postgres   CPU %.2f s = %.3f ms per append (%.2f cores)\n", p / hz, 1000 * p / hz / n, p / hz / s
}'
