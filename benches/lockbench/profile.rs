//! The cost of the contention profile (`pushpull::profile`, feature `profile`).
//!
//! The same workloads in every build, so that two runs compare:
//!
//! * without the feature, `pushpull` against its anchors (the profile compiled out);
//! * with `--features profile`, `pushpull (profile disabled)`, the same code with the profile
//!   compiled in and off, against the same anchors, and `pushpull (profile 1/100)`, enabled
//!   with `sample_every: 100`, against the disabled build *in the same run*.
//!
//! ```text
//! cargo bench --bench lockbench -- profile                      # feature off
//! cargo bench --bench lockbench --features profile -- profile   # compiled in: off and on
//! ```
//!
//! "Compiled in and disabled" against "feature off" needs two builds: compare each run's
//! `pushpull / parking_lot` ratio (and the instruction counts, which are exact: BENCHMARKS.md,
//! "Contention profile").

use std::hint::black_box;

#[cfg(not(feature = "profile"))]
use crate::harness::ours;
use crate::harness::{anchor, timed, Impl, Sample, Workload, PL_CONDVAR, PL_MUTEX, PL_RW};
use crate::{contended, wake};
use pushpull::Shared;

const FAMILY: &str = "profile";

/// The name of pushpull as this build has it.
#[cfg(not(feature = "profile"))]
pub const PP_BUILD: &str = "pushpull";
#[cfg(feature = "profile")]
pub const PP_BUILD: &str = "pushpull (profile disabled)";
/// pushpull with the profile enabled at one event in 100.
#[cfg(feature = "profile")]
pub const PP_ON: &str = "pushpull (profile 1/100)";

/// The profile's state around one sample of `run`: enabled at 1 in 100 or disabled.
#[cfg(feature = "profile")]
fn with_profile<S: Into<Sample>>(
    on: bool,
    mut run: impl FnMut(u64) -> S,
) -> impl FnMut(u64) -> Sample {
    use pushpull::profile::{self, ProfileConfig};
    move |n| {
        if on {
            profile::enable(ProfileConfig {
                sample_every: 100,
                reset: true,
            });
        } else {
            profile::disable();
        }
        let s = run(n).into();
        profile::disable();
        s
    }
}

/// pushpull's runners: this build as it is (`ours`), and where the profile is compiled in, the
/// same with the profile enabled (`ours`); `disabled_as_anchor` makes the disabled runner the
/// anchor instead, for the enabled / disabled ratio of the contended workloads.
fn pushpull<S: Into<Sample> + 'static>(
    run: impl FnMut(u64) -> S + Clone + 'static,
    disabled_as_anchor: bool,
) -> Vec<Impl> {
    #[cfg(not(feature = "profile"))]
    {
        let _ = disabled_as_anchor;
        vec![ours(PP_BUILD, run)]
    }
    #[cfg(feature = "profile")]
    {
        use crate::harness::ours;
        let off = with_profile(false, run.clone());
        let off = if disabled_as_anchor {
            anchor(PP_BUILD, off)
        } else {
            ours(PP_BUILD, off)
        };
        vec![off, ours(PP_ON, with_profile(true, run))]
    }
}

pub fn workloads() -> Vec<Workload> {
    let read = {
        let s = std::sync::Arc::new(Shared::new(1u64));
        move |n| {
            timed(n, || {
                black_box(*black_box(&*s).read());
            })
        }
    };
    let write = {
        let s = std::sync::Arc::new(Shared::new(1u64));
        move |n| timed(n, || *black_box(&*s).write() += 1)
    };
    let update = {
        let s = std::sync::Arc::new(Shared::new(1u64));
        move |n| timed(n, || black_box(&*s).push(|v| *v += 1))
    };
    let with = |mut impls: Vec<Impl>, more: Impl| {
        impls.push(more);
        impls
    };
    vec![
        Workload::new(
            "profile_read_uncontended",
            FAMILY,
            "read guard taken, value read, dropped (as `read_uncontended`)",
            with(
                pushpull(read, false),
                anchor(PL_RW, {
                    let l = parking_lot::RwLock::new(1u64);
                    move |n| {
                        timed(n, || {
                            black_box(*black_box(&l).read());
                        })
                    }
                }),
            ),
        ),
        Workload::new(
            "profile_write_uncontended",
            FAMILY,
            "write guard taken, `*g += 1`, dropped (as `write_uncontended`)",
            with(
                pushpull(write, false),
                anchor(PL_RW, {
                    let l = parking_lot::RwLock::new(1u64);
                    move |n| timed(n, || *black_box(&l).write() += 1)
                }),
            ),
        ),
        Workload::new(
            "profile_update_uncontended",
            FAMILY,
            "`push(|v| *v += 1)` (as `update_uncontended`)",
            with(
                pushpull(update, false),
                anchor(PL_MUTEX, {
                    let m = parking_lot::Mutex::new(1u64);
                    move |n| timed(n, || *black_box(&m).lock() += 1)
                }),
            ),
        ),
        Workload::new(
            "profile_update_contended_2t",
            FAMILY,
            "one increment; 2 threads increment one counter (as `update_contended_2t`); with \
             the profile on, its contended acquisitions draw the sample",
            with(
                pushpull(
                    |n| {
                        let s = Shared::new(0u64);
                        contended::two_threads(n, || s.push(|v| *v += 1))
                    },
                    true,
                ),
                anchor(PL_MUTEX, |n| {
                    let m = parking_lot::Mutex::new(0u64);
                    contended::two_threads(n, || *m.lock() += 1)
                }),
            ),
        )
        .per_total_ops(2),
        Workload::new(
            "profile_consumers_4",
            FAMILY,
            "4 consumers `Puller::wait` on a paced pusher (as `consumers_4`); with the profile \
             on, every wait draws the sample",
            with(
                pushpull(wake::consumers_pushpull, true),
                anchor(PL_CONDVAR, wake::consumers_condvar),
            ),
        )
        .cpu_of("the 4 consumer threads together")
        .fixed_iters(wake::CONSUMER_PUSHES),
    ]
}
