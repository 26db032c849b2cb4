//! [`Report`]: a snapshot of the profile, its lock_stat-style table (`Display`) and its folded
//! stacks. The pprof encoding is in `pprof.rs`.

use super::table::{self, Caused, PullStats, WaitStats, What};
use super::Access;
use crate::lock_order::short_type_name;
use std::fmt;
use std::io;
use std::panic::Location;
use std::time::{Duration, SystemTime};

/// A snapshot of the contention profile, from [`report`](super::report): every class that
/// recorded something, hottest first, each with its call sites, hottest first.
///
/// `Display` prints the table described in the [module docs](super);
/// [`write_pprof`](Self::write_pprof) and [`write_folded`](Self::write_folded) write the
/// caused delays for pprof and flame graphs.
#[derive(Clone, Debug)]
pub struct Report {
    pub(super) sample_every: u32,
    pub(super) duration: Option<Duration>,
    pub(super) start: Option<SystemTime>,
    pub(super) classes: Vec<ClassProfile>,
}

/// One class: every [`Shared`](crate::Shared) (or [`WaitGroup`](crate::WaitGroup)) created at
/// one call site (with one value type), and what happened at each call site that used them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClassProfile {
    /// A `Shared` or a `WaitGroup`.
    pub what: What,
    /// The value's type, standard-library paths shortened (`Vec<u8>`); empty for a
    /// `WaitGroup`.
    pub type_name: String,
    /// Where the objects of this class were created.
    pub created_at: Location<'static>,
    /// Call sites, hottest first; at most [`MAX_SITES_PER_CLASS`](super::MAX_SITES_PER_CLASS)
    /// with a site, plus an "other" row (`site: None`).
    pub sites: Vec<SiteProfile>,
}

/// What happened at one call site of one class. Counts and durations are estimates: each
/// sampled event counts as `sample_every` events (maxima are the largest sampled value).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SiteProfile {
    /// The call site; `None` for the "other" row: the sites of a class beyond
    /// [`MAX_SITES_PER_CLASS`](super::MAX_SITES_PER_CLASS), and holders that took the lock
    /// before profiling was enabled.
    pub site: Option<Location<'static>>,
    /// `read()` (and the reads inside waits) that had to wait, here.
    pub read: WaitStats,
    /// `modify()` that had to wait, here.
    pub modify: WaitStats,
    /// `write()`, `update`, `push*` that had to wait, here.
    pub write: WaitStats,
    /// `ModifyGuard::upgrade` that had to wait for readers, here.
    pub upgrade: WaitStats,
    /// The waits of others that guards taken here caused, charged to this site as the
    /// holder of the lock when the wait began.
    pub caused: Caused,
    /// How long the exclusive side (write, modify, upgrade) was held after an acquisition
    /// here that had to wait.
    pub held: WaitStats,
    /// Waits for a publish here (a `Shared`'s class).
    pub pull: PullStats,
    /// `WaitGroup` waits here (a `WaitGroup`'s class).
    pub group_waits: WaitStats,
}

impl SiteProfile {
    /// The acquisitions of kind `access` that had to wait here.
    pub fn waited(&self, access: Access) -> &WaitStats {
        match access {
            Access::Read => &self.read,
            Access::Modify => &self.modify,
            Access::Write => &self.write,
            Access::Upgrade => &self.upgrade,
        }
    }

    /// Lock acquisitions that had to wait here, of every kind.
    pub fn contentions(&self) -> u64 {
        Access::ALL.iter().map(|&a| self.waited(a).count).sum()
    }

    /// Their total wait.
    pub fn waited_total(&self) -> Duration {
        Access::ALL.iter().map(|&a| self.waited(a).total).sum()
    }

    /// Their longest wait.
    pub fn waited_max(&self) -> Duration {
        Access::ALL
            .iter()
            .map(|&a| self.waited(a).max)
            .max()
            .unwrap_or_default()
    }

    /// How hot the row is: every delay it suffered or caused.
    fn heat(&self) -> Duration {
        self.waited_total() + self.caused.delay + self.pull.waits.total + self.group_waits.total
    }

    /// The site as text (`(other)` for the "other" row).
    pub(super) fn site_text(&self) -> String {
        self.site
            .map_or_else(|| "(other)".to_string(), |s| s.to_string())
    }
}

impl ClassProfile {
    /// The row of `site` (by file, line and column), if this class recorded one.
    pub fn site(&self, site: &Location<'_>) -> Option<&SiteProfile> {
        self.sites.iter().find(|s| {
            s.site.is_some_and(|l| {
                l.file() == site.file() && l.line() == site.line() && l.column() == site.column()
            })
        })
    }

    /// The class's name: `Shared<app::Jobs>` or `WaitGroup`.
    pub fn name(&self) -> String {
        match self.what {
            What::Shared => format!("Shared<{}>", self.type_name),
            What::WaitGroup => "WaitGroup".to_string(),
        }
    }

    /// Every delay recorded in this class (waits suffered; a caused delay is the same wait
    /// seen from the holder, so it is not added again).
    pub fn waited_total(&self) -> Duration {
        self.sites
            .iter()
            .map(|s| s.waited_total() + s.pull.waits.total + s.group_waits.total)
            .sum()
    }

    /// The total delay its holders caused.
    pub fn caused_total(&self) -> Duration {
        self.sites.iter().map(|s| s.caused.delay).sum()
    }

    fn heat(&self) -> Duration {
        self.waited_total().max(self.caused_total())
    }
}

impl Report {
    /// Every class that recorded something, hottest first.
    pub fn classes(&self) -> &[ClassProfile] {
        &self.classes
    }

    /// The class of the `Shared`s or `WaitGroup`s created at `created_at`.
    pub fn class(&self, created_at: &Location<'_>) -> Option<&ClassProfile> {
        self.classes.iter().find(|c| {
            c.created_at.file() == created_at.file()
                && c.created_at.line() == created_at.line()
                && c.created_at.column() == created_at.column()
        })
    }

    /// One event in how many was recorded when the snapshot was taken.
    pub fn sample_every(&self) -> u32 {
        self.sample_every
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Writes the caused delays as folded stacks, one line per class and holder site:
    /// `Shared<app::Jobs> (src/main.rs:10:5);src/main.rs:42:18 40000000` (delay in
    /// nanoseconds), the input of inferno's and flamegraph.pl's flame graphs. (`;` inside a
    /// type name is written as `,`.)
    ///
    /// # Errors
    ///
    /// What writing to `w` returns.
    pub fn write_folded<W: io::Write>(&self, mut w: W) -> io::Result<()> {
        for (class, site) in self.caused() {
            let ns = u64::try_from(site.caused.delay.as_nanos()).unwrap_or(u64::MAX);
            if ns > 0 {
                writeln!(
                    w,
                    "{};{} {ns}",
                    frame(&class_frame(class)),
                    frame(&site.site_text())
                )?;
            }
        }
        Ok(())
    }

    /// Every (class, holder site) with a caused delay, hottest class first.
    pub(super) fn caused(&self) -> impl Iterator<Item = (&ClassProfile, &SiteProfile)> {
        self.classes.iter().flat_map(|c| {
            c.sites
                .iter()
                .filter(|s| s.caused.contentions > 0)
                .map(move |s| (c, s))
        })
    }
}

/// A class's frame in folded stacks and pprof: `Shared<app::Jobs> (src/main.rs:10:5)`.
pub(super) fn class_frame(class: &ClassProfile) -> String {
    format!("{} ({})", class.name(), class.created_at)
}

/// A frame of a folded line: no `;` (the separator) and no line break.
fn frame(s: &str) -> String {
    s.replace(';', ",").replace(['\n', '\r'], " ")
}

/// Takes the snapshot.
pub(super) fn snapshot() -> Report {
    let t = table::table();
    let mut classes: Vec<ClassProfile> = t
        .classes
        .iter()
        .map(|c| {
            let mut sites: Vec<SiteProfile> = c
                .rows
                .iter()
                .map(|r| {
                    let [read, modify, write, upgrade] = r.waited.clone();
                    SiteProfile {
                        site: r.site,
                        read,
                        modify,
                        write,
                        upgrade,
                        caused: r.caused.clone(),
                        held: r.held.clone(),
                        pull: r.pull.clone(),
                        group_waits: r.group_waits.clone(),
                    }
                })
                .collect();
            sites.sort_by_key(|s| std::cmp::Reverse(s.heat()));
            ClassProfile {
                what: c.key.what,
                type_name: short_type_name(c.key.type_name),
                created_at: c.key.created_at,
                sites,
            }
        })
        .collect();
    classes.sort_by_key(|c| std::cmp::Reverse(c.heat()));
    Report {
        sample_every: table::sample_every(),
        duration: t.since.map(|(at, _)| at.elapsed()),
        start: t.since.map(|(_, start)| start),
        classes,
    }
}

/// `1.23 s`, `12.3 ms`, `4.56 µs`, `789 ns`.
pub(super) struct Dur(pub(super) Duration);

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos() as f64;
        let text = if ns >= 1e9 {
            format!("{:.2} s", ns / 1e9)
        } else if ns >= 1e6 {
            format!("{:.1} ms", ns / 1e6)
        } else if ns >= 1e3 {
            format!("{:.1} µs", ns / 1e3)
        } else {
            format!("{ns:.0} ns")
        };
        f.pad(&text)
    }
}

/// A count, `-` for zero.
fn count(n: u64) -> String {
    if n == 0 {
        "-".to_string()
    } else {
        n.to_string()
    }
}

/// A duration, `-` for zero.
fn dur(d: Duration) -> String {
    if d.is_zero() {
        "-".to_string()
    } else {
        Dur(d).to_string()
    }
}

/// A site's text and its table lines.
type SiteLines = (String, Vec<[String; 8]>);

/// The table's lines of one site: one per kind of wait that happened there (the caused delay
/// on the first), or one `holder` line if it only caused waits.
fn site_lines(s: &SiteProfile) -> Vec<[String; 8]> {
    let timeouts = |w: &WaitStats| {
        if w.timed_out > 0 {
            format!("timed out {}", w.timed_out)
        } else {
            String::new()
        }
    };
    let mut parts: Vec<(&str, &WaitStats, Option<&WaitStats>, String)> = Vec::new();
    for access in Access::ALL {
        let w = s.waited(access);
        if !w.is_empty() {
            let held = (access != Access::Read).then_some(&s.held);
            parts.push((access.as_str(), w, held, timeouts(w)));
        }
    }
    if !s.pull.waits.is_empty() || s.pull.skipped_versions > 0 {
        let p = &s.pull;
        let mut notes = format!("wakes {}", p.wakes);
        if p.woke_for_nothing > 0 {
            notes += &format!(", for nothing {}", p.woke_for_nothing);
        }
        if p.waits.timed_out > 0 {
            notes += &format!(", timed out {}", p.waits.timed_out);
        }
        if p.skipped_versions > 0 {
            notes += &format!(", skipped versions {}", p.skipped_versions);
        }
        parts.push(("pull", &p.waits, None, notes));
    }
    if !s.group_waits.is_empty() {
        parts.push(("wait", &s.group_waits, None, timeouts(&s.group_waits)));
    }
    let none = WaitStats::default();
    if parts.is_empty() {
        parts.push(("holder", &none, None, String::new()));
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(i, (kind, w, held, notes))| {
            let (caused, by) = if i == 0 && s.caused.contentions > 0 {
                (dur(s.caused.delay), count(s.caused.contentions))
            } else {
                ("-".to_string(), "-".to_string())
            };
            [
                kind.to_string(),
                count(w.count),
                dur(w.total),
                dur(w.max),
                caused,
                by,
                held.map_or_else(|| "-".to_string(), |h| dur(h.total)),
                notes,
            ]
        })
        .collect()
}

impl fmt::Display for Report {
    /// The lock_stat-style table: see the [module docs](super).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pushpull contention profile")?;
        if let Some(d) = self.duration {
            write!(f, " over {}", Dur(d))?;
        }
        if self.sample_every > 1 {
            write!(
                f,
                ", 1 event in {} sampled (counts and totals are estimates)",
                self.sample_every
            )?;
        }
        writeln!(f)?;
        if self.classes.is_empty() {
            return writeln!(f, "(nothing recorded)");
        }
        let header = [
            "site",
            "kind",
            "waits",
            "total wait",
            "max wait",
            "caused",
            "waiters",
            "held",
        ];
        let rows: Vec<(usize, Vec<SiteLines>)> = self
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    i,
                    c.sites
                        .iter()
                        .map(|s| (s.site_text(), site_lines(s)))
                        .collect(),
                )
            })
            .collect();
        let site_w = rows
            .iter()
            .flat_map(|(_, sites)| sites.iter().map(|(s, _)| s.chars().count() + 2))
            .max()
            .unwrap_or(0)
            .max(header[0].len());
        let mut widths = [0usize; 7];
        for (k, h) in header[1..].iter().enumerate() {
            widths[k] = h.chars().count();
        }
        for (_, sites) in &rows {
            for (_, lines) in sites {
                for l in lines {
                    for k in 0..7 {
                        widths[k] = widths[k].max(l[k].chars().count());
                    }
                }
            }
        }
        write!(f, "{:site_w$}  {:<w$}", header[0], header[1], w = widths[0])?;
        for k in 1..7 {
            write!(f, "  {:>w$}", header[k + 1], w = widths[k])?;
        }
        writeln!(f)?;
        for (i, sites) in rows {
            let c = &self.classes[i];
            writeln!(
                f,
                "{} created at {}: waited {}, caused {}",
                c.name(),
                c.created_at,
                Dur(c.waited_total()),
                Dur(c.caused_total())
            )?;
            for (site, lines) in sites {
                for (n, l) in lines.iter().enumerate() {
                    let shown = if n == 0 { site.as_str() } else { "" };
                    write!(
                        f,
                        "  {:w$}  {:<k$}",
                        shown,
                        l[0],
                        w = site_w - 2,
                        k = widths[0]
                    )?;
                    for k in 1..7 {
                        write!(f, "  {:>w$}", l[k], w = widths[k])?;
                    }
                    if !l[7].is_empty() {
                        write!(f, "  {}", l[7])?;
                    }
                    writeln!(f)?;
                }
            }
        }
        Ok(())
    }
}
