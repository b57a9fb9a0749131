#!/usr/bin/env bash
# Workshop load benchmark with wrk: 32 concurrent editors marking cells of
# one system (each request writes, records history, re-renders the panel and
# feeds the live renderer), while 10 browsers listen on the event stream.
# Usage: benches/workshop-load.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-15}"
. benches/common.sh
bench_start 18182
listeners=()
cleanup() { kill "${listeners[@]}" 2>/dev/null; bench_stop; }
trap cleanup EXIT
auth=(-H "Cookie: $COOKIE")
curl -sf -o /dev/null "${auth[@]}" -d 'name=Bench' "$base/teams"
curl -sf -o /dev/null "${auth[@]}" -d 'name=Chatbot&platforms=Generative+AI&exposure=public&criticality=high' "$base/teams/1/systems"
curl -sf "${auth[@]}" "$base/api/v1/frameworks/default/techniques" | python3 -c 'import json,sys; print("\n".join(t["id"] for t in json.load(sys.stdin)))' > "$dir/techniques.txt"
for _ in $(seq 10); do curl -sN "${auth[@]}" "$base/systems/1/events" > /dev/null & listeners+=($!); done
echo "== marking cells: 32 editors clicking without pause (saturation), ${duration}s, 10 live listeners"
THINK_MS=0 wrk -t2 -c32 -d"${duration}s" --latency -s benches/mark-cell.lua "$base" -- "$dir/techniques.txt"
for think in 10 50; do
echo "== marking cells: 32 editors, each pausing ${think} ms between changes, ${duration}s"
THINK_MS=$think wrk -t2 -c32 -d"${duration}s" --latency -s benches/mark-cell.lua "$base" -- "$dir/techniques.txt"
done
echo "== history entries written: $(curl -sf "${auth[@]}" "$base/api/v1/systems/1/history?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')"
