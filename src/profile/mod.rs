//! The contention profile: which [`Shared`](crate::Shared) made whom wait, where, and for how
//! long (feature `profile`).
//!
//! When a program that uses locks is slow, the first questions are which lock is hot and who
//! holds it too long. This module answers them the way Go's mutex profile and Linux's
//! lock_stat do, and adds what only pushpull knows: who waits for a *version* (a puller that
//! falls behind, a `wait_until` that wakes for nothing) and for a [`WaitGroup`](crate::WaitGroup).
//!
//! ```
//! use pushpull::profile::{self, ProfileConfig};
//! use pushpull::Shared;
//!
//! profile::enable(ProfileConfig { sample_every: 1, ..ProfileConfig::default() });
//! let jobs = Shared::new(Vec::<u32>::new());
//! std::thread::scope(|s| {
//!     for _ in 0..2 {
//!         s.spawn(|| for i in 0..1000 { jobs.push(|j| j.push(i)) });
//!     }
//! });
//! profile::disable();
//! let report = profile::report();
//! println!("{report}"); // the table below
//! let mut pprof = Vec::new();
//! report.write_pprof(&mut pprof)?; // for `go tool pprof`
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Turning it on
//!
//! Without the `profile` feature none of this exists: no code, no field, no cost. With it, the
//! profile is off until [`enable`] and costs, while off, one compare and one branch per lock
//! acquisition (3 instructions on an uncontended read, write or update, no atomic
//! read-modify-write; see "Cost" below and BENCHMARKS.md). [`enable`] samples one contention event in
//! [`sample_every`](ProfileConfig::sample_every) on average (chosen at random per thread, as
//! Go does), and every count and total in the report is an estimate scaled back by that
//! number; [`disable`] stops recording and keeps what was recorded; [`reset`] forgets it.
//! Under `cfg(loom)` recording is compiled out (loom models see no change) and the report
//! stays empty.
//!
//! # What is recorded
//!
//! Objects are grouped in **classes**, as lockdep does: every `Shared` created at one call
//! site (with one value type) is one class, however many are created and dropped there; the
//! same for every `WaitGroup` created at one site. Within a class, everything is recorded
//! per **call site** (the `#[track_caller]` location of the call: `read()`, `push(..)`,
//! `wait()`, ...):
//!
//! * **waited**: lock acquisitions that had to wait, by kind ([`Access`]: read, modify,
//!   write, upgrade; `update` / `push*` are writes, and the reads inside the waits are reads),
//!   at the waiter's site: count, total, max, and a log2 histogram ([`WaitStats`]);
//! * **caused**: the delay each holder caused, charged to the site where the guard the
//!   waiter found was taken (below);
//! * **held**: for the acquisitions of the exclusive side (write, modify, upgrade) that had to
//!   wait, how long the lock was then held. (Reads are not timed: it would cost every
//!   uncontended read a branch. A writer waiting for readers shows as their caused delay.)
//! * **pull** (a `Shared`'s waits for a publish: [`Puller::wait`](crate::Puller::wait),
//!   [`Shared::wait_until`](crate::Shared::wait_until), their `_for` and async twins, threads
//!   and tasks alike): the waits that had to wait and how long, the wake-ups, the wake-ups
//!   that found the condition still false ("woke for nothing": a `wait_until` whose predicate
//!   a push did not satisfy), the waits that timed out (or, async, were dropped), and the
//!   versions a waiter or a [`pull`](crate::PullerOf::pull) skipped (published but never
//!   seen: a puller falling behind);
//! * **wait** (a `WaitGroup`'s class): the waits that had to wait, total and max.
//!
//! Waits that did not have to wait (an uncontended lock, a version already there) are not
//! events: they cost nothing and appear nowhere.
//!
//! ## What a "caused delay" is
//!
//! When a thread has to wait for a lock, the wait is charged twice: to the waiter's own site
//! (*waited*), and to the site that held the lock when the wait began (*caused*), which is
//! where a fix usually goes: the guard held across slow work. Every acquisition records its
//! site in the `Shared` (while profiling is on), so the waiter knows whom it found. Two
//! threads that wait 20 ms each for one 20 ms hold charge that hold 2 × 20 ms = 40 ms, and 2
//! contentions: the delay is scaled by the number of waiters, as Go's mutex profile does since
//! Go 1.22. (Go charges the site that *released* the lock; pushpull charges the site where
//! that guard was *taken*, the line that names the guard. When several readers hold the lock,
//! the latest of them is named; a read that waits behind a *queued* writer (the lock is fair:
//! new readers queue behind a waiting writer) is charged to the latest holder too, and the
//! writer's own wait shows at its line.)
//!
//! A `Shared` records its holders only once it is *armed*: when it is created while profiling
//! is on, or at its first contended wait while profiling is on. That first wait of a `Shared`
//! created before [`enable`] finds no holder and is charged to the "(other)" row; the waits
//! after it are attributed. (This keeps the switch on the acquisition path a compare of a
//! word the `Shared` already has at hand: see "Cost".)
//!
//! ## Memory
//!
//! Bounded whatever the run: at most [`MAX_SITES_PER_CLASS`] call sites per class (the
//! later ones are folded into one "(other)" row) and at most [`MAX_CLASSES`] classes (the
//! later ones are folded into one class named `(classes beyond the limit)`). Dropping and
//! creating `Shared`s adds nothing: they are one class per creation site.
//!
//! # Reading the table
//!
//! `println!("{}", profile::report())` prints one block per class, hottest first (by the
//! delay it caused or suffered), each with its sites, hottest first. From
//! `cargo run --release --example contention --features profile`:
//!
//! ```text
//! pushpull contention profile over 483.0 ms
//! site                            kind   waits  total wait  max wait    caused  waiters      held
//! Shared<contention::Stats> created at examples/contention.rs:55:26: waited 806.0 ms, caused 806.0 ms
//!   examples/contention.rs:77:35  read      40    805.9 ms   20.2 ms  201.8 ms       19         -
//!   examples/contention.rs:63:35  write      9     79.5 µs   61.4 µs  604.2 ms       30  181.0 ms
//! WaitGroup created at examples/contention.rs:57:19: waited 149.7 µs, caused 0 ns
//!   examples/contention.rs:86:13  wait       1    149.7 µs  149.7 µs         -        -         -
//! ```
//!
//! * `site`: the call site; `kind`: what waited there (`read`, `modify`, `write`, `upgrade`:
//!   a lock; `pull`: a wait for a publish; `wait`: a `WaitGroup`; `holder`: the site only
//!   caused waits);
//! * `waits`, `total wait`, `max wait`: the waits suffered at this site;
//! * `caused`, `waiters`: the delay the guards taken here caused, and how many waits;
//! * `held`: how long the exclusive side was held after the waits of this line;
//! * at the end of a line: timeouts, and for pulls the wake-ups, the wake-ups that found
//!   nothing, and the skipped versions.
//!
//! Above, the writer at line 63 holds the write lock across slow work: it *caused* 604 ms of
//! waiting to 30 reads, and after its 9 waits it held the lock 181 ms. The readers at line 77
//! waited 806 ms in all; the 202 ms charged to them are reads that queued behind the waiting
//! writer (and the writer's own short waits for the readers).
//!
//! # pprof and flame graphs
//!
//! [`Report::write_pprof`] writes the caused delays as a gzip-compressed pprof protobuf with
//! Go's mutex-profile sample types (`contentions/count`, `delay/nanoseconds`): one sample per
//! class and holder site, the holder's site as the leaf frame under the class's creation
//! site. Open it with Go's pprof:
//!
//! ```sh
//! go tool pprof -top contention.pb.gz          # holder sites by delay caused
//! go tool pprof -http=:8080 contention.pb.gz   # the web UI: graph, flame graph, source
//! ```
//!
//! (or the standalone `pprof` tool, or upload it to Pyroscope). [`Report::write_folded`]
//! writes the same as folded stacks (`class;holder site delay_ns`) for inferno or
//! `flamegraph.pl`; `examples/contention.rs` draws one with the `inferno` crate.
//!
//! # Cost
//!
//! * Feature off: nothing (the hooks are empty and zero-sized).
//! * Feature on, profile disabled: every acquisition compares one word of its `Shared` (the
//!   holder slot, "unarmed") and branches: 3 instructions on x86-64 (a load, a test, a
//!   branch; a global flag would cost one more, its address loaded from the GOT). No atomic
//!   read-modify-write, no clock, no thread-local, nothing on release (but for a contended
//!   exclusive acquisition whose hold is timed: a flag in the guard, tested with the bits the
//!   drop tests anyway).
//! * Enabled: every acquisition of an armed `Shared` (one that was contended while profiling
//!   was on, or created while it was on) also stores its site in it, a plain store; only a
//!   contended acquisition or a wait draws the sample, and only a sampled one reads the clock
//!   and takes the profile's mutex. A `Shared` that was armed stays armed after [`disable`]
//!   until its next contended wait (one plain store per acquisition meanwhile).

#[cfg(feature = "profile")]
mod pprof;
#[cfg(feature = "profile")]
mod report;
#[cfg(feature = "profile")]
mod table;

#[cfg(all(feature = "profile", not(loom)))]
mod hooks;
#[cfg(not(all(feature = "profile", not(loom))))]
mod off;

#[cfg(all(feature = "profile", not(loom)))]
pub(crate) use hooks::{GroupSlot, LockSlot, Wait, WaitProbe};
#[cfg(not(all(feature = "profile", not(loom))))]
pub(crate) use off::{GroupSlot, LockSlot, Wait, WaitProbe};

#[cfg(feature = "profile")]
pub use report::{ClassProfile, Report, SiteProfile};
#[cfg(feature = "profile")]
pub use table::{Caused, PullStats, WaitStats, What, BUCKETS};

/// How many versions were published between `from` and `to` (both seen) and never seen.
#[inline]
pub(crate) fn skipped(from: u64, to: u64) -> u64 {
    to.saturating_sub(from).saturating_sub(1)
}

/// The kinds of lock acquisition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// [`Shared::read`](crate::Shared::read) and the reads inside waits.
    Read,
    /// [`Shared::modify`](crate::Shared::modify).
    Modify,
    /// [`Shared::write`](crate::Shared::write), `update`, `push*`, `clear_poison`.
    Write,
    /// [`ModifyGuard::upgrade`](crate::ModifyGuard::upgrade).
    Upgrade,
}

#[cfg(feature = "profile")]
impl Access {
    /// Every kind, in the table's order.
    pub const ALL: [Access; 4] = [Access::Read, Access::Modify, Access::Write, Access::Upgrade];

    /// `read`, `modify`, `write`, `upgrade`.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Modify => "modify",
            Access::Write => "write",
            Access::Upgrade => "upgrade",
        }
    }
}

/// At most this many call sites are recorded per class; the sites after them are folded into
/// one "(other)" row of their class.
#[cfg(feature = "profile")]
pub const MAX_SITES_PER_CLASS: usize = 32;

/// At most this many classes are recorded; the classes after them are folded into one,
/// named `(classes beyond the limit)`.
#[cfg(feature = "profile")]
pub const MAX_CLASSES: usize = 256;

/// Whether this build records anything: `false` under `cfg(loom)`, where recording is
/// compiled out (the API stays, inert).
#[cfg(feature = "profile")]
pub const RECORDING: bool = cfg!(not(loom));

/// How the profile samples. `ProfileConfig::default()` records every event.
///
/// ```
/// use pushpull::profile::ProfileConfig;
/// let config = ProfileConfig { sample_every: 100, ..ProfileConfig::default() };
/// # let _ = config;
/// ```
#[cfg(feature = "profile")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProfileConfig {
    /// Record one contention event (and one wait) in this many, at random; counts and totals
    /// are scaled back by it. `1` (the default) records every event; `0` counts as `1`.
    pub sample_every: u32,
    /// Forget what was recorded before (as [`reset`] does). Default `false`: enabling again
    /// after [`disable`] goes on adding to the same profile.
    pub reset: bool,
}

#[cfg(feature = "profile")]
impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            sample_every: 1,
            reset: false,
        }
    }
}

/// Starts recording (or changes the rate of a profile already running), for the whole
/// process.
///
/// ```
/// use pushpull::profile::{self, ProfileConfig};
/// profile::enable(ProfileConfig { sample_every: 100, ..ProfileConfig::default() });
/// assert!(profile::is_enabled());
/// profile::disable();
/// ```
#[cfg(feature = "profile")]
pub fn enable(config: ProfileConfig) {
    if config.reset {
        table::reset();
    }
    table::enable(config.sample_every);
}

/// Stops recording; what was recorded stays for [`report`]. Waits already under way may still
/// land.
#[cfg(feature = "profile")]
pub fn disable() {
    table::disable();
}

/// Whether the profile is recording.
#[cfg(feature = "profile")]
pub fn is_enabled() -> bool {
    table::is_enabled()
}

/// Forgets everything recorded so far (recording goes on if it was on).
#[cfg(feature = "profile")]
pub fn reset() {
    table::reset();
}

/// A snapshot of what was recorded: print it, or write it as pprof or folded stacks.
///
/// ```
/// let report = pushpull::profile::report();
/// for class in report.classes() {
///     println!("{}: caused {:?}", class.name(), class.caused_total());
/// }
/// ```
#[cfg(feature = "profile")]
pub fn report() -> Report {
    report::snapshot()
}
