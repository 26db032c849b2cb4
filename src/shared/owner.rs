//! Re-entrancy detection: which thread holds the exclusive side (write or modify) of a
//! `Shared`, which `Shared`s this thread reads (debug builds), and the panics that replace a
//! self-deadlock.
//!
//! The owner word is written only by the thread that holds the write or modify lock (claim
//! after acquiring, release before unlocking) and is only ever compared, by a thread whose
//! acquisition just failed, against that thread's *own* token. Thread tokens are never
//! reused, so a stale value can never match: every access is `Relaxed`.

use crate::sync::{current_thread_token, untracked::AtomicU64, with_read_registry};
use std::sync::atomic::Ordering;

/// Whether `write()` records its owner, so that a re-entrant call by the same thread panics
/// instead of deadlocking. Measured (lockbench `write_guard_uncontended`, same run, same
/// binary otherwise): the record costs ~10% of an uncontended parking_lot write, over the 5%
/// budget, so it is on in debug builds, under loom, and in release builds with the
/// `reentrancy-check` feature. `modify()` always records its owner: a modifier's own `read()`
/// must know to read recursively, and the cost is within budget there.
pub(crate) const TRACK_WRITERS: bool =
    cfg!(any(debug_assertions, loom, feature = "reentrancy-check"));

/// Which exclusive guard a thread holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    Write,
    Modify,
}

impl Held {
    fn guard_name(self) -> &'static str {
        match self {
            Held::Write => "WriteGuard",
            Held::Modify => "ModifyGuard",
        }
    }
}

/// Top bit of the owner word: set for a writer, clear for a modifier.
const WRITE_BIT: u64 = 1 << 63;
/// The owner's thread token sits below the mode bit, unshifted (a claim is one store of the
/// token); 0 means "nobody". Tokens are counted from 1 and never reach 2^63.
const TOKEN_MASK: u64 = !WRITE_BIT;

pub(crate) struct Owner {
    word: AtomicU64,
}

impl Owner {
    pub(crate) const fn new() -> Self {
        Owner {
            word: AtomicU64::new(0),
        }
    }

    /// Records the current thread as the exclusive holder. Caller just acquired the lock.
    #[inline]
    pub(crate) fn claim(&self, held: Held) {
        let bit = if held == Held::Write { WRITE_BIT } else { 0 };
        // Relaxed: see the module doc; only this thread ever compares against its token.
        self.word
            .store(current_thread_token() | bit, Ordering::Relaxed);
    }

    /// Turns this thread's modify claim into a write claim (an upgrade): no thread-local
    /// access, the token is already there. Caller holds the lock, upgraded.
    #[inline]
    pub(crate) fn promote(&self) {
        // Relaxed: see the module doc; the word holds this thread's own claim.
        let word = self.word.load(Ordering::Relaxed);
        debug_assert_eq!(
            word & TOKEN_MASK,
            current_thread_token(),
            "promote without a claim"
        );
        self.word.store(word | WRITE_BIT, Ordering::Relaxed);
    }

    /// Forgets the holder. Caller still holds the lock and releases it right after.
    #[inline]
    pub(crate) fn release(&self) {
        // Relaxed: see the module doc.
        self.word.store(0, Ordering::Relaxed);
    }

    /// What the current thread holds of this lock, if anything.
    pub(crate) fn held_by_current_thread(&self) -> Option<Held> {
        // Relaxed: see the module doc.
        let word = self.word.load(Ordering::Relaxed);
        if word != 0 && word & TOKEN_MASK == current_thread_token() {
            Some(if word & WRITE_BIT != 0 {
                Held::Write
            } else {
                Held::Modify
            })
        } else {
            None
        }
    }

    /// The guard this thread holds of the `Shared` with id `id`, if any: the exclusive side
    /// always, a read guard in debug builds only.
    pub(crate) fn guard_held_by_current_thread(&self, id: u64) -> Option<&'static str> {
        match self.held_by_current_thread() {
            Some(held) => Some(held.guard_name()),
            None if reads::held(id) => Some("ReadGuard"),
            None => None,
        }
    }

    /// Panics if a blocking `call` could never succeed because this thread holds the
    /// exclusive side, or (debug builds) a read guard of the same `Shared` (id `id`).
    #[track_caller]
    pub(crate) fn check_blocking(&self, call: &'static str, id: u64) {
        if let Some(guard) = self.guard_held_by_current_thread(id) {
            would_deadlock(call, guard);
        }
    }
}

/// The re-entrancy panic: names `Shared`, the call, and the guard this thread holds.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn would_deadlock(call: &str, held: &str) -> ! {
    panic!(
        "pushpull::Shared: {call} would deadlock: this thread already holds a {held} of the \
         same Shared (re-entrant use; drop the guard first, or use ModifyGuard::upgrade / \
         WriteGuard::downgrade to convert it)"
    )
}

/// The `Shared`s this thread holds read guards of, tracked in debug builds only (a reader
/// cannot be told apart from other readers by the lock itself).
///
/// Keyed by the `Shared`'s id, which is never reused: an entry left behind by a forgotten
/// guard (`mem::forget`) can never be taken for a guard of a later `Shared`, even one created
/// at the same address. Guards are `!Send`, so an entry is always removed by the thread that
/// added it.
pub(crate) mod reads {
    use super::with_read_registry;

    /// A registration that lasts as long as the `ReadGuard` that owns it.
    #[derive(Debug)]
    pub(crate) struct ReadMark {
        #[cfg(debug_assertions)]
        id: u64,
    }

    impl ReadMark {
        #[inline]
        pub(crate) fn new(id: u64) -> Self {
            #[cfg(debug_assertions)]
            {
                with_read_registry(|r| r.push(id));
                ReadMark { id }
            }
            #[cfg(not(debug_assertions))]
            {
                let _ = id;
                ReadMark {}
            }
        }
    }

    #[cfg(debug_assertions)]
    impl Drop for ReadMark {
        fn drop(&mut self) {
            let id = self.id;
            with_read_registry(|r| {
                if let Some(i) = r.iter().rposition(|&a| a == id) {
                    r.swap_remove(i);
                }
            });
        }
    }

    /// Whether this thread holds a read guard of the `Shared` with id `id` (always `false` in
    /// release builds, which do not track readers).
    pub(crate) fn held(id: u64) -> bool {
        cfg!(debug_assertions) && with_read_registry(|r| r.contains(&id)).unwrap_or(false)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_promoted_modify_claim_is_this_threads_write_claim_until_released() {
        let owner = Owner::new();
        assert_eq!(owner.held_by_current_thread(), None);
        owner.claim(Held::Modify);
        assert_eq!(owner.held_by_current_thread(), Some(Held::Modify));
        owner.promote();
        assert_eq!(owner.held_by_current_thread(), Some(Held::Write));
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(owner.held_by_current_thread(), None, "another thread's"));
        });
        owner.release();
        assert_eq!(owner.held_by_current_thread(), None);
        owner.claim(Held::Write);
        assert_eq!(owner.held_by_current_thread(), Some(Held::Write));
    }
}
