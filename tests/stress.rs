//! Bounded stress: 4 threads mix every operation on one `Shared` and a `WaitGroup` for a fixed
//! number of operations (not a fixed time), then the invariants are checked. Every wait is
//! bounded, so a lost wake-up or a deadlock fails the test instead of hanging it.

mod common;

use common::{quiet_expected_panics, scaled, EXPECTED, TIMEOUT};
use pushpull::{ModifyGuard, Shared, WaitGroup, WriteGuard};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[derive(Clone, Debug, Default)]
struct State {
    /// The sum of all increments.
    counter: i64,
    /// Both set to `counter` by every change; they differ only after a panic between the two
    /// assignments, which poisons.
    a: i64,
    b: i64,
}

impl State {
    fn bump(&mut self, by: i64) {
        self.counter += by;
        self.a = self.counter;
        self.b = self.counter;
    }
}

/// A tiny deterministic generator (xorshift64*), so every run does the same mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// What one worker did: increments it applied and publishes it caused.
#[derive(Default, Debug)]
struct Tally {
    sum: i64,
    publishes: u64,
    panics: u64,
    nested_rounds: u64,
}

fn check_consistent(s: &State, shared: &Shared<State>) {
    if s.a != s.b {
        assert!(
            shared.is_poisoned(),
            "torn state {s:?} without the poison flag"
        );
    }
}

fn worker(id: u64, ops: usize, shared: &Shared<State>) -> Tally {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (id + 1).wrapping_mul(0x1234_5678_9abc_def1));
    let mut tally = Tally::default();
    let mut puller = shared.puller();
    let mut last_seen = puller.seen();
    for i in 0..ops {
        let by = (rng.next() % 7) as i64 - 3;
        match rng.next() % 18 {
            0 => {
                shared.push(|s| s.bump(by));
                tally.sum += by;
                tally.publishes += 1;
            }
            1 => {
                shared.push(|s| s.bump(by));
                tally.sum += by;
                tally.publishes += 1;
            }
            2 => {
                assert!(shared.push_if(|s| {
                    s.bump(by);
                    true
                }));
                assert!(!shared.push_if(|s| {
                    check_consistent(s, shared);
                    false
                }));
                tally.sum += by;
                tally.publishes += 1;
            }
            3 => {
                let m = shared.modify();
                check_consistent(&m, shared);
                let r = shared.read(); // a modifier may read, even with writers queued
                assert_eq!(r.counter, m.counter);
                drop(r);
                let mut w = ModifyGuard::upgrade(m);
                w.bump(by);
                tally.sum += by;
                tally.publishes += 1;
            }
            4 => {
                let m = shared.modify();
                let r = ModifyGuard::downgrade(m);
                check_consistent(&r, shared);
            }
            5 => loop {
                let (value, seen) = shared.snapshot();
                check_consistent(&value, shared);
                let mut next = value;
                next.bump(by);
                if shared.push_at(seen, |s| *s = next).is_ok() {
                    // push_at replaced the whole state: only correct because nothing moved.
                    tally.sum += by;
                    tally.publishes += 1;
                    break;
                }
            },
            6 => {
                let mut w = shared.write();
                w.bump(by);
                let r = WriteGuard::downgrade(w);
                check_consistent(&r, shared);
                tally.sum += by;
                tally.publishes += 1;
            }
            7 => {
                let r = shared.read();
                check_consistent(&r, shared);
            }
            8 => {
                if let Some(mut w) = shared.try_write_for(Duration::from_millis(1)) {
                    w.bump(by);
                    tally.sum += by;
                    tally.publishes += 1;
                }
                if let Some(m) = shared.try_modify() {
                    if let Ok(mut w) = ModifyGuard::try_upgrade(m) {
                        w.bump(by);
                        tally.sum += by;
                        tally.publishes += 1;
                    }
                }
                if let Some(r) = shared.try_read_for(Duration::from_millis(1)) {
                    check_consistent(&r, shared);
                }
            }
            9 => {
                if let Some(()) = puller.pull_with(|s| check_consistent(s, shared)) {
                    assert!(puller.seen() > last_seen, "a puller never goes back");
                    last_seen = puller.seen();
                }
            }
            10 => {
                let _ = puller.has_changed();
                if let Ok(Some(g)) = puller.wait_for(Duration::ZERO) {
                    check_consistent(&g, shared);
                    drop(g);
                    assert!(puller.seen() > last_seen);
                    last_seen = puller.seen();
                }
            }
            11 => {
                // Already true (the value went through version 0): returns at once.
                let g = shared
                    .wait_until_for(TIMEOUT, |s| s.a == s.b || shared.is_poisoned())
                    .unwrap()
                    .expect("a condition that holds must not time out");
                check_consistent(&g, shared);
            }
            12 => {
                let _ = format!("{shared:?}"); // never blocks
                let _ = shared.with(|s| s.counter);
            }
            13 => {
                // A nested WaitGroup round with scoped helpers that push.
                if i % 64 == 0 {
                    let wg = WaitGroup::new();
                    thread::scope(|sc| {
                        for _ in 0..2 {
                            wg.spawn_scoped(sc, || shared.push(|s| s.bump(1)));
                        }
                        assert!(wg.wait_for(TIMEOUT), "nested round finishes");
                    });
                    tally.sum += 2;
                    tally.publishes += 2;
                    tally.nested_rounds += 1;
                }
            }
            14 => {
                // Rarely: a panic between the two assignments.
                if i % 97 == 0 {
                    let r = catch_unwind(AssertUnwindSafe(|| {
                        shared.push(|s| {
                            s.counter += by;
                            s.a = s.counter;
                            panic!("{EXPECTED} torn update");
                        })
                    }));
                    assert!(r.is_err());
                    tally.sum += by;
                    tally.publishes += 1;
                    tally.panics += 1;
                }
            }
            15 => {
                // A read-only write guard and a modify without write: no publish.
                let w = shared.write();
                check_consistent(&w, shared);
                drop(w);
                let m = shared.modify();
                drop(ModifyGuard::upgrade(m));
            }
            16 => {
                // Re-entrant use is caught, not a hang (try_* never panic).
                let w = shared.write();
                assert!(shared.try_read().is_none());
                if common::WRITERS_TRACKED {
                    // Tracked builds refuse the hopeless wait at once, whatever the timeout.
                    assert!(shared.try_modify_for(Duration::from_secs(60)).is_none());
                }
                drop(w);
            }
            _ => thread::yield_now(),
        }
    }
    tally
}

#[test]
fn four_threads_mixing_every_operation_keep_every_invariant() {
    quiet_expected_panics();
    let threads = 4;
    let ops = scaled(20_000);
    let shared = Arc::new(Shared::new(State::default()));
    let wg = WaitGroup::new();
    let (tx, rx) = mpsc::channel();
    let mut handles = Vec::new();
    for id in 0..threads {
        let shared = Arc::clone(&shared);
        let tx = tx.clone();
        handles.push(wg.spawn(move || {
            let tally = worker(id, ops, &shared);
            tx.send(tally).unwrap();
        }));
    }
    drop(tx);
    assert!(wg.wait_for(TIMEOUT * 6), "the workers finish (no deadlock)");
    assert_eq!(wg.count(), 0);
    assert_eq!(
        wg.panicked(),
        0,
        "every panic was caught inside the workers"
    );
    for h in handles {
        h.join().unwrap();
    }
    let tallies: Vec<Tally> = rx.iter().collect();
    assert_eq!(tallies.len(), threads as usize);
    let sum: i64 = tallies.iter().map(|t| t.sum).sum();
    let publishes: u64 = tallies.iter().map(|t| t.publishes).sum();
    let panics: u64 = tallies.iter().map(|t| t.panics).sum();
    assert!(tallies.iter().map(|t| t.nested_rounds).sum::<u64>() > 0 || cfg!(miri));

    assert!(
        publishes as usize >= threads as usize * ops / 4,
        "the mix publishes often"
    );
    let state = shared.read().clone();
    assert_eq!(state.counter, sum, "no increment lost");
    assert_eq!(shared.version().get(), publishes, "one version per publish");
    assert_eq!(shared.is_poisoned(), panics > 0);
    if state.a != state.b {
        assert!(shared.is_poisoned());
    }
    // Free at the end.
    assert!(shared.try_write().is_some());
}

#[test]
fn many_pullers_follow_many_pushers_to_the_end() {
    // 2 pushers x N pushes, 2 pullers waiting (bounded) until they saw the final version.
    let pushes = scaled(2_000) as u64;
    let shared = Arc::new(Shared::new(0u64));
    let wg = WaitGroup::new();
    let mut pullers = Vec::new();
    for _ in 0..2 {
        let shared = Arc::clone(&shared);
        let (ready_tx, ready_rx) = mpsc::channel();
        pullers.push(wg.spawn(move || {
            let mut puller = shared.puller();
            ready_tx.send(()).unwrap();
            let mut last = puller.seen();
            while last.get() < 2 * pushes {
                let g = puller
                    .wait_for(TIMEOUT)
                    .unwrap()
                    .expect("a publish is coming: lost wake-up?");
                assert!(*g <= 2 * pushes);
                drop(g);
                assert!(puller.seen() > last);
                last = puller.seen();
            }
            last.get()
        }));
        ready_rx.recv_timeout(TIMEOUT).unwrap();
    }
    for _ in 0..2 {
        let shared = Arc::clone(&shared);
        wg.spawn(move || {
            for _ in 0..pushes {
                shared.push(|v| *v += 1);
            }
        });
    }
    assert!(wg.wait_for(TIMEOUT * 3), "everyone finishes");
    for p in pullers {
        assert_eq!(p.join().unwrap(), 2 * pushes);
    }
    assert_eq!(*shared.read(), 2 * pushes);
}
