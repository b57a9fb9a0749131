# Shared by the load benchmarks: build, start a release server on a fresh
# data directory with a benchmark administrator, and sign in.
# Sets: dir, port, base, pid, COOKIE. Source it; call `bench_start PORT`
# (extra `serve` options, if any, in the array `serve_args`).
BENCH_PASSWORD="benchmark password, not a secret"

bench_start() {
  port="$1"
  command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
  cargo build --release --quiet
  dir="$(mktemp -d)"
  target/release/atlascope --data-dir "$dir" init >/dev/null
  printf '%s\n' "$BENCH_PASSWORD" | target/release/atlascope --data-dir "$dir" user add bench --admin >/dev/null
  target/release/atlascope --data-dir "$dir" serve --bind "127.0.0.1:$port" ${serve_args[@]+"${serve_args[@]}"} 2>/dev/null &
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

# A throw-away PostgreSQL cluster on loopback (as .ci/run starts one).
# Sets: pgdir, PGURL. Call `bench_postgres`; `bench_postgres_stop` ends it.
bench_postgres() {
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$pgbin/initdb" ] || { echo "PostgreSQL is missing: apt-get install postgresql" >&2; exit 1; }
  as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  pgdir=$(mktemp -d /tmp/atlascope-bench-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdir"
  local pgport
  pgport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_postgres "$pgbin/initdb" -D "$pgdir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  as_postgres "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $pgport -k $pgdir -c max_connections=200" start >/dev/null
  PGURL="postgres://postgres@127.0.0.1:$pgport/postgres"
}

bench_postgres_stop() {
  as_postgres "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$pgdir"
}
