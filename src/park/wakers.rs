//! Running user code on behalf of others: a [`Waker`]'s `wake`, `clone` and `drop` are the
//! executor's code (or the user's: `std::task::Wake` is a public trait), so they may panic,
//! block, or call back into pushpull.
//!
//! The rules this module and its callers keep:
//!
//! * None of it runs under the `Event`'s mutex: a waker is cloned before the mutex is taken
//!   (`AsyncWaiter::park`), and woken or dropped after it is released. A waker that pushes to
//!   the `Shared` it waits on, or blocks for a while, holds up nobody else's registration.
//! * One panicking `wake` does not cost anyone else their wake-up: a batch is woken one waker at
//!   a time, each inside `catch_unwind` ([`Panics::run`]); the slots were freed before, so a
//!   waker whose `wake` panicked is not woken again by the next push (it was woken: what it did
//!   with that is its own affair). Once every waker of the `notify_all` ran, the first panic
//!   resumes on the notifying thread ([`Panics::resume`]): a pusher learns that its executor
//!   misbehaves, as it would had it called the waker itself.
//! * While the notifying thread is already unwinding (a `WaitGroup` token dropped by a panicking
//!   worker, a poisoned write guard), a second panic would abort the process. There the
//!   waker's panic is reported on stderr and swallowed ([`Panics::record`]); the same holds for
//!   a waker dropped during unwinding ([`drop_waker`]).

use crate::sync::thread_panicking;
use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::task::Waker;

/// How many wakers `notify_all` moves out per trip through the mutex: they sit in an array on
/// the stack (no allocation), and are woken after the mutex is released.
pub(super) const WAKE_BATCH: usize = 32;

/// Wakers taken out of their slots under the mutex, to be woken once it is released.
pub(super) struct Batch {
    wakers: [Option<Waker>; WAKE_BATCH],
    len: usize,
}

impl Batch {
    pub(super) fn new() -> Self {
        Batch {
            wakers: Default::default(),
            len: 0,
        }
    }

    pub(super) fn is_full(&self) -> bool {
        self.len == WAKE_BATCH
    }

    /// Adds a waker. The batch must not be full.
    pub(super) fn push(&mut self, waker: Waker) {
        self.wakers[self.len] = Some(waker);
        self.len += 1;
    }

    /// Wakes every waker of the batch, each inside `catch_unwind`, and empties it: a panic is
    /// recorded in `panics` and the others are woken all the same.
    pub(super) fn wake_all(&mut self, panics: &mut Panics) {
        for slot in &mut self.wakers[..self.len] {
            if let Some(waker) = slot.take() {
                panics.run(|| waker.wake());
            }
        }
        self.len = 0;
    }
}

/// The first panic of user code run on behalf of others, kept until all of them ran.
#[derive(Default)]
pub(super) struct Panics {
    first: Option<Box<dyn Any + Send>>,
}

impl Panics {
    /// Runs `f`, catching a panic (see [`record`](Self::record)).
    pub(super) fn run(&mut self, f: impl FnOnce()) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
            self.record(payload);
        }
    }

    /// Keeps the first panic to resume it later; while this thread is unwinding already (where
    /// resuming it would abort the process), reports it on stderr and swallows it instead.
    /// Panics after the first are dropped: the first one tells the story.
    fn record(&mut self, payload: Box<dyn Any + Send>) {
        if thread_panicking() {
            eprintln!("{}", unwinding_report(&*payload));
        } else if self.first.is_none() {
            self.first = Some(payload);
        }
    }

    /// Resumes the first panic recorded, if any: call once every waker ran.
    pub(super) fn resume(self) {
        if let Some(payload) = self.first {
            resume_unwind(payload);
        }
    }
}

/// Drops a waker outside any lock of ours. While this thread unwinds, a panic of its `drop`
/// is reported and swallowed (see the module docs); otherwise it propagates.
pub(super) fn drop_waker(waker: Option<Waker>) {
    if let Some(waker) = waker {
        if thread_panicking() {
            let mut panics = Panics::default();
            panics.run(|| drop(waker));
        } else {
            drop(waker);
        }
    }
}

/// What is printed on stderr for a waker's panic swallowed during unwinding.
pub(super) fn unwinding_report(payload: &(dyn Any + Send)) -> String {
    format!(
        "pushpull: a Waker panicked ({}) while this thread was already unwinding from another \
         panic; the waker's panic is swallowed (a second panic would abort the process) and \
         every other waiter is woken",
        message(payload)
    )
}

/// The text of a panic payload, as the default hook shows it.
fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a non-string payload"
    }
}
