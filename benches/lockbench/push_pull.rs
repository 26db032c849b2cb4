//! Push / pull without waiting: change checks, and publishes nobody waits for.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use pushpull::Shared;

use crate::harness::{anchor, ours, timed, Workload, ATOMIC, PL_RW_CMP, PP, WATCH};

const FAMILY: &str = "push_pull";

pub fn workloads() -> Vec<Workload> {
    let mut v = Vec::new();
    v.push(Workload::new(
        "pull_unchanged",
        FAMILY,
        "one \"did it change?\" check on a quiet value",
        vec![
            ours(PP, {
                // The puller borrows the Shared: leak one per process (a few bytes).
                let s: &'static Shared<u64> = Box::leak(Box::new(Shared::new(1)));
                let p = s.puller();
                move |n| {
                    timed(n, || {
                        black_box(black_box(&p).has_changed());
                    })
                }
            }),
            anchor(PL_RW_CMP, {
                let l = parking_lot::RwLock::new(1u64);
                let seen = 1u64;
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&l).read() != seen);
                    })
                }
            }),
            anchor(ATOMIC, {
                let a = AtomicU64::new(1);
                let seen = 1u64;
                move |n| {
                    timed(n, || {
                        black_box(black_box(&a).load(Ordering::Acquire) != seen);
                    })
                }
            }),
        ],
    ));
    v.push(Workload::new(
        "push_no_waiters",
        FAMILY,
        "one publish of `+= 1` with one subscribed reader that is not waiting \
         (pushpull: `Shared::push` with a live `Puller`; tokio: `watch::Sender::send_modify` \
         with a live `Receiver`)",
        vec![
            ours(PP, {
                let s: &'static Shared<u64> = Box::leak(Box::new(Shared::new(0)));
                let p = s.puller();
                move |n| {
                    let t = timed(n, || black_box(s).push(|v| *v += 1));
                    black_box(p.has_changed());
                    t
                }
            }),
            anchor(WATCH, {
                let (tx, rx) = tokio::sync::watch::channel(0u64);
                move |n| {
                    let t = timed(n, || black_box(&tx).send_modify(|v| *v += 1));
                    black_box(rx.has_changed().unwrap());
                    t
                }
            }),
        ],
    ));
    v
}
