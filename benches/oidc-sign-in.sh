#!/usr/bin/env bash
# Sign-in through an OpenID Connect provider: the test provider of the
# sign-in tests (npm oidc-provider, tests/oidc-provider) on localhost, a
# release atlascope on 127.0.0.1. Times sign-ins (benches/oidc-sign-in.py),
# then loads a page with wrk as a provider account and as a local account
# (a provider session costs nothing more per request).
# Usage: benches/oidc-sign-in.sh [sign-ins] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-200}"
duration="${2:-10}"
. benches/common.sh

op_dir=target/oidc-provider
mkdir -p "$op_dir"
cp tests/oidc-provider/{package.json,package-lock.json,provider.mjs} "$op_dir/"
[ -d "$op_dir/node_modules" ] || (cd "$op_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
op_port=18290
port=18291
# A start that does not answer within 8 s is tried again (now and then
# Node.js stalls before the provider listens; the tests do the same).
for attempt in 1 2 3 4; do
  OP_USERS='{"bench-admin": {"groups": ["bench-admins"]}}' OP_PORT=$op_port \
    OP_REDIRECT="http://127.0.0.1:$port/auth/oidc/callback" OP_SECRET=bench-secret \
    node "$op_dir/provider.mjs" >/dev/null 2>&1 &
  op_pid=$!
  for _ in $(seq 160); do
    curl -sf -o /dev/null "http://localhost:$op_port/.well-known/openid-configuration" && break 2
    sleep 0.05
  done
  kill "$op_pid" 2>/dev/null || true
done
curl -sf -o /dev/null "http://localhost:$op_port/.well-known/openid-configuration" || { echo "the test provider did not start" >&2; exit 1; }

serve_args=(--oidc-issuer "http://localhost:$op_port" --oidc-client-id atlascope --oidc-client-secret bench-secret
  --oidc-admin-group bench-admins --oidc-scopes "openid profile email groups")
bench_start "$port"
trap 'bench_stop; kill $op_pid 2>/dev/null' EXIT

out="$(python3 benches/oidc-sign-in.py "$base" "$count")"
grep -v '^COOKIE ' <<<"$out"
provider_cookie="$(sed -n 's/^COOKIE //p' <<<"$out")"

# Alternated, twice, so drift on the machine does not favour either.
for round in 1 2; do
  for who in provider local; do
    if [ "$who" = provider ]; then cookie="$provider_cookie"; else cookie="$COOKIE"; fi
    printf '== /teams, 2 threads, 32 connections, %ss, an administrator'"'"'s %s session (round %s): ' "$duration" "$who" "$round"
    wrk -t2 -c32 -d"${duration}s" --latency -H "Cookie: $cookie" "$base/teams" \
      | awk '/Requests\/sec/ { rps = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 } END { print rps " req/s, p50 " p50 ", p99 " p99 }'
  done
done
