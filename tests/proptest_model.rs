//! Property tests against plain models:
//!
//! * (a) a sequential model of `Shared<Vec<i64>>`: every operation (updates, pushes, `push_if`,
//!   `push_at` with fresh and stale versions, pulls, two pullers, try-guards, poisoning) is
//!   checked step by step against a `Vec`, a version counter and a poison flag;
//! * (b) concurrent commutative updates from 2-4 threads through every write path: the final
//!   state and version equal the model's sum and number of publishes;
//! * (c) `WaitGroup` add / done / token / drop sequences against a counter, underflow included.
//!
//! Case counts are modest so the file runs in a few seconds; under Miri they shrink further.

mod common;

use common::{bounded, message, quiet_expected_panics, EXPECTED};
use proptest::prelude::*;
use pushpull::{ModifyGuard, Shared, Version, WaitGroup};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;
use std::time::Duration;

fn config(cases: u32) -> ProptestConfig {
    if cfg!(miri) {
        ProptestConfig {
            cases: 3,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    } else {
        ProptestConfig::with_cases(cases)
    }
}

const MAX_OPS: usize = if cfg!(miri) { 12 } else { 60 };

// ---------------------------------------------------------------------------------------------
// (a) Sequential model.

#[derive(Clone, Debug)]
enum Op {
    Update(i64),
    Push(i64),
    PushIf(bool, i64),
    PushAtFresh(i64),
    /// `push_at` with the version of `n` publishes ago (conflicts unless that is now).
    PushAtStale(u8, i64),
    Pop,
    Pull,
    PullerPull(usize),
    PullerPullWith(usize),
    PullerHasChanged(usize),
    PullerMarkSeen(usize),
    PullerWaitForNow(usize),
    TryRead,
    TryWrite(Option<i64>),
    TryModify(Option<i64>),
    /// Holds the write guard and checks what the try calls report.
    HeldWriteTries,
    /// Holds the modify guard and checks what the try calls report.
    HeldModifyTries,
    /// `update` that pushes, then panics.
    PanicInUpdate(i64),
    /// `push_if` whose closure panics before changing anything.
    PanicInPushIf,
    ClearPoison,
    WaitUntilForNow(i64),
}

fn op() -> impl Strategy<Value = Op> {
    let v = -100i64..100;
    prop_oneof![
        v.clone().prop_map(Op::Update),
        v.clone().prop_map(Op::Push),
        (any::<bool>(), v.clone()).prop_map(|(b, x)| Op::PushIf(b, x)),
        v.clone().prop_map(Op::PushAtFresh),
        (any::<u8>(), v.clone()).prop_map(|(n, x)| Op::PushAtStale(n, x)),
        Just(Op::Pop),
        Just(Op::Pull),
        (0usize..2).prop_map(Op::PullerPull),
        (0usize..2).prop_map(Op::PullerPullWith),
        (0usize..2).prop_map(Op::PullerHasChanged),
        (0usize..2).prop_map(Op::PullerMarkSeen),
        (0usize..2).prop_map(Op::PullerWaitForNow),
        Just(Op::TryRead),
        proptest::option::of(v.clone()).prop_map(Op::TryWrite),
        proptest::option::of(v.clone()).prop_map(Op::TryModify),
        Just(Op::HeldWriteTries),
        Just(Op::HeldModifyTries),
        v.clone().prop_map(Op::PanicInUpdate),
        Just(Op::PanicInPushIf),
        Just(Op::ClearPoison),
        v.prop_map(Op::WaitUntilForNow),
    ]
}

/// The model: the value, how many publishes, the poison flag, what each puller last saw.
#[derive(Debug, Default)]
struct Model {
    state: Vec<i64>,
    version: u64,
    poisoned: bool,
    puller_seen: [u64; 2],
}

impl Model {
    fn publish(&mut self) {
        self.version += 1;
    }
}

fn run_sequential(ops: Vec<Op>) -> Result<(), TestCaseError> {
    quiet_expected_panics();
    let shared = Shared::new(Vec::<i64>::new());
    let mut model = Model::default();
    // Every version the Shared went through, by number (Version has no public constructor).
    let mut history: Vec<Version> = vec![shared.version()];
    let mut pullers = [shared.puller(), shared.puller()];

    for (step, op) in ops.into_iter().enumerate() {
        let before = model.version;
        match op.clone() {
            Op::Update(x) => {
                let len = shared.push(|v| {
                    v.push(x);
                    v.len()
                });
                model.state.push(x);
                model.publish();
                prop_assert_eq!(len, model.state.len());
            }
            Op::Push(x) => {
                shared.push(|v| v.push(x));
                model.state.push(x);
                model.publish();
            }
            Op::PushIf(change, x) => {
                let published = shared.push_if(|v| {
                    if change {
                        v.push(x);
                    }
                    change
                });
                prop_assert_eq!(published, change);
                if change {
                    model.state.push(x);
                    model.publish();
                }
            }
            Op::PushAtFresh(x) => {
                let seen = shared.version();
                let (len, now) = shared
                    .push_at(seen, |v| {
                        v.push(x);
                        v.len()
                    })
                    .map_err(|c| TestCaseError::fail(format!("fresh push_at refused: {c}")))?;
                model.state.push(x);
                model.publish();
                prop_assert_eq!(len, model.state.len());
                prop_assert_eq!(now.get(), model.version);
            }
            Op::PushAtStale(back, x) => {
                let current = model.version as usize;
                let target = current - (back as usize % (current + 1));
                let seen = history[target];
                let result = shared.push_at(seen, |v| v.push(x));
                if target == current {
                    let ((), now) = result.map_err(|c| TestCaseError::fail(c.to_string()))?;
                    model.state.push(x);
                    model.publish();
                    prop_assert_eq!(now.get(), model.version);
                } else {
                    let conflict = result.err().ok_or_else(|| {
                        TestCaseError::fail("stale push_at was accepted".to_string())
                    })?;
                    prop_assert_eq!(conflict.current.get(), model.version);
                }
            }
            Op::Pop => {
                let popped = shared.push(|v| v.pop());
                prop_assert_eq!(popped, model.state.pop());
                model.publish();
            }
            Op::Pull => {
                let (value, version) = shared.snapshot();
                prop_assert_eq!(&value, &model.state);
                prop_assert_eq!(version.get(), model.version);
            }
            Op::PullerPull(i) => {
                let got = pullers[i].pull();
                if model.puller_seen[i] != model.version {
                    prop_assert_eq!(got.as_ref(), Some(&model.state));
                    model.puller_seen[i] = model.version;
                } else {
                    prop_assert_eq!(got, None);
                }
            }
            Op::PullerPullWith(i) => {
                let got = pullers[i].pull_with(|v| v.iter().sum::<i64>());
                if model.puller_seen[i] != model.version {
                    prop_assert_eq!(got, Some(model.state.iter().sum::<i64>()));
                    model.puller_seen[i] = model.version;
                } else {
                    prop_assert_eq!(got, None);
                }
            }
            Op::PullerHasChanged(i) => {
                prop_assert_eq!(
                    pullers[i].has_changed(),
                    model.puller_seen[i] != model.version
                );
            }
            Op::PullerMarkSeen(i) => {
                pullers[i].mark_seen();
                model.puller_seen[i] = model.version;
            }
            Op::PullerWaitForNow(i) => {
                let got = pullers[i]
                    .wait_for(Duration::ZERO)
                    .unwrap()
                    .map(|g| g.clone());
                if model.puller_seen[i] != model.version {
                    prop_assert_eq!(got.as_ref(), Some(&model.state));
                    model.puller_seen[i] = model.version;
                } else {
                    prop_assert_eq!(got, None);
                }
            }
            Op::TryRead => {
                let guard = shared.try_read();
                prop_assert!(guard.is_some(), "try_read on an idle Shared");
                prop_assert_eq!(&*guard.unwrap(), &model.state);
            }
            Op::TryWrite(change) => {
                let mut guard = shared
                    .try_write()
                    .ok_or_else(|| TestCaseError::fail("try_write on an idle Shared"))?;
                prop_assert_eq!(&*guard, &model.state);
                if let Some(x) = change {
                    guard.push(x);
                    guard.push(x); // still one publish
                    model.state.push(x);
                    model.state.push(x);
                    model.publish();
                }
            }
            Op::TryModify(change) => {
                let guard = shared
                    .try_modify()
                    .ok_or_else(|| TestCaseError::fail("try_modify on an idle Shared"))?;
                prop_assert_eq!(&*guard, &model.state);
                if let Some(x) = change {
                    let mut w = ModifyGuard::try_upgrade(guard)
                        .map_err(|_| TestCaseError::fail("try_upgrade without readers"))?;
                    w.push(x);
                    model.state.push(x);
                    model.publish();
                }
            }
            Op::HeldWriteTries => {
                let w = shared.write();
                prop_assert!(shared.try_read().is_none());
                prop_assert!(shared.try_modify().is_none());
                prop_assert!(shared.try_write().is_none());
                if common::WRITERS_TRACKED {
                    // Tracked builds: the hopeless wait is refused at once, whatever the timeout.
                    prop_assert!(shared.try_write_for(Duration::from_secs(60)).is_none());
                }
                drop(w);
            }
            Op::HeldModifyTries => {
                let m = shared.modify();
                prop_assert!(shared.try_read().is_some());
                prop_assert!(shared.try_modify().is_none());
                prop_assert!(shared.try_write().is_none());
                prop_assert!(shared.try_modify_for(Duration::from_secs(60)).is_none());
                drop(m);
            }
            Op::PanicInUpdate(x) => {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    shared.push(|v| {
                        v.push(x);
                        panic!("{EXPECTED} in update");
                    })
                }));
                prop_assert!(r.is_err());
                model.state.push(x);
                model.publish();
                model.poisoned = true;
            }
            Op::PanicInPushIf => {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    shared.push_if(|_| panic!("{EXPECTED} in push_if"))
                }));
                prop_assert!(r.is_err());
                // The (unchanged) value is published with the flag.
                model.publish();
                model.poisoned = true;
            }
            Op::ClearPoison => {
                shared.clear_poison();
                model.poisoned = false;
            }
            Op::WaitUntilForNow(x) => {
                let contains = model.state.contains(&x);
                let got = shared
                    .wait_until_for(Duration::ZERO, |v| v.contains(&x))
                    .unwrap()
                    .is_some();
                prop_assert_eq!(got, contains);
            }
        }
        if model.version != before {
            prop_assert_eq!(model.version, before + 1, "one publish per operation");
            history.push(shared.version());
        }
        prop_assert_eq!(
            shared.version().get(),
            model.version,
            "step {}: {:?}",
            step,
            op
        );
        prop_assert_eq!(&*shared.read(), &model.state, "step {}: {:?}", step, op);
        prop_assert_eq!(
            shared.is_poisoned(),
            model.poisoned,
            "step {}: {:?}",
            step,
            op
        );
        for (i, p) in pullers.iter().enumerate() {
            prop_assert_eq!(p.seen().get(), model.puller_seen[i]);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn sequential_operations_match_the_model(ops in proptest::collection::vec(op(), 1..MAX_OPS)) {
        run_sequential(ops)?;
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Concurrent commutative updates.

#[derive(Clone, Copy, Debug)]
enum Change {
    Push(i64),
    Update(i64),
    ModifyUpgrade(i64),
    /// Modify, look, and decide not to write: no publish.
    ModifyNoWrite,
    PushAtRetry(i64),
    PushIfTrue(i64),
    PushIfFalse,
    WriteGuard(i64),
    /// A write guard only read through: no publish.
    WriteReadOnly,
}

impl Change {
    /// What this operation adds to the sum and whether it publishes.
    fn effect(self) -> (i64, bool) {
        match self {
            Change::Push(x)
            | Change::Update(x)
            | Change::ModifyUpgrade(x)
            | Change::PushAtRetry(x)
            | Change::PushIfTrue(x)
            | Change::WriteGuard(x) => (x, true),
            Change::ModifyNoWrite | Change::PushIfFalse | Change::WriteReadOnly => (0, false),
        }
    }

    fn apply(self, s: &Shared<i64>) {
        match self {
            Change::Push(x) => s.push(|v| *v += x),
            Change::Update(x) => s.push(|v| *v += x),
            Change::ModifyUpgrade(x) => {
                let m = s.modify();
                let seen = *m;
                *ModifyGuard::upgrade(m) = seen + x;
            }
            Change::ModifyNoWrite => {
                let m = s.modify();
                let _ = *m;
            }
            Change::PushAtRetry(x) => loop {
                let (value, seen) = s.snapshot();
                if s.push_at(seen, |v| *v = value + x).is_ok() {
                    break;
                }
            },
            Change::PushIfTrue(x) => assert!(s.push_if(|v| {
                *v += x;
                true
            })),
            Change::PushIfFalse => assert!(!s.push_if(|_| false)),
            Change::WriteGuard(x) => *s.write() += x,
            Change::WriteReadOnly => {
                let w = s.write();
                let _ = *w;
            }
        }
    }
}

fn write_op() -> impl Strategy<Value = Change> {
    let v = -1000i64..1000;
    prop_oneof![
        v.clone().prop_map(Change::Push),
        v.clone().prop_map(Change::Update),
        v.clone().prop_map(Change::ModifyUpgrade),
        Just(Change::ModifyNoWrite),
        v.clone().prop_map(Change::PushAtRetry),
        v.clone().prop_map(Change::PushIfTrue),
        Just(Change::PushIfFalse),
        v.prop_map(Change::WriteGuard),
        Just(Change::WriteReadOnly),
    ]
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    // Threads contend and may park: miri rejects parking_lot_core's futex call (see .ci/run).
    #[cfg_attr(miri, ignore)]
    fn concurrent_commutative_updates_match_the_model(
        threads in proptest::collection::vec(
            proptest::collection::vec(write_op(), 0..MAX_OPS),
            2..=4,
        )
    ) {
        let expected_sum: i64 = threads.iter().flatten().map(|w| w.effect().0).sum();
        let expected_version = threads.iter().flatten().filter(|w| w.effect().1).count() as u64;
        let (sum, version, poisoned) = bounded("concurrent updates", move || {
            let shared = Shared::new(0i64);
            thread::scope(|s| {
                for ops in &threads {
                    let shared = &shared;
                    s.spawn(move || {
                        let mut puller = shared.puller();
                        let mut last = puller.seen();
                        for w in ops {
                            w.apply(shared);
                            // Versions seen by any one thread only go up.
                            if puller.pull_with(|_| ()).is_some() {
                                assert!(puller.seen() > last);
                                last = puller.seen();
                            }
                        }
                    });
                }
            });
            let sum = *shared.read();
            (sum, shared.version().get(), shared.is_poisoned())
        });
        prop_assert_eq!(sum, expected_sum);
        prop_assert_eq!(version, expected_version, "one version per publish");
        prop_assert!(!poisoned);
    }
}

// ---------------------------------------------------------------------------------------------
// (c) WaitGroup against a counter.

#[derive(Clone, Debug)]
enum WgOp {
    Add(u8),
    Done,
    Token,
    /// Drops the token at this index (modulo the number held), if any.
    DropToken(usize),
    /// Drops a token while the thread unwinds: counted by `panicked`.
    DropTokenPanicking(usize),
    /// `done` through a clone of the group.
    CloneDone,
    WaitForZero,
}

fn wg_op() -> impl Strategy<Value = WgOp> {
    prop_oneof![
        (0u8..4).prop_map(WgOp::Add),
        Just(WgOp::Done),
        Just(WgOp::Token),
        any::<usize>().prop_map(WgOp::DropToken),
        any::<usize>().prop_map(WgOp::DropTokenPanicking),
        Just(WgOp::CloneDone),
        Just(WgOp::WaitForZero),
    ]
}

fn expect_underflow(result: std::thread::Result<()>) -> Result<(), TestCaseError> {
    match result {
        Ok(()) => Err(TestCaseError::fail("done() at zero did not panic")),
        Err(payload) => {
            let msg = message(&*payload);
            prop_assert!(
                msg.contains("WaitGroup::done") && msg.contains("more times than add"),
                "unexpected message {}",
                msg
            );
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn wait_group_operations_match_a_counter(ops in proptest::collection::vec(wg_op(), 1..MAX_OPS)) {
        quiet_expected_panics();
        let wg = WaitGroup::new();
        let mut count = 0usize;
        let mut panicked = 0usize;
        let mut tokens = Vec::new();
        for op in ops {
            match op {
                WgOp::Add(n) => {
                    wg.add(n as usize);
                    count += n as usize;
                }
                WgOp::Done | WgOp::CloneDone => {
                    let r = if matches!(op, WgOp::CloneDone) {
                        let handle = wg.clone();
                        catch_unwind(AssertUnwindSafe(|| handle.done()))
                    } else {
                        catch_unwind(AssertUnwindSafe(|| wg.done()))
                    };
                    if count == 0 {
                        expect_underflow(r)?;
                    } else {
                        prop_assert!(r.is_ok());
                        count -= 1;
                    }
                }
                WgOp::Token => {
                    tokens.push(wg.token());
                    count += 1;
                }
                WgOp::DropToken(i) => {
                    if !tokens.is_empty() {
                        let token = tokens.swap_remove(i % tokens.len());
                        // A `done` may have consumed this token's count: then its drop
                        // underflows, like any extra `done`.
                        let r = catch_unwind(AssertUnwindSafe(|| drop(token)));
                        if count == 0 {
                            expect_underflow(r)?;
                        } else {
                            prop_assert!(r.is_ok());
                            count -= 1;
                        }
                    }
                }
                WgOp::DropTokenPanicking(i) => {
                    // Only with a count to take: an underflow during unwinding would abort.
                    if !tokens.is_empty() && count > 0 {
                        let token = tokens.swap_remove(i % tokens.len());
                        let r = catch_unwind(AssertUnwindSafe(move || {
                            let _token = token;
                            panic!("{EXPECTED} worker with a token");
                        }));
                        prop_assert!(r.is_err());
                        count -= 1;
                        panicked += 1;
                    }
                }
                WgOp::WaitForZero => {
                    prop_assert_eq!(wg.wait_for(Duration::ZERO), count == 0);
                }
            }
            prop_assert_eq!(wg.count(), count);
            prop_assert_eq!(wg.panicked(), panicked);
        }
        // Settle: give back every outstanding count, then the group is idle.
        let mut extra = tokens.len().saturating_sub(count);
        for token in tokens {
            if count == 0 {
                expect_underflow(catch_unwind(AssertUnwindSafe(|| drop(token))))?;
                extra -= 1;
            } else {
                drop(token);
                count -= 1;
            }
        }
        prop_assert_eq!(extra, 0);
        for _ in 0..count {
            wg.done();
        }
        prop_assert!(wg.wait_for(Duration::ZERO));
        prop_assert_eq!(wg.count(), 0);
    }
}
