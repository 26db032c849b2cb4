//! Waits that mostly find nothing to do, where CPU time is the figure that matters (issue 23,
//! item 5): a loop of short timed waits that time out, and a consumer of bursty pushes
//! (bursts of back-to-back pushes separated by idle milliseconds). Both report the waiting
//! threads' CPU time per op next to the wall time.

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use pushpull::{Shared, WaitGroup};

use crate::harness::{
    anchor, cpu_sum, ours, Sample, ThreadCpu, Workload, PL_CONDVAR, PP, PP_WG, STD_CONDVAR,
};

const FAMILY: &str = "idle";

/// `timed_wait_loop`: the timeout of every wait, and how many threads loop on it.
const SHORT_TIMEOUT: Duration = Duration::from_micros(50);
const LOOPERS: usize = 8;
/// Waits per sample (all threads together).
const TIMED_WAITS: u64 = 1_600;

/// `bursty_pushes`: pushes per burst, the pusher's idle time between bursts, bursts per
/// sample.
const BURST: u64 = 100;
const IDLE: Duration = Duration::from_millis(2);
const BURSTS: u64 = 40;
const STOP: u64 = u64::MAX;

// --- timed_wait_loop: 8 threads loop on `wait_for(50 µs)`; nothing is ever pushed ----------

/// Runs `LOOPERS` threads, each doing `n / LOOPERS` calls of `wait(i)` (which must time out),
/// and returns the wall time and their CPU time.
fn loopers(n: u64, wait: impl Fn() + Sync) -> Sample {
    let per = (n / LOOPERS as u64).max(1);
    let barrier = Barrier::new(LOOPERS + 1);
    thread::scope(|s| {
        let threads: Vec<_> = (0..LOOPERS)
            .map(|_| {
                let (barrier, wait) = (&barrier, &wait);
                s.spawn(move || {
                    let cpu = ThreadCpu::start();
                    barrier.wait();
                    for _ in 0..per {
                        wait();
                    }
                    cpu.stop()
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let cpu = cpu_sum(threads.into_iter().map(|t| t.join().unwrap()));
        Sample {
            wall: start.elapsed(),
            cpu,
        }
    })
}

fn timed_loop_pushpull(n: u64) -> Sample {
    let s = Shared::new(0u64);
    loopers(n, || {
        let mut p = s.puller();
        assert!(
            p.wait_for(SHORT_TIMEOUT).unwrap().is_none(),
            "nothing is pushed"
        );
    })
}

fn timed_loop_wait_group(n: u64) -> Sample {
    let wg = WaitGroup::new();
    let _outstanding = wg.token();
    loopers(n, || assert!(!wg.wait_for(SHORT_TIMEOUT), "never done"))
}

fn timed_loop_pl_condvar(n: u64) -> Sample {
    let m = parking_lot::Mutex::new(0u64);
    let cv = parking_lot::Condvar::new();
    loopers(n, || {
        let mut g = m.lock();
        let deadline = Instant::now() + SHORT_TIMEOUT;
        while *g == 0 {
            if cv.wait_until(&mut g, deadline).timed_out() {
                break;
            }
        }
        assert_eq!(*g, 0);
    })
}

fn timed_loop_std_condvar(n: u64) -> Sample {
    let m = std::sync::Mutex::new(0u64);
    let cv = std::sync::Condvar::new();
    loopers(n, || {
        let g = m.lock().unwrap();
        let (g, _) = cv
            .wait_timeout_while(g, SHORT_TIMEOUT, |v| *v == 0)
            .unwrap();
        assert_eq!(*g, 0);
    })
}

// --- bursty_pushes: bursts of 100 back-to-back pushes, 2 ms idle in between; one consumer --

/// The pusher: `n` bursts of `BURST` calls of `push(value)`, each burst followed by `IDLE` of
/// sleep; then `push(STOP)`. Returns the wall time.
fn bursts(n: u64, push: impl Fn(u64)) -> Duration {
    let start = Instant::now();
    let mut value = 0;
    for _ in 0..n {
        for _ in 0..BURST {
            value += 1;
            push(value);
        }
        thread::sleep(IDLE);
    }
    push(STOP);
    start.elapsed()
}

fn bursty_pushpull(n: u64) -> Sample {
    let s = Shared::new(0u64);
    let mut p = s.puller();
    thread::scope(|sc| {
        let consumer = sc.spawn(move || {
            let cpu = ThreadCpu::start();
            loop {
                let v = *p.wait().unwrap();
                if v == STOP {
                    break;
                }
                black_box(v);
            }
            cpu.stop()
        });
        let wall = bursts(n, |v| s.push(|x| *x = v));
        Sample {
            wall,
            cpu: consumer.join().unwrap(),
        }
    })
}

fn bursty_condvar(n: u64) -> Sample {
    let m = parking_lot::Mutex::new(0u64);
    let cv = parking_lot::Condvar::new();
    thread::scope(|sc| {
        let consumer = sc.spawn(|| {
            let cpu = ThreadCpu::start();
            let mut seen = 0;
            loop {
                let mut g = m.lock();
                while *g == seen {
                    cv.wait(&mut g);
                }
                seen = *g;
                drop(g);
                if seen == STOP {
                    break;
                }
                black_box(seen);
            }
            cpu.stop()
        });
        let wall = bursts(n, |v| {
            *m.lock() = v;
            cv.notify_all();
        });
        Sample {
            wall,
            cpu: consumer.join().unwrap(),
        }
    })
}

pub fn workloads() -> Vec<Workload> {
    vec![
        Workload::new(
            "timed_wait_loop",
            FAMILY,
            "one timed wait of 50 µs that times out (nothing is ever pushed): 8 threads loop \
             on `Puller::wait_for` / `WaitGroup::wait_for` (Condvar: `wait_until` / \
             `wait_timeout_while` under a Mutex), 1,600 waits per sample; CPU = the 8 \
             threads' CPU per wait",
            vec![
                ours(PP, timed_loop_pushpull),
                ours(PP_WG, timed_loop_wait_group),
                anchor(PL_CONDVAR, timed_loop_pl_condvar),
                anchor(STD_CONDVAR, timed_loop_std_condvar),
            ],
        )
        .cpu_of("the 8 waiting threads together")
        .fixed_iters(TIMED_WAITS),
        Workload::new(
            "bursty_pushes",
            FAMILY,
            "one burst: 100 back-to-back pushes, then 2 ms of idle (sleep); one consumer \
             `Puller::wait`s in a loop (Condvar: wait for the value to move, `notify_all` per \
             push), 40 bursts per sample; CPU = the consumer's CPU per burst",
            vec![
                ours(PP, bursty_pushpull),
                anchor(PL_CONDVAR, bursty_condvar),
            ],
        )
        .cpu_of("the consumer thread")
        .fixed_iters(BURSTS),
    ]
}
