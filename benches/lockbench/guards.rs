//! Guards on one thread: read / write / modify / upgrade / update without contention.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use pushpull::{ModifyGuard, Shared};

use crate::harness::{
    anchor, ours, timed, Workload, ATOMIC, PL_MUTEX, PL_RW, PP, STD_MUTEX, STD_RW,
};

const FAMILY: &str = "guards";

pub fn workloads() -> Vec<Workload> {
    use parking_lot::{RwLock as PlRw, RwLockUpgradableReadGuard as PlUp};
    use std::sync::RwLock as StdRw;
    let mut v = Vec::new();

    v.push(Workload::new(
        "read_uncontended",
        FAMILY,
        "read guard taken, value read, dropped",
        vec![
            ours(PP, {
                let s = Shared::new(1u64);
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&s).read());
                    })
                }
            }),
            anchor(PL_RW, {
                let l = PlRw::new(1u64);
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&l).read());
                    })
                }
            }),
            anchor(STD_RW, {
                let l = StdRw::new(1u64);
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&l).read().unwrap());
                    })
                }
            }),
        ],
    ));
    v.push(Workload::new(
        "write_uncontended",
        FAMILY,
        "write guard taken, `*g += 1`, dropped (pushpull: publishes a version)",
        vec![
            ours(PP, {
                let s = Shared::new(1u64);
                move |n| {
                    if std::env::var_os("LOCKBENCH_ADDR").is_some() {
                        let local = 0u8;
                        eprintln!(
                            "shared at {:p} (mod 4096: {}), size {}, stack at {:p} (mod 4096: {})",
                            &s,
                            &s as *const _ as usize % 4096,
                            std::mem::size_of_val(&s),
                            &local,
                            &local as *const u8 as usize % 4096
                        );
                    }
                    timed(n, || *black_box(&s).write() += 1)
                }
            }),
            anchor(PL_RW, {
                let l = PlRw::new(1u64);
                move |n| timed(n, || *black_box(&l).write() += 1)
            }),
            anchor(STD_RW, {
                let l = StdRw::new(1u64);
                move |n| timed(n, || *black_box(&l).write().unwrap() += 1)
            }),
        ],
    ));
    v.push(Workload::new(
        "write_guard_uncontended",
        FAMILY,
        "write guard taken and dropped, no mutation (pushpull: no publish); compare a run with \
         `--features reentrancy-check` for the cost of the re-entrancy check",
        vec![
            ours(PP, {
                let s = Shared::new(1u64);
                move |n| timed(n, || drop(black_box(black_box(&s).write())))
            }),
            anchor(PL_RW, {
                let l = PlRw::new(1u64);
                move |n| timed(n, || drop(black_box(black_box(&l).write())))
            }),
        ],
    ));
    v.push(Workload::new(
        "modify_uncontended",
        FAMILY,
        "modify guard (upgradable read) taken, value read, dropped; std: a read guard",
        vec![
            ours(PP, {
                let s = Shared::new(1u64);
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&s).modify());
                    })
                }
            }),
            anchor(PL_RW, {
                let l = PlRw::new(1u64);
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&l).upgradable_read());
                    })
                }
            }),
            anchor(STD_RW, {
                let l = StdRw::new(1u64);
                move |n| {
                    timed(n, || {
                        black_box(*black_box(&l).read().unwrap());
                    })
                }
            }),
        ],
    ));
    v.push(Workload::new(
        "modify_upgrade_uncontended",
        FAMILY,
        "modify guard, upgrade, `*g += 1`, drop; std (no upgrade): a write guard",
        vec![
            ours(PP, {
                let s = Shared::new(1u64);
                move |n| {
                    timed(n, || {
                        let g = black_box(&s).modify();
                        *ModifyGuard::upgrade(g) += 1;
                    })
                }
            }),
            anchor(PL_RW, {
                let l = PlRw::new(1u64);
                move |n| {
                    timed(n, || {
                        let g = black_box(&l).upgradable_read();
                        *PlUp::upgrade(g) += 1;
                    })
                }
            }),
            anchor(STD_RW, {
                let l = StdRw::new(1u64);
                move |n| timed(n, || *black_box(&l).write().unwrap() += 1)
            }),
        ],
    ));
    v.push(Workload::new(
        "update_uncontended",
        FAMILY,
        "`push(|v| *v += 1)` (the update idiom) / lock + `+= 1` / `fetch_add(1)`",
        vec![
            ours(PP, {
                let s = Shared::new(1u64);
                move |n| timed(n, || black_box(&s).push(|v| *v += 1))
            }),
            anchor(PL_MUTEX, {
                let m = parking_lot::Mutex::new(1u64);
                move |n| timed(n, || *black_box(&m).lock() += 1)
            }),
            anchor(STD_MUTEX, {
                let m = std::sync::Mutex::new(1u64);
                move |n| timed(n, || *black_box(&m).lock().unwrap() += 1)
            }),
            anchor(ATOMIC, {
                let a = AtomicU64::new(1);
                move |n| {
                    timed(n, || {
                        black_box(&a).fetch_add(1, Ordering::AcqRel);
                    })
                }
            }),
        ],
    ));
    v
}
