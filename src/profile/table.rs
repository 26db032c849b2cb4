#![cfg_attr(loom, allow(dead_code))] // under loom only the API is built: nothing records
//! The profile's memory: one table of classes, each with at most [`MAX_SITES_PER_CLASS`]
//! call-site rows, behind one mutex; the run-time switch and the sampling rate.
//!
//! Everything here is touched only on slow paths that were sampled (a contended acquisition,
//! a wait for a publish or a `WaitGroup`) and by the public calls (`enable`, `report`, ...).
//! The mutex is `std`'s: this module never takes part in a loom model (recording is compiled
//! out under `cfg(loom)`), and a recording never calls user code while holding it.

use super::{Access, MAX_CLASSES, MAX_SITES_PER_CLASS};
use std::collections::BTreeMap;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// Whether recording is on. Read (Relaxed) by every acquisition where the feature is compiled
/// in: one load and one branch. Relaxed: the flag orders nothing; an acquisition that misses
/// a concurrent `enable` only goes unrecorded.
pub(crate) static ENABLED: AtomicBool = AtomicBool::new(false);

/// Record one event in this many (≥ 1). Relaxed: read on sampled slow paths only, a value on
/// its own.
pub(crate) static SAMPLE_EVERY: AtomicU32 = AtomicU32::new(1);

/// Number of log2 buckets of a wait histogram: bucket `i` counts waits of `[2^i, 2^(i+1))` ns,
/// the last one everything longer (2^39 ns ≈ 9 minutes).
pub const BUCKETS: usize = 40;

/// What a class is: the kind of object and where it was created.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub(crate) struct ClassKey {
    pub(crate) what: What,
    /// `std::any::type_name` of the value (`""` for a `WaitGroup`).
    pub(crate) type_name: &'static str,
    pub(crate) created_at: Location<'static>,
}

/// The kinds of objects the profile knows.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum What {
    /// A [`Shared`](crate::Shared): its lock and its pushes and pulls.
    Shared,
    /// A [`WaitGroup`](crate::WaitGroup).
    WaitGroup,
}

/// A count, a total and a maximum of durations, with a log2 histogram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitStats {
    /// Events (estimated: each sampled event counts as `sample_every`).
    pub count: u64,
    /// Sampled events actually recorded.
    pub samples: u64,
    /// Of `count`, the waits that gave up (estimated): a timed call that timed out, or an
    /// async wait dropped before it completed (how `tokio::time::timeout` ends one).
    pub timed_out: u64,
    /// Total duration (estimated, like `count`).
    pub total: Duration,
    /// The longest sampled duration.
    pub max: Duration,
    /// `histogram[i]` counts events (estimated) that lasted `[2^i, 2^(i+1))` ns; the last
    /// bucket counts everything longer.
    pub histogram: [u64; BUCKETS],
}

impl Default for WaitStats {
    fn default() -> Self {
        WaitStats {
            count: 0,
            samples: 0,
            timed_out: 0,
            total: Duration::ZERO,
            max: Duration::ZERO,
            histogram: [0; BUCKETS],
        }
    }
}

impl WaitStats {
    fn add(&mut self, d: Duration, weight: u32) {
        self.count += u64::from(weight);
        self.samples += 1;
        self.total += d.saturating_mul(weight);
        self.max = self.max.max(d);
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        let bucket = (63 - ns.leading_zeros() as usize).min(BUCKETS - 1);
        self.histogram[bucket] += u64::from(weight);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }
}

/// The delay one call site caused by holding a lock that others waited for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caused {
    /// Waits it caused (estimated): two threads waiting for one hold count two.
    pub contentions: u64,
    /// The sum of those waits (estimated): two threads waiting 20 ms for one hold cause 40 ms.
    pub delay: Duration,
}

/// Waits for a publish ([`Puller::wait`](crate::Puller::wait),
/// [`Shared::wait_until`](crate::Shared::wait_until) and their timed and async twins) at one
/// call site. Counts are estimates like [`WaitStats::count`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullStats {
    /// The waits that had to wait (the value was not there yet), how long they took, and how
    /// many gave up ([`WaitStats::timed_out`]).
    pub waits: WaitStats,
    /// Wake-ups of those waits (a thread woken, a task polled again).
    pub wakes: u64,
    /// Wake-ups after which the wait had to go on: the predicate still false, nothing new.
    pub woke_for_nothing: u64,
    /// Versions published that the waiter or puller never saw: between the version it had
    /// and the one it got, at the end of a wait or at a `pull` that found a change.
    pub skipped_versions: u64,
}

/// One call site's row of a class.
#[derive(Clone, Debug, Default)]
pub(crate) struct Row {
    /// `None`: the "other" row (sites beyond the limit, or a holder that took the lock
    /// before profiling was enabled).
    pub(crate) site: Option<Location<'static>>,
    /// Acquisitions that had to wait, by [`Access`].
    pub(crate) waited: [WaitStats; 4],
    pub(crate) caused: Caused,
    pub(crate) held: WaitStats,
    pub(crate) pull: PullStats,
    pub(crate) group_waits: WaitStats,
}

impl Row {
    fn new(site: Option<Location<'static>>) -> Self {
        Row {
            site,
            ..Row::default()
        }
    }
}

/// A class and its rows: at most `MAX_SITES_PER_CLASS` with a site, then the "other" row.
#[derive(Clone, Debug)]
pub(crate) struct Class {
    pub(crate) key: ClassKey,
    pub(crate) rows: Vec<Row>,
    index: BTreeMap<Location<'static>, usize>,
    /// Index of the "other" row, once it exists.
    other: Option<usize>,
}

impl Class {
    fn new(key: ClassKey) -> Self {
        Class {
            key,
            rows: Vec::new(),
            index: BTreeMap::new(),
            other: None,
        }
    }

    /// The row of `site` (`None`: the "other" row), created if there is room, else "other".
    pub(crate) fn row(&mut self, site: Option<Location<'static>>) -> &mut Row {
        let i = match site.and_then(|s| self.index.get(&s).copied()) {
            Some(i) => i,
            None => match site {
                Some(s) if self.index.len() < MAX_SITES_PER_CLASS => {
                    self.rows.push(Row::new(Some(s)));
                    self.index.insert(s, self.rows.len() - 1);
                    self.rows.len() - 1
                }
                _ => match self.other {
                    Some(i) => i,
                    None => {
                        self.rows.push(Row::new(None));
                        self.other = Some(self.rows.len() - 1);
                        self.rows.len() - 1
                    }
                },
            },
        };
        &mut self.rows[i]
    }
}

/// Every class, and when recording started.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) classes: Vec<Class>,
    index: BTreeMap<ClassKey, usize>,
    /// Classes that found the table full are merged into this one.
    overflow: Option<usize>,
    pub(crate) since: Option<(Instant, SystemTime)>,
}

impl Table {
    const fn new() -> Self {
        Table {
            classes: Vec::new(),
            index: BTreeMap::new(),
            overflow: None,
            since: None,
        }
    }

    /// The class `key`, created if there is room, else the overflow class.
    pub(crate) fn class(&mut self, key: ClassKey) -> &mut Class {
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None if self.classes.len() < MAX_CLASSES => {
                self.classes.push(Class::new(key));
                self.index.insert(key, self.classes.len() - 1);
                self.classes.len() - 1
            }
            None => match self.overflow {
                Some(i) => i,
                None => {
                    self.classes.push(Class::new(overflow_class()));
                    self.overflow = Some(self.classes.len() - 1);
                    self.classes.len() - 1
                }
            },
        };
        &mut self.classes[i]
    }

    pub(crate) fn clear(&mut self) {
        self.classes.clear();
        self.index.clear();
        self.overflow = None;
    }
}

/// The class every class beyond `MAX_CLASSES` is merged into (its "creation site" is this
/// line: it has none of its own).
fn overflow_class() -> ClassKey {
    ClassKey {
        what: What::Shared,
        type_name: OVERFLOW_TYPE,
        created_at: *Location::caller(),
    }
}

/// The type name shown for the overflow class.
pub(crate) const OVERFLOW_TYPE: &str = "(classes beyond the limit)";

static TABLE: Mutex<Table> = Mutex::new(Table::new());

/// The table, locked. A panic while it was held (none is expected: recording runs no user
/// code) leaves consistent counters behind, so poisoning is ignored.
pub(crate) fn table() -> MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records what happened at `site` of class `key` (`site` `None`: the "other" row).
pub(crate) fn record(key: ClassKey, site: Option<Location<'static>>, f: impl FnOnce(&mut Row)) {
    f(table().class(key).row(site));
}

/// Adds `d` (sampled with weight `weight`) to the wait statistics `stats`.
pub(crate) fn add_wait(stats: &mut WaitStats, d: Duration, weight: u32) {
    stats.add(d, weight);
}

/// The index of `access` in [`Row::waited`].
pub(crate) fn access_index(access: Access) -> usize {
    match access {
        Access::Read => 0,
        Access::Modify => 1,
        Access::Write => 2,
        Access::Upgrade => 3,
    }
}

/// Turns recording on at one event in `every`.
pub(crate) fn enable(every: u32) {
    {
        let mut t = table();
        if t.since.is_none() {
            t.since = Some((Instant::now(), SystemTime::now()));
        }
    }
    // Relaxed: see the statics; the rate is a value on its own.
    SAMPLE_EVERY.store(every.max(1), Ordering::Relaxed);
    ENABLED.store(true, Ordering::Relaxed);
}

pub(crate) fn disable() {
    ENABLED.store(false, Ordering::Relaxed);
}

pub(crate) fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub(crate) fn sample_every() -> u32 {
    SAMPLE_EVERY.load(Ordering::Relaxed).max(1)
}

pub(crate) fn reset() {
    let mut t = table();
    t.clear();
    t.since = is_enabled().then(|| (Instant::now(), SystemTime::now()));
}
