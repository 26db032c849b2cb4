//! pushpull across processes and machines, through etcd.
//!
//! See the crate's README for the manual; in short:
//!
//! * [`Replica<T>`]: one etcd key mirrored locally. Reads, pullers and waits are local
//!   (a pushpull `Shared<T>` kept up to date by a watch); [`push`](Replica::push) is a
//!   compare-and-put on the key's `mod_revision`, retried from the value etcd returns, so no
//!   update is lost across processes; [`push_at`](Replica::push_at) is the one-shot
//!   compare-and-push.
//! * [`WaitGroup`]: workers join with a lease and end with `done`; a worker that dies ends
//!   *lost* when its lease expires; the master [`wait`](WaitGroup::wait)s for `expect(n)`
//!   members to end and gets [`Outcome`]` { done, lost }`.
//!
//! | pushpull | here, on etcd v3 |
//! |---|---|
//! | `Version` (one per publish) | the key's `mod_revision` (cluster-wide, monotonic) |
//! | `push(f)` | read, then `Txn(If mod_revision == r, Then Put, Else Get)`, retried |
//! | `push_at(seen, f)` → `Conflict { current }` | the same transaction, not retried |
//! | a puller, `wait_until` | a watch on the key, applied to the local copy |
//! | resume from a kept version | a watch from the next unseen revision; a re-read when that history was compacted |
//! | `WaitGroup` + a worker that panicked | keys under a prefix on leases; a lease that expires is a worker that died |
//!
//! # Guarantees
//!
//! * **No lost update**: every push is applied exactly once to the value it was based on,
//!   whatever the number of processes; revisions returned by pushes are distinct.
//! * **Read your writes**: when `push` returns revision `r`, this replica's local copy is at
//!   `r` or later. Another replica reaches it once its watch delivers it
//!   ([`wait_revision`](Replica::wait_revision) waits for that).
//! * **Latest value, not every value**: like any pushpull puller, a replica and its pullers
//!   see the latest value; several changes arriving together are published once. After a
//!   compaction of the history it needed, a replica re-reads the key and publishes the
//!   latest value once ([`Status::resyncs`] counts it).
//! * **Resume without gap or duplicate**: a watch re-created after a failure starts at the
//!   first revision the replica has not reflected.
//!
//! # Pushes whose answer is lost
//!
//! A compare-and-put whose answer is lost (connection dropped, request timed out) may or may
//! not have been applied; blindly retrying it would find the key moved (by itself) and apply
//! the closure a second time. Every push therefore writes a unique *write id* next to the key
//! in the same transaction (key `<key>\0pushpull-write-id`), and after a lost answer it
//! resends the very same transaction (which can commit at most once among its copies, since
//! all compare against the same revision); if the resend finds the key moved, the first change
//! of the id key after the push's base revision says whether it was this push. The push then
//! returns `Ok(revision)` or retries from the new value, as if the answer had not been lost.
//! Only if that history was compacted in the meantime, or etcd stayed unreachable for the
//! whole [`Options::push_timeout`], does it return [`Error::OutcomeUnknown`].
//!
//! # Connecting
//!
//! Make the client with `require_leader` ([`connect`] does): a watch on a member that lost
//! its leader is then canceled by etcd, and the replica re-creates it on a member that has
//! one, instead of hanging.
//!
//! # Bad input
//!
//! A value written by another client that does not decode is counted in
//! [`Status::rejected`], not applied (the replica keeps its value and moves past that
//! revision), and the next good value is applied. A key deleted by another client leaves the
//! local value as it was, with [`Status::last_error`] saying so; pushes return
//! [`Error::Deleted`] until a value is put again, which the replica follows. Panics in a codec
//! are caught and counted as decode errors; nothing kills the watch task.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backoff;
mod codec;
mod error;
mod follow;
mod local;
mod options;
mod replica;
mod runtime;
mod status;
mod wait_group;

pub use codec::{BoxError, Codec, Json};
pub use error::Error;
pub use local::ReplicaPuller;
pub use options::Options;
pub use replica::Replica;
pub use status::Status;
pub use wait_group::{Member, MemberState, Outcome, Roster, WaitGroup};

/// The re-exported etcd client crate, for [`Client`](etcd_client::Client) and
/// [`ConnectOptions`](etcd_client::ConnectOptions).
pub use etcd_client;

/// The connect options this crate recommends: `require_leader` (a watch on a member without
/// a leader is canceled instead of hanging), and HTTP/2 keep-alive pings every 2 s that give
/// up after 2 s (a dead connection is noticed even when no request is in flight).
///
/// ```
/// // Add your own settings on top (TLS, credentials, timeouts):
/// let options = pushpull_etcd::connect_options().with_user("worker", "secret");
/// # let _ = options;
/// ```
#[must_use]
pub fn connect_options() -> etcd_client::ConnectOptions {
    use std::time::Duration;
    etcd_client::ConnectOptions::new()
        .with_require_leader(true)
        .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2))
}

/// Connects to etcd at `endpoints` (`"host:port"` or URLs) with [`connect_options`]. Lazy: it
/// succeeds even if no endpoint answers yet.
///
/// # Errors
///
/// [`Error::Etcd`] if an endpoint is not a valid address.
///
/// ```no_run
/// # async fn demo() -> Result<(), pushpull_etcd::Error> {
/// let client = pushpull_etcd::connect(["10.0.0.1:2379", "10.0.0.2:2379"]).await?;
/// # let _ = client; Ok(()) }
/// ```
pub async fn connect<E: AsRef<str>, S: AsRef<[E]>>(
    endpoints: S,
) -> Result<etcd_client::Client, Error> {
    Ok(etcd_client::Client::connect(endpoints, Some(connect_options())).await?)
}
