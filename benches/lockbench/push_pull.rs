//! Push / pull without waiting: change checks and publishes.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use pushpull::Shared;

use crate::harness::{anchor, ours, timed, Workload, ATOMIC, PL_RW_CMP, PP};

const FAMILY: &str = "push_pull";

pub fn workloads() -> Vec<Workload> {
    let mut v = Vec::new();
    v.push(Workload {
        name: "pull_unchanged",
        family: FAMILY,
        unit: "one \"did it change?\" check on a quiet value",
        impls: vec![
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
    });
    v
}
