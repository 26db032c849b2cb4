//! Two or more threads on one value without waiting: contended updates and a read-mostly
//! snapshot under a fast writer. (Waking waiters is the `wake` family.)

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use pushpull::Shared;

use crate::harness::{
    anchor, ours, Workload, ARCSWAP, ATOMIC, PL_MUTEX, PL_RW, PL_RW_ARC, PP, STD_MUTEX,
};

const FAMILY: &str = "contended";

/// Two threads (this one and one more) each do `n` ops; returns the wall time for `2n` ops.
pub(crate) fn two_threads(n: u64, op: impl Fn() + Sync) -> Duration {
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let other = s.spawn(|| {
            barrier.wait();
            for _ in 0..n {
                op();
            }
        });
        barrier.wait();
        let start = Instant::now();
        for _ in 0..n {
            op();
        }
        other.join().unwrap();
        start.elapsed()
    })
}

type Snapshot = Arc<[u64; 64]>;

fn fresh_snapshot(k: u64) -> Snapshot {
    Arc::new([k; 64])
}

/// Runs `reader(n)` while a writer thread calls `publish(k)` about every microsecond.
fn with_writer(
    n: u64,
    publish: impl Fn(u64) + Sync,
    reader: impl FnOnce(u64) -> Duration,
) -> Duration {
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            let mut k = 0;
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                next += Duration::from_micros(1);
                while Instant::now() < next {
                    std::hint::spin_loop();
                }
                k += 1;
                publish(k);
            }
        });
        barrier.wait();
        let t = reader(n);
        stop.store(true, Ordering::Relaxed);
        t
    })
}

pub fn workloads() -> Vec<Workload> {
    vec![
        Workload::new(
            "update_contended_2t",
            FAMILY,
            "one increment; 2 threads increment one counter (ns/op = wall time / total ops; \
             Mops/s = total throughput)",
            vec![
                ours(PP, |n| {
                    let s = Shared::new(0u64);
                    two_threads(n, || s.push(|v| *v += 1))
                }),
                anchor(PL_MUTEX, |n| {
                    let m = parking_lot::Mutex::new(0u64);
                    two_threads(n, || *m.lock() += 1)
                }),
                anchor(STD_MUTEX, |n| {
                    let m = std::sync::Mutex::new(0u64);
                    two_threads(n, || *m.lock().unwrap() += 1)
                }),
                anchor(PL_RW, |n| {
                    let l = parking_lot::RwLock::new(0u64);
                    two_threads(n, || *l.write() += 1)
                }),
                anchor(ATOMIC, |n| {
                    let a = AtomicU64::new(0);
                    two_threads(n, || {
                        a.fetch_add(1, Ordering::AcqRel);
                    })
                }),
            ],
        )
        .per_total_ops(2),
        Workload::new(
            "snapshot_read_mostly",
            FAMILY,
            "one reader snapshot (Arc<[u64; 64]>) while a writer publishes a new one every ~1 µs; \
              Mops/s = the reader's throughput. pushpull: a Puller that re-pulls (clones the Arc) \
              only when the version moved; `read+clone`: Shared::read().clone() every time",
            vec![
                ours(PP, |n| {
                    let s = Shared::new(fresh_snapshot(0));
                    with_writer(
                        n,
                        |k| drop(s.push(|v| std::mem::replace(v, fresh_snapshot(k)))),
                        |n| {
                            let mut p = s.puller();
                            let mut snap = s.read().clone();
                            let start = Instant::now();
                            for i in 0..n {
                                if let Some(new) = p.pull() {
                                    snap = new;
                                }
                                black_box(snap[(i & 63) as usize]);
                            }
                            start.elapsed()
                        },
                    )
                }),
                ours("pushpull read+clone", |n| {
                    let s = Shared::new(fresh_snapshot(0));
                    with_writer(
                        n,
                        |k| drop(s.push(|v| std::mem::replace(v, fresh_snapshot(k)))),
                        |n| {
                            let start = Instant::now();
                            for i in 0..n {
                                let snap = s.read().clone();
                                black_box(snap[(i & 63) as usize]);
                            }
                            start.elapsed()
                        },
                    )
                }),
                anchor(PL_RW_ARC, |n| {
                    let l = parking_lot::RwLock::new(fresh_snapshot(0));
                    with_writer(
                        n,
                        |k| drop(std::mem::replace(&mut *l.write(), fresh_snapshot(k))),
                        |n| {
                            let start = Instant::now();
                            for i in 0..n {
                                let snap = l.read().clone();
                                black_box(snap[(i & 63) as usize]);
                            }
                            start.elapsed()
                        },
                    )
                }),
                anchor(ARCSWAP, |n| {
                    let a = arc_swap::ArcSwap::new(fresh_snapshot(0));
                    with_writer(
                        n,
                        |k| a.store(fresh_snapshot(k)),
                        |n| {
                            let start = Instant::now();
                            for i in 0..n {
                                let snap = a.load();
                                black_box(snap[(i & 63) as usize]);
                            }
                            start.elapsed()
                        },
                    )
                }),
            ],
        ),
    ]
}
