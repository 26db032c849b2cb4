#!/usr/bin/env python3
"""Instructions per operation from an iai-callgrind run, checked against the committed baseline.

Usage (`benches/iai/run` calls it; see BENCHMARKS.md, "Instruction counts"):

    check.py RESULTS_DIR [--update]

RESULTS_DIR holds one `<build>.json` per build of `builds.txt`: the JSON lines the benchmark
prints with `--output-format=json`. Per operation = (Ir of the benchmark - Ir of
`loop_overhead` in the same build) / ITERS.

Fails (exit 1) when a row of pushpull grows more than 3 % over `baseline.tsv`, when a row is
missing on either side, or when an `off-at-runtime` build costs more than 2 instructions per
operation over the default build (or more than the row's allowance in `builds.txt`). `--update` rewrites `baseline.tsv` from this run instead
(a reviewed commit of its own).
"""

import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINE = os.path.join(HERE, "baseline.tsv")
BUILDS = os.path.join(HERE, "builds.txt")
SOURCE = os.path.join(HERE, "benches", "fast_paths.rs")

# A row may grow by this factor over the baseline before the check fails.
TOLERANCE = 1.03
# A feature compiled in but off at run time may add this much per operation.
OFF_AT_RUNTIME_MAX = 2.0

# (benchmark, what it does, budget of issue 24 or None, anchors)
ROWS = [
    ("read", "`read()` + deref + drop", 17,
     ["read_parking_lot", "read_std", "read_watch_borrow"]),
    ("modify", "`modify()` + deref + drop", 20, ["modify_parking_lot"]),
    ("modify_upgrade", "`modify()`, `upgrade`, `+= 1`, drop", None,
     ["modify_upgrade_parking_lot"]),
    ("write", "`write()` + `+= 1` (publishes) + drop", 21, ["write_parking_lot", "write_std"]),
    ("write_no_mutation", "`write()` + read + drop (no publish)", None,
     ["write_no_mutation_parking_lot", "write_no_mutation_std"]),
    ("push", "`push(\\|v\\| *v += 1)`", 20, ["push_parking_lot", "push_std"]),
    ("push_puller_live", "`push(\\|v\\| *v += 1)`, a puller live", 20, ["push_watch_send_modify"]),
    ("push_if_false", "`push_if` declining", 18, ["push_if_false_watch"]),
    ("push_at_win", "`push_at` at the current version", None, ["push_at_win_parking_lot"]),
    ("push_at_conflict", "`push_at` at a stale version", None, ["has_changed_atomic"]),
    ("has_changed", "`has_changed()`, unchanged", 3, ["has_changed_atomic", "has_changed_watch"]),
    ("pull_unchanged", "`pull()` → `None`", None, ["has_changed_atomic", "has_changed_watch"]),
    ("pull_changed", "`pull()` → `Some` (clone)", None,
     ["pull_changed_parking_lot", "pull_changed_watch"]),
    ("wait_changed", "`wait()` finding a change there", None, ["wait_changed_condvar"]),
    ("waitgroup_add_done_wait", "WaitGroup `add(1)`, `done()`, `wait()`", 25,
     ["waitgroup_crossbeam", "waitgroup_std_latch"]),
    ("waitgroup_token_wait", "WaitGroup `token()`, drop, `wait()`", None, ["waitgroup_crossbeam"]),
]

ANCHOR_NAMES = {
    "read_parking_lot": "parking_lot `RwLock::read`",
    "read_std": "std `RwLock::read`",
    "read_watch_borrow": "watch `borrow`",
    "modify_parking_lot": "parking_lot `upgradable_read`",
    "modify_upgrade_parking_lot": "parking_lot upgradable + `upgrade`",
    "write_parking_lot": "parking_lot `RwLock::write`",
    "write_std": "std `RwLock::write`",
    "write_no_mutation_parking_lot": "parking_lot `RwLock::write`",
    "write_no_mutation_std": "std `RwLock::write`",
    "push_parking_lot": "parking_lot `Mutex::lock`",
    "push_std": "std `Mutex::lock`",
    "push_watch_send_modify": "watch `send_modify`",
    "push_if_false_watch": "watch `send_if_modified` (false)",
    "push_at_win_parking_lot": "parking_lot `Mutex<(T, version)>`",
    "has_changed_atomic": "`AtomicU64` load + compare",
    "has_changed_watch": "watch `has_changed`",
    "pull_changed_parking_lot": "parking_lot `RwLock::read` + clone",
    "pull_changed_watch": "watch `mark_changed` + `borrow_and_update`",
    "wait_changed_condvar": "parking_lot `Mutex` + `Condvar`, ready",
    "waitgroup_crossbeam": "crossbeam `WaitGroup` new/clone/drop/wait",
    "waitgroup_std_latch": "std `Mutex` + `Condvar` latch",
}


def builds():
    out = []
    for line in open(BUILDS):
        line = line.split("#", 1)[0].split()
        if line:
            name, features, kind, *extra = line
            assert kind in ("budget", "feature", "off-at-runtime"), line
            allow = {}
            for item in extra:
                assert item.startswith("allow=") and kind == "off-at-runtime", line
                for pair in item[len("allow="):].split(","):
                    bench, limit = pair.split(":")
                    allow[bench] = float(limit)
            out.append((name, features, kind, allow))
    assert out and out[0][2] == "budget", "builds.txt: the first build must be the default"
    return out


def iters():
    m = re.search(r"const ITERS: u64 = ([0-9_]+);", open(SOURCE).read())
    return int(m.group(1).replace("_", ""))


def instructions(summary):
    """The total Ir of one benchmark's JSON summary line."""
    (profile,) = [p for p in summary["profiles"] if p["tool"] == "Callgrind"]
    metric = profile["summaries"]["total"]["summary"]["Callgrind"]["Ir"]["metrics"]
    side = metric.get("Left") or metric.get("Both")[0]
    return side["Int"]


def per_op(results_dir, build, n):
    """{benchmark: instructions per operation} of one build."""
    path = os.path.join(results_dir, f"{build}.json")
    totals = {}  # {binary: {benchmark: Ir}}: each binary subtracts its own loop overhead
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            s = json.loads(line)
            binary = s["module_path"].split("::")[0]
            totals.setdefault(binary, {})[s["function_name"]] = instructions(s)
    out = {}
    for binary, rows in totals.items():
        if "loop_overhead" not in rows:
            sys.exit(f"check.py: {path}: {binary} has no loop_overhead row (did the run fail?)")
        base = rows.pop("loop_overhead")
        out.update({name: (total - base) / n for name, total in rows.items()})
    if not out:
        sys.exit(f"check.py: {path} has no results (did the run fail?)")
    return out


def rustc_version():
    try:
        return subprocess.run(["rustc", "--version"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def read_baseline():
    rows, rustc = {}, None
    if not os.path.exists(BASELINE):
        return rows, rustc
    for line in open(BASELINE):
        if line.startswith("# rustc:"):
            rustc = line.split(":", 1)[1].strip()
        if line.startswith("#") or not line.strip():
            continue
        build, bench, value = line.split("\t")
        rows[(build, bench)] = float(value)
    return rows, rustc


def write_baseline(results, n):
    with open(BASELINE, "w") as f:
        f.write("# Instructions per operation (release, loop overhead subtracted), written by\n")
        f.write("# `bash benches/iai/run --update`: a change of this file is a reviewed commit of its\n")
        f.write("# own. CI fails when a pushpull row grows more than 3 % over it.\n")
        f.write(f"# rustc: {rustc_version()}\n")
        f.write(f"# iterations per benchmark: {n}\n")
        f.write("# build\tbenchmark\tinstructions_per_op\n")
        for build, rows in results.items():
            for bench in sorted(rows):
                f.write(f"{build}\t{bench}\t{rows[bench]:.2f}\n")


def fmt(x):
    if x is None:
        return "—"
    return f"{round(x, 2) + 0.0:.2f}".rstrip("0").rstrip(".")


def main():
    args = sys.argv[1:]
    update = "--update" in args
    args = [a for a in args if a != "--update"]
    if len(args) != 1:
        sys.exit(__doc__)
    results_dir = args[0]
    n = iters()
    all_builds = builds()
    results = {name: per_op(results_dir, name, n) for name, *_ in all_builds}
    default = results[all_builds[0][0]]
    ours = [r[0] for r in ROWS]

    print(f"\nInstructions per operation ({n} iterations, loop overhead subtracted), "
          f"release, {rustc_version()}:\n")
    print("| operation | pushpull | budget | anchors |")
    print("|---|---:|---:|---|")
    for bench, what, budget, anchors in ROWS:
        v = default.get(bench)
        mark = ""
        if budget is not None and v is not None:
            mark = f"≤ {budget} {'met' if round(v, 2) <= budget else 'missed'}"
        anchor_text = "; ".join(f"{ANCHOR_NAMES[a]} {fmt(default.get(a))}" for a in anchors)
        print(f"| {what} | {fmt(v)} | {mark} | {anchor_text} |")

    if len(all_builds) > 1:
        names = [b[0] for b in all_builds]
        print(f"\nPer build (pushpull rows; difference to {names[0]} in brackets):\n")
        print("| operation | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for bench, what, _, _ in ROWS:
            cells = []
            for name in names:
                v = results[name].get(bench)
                d = default.get(bench)
                if name == names[0] or v is None or d is None:
                    cells.append(fmt(v))
                else:
                    diff = round(v - d, 2)
                    cells.append(f"{fmt(v)} ({'-' if diff < 0 else '+'}{fmt(abs(diff))})")
            print(f"| {what} | " + " | ".join(cells) + " |")

    if update:
        write_baseline({name: {b: v for b, v in rows.items()
                               if b in ours or name == all_builds[0][0]}
                        for name, rows in results.items()}, n)
        print(f"\nbaseline written: {BASELINE}")
        return

    failures, notes = [], []
    baseline, base_rustc = read_baseline()
    if not baseline:
        sys.exit(f"check.py: no baseline at {BASELINE}: run `bash benches/iai/run --update`")
    for name, _, kind, allow in all_builds:
        for bench in ours:
            now, then = results[name].get(bench), baseline.get((name, bench))
            if now is None:
                failures.append(f"{name}/{bench}: not measured (benchmark missing?)")
            elif then is None:
                failures.append(f"{name}/{bench}: no baseline row (run --update in its own commit)")
            elif now > then * TOLERANCE + 0.005:
                failures.append(f"{name}/{bench}: {fmt(now)} instructions/op, baseline "
                                f"{fmt(then)} (+{(now / then - 1) * 100:.1f} %, limit 3 %)")
            elif now < then / TOLERANCE - 0.005:
                notes.append(f"{name}/{bench}: {fmt(now)} < baseline {fmt(then)}: improved; "
                             "update the baseline in a commit of its own")
            if kind == "off-at-runtime" and now is not None and bench in default:
                extra = now - default[bench]
                limit = allow.get(bench, OFF_AT_RUNTIME_MAX)
                if extra > limit + 0.005:
                    failures.append(f"{name}/{bench}: {fmt(extra)} instructions/op over the "
                                    f"default build (at most {limit:g} when off at run time)")
    for (name, bench), then in baseline.items():
        if name not in results:
            failures.append(f"baseline build {name} is not in builds.txt")
            break
    drift = [a for a in ANCHOR_NAMES
             if (all_builds[0][0], a) in baseline and a in default
             and abs(default[a] - baseline[(all_builds[0][0], a)]) > 0.005]
    print()
    for note in notes:
        print("note:", note)
    if failures:
        for f in failures:
            print("REGRESSION:", f)
        if drift or (base_rustc and base_rustc != rustc_version()):
            print(f"(the anchors moved too ({', '.join(drift) or 'none'}), or the toolchain "
                  f"differs: baseline {base_rustc}, now {rustc_version()}: a toolchain or "
                  "dependency change shifts every count; re-baseline in a commit of its own)")
        sys.exit(1)
    print(f"instruction counts: {len(all_builds)} builds x {len(ours)} rows within 3 % of the "
          "baseline")


if __name__ == "__main__":
    main()
