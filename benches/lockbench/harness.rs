//! The measuring machinery: implementations and workloads, run modes, calibration, the
//! interleaved run, per-sample statistics, ratios ours / anchor and the targets.

use std::time::{Duration, Instant};

/// Runs `iters` operations and returns the wall time they took.
pub type Runner = Box<dyn FnMut(u64) -> Duration>;

pub struct Impl {
    pub name: &'static str,
    /// pushpull's side (ratios are computed for every `ours` × every anchor).
    pub ours: bool,
    pub run: Runner,
}

pub struct Workload {
    pub name: &'static str,
    /// The family (module) it belongs to: `lockbench -- FAMILY` runs the whole family.
    pub family: &'static str,
    /// What one "op" is, for the table's footnotes.
    pub unit: &'static str,
    pub impls: Vec<Impl>,
}

impl Workload {
    /// The runners of this workload do `k` ops per requested iteration (one per thread).
    pub fn per_total_ops(mut self, k: u64) -> Self {
        for imp in &mut self.impls {
            let mut run = std::mem::replace(&mut imp.run, Box::new(|_| Duration::ZERO));
            imp.run = Box::new(move |n| {
                // `n` total ops: each of the k threads does n / k.
                let per = (n / k).max(1);
                let t = run(per);
                // Rescale so the harness's division by `n` gives time per op.
                t.mul_f64(n as f64 / (per * k) as f64)
            });
        }
        self
    }
}

pub fn ours(name: &'static str, run: impl FnMut(u64) -> Duration + 'static) -> Impl {
    Impl {
        name,
        ours: true,
        run: Box::new(run),
    }
}

pub fn anchor(name: &'static str, run: impl FnMut(u64) -> Duration + 'static) -> Impl {
    Impl {
        name,
        ours: false,
        run: Box::new(run),
    }
}

/// Runs `f` `iters` times and returns the wall time.
pub fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

#[derive(Clone, Copy)]
pub struct Mode {
    pub repeats: usize,
    /// Target wall time of one sample.
    pub sample: Duration,
    /// Fixed tiny iteration count instead of calibration.
    pub smoke: bool,
    /// `--iters=N`: a fixed iteration count (for `valgrind --tool=callgrind`: run twice with
    /// different N and divide the difference in instructions).
    pub fixed_iters: Option<u64>,
}

pub struct Stats {
    pub workload: &'static str,
    pub imp: &'static str,
    pub ours: bool,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

pub struct Ratio {
    pub workload: &'static str,
    pub ours: &'static str,
    pub anchor: &'static str,
    /// median(ours) / median(anchor)
    pub ratio: f64,
    /// min(ours) / min(anchor): the best samples against each other.
    pub best_ratio: f64,
}

/// Picks an iteration count so that one sample takes about `mode.sample`.
fn calibrate(run: &mut Runner, mode: Mode) -> u64 {
    if let Some(n) = mode.fixed_iters {
        return n;
    }
    if mode.smoke {
        return 50;
    }
    let mut iters = 16u64;
    loop {
        let t = run(iters);
        if t >= mode.sample / 8 || iters >= 1 << 34 {
            let per = t.as_secs_f64() / iters as f64;
            return ((mode.sample.as_secs_f64() / per.max(1e-12)) as u64).clamp(16, 1 << 36);
        }
        iters *= 4;
    }
}

pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

pub fn run_workload(w: &mut Workload, mode: Mode) -> Vec<Stats> {
    let iters: Vec<u64> = w
        .impls
        .iter_mut()
        .map(|i| calibrate(&mut i.run, mode))
        .collect();
    let n = w.impls.len();
    let mut samples = vec![Vec::with_capacity(mode.repeats); n];
    for rep in 0..mode.repeats {
        for k in 0..n {
            let i = (rep + k) % n; // rotate who goes first
            let t = (w.impls[i].run)(iters[i]);
            samples[i].push(t.as_nanos() as f64 / iters[i] as f64);
        }
    }
    w.impls
        .iter()
        .zip(samples)
        .map(|(imp, mut s)| {
            s.sort_by(f64::total_cmp);
            Stats {
                workload: w.name,
                imp: imp.name,
                ours: imp.ours,
                median: median(&s),
                min: s[0],
                max: s[s.len() - 1],
            }
        })
        .collect()
}

pub fn ratios(stats: &[Stats]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for o in stats.iter().filter(|s| s.ours) {
        for a in stats.iter().filter(|s| !s.ours && s.workload == o.workload) {
            out.push(Ratio {
                workload: o.workload,
                ours: o.imp,
                anchor: a.imp,
                ratio: o.median / a.median,
                best_ratio: o.min / a.min,
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Implementation names and targets
// ---------------------------------------------------------------------------------------------

pub const PP: &str = "pushpull";
pub const PL_RW: &str = "parking_lot::RwLock";
pub const STD_RW: &str = "std::sync::RwLock";
pub const PL_MUTEX: &str = "parking_lot::Mutex";
pub const STD_MUTEX: &str = "std::sync::Mutex";
pub const ATOMIC: &str = "AtomicU64";
pub const PL_RW_CMP: &str = "parking_lot::RwLock read+compare";
pub const CB_WG: &str = "crossbeam WaitGroup";
pub const LATCH: &str = "Mutex+Condvar latch";
pub const PL_CONDVAR: &str = "parking_lot Mutex+Condvar";
pub const MPSC: &str = "std mpsc pair";
pub const PL_RW_ARC: &str = "parking_lot::RwLock<Arc> clone";
pub const ARCSWAP: &str = "ArcSwap load";

/// (workload, ours, anchor, compare best samples instead of medians, max ratio)
const TARGETS: &[(&str, &str, &str, bool, f64)] = &[
    ("read_uncontended", "pushpull", PL_RW, false, 1.10),
    ("write_uncontended", "pushpull", PL_RW, false, 1.10),
    ("modify_uncontended", "pushpull", PL_RW, false, 1.10),
    ("modify_upgrade_uncontended", "pushpull", PL_RW, false, 1.10),
    ("update_uncontended", "pushpull", PL_MUTEX, false, 1.0),
    ("pull_unchanged", "pushpull", PL_RW_CMP, false, 0.15),
    ("pull_unchanged", "pushpull", ATOMIC, false, 2.0),
    ("waitgroup_cycle", "pushpull", CB_WG, false, 0.15),
    ("waitgroup_fanin", "pushpull", CB_WG, false, 0.25),
    ("update_contended_2t", "pushpull", PL_MUTEX, false, 1.0),
    ("push_wait_pingpong", "pushpull", PL_CONDVAR, false, 0.10),
    ("push_wait_pingpong", "pushpull", PL_CONDVAR, true, 0.02),
    ("snapshot_read_mostly", "pushpull", PL_RW_ARC, false, 1.0),
];

pub fn target_of(r: &Ratio, best: bool) -> Option<f64> {
    TARGETS
        .iter()
        .find(|t| t.0 == r.workload && t.1 == r.ours && t.2 == r.anchor && t.3 == best)
        .map(|t| t.4)
}
