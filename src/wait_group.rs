//! `WaitGroup`: a Go-style completion latch (add / done / wait) that never hangs on a
//! panicking worker and can wait with a timeout.

use crate::deadline::Deadline;
use crate::lock_order::{self, How, LockRef};
use crate::park;
use crate::park::{AsyncWaiter, Event};
use crate::profile;
use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::sync::untracked;
use crate::sync::{next_object_id, spawn, thread_panicking, Arc, Duration, JoinHandle};
use crossbeam_utils::CachePadded;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Outstanding work: the low 32 bits of the state word.
const COUNT_MASK: u64 = (1 << 32) - 1;
/// Set by a waiter (by compare-exchange on the word) before it parks; cleared by the `done`
/// that completes the round, which then wakes the parked waiters.
const WAITING: u64 = 1 << 32;
/// The round (the number of completed rounds, modulo `ROUNDS_IN_WORD`) lives above `WAITING`.
const GENERATION_SHIFT: u32 = 33;
/// What completing one round adds to the word.
const ONE_GENERATION: u64 = 1 << GENERATION_SHIFT;
/// The word holds the round modulo this (31 bits); `Inner::milestone` supplies the rest.
const ROUNDS_IN_WORD: u64 = 1 << (64 - GENERATION_SHIFT);
/// A round number that is a multiple of this is a milestone: the `done` that reaches it
/// records it in `Inner::milestone` first (once per 2^29 rounds: about 4 s of back-to-back
/// add / done in release builds).
const MILESTONE: u64 = 1 << 29;

/// Waits for a collection of workers to finish: Go's `sync.WaitGroup`, made safe.
///
/// A master [`add`](Self::add)s one per piece of work (or hands out a [`Token`] per worker,
/// which adds one and marks it done when dropped, also when the worker panics), workers call
/// [`done`](Self::done), and [`wait`](Self::wait) blocks until the count is back at zero.
///
/// Unlike Go's, a worker that panics while holding a token can never hang the master, and
/// [`wait_for`](Self::wait_for) gives up after a timeout. Unlike crossbeam's, `wait` takes
/// `&self`: any number of threads can wait, the group is reusable round after round, and
/// cloning a `WaitGroup` gives another handle to the *same* group without changing its count
/// (Go's semantics).
///
/// # Examples
///
/// ```
/// use pushpull::{Shared, WaitGroup};
///
/// let results = std::sync::Arc::new(Shared::new(Vec::new()));
/// let wg = WaitGroup::new();
/// for worker in 0..4 {
///     let results = results.clone();
///     wg.spawn(move || results.push(|r| r.push(worker * worker)));
/// }
/// wg.wait();
/// let mut r = results.read().clone();
/// r.sort();
/// assert_eq!(r, [0, 1, 4, 9]);
/// ```
///
/// With Go's add / done:
///
/// ```
/// use pushpull::WaitGroup;
/// use std::time::Duration;
///
/// let wg = WaitGroup::new();
/// wg.add(2);
/// for _ in 0..2 {
///     let wg = wg.clone();
///     std::thread::spawn(move || wg.done());
/// }
/// assert!(wg.wait_for(Duration::from_secs(10)));
/// assert_eq!(wg.count(), 0);
/// ```
///
/// # Pitfalls
///
/// * `wait` from a thread that holds one of the group's own tokens (or owes a `done`) waits
///   for itself: it blocks forever. Use [`wait_for`](Self::wait_for) where that can happen.
/// * `add` must happen before the `wait` it is meant to hold up, as in Go: hand out tokens
///   (or `add`) before starting workers.
pub struct WaitGroup {
    inner: Arc<CachePadded<Inner>>,
}

/// The shared state.
///
/// Invariant: `word` holds `round % 2^31 << 33 | WAITING? | count`. The count never wraps:
/// every change is a compare-exchange that checks it first. The round changes in the same
/// atomic step as the count reaching zero, so a waiter of round k (which waits for the round
/// to move past k) returns even if the group is re-armed before it wakes.
///
/// # Rounds: 64 bits in a 31-bit field
///
/// A waiter compares full 64-bit round numbers, so a future created in round k and first
/// polled 2^31 rounds later (the word's field has wrapped back to k) still sees that its
/// round ended. The word holds the round's low 31 bits; `milestone` holds the latest round
/// number that is a multiple of `MILESTONE` (2^29) and that some `done` reached or is about
/// to reach: that `done` stores it *before* its compare-exchange (so a reader that acquires
/// the word and sees the new round also sees the milestone), which keeps, at every moment,
///
/// > latest milestone ≤ round ≤ ... and milestone ≤ round + 1
///
/// (the `+ 1`: the `done` that stored it may still lose its compare-exchange to an `add`).
/// So a reader that loads `milestone`, the word, and `milestone` again and finds the same
/// value `m` knows the round is in `[m - 1, m + 2^29)`, a window narrower than 2^31, and
/// rebuilds it exactly from the low bits (`Inner::round_now`). And a waiter of round k knows
/// its round ended if the low bits moved, or if `milestone > k + 1` (`Inner::ended`): a
/// whole number of 2^31 rounds passed, so some milestone past `k + 1` was reached. The
/// milestone is a std atomic under loom too: no model runs 2^29 rounds, and its orderings are
/// argued here and tested natively (`starting_at_round`).
struct Inner {
    word: AtomicU64,
    /// The latest milestone round (see above).
    milestone: untracked::AtomicU64,
    panicked: AtomicUsize,
    event: Event,
    /// This group's identity for the lock-order checker (never reused; see
    /// `sync::next_object_id`).
    id: u64,
    /// Its class (creation site) for the contention profile (zero-sized without it).
    profile: profile::GroupSlot,
}

impl Drop for Inner {
    /// The last handle and token are gone: nobody can wait for this group again.
    fn drop(&mut self) {
        lock_order::forget(self.id);
    }
}

impl WaitGroup {
    /// A group with nothing outstanding.
    ///
    /// ```
    /// let wg = pushpull::WaitGroup::new();
    /// wg.wait(); // returns at once
    /// ```
    #[must_use]
    #[cfg_attr(all(feature = "profile", not(loom)), track_caller)]
    pub fn new() -> Self {
        WaitGroup {
            inner: Arc::new(CachePadded::new(Inner {
                word: AtomicU64::new(0),
                milestone: untracked::AtomicU64::new(0),
                panicked: AtomicUsize::new(0),
                event: Event::default(),
                id: next_object_id(),
                profile: profile::GroupSlot::new(),
            })),
        }
    }

    /// Adds `n` pieces of outstanding work.
    ///
    /// # Panics
    ///
    /// If the count would exceed `u32::MAX` (the count is left unchanged).
    ///
    /// ```
    /// let wg = pushpull::WaitGroup::new();
    /// wg.add(3);
    /// assert_eq!(wg.count(), 3);
    /// ```
    #[inline]
    #[track_caller]
    pub fn add(&self, n: usize) {
        if n == 0 {
            return;
        }
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        // Relaxed: `add` publishes nothing; the work it announces is published by `done`.
        let mut word = self.inner.word.load(Ordering::Relaxed);
        loop {
            if n > COUNT_MASK - (word & COUNT_MASK) {
                add_overflow(word & COUNT_MASK, n);
            }
            // Relaxed: as above. A compare-exchange (not fetch_add) so that an overflowing
            // count is never stored, not even for a moment.
            match self.inner.word.compare_exchange_weak(
                word,
                word + n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(current) => word = current,
            }
        }
    }

    /// Marks one piece of work done. The last `done` of a round releases every waiter.
    ///
    /// # Panics
    ///
    /// If called more times than [`add`](Self::add) (the count stays at zero).
    ///
    /// ```
    /// let wg = pushpull::WaitGroup::new();
    /// wg.add(1);
    /// wg.done();
    /// assert_eq!(wg.count(), 0);
    /// ```
    #[track_caller]
    #[inline]
    pub fn done(&self) {
        self.inner.done();
    }

    /// Adds one and returns a token that calls [`done`](Self::done) when dropped, also when
    /// the thread holding it unwinds from a panic (which [`panicked`](Self::panicked) counts).
    ///
    /// ```
    /// let wg = pushpull::WaitGroup::new();
    /// let token = wg.token();
    /// std::thread::spawn(move || {
    ///     // ... work ...
    ///     drop(token);
    /// });
    /// wg.wait();
    /// ```
    #[inline]
    #[track_caller]
    pub fn token(&self) -> Token {
        self.add(1);
        Token {
            inner: self.inner.clone(),
        }
    }

    /// Runs `f` on a new thread holding a token (Go 1.25's `wg.Go`): the group counts it
    /// until `f` returns or panics.
    ///
    /// ```
    /// let wg = pushpull::WaitGroup::new();
    /// let handle = wg.spawn(|| 6 * 7);
    /// wg.wait();
    /// assert_eq!(handle.join().unwrap(), 42);
    /// ```
    #[track_caller]
    pub fn spawn<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let token = self.token();
        let (group, at) = (self.lock_ref(), Location::caller());
        spawn(move || {
            let _token = token;
            // The worker holds its group until it is done (dropped before the token).
            let _order = lock_order::hold(group, How::Token, at);
            f()
        })
    }

    /// Like [`spawn`](Self::spawn), on a scoped thread of [`std::thread::scope`], so `f` may
    /// borrow from the caller. (Not available under `cfg(loom)`, which has no scoped threads.)
    ///
    /// ```
    /// let wg = pushpull::WaitGroup::new();
    /// let data = vec![1, 2, 3];
    /// std::thread::scope(|s| {
    ///     wg.spawn_scoped(s, || assert_eq!(data.len(), 3));
    ///     wg.wait();
    /// });
    /// ```
    #[cfg(not(loom))]
    #[track_caller]
    pub fn spawn_scoped<'scope, 'env, F, R>(
        &self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        f: F,
    ) -> std::thread::ScopedJoinHandle<'scope, R>
    where
        F: FnOnce() -> R + Send + 'scope,
        R: Send + 'scope,
    {
        let token = self.token();
        let (group, at) = (self.lock_ref(), Location::caller());
        scope.spawn(move || {
            let _token = token;
            // The worker holds its group until it is done (dropped before the token).
            let _order = lock_order::hold(group, How::Token, at);
            f()
        })
    }

    /// Blocks until the count is zero; returns at once if it already is. Any number of
    /// threads may wait; the group can be re-armed with `add` once `wait` returned (or even
    /// before a slow waiter wakes: it still returns).
    ///
    /// A waiter spins for a few microseconds before it sleeps, so a master waiting for short
    /// tasks wakes without a kernel round trip.
    #[inline]
    #[track_caller]
    pub fn wait(&self) {
        self.wait_deadline(Deadline::Untimed);
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`: `true` if the count reached zero.
    /// Under `cfg(loom)` the timeout is ignored (loom has no clock).
    ///
    /// ```
    /// use std::time::Duration;
    /// let wg = pushpull::WaitGroup::new();
    /// let token = wg.token();
    /// assert!(!wg.wait_for(Duration::from_millis(10)));
    /// drop(token);
    /// assert!(wg.wait_for(Duration::from_millis(10)));
    /// ```
    #[must_use]
    #[track_caller]
    pub fn wait_for(&self, timeout: Duration) -> bool {
        self.wait_deadline(Deadline::after(timeout))
    }

    /// The lock-order checker's name for this group.
    #[inline]
    fn lock_ref(&self) -> LockRef {
        LockRef::wait_group(self.inner.id)
    }

    /// The fast path (the count is zero: one load) is inline; the wait is `wait_round`.
    #[inline]
    #[track_caller]
    fn wait_deadline(&self, deadline: Deadline) -> bool {
        // Waiting for the workers while holding a lock they take is the master-worker
        // deadlock: an order like any other, recorded whether or not the count is zero now.
        lock_order::before_acquire(self.lock_ref(), How::WaitGroupWait, Location::caller());
        // Acquire: if the count is zero, this synchronizes with the last `done`, so the
        // workers' writes are visible when `wait` returns.
        if self.inner.word.load(Ordering::Acquire) & COUNT_MASK == 0 {
            return true;
        }
        self.wait_round(deadline)
    }

    /// Waits for the end of the round running now (read again here, in full: the fast path
    /// above reads only the count). (`track_caller`: the profile charges the wait to the
    /// caller of `wait`.)
    #[cold]
    #[track_caller]
    fn wait_round(&self, deadline: Deadline) -> bool {
        // Acquire (in `round_now`): as in `wait_deadline`.
        let (round, start) = self.inner.round_now();
        if start & COUNT_MASK == 0 {
            return true;
        }
        // Dropped before `ready` (a timeout): recorded as timed out.
        let mut probe = profile::WaitProbe::new();
        probe.pending(&self.inner.profile);
        let done = park::wait(
            &self.inner.event,
            || self.inner.ended(round),
            || Some(self.inner.register_waiter(round)),
            deadline,
        );
        if done {
            probe.ready(&self.inner.profile, || 0);
        }
        done
    }

    /// The async twin of [`wait`](Self::wait): a future that completes when the round that is
    /// running *now* (at this call) ends, i.e. when its count reaches zero; at once if the
    /// count is zero now. Re-arming the group with `add` after that round ended does not hold
    /// it back, as for `wait`.
    ///
    /// Needs no runtime: the last `done` wakes it (together with any thread blocked in
    /// `wait`). Cancel-safe: dropping it before it completes unregisters it, so
    /// `tokio::time::timeout(d, wg.wait_async())` is the timed wait. `Send`, so it runs under a
    /// multi-thread runtime's `spawn`. See [`WaitGroupWait`].
    ///
    /// ```
    /// use pushpull::WaitGroup;
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::sync::Arc;
    /// #     struct Unpark(std::thread::Thread);
    /// #     impl std::task::Wake for Unpark { fn wake(self: Arc<Self>) { self.0.unpark() } }
    /// #     let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v }
    /// #         std::thread::park();
    /// #     }
    /// # }
    ///
    /// let wg = WaitGroup::new();
    /// for _ in 0..3 {
    ///     wg.spawn(|| { /* work */ });
    /// }
    /// // In an async fn: `wg.wait_async().await;`
    /// block_on(wg.wait_async());
    /// assert_eq!(wg.count(), 0);
    /// ```
    #[track_caller]
    pub fn wait_async(&self) -> WaitGroupWait<'_> {
        // A task that holds a lock its group's workers take, and awaits the group, hangs the
        // same way as a blocked thread: the same order, recorded when the wait is created.
        lock_order::before_acquire(self.lock_ref(), How::WaitGroupWait, Location::caller());
        // Acquire: as in `wait_deadline` (a round already over synchronizes with its last
        // `done`; otherwise the later polls acquire it). The round (three loads) only when
        // there is one to wait for.
        let round = if self.inner.word.load(Ordering::Acquire) & COUNT_MASK == 0 {
            None
        } else {
            let (round, start) = self.inner.round_now();
            (start & COUNT_MASK != 0).then_some(round)
        };
        WaitGroupWait {
            inner: &self.inner,
            round,
            waiter: AsyncWaiter::new(&self.inner.event),
            profile: profile::WaitProbe::new(),
        }
    }

    /// Outstanding work: how many `done`s the group still waits for. A snapshot.
    #[must_use]
    pub fn count(&self) -> usize {
        // Relaxed: a snapshot for display and tests; orders nothing.
        (self.inner.word.load(Ordering::Relaxed) & COUNT_MASK) as usize
    }

    /// How many tokens were dropped while their thread was panicking (since the group was
    /// created).
    ///
    /// ```
    /// let wg = pushpull::WaitGroup::new();
    /// let worker = wg.spawn(|| panic!("worker failed"));
    /// wg.wait(); // does not hang
    /// assert!(worker.join().is_err());
    /// assert_eq!(wg.panicked(), 1);
    /// ```
    #[must_use]
    pub fn panicked(&self) -> usize {
        // Acquire: a caller that saw the round complete (wait returned) sees every panicked
        // token of that round, whose increment came before its `done`.
        self.inner.panicked.load(Ordering::Acquire)
    }
}

impl Inner {
    #[track_caller]
    #[inline]
    fn done(&self) {
        // Relaxed: only a first guess for the compare-exchange, which checks it.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            let count = word & COUNT_MASK;
            if count == 0 {
                done_underflow();
            }
            let next = if count == 1 {
                if ((word >> GENERATION_SHIFT) + 1) % MILESTONE == 0 {
                    self.reach_milestone(word);
                }
                // Last one: count to zero, clear WAITING and start a new round, in one step,
                // so a waiter of this round can tell it ended even if `add` follows.
                (word - 1).wrapping_add(ONE_GENERATION) & !WAITING
            } else {
                word - 1
            };
            // AcqRel on success: Release publishes this worker's writes to the waiter that
            // sees the round end; Acquire makes each `done` carry the earlier `done`s'
            // writes forward, so the last one publishes all of them. Relaxed on failure: we
            // only retry with the fresh value.
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    if count == 1 && word & WAITING != 0 {
                        self.wake_waiters();
                    }
                    return;
                }
                Err(current) => word = current,
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_waiters(&self) {
        self.event.notify_all();
    }

    /// Records the milestone the round after the one in `word` reaches, before the
    /// compare-exchange that may end that round (see "Rounds" on `Inner`). Once per
    /// `MILESTONE` rounds.
    #[cold]
    #[inline(never)]
    fn reach_milestone(&self, word: u64) {
        let (round, now) = self.round_now();
        // Only for the round this `done` is about to end: if the word moved meanwhile, the
        // compare-exchange fails and the next attempt decides again.
        if (now ^ word) >> GENERATION_SHIFT == 0 {
            // Relaxed: ordered before the round's end by the Release of the compare-exchange
            // that follows (and a max, so a late store never lowers it).
            self.milestone.fetch_max(round + 1, Ordering::Relaxed);
        }
    }

    /// The running round, in full, and the word it was read from.
    fn round_now(&self) -> (u64, u64) {
        loop {
            // Acquire (all three): the word is read after the first load of the milestone and
            // before the second; the word's Acquire also makes the workers' writes visible (see
            // `wait_deadline`), and sees every milestone stored before the round it shows.
            let before = self.milestone.load(Ordering::Acquire);
            let word = self.word.load(Ordering::Acquire);
            let after = self.milestone.load(Ordering::Acquire);
            if before == after {
                // The round is in [m - 1, m + MILESTONE): the one value with these low bits.
                let base = after.wrapping_sub(1);
                let low = word >> GENERATION_SHIFT;
                let round = base.wrapping_add(low.wrapping_sub(base) % ROUNDS_IN_WORD);
                return (round, word);
            }
            // A milestone was reached while reading (once per 2^29 rounds): read again.
        }
    }

    /// Whether round `round` (a full round number from `round_now`) ended.
    fn ended(&self, round: u64) -> bool {
        // Acquire: pairs with the AcqRel of the `done` that ended the round, so the workers'
        // writes are visible once this returns `true`.
        let word = self.word.load(Ordering::Acquire);
        self.ended_at(word, round)
    }

    /// Whether round `round` ended, given `word`, read (Acquire) just before.
    fn ended_at(&self, word: u64, round: u64) -> bool {
        if (word >> GENERATION_SHIFT) != round % ROUNDS_IN_WORD {
            return true;
        }
        // The low bits are the round's: it is still running, or a multiple of 2^31 rounds
        // passed, in which case the milestone passed `round + 1` before the word showed these
        // bits again (Acquire on the word, above). Relaxed: ordered after that load.
        self.milestone.load(Ordering::Relaxed) > round + 1
    }

    /// Sets `WAITING` while round `round` is still running; `false` if it ended.
    fn register_waiter(&self, round: u64) -> bool {
        // Acquire: as in `wait_deadline`, for a round that ended meanwhile.
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if self.ended_at(word, round) {
                return false;
            }
            if word & WAITING != 0 {
                return true;
            }
            // AcqRel: ordered with the `done` that ends the round by being an RMW on the same
            // word: if it comes later it sees WAITING and wakes us; if earlier, the round
            // check above (with this Acquire) sees that the round ended.
            match self.word.compare_exchange_weak(
                word,
                word | WAITING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(current) => word = current,
            }
        }
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn done_underflow() -> ! {
    panic!("pushpull::WaitGroup::done() called more times than add() (the count is already zero)")
}

#[cold]
#[inline(never)]
#[track_caller]
fn add_overflow(count: u64, n: u64) -> ! {
    panic!(
        "pushpull::WaitGroup::add({n}) would overflow the count ({count} outstanding, at most {COUNT_MASK})"
    )
}

/// A `WaitGroup` is made for code that panics: a panic never leaves it in a state that a later
/// caller could misread (the count is only ever changed by complete atomic steps).
impl std::panic::UnwindSafe for WaitGroup {}
impl std::panic::RefUnwindSafe for WaitGroup {}

impl Default for WaitGroup {
    #[cfg_attr(all(feature = "profile", not(loom)), track_caller)]
    fn default() -> Self {
        WaitGroup::new()
    }
}

impl Clone for WaitGroup {
    /// Another handle to the same group; the count is not changed.
    fn clone(&self) -> Self {
        WaitGroup {
            inner: self.inner.clone(),
        }
    }
}

impl fmt::Debug for WaitGroup {
    /// `waiting: true` when a waiter (a blocked `wait`, or a pending `wait_async`) has
    /// announced itself for the running round: its last `done` wakes the waiters.
    ///
    /// ```
    /// let wg = pushpull::WaitGroup::new();
    /// let _token = wg.token();
    /// assert_eq!(format!("{wg:?}"), "WaitGroup { count: 1, panicked: 0, waiting: false }");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a snapshot for display and tests; orders nothing.
        let word = self.inner.word.load(Ordering::Relaxed);
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .field("panicked", &self.panicked())
            .field("waiting", &(word & WAITING != 0))
            .finish()
    }
}

/// The future of [`WaitGroup::wait_async`]: completes when the round that was running when
/// it was created ends.
///
/// Cancel-safe: dropping it before it completes frees its registration and takes no wake-up
/// from any other waiter. Never blocks the thread that polls it.
///
/// ```
/// use pushpull::WaitGroup;
///
/// fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
///
/// let wg = WaitGroup::new();
/// let master = wg.clone();
/// spawnable(async move { master.wait_async().await });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WaitGroupWait<'a> {
    inner: &'a Inner,
    /// The round to wait for the end of (`None`: nothing was outstanding, or it ended).
    round: Option<u64>,
    waiter: AsyncWaiter<'a>,
    /// The contention profile's record of this wait (zero-sized without it).
    profile: profile::WaitProbe,
}

impl Future for WaitGroupWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(round) = this.round else {
            return Poll::Ready(());
        };
        let inner = this.inner;
        // `ended` acquires the `done` that ended the round, so the workers' writes are
        // visible once this completes. `register_waiter` sets WAITING by an RMW on the word,
        // ordered with the last `done` (see `Inner::register_waiter`); the waker is then
        // stored after checking the round under the Event's mutex, which the `done` that saw
        // WAITING takes to wake it.
        if inner.ended(round)
            || !inner.register_waiter(round)
            || this.waiter.park(cx.waker(), || inner.ended(round))
        {
            this.round = None;
            // The round ended after any earlier registration of this future (each one checked
            // under the Event's mutex that it had not), so the `done` that ended it saw
            // WAITING and owes a `notify_all`, which frees the slot; `park` frees it itself
            // when it reports the end.
            this.waiter.forget();
            this.profile.ready(&this.inner.profile, || 0);
            return Poll::Ready(());
        }
        this.profile.pending(&this.inner.profile);
        Poll::Pending
    }
}

impl fmt::Debug for WaitGroupWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroupWait")
            .field("round", &self.round)
            .field("registered", &self.waiter.is_parked())
            .finish()
    }
}

/// One piece of outstanding work of a [`WaitGroup`]: calls `done` when dropped, also during
/// a panic (counted by [`WaitGroup::panicked`]). Created by [`WaitGroup::token`]; `Send`, so
/// it can move into the worker.
#[must_use = "dropping a Token at once marks its work done at once"]
pub struct Token {
    inner: Arc<CachePadded<Inner>>,
}

impl Drop for Token {
    #[inline]
    fn drop(&mut self) {
        if thread_panicking() {
            // Relaxed... then Release by `done`: the increment is ordered before the `done`
            // below, whose release the waiter acquires.
            self.inner.panicked.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.done();
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field(
                "count",
                &(self.inner.word.load(Ordering::Relaxed) & COUNT_MASK),
            )
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
impl WaitGroup {
    pub(crate) fn inner_event(&self) -> &Event {
        &self.inner.event
    }

    /// A group whose round counter starts at `round`, as if that many rounds had run.
    fn starting_at_round(round: u64) -> Self {
        let wg = WaitGroup::new();
        wg.skip_rounds(round);
        wg
    }

    /// Leaves what `n` more rounds of add / done would leave: the word's low bits and the
    /// latest milestone (the test hook for rounds far beyond what a test can run). Nothing
    /// may be outstanding.
    fn skip_rounds(&self, n: u64) {
        let (round, word) = self.inner.round_now();
        assert_eq!(word & COUNT_MASK, 0, "skip_rounds with work outstanding");
        let target = round + n;
        self.inner
            .milestone
            .fetch_max(target / MILESTONE * MILESTONE, Ordering::Relaxed);
        self.inner.word.store(
            (target % ROUNDS_IN_WORD) << GENERATION_SHIFT,
            Ordering::Release,
        );
    }

    /// The running round, in full.
    fn round(&self) -> u64 {
        self.inner.round_now().0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    #[cfg(any(debug_assertions, feature = "lock-order-check"))]
    fn a_dropped_group_leaves_the_lock_order_graph() {
        let jobs = crate::Shared::new(0);
        let wg = WaitGroup::new();
        {
            let _j = jobs.write();
            wg.wait(); // nothing outstanding: returns at once, but jobs → group is recorded
        }
        let id = wg.inner.id;
        let token = wg.token();
        assert!(crate::lock_order::in_graph(id));
        drop(wg);
        assert!(
            crate::lock_order::in_graph(id),
            "a token keeps the group alive"
        );
        drop(token);
        assert!(
            !crate::lock_order::in_graph(id),
            "the last handle forgets it"
        );
    }

    #[test]
    fn the_last_done_starts_a_new_generation_and_clears_waiting() {
        let wg = WaitGroup::new();
        wg.add(2);
        assert!(wg.inner.register_waiter(0));
        wg.done();
        let word = wg.inner.word.load(Ordering::Relaxed);
        assert_eq!(word & COUNT_MASK, 1);
        assert_ne!(
            word & WAITING,
            0,
            "not the last done: the waiter stays registered"
        );
        wg.done();
        let word = wg.inner.word.load(Ordering::Relaxed);
        assert_eq!(
            word, ONE_GENERATION,
            "count 0, WAITING cleared, generation 1"
        );
        assert!(!wg.inner.register_waiter(0), "round 0 is over");
    }

    #[test]
    fn a_waiter_of_an_old_round_returns_even_after_re_arming() {
        let wg = WaitGroup::new();
        wg.add(1);
        wg.done();
        wg.add(1); // re-armed before the round-0 waiter looked again
        assert!(!wg.inner.register_waiter(0));
        wg.done();
    }

    /// Real add / done rounds across the word's wrap point (2^31) and across milestones: the
    /// full round number goes up by exactly one per round.
    #[test]
    fn the_round_number_counts_on_past_the_word_s_31_bits() {
        for start in [
            ROUNDS_IN_WORD - 3,
            MILESTONE - 3,
            3 * MILESTONE - 3,
            2 * ROUNDS_IN_WORD - 3,
            5 * ROUNDS_IN_WORD + MILESTONE - 3,
        ] {
            let wg = WaitGroup::starting_at_round(start);
            assert_eq!(wg.round(), start);
            for i in 1..=6 {
                wg.add(2);
                let round = wg.round();
                assert!(!wg.inner.ended(round));
                wg.done();
                assert!(!wg.inner.ended(round), "one of two done");
                wg.done();
                assert!(wg.inner.ended(round));
                assert_eq!(wg.round(), start + i, "from {start}");
                let milestone = wg.inner.milestone.load(Ordering::Relaxed);
                assert_eq!(milestone, (start + i) / MILESTONE * MILESTONE);
            }
        }
    }

    /// The bug this fixed: a future created in round k and first polled 2^31 rounds later
    /// found the word's 31 round bits back at k and waited for the round running then.
    #[test]
    fn a_wait_async_first_polled_2_pow_31_rounds_later_completes() {
        for start in [0, 7, ROUNDS_IN_WORD - 1, MILESTONE - 1] {
            let wg = WaitGroup::starting_at_round(start);
            wg.add(1);
            let mut future = Box::pin(wg.wait_async());
            wg.done(); // round `start` ends
            wg.skip_rounds(ROUNDS_IN_WORD - 1); // 2^31 rounds in all: the low bits are back
            wg.add(1); // and a round is running
            assert_eq!(wg.round() % ROUNDS_IN_WORD, start % ROUNDS_IN_WORD);
            let waker = std::task::Waker::noop();
            let mut cx = Context::from_waker(waker);
            assert!(
                future.as_mut().poll(&mut cx).is_ready(),
                "round {start} ended 2^31 rounds ago"
            );
            assert!(
                !wg.inner.register_waiter(start),
                "and a blocking waiter sees it"
            );
            let mut running = Box::pin(wg.wait_async());
            assert!(running.as_mut().poll(&mut cx).is_pending(), "this one runs");
            wg.done();
            assert!(running.as_mut().poll(&mut cx).is_ready());
        }
    }

    /// A blocking waiter of round k that looks again only after 2^31 more rounds sees its
    /// round ended (`ended` is what its wait loop checks, under the Event's mutex too).
    #[test]
    fn a_blocking_waiter_of_a_round_2_pow_31_rounds_old_sees_it_ended() {
        let wg = WaitGroup::starting_at_round(ROUNDS_IN_WORD - 2);
        wg.add(1);
        let (round, _) = wg.inner.round_now();
        assert!(wg.inner.register_waiter(round));
        wg.done();
        wg.skip_rounds(ROUNDS_IN_WORD - 1);
        wg.add(1);
        assert!(wg.inner.ended(round));
        assert!(
            !wg.wait_for(Duration::ZERO),
            "the running round is not over"
        );
        wg.done();
    }

    /// A `done` whose view of the word is stale (another round) records no milestone: it
    /// would record one for the round running now, which may be nowhere near a milestone.
    #[test]
    fn a_done_records_a_milestone_only_for_the_round_it_ends() {
        let wg = WaitGroup::starting_at_round(MILESTONE - 5);
        wg.add(1);
        let before = wg.inner.milestone.load(Ordering::Relaxed);
        // What a `done` that last read the word in round MILESTONE - 1 would pass.
        let stale = ((MILESTONE - 1) % ROUNDS_IN_WORD) << GENERATION_SHIFT | 1;
        wg.inner.reach_milestone(stale);
        assert_eq!(wg.inner.milestone.load(Ordering::Relaxed), before);
        wg.done();
    }

    /// A `done` stores the milestone before its compare-exchange, which may then lose to an
    /// `add`: the milestone is one round ahead of the running round, which has not ended.
    #[test]
    fn a_milestone_stored_ahead_of_its_round_does_not_end_it() {
        let wg = WaitGroup::starting_at_round(MILESTONE - 1);
        wg.add(2);
        let round = wg.round();
        assert_eq!(round, MILESTONE - 1);
        wg.inner.milestone.store(MILESTONE, Ordering::Relaxed);
        assert!(!wg.inner.ended(round), "the round runs on");
        assert!(wg.inner.register_waiter(round));
        assert_eq!(wg.round(), round, "rebuilt from a milestone one ahead");
        wg.done();
        wg.done();
        assert!(wg.inner.ended(round));
        assert_eq!(wg.round(), MILESTONE);
    }

    #[test]
    fn underflow_panics_and_leaves_the_count_at_zero() {
        let wg = WaitGroup::new();
        let err = std::panic::catch_unwind(|| wg.done()).unwrap_err();
        let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(
            msg.contains("WaitGroup::done() called more times than add()"),
            "{msg}"
        );
        assert_eq!(wg.inner.word.load(Ordering::Relaxed), 0);
    }
}
