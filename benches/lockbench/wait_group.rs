//! WaitGroup: a single-thread cycle and a fan-in of long-lived workers.

use std::hint::black_box;
use std::sync::{mpsc, Barrier};
use std::thread;
use std::time::Instant;

use pushpull::{Shared, WaitGroup};

use crate::harness::{anchor, cpu_sum, ours, timed, Sample, ThreadCpu, Workload, CB_WG, LATCH, PP};

const FAMILY: &str = "wait_group";

/// A hand-rolled completion latch: what people write without a WaitGroup.
#[derive(Default)]
struct Latch {
    count: std::sync::Mutex<usize>,
    zero: std::sync::Condvar,
}

impl Latch {
    fn add(&self, n: usize) {
        *self.count.lock().unwrap() += n;
    }
    fn done(&self) {
        let mut c = self.count.lock().unwrap();
        *c -= 1;
        if *c == 0 {
            self.zero.notify_all();
        }
    }
    fn wait(&self) {
        let mut c = self.count.lock().unwrap();
        while *c != 0 {
            c = self.zero.wait(c).unwrap();
        }
    }
}

/// The "tiny batch" a fan-in worker does per round.
#[inline(never)]
fn tiny_batch(seed: u64) -> u64 {
    let mut x = seed;
    for i in 0..16u64 {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    x
}

fn fanin_pushpull(rounds: u64) -> Sample {
    const STOP: u64 = u64::MAX;
    let round = Shared::new(0u64);
    let wg = WaitGroup::new();
    let barrier = Barrier::new(3);
    thread::scope(|s| {
        let mut workers = Vec::new();
        for _ in 0..2 {
            // Created before the master's first push, so no round is missed.
            let mut p = round.puller();
            let (wg, barrier) = (&wg, &barrier);
            workers.push(s.spawn(move || {
                let cpu = ThreadCpu::start();
                barrier.wait();
                loop {
                    let r = *p.wait().unwrap();
                    if r == STOP {
                        break;
                    }
                    black_box(tiny_batch(r));
                    wg.done();
                }
                cpu.stop()
            }));
        }
        let cpu = ThreadCpu::start();
        barrier.wait();
        let start = Instant::now();
        for r in 1..=rounds {
            wg.add(2);
            round.push(|v| *v = r);
            wg.wait();
        }
        let wall = start.elapsed();
        let master = cpu.stop();
        round.push(|v| *v = STOP);
        let cpu = cpu_sum(
            workers
                .into_iter()
                .map(|w| w.join().unwrap())
                .chain([master]),
        );
        Sample { wall, cpu }
    })
}

fn fanin_crossbeam(rounds: u64) -> Sample {
    let barrier = Barrier::new(3);
    thread::scope(|s| {
        let mut workers = Vec::new();
        let mut txs = Vec::new();
        for _ in 0..2 {
            let (tx, rx) = mpsc::channel::<Option<(u64, crossbeam_utils::sync::WaitGroup)>>();
            txs.push(tx);
            let barrier = &barrier;
            workers.push(s.spawn(move || {
                let cpu = ThreadCpu::start();
                barrier.wait();
                while let Ok(Some((r, wg))) = rx.recv() {
                    black_box(tiny_batch(r));
                    drop(wg);
                }
                cpu.stop()
            }));
        }
        let cpu = ThreadCpu::start();
        barrier.wait();
        let start = Instant::now();
        for r in 1..=rounds {
            let wg = crossbeam_utils::sync::WaitGroup::new();
            for tx in &txs {
                tx.send(Some((r, wg.clone()))).unwrap();
            }
            wg.wait();
        }
        let wall = start.elapsed();
        let master = cpu.stop();
        for tx in &txs {
            tx.send(None).unwrap();
        }
        let cpu = cpu_sum(
            workers
                .into_iter()
                .map(|w| w.join().unwrap())
                .chain([master]),
        );
        Sample { wall, cpu }
    })
}

fn fanin_latch(rounds: u64) -> Sample {
    const STOP: u64 = u64::MAX;
    // (round, outstanding)
    let state = std::sync::Mutex::new((0u64, 0usize));
    let work = std::sync::Condvar::new();
    let done = std::sync::Condvar::new();
    let barrier = Barrier::new(3);
    thread::scope(|s| {
        let mut workers = Vec::new();
        for _ in 0..2 {
            let (state, work, done, barrier) = (&state, &work, &done, &barrier);
            workers.push(s.spawn(move || {
                let cpu = ThreadCpu::start();
                barrier.wait();
                let mut seen = 0;
                loop {
                    let mut g = state.lock().unwrap();
                    while g.0 == seen {
                        g = work.wait(g).unwrap();
                    }
                    seen = g.0;
                    drop(g);
                    if seen == STOP {
                        break;
                    }
                    black_box(tiny_batch(seen));
                    let mut g = state.lock().unwrap();
                    g.1 -= 1;
                    if g.1 == 0 {
                        done.notify_one();
                    }
                }
                cpu.stop()
            }));
        }
        let cpu = ThreadCpu::start();
        barrier.wait();
        let start = Instant::now();
        for r in 1..=rounds {
            let mut g = state.lock().unwrap();
            *g = (r, 2);
            work.notify_all();
            while g.1 != 0 {
                g = done.wait(g).unwrap();
            }
        }
        let wall = start.elapsed();
        let master = cpu.stop();
        state.lock().unwrap().0 = STOP;
        work.notify_all();
        let cpu = cpu_sum(
            workers
                .into_iter()
                .map(|w| w.join().unwrap())
                .chain([master]),
        );
        Sample { wall, cpu }
    })
}

pub fn workloads() -> Vec<Workload> {
    vec![
        Workload::new(
            "waitgroup_cycle",
            FAMILY,
            "one thread: add 4 / done 4 / wait (crossbeam: new, clone 4, drop 4, wait)",
            vec![
                ours(PP, {
                    let wg = WaitGroup::new();
                    move |n| {
                        timed(n, || {
                            let wg = black_box(&wg);
                            wg.add(4);
                            for _ in 0..4 {
                                wg.done();
                            }
                            wg.wait();
                        })
                    }
                }),
                anchor(CB_WG, |n| {
                    timed(n, || {
                        let wg = crossbeam_utils::sync::WaitGroup::new();
                        let c = [wg.clone(), wg.clone(), wg.clone(), wg.clone()];
                        drop(black_box(c));
                        wg.wait();
                    })
                }),
                anchor(LATCH, {
                    let l = Latch::default();
                    move |n| {
                        timed(n, || {
                            let l = black_box(&l);
                            l.add(4);
                            for _ in 0..4 {
                                l.done();
                            }
                            l.wait();
                        })
                    }
                }),
            ],
        ),
        Workload::new(
            "waitgroup_fanin",
            FAMILY,
            "one round: master hands a tiny batch to 2 long-lived workers and waits for both \
             (pushpull: workers Puller::wait a Shared<u64> round counter, WaitGroup \
             add/done/wait; crossbeam: a fresh WaitGroup per round, clones sent over one mpsc \
             channel per worker; latch: one std Mutex<(round, outstanding)>, a work Condvar and a \
              done Condvar)",
            vec![
                ours(PP, fanin_pushpull),
                anchor(CB_WG, fanin_crossbeam),
                anchor(LATCH, fanin_latch),
            ],
        )
        .cpu_of("all 3 threads (master and both workers)"),
    ]
}
