//! Waking a waiting thread: ping-pongs (barrier-started and cold), a `wait_until` waiter under
//! slow pushes, and four consumers of a paced pusher. Every runner reports the CPU time of the
//! waiting threads as well as the wall time (issue 13: a wait must be fast *and* cheap).

use std::hint::black_box;
use std::sync::{mpsc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use pushpull::Shared;

use crate::harness::{
    anchor, cpu_sum, ours, spin_until, Sample, ThreadCpu, Workload, MPSC, PL_CONDVAR, PP,
};

const FAMILY: &str = "wake";

/// The timeout of the timed waits in `pingpong_cold`: long enough never to expire.
const LONG: Duration = Duration::from_secs(10);
/// Round trips per sample of `pingpong_cold` (a short sample, as a user's first burst).
const COLD_ROUND_TRIPS: u64 = 2_000;
/// `wait_until_slow_pushes`: one push per period, for PUSHES × PERIOD = 100 ms.
const SLOW_PERIOD: Duration = Duration::from_micros(20);
const SLOW_PUSHES: u64 = 5_000;
/// `consumers_4`: the pusher's own work between two pushes, and the number of pushes.
const CONSUMER_GAP: Duration = Duration::from_micros(50);
pub(crate) const CONSUMER_PUSHES: u64 = 2_000;
const CONSUMERS: usize = 4;
const STOP: u64 = u64::MAX;

// --- push_wait_pingpong: both threads started together behind a barrier ----------------------

fn pingpong_pushpull(n: u64) -> Sample {
    let ping = Shared::new(0u64);
    let pong = Shared::new(0u64);
    let barrier = Barrier::new(2);
    // Both pullers exist before the first push.
    let mut ping_puller = ping.puller();
    let mut pong_puller = pong.puller();
    thread::scope(|s| {
        let partner = s.spawn(|| {
            let cpu = ThreadCpu::start();
            barrier.wait();
            for i in 0..n {
                drop(ping_puller.wait());
                pong.push(|v| *v = i);
            }
            cpu.stop()
        });
        let cpu = ThreadCpu::start();
        barrier.wait();
        let start = Instant::now();
        for i in 0..n {
            ping.push(|v| *v = i);
            drop(pong_puller.wait());
        }
        let wall = start.elapsed();
        let cpu = cpu_sum([cpu.stop(), partner.join().unwrap()]);
        Sample { wall, cpu }
    })
}

fn pingpong_condvar(n: u64) -> Sample {
    // An even count is the master's turn, odd the partner's.
    let turn = parking_lot::Mutex::new(0u64);
    let cv = parking_lot::Condvar::new();
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let partner = s.spawn(|| {
            let cpu = ThreadCpu::start();
            barrier.wait();
            for _ in 0..n {
                let mut g = turn.lock();
                while *g & 1 == 0 {
                    cv.wait(&mut g);
                }
                *g += 1;
                cv.notify_one();
            }
            cpu.stop()
        });
        let cpu = ThreadCpu::start();
        barrier.wait();
        let start = Instant::now();
        for _ in 0..n {
            let mut g = turn.lock();
            *g += 1;
            cv.notify_one();
            while *g & 1 == 1 {
                cv.wait(&mut g);
            }
        }
        let wall = start.elapsed();
        let cpu = cpu_sum([cpu.stop(), partner.join().unwrap()]);
        Sample { wall, cpu }
    })
}

fn pingpong_mpsc(n: u64) -> Sample {
    let (tx1, rx1) = mpsc::channel::<u64>();
    let (tx2, rx2) = mpsc::channel::<u64>();
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let barrier = &barrier;
        let partner = s.spawn(move || {
            let cpu = ThreadCpu::start();
            barrier.wait();
            for _ in 0..n {
                let v = rx1.recv().unwrap();
                tx2.send(v).unwrap();
            }
            cpu.stop()
        });
        let cpu = ThreadCpu::start();
        barrier.wait();
        let start = Instant::now();
        for i in 0..n {
            tx1.send(i).unwrap();
            black_box(rx2.recv().unwrap());
        }
        let wall = start.elapsed();
        let cpu = cpu_sum([cpu.stop(), partner.join().unwrap()]);
        Sample { wall, cpu }
    })
}

// --- pingpong_cold: no barrier, the partner spawned just before the first push ---------------

fn cold_pushpull(n: u64) -> Sample {
    let ping = Shared::new(0u64);
    let pong = Shared::new(0u64);
    // Created before the spawn and moved in (scoped threads), so no push is missed.
    let mut ping_puller = ping.puller();
    let mut pong_puller = pong.puller();
    let pong = &pong;
    thread::scope(|s| {
        let partner = s.spawn(move || {
            let cpu = ThreadCpu::start();
            for i in 0..n {
                drop(
                    ping_puller
                        .wait_for(LONG)
                        .expect("pingpong_cold: ping timed out"),
                );
                pong.push(|v| *v = i);
            }
            cpu.stop()
        });
        let cpu = ThreadCpu::start();
        let start = Instant::now();
        for i in 0..n {
            ping.push(|v| *v = i);
            drop(
                pong_puller
                    .wait_for(LONG)
                    .expect("pingpong_cold: pong timed out"),
            );
        }
        let wall = start.elapsed();
        let cpu = cpu_sum([cpu.stop(), partner.join().unwrap()]);
        Sample { wall, cpu }
    })
}

fn cold_condvar(n: u64) -> Sample {
    // An even count is the master's turn, odd the partner's.
    let turn = parking_lot::Mutex::new(0u64);
    let cv = parking_lot::Condvar::new();
    thread::scope(|s| {
        let partner = s.spawn(|| {
            let cpu = ThreadCpu::start();
            for _ in 0..n {
                let mut g = turn.lock();
                while *g & 1 == 0 {
                    assert!(
                        !cv.wait_for(&mut g, LONG).timed_out(),
                        "pingpong_cold: ping timed out"
                    );
                }
                *g += 1;
                cv.notify_one();
            }
            cpu.stop()
        });
        let cpu = ThreadCpu::start();
        let start = Instant::now();
        for _ in 0..n {
            let mut g = turn.lock();
            *g += 1;
            cv.notify_one();
            while *g & 1 == 1 {
                assert!(
                    !cv.wait_for(&mut g, LONG).timed_out(),
                    "pingpong_cold: pong timed out"
                );
            }
        }
        let wall = start.elapsed();
        let cpu = cpu_sum([cpu.stop(), partner.join().unwrap()]);
        Sample { wall, cpu }
    })
}

// --- wait_until_slow_pushes: one waiter whose predicate holds only at the end ----------------

#[derive(Default)]
struct Progress {
    pushes: u64,
    done: bool,
}

/// Calls `push(i, last)` for i in 1..=n, one call per `period` on a fixed schedule (a spin on
/// `Instant`, so timer slack cannot stretch it); returns the wall time from start to last.
fn paced_pushes(n: u64, period: Duration, mut push: impl FnMut(u64, bool)) -> Duration {
    let start = Instant::now();
    let mut next = start;
    for i in 1..=n {
        next += period;
        spin_until(next);
        push(i, i == n);
    }
    start.elapsed()
}

fn slow_pushes_pushpull(n: u64) -> Sample {
    let s = Shared::new(Progress::default());
    let barrier = Barrier::new(2);
    thread::scope(|sc| {
        let waiter = sc.spawn(|| {
            let cpu = ThreadCpu::start();
            barrier.wait();
            let g = s.wait_until(|p| p.done).unwrap();
            assert_eq!(g.pushes, n);
            drop(g);
            cpu.stop()
        });
        barrier.wait();
        let wall = paced_pushes(n, SLOW_PERIOD, |i, last| {
            s.push(|p| {
                p.pushes = i;
                p.done = last;
            })
        });
        Sample {
            wall,
            cpu: waiter.join().unwrap(),
        }
    })
}

fn slow_pushes_condvar(n: u64) -> Sample {
    let m = parking_lot::Mutex::new(Progress::default());
    let cv = parking_lot::Condvar::new();
    let barrier = Barrier::new(2);
    thread::scope(|sc| {
        let waiter = sc.spawn(|| {
            let cpu = ThreadCpu::start();
            barrier.wait();
            let mut g = m.lock();
            while !g.done {
                cv.wait(&mut g);
            }
            assert_eq!(g.pushes, n);
            drop(g);
            cpu.stop()
        });
        barrier.wait();
        let wall = paced_pushes(n, SLOW_PERIOD, |i, last| {
            {
                let mut g = m.lock();
                g.pushes = i;
                g.done = last;
            }
            // The pusher does not know what the waiter waits for: it wakes it on every change.
            cv.notify_all();
        });
        Sample {
            wall,
            cpu: waiter.join().unwrap(),
        }
    })
}

// --- consumers_4: four waiting consumers, one paced pusher -----------------------------------

/// The pusher: `n` times, `push(i)` and then `CONSUMER_GAP` of its own work (a spin from the
/// end of the push, so CPU taken from it by the consumers shows as a longer period); returns
/// the wall time.
fn pusher(n: u64, mut push: impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    for i in 1..=n {
        push(i);
        spin_until(Instant::now() + CONSUMER_GAP);
    }
    start.elapsed()
}

pub(crate) fn consumers_pushpull(n: u64) -> Sample {
    let s = Shared::new(0u64);
    let barrier = Barrier::new(CONSUMERS + 1);
    thread::scope(|sc| {
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let mut p = s.puller();
                let barrier = &barrier;
                sc.spawn(move || {
                    let cpu = ThreadCpu::start();
                    barrier.wait();
                    loop {
                        let v = *p.wait().unwrap();
                        if v == STOP {
                            break;
                        }
                        black_box(v);
                    }
                    cpu.stop()
                })
            })
            .collect();
        barrier.wait();
        let wall = pusher(n, |i| s.push(|v| *v = i));
        s.push(|v| *v = STOP);
        let cpu = cpu_sum(consumers.into_iter().map(|c| c.join().unwrap()));
        Sample { wall, cpu }
    })
}

pub(crate) fn consumers_condvar(n: u64) -> Sample {
    let m = parking_lot::Mutex::new(0u64);
    let cv = parking_lot::Condvar::new();
    let barrier = Barrier::new(CONSUMERS + 1);
    thread::scope(|sc| {
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let (m, cv, barrier) = (&m, &cv, &barrier);
                sc.spawn(move || {
                    let cpu = ThreadCpu::start();
                    barrier.wait();
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
                })
            })
            .collect();
        barrier.wait();
        let publish = |v: u64| {
            *m.lock() = v;
            cv.notify_all();
        };
        let wall = pusher(n, publish);
        publish(STOP);
        let cpu = cpu_sum(consumers.into_iter().map(|c| c.join().unwrap()));
        Sample { wall, cpu }
    })
}

pub fn workloads() -> Vec<Workload> {
    vec![
        Workload::new(
            "push_wait_pingpong",
            FAMILY,
            "one round trip: A pushes, B wakes and pushes back, A wakes (both threads started \
             behind a Barrier, untimed waits)",
            vec![
                ours(PP, pingpong_pushpull),
                anchor(PL_CONDVAR, pingpong_condvar),
                anchor(MPSC, pingpong_mpsc),
            ],
        )
        .cpu_of("both threads"),
        Workload::new(
            "pingpong_cold",
            FAMILY,
            "one round trip as in push_wait_pingpong, started cold: no barrier, the partner \
             spawned just before the first push, `wait_for(10 s)` in the loop, 2,000 round trips \
             per sample, at least 15 samples",
            vec![ours(PP, cold_pushpull), anchor(PL_CONDVAR, cold_condvar)],
        )
        .cpu_of("both threads")
        .fixed_iters(COLD_ROUND_TRIPS)
        .min_repeats(15),
        Workload::new(
            "wait_until_slow_pushes",
            FAMILY,
            "one push (a pusher pushes every ~20 µs on a spin-paced schedule, 5,000 pushes = \
             100 ms per sample); one `wait_until` waiter whose predicate holds only after the \
             last push (Condvar: `while !done { wait }`, `notify_all` on every push); \
             CPU ms per 100 ms = the waiter's CPU per 100 ms of wall time",
            vec![
                ours(PP, slow_pushes_pushpull),
                anchor(PL_CONDVAR, slow_pushes_condvar),
            ],
        )
        .cpu_of("the waiter thread")
        .fixed_iters(SLOW_PUSHES),
        Workload::new(
            "consumers_4",
            FAMILY,
            "one push by a pusher that works (spins) ~50 µs after each push, 2,000 pushes per \
             sample; 4 consumers `Puller::wait` (Condvar: wait for the value to move, \
             `notify_all` per push); ns/op = the pusher's period (its throughput is 1 / that)",
            vec![
                ours(PP, consumers_pushpull),
                anchor(PL_CONDVAR, consumers_condvar),
            ],
        )
        .cpu_of("the 4 consumer threads together")
        .fixed_iters(CONSUMER_PUSHES),
    ]
}
