#!/usr/bin/env bash
# Deliveries per second through each queue, side by side in one run (BENCHMARKS.md §5): MemoryQueue in one
# process (the ceiling), then PostgresQueue (synchronous_commit=on, the server's default) and RedisQueue (a
# private redis-server with appendonly yes, appendfsync everysec) drained by 1, 2 and 4 sender-worker
# processes, to a local receiver answering 200 at once, 1 KiB payloads.
# Usage: benches/load/queues.sh [events] [process counts, e.g. 1,2,4] [slots per process] [batch]
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-20000}
processes=${2:-1,2,4}
slots=${3:-32}
batch=${4:-16}
db=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}

cargo build -q --release --all-features --bin sender-worker --example queue_bench

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" \
  --appendonly yes --appendfsync everysec --maxmemory-policy noeviction > /dev/null
cleanup() {
  redis-cli -h 127.0.0.1 -p "$port" shutdown nosave > /dev/null 2>&1 || true
  rm -rf "$dir"
  psql -q -At "$db" -c "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'hg_bench_%'" |
    while read -r schema; do psql -q "$db" -c "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE"; done
}
trap cleanup EXIT
until redis-cli -h 127.0.0.1 -p "$port" ping > /dev/null 2>&1; do sleep 0.1; done

echo "PostgreSQL synchronous_commit=$(psql -At "$db" -c 'SHOW synchronous_commit'); Redis appendfsync $(redis-cli -h 127.0.0.1 -p "$port" config get appendfsync | tail -1)"
target/release/examples/queue_bench --events "$events" --processes "$processes" --slots "$slots" --batch "$batch" \
  --queue "$db" --queue "redis://127.0.0.1:$port"
