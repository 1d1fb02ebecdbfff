#!/usr/bin/env bash
# The receiver load run of BENCHMARKS.md: 1 KiB signed POSTs from wrk on loopback to one axum handler, bare,
# behind WebhookLayer (verify only) and behind WebhookLayer + MemoryStore (unique ids), interleaved in rounds
# so that the machine's drift hits every mode alike. The server is pinned to core 0 (one tokio worker), wrk to
# core 1. Usage: benches/load/receiver.sh [rounds] [seconds] [connections]   (needs Debian's wrk)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
secs=${2:-10}
conns=${3:-64}
requests=$(mktemp)
trap 'rm -f "$requests"; kill %1 2>/dev/null || true' EXIT

# MODES="bare verify idempotent redis postgres" adds the durable stores (against the local services).
modes=${MODES:-bare verify idempotent}
cargo build -q --release --example load_receiver --features redis,postgres
bin=target/release/examples/load_receiver
# Enough unique ids that no run wraps around (the summary line says if one did).
"$bin" sign 2000000 > "$requests"

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for round in $(seq 1 "$rounds"); do
  for mode in $modes; do
    taskset -c 0 "$bin" serve "$mode" &
    server=$!
    for _ in $(seq 1 50); do
      (exec 3<>/dev/tcp/127.0.0.1/3100) 2>/dev/null && break
      sleep 0.1
    done
    cpu_before=$(cpu_ticks "$server")
    out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" -s examples/load_signed.lua http://127.0.0.1:3100/ -- "$requests" 1)
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    mean=$(awk '/Latency/ {print $2}' <<<"$out")
    bad=$(awk -F': ' '/non-2xx/ {print $2}' <<<"$out")
    wrapped=$(awk '/wrapped/ {print $(NF-1)}' <<<"$out")
    done_requests=$(awk '/requests in/ {print $1}' <<<"$out")
    # The server's own CPU time per request: what the layer costs, whether or not wrk kept the core busy.
    cpu_us=$(awk -v t="$(( $(cpu_ticks "$server") - cpu_before ))" -v hz="$(getconf CLK_TCK)" -v n="$done_requests" \
      'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    echo "round $round $mode: $rps req/s, server CPU $cpu_us µs/request, mean latency $mean, non-2xx $bad, id wrap-arounds $wrapped"
    kill %1
    wait %1 2>/dev/null || true
  done
done
