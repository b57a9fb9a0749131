#!/usr/bin/env bash
# Several instances on one PostgreSQL beside one SQLite instance, in one run:
# 32 editors marking cells of one system (wrk, no think time; on PostgreSQL
# 16 per instance on two instances), then a change reaching 100 event
# streams (split across the instances) measured stream by stream.
# PostgreSQL runs with its durable defaults (fsync on), SQLite with its own.
# Usage: benches/cluster-load.sh [seconds] [changes]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-15}"
changes="${2:-40}"
. benches/common.sh
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  bench_stop 2>/dev/null || true
  if [ -n "${pgdir:-}" ]; then bench_postgres_stop; fi
}
trap cleanup EXIT
auth() { curl -sf -o /dev/null -H "Cookie: $COOKIE" "$@"; }
techniques() {
  curl -sf -H "Cookie: $COOKIE" "$1/api/v1/frameworks/default/techniques" \
    | python3 -c 'import json,sys; print("\n".join(t["id"] for t in json.load(sys.stdin)))' > "$2"
}

echo "=== SQLite, one instance"
bench_start 18190
auth -d 'name=Bench' "$base/teams"
auth -d 'name=Chatbot&platforms=Generative+AI&exposure=public&criticality=high' "$base/teams/1/systems"
techniques "$base" "$dir/techniques.txt"
echo "== 32 editors marking cells, ${duration}s"
THINK_MS=0 wrk -t2 -c32 -d"${duration}s" --latency -s benches/mark-cell.lua "$base" -- "$dir/techniques.txt" \
  | grep -E "Requests/sec|Latency   | 99%"
echo "== a change reaching 100 event streams"
python3 benches/fanout-latency.py /systems/1 100 "$changes" "$base"
bench_stop

echo "=== PostgreSQL, two instances on one database"
bench_postgres
dir="$(mktemp -d)"
export ATLASCOPE_DATABASE_URL="$PGURL"
target/release/atlascope init >/dev/null
printf '%s\n' "$BENCH_PASSWORD" | target/release/atlascope user add bench --admin >/dev/null
bases=()
for port in 18191 18192; do
  mkdir -p "$dir/$port"
  target/release/atlascope --data-dir "$dir/$port" serve --bind "127.0.0.1:$port" 2>/dev/null &
  pids+=($!)
  bases+=("http://127.0.0.1:$port")
  until curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"; do sleep 0.05; done
done
base="${bases[0]}"
COOKIE="$(curl -s -o /dev/null -D - --data-urlencode 'username=bench' --data-urlencode "password=$BENCH_PASSWORD" "$base/login" \
  | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p')"
export COOKIE
auth -d 'name=Bench' "$base/teams"
auth -d 'name=Chatbot&platforms=Generative+AI&exposure=public&criticality=high' "$base/teams/1/systems"
techniques "$base" "$dir/techniques.txt"
echo "== 32 editors marking cells, 16 on each instance, ${duration}s"
editors=()
for b in "${bases[@]}"; do
  THINK_MS=0 wrk -t1 -c16 -d"${duration}s" --latency -s benches/mark-cell.lua "$b" -- "$dir/techniques.txt" \
    > "$dir/wrk-${b##*:}.txt" &
  editors+=($!)
done
wait "${editors[@]}"
for b in "${bases[@]}"; do echo "-- instance $b"; grep -E "Requests/sec|Latency   | 99%" "$dir/wrk-${b##*:}.txt"; done
echo "== a change reaching 100 event streams, 50 on each instance, changes made through both in turn"
python3 benches/fanout-latency.py /systems/1 100 "$changes" "${bases[@]}"
