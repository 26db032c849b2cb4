//! The measuring machinery: implementations and workloads, command-line options, calibration,
//! the interleaved run, per-sample statistics (wall time and thread CPU time), ratios
//! ours / anchor and the targets.

use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Thread CPU time
// ---------------------------------------------------------------------------------------------

/// CPU time consumed so far by the calling thread, from `/proc/thread-self/schedstat` (its
/// first field is the thread's `sum_exec_runtime` in ns; no `unsafe`, no libc). `None` where
/// the file does not exist (not Linux, or a kernel without `CONFIG_SCHED_INFO`).
///
/// The kernel folds a running thread's latest stretch into that field only at a scheduler
/// event (tick, switch, wake-up), so a bare read lags by up to one tick (~4 ms at HZ=250).
/// `sched_yield` updates the running task's accounting first (`yield_task_fair` calls
/// `update_curr`), so the reading is exact to a microsecond: a yield costs ~1 µs and happens
/// only at the edges of a sample, outside the timed loop.
pub fn thread_cpu_now() -> Option<Duration> {
    std::thread::yield_now();
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// A thread CPU stopwatch: start it and stop it on the same thread.
pub struct ThreadCpu(Option<Duration>);

impl ThreadCpu {
    pub fn start() -> Self {
        ThreadCpu(thread_cpu_now())
    }
    /// CPU time this thread used since `start` (`None` if the clock is unavailable).
    pub fn stop(self) -> Option<Duration> {
        Some(thread_cpu_now()?.saturating_sub(self.0?))
    }
}

/// The sum of several threads' CPU times (`None` if any is unknown).
pub fn cpu_sum(parts: impl IntoIterator<Item = Option<Duration>>) -> Option<Duration> {
    parts.into_iter().sum()
}

// ---------------------------------------------------------------------------------------------
// Implementations and workloads
// ---------------------------------------------------------------------------------------------

/// What one run of `iters` operations measured.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Wall time of the timed section.
    pub wall: Duration,
    /// CPU time of the workload's waiting threads (see [`Workload::cpu_of`]), if measured.
    pub cpu: Option<Duration>,
}

impl From<Duration> for Sample {
    fn from(wall: Duration) -> Self {
        Sample { wall, cpu: None }
    }
}

/// Runs `iters` operations and returns what it measured.
pub type Runner = Box<dyn FnMut(u64) -> Sample>;

pub struct Impl {
    pub name: &'static str,
    /// pushpull's side (ratios are computed for every `ours` × every anchor).
    pub ours: bool,
    pub run: Runner,
}

pub struct Workload {
    pub name: &'static str,
    /// The family (module) it belongs to: `lockbench -- --filter FAMILY` runs the family.
    pub family: &'static str,
    /// What one "op" is, for the table's footnotes.
    pub unit: &'static str,
    /// Whose CPU time the runners report (empty: CPU not measured).
    pub cpu_of: &'static str,
    /// A fixed iteration count per sample instead of calibration (not in smoke mode).
    pub iters: Option<u64>,
    /// At least this many samples per impl (not in smoke mode, nor with `--repeats`).
    pub min_repeats: usize,
    pub impls: Vec<Impl>,
}

impl Workload {
    pub fn new(
        name: &'static str,
        family: &'static str,
        unit: &'static str,
        impls: Vec<Impl>,
    ) -> Self {
        Workload {
            name,
            family,
            unit,
            cpu_of: "",
            iters: None,
            min_repeats: 0,
            impls,
        }
    }

    /// The runners report the CPU time of `who` (e.g. "the waiter thread").
    pub fn cpu_of(mut self, who: &'static str) -> Self {
        self.cpu_of = who;
        self
    }

    /// Every sample runs exactly `n` ops (no calibration).
    pub fn fixed_iters(mut self, n: u64) -> Self {
        self.iters = Some(n);
        self
    }

    pub fn min_repeats(mut self, n: usize) -> Self {
        self.min_repeats = n;
        self
    }

    /// The runners of this workload do `k` ops per requested iteration (one per thread).
    pub fn per_total_ops(mut self, k: u64) -> Self {
        for imp in &mut self.impls {
            let mut run = std::mem::replace(&mut imp.run, Box::new(|_| Duration::ZERO.into()));
            imp.run = Box::new(move |n| {
                // `n` total ops: each of the k threads does n / k.
                let per = (n / k).max(1);
                let s = run(per);
                // Rescale so the harness's division by `n` gives time per op.
                let f = n as f64 / (per * k) as f64;
                Sample {
                    wall: s.wall.mul_f64(f),
                    cpu: s.cpu.map(|c| c.mul_f64(f)),
                }
            });
        }
        self
    }
}

pub fn ours<S: Into<Sample>>(name: &'static str, mut run: impl FnMut(u64) -> S + 'static) -> Impl {
    Impl {
        name,
        ours: true,
        run: Box::new(move |n| run(n).into()),
    }
}

pub fn anchor<S: Into<Sample>>(
    name: &'static str,
    mut run: impl FnMut(u64) -> S + 'static,
) -> Impl {
    Impl {
        name,
        ours: false,
        run: Box::new(move |n| run(n).into()),
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

/// Busy-waits (no sleep, no yield) until `deadline`: pacing that a sleeping timer's slack
/// cannot stretch.
pub fn spin_until(deadline: Instant) {
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
pub struct Mode {
    pub repeats: usize,
    /// `--repeats=N` given: exactly N samples, whatever a workload's `min_repeats`.
    pub repeats_forced: bool,
    /// Target wall time of one sample.
    pub sample: Duration,
    /// Fixed tiny iteration count instead of calibration.
    pub smoke: bool,
    /// `--iters=N`: a fixed iteration count (for `valgrind --tool=callgrind`: run twice with
    /// different N and divide the difference in instructions).
    pub fixed_iters: Option<u64>,
}

/// Iterations per sample in smoke mode.
pub const SMOKE_ITERS: u64 = 50;

pub struct Options {
    pub mode: Mode,
    /// `--filter X` / `--filter=X` / a bare `X`: a family's name selects that family, anything
    /// else the workloads whose name contains it.
    pub filter: Option<String>,
    /// `--impl=NAME`: only that implementation.
    pub only_impl: Option<String>,
    pub spin_study: bool,
}

impl Options {
    pub fn from_args(args: &[String]) -> Options {
        let has = |f: &str| args.iter().any(|a| a == f);
        let opt = |name: &str| -> Option<String> {
            args.iter().enumerate().find_map(|(i, a)| {
                let rest = a.strip_prefix(name)?;
                match rest.strip_prefix('=') {
                    Some(v) => Some(v.to_string()),
                    None if rest.is_empty() => args.get(i + 1).cloned(),
                    None => None,
                }
            })
        };
        let filter_value = opt("--filter");
        // A bare argument (not an option, nor the value of `--filter`) is a filter too.
        let bare = args.iter().enumerate().find_map(|(i, a)| {
            let is_value = i > 0 && args[i - 1] == "--filter";
            (!a.starts_with("--") && !is_value).then(|| a.clone())
        });
        let mut mode = if has("--smoke") {
            Mode {
                repeats: 7,
                repeats_forced: false,
                sample: Duration::ZERO,
                smoke: true,
                fixed_iters: None,
            }
        } else if has("--quick") {
            Mode {
                repeats: 7,
                repeats_forced: false,
                sample: Duration::from_millis(50),
                smoke: false,
                fixed_iters: None,
            }
        } else {
            Mode {
                repeats: 11,
                repeats_forced: false,
                sample: Duration::from_millis(150),
                smoke: false,
                fixed_iters: None,
            }
        };
        if let Some(n) = opt("--iters") {
            mode.fixed_iters = Some(n.parse().expect("--iters=N"));
        }
        if let Some(n) = opt("--repeats") {
            mode.repeats = n.parse().expect("--repeats=N");
            mode.repeats_forced = true;
        }
        Options {
            mode,
            filter: filter_value.or(bare),
            only_impl: opt("--impl"),
            spin_study: has("--spin-study"),
        }
    }

    /// Keeps the workloads (and impls) the options select.
    pub fn select(&self, workloads: &mut Vec<Workload>) {
        if let Some(f) = &self.filter {
            if workloads.iter().any(|w| w.family == f.as_str()) {
                workloads.retain(|w| w.family == f.as_str());
            } else {
                workloads.retain(|w| w.name.contains(f.as_str()));
            }
        }
        if let Some(only) = &self.only_impl {
            for w in workloads.iter_mut() {
                w.impls.retain(|i| i.name == only.as_str());
            }
            workloads.retain(|w| !w.impls.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running and statistics
// ---------------------------------------------------------------------------------------------

/// Median, min and max of a set of per-sample values.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let mut s = values.to_vec();
        s.sort_by(f64::total_cmp);
        Spread {
            median: median(&s),
            min: s[0],
            max: s[s.len() - 1],
        }
    }
}

pub struct Stats {
    pub workload: &'static str,
    pub imp: &'static str,
    pub ours: bool,
    /// Wall ns/op of each sample, in run order (sample `k` of every impl of a workload comes
    /// from the same round of the interleaving).
    pub wall_samples: Vec<f64>,
    /// CPU ns/op of each sample (of the threads named by the workload's `cpu_of`).
    pub cpu_samples: Option<Vec<f64>>,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// CPU ns/op.
    pub cpu: Option<Spread>,
    /// CPU time / wall time per sample (1.0 = one core busy all the time).
    pub cpu_share: Option<Spread>,
}

pub struct Ratio {
    pub workload: &'static str,
    pub ours: &'static str,
    pub anchor: &'static str,
    /// median(ours) / median(anchor)
    pub ratio: f64,
    /// min(ours) / min(anchor): the best samples against each other.
    pub best_ratio: f64,
    /// max(ours) / median(anchor): the slowest sample of ours against the anchor's median.
    pub worst_ratio: f64,
    /// ours / anchor per round of the interleaving: the lowest and the highest.
    pub ratio_min: f64,
    pub ratio_max: f64,
    /// The same for CPU ns/op, where both sides measured it: (median / median, per-round min,
    /// per-round max).
    pub cpu: Option<(f64, f64, f64)>,
}

/// Picks an iteration count so that one sample takes about `mode.sample`.
fn calibrate(run: &mut Runner, mode: Mode, fixed: Option<u64>) -> u64 {
    if let Some(n) = mode.fixed_iters {
        return n;
    }
    if mode.smoke {
        return SMOKE_ITERS;
    }
    if let Some(n) = fixed {
        return n;
    }
    let mut iters = 16u64;
    loop {
        let t = run(iters).wall;
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
    let fixed = w.iters;
    let iters: Vec<u64> = w
        .impls
        .iter_mut()
        .map(|i| calibrate(&mut i.run, mode, fixed))
        .collect();
    let repeats = if mode.smoke || mode.repeats_forced {
        mode.repeats
    } else {
        mode.repeats.max(w.min_repeats)
    }
    .max(1);
    let n = w.impls.len();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::with_capacity(repeats); n];
    for rep in 0..repeats {
        for k in 0..n {
            let i = (rep + k) % n; // rotate who goes first
            samples[i].push((w.impls[i].run)(iters[i]));
        }
    }
    w.impls
        .iter()
        .zip(samples)
        .zip(iters)
        .map(|((imp, s), iters)| {
            let per_op = |d: Duration| d.as_nanos() as f64 / iters as f64;
            let wall: Vec<f64> = s.iter().map(|x| per_op(x.wall)).collect();
            let cpu: Option<Vec<f64>> = s.iter().map(|x| x.cpu.map(per_op)).collect();
            let share: Option<Vec<f64>> = s
                .iter()
                .map(|x| Some(x.cpu?.as_secs_f64() / x.wall.as_secs_f64().max(1e-12)))
                .collect();
            let ws = Spread::of(&wall);
            Stats {
                workload: w.name,
                imp: imp.name,
                ours: imp.ours,
                median: ws.median,
                min: ws.min,
                max: ws.max,
                cpu: cpu.as_deref().map(Spread::of),
                cpu_share: share.as_deref().map(Spread::of),
                wall_samples: wall,
                cpu_samples: cpu,
            }
        })
        .collect()
}

/// The lowest and highest of `a[k] / b[k]` over the rounds both have.
fn pairwise(a: &[f64], b: &[f64]) -> (f64, f64) {
    a.iter()
        .zip(b)
        .map(|(x, y)| x / y)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
            (lo.min(r), hi.max(r))
        })
}

pub fn ratios(stats: &[Stats]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for o in stats.iter().filter(|s| s.ours) {
        for a in stats.iter().filter(|s| !s.ours && s.workload == o.workload) {
            let (ratio_min, ratio_max) = pairwise(&o.wall_samples, &a.wall_samples);
            let cpu = match (&o.cpu, &a.cpu, &o.cpu_samples, &a.cpu_samples) {
                (Some(oc), Some(ac), Some(os), Some(as_)) => {
                    let (lo, hi) = pairwise(os, as_);
                    Some((oc.median / ac.median, lo, hi))
                }
                _ => None,
            };
            out.push(Ratio {
                workload: o.workload,
                ours: o.imp,
                anchor: a.imp,
                ratio: o.median / a.median,
                best_ratio: o.min / a.min,
                worst_ratio: o.max / a.median,
                ratio_min,
                ratio_max,
                cpu,
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
pub const STD_CONDVAR: &str = "std Mutex+Condvar";
pub const PP_WG: &str = "pushpull WaitGroup";
pub const MPSC: &str = "std mpsc pair";
pub const PL_RW_ARC: &str = "parking_lot::RwLock<Arc> clone";
pub const ARCSWAP: &str = "ArcSwap load";
pub const WATCH: &str = "tokio watch";

/// Which figure of a [`Ratio`] a target limits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Metric {
    /// Median wall ns/op, ours / anchor.
    Median,
    /// Best sample / best sample.
    Best,
    /// Slowest sample of ours / the anchor's median.
    Worst,
    /// Median CPU ns/op of the waiting threads, ours / anchor.
    Cpu,
}

impl Metric {
    pub const ALL: [Metric; 4] = [Metric::Median, Metric::Best, Metric::Worst, Metric::Cpu];

    pub fn label(self) -> &'static str {
        match self {
            Metric::Median => "medians",
            Metric::Best => "best samples",
            Metric::Worst => "slowest sample / anchor median",
            Metric::Cpu => "CPU, medians",
        }
    }

    pub fn of(self, r: &Ratio) -> Option<f64> {
        match self {
            Metric::Median => Some(r.ratio),
            Metric::Best => Some(r.best_ratio),
            Metric::Worst => Some(r.worst_ratio),
            Metric::Cpu => r.cpu.map(|c| c.0),
        }
    }
}

/// (workload, ours, anchor, metric, max ratio)
const TARGETS: &[(&str, &str, &str, Metric, f64)] = &[
    ("read_uncontended", PP, PL_RW, Metric::Median, 1.10),
    ("write_uncontended", PP, PL_RW, Metric::Median, 1.10),
    ("modify_uncontended", PP, PL_RW, Metric::Median, 1.10),
    (
        "modify_upgrade_uncontended",
        PP,
        PL_RW,
        Metric::Median,
        1.10,
    ),
    ("update_uncontended", PP, PL_MUTEX, Metric::Median, 1.0),
    ("pull_unchanged", PP, PL_RW_CMP, Metric::Median, 0.15),
    ("pull_unchanged", PP, ATOMIC, Metric::Median, 2.0),
    ("push_no_waiters", PP, WATCH, Metric::Median, 0.25),
    ("waitgroup_cycle", PP, CB_WG, Metric::Median, 0.15),
    ("waitgroup_fanin", PP, CB_WG, Metric::Median, 0.25),
    ("update_contended_2t", PP, PL_MUTEX, Metric::Median, 1.0),
    ("push_wait_pingpong", PP, PL_CONDVAR, Metric::Median, 0.10),
    ("push_wait_pingpong", PP, PL_CONDVAR, Metric::Best, 0.02),
    ("pingpong_cold", PP, PL_CONDVAR, Metric::Median, 0.10),
    ("pingpong_cold", PP, PL_CONDVAR, Metric::Worst, 0.5),
    ("wait_until_slow_pushes", PP, PL_CONDVAR, Metric::Cpu, 1.5),
    ("consumers_4", PP, PL_CONDVAR, Metric::Cpu, 1.5),
    // Wall time per push ≤ the anchor's = pusher throughput ≥ 1.0 × the anchor's.
    ("consumers_4", PP, PL_CONDVAR, Metric::Median, 1.0),
    ("snapshot_read_mostly", PP, PL_RW_ARC, Metric::Median, 1.0),
    // Issue 23: a timed wait that times out costs about what a condvar's does (the 1 µs spin
    // floor every wait pays is the difference, see BENCHMARKS.md); a consumer of bursty pushes
    // within 1.5x a condvar consumer's CPU.
    ("timed_wait_loop", PP, STD_CONDVAR, Metric::Cpu, 2.0),
    ("timed_wait_loop", PP_WG, STD_CONDVAR, Metric::Cpu, 2.0),
    ("bursty_pushes", PP, PL_CONDVAR, Metric::Cpu, 1.5),
    // The contention profile enabled at 1 in 100 against the same build with it disabled.
    (
        "profile_update_contended_2t",
        PROFILE_ON,
        PROFILE_OFF,
        Metric::Median,
        1.05,
    ),
    (
        "profile_consumers_4",
        PROFILE_ON,
        PROFILE_OFF,
        Metric::Median,
        1.05,
    ),
];

/// The profile family's names (see `profile.rs`).
const PROFILE_ON: &str = "pushpull (profile 1/100)";
const PROFILE_OFF: &str = "pushpull (profile disabled)";

pub fn target_of(r: &Ratio, metric: Metric) -> Option<f64> {
    TARGETS
        .iter()
        .find(|t| t.0 == r.workload && t.1 == r.ours && t.2 == r.anchor && t.3 == metric)
        .map(|t| t.4)
}
