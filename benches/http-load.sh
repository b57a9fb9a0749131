#!/usr/bin/env bash
# HTTP load benchmark with wrk (Debian: apt-get install wrk).
# Builds the release binary, starts it on a fresh data directory and loads
# the full matrix page at 64 connections, then reports page weights.
# Usage: benches/http-load.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-15}"
. benches/common.sh
bench_start 18181
trap bench_stop EXIT
auth=(-H "Cookie: $COOKIE")

echo "== full matrix page, 2 threads, 64 connections, ${duration}s (no compression)"
wrk -t2 -c64 -d"${duration}s" --latency "${auth[@]}" "$base/frameworks/2026.05"
echo "== full matrix page, same, with Accept-Encoding: gzip"
wrk -t2 -c64 -d"${duration}s" --latency "${auth[@]}" -H 'Accept-Encoding: gzip' "$base/frameworks/2026.05"
echo "== filtered matrix, full page rendered per request (not cached)"
wrk -t2 -c64 -d"${duration}s" --latency "${auth[@]}" "$base/frameworks/2026.05?maturity=realized"
echo "== filtered matrix as an htmx fragment"
wrk -t2 -c64 -d"${duration}s" --latency "${auth[@]}" -H 'HX-Request: true' -H 'HX-Target: matrix' "$base/frameworks/2026.05?q=prompt"

echo "== transfer size of the matrix page and everything it loads (gzip)"
page="$(curl -s "${auth[@]}" "$base/frameworks/2026.05")"
total=$(curl -s "${auth[@]}" -H 'Accept-Encoding: gzip' -o /dev/null -w '%{size_download}' "$base/frameworks/2026.05")
printf '  %-40s %7d bytes\n' "matrix page" "$total"
for url in $(grep -oE '/static/[^"]+' <<<"$page" | sort -u); do
  size=$(curl -s -H 'Accept-Encoding: gzip' -o /dev/null -w '%{size_download}' "$base$url")
  printf '  %-40s %7d bytes\n' "${url%%\?*}" "$size"
  total=$((total + size))
done
printf '  %-40s %7d bytes\n' "total" "$total"
