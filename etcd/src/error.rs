//! The error type of every fallible call of this crate.

use crate::codec::BoxError;
use std::fmt;
use std::time::Duration;

/// What went wrong in a call to etcd through this crate.
///
/// Revisions are etcd revisions (`mod_revision` of the key, or the store revision).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// etcd (or the connection to it) failed a request, after the retries the call makes.
    Etcd(etcd_client::Error),
    /// A request did not answer within [`Options::request_timeout`](crate::Options).
    Timeout {
        /// The request.
        what: &'static str,
        /// How long it was given.
        after: Duration,
    },
    /// [`push_at`](crate::Replica::push_at): the key moved past the revision given. Nothing
    /// was written.
    Conflict {
        /// The key's `mod_revision` now (as far as this replica knows): pull and retry from it.
        current: i64,
    },
    /// [`push`](crate::Replica::push) lost the race to other writers on every one of its
    /// attempts ([`Options::max_push_attempts`](crate::Options)). Nothing was written.
    Contention {
        /// How many compare-and-put attempts were made.
        attempts: u32,
        /// The key's `mod_revision` at the last attempt.
        current: i64,
    },
    /// A compare-and-put was sent but its answer was lost (the connection dropped or the
    /// request timed out), and the replica could not find out, within
    /// [`Options::push_timeout`](crate::Options), whether it was applied: it may or may not
    /// have been. Read the key before deciding to push again. The replica never answers
    /// this for a push whose outcome it could determine (see the crate docs, "Pushes whose
    /// answer is lost").
    OutcomeUnknown {
        /// The revision the push was based on.
        base: i64,
        /// Why the outcome could not be found out.
        reason: String,
    },
    /// The key does not exist: another client deleted it. The replica keeps its last value;
    /// a put by any client (or [`Replica::open`](crate::Replica::open), which creates the
    /// key from its `init`) brings it back.
    Deleted {
        /// The store revision at which the key was found missing.
        revision: i64,
    },
    /// The codec could not encode the new value. Nothing was written.
    Encode(BoxError),
    /// The value stored at `revision` does not decode with this replica's codec.
    Decode {
        /// The key's `mod_revision` of the value that does not decode.
        revision: i64,
        /// The codec's error.
        source: BoxError,
    },
    /// [`WaitGroup::add`](crate::WaitGroup::add): a member of this name already joined the
    /// group.
    DuplicateMember {
        /// The name.
        name: String,
    },
    /// [`Member::done`](crate::Member::done): the member had already ended as lost (its lease
    /// expired or was revoked), so the group counted it lost and it cannot be done any more.
    Lost {
        /// The member's name.
        name: String,
    },
    /// Called outside a tokio runtime: the replica or group needs one for its background task.
    NoRuntime,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Etcd(e) => write!(f, "pushpull_etcd: etcd request failed: {e}"),
            Error::Timeout { what, after } => {
                write!(f, "pushpull_etcd: {what} did not answer within {after:?}")
            }
            Error::Conflict { current } => write!(
                f,
                "pushpull_etcd: push_at conflict, the key is now at revision {current}"
            ),
            Error::Contention { attempts, current } => write!(
                f,
                "pushpull_etcd: push lost to other writers {attempts} times (the key is at revision {current}); nothing was written"
            ),
            Error::OutcomeUnknown { base, reason } => write!(
                f,
                "pushpull_etcd: a push based on revision {base} may or may not have been applied: {reason}"
            ),
            Error::Deleted { revision } => write!(
                f,
                "pushpull_etcd: the key was deleted (missing at revision {revision})"
            ),
            Error::Encode(e) => write!(f, "pushpull_etcd: the value did not encode: {e}"),
            Error::Decode { revision, source } => write!(
                f,
                "pushpull_etcd: the value at revision {revision} does not decode: {source}"
            ),
            Error::DuplicateMember { name } => write!(
                f,
                "pushpull_etcd: a member named {name:?} already joined this WaitGroup"
            ),
            Error::Lost { name } => write!(
                f,
                "pushpull_etcd: member {name:?} already ended as lost (its lease expired)"
            ),
            Error::NoRuntime => write!(
                f,
                "pushpull_etcd: needs a tokio runtime (call it from a task of one)"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Etcd(e) => Some(e),
            Error::Encode(e) | Error::Decode { source: e, .. } => Some(&**e),
            _ => None,
        }
    }
}

impl From<etcd_client::Error> for Error {
    fn from(e: etcd_client::Error) -> Self {
        Error::Etcd(e)
    }
}
