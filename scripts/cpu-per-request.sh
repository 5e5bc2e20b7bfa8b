#!/usr/bin/env bash
# CPU time per request, by process: placementd and the PostgreSQL server processes (every process
# of the postgres user), measured from /proc around a wrk run. Without PATH it sends single-event
# appends (scripts/wrk-append.lua, a new posting each); with PATH it GETs that route.
#
# Usage: PLACEMENT_KEY=<key> scripts/cpu-per-request.sh CONNECTIONS [SECONDS] [URL] [PATH]
#   e.g. PLACEMENT_KEY=plk_... scripts/cpu-per-request.sh 32 10 http://127.0.0.1:8080
#        PLACEMENT_KEY=plk_... scripts/cpu-per-request.sh 1 5 http://127.0.0.1:8080 /v1/reports/companies/c-acme/stipends
# Appends need a platform key; a GET needs a key that may read the route. Needs wrk (Debian's
# package) and a running placementd (the newest one is measured).
set -euo pipefail
connections=${1:?connections}
seconds=${2:-10}
url=${3:-http://127.0.0.1:8080}
path=${4:-}
: "${PLACEMENT_KEY:?set PLACEMENT_KEY to an API key}"
here=$(cd "$(dirname "$0")" && pwd)
daemon=$(pgrep -n -x placementd)
hz=$(getconf CLK_TCK)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
postgres_ticks() {
    local total=0
    for pid in $(pgrep -u postgres); do total=$((total + $(ticks "$pid"))); done
    echo "$total"
}

threads=$(( connections < 2 ? connections : 2 ))
if [ -z "$path" ]; then
    what=appends
    command=(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$here/wrk-append.lua" "$url/v1/events")
else
    what="GET $path"
    command=(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -H "Authorization: Bearer $PLACEMENT_KEY" "$url$path")
fi
d0=$(ticks "$daemon"); p0=$(postgres_ticks)
out=$("${command[@]}")
d1=$(ticks "$daemon"); p1=$(postgres_ticks)
requests=$(echo "$out" | awk '/requests in/ {print $1}')
echo "$out" | grep -E "Requests/sec|50%|99%|Non-2xx" || true
awk -v d=$((d1 - d0)) -v p=$((p1 - p0)) -v n="$requests" -v hz="$hz" -v s="$seconds" -v what="$what" 'BEGIN {
    printf "%s: %d requests in %d s\n", what, n, s
    printf "placementd CPU %.2f s = %.3f ms per request (%.2f cores)\n", d / hz, 1000 * d / hz / n, d / hz / s
    printf "postgres   CPU %.2f s = %.3f ms per request (%.2f cores)\n", p / hz, 1000 * p / hz / n, p / hz / s
}'
