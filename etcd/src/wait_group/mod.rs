//! [`WaitGroup`]: Go's `WaitGroup` across machines, with leases for workers that die.

mod member;
mod roster;

pub use member::Member;
pub use roster::{MemberState, Outcome, Roster};

use crate::follow::{self, AbortOnDrop, Follower, Range, Sink};
use crate::local::Cell;
use crate::status::{Status, StatusCell};
use crate::{runtime, Error, Options};
use etcd_client::{
    Client, Compare, CompareOp, DeleteOptions, Event, EventType, KeyValue, PutOptions, Txn, TxnOp,
};
use roster::{Keys, ALIVE, JOINED};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::runtime::Handle;

/// A group of workers, in any processes on any machines, that a master waits on: pushpull's
/// [`WaitGroup`](pushpull::WaitGroup) across machines, on etcd leases.
///
/// * A worker joins with [`add`](Self::add) (a name and a lease TTL) and gets a [`Member`];
///   it ends with [`Member::done`]. A worker whose process dies, or that drops its `Member`
///   without `done`, ends **lost**: its lease expires (or is revoked) and its key goes, the
///   way pushpull's `WaitGroup` counts a worker that panicked. The master never hangs on a
///   dead worker.
/// * The master says how many members it expects with [`expect`](Self::expect) (before or
///   after the workers start, like Go's `Add` before `Wait`), then [`wait`](Self::wait)s: it
///   returns [`Outcome`]` { done, lost }` once that many members have ended and none is left
///   alive. A worker that has not joined yet cannot be missed: until `n` members have ended,
///   `wait` waits.
///
/// Under the group's prefix, each member has three keys: `joined/<name>` (written once, no
/// lease), `alive/<name>` (on the member's lease) and, when done, `done/<name>` (written in
/// the same transaction that deletes `alive/<name>`). A member is alive while `alive/<name>`
/// exists, done if `done/<name>` exists, and lost otherwise. The keys stay after the round:
/// use a new prefix per round (a job id in it), or [`clear`](Self::clear) a finished round.
///
/// ```no_run
/// use pushpull_etcd::{Outcome, WaitGroup};
/// use std::time::Duration;
///
/// # async fn demo() -> Result<(), pushpull_etcd::Error> {
/// let client = pushpull_etcd::connect(["localhost:2379"]).await?;
/// let wg = WaitGroup::open(client, "jobs/42/workers").await?;
/// // In each worker process:
/// let me = wg.add("worker-1", Duration::from_secs(5)).await?;
/// /* ... work ... */
/// me.done().await?;
/// // In the master:
/// wg.expect(3);
/// let Outcome { done, lost } = wg.wait().await?;
/// # let _ = (done, lost); Ok(()) }
/// ```
#[derive(Clone)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    prefix: Vec<u8>,
    options: Options,
    handle: Handle,
    status: Arc<StatusCell>,
    state: Arc<Cell<GroupState>>,
    /// The watch of the prefix, started by the first call that needs the roster (workers that
    /// only `add` never watch).
    follower: OnceLock<AbortOnDrop>,
}

#[derive(Debug, Default)]
struct GroupState {
    /// The first read of the prefix is done.
    loaded: bool,
    expected: usize,
    roster: Roster,
}

impl GroupState {
    fn finished(&self) -> bool {
        self.loaded
            && self.roster.ended() >= self.expected
            && self.roster.count(MemberState::Alive) == 0
    }
}

impl WaitGroup {
    /// Opens the group whose keys live under `prefix` (a `/` is added if missing). Cheap: it
    /// reads nothing until the roster is needed.
    ///
    /// # Errors
    ///
    /// [`Error::NoRuntime`] outside a tokio runtime (the group's tasks run on it).
    #[allow(clippy::unused_async)] // async for symmetry with Replica::open, and room to grow.
    pub async fn open(client: Client, prefix: impl Into<Vec<u8>>) -> Result<WaitGroup, Error> {
        Self::open_with(client, prefix, Options::default()).await
    }

    /// [`open`](Self::open) with [`Options`].
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    #[allow(clippy::unused_async)]
    pub async fn open_with(
        client: Client,
        prefix: impl Into<Vec<u8>>,
        options: Options,
    ) -> Result<WaitGroup, Error> {
        let handle = runtime::current()?;
        let mut prefix = prefix.into();
        if prefix.last() != Some(&b'/') {
            prefix.push(b'/');
        }
        Ok(WaitGroup {
            inner: Arc::new(Inner {
                client,
                prefix,
                options,
                handle,
                status: Arc::new(StatusCell::default()),
                state: Arc::new(Cell::new(GroupState::default())),
                follower: OnceLock::new(),
            }),
        })
    }

    /// Joins the group as `name`, on a new lease of `ttl` (rounded up to whole seconds; etcd
    /// may raise it to its minimum, see [`Member::ttl`]) that a background task renews while
    /// the returned [`Member`] lives.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateMember`] if a member of that name already joined this group;
    /// [`Error::Etcd`] / [`Error::Timeout`] if etcd could not be reached within
    /// [`Options::push_timeout`].
    pub async fn add(&self, name: impl Into<String>, ttl: Duration) -> Result<Member, Error> {
        let inner = &*self.inner;
        let name = name.into();
        let seconds = i64::try_from(ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0))
            .unwrap_or(i64::MAX)
            .max(1);
        let grant = follow::retry(
            &inner.options,
            inner.options.push_timeout,
            "lease grant",
            || {
                let mut leases = inner.client.lease_client();
                async move { leases.grant(seconds, None).await }
            },
        )
        .await?;
        let lease = grant.id();
        let granted = Duration::from_secs(u64::try_from(grant.ttl()).unwrap_or(1));
        let joined = [&inner.prefix[..], JOINED.as_bytes(), name.as_bytes()].concat();
        let alive = [&inner.prefix[..], ALIVE.as_bytes(), name.as_bytes()].concat();
        // First join of this name: the joined key (no lease) and the lease key together.
        // Retrying is safe: a repeat finds the joined key, and the lease key tells whose it is.
        let txn = Txn::new()
            .when([Compare::create_revision(
                joined.clone(),
                CompareOp::Equal,
                0,
            )])
            .and_then([
                TxnOp::put(joined, "", None),
                TxnOp::put(alive.clone(), "", Some(PutOptions::new().with_lease(lease))),
            ])
            .or_else([TxnOp::get(alive, None)]);
        let response = follow::retry(
            &inner.options,
            inner.options.push_timeout,
            "WaitGroup::add",
            || {
                let mut kv = inner.client.kv_client();
                let txn = txn.clone();
                async move { kv.txn(txn).await }
            },
        )
        .await;
        let joined_now = match &response {
            Ok(r) if r.succeeded() => true,
            Ok(r) => r.op_responses().into_iter().any(|op| {
                matches!(op, etcd_client::TxnOpResponse::Get(get)
                    if get.kvs().first().is_some_and(|kv| kv.lease() == lease))
            }),
            Err(_) => false,
        };
        if !joined_now {
            let mut leases = inner.client.lease_client();
            let _ = tokio::time::timeout(inner.options.request_timeout, leases.revoke(lease)).await;
            response?;
            return Err(Error::DuplicateMember { name });
        }
        Ok(Member::start(
            name,
            inner.prefix.clone(),
            lease,
            granted,
            inner.client.clone(),
            inner.options.clone(),
            inner.handle.clone(),
        ))
    }

    /// Sets how many members the master waits for: [`wait`](Self::wait) returns once `n`
    /// members have ended and none is alive. Call it before or after the workers join.
    pub fn expect(&self, n: usize) {
        self.state().update(|s| s.expected = n);
    }

    /// The members as last seen, or `None` before the first read of the group's keys (which
    /// this call starts if nothing did).
    #[must_use]
    pub fn roster(&self) -> Option<Roster> {
        let state = self.state().get();
        state.loaded.then(|| state.roster.clone())
    }

    /// Waits until `predicate` holds on the roster (checked on the first read, then at every
    /// change), and returns that roster: for a master that reacts to members ending (hand a
    /// lost worker's tasks to others) before it waits for the end.
    pub async fn wait_until<P>(&self, mut predicate: P) -> Roster
    where
        P: FnMut(&Roster) -> bool,
    {
        let state = self.state();
        let roster = state
            .wait_until_async(|s| s.loaded && predicate(&s.roster))
            .await
            .roster
            .clone();
        roster
    }

    /// Waits until the expected number of members (see [`expect`](Self::expect)) have ended
    /// and none is alive, and returns how they ended.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a group that was closed.
    pub async fn wait(&self) -> Result<Outcome, Error> {
        let state = self.state();
        let outcome = state
            .wait_until_async(GroupState::finished)
            .await
            .roster
            .outcome();
        Ok(outcome)
    }

    /// Like [`wait`](Self::wait), giving up after `timeout` (`Ok(None)`). With a zero
    /// timeout, says whether the group has finished now.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub async fn wait_for(&self, timeout: Duration) -> Result<Option<Outcome>, Error> {
        match tokio::time::timeout(timeout, self.wait()).await {
            Ok(outcome) => outcome.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// [`wait`](Self::wait) for plain threads: runs it on the runtime the group was opened on.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    ///
    /// # Panics
    ///
    /// When called inside a tokio runtime: use `wait().await` there.
    #[track_caller]
    pub fn wait_blocking(&self) -> Result<Outcome, Error> {
        runtime::block_on(
            &self.inner.handle,
            "WaitGroup::wait_blocking",
            "WaitGroup::wait",
            self.wait(),
        )
    }

    /// Deletes every key of the group (all rounds' members), so that the prefix can serve a
    /// new round. Members still alive lose their keys and are no longer counted anywhere:
    /// clear a finished round only.
    ///
    /// # Errors
    ///
    /// [`Error::Etcd`] / [`Error::Timeout`] if etcd could not be reached.
    pub async fn clear(&self) -> Result<(), Error> {
        let inner = &*self.inner;
        follow::retry(
            &inner.options,
            inner.options.push_timeout,
            "WaitGroup::clear",
            || {
                let mut kv = inner.client.kv_client();
                let prefix = inner.prefix.clone();
                async move {
                    kv.delete(prefix, Some(DeleteOptions::new().with_prefix()))
                        .await
                }
            },
        )
        .await?;
        Ok(())
    }

    /// The health of the group's watch (started by the first call that needs the roster).
    #[must_use]
    pub fn status(&self) -> Status {
        self.inner.status.snapshot()
    }

    /// The group's state, its watch started if it was not.
    fn state(&self) -> &Cell<GroupState> {
        let inner = &*self.inner;
        inner.follower.get_or_init(|| {
            let sink = GroupSink {
                prefix: inner.prefix.clone(),
                keys: Keys::default(),
                next: 0,
                state: Arc::clone(&inner.state),
            };
            let range = Range {
                key: inner.prefix.clone(),
                prefix: true,
            };
            Follower::new(
                inner.client.clone(),
                range,
                sink,
                inner.options.clone(),
                Arc::clone(&inner.status),
            )
            .spawn(&inner.handle, true)
        });
        &inner.state
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("prefix", &String::from_utf8_lossy(&self.inner.prefix))
            .field("status", &self.inner.status.snapshot())
            .finish_non_exhaustive()
    }
}

/// Keeps a group's roster up to date from its keys.
struct GroupSink {
    prefix: Vec<u8>,
    keys: Keys,
    /// The first revision not reflected.
    next: i64,
    state: Arc<Cell<GroupState>>,
}

impl GroupSink {
    fn relative<'k>(&self, key: &'k [u8]) -> Option<&'k [u8]> {
        key.strip_prefix(&self.prefix[..])
    }

    fn publish(&self) {
        let roster = self.keys.roster();
        self.state.update(|s| {
            s.loaded = true;
            s.roster = roster;
        });
    }
}

impl Sink for GroupSink {
    fn reset(&mut self, kvs: &[KeyValue], revision: i64) {
        let mut keys = Keys::default();
        for kv in kvs {
            if let Some(key) = self.relative(kv.key()) {
                keys.set(key, true);
            }
        }
        self.keys = keys;
        self.next = revision + 1;
        self.publish();
    }

    fn apply(&mut self, events: &[Event]) {
        for event in events {
            let Some(kv) = event.kv() else { continue };
            if let Some(key) = self.relative(kv.key()) {
                let present = event.event_type() == EventType::Put;
                let key = key.to_vec();
                self.keys.set(&key, present);
            }
            self.next = self.next.max(kv.mod_revision() + 1);
        }
        // One publish per response: a response holds whole transactions, so the roster never
        // shows a member half-way through `done` (lease key gone, done key not yet there).
        self.publish();
    }

    fn resume_from(&self) -> i64 {
        self.next
    }
}
