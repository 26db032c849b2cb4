//! [`Status`]: what a replica's (or a group's) watch has been through.

use std::sync::{Mutex, PoisonError};

/// The health of the watch that keeps a [`Replica`](crate::Replica) (or a
/// [`WaitGroup`](crate::WaitGroup)) up to date: a snapshot, from
/// [`Replica::status`](crate::Replica::status).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The watch is established: etcd confirmed it and it has not failed since.
    pub connected: bool,
    /// Watches the bridge had to re-create after the first one (a stream that failed or was
    /// canceled, a connection cut, a member that lost its leader). etcd-client reconnects its
    /// channel by itself; this counts the watches, which are the bridge's job.
    pub reconnects: u64,
    /// Full re-reads of the key because the history the watch needed was compacted.
    pub resyncs: u64,
    /// Values that did not decode with the codec: not applied, counted here.
    pub rejected: u64,
    /// Watch events received for the key (one per change of the key the watch delivered; a
    /// re-read after compaction delivers none).
    pub events: u64,
    /// The last error the watch met (kept after it recovered; `connected` says whether it
    /// did), including the key's deletion by another client and values that did not decode.
    pub last_error: Option<String>,
}

/// The shared, updatable status.
#[derive(Debug, Default)]
pub(crate) struct StatusCell(Mutex<Status>);

impl StatusCell {
    pub(crate) fn snapshot(&self) -> Status {
        self.lock().clone()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.lock());
    }

    pub(crate) fn error(&self, message: impl Into<String>) {
        let message = message.into();
        self.update(|s| s.last_error = Some(message));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Status> {
        // Only plain field updates happen under this lock: a poisoned one holds a valid Status.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
