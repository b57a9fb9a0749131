# Shared by the load benchmarks: build, start a release server on a fresh
# data directory with a benchmark administrator, and sign in.
# Sets: dir, port, base, pid, COOKIE. Source it; call `bench_start PORT`.
BENCH_PASSWORD="benchmark password, not a secret"

bench_start() {
  port="$1"
  command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
  cargo build --release --quiet
  dir="$(mktemp -d)"
  target/release/atlascope --data-dir "$dir" init >/dev/null
  printf '%s\n' "$BENCH_PASSWORD" | target/release/atlascope --data-dir "$dir" user add bench --admin >/dev/null
  target/release/atlascope --data-dir "$dir" serve --bind "127.0.0.1:$port" 2>/dev/null &
  pid=$!
  base="http://127.0.0.1:$port"
  until curl -sf -o /dev/null "$base/healthz"; do sleep 0.05; done
  COOKIE="$(curl -s -o /dev/null -D - --data-urlencode 'username=bench' --data-urlencode "password=$BENCH_PASSWORD" "$base/login" \
    | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p')"
  [ -n "$COOKIE" ] || { echo "could not sign in" >&2; exit 1; }
  export COOKIE
}

bench_stop() {
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
