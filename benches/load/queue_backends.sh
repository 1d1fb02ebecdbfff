#!/usr/bin/env bash
# Each durable queue's backend alone, at the sender's batch size (issue 10), to set beside queues.sh: the
# queue's own statements/scripts driven by the stock benchmark clients, no sender, no HTTP.
#  - PostgreSQL (DATABASE_URL): a scratch schema migrated like PostgresQueue::migrate does (0001_jobs.sql with
#    the schema filled in, plus its migrations row), `jobs` scheduled jobs of 1 KiB for one endpoint, then
#    pgbench -M prepared, C clients for DURATION s, each transaction = lease.sql (batch, the sender's cap
#    and lease arguments) then conclude.sql acking every leased job (attempt 1, status 200). Both statements
#    are the files' text with the schema filled in, their comment lines dropped and $n turned into pgbench
#    variables ($2, the deadline clock, is NULL: the server's, as TimeSource::Server binds it); the lease is
#    wrapped so its rows come back as one row of arrays for \gset (its final SELECT becomes a last CTE
#    `lease_rows`, so the UPDATE stays at the top level). Two statements, two commits, like the sender.
#  - Redis: a private redis-server (appendonly yes, appendfsync everysec, as queues.sh), filled by the real
#    lib.lua+enqueue_many.lua, then redis-benchmark -c C EVALSHA of lib.lua+lease.lua with the KEYS/ARGV
#    RedisQueue::lease sends for this batch. Lease only: an ack names each leased job's id and token, which
#    redis-benchmark cannot vary per call.
# jobs/s = calls/s × jobs each call actually leased (counted in the data after the run).
# Usage: benches/load/queue_backends.sh [jobs per run] [batch] [client counts, e.g. 1,2,4]
#        (env: DATABASE_URL; DURATION=10 pgbench seconds; PG_JIT=off for the pgbench sessions: from a backlog
#        of roughly 150k jobs the lease's estimated cost passes the default jit_above_cost (100000; 228k at
#        300k jobs) and every lease then spends ~30 ms in LLVM; PG_JIT=on to measure that)
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs=${1:-300000}
batch=${2:-32}
clients=${3:-1,2,4}
duration=${DURATION:-10}
jit=${PG_JIT:-off}
db=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
src=crates/hookguard-sender/src/queue
schema=hg_backends_$$ # not hg_bench_%: queues.sh drops every such schema on exit
root='{hg_backends}'
ep=ep
lease_ms=60000 # SenderBuilder's default lease
payload=$(printf 'x%.0s' $(seq 1024))
IFS=, read -r -a counts <<< "$clients"
row() { printf '%-10s %7s %10s %12s %10s %12s %10s %10s %12s\n' "$@"; }

dir=$(mktemp -d)
port=
cleanup() {
  if [[ -n $port ]]; then redis-cli -h 127.0.0.1 -p "$port" shutdown nosave > /dev/null 2>&1 || true; fi
  psql -q "$db" -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE" > /dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- PostgreSQL --------------------------------------------------------------------------------------------
# The statement text as the queue sends it: schema filled in, comment lines dropped (pgbench would make
# parameters of the $n in them), $2 NULL, every other $n the pgbench variable :<prefix>n.
# shellcheck disable=SC2016 # the $ in the sed expressions are sed's
statement() { # file prefix
  sed -e "s/{schema}/$schema/g" -e '/^[[:space:]]*--/d' "$src/postgres/$1" |
    sed -E -e 's/\$2([^0-9])/NULL\1/g' -e 's/\$([0-9]+)/:'"$2"'\1/g'
}
{
  # The lease, its final SELECT turned into a last CTE `lease_rows`; one row of arrays for conclude's items.
  statement lease.sql l | awk '{ line[NR] = $0 } /^SELECT/ { last = NR }
    END { for (i = 1; i <= NR; i++) { if (i == last) print ", lease_rows AS ("; print line[i] } print ")" }'
  cat << 'SQL'
SELECT count(l.id) AS n,
       coalesce(array_agg(l.id) FILTER (WHERE l.id IS NOT NULL), '{}') AS c3,
       coalesce(array_agg(l.token) FILTER (WHERE l.id IS NOT NULL), '{}') AS c4,
       array_fill('ack'::text, ARRAY[count(l.id)::int]) AS c5,
       array_fill(NULL::bigint, ARRAY[count(l.id)::int]) AS c6,
       array_fill(NULL::text, ARRAY[count(l.id)::int]) AS c7,
       array_fill(false, ARRAY[count(l.id)::int]) AS c8,
       array_fill(1, ARRAY[count(l.id)::int]) AS c9,
       array_fill((extract(epoch FROM clock_timestamp()) * 1000)::bigint, ARRAY[count(l.id)::int]) AS c10,
       array_fill(200, ARRAY[count(l.id)::int]) AS c11,
       array_fill(NULL::text, ARRAY[count(l.id)::int]) AS c12,
       array_fill(NULL::text, ARRAY[count(l.id)::int]) AS c13,
       array_fill(1000000::bigint, ARRAY[count(l.id)::int]) AS c14,
       array_fill(''::text, ARRAY[count(l.id)::int]) AS c15
FROM lease_rows AS l
\gset
SQL
  statement conclude.sql c
  echo ';'
} > "$dir/lease_conclude.sql"

pg_fill() {
  local now
  now=$(now_ms)
  psql -q -v ON_ERROR_STOP=1 "$db" > /dev/null << SQL
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS $schema CASCADE;
CREATE SCHEMA $schema;
CREATE TABLE $schema.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
$(sed "s/{schema}/$schema/g" "$src"/postgres/migrations/0001_jobs.sql)
INSERT INTO $schema.migrations (version, name) VALUES (1, 'jobs');
INSERT INTO $schema.endpoints (id) VALUES ('$ep');
INSERT INTO $schema.jobs (endpoint_id, event_id, event_type, payload, created_at, state, due_at)
SELECT '$ep', 'ev-' || g, 'bench', convert_to('$payload', 'UTF8'), $now, 'scheduled', $now
FROM generate_series(1, $jobs) g;
VACUUM ANALYZE $schema.jobs;
VACUUM ANALYZE $schema.endpoints;
SQL
}

pg_rows=()
pg_run() { # clients
  local c=$1 out tx tps lat acked left per lease_lat conclude_lat
  pg_fill
  out=$(PGOPTIONS="${PGOPTIONS:-} -c jit=$jit" pgbench -n -r -M prepared -c "$c" -j $((c < 2 ? c : 2)) -T "$duration" -f "$dir/lease_conclude.sql" \
    -D l1="$(now_ms)" -D l3="$batch" -D l4="$lease_ms" -D l5='{}' -D l6="{$ep}" -D l7="{$batch}" \
    -D l8="$batch" -D c1="$(now_ms)" "$db" 2>&1) || { echo "$out" >&2; return 1; }
  tx=$(awk '/number of transactions actually processed/ { print $NF }' <<< "$out")
  tx=${tx%%/*}
  tps=$(awk '/^tps/ { print $3 }' <<< "$out")
  lat=$(awk '/latency average/ { print $4 }' <<< "$out")
  read -r lease_lat conclude_lat < <(awk '$3 == "WITH" { printf "%s ", $1 } END { print "" }' <<< "$out")
  read -r acked left < <(psql -At -F ' ' "$db" -c \
    "SELECT count(*) FILTER (WHERE state = 'delivered'), count(*) FILTER (WHERE state = 'scheduled') FROM $schema.jobs")
  per=$(awk -v a="$acked" -v t="$tx" 'BEGIN { printf "%.2f", t ? a / t : 0 }')
  [[ $left -gt 0 ]] || echo "warning: PostgreSQL, $c clients: the queue ran dry; raise [jobs]" >&2
  pg_rows+=("$(row PostgreSQL "$c" "$tx" "$tps" "$per" \
    "$(awk -v t="$tps" -v p="$per" 'BEGIN { printf "%.0f", t * p }')" "$lat" "$lease_lat" "$conclude_lat")")
}

# --- Redis -------------------------------------------------------------------------------------------------
while :; do
  port=$((20000 + RANDOM % 40000))
  (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null || break
done
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" \
  --appendonly yes --appendfsync everysec --maxmemory-policy noeviction > /dev/null
rc() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }
until rc ping > /dev/null 2>&1; do sleep 0.1; done
load() { cat "$src/redis/lib.lua" "$src/redis/$1" | rc -x SCRIPT LOAD; } # lib.lua prepended, as redis.rs does
enqueue=$(load enqueue_many.lua)
lease=$(load lease.lua)
tokens=$(printf 'k%.0s' $(seq $((batch * 16)))) # 16 bytes per job; lease only stores them
# RedisQueue::lease's KEYS/ARGV for the sender's options: now, mode s (TimeSource::Server), max, lease ms,
# tokens, default cap = batch, no excluded endpoint, one capped endpoint (ep, batch).
lease_call=(EVALSHA "$lease" 1 "$root" 0 s "$batch" "$lease_ms" "$tokens" "$batch" 0 1 "$ep" "$batch")

redis_fill() {
  local now chunk=500 k n i args
  now=$(now_ms)
  rc flushall > /dev/null
  for ((k = 0; k < jobs; k += chunk)); do
    n=$((jobs - k < chunk ? jobs - k : chunk))
    args=(EVALSHA "$enqueue" 1 "$root" s "$n")
    for ((i = k + 1; i <= k + n; i++)); do args+=("$ep" "ev-$i" bench "$payload" "$now" "$now"); done
    rc "${args[@]}" > /dev/null
  done
  # Rewrite the AOF now, not in the middle of the run.
  rc bgrewriteaof > /dev/null
  while rc info persistence | grep -q '^aof_rewrite_in_progress:1'; do sleep 0.2; done
}

redis_rows=()
redis_run() { # clients
  local c=$1 calls lines one out rps lat flight per
  redis_fill
  lease_call[4]=$(now_ms)
  # One call by hand: 3 header fields, then 7 per leased job.
  lines=$(rc "${lease_call[@]}" | wc -l)
  one=$(((lines - 3) / 7))
  [[ $one -eq $batch ]] || echo "warning: Redis: one lease call returned $one jobs, not $batch" >&2
  calls=$(((jobs - one) * 9 / (10 * batch))) # never run dry
  out=$(redis-benchmark -h 127.0.0.1 -p "$port" -c "$c" -n "$calls" --csv "${lease_call[@]}")
  rps=$(tail -1 <<< "$out" | awk -F'","' '{ print $2 }')
  lat=$(tail -1 <<< "$out" | awk -F'","' '{ print $3 }')
  flight=$(rc zcard "$root:flight")
  per=$(awk -v f="$flight" -v o="$one" -v n="$calls" 'BEGIN { printf "%.2f", (f - o) / n }')
  redis_rows+=("$(row Redis "$c" "$calls" "$rps" "$per" \
    "$(awk -v r="$rps" -v p="$per" 'BEGIN { printf "%.0f", r * p }')" "$lat" "$lat" -)")
}

echo "$(date -u +%FT%TZ); $(uptime)"
echo "PostgreSQL $(psql -At "$db" -c 'SHOW server_version') synchronous_commit=$(psql -At "$db" -c 'SHOW synchronous_commit'); Redis $(rc info server | awk -F: '/^redis_version/ { print $2 }' | tr -d '\r') appendfsync $(rc config get appendfsync | tail -1)"
echo "$jobs scheduled jobs of 1 KiB, one endpoint, batch $batch; PostgreSQL: lease+conclude(ack) per transaction, ${duration}s, jit=$jit; Redis: lease only"
for c in "${counts[@]}"; do pg_run "$c"; done
for c in "${counts[@]}"; do redis_run "$c"; done
row backend clients calls calls/s jobs/call jobs/s 'avg ms' 'lease ms' 'conclude ms'
printf '%s\n' "${pg_rows[@]}" "${redis_rows[@]}"
