//! What a group's keys say about its members: [`Roster`], [`MemberState`], [`Outcome`].

use std::collections::{BTreeMap, BTreeSet};

/// How a member of a [`WaitGroup`](crate::WaitGroup) stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Joined, and its lease is alive: still working.
    Alive,
    /// Called [`Member::done`](crate::Member::done).
    Done,
    /// Ended without `done`: its process died (the lease expired) or its `Member` was dropped
    /// (the lease was revoked). pushpull's `WaitGroup` counts a panicked worker the same way.
    Lost,
}

/// How a group ended: how many members were done, and how many were lost.
///
/// ```
/// use pushpull_etcd::Outcome;
/// let outcome = Outcome { done: 2, lost: 1 };
/// assert_eq!(outcome, Outcome { done: 2, lost: 1 }); // what the master asserts on
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Outcome {
    /// Members that called [`Member::done`](crate::Member::done).
    pub done: usize,
    /// Members that ended without it (their process died, or their `Member` was dropped).
    pub lost: usize,
}

/// Every member that ever joined a group, and how each stands: a snapshot from
/// [`WaitGroup::roster`](crate::WaitGroup::roster).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roster {
    members: BTreeMap<String, MemberState>,
}

impl Roster {
    /// How `name` stands, if it joined.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<MemberState> {
        self.members.get(name).copied()
    }

    /// Every member that joined, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, MemberState)> {
        self.members.iter().map(|(n, s)| (n.as_str(), *s))
    }

    /// The names of the members in state `state`.
    pub fn names(&self, state: MemberState) -> impl Iterator<Item = &str> {
        self.iter()
            .filter(move |(_, s)| *s == state)
            .map(|(n, _)| n)
    }

    /// How many members joined.
    #[must_use]
    pub fn joined(&self) -> usize {
        self.members.len()
    }

    /// How many members are in state `state`.
    #[must_use]
    pub fn count(&self, state: MemberState) -> usize {
        self.members.values().filter(|s| **s == state).count()
    }

    /// How many members ended (done or lost).
    #[must_use]
    pub fn ended(&self) -> usize {
        self.joined() - self.count(MemberState::Alive)
    }

    /// The members that ended, as an outcome.
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        Outcome {
            done: self.count(MemberState::Done),
            lost: self.count(MemberState::Lost),
        }
    }
}

/// The three key sets under a group's prefix, and the roster they make.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    pub(crate) joined: BTreeSet<String>,
    pub(crate) alive: BTreeSet<String>,
    pub(crate) done: BTreeSet<String>,
}

/// The subdirectories of a group's prefix.
pub(crate) const JOINED: &str = "joined/";
pub(crate) const ALIVE: &str = "alive/";
pub(crate) const DONE: &str = "done/";

impl Keys {
    /// Records that `key` (relative to the prefix) exists (`present`) or not.
    pub(crate) fn set(&mut self, key: &[u8], present: bool) {
        let Ok(key) = std::str::from_utf8(key) else {
            return;
        };
        for (dir, set) in [
            (JOINED, &mut self.joined),
            (ALIVE, &mut self.alive),
            (DONE, &mut self.done),
        ] {
            if let Some(name) = key.strip_prefix(dir) {
                if present {
                    set.insert(name.to_owned());
                } else {
                    set.remove(name);
                }
            }
        }
    }

    /// A member that joined is alive while its lease key exists, done if it wrote its done
    /// key, and lost otherwise (its lease key went without a done key: expired or revoked).
    pub(crate) fn roster(&self) -> Roster {
        let members = self
            .joined
            .iter()
            .map(|name| {
                let state = if self.alive.contains(name) {
                    MemberState::Alive
                } else if self.done.contains(name) {
                    MemberState::Done
                } else {
                    MemberState::Lost
                };
                (name.clone(), state)
            })
            .collect();
        Roster { members }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_is_alive_done_or_lost_by_its_keys() {
        let mut keys = Keys::default();
        for k in [
            "joined/a", "alive/a", "joined/b", "alive/b", "joined/c", "alive/c",
        ] {
            keys.set(k.as_bytes(), true);
        }
        keys.set(b"done/a", true);
        keys.set(b"alive/a", false); // done: one transaction
        keys.set(b"alive/b", false); // lease expired
        keys.set(b"elsewhere/x", true); // not a group key
        let roster = keys.roster();
        assert_eq!(roster.get("a"), Some(MemberState::Done));
        assert_eq!(roster.get("b"), Some(MemberState::Lost));
        assert_eq!(roster.get("c"), Some(MemberState::Alive));
        assert_eq!(roster.get("x"), None);
        assert_eq!((roster.joined(), roster.ended()), (3, 2));
        assert_eq!(roster.outcome(), Outcome { done: 1, lost: 1 });
        assert_eq!(roster.names(MemberState::Lost).collect::<Vec<_>>(), ["b"]);
    }
}
