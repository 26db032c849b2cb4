//! The recording side: what the rest of the crate calls, where the feature is compiled in
//! (`feature = "profile"`, not `cfg(loom)`). `off.rs` has the same names, empty.
//!
//! * Every `Shared` carries a [`LockSlot`]: its class (creation site and type) and the site
//!   of its latest holder. The switch that says whether holders are recorded (*armed*) is a
//!   bit of the `Shared`'s version word (`ARMED`, see `crate::shared::state`), so that the
//!   acquisitions that load that word anyway test it for free: a write tests it with
//!   `CLOSED` (one test for both), a pull with the version it reads, an upgrade with its
//!   closed check; only when it is set do they store their site, out of line
//!   ([`LockSlot::holding_armed`]). Reads and modifies load no word of ours: they store
//!   their site unconditionally ([`LockSlot::holding`]: one plain store, cheaper than any
//!   test). No read-modify-write, no clock, no global flag on any fast path.
//! * A contended acquisition (a `#[cold]` slow path) opens a [`Wait`] before it blocks: if
//!   this event is sampled, it reads the holder's site and the clock; when the lock is
//!   acquired, [`Wait::acquired`] charges the wait to the waiter's site (waited) and to the
//!   holder's site (caused), and for the exclusive side starts timing the hold, which ends
//!   in [`LockSlot::hold_ended`] when the guard is dropped (a write guard's: after its
//!   unlock, with what else it owes; a modify guard's: before, flagged in the guard).
//! * Waits for a publish and for a `WaitGroup` carry a [`WaitProbe`] that starts timing when
//!   the wait first has to wait (sampled) and records when it ends or is dropped.
//!
//! Concurrency: the state other threads see is the holder slot (one atomic word, read and
//! written whole), the `ARMED` bit (set and cleared by contended waiters with read-modify-
//! writes; a publish may undo such a change: see the version word's invariant), the
//! `ENABLED` / `SAMPLE_EVERY` words (independent values), and the table behind one mutex,
//! never held across anything but its own counters. Races between them decide only whether
//! and which site is recorded. There is no protocol between them for a loom model to
//! explore, and recording is compiled out under `cfg(loom)` (where `ARMED` is 0), so the
//! models of every other protocol run unchanged.

use super::table::{self, ClassKey, What, ENABLED, SAMPLE_EVERY};
use super::{Access, Armed};
use crossbeam_utils::atomic::AtomicCell;
use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::time::Instant;

type Site = &'static Location<'static>;

/// Whether this event is recorded: `Some(weight)` (the current `sample_every`) for one event
/// in `sample_every` on average, chosen by a per-thread xorshift generator; `None` while
/// profiling is off. Only called on slow paths.
fn sampled() -> Option<u32> {
    // Relaxed: see `table::ENABLED`.
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let every = SAMPLE_EVERY.load(Ordering::Relaxed).max(1);
    if every == 1 {
        return Some(1);
    }
    thread_local! {
        static RNG: Cell<u64> = const { Cell::new(0) };
    }
    let x = RNG
        .try_with(|rng| {
            let mut x = rng.get();
            if x == 0 {
                x = seed();
            }
            // xorshift64 (Marsaglia): full period over non-zero states.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            rng.set(x);
            x
        })
        .ok()?;
    // The high half, scaled to [0, every): unbiased enough for any rate below 2^32.
    (((x >> 32) * u64::from(every)) >> 32 == 0).then_some(every)
}

/// A non-zero seed, different for every thread and run.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish() | 1
}

/// What the holder slot holds before the first acquisition records a site: no holder known
/// (charged to the "(other)" row).
fn unknown_holder() -> Site {
    Location::caller()
}

/// Implemented by the objects that are a class: a `Shared`'s and a `WaitGroup`'s slot.
pub(crate) trait Classed {
    fn key(&self) -> ClassKey;
}

/// What a `Shared` carries for the profile: its class and the site of its latest holder.
/// `repr(C)`, the holder slot last: it sits next to the lock's state word (see
/// `shared::Core`).
#[repr(C)]
pub(crate) struct LockSlot {
    created_at: Site,
    type_name: fn() -> &'static str,
    /// The site where the latest guard was taken: by every read and modify, and by the writes
    /// and upgrades of an armed `Shared`. Read by a sampled waiter of an armed `Shared` before
    /// it blocks (an unarmed one charges its waits to "(other)": its writers record nothing).
    ///
    /// The switch (`ARMED`, in the version word) is on when the `Shared` is created while
    /// profiling is on, or from its first contended wait while profiling is on (which finds
    /// no holder: "(other)"); a contended wait while profiling is off turns it off.
    ///
    /// `AtomicCell` of a pointer-sized `Copy` value is a lock-free atomic word (a Release
    /// store, an Acquire load: a plain `mov` each on x86): a reader sees some site that was
    /// stored, never a torn one. Nothing else is ordered by it.
    holder: AtomicCell<Site>,
}

impl LockSlot {
    /// The slot of a `Shared<T>` created at the caller's site.
    #[track_caller]
    #[inline]
    pub(crate) fn new<T: ?Sized>() -> Self {
        LockSlot {
            created_at: Location::caller(),
            type_name: std::any::type_name::<T>,
            holder: AtomicCell::new(unknown_holder()),
        }
    }

    /// The holder slot's address, for the layout test (`shared::profile_layout`).
    #[cfg(test)]
    pub(crate) fn holder_addr(&self) -> usize {
        std::ptr::addr_of!(self.holder) as usize
    }

    /// Whether a `Shared` created now starts armed: while profiling is on.
    #[inline]
    pub(crate) fn starts_armed() -> bool {
        // Relaxed: see `table::ENABLED`.
        ENABLED.load(Ordering::Relaxed)
    }

    /// A read or modify guard was taken at `at`: one plain store, whether or not the slot is
    /// armed (a test of the switch would cost more: it is not in a word these paths load).
    #[inline(always)]
    pub(crate) fn holding(&self, at: Site) {
        self.holder.store(at);
    }

    /// A write guard (or an upgrade) was taken at `at` on an armed `Shared`: the fast paths
    /// test `ARMED` with the word they load anyway, and call this out of line.
    #[cold]
    #[inline(never)]
    pub(crate) fn holding_armed(&self, at: Site) {
        self.holder.store(at);
    }

    /// A contended acquisition of kind `access` at the caller's site is about to block;
    /// `switch` is the `Shared`'s `ARMED` bit.
    #[track_caller]
    #[inline]
    pub(crate) fn contended(&self, access: Access, switch: &impl Armed) -> Wait<'_> {
        // Here, not in the closure below: a closure is not `#[track_caller]`.
        let site = Location::caller();
        let armed = switch.armed();
        // Relaxed: see `table::ENABLED`.
        if !ENABLED.load(Ordering::Relaxed) {
            if armed {
                switch.set_armed(false); // profiling is off: disarm
            }
            return Wait { started: None };
        }
        let holder = if armed {
            Some(self.holder.load()).filter(|h| **h != *unknown_holder())
        } else {
            // Arm: later holders are recorded. The slot first forgets what reads and modifies
            // stored meanwhile: a writer that took the lock before the switch, unrecorded,
            // may still hold it, and the waits it causes go to "(other)", not to a reader
            // that left long ago.
            self.holder.store(unknown_holder());
            switch.set_armed(true);
            None
        };
        Wait {
            started: sampled().map(|weight| Started {
                slot: self,
                access,
                site,
                holder,
                since: Instant::now(),
                weight,
            }),
        }
    }

    /// A guard whose hold is timed (see [`Wait::acquired`]) is being released.
    #[cold]
    #[inline(never)]
    pub(crate) fn hold_ended(&self) {
        let me = self as *const LockSlot as usize;
        let hold = HOLDS
            .try_with(|holds| {
                let mut holds = holds.borrow_mut();
                let i = holds.iter().rposition(|h| h.slot == me)?;
                Some(holds.remove(i))
            })
            .ok()
            .flatten();
        if let Some(h) = hold {
            let d = h.since.elapsed();
            table::record(h.key, Some(*h.site), |row| {
                table::add_wait(&mut row.held, d, h.weight);
            });
        }
    }

    /// A pull at `at` found a change on an armed `Shared` (the pull tests `ARMED` with the
    /// version it reads, and calls this out of line): its read records its site, and versions
    /// `from` (exclusive) to `to` (exclusive), never seen by the puller, are recorded if
    /// profiling is on.
    #[cold]
    #[inline(never)]
    pub(crate) fn pulled_armed(&self, at: Site, from: u64, to: u64) {
        self.holder.store(at);
        // Relaxed: see `table::ENABLED`.
        if ENABLED.load(Ordering::Relaxed) && to > from.saturating_add(1) {
            self.record_skipped(at, to - from - 1);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_skipped(&self, site: Site, skipped: u64) {
        if let Some(weight) = sampled() {
            table::record(self.key(), Some(*site), |row| {
                row.pull.skipped_versions += skipped * u64::from(weight);
            });
        }
    }
}

impl Classed for LockSlot {
    fn key(&self) -> ClassKey {
        ClassKey {
            what: What::Shared,
            type_name: (self.type_name)(),
            created_at: *self.created_at,
        }
    }
}

/// What a `WaitGroup` carries for the profile: its class (creation site).
pub(crate) struct GroupSlot {
    created_at: Site,
}

impl GroupSlot {
    #[track_caller]
    #[inline]
    pub(crate) fn new() -> Self {
        GroupSlot {
            created_at: Location::caller(),
        }
    }
}

impl Classed for GroupSlot {
    fn key(&self) -> ClassKey {
        ClassKey {
            what: What::WaitGroup,
            type_name: "",
            created_at: *self.created_at,
        }
    }
}

/// Whether the hold that follows a sampled contended acquisition is timed: what a slow path
/// hands to the guard built after it (see `Shared::lock_exclusive`).
#[derive(Clone, Copy)]
pub(crate) struct Timed(bool);

impl Timed {
    /// The hold of an uncontended acquisition: not timed.
    pub(crate) const NO: Timed = Timed(false);

    #[inline]
    pub(crate) fn is_timed(self) -> bool {
        self.0
    }
}

/// A contended acquisition under way: see [`LockSlot::contended`].
#[must_use]
pub(crate) struct Wait<'a> {
    started: Option<Started<'a>>,
}

struct Started<'a> {
    slot: &'a LockSlot,
    access: Access,
    site: Site,
    /// The site holding the lock when the wait began: the delay is charged to it.
    holder: Option<Site>,
    since: Instant,
    weight: u32,
}

impl Wait<'_> {
    /// The lock was acquired: records the wait (waited at this site, caused at the holder's).
    /// Returns whether the hold is to be timed: a sampled wait for the exclusive side; the
    /// guard then calls [`LockSlot::hold_ended`] when dropped.
    #[inline]
    pub(crate) fn acquired(self) -> Timed {
        Timed(match self.started {
            Some(s) => s.finish(false),
            None => false,
        })
    }

    /// A timed acquisition gave up: the wait still happened, and the holder still caused it.
    #[inline]
    pub(crate) fn gave_up(self) {
        if let Some(s) = self.started {
            s.finish(true);
        }
    }
}

impl Started<'_> {
    #[cold]
    #[inline(never)]
    fn finish(self, gave_up: bool) -> bool {
        let now = Instant::now();
        let d = now.saturating_duration_since(self.since);
        let w = u64::from(self.weight);
        {
            let mut t = table::table();
            let class = t.class(self.slot.key());
            let waited = &mut class.row(Some(*self.site)).waited[table::access_index(self.access)];
            table::add_wait(waited, d, self.weight);
            if gave_up {
                waited.timed_out += w;
            }
            let caused = &mut class.row(self.holder.copied()).caused;
            caused.contentions += w;
            caused.delay += d.saturating_mul(self.weight);
        }
        if gave_up || self.access == Access::Read {
            return false;
        }
        let hold = Hold {
            slot: self.slot as *const LockSlot as usize,
            key: self.slot.key(),
            site: self.site,
            since: now,
            weight: self.weight,
        };
        HOLDS
            .try_with(|holds| {
                let mut holds = holds.borrow_mut();
                // An upgrade of a timed modify hold: the hold goes on from the modify.
                if holds.iter().any(|h| h.slot == hold.slot) {
                    return;
                }
                if holds.len() == MAX_HOLDS {
                    // Guards forgotten with `mem::forget` never end their hold: drop the
                    // oldest record rather than grow.
                    holds.remove(0);
                }
                holds.push(hold);
            })
            .is_ok()
    }
}

/// A timed hold: the exclusive side of `slot` taken at `site` after a sampled wait.
struct Hold {
    slot: usize,
    key: ClassKey,
    site: Site,
    since: Instant,
    weight: u32,
}

/// At most this many timed holds per thread (a thread rarely holds more than a few exclusive
/// guards; a forgotten guard's record is dropped when the list is full).
const MAX_HOLDS: usize = 8;

thread_local! {
    static HOLDS: RefCell<Vec<Hold>> = const { RefCell::new(Vec::new()) };
}

/// A wait for a publish or a `WaitGroup`, blocking or async: created where the wait is
/// called (its site), started by the first [`pending`](Self::pending) if sampled, recorded
/// by [`ready`](Self::ready) or, if it never got there, when dropped (a timeout or a dropped
/// future: `timed_out`).
pub(crate) struct WaitProbe {
    site: Site,
    state: Probe,
}

enum Probe {
    Idle,
    /// Not sampled: nothing to record.
    Skipped,
    Started {
        key: ClassKey,
        since: Instant,
        weight: u32,
        /// How often the wait found it had to wait (the first time, then after each wake).
        pendings: u64,
    },
}

impl WaitProbe {
    #[track_caller]
    #[inline]
    pub(crate) fn new() -> Self {
        WaitProbe {
            site: Location::caller(),
            state: Probe::Idle,
        }
    }

    /// The wait has to wait (the first time), or has to go on after a wake-up.
    #[inline]
    pub(crate) fn pending(&mut self, class: &impl Classed) {
        match &mut self.state {
            Probe::Started { pendings, .. } => *pendings += 1,
            Probe::Skipped => {}
            Probe::Idle => self.start(class),
        }
    }

    #[cold]
    #[inline(never)]
    fn start(&mut self, class: &impl Classed) {
        self.state = match sampled() {
            Some(weight) => Probe::Started {
                key: class.key(),
                since: Instant::now(),
                weight,
                pendings: 1,
            },
            None => Probe::Skipped,
        };
    }

    /// [`pending`](Self::pending) if `waits()`: the wait has to wait.
    #[inline]
    pub(crate) fn pending_if(&mut self, class: &impl Classed, waits: impl FnOnce() -> bool) {
        if waits() {
            self.pending(class);
        }
    }

    /// The wait is over, having skipped `skipped()` versions (0 for a `WaitGroup`).
    #[inline]
    pub(crate) fn ready(&mut self, class: &impl Classed, skipped: impl FnOnce() -> u64) {
        let skipped = skipped();
        match self.state {
            Probe::Idle if skipped > 0 => self.record_skipped(class, skipped),
            Probe::Started { .. } => self.record(false, skipped),
            _ => {}
        }
        self.state = Probe::Skipped;
    }

    #[cold]
    #[inline(never)]
    fn record_skipped(&self, class: &impl Classed, skipped: u64) {
        if let Some(weight) = sampled() {
            table::record(class.key(), Some(*self.site), |row| {
                row.pull.skipped_versions += skipped * u64::from(weight);
            });
        }
    }

    #[cold]
    #[inline(never)]
    fn record(&self, gave_up: bool, skipped: u64) {
        let Probe::Started {
            key,
            since,
            weight,
            pendings,
        } = self.state
        else {
            return;
        };
        let d = since.elapsed();
        let w = u64::from(weight);
        table::record(key, Some(*self.site), |row| {
            let waits = match key.what {
                What::Shared => &mut row.pull.waits,
                What::WaitGroup => &mut row.group_waits,
            };
            table::add_wait(waits, d, weight);
            if gave_up {
                waits.timed_out += w;
            }
            if key.what == What::Shared {
                // Each pending after the first was a wake-up that found nothing; the one
                // that completed the wait was a wake-up too.
                let wakes = if gave_up { pendings - 1 } else { pendings };
                row.pull.wakes += wakes * w;
                row.pull.woke_for_nothing += (pendings - 1) * w;
                row.pull.skipped_versions += skipped * w;
            }
        });
    }
}

impl Drop for WaitProbe {
    fn drop(&mut self) {
        if let Probe::Started { .. } = self.state {
            self.record(true, 0);
        }
    }
}

impl std::fmt::Debug for WaitProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitProbe").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_slot_is_a_plain_atomic_word() {
        // No hidden lock on the acquisition path.
        assert!(AtomicCell::<Site>::is_lock_free());
        assert_eq!(std::mem::size_of::<Site>(), std::mem::size_of::<usize>());
    }
}
