#!/usr/bin/env bash
# Instructions per delivery on the receive path, counted by callgrind (BENCHMARKS.md §3g): the same count
# from run to run whatever else the machine does. Each mode runs twice, with N and 2N deliveries; the
# difference divided by N leaves out the start-up. Under valgrind SHA-256 runs in software (the SHA
# extensions are hidden), so only the layer's own work (`verify` − `verifying-handler`) and the store with
# the layer's glue (`idempotent` − `verify` − the fingerprint) are free of hashing.
# Usage: benches/load/instructions.sh [N]   (needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-3000}
cargo build -q --release -p hookguard-tower --example receive_instructions
bin=target/release/examples/receive_instructions
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Instructions for `mode` with `count` deliveries.
count() {
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_delivery() { echo $(( ($(count "$1" $((2 * n))) - $(count "$1" "$n")) / n )); }

handler=$(per_delivery verifying-handler)
verify=$(per_delivery verify)
idempotent=$(per_delivery idempotent)
fingerprint=$(( $(per_delivery fingerprint) - $(per_delivery sign) ))
echo "verifying handler: $handler  verify (layer): $verify  idempotent: $idempotent  (instructions per delivery)"
echo "the layer's own work (verify - verifying handler): $((verify - handler))"
echo "idempotency over verify: $((idempotent - verify)), of which the fingerprint (software SHA-256): $fingerprint"
echo "the store and the layer's glue (idempotency - fingerprint): $((idempotent - verify - fingerprint))"
