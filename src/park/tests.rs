//! Unit tests of the `Event`: the async waiters' slab, `notify_all` and the wakers it runs
//! (user code), and what the slow path costs the callers that must not pay for it.

use super::async_waiter::{Slot, NO_SLOT};
use super::wakers::{unwinding_report, WAKE_BATCH};
use super::*;
use crate::{Shared, WaitGroup};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A waker that counts its wakes, and panics on wake if told to.
#[derive(Default)]
struct Count {
    wakes: AtomicUsize,
    panics: bool,
}

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        assert!(!self.panics, "a waker that panics on wake");
    }
}

/// The fixture of these tests: an `Event` and `n` counting wakers (`AsyncWaiter`s borrow the
/// event, so the tests make them from `fixture.event`).
struct Fixture {
    event: Event,
    counts: Vec<Arc<Count>>,
    wakers: Vec<Waker>,
}

impl Fixture {
    fn new(n: usize) -> Self {
        Fixture::with_panicking(n, &[])
    }

    /// `n` wakers; those numbered in `panicking` panic when woken.
    fn with_panicking(n: usize, panicking: &[usize]) -> Self {
        let counts: Vec<_> = (0..n)
            .map(|i| {
                Arc::new(Count {
                    wakes: AtomicUsize::new(0),
                    panics: panicking.contains(&i),
                })
            })
            .collect();
        let wakers = counts.iter().map(|c| Waker::from(Arc::clone(c))).collect();
        Fixture {
            event: Event::default(),
            counts,
            wakers,
        }
    }

    /// How often waker `i` was woken.
    fn wakes(&self, i: usize) -> usize {
        self.counts[i].wakes.load(Ordering::Relaxed)
    }

    /// Waiters `0..n`, each parked with its waker (condition false).
    fn park_all(&self) -> Vec<AsyncWaiter<'_>> {
        self.wakers
            .iter()
            .map(|waker| {
                let mut waiter = AsyncWaiter::new(&self.event);
                assert!(!waiter.park(waker, || false));
                waiter
            })
            .collect()
    }

    /// The free list's length.
    fn free_slots(&self) -> usize {
        let waiters = self.event.lock();
        let mut free = 0;
        let mut next = waiters.free;
        while next != NO_SLOT {
            free += 1;
            next = match waiters.slots[next] {
                Slot::Free { next } => next,
                Slot::Waiting(..) => panic!("a slot on the free list is not free"),
            };
        }
        free
    }

    /// How many slots are waiting.
    fn waiting(&self) -> usize {
        self.event.lock().waiting
    }
}

/// Cycles of 1 million in native runs (the figure), fewer under Miri.
const CYCLES: usize = if cfg!(miri) { 1_000 } else { 1_000_000 };

#[test]
fn a_million_create_poll_drop_cycles_keep_the_slab_at_one_slot() {
    let shared = Shared::new(0u32);
    let wg = WaitGroup::new();
    let _token = wg.token();
    let fixture = Fixture::new(1);
    let mut cx = Context::from_waker(&fixture.wakers[0]);
    let mut puller = shared.puller();
    for _ in 0..CYCLES {
        let mut wait = pin!(puller.wait_async());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        let mut until = pin!(shared.wait_until_async(|n| *n > 0));
        assert!(until.as_mut().poll(&mut cx).is_pending());
        let mut group = pin!(wg.wait_async());
        assert!(group.as_mut().poll(&mut cx).is_pending());
    }
    // Two futures were pending at once on the Shared, one on the group: every other slot
    // was freed by a drop and reused.
    assert_eq!(shared.core().event.slab_capacity(), 2);
    assert_eq!(wg.inner_event().slab_capacity(), 1);
    let event = shared.core().event.lock();
    assert_eq!(
        (event.waiting, event.sleepers),
        (0, 0),
        "nothing left registered"
    );
}

#[test]
fn notify_all_wakes_more_waiters_than_one_batch_and_frees_their_slots() {
    let n = WAKE_BATCH * 2 + 3;
    let fixture = Fixture::new(n);
    let mut waiters = fixture.park_all();
    fixture.event.notify_all();
    assert!((0..n).all(|i| fixture.wakes(i) == 1));
    assert_eq!(fixture.free_slots(), n, "every woken slot is freed");
    assert_eq!(fixture.waiting(), 0);
    fixture.event.notify_all();
    assert!(
        (0..n).all(|i| fixture.wakes(i) == 1),
        "a woken waiter is not woken twice"
    );
    // A re-poll that must wait on registers again, in a free slot.
    assert!(!waiters[0].park(&fixture.wakers[0], || false));
    assert_eq!(fixture.free_slots(), n - 1);
    fixture.event.notify_all();
    assert_eq!(fixture.wakes(0), 2);
    waiters.clear();
    assert_eq!(fixture.free_slots(), n, "every slot is on the free list");
    assert_eq!(fixture.event.slab_capacity(), n);
}

/// A waiter whose slot `notify_all` freed and the slab handed to another waiter: its
/// re-registration, its completion and its drop leave the other waiter's slot alone.
#[test]
fn a_slot_handed_on_after_notify_all_stays_with_its_new_owner() {
    let fixture = Fixture::new(2);
    let (first, second) = (&fixture.wakers[0], &fixture.wakers[1]);
    let mut a = AsyncWaiter::new(&fixture.event);
    let mut b = AsyncWaiter::new(&fixture.event);
    assert!(!a.park(first, || false));
    fixture.event.notify_all(); // frees a's slot 0
    assert!(!b.park(second, || false)); // slot 0 again, now b's
    assert_eq!(fixture.event.slab_capacity(), 1);
    assert!(!a.park(first, || false)); // a registers anew: slot 1
    assert_eq!(fixture.event.slab_capacity(), 2);
    a.leave();
    assert!(!a.park(first, || false));
    assert!(a.park(first, || true)); // ready: frees only a's own slot
    drop(a);
    assert_eq!(fixture.waiting(), 1, "b still waits");
    fixture.event.notify_all();
    assert_eq!((fixture.wakes(0), fixture.wakes(1)), (1, 1));
    drop(b);
    assert_eq!(fixture.free_slots(), 2);
}

/// `wait_until_async` completing on the version it registered at (its predicate changed its
/// mind, no push): no `notify_all` is owed, so the future frees its slot itself.
#[test]
fn wait_until_async_ready_without_a_push_frees_its_slot() {
    let shared = Shared::new(0u32);
    let open = std::sync::atomic::AtomicBool::new(false);
    let fixture = Fixture::new(1);
    let mut cx = Context::from_waker(&fixture.wakers[0]);
    let mut until = pin!(shared.wait_until_async(|_| open.load(Ordering::Relaxed)));
    assert!(until.as_mut().poll(&mut cx).is_pending());
    assert!(until.as_mut().poll(&mut cx).is_pending());
    assert_eq!(shared.core().event.lock().waiting, 1);
    open.store(true, Ordering::Relaxed);
    assert!(until.as_mut().poll(&mut cx).is_ready());
    let event = shared.core().event.lock();
    assert_eq!(
        (event.waiting, event.free),
        (0, 0),
        "slot 0 freed by the future"
    );
}

/// A blocked thread is counted while it sleeps and uncounted when it leaves, woken or
/// timed out: a count left behind would make every later `notify_all` signal the condvar
/// (a futex call on a push that only tasks wait for).
#[test]
#[cfg_attr(
    miri,
    ignore = "a thread parks: miri rejects parking_lot_core's futex call"
)]
fn a_blocking_wait_is_uncounted_when_it_ends_woken_or_timed_out() {
    let event = Arc::new(Event::default());
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sleeper = {
        let (event, open) = (Arc::clone(&event), Arc::clone(&open));
        std::thread::spawn(move || event.wait_while(|| !open.load(Ordering::Acquire), None))
    };
    // Bounded: the sleeper counts itself under the mutex before it blocks.
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while event.lock().sleepers == 0 {
        assert!(
            std::time::Instant::now() < give_up,
            "the sleeper never blocked"
        );
        std::thread::yield_now();
    }
    open.store(true, Ordering::Release);
    event.notify_all();
    assert!(sleeper.join().unwrap());
    assert_eq!(event.lock().sleepers, 0, "a woken sleeper is uncounted");
    let soon = Some(std::time::Instant::now() + std::time::Duration::from_millis(1));
    assert!(!event.wait_while(|| true, soon));
    assert_eq!(event.lock().sleepers, 0, "a timed-out sleeper is uncounted");
}

/// A waiter that registers while `notify_all` runs (here: from a waker it wakes, into a
/// slot that call already freed) waits for a later change: that call neither wakes it nor
/// scans past the slab's end looking for it.
#[test]
fn a_waiter_registered_during_notify_all_waits_for_the_next_one() {
    // 'static, for the waker that registers from `wake`; a static rather than a leak
    // (miri checks for leaks).
    static EVENT: std::sync::OnceLock<Event> = std::sync::OnceLock::new();
    let event: &'static Event = EVENT.get_or_init(Event::default);
    let late_fixture = Fixture::new(1);
    let late = Arc::new(std::sync::Mutex::new(Some((
        AsyncWaiter::new(event),
        late_fixture.wakers[0].clone(),
    ))));
    struct OnWake(Arc<std::sync::Mutex<Option<(AsyncWaiter<'static>, Waker)>>>);
    impl Wake for OnWake {
        fn wake(self: Arc<Self>) {
            if let Some((waiter, waker)) = self.0.lock().unwrap().as_mut() {
                assert!(!waiter.park(waker, || false));
            }
        }
    }
    // A full batch plus one: the first batch's first waker registers `late`, which takes
    // slot 0 (freed by this very call); the second trip takes slot WAKE_BATCH and must stop
    // at the end of the slab although `late` is still waiting.
    let trigger = Waker::from(Arc::new(OnWake(Arc::clone(&late))));
    let others = Fixture::new(WAKE_BATCH);
    let mut first = AsyncWaiter::new(event);
    assert!(!first.park(&trigger, || false));
    let waiters: Vec<_> = others
        .wakers
        .iter()
        .map(|waker| {
            let mut waiter = AsyncWaiter::new(event);
            assert!(!waiter.park(waker, || false));
            waiter
        })
        .collect();
    assert_eq!(event.slab_capacity(), WAKE_BATCH + 1);
    event.notify_all();
    assert!((0..WAKE_BATCH).all(|i| others.wakes(i) == 1));
    assert_eq!(
        late_fixture.wakes(0),
        0,
        "registered after the change: not woken by it"
    );
    assert_eq!(event.lock().waiting, 1);
    event.notify_all();
    assert_eq!(late_fixture.wakes(0), 1, "woken by the next one");
    drop(late.lock().unwrap().take());
    drop(first);
    drop(waiters);
}

#[test]
fn a_repoll_keeps_an_equivalent_waker_and_replaces_a_different_one() {
    let fixture = Fixture::new(2);
    let mut waiter = AsyncWaiter::new(&fixture.event);
    assert!(!waiter.park(&fixture.wakers[0], || false));
    assert!(!waiter.park(&fixture.wakers[0].clone(), || false)); // will_wake: kept
    assert!(!waiter.park(&fixture.wakers[1], || false)); // another task: replaced
    fixture.event.notify_all();
    assert_eq!(
        (fixture.wakes(0), fixture.wakes(1)),
        (0, 1),
        "only the latest waker"
    );
}

#[test]
fn park_reports_ready_under_the_mutex_and_frees_the_slot() {
    let fixture = Fixture::new(1);
    let mut waiter = AsyncWaiter::new(&fixture.event);
    assert!(!waiter.park(&fixture.wakers[0], || false));
    assert!(waiter.is_parked());
    assert!(waiter.park(&fixture.wakers[0], || true));
    assert!(!waiter.is_parked());
    fixture.event.notify_all();
    assert_eq!(fixture.wakes(0), 0, "a freed slot is never woken");
}

#[test]
fn a_completed_wait_async_leaves_no_slot_behind() {
    let shared = Shared::new(0u32);
    let fixture = Fixture::new(1);
    let mut cx = Context::from_waker(&fixture.wakers[0]);
    let mut puller = shared.puller();
    let mut wait = pin!(puller.wait_async());
    assert!(wait.as_mut().poll(&mut cx).is_pending());
    shared.push(|n| *n = 5);
    assert_eq!(fixture.wakes(0), 1);
    match wait.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(guard)) => assert_eq!(*guard, 5),
        Poll::Ready(Err(closed)) => panic!("{closed}: nobody closed it"),
        Poll::Pending => panic!("the push must complete the wait"),
    }
    let event = shared.core().event.lock();
    assert_eq!((event.waiting, event.free), (0, 0), "slot 0 freed");
}

// ---- wakers are user code ------------------------------------------------------------------

/// The message of a caught panic.
fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// One waker of each batch panics on wake: every other waker of the batch (and of the next
/// batch) is woken all the same, every slot is freed, and the first panic reaches the
/// notifier once they all were.
#[test]
fn a_panicking_wake_loses_no_other_wake_up() {
    let n = WAKE_BATCH * 2 + 3;
    let panicking = [3, WAKE_BATCH + 5];
    let fixture = Fixture::with_panicking(n, &panicking);
    let waiters = fixture.park_all();
    let caught = catch_unwind(AssertUnwindSafe(|| fixture.event.notify_all()))
        .expect_err("the waker's panic reaches the notifier");
    assert!(message(&*caught).contains("a waker that panics on wake"));
    assert!(
        (0..n).all(|i| fixture.wakes(i) == 1),
        "every waker was woken once, the panicking ones included"
    );
    assert_eq!(fixture.waiting(), 0, "every slot was freed");
    assert_eq!(fixture.free_slots(), n);
    drop(waiters);
}

/// A `notify_all` run while its thread unwinds (a panicking worker's `Drop`): a waker's
/// panic there would abort the process, so it is swallowed; the other wakers are woken and
/// the original panic goes on.
#[test]
fn a_panicking_wake_during_unwinding_is_swallowed() {
    let fixture = Fixture::with_panicking(3, &[0]);
    let waiters = fixture.park_all();
    struct NotifyOnDrop<'a>(&'a Event);
    impl Drop for NotifyOnDrop<'_> {
        fn drop(&mut self) {
            self.0.notify_all();
        }
    }
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _notify = NotifyOnDrop(&fixture.event);
        panic!("the worker's own panic");
    }))
    .expect_err("the worker panicked");
    assert_eq!(message(&*caught), "the worker's own panic");
    assert_eq!(
        (fixture.wakes(0), fixture.wakes(1), fixture.wakes(2)),
        (1, 1, 1)
    );
    assert_eq!(fixture.waiting(), 0);
    drop(waiters);
}

/// Runs `f` on a thread of its own and fails the test if it does not finish within 10 s
/// (a deadlock).
fn bounded(f: impl FnOnce() + Send + 'static) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        f();
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("deadlock: a waker ran under the Event's mutex");
    worker.join().unwrap();
}

/// A waker whose drop takes the `Event`'s mutex (as a drop that pushes to the `Shared` it
/// waited on does): the replaced waker, a freed slot's waker and a ready waiter's waker are
/// each dropped after the mutex is released, or this would deadlock on the spot. (Clones are
/// user code too, but a safe `Wake` cannot hook them: `tests/hostile_wakers.rs` builds such
/// a waker.)
#[test]
fn wakers_are_dropped_outside_the_mutex() {
    struct LockOnDrop(&'static Event, Arc<AtomicUsize>);
    impl Wake for LockOnDrop {
        fn wake(self: Arc<Self>) {}
    }
    impl Drop for LockOnDrop {
        fn drop(&mut self) {
            drop(self.0.lock());
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }
    bounded(|| {
        static EVENT: std::sync::OnceLock<Event> = std::sync::OnceLock::new();
        let event: &'static Event = EVENT.get_or_init(Event::default);
        let drops = Arc::new(AtomicUsize::new(0));
        // The slot holds the last reference: replacing it, freeing it (leave, a ready park)
        // drops the `LockOnDrop`.
        let last_ref = || Waker::from(Arc::new(LockOnDrop(event, Arc::clone(&drops))));
        let other = Fixture::new(1);
        let mut waiter = AsyncWaiter::new(event);
        assert!(!waiter.park(&last_ref(), || false));
        assert!(!waiter.park(&other.wakers[0], || false)); // replaced
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        assert!(!waiter.park(&last_ref(), || false));
        waiter.leave(); // freed
        assert_eq!(drops.load(Ordering::Relaxed), 2);
        assert!(!waiter.park(&last_ref(), || false));
        assert!(waiter.park(&other.wakers[0], || true)); // ready: freed
        assert_eq!(drops.load(Ordering::Relaxed), 3);
        assert!(!waiter.park(&last_ref(), || false));
        drop(waiter); // dropped
        assert_eq!(drops.load(Ordering::Relaxed), 4);
    });
}

/// A waker woken by `notify_all` registers again from its `wake` (the executor polls at
/// once, on the notifying thread): the mutex is not held then. Counted by the probe: the
/// re-registration takes the mutex once more.
#[test]
fn a_wake_that_re_registers_runs_outside_the_mutex() {
    struct Repark(std::sync::Mutex<Option<AsyncWaiter<'static>>>);
    impl Wake for Repark {
        fn wake(self: Arc<Self>) {
            let waker = Waker::from(Arc::clone(&self));
            if let Some(waiter) = self.0.lock().unwrap().as_mut() {
                assert!(!waiter.park(&waker, || false));
            }
        }
    }
    bounded(|| {
        static EVENT: std::sync::OnceLock<Event> = std::sync::OnceLock::new();
        let event: &'static Event = EVENT.get_or_init(Event::default);
        let repark = Arc::new(Repark(std::sync::Mutex::new(None)));
        let waker = Waker::from(Arc::clone(&repark));
        let mut waiter = AsyncWaiter::new(event);
        assert!(!waiter.park(&waker, || false));
        *repark.0.lock().unwrap() = Some(waiter);
        event.notify_all();
        assert_eq!(event.lock().waiting, 1, "registered again from its wake");
        drop(repark.0.lock().unwrap().take());
    });
}

// ---- what the slow path costs those who must not pay for it ------------------------------

/// "A publish nobody waits for costs no extra lock or system call": every publishing path
/// with nobody waiting leaves the `Event` untouched (a mutant that wakes on every publish
/// passes every behavioural test, since a spurious wake-up is harmless: this counts).
#[test]
fn a_publish_nobody_waits_for_takes_no_lock_and_makes_no_call() {
    let shared = Shared::new(0);
    let probe = &shared.core().event.probe;
    shared.push(|n| *n += 1);
    shared.push(|n| *n += 1);
    assert!(shared.push_if(|n| {
        *n += 1;
        true
    }));
    shared.push_at(shared.version(), |n| *n += 1).unwrap();
    *shared.write() += 1;
    let mut guard = shared.write();
    *guard += 1;
    drop(crate::WriteGuard::downgrade(guard));
    assert_eq!(shared.version().get(), 6);
    assert_eq!(probe.snapshot(), (0, 0, 0), "(locks, signals, sleeps)");
    // The same while a future of it is alive but registered nowhere (writers then publish by
    // compare-exchange and do the release check: still no lock, no call).
    let mut puller = shared.puller();
    let wait = puller.wait_async();
    shared.push(|n| *n += 1);
    drop(shared.write()); // a write guard that does not publish
    assert_eq!(probe.snapshot(), (0, 0, 0), "with a future alive");
    drop(wait);
}

/// "A push only tasks wait for makes no futex call": the push takes the `Event`'s mutex to
/// wake the task, and signals the condvar only when a thread sleeps on it.
#[test]
#[cfg_attr(
    miri,
    ignore = "a thread parks: miri rejects parking_lot_core's futex call"
)]
fn a_push_only_tasks_wait_for_signals_no_condvar() {
    let shared = Arc::new(Shared::new(0));
    let fixture = Fixture::new(1);
    let mut cx = Context::from_waker(&fixture.wakers[0]);
    let mut puller = shared.puller();
    let mut wait = pin!(puller.wait_async());
    assert!(wait.as_mut().poll(&mut cx).is_pending());
    let probe = &shared.core().event.probe;
    let (locks, signals, _) = probe.snapshot();
    shared.push(|n| *n = 1);
    assert_eq!(fixture.wakes(0), 1);
    let (after_locks, after_signals, _) = probe.snapshot();
    assert!(after_locks > locks, "the wake took the mutex");
    assert_eq!(
        after_signals, signals,
        "no thread sleeps: no condvar signal"
    );

    // With a thread asleep on the condvar, the same push signals it (the counter counts).
    let sleeper = {
        let mut puller = shared.puller_arc();
        std::thread::spawn(move || {
            *puller
                .wait_for(std::time::Duration::from_secs(10))
                .unwrap()
                .unwrap()
        })
    };
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while probe.snapshot().2 == 0 {
        assert!(
            std::time::Instant::now() < give_up,
            "the sleeper never slept"
        );
        std::thread::yield_now();
    }
    shared.push(|n| *n = 2);
    assert_eq!(sleeper.join().unwrap(), 2);
    assert_eq!(
        probe.snapshot().1,
        signals + 1,
        "one signal for the sleeper"
    );
}

/// `push_if` returning `false`, a write guard only read through, and `clear_poison` publish
/// nothing, so they wake nobody: no lock of the `Event`, no signal, no waker woken, while a
/// thread sleeps and a task waits (a mutant that wakes there is absorbed by the waiters'
/// retries: this counts).
#[test]
#[cfg_attr(
    miri,
    ignore = "a thread parks: miri rejects parking_lot_core's futex call"
)]
fn what_does_not_publish_wakes_nobody() {
    let shared = Arc::new(Shared::new(0));
    let fixture = Fixture::new(1);
    let mut cx = Context::from_waker(&fixture.wakers[0]);
    let mut puller = shared.puller();
    let mut wait = pin!(puller.wait_async());
    assert!(wait.as_mut().poll(&mut cx).is_pending());
    let probe = &shared.core().event.probe;
    let sleeper = {
        let mut puller = shared.puller_arc();
        std::thread::spawn(move || {
            *puller
                .wait_for(std::time::Duration::from_secs(10))
                .unwrap()
                .unwrap()
        })
    };
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while probe.snapshot().2 == 0 {
        assert!(
            std::time::Instant::now() < give_up,
            "the sleeper never slept"
        );
        std::thread::yield_now();
    }
    let before = probe.snapshot();
    assert!(!shared.push_if(|_| false));
    let guard = shared.write();
    assert_eq!(*guard, 0); // read through, never mutably
    drop(guard);
    shared.clear_poison();
    assert_eq!(probe.snapshot(), before, "(locks, signals, sleeps)");
    assert_eq!(fixture.wakes(0), 0, "the task was not woken");
    assert_eq!(shared.version().get(), 0);
    shared.push(|n| *n = 1);
    assert_eq!(sleeper.join().unwrap(), 1);
    assert_eq!(fixture.wakes(0), 1);
}

/// The report of a waker's panic swallowed during unwinding names what the waker said.
#[test]
fn the_report_of_a_swallowed_waker_panic_quotes_it() {
    let literal: Box<dyn std::any::Any + Send> = Box::new("the executor's own words");
    let formatted: Box<dyn std::any::Any + Send> = Box::new(format!("task {}", 7));
    let other: Box<dyn std::any::Any + Send> = Box::new(42u8);
    let report = unwinding_report(&*literal);
    assert!(report.starts_with("pushpull: a Waker panicked (the executor's own words)"));
    assert!(report.contains("swallowed"), "{report}");
    assert!(unwinding_report(&*formatted).contains("(task 7)"));
    assert!(unwinding_report(&*other).contains("(a non-string payload)"));
}

/// A wait that parked longer than `LONG_PARK` teaches its wait point what a failed probe
/// would (see "Long parks" in `spin`): `wait_slow` reports how long it was parked.
#[test]
#[cfg_attr(
    miri,
    ignore = "a thread parks: miri rejects parking_lot_core's futex call"
)]
fn a_long_park_teaches_the_wait_point_what_a_failed_probe_would() {
    let shared = Arc::new(Shared::new(0));
    let event = &shared.core().event;
    let mut puller = shared.puller_arc();
    let waiter = std::thread::spawn(move || *puller.wait().unwrap());
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while event.probe.snapshot().2 == 0 {
        assert!(
            std::time::Instant::now() < give_up,
            "the waiter never slept"
        );
        std::thread::yield_now();
    }
    let asleep = std::time::Instant::now();
    // A fresh wait point's first slow wait probed, and the probe failed.
    let before = event.spin.state();
    assert_eq!((before.limit_us, before.interval), (0, 2));
    // The park lasts longer than LONG_PARK (paced on the clock: not a synchronization).
    while asleep.elapsed() < 2 * spin::LONG_PARK {
        std::hint::spin_loop();
    }
    shared.push(|n| *n = 1);
    assert_eq!(waiter.join().unwrap(), 1);
    assert_eq!(
        event.spin.state().interval,
        4,
        "the long park doubled the probe interval"
    );
}
