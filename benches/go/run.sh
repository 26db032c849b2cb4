#!/usr/bin/env bash
# Go as a cross-language anchor for benches/lockbench/.
#
# Runs the Go counterparts in this folder (lockbench_test.go, GOMAXPROCS=2), then
# `cargo bench --bench lockbench -- --quick` from the repo root, and prints one markdown table:
# workload | pushpull ns/op | Rust anchors ns/op | Go ns/op (all medians).
#
#   bash benches/go/run.sh                 # both, ~1.5 min
#   bash benches/go/run.sh --no-cargo      # reuse the last lockbench results.json
#   GO_BENCHTIME=1s GO_COUNT=7 bash benches/go/run.sh
#
# The tools' own output goes to stderr; the combined table alone to stdout.
# Needs go and python3; nothing else in the crate depends on Go.
set -euo pipefail

if ! command -v go >/dev/null 2>&1; then
    echo "benches/go/run.sh: 'go' not found on PATH; skipping the Go anchor (install Go, e.g. apt-get install golang-go)."
    exit 0
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

run_cargo=1
for arg in "$@"; do
    case "$arg" in
        --no-cargo) run_cargo=0 ;;
        -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "run.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

if ! command -v python3 >/dev/null 2>&1; then
    echo "benches/go/run.sh: python3 is needed to combine the results." >&2
    exit 1
fi

benchtime="${GO_BENCHTIME:-500ms}"
count="${GO_COUNT:-5}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
results="$target_dir/lockbench/results.json"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

go_version="$(go version)"
echo "== $go_version: GOMAXPROCS=2 go test -bench . -benchtime=$benchtime -count=$count" >&2
(cd "$here" && GOMAXPROCS=2 go test -run '^$' -bench . -benchtime="$benchtime" -count="$count") \
    | tee "$tmp/go.txt" >&2

if [ "$run_cargo" = 1 ]; then
    echo "== cargo bench --bench lockbench -- --quick (results: $results)" >&2
    (cd "$root" && cargo bench --bench lockbench -- --quick) >&2
fi
if [ ! -f "$results" ]; then
    echo "run.sh: $results not found (run without --no-cargo)" >&2
    exit 1
fi

python3 - "$tmp/go.txt" "$results" "$go_version" <<'PY'
import json, re, statistics, sys

go_txt, results_path, go_version = sys.argv[1:4]

# Go benchmark -> (lockbench workload, what the Go side is)
GO = {
    "ReadUncontended": ("read_uncontended", "sync.RWMutex RLock/RUnlock"),
    "WriteUncontended": ("write_uncontended", "sync.RWMutex Lock/Unlock"),
    "UpdateUncontended": ("update_uncontended", "sync.Mutex"),
    "PullUnchanged": ("pull_unchanged", "atomic.Uint64 Load"),
    "WaitgroupCycle": ("waitgroup_cycle", "sync.WaitGroup"),
    "WaitgroupFanin": ("waitgroup_fanin", "chan + sync.WaitGroup"),
    "UpdateContended2t": ("update_contended_2t", "sync.Mutex, 2 goroutines"),
    "PushWaitPingpong": ("push_wait_pingpong", "sync.Cond"),
}

samples = {}
line_re = re.compile(r"^Benchmark(\w+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op")
with open(go_txt) as f:
    for line in f:
        m = line_re.match(line)
        if m and m.group(1) in GO:
            samples.setdefault(GO[m.group(1)][0], []).append(float(m.group(2)))
go_label = {w: label for w, label in GO.values()}

with open(results_path) as f:
    data = json.load(f)
ours = {r["ours"] for r in data["ratios"]}
order, by_workload = [], {}
for r in data["results"]:
    w = r["workload"]
    if w not in by_workload:
        order.append(w)
        by_workload[w] = []
    by_workload[w].append(r)

def ns(x):
    return f"{x:.1f}"

print(f"| workload | pushpull ns/op | Rust anchors ns/op | Go ns/op ({go_version.split()[2]}) |")
print("|---|---:|---|---:|")
for w in order:
    if w not in samples:
        continue
    rs = by_workload[w]
    pp = ", ".join(ns(r["median_ns"]) if r["impl"] == "pushpull" else f'{ns(r["median_ns"])} ({r["impl"]})'
                   for r in rs if r["impl"] in ours)
    anchors = "; ".join(f'{r["impl"]} {ns(r["median_ns"])}' for r in rs if r["impl"] not in ours)
    g = sorted(samples[w])
    go_cell = f"{ns(statistics.median(g))} ({go_label[w]}; {ns(g[0])}–{ns(g[-1])})"
    print(f"| {w} | {pp} | {anchors} | {go_cell} |")
missing = [w for w in go_label if w not in samples]
if missing:
    print(f"\n(no Go result for: {', '.join(missing)})")
runs = len(next(iter(samples.values()), []))
print(f"\nGo: median (min–max) of {runs} `go test -bench` runs, GOMAXPROCS=2; "
      f"Rust: lockbench medians from {results_path}.")
PY
