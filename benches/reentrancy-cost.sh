#!/usr/bin/env bash
# The cost of the re-entrancy check on an uncontended `write()`: runs lockbench's
# `write_guard_uncontended` (guard taken and dropped, no publish) built without and with the
# `reentrancy-check` feature, alternating the two builds, with address-space randomization off
# (`setarch -R`: the write path's timing depends on where stack and heap land, see
# BENCHMARKS.md), and parking_lot's write guard as the anchor. Prints ns/op per run.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
target="${CARGO_TARGET_DIR:-target}"
off="$target/reentrancy-off"; on="$target/reentrancy-on"
cargo bench --bench lockbench --no-run --target-dir "$off" 2>/dev/null
cargo bench --bench lockbench --no-run --target-dir "$on" --features reentrancy-check 2>/dev/null
bin() { ls -t "$1"/release/deps/lockbench-* | grep -v '\.d$' | head -1; }
one() { # build impl
  setarch -R "$(bin "$1")" write_guard_uncontended --impl="$2" --iters=20000000 --repeats=3 \
    2>/dev/null | awk -F'|' '/^\| write_guard_uncontended/ {gsub(/ /, "", $4); print $4}'
}
printf 'run  check-off  check-on  parking_lot   (ns/op, write guard taken and dropped)\n'
for i in $(seq 1 "$runs"); do
  printf '%3d  %9s  %8s  %11s\n' "$i" "$(one "$off" pushpull)" "$(one "$on" pushpull)" \
    "$(one "$off" parking_lot::RwLock)"
done
