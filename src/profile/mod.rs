// The module docs are the manual (`manual.md`), present where the feature is: without it
// this module holds only the empty hooks, and its doctests must not run.
#![cfg_attr(feature = "profile", doc = include_str!("manual.md"))]
#![cfg_attr(
    not(feature = "profile"),
    doc = "The contention profile's hooks, compiled out (no `profile` feature)."
)]

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
pub(crate) use hooks::{GroupSlot, LockSlot, Timed, Wait, WaitProbe};
#[cfg(not(all(feature = "profile", not(loom))))]
pub(crate) use off::{GroupSlot, LockSlot, Timed, Wait, WaitProbe};

#[cfg(feature = "profile")]
pub use report::{ClassProfile, Report, SiteProfile};
#[cfg(feature = "profile")]
pub use table::{Caused, PullStats, WaitStats, What, BUCKETS};

/// Whether the hooks record (the feature is on, and not under `cfg(loom)`).
pub(crate) const RECORDS: bool = cfg!(all(feature = "profile", not(loom)));

/// The switch a `Shared` carries for the profile, in its version word (`ARMED`, see
/// `crate::shared::state`): whether its holders are recorded. Set and cleared by contended
/// waits ([`LockSlot::contended`]); absent (always `false`) where the profile does not record.
#[cfg_attr(not(all(feature = "profile", not(loom))), allow(dead_code))]
pub(crate) trait Armed {
    /// Whether the switch is on (a relaxed load: a hint, ordering nothing).
    fn armed(&self) -> bool;
    /// Turns it on or off (a relaxed read-modify-write; a waiter's, without a lock).
    fn set_armed(&self, armed: bool);
}

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
