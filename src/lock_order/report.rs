//! The report of a lock-order cycle, and how locks are named in it.

use super::{Held, How, Kind, LockRef};
use std::fmt;

/// One edge of the lock-order graph: `to` was taken (at `to.at`) while `from` was held
/// (since `from.at`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Edge {
    pub(crate) from: Held,
    pub(crate) to: Held,
}

/// A cycle of lock orders, found when an acquisition would close it: what
/// [`OnInversion::Custom`](super::OnInversion::Custom) is handed, and what `Panic` and `Log`
/// print. Its [`Display`](fmt::Display) is the report shown in the
/// [module docs](super#the-report): the first line contains `lock order`, then one line per
/// edge of the cycle, each with its two source locations.
///
/// ```
/// fn to_my_logger(report: &pushpull::lock_order::Report) {
///     let text = report.to_string(); // "pushpull: lock order inversion ..."
///     eprintln!("{text}");
/// }
/// pushpull::lock_order::set_on_inversion(pushpull::lock_order::OnInversion::Custom(to_my_logger));
/// ```
#[derive(Clone, Debug)]
pub struct Report {
    /// The edge this thread is about to add, then the existing path from its `to` back to
    /// its `from`, in order.
    pub(crate) cycle: Vec<Edge>,
}

impl Report {
    /// The report of `closing` (the edge the current thread is adding) and `path`, the
    /// recorded edges leading from `closing.to` back to `closing.from`.
    #[cfg(all(not(loom), any(debug_assertions, feature = "lock-order-check")))]
    pub(crate) fn new(closing: Edge, path: Vec<Edge>) -> Self {
        let mut cycle = Vec::with_capacity(path.len() + 1);
        cycle.push(closing);
        cycle.extend(path);
        Report { cycle }
    }

    /// The number of locks in the cycle (2 for an ABBA inversion).
    ///
    /// ```
    /// fn is_abba(report: &pushpull::lock_order::Report) -> bool {
    ///     report.len() == 2
    /// }
    /// ```
    #[must_use]
    #[allow(clippy::len_without_is_empty)] // a cycle is never empty
    pub fn len(&self) -> usize {
        self.cycle.len()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "pushpull: lock order inversion (possible deadlock)")?;
        let last = self.cycle.len().saturating_sub(1);
        for (i, edge) in self.cycle.iter().enumerate() {
            let end = if i == last { '.' } else { ';' };
            if i == 0 {
                writeln!(f, "  {}{end}", Closing(edge))?;
            } else {
                writeln!(f, "  {}{end}", Earlier(edge))?;
            }
        }
        if self
            .cycle
            .iter()
            .all(|e| is_read(e.from.how) && is_read(e.to.how))
        {
            writeln!(
                f,
                "  All of these are reads, and still: a writer queued on each lock makes the \
                 next reader wait, so the readers wait for each other."
            )?;
        }
        writeln!(
            f,
            "  Threads taking these locks in these orders at the same time wait for each \
             other forever."
        )?;
        let waits = self.cycle.iter().any(|e| e.to.how == How::WaitGroupWait);
        write!(
            f,
            "  hint: take them in one order everywhere (or release one before taking the next); {}see pushpull::lock_order",
            if waits {
                "a thread waiting for a WaitGroup should hold no lock that its workers take; "
            } else {
                ""
            }
        )
    }
}

fn is_read(how: How) -> bool {
    matches!(how, How::Read | How::Wait)
}

/// The edge the current thread is adding, in the present tense.
struct Closing<'a>(&'a Edge);

impl fmt::Display for Closing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Edge { from, to } = self.0;
        let (lock, at) = (Name(to.lock), to.at);
        if from.how == How::Token {
            write!(
                f,
                "this thread, a worker of {} (spawned at {}), ",
                Name(from.lock),
                from.at
            )?;
        } else {
            write!(f, "this thread ")?;
        }
        match to.how {
            How::WaitGroupWait => write!(f, "waits for {lock} (here: {at})")?,
            how => write!(f, "takes {lock} ({}, here: {at})", how.as_str())?,
        }
        if from.how != How::Token {
            write!(
                f,
                " while holding {} ({}, taken at {})",
                Name(from.lock),
                from.how.as_str(),
                from.at
            )?;
        }
        Ok(())
    }
}

/// A recorded edge, in the past tense.
struct Earlier<'a>(&'a Edge);

impl fmt::Display for Earlier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Edge { from, to } = self.0;
        let (lock, at) = (Name(to.lock), to.at);
        if from.how == How::Token {
            write!(
                f,
                "earlier, a worker of {} (spawned at {}) ",
                Name(from.lock),
                from.at
            )?;
            return match to.how {
                How::WaitGroupWait => write!(f, "waited for {lock} (at {at})"),
                how => write!(f, "took {lock} ({}, at {at})", how.as_str()),
            };
        }
        match to.how {
            How::WaitGroupWait => write!(f, "earlier, {lock} was waited for (at {at})")?,
            how => write!(f, "earlier, {lock} was taken ({}, at {at})", how.as_str())?,
        }
        write!(
            f,
            " while holding {} ({}, held since {})",
            Name(from.lock),
            from.how.as_str(),
            from.at
        )
    }
}

/// A lock's name in a report: `Shared<app::Jobs>#2`, `WaitGroup#3`.
pub(crate) struct Name(pub(crate) LockRef);

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.kind {
            Kind::Shared => write!(f, "Shared<{}>#{}", short_type_name(self.0.name), self.0.id),
            Kind::WaitGroup => write!(f, "WaitGroup#{}", self.0.id),
        }
    }
}

/// `type_name` with the standard library's module paths cut off (`alloc::vec::Vec<u8>` →
/// `Vec<u8>`); every other path is kept whole, so the user's types stay unambiguous.
pub(crate) fn short_type_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while !rest.is_empty() {
        let path_len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        if path_len == 0 {
            let c = rest.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..c]);
            rest = &rest[c..];
            continue;
        }
        let path = &rest[..path_len];
        let std_path = ["std::", "core::", "alloc::"]
            .iter()
            .any(|p| path.starts_with(p));
        if std_path {
            out.push_str(path.rsplit("::").next().unwrap_or(path));
        } else {
            out.push_str(path);
        }
        rest = &rest[path_len..];
    }
    out
}
