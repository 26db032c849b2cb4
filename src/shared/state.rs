//! The version word of a `Shared`: its version, its poison flag, its closed flag and its
//! "someone is parked" flag, packed in one atomic so that a publish is one load and one store.
//!
//! # Invariant
//!
//! The word is only *stored* by a thread holding the write lock (`publish`, `poison`,
//! `clear_poison`, `close`), and only *read-modify-written* (`register_waiter`) by a thread holding a
//! read lock. The two kinds of access exclude each other through the lock, so a publisher
//! never overwrites a registration it did not see, and a publish needs no atomic
//! read-modify-write: the writer is alone.

use crate::sync::atomic::{AtomicU64, Ordering};
use crate::Version;

/// Set while the last publish left a poisoned value behind (see `Shared::is_poisoned`).
const POISONED: u64 = 0b01;
/// Set by a waiter, under a read lock, before it parks; cleared by the next publish (or the
/// close), which then wakes everyone parked.
const WAITING: u64 = 0b10;
/// Set once by `close`, never cleared: no publish can follow, and every wait for a change
/// ends (see `Shared::close`).
const CLOSED: u64 = 0b100;
/// The version lives above the flag bits.
const VERSION_SHIFT: u32 = 3;
/// What one publish adds to the word.
const ONE_VERSION: u64 = 1 << VERSION_SHIFT;

pub(crate) struct VersionWord {
    word: AtomicU64,
}

impl VersionWord {
    pub(crate) fn new() -> Self {
        VersionWord {
            word: AtomicU64::new(0),
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

    /// Bumps the version by one and clears `WAITING`. Caller holds the write lock, which it
    /// could not have taken once the `Shared` was closed (`closed_under_lock`). Returns
    /// whether someone was parked, i.e. whether the caller must wake them once it has
    /// unlocked.
    #[inline]
    pub(crate) fn publish(&self) -> bool {
        // Relaxed load: every store to the word happens under the write lock we hold, and the
        // registrations (RMW under a read lock) happened before our lock acquisition, so this
        // load sees the latest value.
        let word = self.word.load(Ordering::Relaxed);
        debug_assert!(
            word & CLOSED == 0,
            "pushpull::Shared: a publish after close"
        );
        debug_assert!(
            word < u64::MAX - ONE_VERSION,
            "pushpull::Shared: version overflow"
        );
        // Release: a thread that observes the new version (lock-free `version`/`has_changed`)
        // also observes what was written before it.
        self.word
            .store((word + ONE_VERSION) & !WAITING, Ordering::Release);
        word & WAITING != 0
    }

    /// Marks the value poisoned. Caller holds the write lock.
    pub(crate) fn poison(&self) {
        // Relaxed load / Release store: as in `publish` (we hold the write lock).
        let word = self.word.load(Ordering::Relaxed);
        self.word.store(word | POISONED, Ordering::Release);
    }

    /// Clears the poison flag. Caller holds the write lock.
    pub(crate) fn clear_poison(&self) {
        // Relaxed load / Release store: as in `publish` (we hold the write lock).
        let word = self.word.load(Ordering::Relaxed);
        self.word.store(word & !POISONED, Ordering::Release);
    }

    /// Whether the `Shared` is closed, for a caller that holds the write lock (or the modify
    /// lock, which keeps `close` out as well): the flag cannot change until it lets go.
    #[inline]
    pub(crate) fn closed_under_lock(&self) -> bool {
        // Relaxed: `close` stores the flag under the write lock, which the caller's lock
        // acquisition is ordered after.
        self.word.load(Ordering::Relaxed) & CLOSED != 0
    }

    /// Sets `CLOSED` (and clears `WAITING`). Caller holds the write lock. Returns whether this
    /// call closed it (`false`: it was closed already) and whether someone was parked, whom
    /// the caller must wake once it has unlocked, exactly as after a publish.
    pub(crate) fn close(&self) -> (bool, bool) {
        // Relaxed load / Release store: as in `publish` (we hold the write lock). Release: a
        // thread that sees `CLOSED` (lock-free) sees every publish made before it.
        let word = self.word.load(Ordering::Relaxed);
        self.word
            .store((word | CLOSED) & !WAITING, Ordering::Release);
        (word & CLOSED == 0, word & WAITING != 0)
    }

    /// Whether the version is still `seen` and a waiter has announced itself for it: then the
    /// publish that moves the version past `seen` (or the close) will wake the `Event`. Needs
    /// no lock: only a publish or the close clears `WAITING`, and each ends the wait.
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
    /// is closed. Caller holds a read lock, which keeps every publisher (and `close`) out while
    /// this runs. Returns `false` when there is no need to park.
    pub(crate) fn register_waiter(&self, seen: Version) -> bool {
        // AcqRel: Acquire to see the newest version (all publishes before our read lock are
        // visible anyway through the lock); Release so that the publisher that later reads
        // `WAITING` under its write lock is ordered after this registration. Readers may
        // register concurrently, so this must be a read-modify-write.
        let word = self.word.fetch_or(WAITING, Ordering::AcqRel);
        word >> VERSION_SHIFT == seen.0 && word & CLOSED == 0
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
        let word = VersionWord::new();
        assert_eq!(word.version(), Version(0));
        assert!(!word.publish(), "nobody registered");
        assert_eq!(word.version(), Version(1));
        assert!(word.register_waiter(Version(1)), "unchanged: must park");
        assert!(word.publish(), "the registered waiter must be woken");
        assert_eq!(word.version(), Version(2));
        assert!(
            !word.publish(),
            "the flag was cleared by the previous publish"
        );
    }

    #[test]
    fn waiting_at_needs_both_the_version_and_the_flag() {
        let word = VersionWord::new();
        assert!(!word.waiting_at(Version(0)), "nobody registered");
        assert!(word.register_waiter(Version(0)));
        assert!(word.waiting_at(Version(0)));
        assert!(!word.waiting_at(Version(1)), "another version");
        word.publish();
        assert!(!word.waiting_at(Version(1)), "the publish cleared the flag");
    }

    #[test]
    fn register_waiter_refuses_once_the_version_moved() {
        let word = VersionWord::new();
        word.publish();
        assert!(!word.register_waiter(Version(0)));
    }

    #[test]
    fn close_ends_every_wait_refuses_registrations_and_reports_a_parked_waiter() {
        let word = VersionWord::new();
        word.publish();
        assert!(word.register_waiter(Version(1)));
        assert!(!word.moved_past(Version(1)));
        assert_eq!(word.close(), (true, true), "closed now, a waiter to wake");
        assert_eq!(word.close(), (false, false), "closing twice is a no-op");
        assert!(word.is_closed());
        assert_eq!(word.version(), Version(1), "closing publishes no version");
        assert!(
            word.moved_past(Version(1)),
            "a wait at the last version is over"
        );
        assert!(
            !word.register_waiter(Version(1)),
            "nobody parks after the close"
        );
        assert!(!word.waiting_at(Version(1)), "nothing to piggyback on");
    }

    #[test]
    fn closed_under_lock_reads_the_flag_close_sets() {
        let word = VersionWord::new();
        assert!(!word.closed_under_lock());
        word.close();
        assert!(word.closed_under_lock());
        let err = std::panic::catch_unwind(|| written_after_close("push()")).unwrap_err();
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("push() after close()"), "{msg}");
    }

    #[test]
    fn poison_survives_publishes_until_cleared_and_never_touches_the_version() {
        let word = VersionWord::new();
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
