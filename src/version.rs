//! `Version` and `Conflict`: the numbers that push and pull agree on.

use std::fmt;

/// How many times a [`Shared`](crate::Shared) has been published to.
///
/// A new `Shared` is at version 0; every publish (a [`push`](crate::Shared::push), an
/// [`replace`](crate::Shared::replace), a [`WriteGuard`](crate::WriteGuard) that was mutably
/// dereferenced, ...) adds exactly one. Versions of one `Shared` are totally ordered and
/// never go back; versions of different `Shared`s are unrelated.
///
/// ```
/// let s = pushpull::Shared::new(0);
/// let before = s.version();
/// s.push(|n| *n = 1);
/// assert!(s.version() > before);
/// assert_eq!(s.version().get(), before.get() + 1);
/// assert_eq!(s.version().to_string(), "v1");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(pub(crate) u64);

impl Version {
    /// The version of a `Shared` nobody has published to.
    pub const ZERO: Version = Version(0);

    /// The number of publishes this version stands for.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A version from its number, e.g. one that travelled over the wire. A puller started at it
/// reports everything published after it.
///
/// ```
/// use pushpull::Version;
/// let v = Version::from(7);
/// assert_eq!(u64::from(v), 7);
/// assert_eq!(v.to_string(), "v7");
/// ```
impl From<u64> for Version {
    fn from(n: u64) -> Self {
        Version(n)
    }
}

/// The number of publishes a version stands for (as [`Version::get`]): what to send over the
/// wire.
impl From<Version> for u64 {
    fn from(v: Version) -> Self {
        v.0
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({})", self.0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// [`Shared::push_at`](crate::Shared::push_at) was refused: someone published since the
/// version it was given.
///
/// ```
/// use pushpull::Shared;
/// let s = Shared::new(0);
/// let seen = s.version();
/// s.push(|n| *n += 1);
/// let err = s.push_at(seen, |n| *n += 10).unwrap_err();
/// assert_eq!(err.current.get(), 1);
/// assert_eq!(err.to_string(), "pushpull::Shared::push_at: conflict, the value is now at v1");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conflict {
    /// The version the `Shared` is at: pull again from here and retry.
    pub current: Version,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pushpull::Shared::push_at: conflict, the value is now at {}",
            self.current
        )
    }
}

impl std::error::Error for Conflict {}
