//! The version word of a `Shared`: its version, its poison flag, its "someone is parked" flag,
//! the two flags of the async waiters' release protocol and its closed flag, packed in one
//! atomic so that a publish is one load and one store.
//!
//! # Invariant
//!
//! The word is only *stored* by a thread holding the write lock (`publish`; `close` and the
//! poison flag use read-modify-writes there, being cold), and only
//! *read-modify-written* by a thread holding a read lock (`register_waiter`,
//! `register_task`), with two exceptions made for futures (`crate::shared::release`): while
//! `ASYNC` is set, futures set `RELEASE_WAIT` without a lock (under the `Event`'s mutex),
//! every writer that saw `ASYNC` publishes with a read-modify-write and reads `RELEASE_WAIT`
//! after its unlock with one, and a notifier clears it under the `Event`'s mutex. The two kinds of access exclude each other through the lock, so a publisher never
//! overwrites a registration it did not see, and a publish with `ASYNC` clear needs no atomic
//! read-modify-write: the writer is alone (a future sets `RELEASE_WAIT` only by a
//! compare-exchange that finds `ASYNC` set, and `ASYNC` is set only under a read lock, so
//! every writer after that sees it).
//!
//! One more exception, in builds that record the contention profile only (`profile::RECORDS`;
//! elsewhere the flag is 0 and none of this exists): `ARMED`, which a waiter sets or clears by
//! a read-modify-write without any lock, just before it blocks. A publish's plain store can
//! overwrite that change (it stores what it loaded, plus one version): then the flag is as it
//! was, and the `Shared`'s next contended wait arms or disarms it again. The profile's
//! accuracy is all that is at stake; no other flag is changed by those read-modify-writes,
//! and no protocol of this word reads `ARMED`.

use crate::profile::{self, Timed};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::untracked::AtomicUsize;
use crate::Version;

/// Set while the last publish left a poisoned value behind (see `Shared::is_poisoned`).
const POISONED: u64 = 0b01;
/// Set by a waiter, under a read lock, before it parks; cleared by the next publish, which
/// then wakes everyone parked.
const WAITING: u64 = 0b10;
/// Set (under a read lock) while futures use this `Shared`: writers that see it publish with
/// a read-modify-write and check `RELEASE_WAIT` after their unlock. Cleared by a publish that
/// finds no future counted in `async_users`. See `crate::shared::release`.
const ASYNC: u64 = 0b100;
/// Set (lock-free, under the `Event`'s mutex, only while `ASYNC` is set) by a future that
/// could not read because a writer holds the lock; the next writer's release sees it and
/// wakes the `Event`'s tasks, clearing it under the mutex.
const RELEASE_WAIT: u64 = 0b1000;
/// Set once by `close` (under the write lock), never cleared: no write can follow, and every
/// wait for a change ends (see `crate::close`).
const CLOSED: u64 = 0b1_0000;
/// Set while the contention profile records this `Shared`'s holders and skipped versions
/// (*armed*, see `profile::hooks::LockSlot`): tested by a writer together with `CLOSED` (one
/// test on its fast path for both), and by a pull with the version it loads anyway. Only
/// where the profile records (`profile::RECORDS`): 0 elsewhere, which leaves every test and
/// mask of this word what it is without the profile. Set and cleared by contended waiters
/// (see the invariant above); kept by publishes.
const ARMED: u64 = if profile::RECORDS { 0b10_0000 } else { 0 };
/// Never stored in the word: the mark an `Entry` carries when the hold it starts is timed by
/// the profile (its acquisition waited and was sampled), so that the guard owes the end of
/// the hold after its unlock, with what else it owes (one test at the drop for all). 0
/// where the profile does not record.
const TIMED_HOLD: u64 = if profile::RECORDS { 0b100_0000 } else { 0 };
/// The version lives above the flag bits (and above `TIMED_HOLD`'s bit where it exists).
const VERSION_SHIFT: u32 = if profile::RECORDS { 7 } else { 5 };
/// What one publish adds to the word.
const ONE_VERSION: u64 = 1 << VERSION_SHIFT;

/// What a writer owes once it released the lock (`Core::after_write`): a bit set, 0 for
/// nothing (the common case). Each bit is the flag of the word it comes from, so that taking
/// it is one `and` on the writer's fast path.
pub(crate) type Owed = u8;
/// Its publish found `WAITING`: wake the `Event` (threads and tasks).
pub(crate) const OWES_WAKE: Owed = WAITING as Owed;
/// It saw `ASYNC`: clear `RELEASE_WAIT` by a read-modify-write after the unlock, and wake the
/// tasks if it was set.
pub(crate) const OWES_RELEASE: Owed = ASYNC as Owed;
/// Its hold is timed by the contention profile: end it (after the unlock). 0 where the profile
/// does not record.
pub(crate) const OWES_HOLD_END: Owed = TIMED_HOLD as Owed;

/// The version word as a writer found it on taking the write lock (`VersionWord::on_entry`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry(u64);

impl Entry {
    /// The `Shared` is closed: it takes no more writes.
    #[inline]
    pub(crate) fn closed(self) -> bool {
        self.0 & CLOSED != 0
    }

    /// Closed, or armed for the profile (always the former where the profile does not
    /// record): the one test a writer's fast path makes of the word it loads when it takes
    /// the lock.
    #[inline]
    pub(crate) fn flagged(self) -> bool {
        self.0 & (CLOSED | ARMED) != 0
    }

    /// Armed for the contention profile: the writer records its site (`LockSlot::holding`).
    #[inline]
    #[allow(clippy::bad_bit_mask)] // `ARMED` is 0 where the profile does not record
    pub(crate) fn armed(self) -> bool {
        self.0 & ARMED != 0
    }

    /// What the writer owes after its unlock whether or not it publishes: the release check
    /// if futures use this `Shared` (`ASYNC`, see `crate::shared::release`), and the end of a
    /// hold the profile times.
    #[inline]
    pub(crate) fn owed(self) -> Owed {
        (self.0 & (ASYNC | TIMED_HOLD)) as Owed
    }

    /// The entry of an acquisition that waited: marked if the profile times its hold. Slow
    /// paths only (the fast path's entry is the word as loaded).
    #[inline]
    pub(crate) fn timed(self, timed: Timed) -> Entry {
        if timed.is_timed() {
            Entry(self.0 | TIMED_HOLD)
        } else {
            self
        }
    }
}

pub(crate) struct VersionWord {
    word: AtomicU64,
    /// Futures of this `Shared` alive that set `ASYNC` (`release::AsyncUse`): a publish keeps
    /// `ASYNC` while there are some. A heuristic for how long to keep paying the careful
    /// path, never needed for correctness (see `crate::shared::release`), so an untracked
    /// atomic under loom.
    async_users: AtomicUsize,
}

impl VersionWord {
    /// A word at version 0, armed for the profile if `armed` (and the profile records).
    pub(crate) fn new(armed: bool) -> Self {
        VersionWord {
            word: AtomicU64::new(if armed { ARMED } else { 0 }),
            async_users: AtomicUsize::new(0),
        }
    }

    /// The current version, without a lock.
    #[inline]
    pub(crate) fn version(&self) -> Version {
        // Acquire: pairs with the Release store in `publish`, so a thread that sees version N
        // also sees everything the publisher wrote before publishing N (outside the lock too).
        Version(self.word.load(Ordering::Acquire) >> VERSION_SHIFT)
    }

    #[inline]
    pub(crate) fn is_poisoned(&self) -> bool {
        // Acquire: as in `version`; the flag is set before the write lock is released.
        self.word.load(Ordering::Acquire) & POISONED != 0
    }

    /// The current version, and whether the word is armed for the profile (`ARMED`), from one
    /// load: what a pull reads under its read lock.
    #[inline]
    #[allow(clippy::bad_bit_mask)] // `ARMED` is 0 where the profile does not record
    pub(crate) fn version_armed(&self) -> (Version, bool) {
        // Acquire: as in `version`.
        let word = self.word.load(Ordering::Acquire);
        (Version(word >> VERSION_SHIFT), word & ARMED != 0)
    }

    /// Whether `close` was called. Lock-free.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: as in `version`; a thread that sees the flag sees everything published
        // before the close.
        self.word.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Whether a wait for a change past `seen` is over: the version moved, or the `Shared`
    /// was closed (then it never will). The `ready` of every wait for a publish.
    #[inline]
    pub(crate) fn moved_past(&self, seen: Version) -> bool {
        // Acquire: as in `version`.
        let word = self.word.load(Ordering::Acquire);
        word >> VERSION_SHIFT != seen.0 || word & CLOSED != 0
    }

    /// The word as a writer finds it when it has just taken the write lock (or upgraded to
    /// it, or holds the modify lock, which keeps `close` out as well): whether the `Shared` is
    /// closed, whether futures use it, and whether it is armed for the profile (a hint). Neither can change
    /// while the writer holds the lock, except by the writer itself: `CLOSED` and the clearing
    /// of `ASYNC` are done under the write lock, and `ASYNC` is set under a read lock.
    #[inline]
    pub(crate) fn on_entry(&self) -> Entry {
        // Relaxed: every change of these flags by another thread (`close`, a publish that
        // clears `ASYNC`, a registration that sets it under a read lock) happened before the
        // caller's lock acquisition, which orders this load after it.
        Entry(self.word.load(Ordering::Relaxed))
    }

    /// Bumps the version by one and clears `WAITING`. Caller holds the write lock. Returns
    /// what the caller owes once it has unlocked: a wake if someone was parked, the release
    /// check if futures use this `Shared`.
    #[inline]
    pub(crate) fn publish(&self) -> Owed {
        // Relaxed load: every store to the word happens under the write lock we hold, and the
        // registrations (RMW under a read lock) happened before our lock acquisition, so this
        // load sees the latest value, `ASYNC` included.
        let word = self.word.load(Ordering::Relaxed);
        debug_assert!(
            word < u64::MAX - ONE_VERSION,
            "pushpull::Shared: version overflow"
        );
        // The writer could not have taken the write lock of a closed `Shared`
        // (`Shared::write_as`).
        debug_assert!(
            word & CLOSED == 0,
            "pushpull::Shared: a publish after close"
        );
        if word & ASYNC != 0 {
            return self.publish_async(word);
        }
        // Release: a thread that observes the new version (lock-free `version`/`has_changed`)
        // also observes what was written before it. `RELEASE_WAIT` is cleared too: with
        // `ASYNC` clear no future relies on it (see the module docs), and a stale one would
        // only cost a spurious wake-up later.
        self.word.store(
            (word + ONE_VERSION) & !(WAITING | RELEASE_WAIT),
            Ordering::Release,
        );
        (word & WAITING) as Owed
    }

    /// `publish` while futures use this `Shared`: a read-modify-write, because a future may
    /// set `RELEASE_WAIT` at any moment (the store would overwrite it). Keeps `ASYNC` while
    /// `async_users` counts a future, and while `RELEASE_WAIT` is set (a future waits for a
    /// release: the writers after this one must keep checking, see `crate::shared::release`).
    ///
    /// `extern "C"`: it cannot unwind (a loop of atomic operations), and saying so gives the
    /// inlined `publish` no unwinding edge, so a write guard kept in registers needs no copy
    /// on the stack for a cleanup path (see `guards::panicking_nounwind`).
    #[cold]
    #[inline(never)]
    extern "C" fn publish_async(&self, mut word: u64) -> Owed {
        // Relaxed: a count incremented under a read lock happened before our write lock was
        // taken, so it is seen; a stale non-zero only keeps `ASYNC` one publish longer.
        let unused = self.async_users.load(Ordering::Relaxed) == 0;
        loop {
            let clear = if unused && word & RELEASE_WAIT == 0 {
                ASYNC
            } else {
                0
            };
            let next = (word + ONE_VERSION) & !(WAITING | clear);
            // Release on success: as the store in `publish`. Relaxed on failure: only retried
            // with the fresh value (a future's `RELEASE_WAIT`, which is kept).
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return OWES_RELEASE | (word & WAITING) as Owed,
                Err(current) => word = current,
            }
        }
    }

    /// Sets `CLOSED` and clears `WAITING`, as a publish does without moving the version.
    /// Caller holds the write lock. Returns whether this call closed it (`false`: it was
    /// closed already) and what the caller owes once it has unlocked, exactly as after a
    /// publish (a wake if someone was parked, the release check if futures use this
    /// `Shared`).
    pub(crate) fn close(&self) -> (bool, Owed) {
        // Relaxed: a first guess for the compare-exchange. A read-modify-write (cold): a future
        // may set `RELEASE_WAIT` at any moment while `ASYNC` is set.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            // Release on success: a thread that sees `CLOSED` (lock-free) sees every publish
            // made before it. Relaxed on failure: retried with the fresh value.
            match self.word.compare_exchange_weak(
                word,
                (word | CLOSED) & !WAITING,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(current) => word = current,
            }
        }
        let owed = (word & (WAITING | ASYNC)) as Owed;
        (word & CLOSED == 0, owed)
    }

    /// Marks the value poisoned. Caller holds the write lock.
    pub(crate) fn poison(&self) {
        // Release: as a publish (the flag is read lock-free by `is_poisoned`). A
        // read-modify-write, so that a future's `RELEASE_WAIT` is never overwritten (cold).
        self.word.fetch_or(POISONED, Ordering::Release);
    }

    /// Clears the poison flag. Caller holds the write lock.
    pub(crate) fn clear_poison(&self) {
        // Release: as `poison`; a read-modify-write for the same reason.
        self.word.fetch_and(!POISONED, Ordering::Release);
    }

    /// Whether the version is still `seen` and a waiter has announced itself for it: then the
    /// publish that moves the version past `seen` will wake the `Event`. Needs no lock: only
    /// a publish clears `WAITING`, and that publish is the one that moves the version.
    #[inline]
    pub(crate) fn waiting_at(&self, seen: Version) -> bool {
        // Acquire: as in `version`. The flag read here was set by an RMW under a read lock,
        // before the write lock of the publish that will move the version past `seen`; that
        // publish reads the word under its write lock, after every earlier change of it, so
        // it sees the flag (see the invariant in the module docs).
        let word = self.word.load(Ordering::Acquire);
        word >> VERSION_SHIFT == seen.0 && word & (WAITING | CLOSED) == WAITING
    }

    /// Announces a parked waiter unless the version already moved past `seen` or the `Shared`
    /// is closed. Caller holds a read lock, which keeps every publisher (and `close`) out
    /// while this runs. Returns `false` when there is no need to park.
    pub(crate) fn register_waiter(&self, seen: Version) -> bool {
        // AcqRel: Acquire to see the newest version (all publishes before our read lock are
        // visible anyway through the lock); Release so that the publisher that later reads
        // `WAITING` under its write lock is ordered after this registration. Readers may
        // register concurrently, so this must be a read-modify-write.
        let word = self.word.fetch_or(WAITING, Ordering::AcqRel);
        word >> VERSION_SHIFT == seen.0 && word & CLOSED == 0
    }

    /// `register_waiter` for a future: sets `ASYNC` in the same step (see
    /// `crate::shared::release`). Caller holds a read lock.
    pub(crate) fn register_task(&self, seen: Version) -> bool {
        // AcqRel: as `register_waiter`.
        let word = self.word.fetch_or(WAITING | ASYNC, Ordering::AcqRel);
        word >> VERSION_SHIFT == seen.0 && word & CLOSED == 0
    }

    // ---- the async waiters' release protocol (`crate::shared::release`) ----

    /// A writer's release, after its unlock: whether `RELEASE_WAIT` is set (then futures wait
    /// for this release: wake the tasks, and clear it under the `Event`'s mutex with
    /// `clear_release_waiters`).
    pub(crate) fn release_waiters(&self) -> bool {
        // A read-modify-write that changes nothing, AcqRel: the unlock is sequenced before it
        // (Release), and a future's `set_release_waiter` is ordered before or after it on this
        // word: before, and this sees the flag; after, and that future's Acquire sees the
        // unlock (see `crate::shared::release`). A plain load would be the store→load pattern
        // that needs a SeqCst fence.
        self.word.fetch_or(0, Ordering::AcqRel) & RELEASE_WAIT != 0
    }

    /// Clears `RELEASE_WAIT`. Caller holds the `Event`'s mutex and wakes every task waiting
    /// there in the same notification (see `crate::shared::release`).
    pub(crate) fn clear_release_waiters(&self) {
        // Relaxed: ordered with every `set_release_waiter` by the Event's mutex, under which
        // both run; a read-modify-write, so that no concurrent publish or flag is lost.
        self.word.fetch_and(!RELEASE_WAIT, Ordering::Relaxed);
    }

    /// A future that could not read announces that it waits for the writer's release: sets
    /// `RELEASE_WAIT` if `ASYNC` is set; `false` (nothing set) if it is not, when no writer
    /// would look. Caller holds the `Event`'s mutex and stores its waker in the same critical
    /// section.
    pub(crate) fn set_release_waiter(&self) -> bool {
        // Relaxed: a first guess for the compare-exchange, which checks it.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if word & ASYNC == 0 {
                return false;
            }
            // AcqRel on success, and always a write (even when `RELEASE_WAIT` is set already):
            // its place on this word orders it with every writer's `release_waiters` (see that
            // function). Relaxed on failure: retried with the fresh value.
            match self.word.compare_exchange_weak(
                word,
                word | RELEASE_WAIT,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(current) => word = current,
            }
        }
    }

    /// Whether `ASYNC` is set (a future created now needs no read lock to keep it so).
    pub(crate) fn async_set(&self) -> bool {
        // Relaxed: a hint (see `release::AsyncUse`); the protocol checks `ASYNC` by its own
        // read-modify-writes.
        self.word.load(Ordering::Relaxed) & ASYNC != 0
    }

    /// Sets `ASYNC`. Caller holds a read lock (so every later writer sees it).
    pub(crate) fn set_async(&self) {
        // Release: ordered before the read unlock, which the next writer's lock acquires.
        self.word.fetch_or(ASYNC, Ordering::Release);
    }

    /// One more future counts as an async user (`release::AsyncUse`).
    pub(crate) fn add_async_user(&self) {
        // Relaxed: a heuristic count (see `async_users`).
        self.async_users.fetch_add(1, Ordering::Relaxed);
    }

    /// A counted future is gone.
    pub(crate) fn remove_async_user(&self) {
        // Relaxed: as `add_async_user`.
        self.async_users.fetch_sub(1, Ordering::Relaxed);
    }
}

impl profile::Armed for VersionWord {
    #[inline]
    #[allow(clippy::bad_bit_mask)] // `ARMED` is 0 where the profile does not record
    fn armed(&self) -> bool {
        // Relaxed: a hint for the profile, ordering nothing (see `ARMED`).
        ARMED != 0 && self.word.load(Ordering::Relaxed) & ARMED != 0
    }

    fn set_armed(&self, armed: bool) {
        if ARMED == 0 {
            return;
        }
        // Relaxed: nothing is ordered by the flag; a read-modify-write so that no other flag
        // of the word is changed (a publish may still undo this one: see the invariant).
        if armed {
            self.word.fetch_or(ARMED, Ordering::Relaxed);
        } else {
            self.word.fetch_and(!ARMED, Ordering::Relaxed);
        }
    }
}

/// The panic of a write after `close` (see `Shared::close`), naming the user's `call`.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn written_after_close(call: &str) -> ! {
    panic!(
        "pushpull::Shared: {call} after close(): a closed Shared takes no more writes (close it \
         once every producer is done, or check is_closed() first)"
    )
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn publish_bumps_by_one_and_reports_and_clears_a_waiter() {
        let word = VersionWord::new(false);
        assert_eq!(word.version(), Version(0));
        assert_eq!(word.publish(), 0, "nobody registered");
        assert_eq!(word.version(), Version(1));
        assert!(word.register_waiter(Version(1)), "unchanged: must park");
        assert_eq!(
            word.publish(),
            OWES_WAKE,
            "the registered waiter must be woken"
        );
        assert_eq!(word.version(), Version(2));
        assert_eq!(
            word.publish(),
            0,
            "the flag was cleared by the previous publish"
        );
    }

    #[test]
    fn waiting_at_needs_both_the_version_and_the_flag() {
        let word = VersionWord::new(false);
        assert!(!word.waiting_at(Version(0)), "nobody registered");
        assert!(word.register_waiter(Version(0)));
        assert!(word.waiting_at(Version(0)));
        assert!(!word.waiting_at(Version(1)), "another version");
        word.publish();
        assert!(!word.waiting_at(Version(1)), "the publish cleared the flag");
    }

    #[test]
    fn register_waiter_refuses_once_the_version_moved() {
        let word = VersionWord::new(false);
        word.publish();
        assert!(!word.register_waiter(Version(0)));
    }

    /// The release protocol's flags (see `crate::shared::release`): what a publish owes with
    /// `ASYNC` set, when `ASYNC` is cleared, and `RELEASE_WAIT` set only while `ASYNC` is.
    #[test]
    fn the_release_protocol_flags() {
        let word = VersionWord::new(false);
        assert_eq!(word.on_entry().owed(), 0, "no future uses it");
        assert!(!word.set_release_waiter(), "refused: no writer would look");
        assert!(!word.release_waiters(), "and nothing was set");
        word.set_async();
        assert_eq!(word.on_entry().owed(), OWES_RELEASE);
        word.add_async_user();
        assert_eq!(word.publish(), OWES_RELEASE, "a CAS publish");
        assert!(word.register_task(Version(1)));
        assert_eq!(
            word.publish(),
            OWES_RELEASE | OWES_WAKE,
            "and the parked waiter"
        );
        word.remove_async_user();
        assert!(word.set_release_waiter());
        assert!(word.release_waiters());
        word.publish();
        assert!(word.async_set(), "kept while RELEASE_WAIT is set");
        assert!(word.release_waiters(), "a publish keeps RELEASE_WAIT");
        word.clear_release_waiters();
        assert!(!word.release_waiters());
        assert_eq!(word.publish(), OWES_RELEASE, "it saw ASYNC");
        assert!(!word.async_set(), "cleared: no future, no release waiter");
        assert_eq!(word.publish(), 0, "a plain publish again");
        assert_eq!(word.version(), Version(5));
    }

    #[test]
    fn close_ends_every_wait_refuses_registrations_and_reports_what_is_owed() {
        let word = VersionWord::new(false);
        word.publish();
        assert!(word.register_waiter(Version(1)));
        assert!(!word.moved_past(Version(1)));
        assert_eq!(
            word.close(),
            (true, OWES_WAKE),
            "closed now, a waiter to wake"
        );
        assert_eq!(word.close(), (false, 0), "closing twice is a no-op");
        assert!(word.is_closed() && word.on_entry().closed());
        assert_eq!(word.version(), Version(1), "closing publishes no version");
        assert!(
            word.moved_past(Version(1)),
            "a wait at the last version is over"
        );
        assert!(
            !word.register_waiter(Version(1)),
            "nobody parks after the close"
        );
        assert!(!word.register_task(Version(1)), "no task either");
        assert!(!word.waiting_at(Version(1)), "nothing to piggyback on");
        assert_eq!(word.close(), (false, OWES_WAKE | OWES_RELEASE));
        let err = std::panic::catch_unwind(|| written_after_close("push()")).unwrap_err();
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("push() after close()"), "{msg}");
    }

    #[test]
    fn poison_survives_publishes_until_cleared_and_never_touches_the_version() {
        let word = VersionWord::new(false);
        word.poison();
        assert!(word.is_poisoned());
        assert_eq!(word.version(), Version(0));
        word.publish();
        assert!(word.is_poisoned());
        word.clear_poison();
        assert!(!word.is_poisoned());
        assert_eq!(word.version(), Version(1));
    }
}
