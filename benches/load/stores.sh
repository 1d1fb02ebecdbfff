#!/usr/bin/env bash
# The durable stores against their servers' own ceilings, side by side in one run (BENCHMARKS.md §3b):
# RedisStore claim+complete vs `redis-benchmark -t set`, and vs redis-benchmark running the claim script
# itself by EVALSHA; PostgresStore claim vs pgbench running a one-statement INSERT … ON CONFLICT. At
# concurrency 16 and 64, against the local services. Usage: benches/load/stores.sh [ops] [rounds]
# (BACKENDS="postgres" runs only the PostgreSQL pair; STORE_LOAD=path runs another build of store_load.)
set -euo pipefail
cd "$(dirname "$0")/../.."
ops=${1:-200000}
rounds=${2:-1}
backends=${BACKENDS:-redis postgres}
db=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}

cargo build -q --release -p hookguard-tower --example store_load --features redis,postgres
bin=${STORE_LOAD:-target/release/examples/store_load}
lua=crates/hookguard-tower/src/store/redis
sha=$(redis-cli -h 127.0.0.1 SCRIPT LOAD "$(cat "$lua/lib.lua" "$lua/claim.lua")")
fp=$(printf 'f%.0s' $(seq 32))
token=$(printf 't%.0s' $(seq 16))
psql -q "$db" -c "CREATE TABLE IF NOT EXISTS hookguard_pgbench (key text PRIMARY KEY, v int NOT NULL)"
script=$(mktemp)
trap 'rm -f "$script"; psql -q "$db" -c "DROP TABLE IF EXISTS hookguard_pgbench"' EXIT
cat > "$script" <<'SQL'
\set k random(1, 2000000000)
INSERT INTO hookguard_pgbench (key, v) VALUES ('k' || :k, 1) ON CONFLICT (key) DO UPDATE SET v = excluded.v;
SQL

for round in $(seq 1 "$rounds"); do
for c in 16 64; do
  echo "== round $round, concurrency $c"
  if [[ " $backends " == *" redis "* ]]; then
    # `-t set`'s own command, under this script's prefix so the cleanup below removes its keys.
    redis-benchmark -h 127.0.0.1 -c "$c" -n "$ops" -r 100000000 -q SET "hookguard-bench:__rand_int__" xxx \
      | tr -d '\r' | grep -o '[0-9.]* requests per second' | sed 's/^/SET: /'
    "$bin" redis "$c" "$ops"
    redis-benchmark -h 127.0.0.1 -c "$c" -n "$ops" -r 100000000 -q \
      EVALSHA "$sha" 1 "hookguard-bench:__rand_int__" "$fp" "$token" 60000 3600000 "" 300000 "" \
      | tr -d '\r' | grep -o '[0-9.]* requests per second' | sed 's/^/EVALSHA claim: /'
  fi
  if [[ " $backends " == *" postgres "* ]]; then
    "$bin" postgres "$c" $((ops / 5)) claim-only
    pgbench -n -c "$c" -j 2 -t $((ops / 5 / c)) -f "$script" "$db" 2>/dev/null | grep -E '^tps' | sed 's/^/pgbench INSERT … ON CONFLICT: /'
  fi
done
done
psql -q -At "$db" -c "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'hookguard_load_%'" |
  while read -r schema; do psql -q "$db" -c "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE"; done
for pattern in 'hookguard-bench:*' 'hookguard-load:*'; do
  redis-cli -h 127.0.0.1 --scan --pattern "$pattern" | xargs -r -n 500 redis-cli -h 127.0.0.1 DEL > /dev/null
done
