//! A copy of pushpull's push / wait protocol (version word with a WAITING bit, set under a
//! read lock; publish under the write lock; wake through a parking_lot Mutex+Condvar
//! "Event" only if the bit was set), with the spin phase before parking made pluggable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::median;

const WAITING: u64 = 1;
const ONE: u64 = 2;

pub struct Cell {
    lock: parking_lot::RwLock<u64>,
    word: AtomicU64,
    m: parking_lot::Mutex<()>,
    cv: parking_lot::Condvar,
}

impl Cell {
    pub fn new() -> Self {
        Cell {
            lock: parking_lot::RwLock::new(0),
            word: AtomicU64::new(0),
            m: parking_lot::Mutex::new(()),
            cv: parking_lot::Condvar::new(),
        }
    }
    pub fn version(&self) -> u64 {
        self.word.load(Ordering::Acquire) >> 1
    }
    pub fn push(&self, v: u64) {
        let wake = {
            let mut g = self.lock.write();
            *g = v;
            let w = self.word.load(Ordering::Relaxed);
            self.word.store((w + ONE) & !WAITING, Ordering::Release);
            w & WAITING != 0
        };
        if wake {
            drop(self.m.lock());
            self.cv.notify_all();
        }
    }
    pub fn wait_past(&self, seen: u64, policy: Policy, stats: &mut Counts) {
        let ready = || self.version() != seen;
        if ready() {
            stats.immediate += 1;
            return;
        }
        if policy.spin(&ready) {
            stats.spun += 1;
            return;
        }
        let registered = {
            let _r = self.lock.read();
            self.word.fetch_or(WAITING, Ordering::AcqRel) >> 1 == seen
        };
        if !registered {
            stats.spun += 1;
            return;
        }
        stats.parked += 1;
        let mut g = self.m.lock();
        while !ready() {
            self.cv.wait(&mut g);
        }
    }
}

#[derive(Default, Debug, Clone, Copy)]
pub struct Counts {
    pub immediate: u64,
    pub spun: u64,
    pub parked: u64,
}

#[derive(Clone, Copy, Debug)]
pub enum Policy {
    /// crossbeam `Backoff` until `is_completed` (what crate::park does today): 127
    /// spin_loop hints in 7 doubling steps, then 4 `yield_now`s.
    Backoff,
    /// Park at once.
    NoSpin,
    /// Spin (spin_loop hint, re-check) for up to this long, never yield.
    SpinFor(Duration),
    /// Spin for up to this long, then up to `n` yield_now's.
    SpinForThenYield(Duration, u32),
}

impl Policy {
    /// `true` if ready before giving up.
    fn spin(self, ready: &impl Fn() -> bool) -> bool {
        match self {
            Policy::Backoff => {
                let b = crossbeam_utils::Backoff::new();
                while !b.is_completed() {
                    b.snooze();
                    if ready() {
                        return true;
                    }
                }
                false
            }
            Policy::NoSpin => false,
            Policy::SpinFor(d) => spin_for(d, ready),
            Policy::SpinForThenYield(d, n) => {
                if spin_for(d, ready) {
                    return true;
                }
                for _ in 0..n {
                    thread::yield_now();
                    if ready() {
                        return true;
                    }
                }
                false
            }
        }
    }
}

fn spin_for(d: Duration, ready: &impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..32 {
            std::hint::spin_loop();
            if ready() {
                return true;
            }
        }
        if start.elapsed() >= d {
            return false;
        }
    }
}

pub fn pingpong(n: u64, policy: Policy) -> (Duration, Counts) {
    let ping = Cell::new();
    let pong = Cell::new();
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| {
            let mut c = Counts::default();
            barrier.wait();
            for i in 0..n {
                ping.wait_past(i, policy, &mut c);
                pong.push(i);
            }
        });
        let mut c = Counts::default();
        barrier.wait();
        let start = Instant::now();
        for i in 0..n {
            ping.push(i);
            pong.wait_past(i, policy, &mut c);
        }
        (start.elapsed(), c)
    })
}

/// Cost of one park + wake with nobody spinning: the slow mode's floor.
pub fn run(repeats: usize, sample: Duration) {
    let policies = [
        ("Backoff (current)", Policy::Backoff),
        ("no spin (park at once)", Policy::NoSpin),
        ("spin 2 µs", Policy::SpinFor(Duration::from_micros(2))),
        ("spin 10 µs", Policy::SpinFor(Duration::from_micros(10))),
        ("spin 50 µs", Policy::SpinFor(Duration::from_micros(50))),
        (
            "spin 10 µs + 4 yields",
            Policy::SpinForThenYield(Duration::from_micros(10), 4),
        ),
        (
            "spin 50 µs + 4 yields",
            Policy::SpinForThenYield(Duration::from_micros(50), 4),
        ),
    ];
    // Calibrate each policy once.
    let iters: Vec<u64> = policies
        .iter()
        .map(|(_, p)| {
            let mut n = 64u64;
            loop {
                let (t, _) = pingpong(n, *p);
                if t >= sample / 8 || n > 1 << 26 {
                    let per = t.as_secs_f64() / n as f64;
                    break ((sample.as_secs_f64() / per) as u64).max(64);
                }
                n *= 4;
            }
        })
        .collect();
    let mut samples = vec![Vec::new(); policies.len()];
    let mut counts = vec![Counts::default(); policies.len()];
    for rep in 0..repeats {
        for k in 0..policies.len() {
            let i = (rep + k) % policies.len();
            let (t, c) = pingpong(iters[i], policies[i].1);
            samples[i].push(t.as_nanos() as f64 / iters[i] as f64);
            counts[i].immediate += c.immediate;
            counts[i].spun += c.spun;
            counts[i].parked += c.parked;
        }
    }
    // How long crossbeam's Backoff spins + yields before `is_completed` (the budget the
    // current wait gives a pusher before parking), on an idle wait.
    let mut budget: Vec<f64> = (0..201)
        .map(|_| {
            let start = Instant::now();
            let b = crossbeam_utils::Backoff::new();
            while !b.is_completed() {
                b.snooze();
            }
            start.elapsed().as_nanos() as f64
        })
        .collect();
    budget.sort_by(f64::total_cmp);
    println!(
        "\ncrossbeam Backoff budget until is_completed: median {:.0} ns (min {:.0}, max {:.0})",
        median(&budget),
        budget[0],
        budget[budget.len() - 1]
    );
    println!("\n### push_wait_pingpong spin-policy study (prototype of crate::park)\n");
    println!("| policy | ns/round trip median | min–max | samples (sorted) | master's waits: ready at once / after spin / parked |");
    println!("|---|---:|---:|---|---|");
    for (i, (name, _)) in policies.iter().enumerate() {
        let mut s = samples[i].clone();
        s.sort_by(f64::total_cmp);
        let c = counts[i];
        let tot = (c.immediate + c.spun + c.parked).max(1) as f64;
        let list: Vec<String> = s.iter().map(|x| format!("{x:.0}")).collect();
        println!(
            "| {name} | {:.0} | {:.0}–{:.0} | {} | {:.1}% / {:.1}% / {:.1}% |",
            median(&s),
            s[0],
            s[s.len() - 1],
            list.join(" "),
            100.0 * c.immediate as f64 / tot,
            100.0 * c.spun as f64 / tot,
            100.0 * c.parked as f64 / tot
        );
    }
}
