//! [`Replica<T>`]: one etcd key, mirrored locally, pushed to with compare-and-put.

mod commit;
mod sink;

use crate::codec::{decode_caught, Codec, Json};
use crate::follow::{self, AbortOnDrop, Follower, Range};
use crate::local::{Local, ReadGuard, ReplicaPuller, OPEN_WHILE_HELD};
use crate::status::{Status, StatusCell};
use crate::{runtime, Error, Options};
use commit::{Outcome, Writer};
use etcd_client::{Client, Compare, CompareOp, KeyValue, Txn, TxnOp, TxnOpResponse};
use sink::ReplicaSink;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio::time::{sleep, Instant};

/// A value stored under one etcd key, mirrored in this process, that any number of processes
/// push to and pull from: pushpull's [`Shared<T>`](pushpull::Shared) across machines.
///
/// * **Reads are local**: [`read`](Self::read), [`revision`](Self::revision), pullers and
///   waits use the local copy (a pushpull `Shared<T>`), never the network. A background task
///   on the runtime the replica was opened on keeps it up to date with a watch.
/// * **Pushes are linearizable**: [`push`](Self::push) applies a closure to the latest value
///   this replica knows and commits it with a compare on the key's `mod_revision`; on conflict
///   it retries from the value etcd returned. No update is lost, whatever the number of
///   processes. It returns the revision it committed at, and the local copy already shows it.
/// * **Nothing else writes the local copy**: there is no `&Shared` to `write()` through.
///
/// The handle is cheap to clone; the background task stops when the last clone is dropped.
///
/// ```no_run
/// use pushpull_etcd::Replica;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = pushpull_etcd::connect(["localhost:2379"]).await?;
/// let counter = Replica::open(client, "demo/counter", 0u64).await?;
/// let revision = counter.push(|n| *n += 1).await?; // nothing lost, across processes
/// assert!(counter.revision() >= revision);          // read your writes
/// println!("now {}", *counter.read());              // local, no network trip
/// # Ok(()) }
/// ```
pub struct Replica<T, C = Json> {
    inner: Arc<Inner<T, C>>,
}

struct Inner<T, C> {
    key: Vec<u8>,
    local: Arc<Local<T>>,
    status: Arc<StatusCell>,
    writer: Writer,
    client: Client,
    codec: Arc<C>,
    options: Options,
    handle: Handle,
    _follower: AbortOnDrop,
}

impl<T, C> Clone for Replica<T, C> {
    fn clone(&self) -> Self {
        Replica {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> Replica<T, Json>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    /// Opens the replica of `key`, creating the key with `init` if it does not exist, and
    /// starts following it on the current tokio runtime. Values are JSON ([`Json`]); default
    /// [`Options`].
    ///
    /// Creation is a transaction on `create_revision == 0`: of several processes opening the
    /// same missing key at once, exactly one creates it, and all of them start from that value.
    /// The client should be made with `require_leader` (see [`connect`](crate::connect)).
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] if the key holds a value the codec cannot decode; [`Error::Etcd`] or
    /// [`Error::Timeout`] if etcd cannot be reached within [`Options::push_timeout`];
    /// [`Error::NoRuntime`] outside a tokio runtime.
    pub async fn open(client: Client, key: impl Into<Vec<u8>>, init: T) -> Result<Self, Error> {
        Self::open_with(client, key, init, Json, Options::default()).await
    }
}

impl<T, C> Replica<T, C>
where
    T: Send + Sync + 'static,
    C: Codec<T>,
{
    /// [`open`](Replica::open) with a codec of your choice and [`Options`].
    ///
    /// # Errors
    ///
    /// As [`open`](Replica::open); [`Error::Encode`] if `init` does not encode.
    pub async fn open_with(
        client: Client,
        key: impl Into<Vec<u8>>,
        init: T,
        codec: C,
        options: Options,
    ) -> Result<Self, Error> {
        let handle = runtime::current()?;
        let key = key.into();
        let bytes = codec.encode(&init).map_err(Error::Encode)?;
        // Retrying is safe: a repeated create finds the key and reads it instead.
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key.clone(), bytes, None)])
            .or_else([TxnOp::get(key.clone(), None)]);
        let response = follow::retry(&options, options.push_timeout, "open", || {
            let mut kv = client.kv_client();
            let txn = txn.clone();
            async move { kv.txn(txn).await }
        })
        .await?;
        let store_revision = response.header().map_or(0, |h| h.revision());
        let (value, revision) = if response.succeeded() {
            (init, store_revision)
        } else {
            // The compare failed, so the key exists, and the Get of the same transaction saw
            // it (a transaction is atomic); a missing value would be etcd's fault.
            let kv = response
                .op_responses()
                .into_iter()
                .find_map(|op| match op {
                    TxnOpResponse::Get(mut get) => get.take_kvs().into_iter().next(),
                    _ => None,
                })
                .ok_or(Error::Deleted {
                    revision: store_revision,
                })?;
            let value = decode_caught(&codec, kv.value()).map_err(|source| Error::Decode {
                revision: kv.mod_revision(),
                source,
            })?;
            (value, kv.mod_revision())
        };
        let local = Arc::new(Local::new(value, revision, store_revision));
        let status = Arc::new(StatusCell::default());
        let codec = Arc::new(codec);
        let sink = ReplicaSink {
            local: Arc::clone(&local),
            codec: Arc::clone(&codec),
            status: Arc::clone(&status),
            _value: PhantomData,
        };
        let range = Range {
            key: key.clone(),
            prefix: false,
        };
        let follower = Follower::new(
            client.clone(),
            range,
            sink,
            options.clone(),
            Arc::clone(&status),
        )
        .spawn(&handle, false);
        Ok(Replica {
            inner: Arc::new(Inner {
                writer: Writer::new(client.clone(), key.clone(), options.clone()),
                key,
                local,
                status,
                client,
                codec,
                options,
                handle,
                _follower: follower,
            }),
        })
    }

    /// A read guard on the local copy (no network trip). Do not hold it while pushing to this
    /// replica from the same thread, nor for long: the watch task waits for readers to apply
    /// a change.
    pub fn read(&self) -> ReadGuard<'_, T> {
        self.inner.local.read()
    }

    /// The etcd `mod_revision` of the value held locally.
    #[must_use]
    pub fn revision(&self) -> i64 {
        self.inner.local.revision()
    }

    /// The local value together with its revision, consistent with each other.
    pub fn read_with_revision(&self) -> (ReadGuard<'_, T>, i64) {
        self.inner.local.read_with_revision()
    }

    /// A cursor over the local copy that sees every change this replica applies (see
    /// [`ReplicaPuller`]), starting at the current local version. Create it before spawning
    /// the thread or task that pulls, and move it in.
    #[must_use]
    pub fn puller_arc(&self) -> ReplicaPuller<T> {
        self.inner.local.puller()
    }

    /// Blocks until `predicate` holds on the local copy (checked first, then at every change
    /// the replica applies). A plain blocking wait: call it from a thread, not a task.
    pub fn wait_until(&self, predicate: impl FnMut(&T) -> bool) -> ReadGuard<'_, T> {
        self.inner
            .local
            .wait_until(predicate)
            .expect(OPEN_WHILE_HELD)
    }

    /// The async twin of [`wait_until`](Self::wait_until): cancel-safe, needs no particular
    /// executor.
    pub fn wait_until_async<'a, P>(
        &'a self,
        predicate: P,
    ) -> impl Future<Output = ReadGuard<'a, T>> + 'a
    where
        P: FnMut(&T) -> bool + 'a,
    {
        let wait = self.inner.local.wait_until_async(predicate);
        async move { wait.await.expect(OPEN_WHILE_HELD) }
    }

    /// Waits until the local copy has caught up with revision `revision`: then
    /// [`read`](Self::read) shows the key's value as of that revision or later. For "process A
    /// pushes, tells B the revision it got, B waits for it and reads what A wrote".
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a replica that was closed.
    pub async fn wait_revision(&self, revision: i64) -> Result<(), Error> {
        self.inner.local.wait_progress(revision).await;
        Ok(())
    }

    /// The health of the watch that keeps the local copy up to date.
    #[must_use]
    pub fn status(&self) -> Status {
        self.inner.status.snapshot()
    }

    /// The key this replica follows.
    #[must_use]
    pub fn key(&self) -> &[u8] {
        &self.inner.key
    }

    /// The etcd client this replica uses.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Pushes a change: applies `f` to a copy of the latest value this replica knows and
    /// commits it if the key is still at that value's revision; if another process got there
    /// first, applies `f` again to the value etcd returned, and so on (after two lost races in
    /// a row, with a jittered backoff). `f` may therefore run several times: keep it free of
    /// side effects. Returns the revision committed at; when it returns, [`read`](Self::read)
    /// on this replica shows that revision or a later one.
    ///
    /// A commit whose answer is lost (the connection dropped, the request timed out) is never
    /// applied twice: the push finds out whether it was applied before deciding anything
    /// (see the crate docs, "Pushes whose answer is lost").
    ///
    /// # Errors
    ///
    /// [`Error::Contention`] after [`Options::max_push_attempts`] lost races;
    /// [`Error::OutcomeUnknown`] if a commit's answer was lost and the push could not find
    /// out within [`Options::push_timeout`]; [`Error::Deleted`] if another client deleted the
    /// key; [`Error::Decode`] if the key holds a value this codec cannot decode;
    /// [`Error::Encode`]; [`Error::Etcd`] for a request etcd refused.
    pub async fn push<F>(&self, mut f: F) -> Result<i64, Error>
    where
        F: FnMut(&mut T),
        T: Clone,
    {
        let inner = &*self.inner;
        let deadline = Instant::now() + inner.options.push_timeout;
        let (mut base, mut base_revision) = {
            let (guard, revision) = inner.local.read_with_revision();
            (T::clone(&guard), revision)
        };
        let mut backoff =
            crate::backoff::Backoff::new(inner.options.retry_min, inner.options.retry_max);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut next = base;
            f(&mut next);
            let bytes = inner.codec.encode(&next).map_err(Error::Encode)?;
            match inner
                .writer
                .compare_and_put(base_revision, bytes, deadline)
                .await?
            {
                Outcome::Committed(revision) => {
                    inner.local.apply(revision, next);
                    return Ok(revision);
                }
                Outcome::Moved {
                    current: Some(kv), ..
                } => {
                    base = self.adopt(&kv)?;
                    base_revision = kv.mod_revision();
                }
                Outcome::Moved {
                    current: None,
                    revision,
                } => return Err(Error::Deleted { revision }),
            }
            if attempts >= inner.options.max_push_attempts || Instant::now() >= deadline {
                return Err(Error::Contention {
                    attempts,
                    current: base_revision,
                });
            }
            if attempts >= 2 {
                sleep(backoff.next_delay()).await;
            }
        }
    }

    /// Compare-and-push: applies `f` and commits only if the key is still at revision `seen`
    /// (a revision this or another replica returned or showed). Of several pushes at the same
    /// `seen`, across all processes, exactly one wins. No retry.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] with the key's current revision if it moved past `seen` (`f` did
    /// not run, or its result was discarded); otherwise as [`push`](Self::push).
    pub async fn push_at<F>(&self, seen: i64, f: F) -> Result<i64, Error>
    where
        F: FnOnce(&mut T),
        T: Clone,
    {
        let inner = &*self.inner;
        let deadline = Instant::now() + inner.options.push_timeout;
        let (mut value, revision) = {
            let (guard, revision) = inner.local.read_with_revision();
            (T::clone(&guard), revision)
        };
        if revision > seen {
            return Err(Error::Conflict { current: revision });
        }
        if revision < seen {
            // The local copy has not caught up with `seen` yet: read the key itself.
            let response = follow::retry(&inner.options, inner.options.push_timeout, "get", || {
                let mut kv = inner.client.kv_client();
                let key = inner.key.clone();
                async move { kv.get(key, None).await }
            })
            .await?;
            let store_revision = response.header().map_or(0, |h| h.revision());
            let Some(kv) = response.kvs().first() else {
                return Err(Error::Deleted {
                    revision: store_revision,
                });
            };
            value = self.adopt(kv)?;
            if kv.mod_revision() != seen {
                return Err(Error::Conflict {
                    current: kv.mod_revision(),
                });
            }
        }
        f(&mut value);
        let bytes = inner.codec.encode(&value).map_err(Error::Encode)?;
        match inner.writer.compare_and_put(seen, bytes, deadline).await? {
            Outcome::Committed(revision) => {
                inner.local.apply(revision, value);
                Ok(revision)
            }
            Outcome::Moved {
                current: Some(kv), ..
            } => {
                // Publish what was learned; a value that does not decode changes nothing here.
                let _ = self.adopt(&kv);
                Err(Error::Conflict {
                    current: kv.mod_revision(),
                })
            }
            Outcome::Moved {
                current: None,
                revision,
            } => Err(Error::Deleted { revision }),
        }
    }

    /// Decodes a value read from etcd, publishing it locally if it is newer than the copy.
    fn adopt(&self, kv: &KeyValue) -> Result<T, Error>
    where
        T: Clone,
    {
        let value =
            decode_caught(&*self.inner.codec, kv.value()).map_err(|source| Error::Decode {
                revision: kv.mod_revision(),
                source,
            })?;
        if kv.mod_revision() > self.inner.local.revision() {
            self.inner.local.apply(kv.mod_revision(), value.clone());
        }
        Ok(value)
    }

    /// [`push`](Self::push) for plain threads: runs it on the runtime the replica was opened
    /// on.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    ///
    /// # Panics
    ///
    /// When called inside a tokio runtime (a task, a `block_on`, a `spawn_blocking` thread):
    /// use `push(..).await` there. The runtime must be running: a multi-thread runtime, or a
    /// current-thread one that another thread drives.
    #[track_caller]
    pub fn push_blocking<F>(&self, f: F) -> Result<i64, Error>
    where
        F: FnMut(&mut T),
        T: Clone,
    {
        runtime::block_on(
            &self.inner.handle,
            "Replica::push_blocking",
            "Replica::push",
            self.push(f),
        )
    }

    /// [`push_at`](Self::push_at) for plain threads (see [`push_blocking`](Self::push_blocking)).
    ///
    /// # Errors
    ///
    /// As [`push_at`](Self::push_at).
    ///
    /// # Panics
    ///
    /// When called inside a tokio runtime: use `push_at(..).await` there.
    #[track_caller]
    pub fn push_at_blocking<F>(&self, seen: i64, f: F) -> Result<i64, Error>
    where
        F: FnOnce(&mut T),
        T: Clone,
    {
        runtime::block_on(
            &self.inner.handle,
            "Replica::push_at_blocking",
            "Replica::push_at",
            self.push_at(seen, f),
        )
    }

    /// [`wait_revision`](Self::wait_revision) for plain threads.
    ///
    /// # Errors
    ///
    /// As [`wait_revision`](Self::wait_revision).
    ///
    /// # Panics
    ///
    /// When called inside a tokio runtime: use `wait_revision(..).await` there.
    #[track_caller]
    pub fn wait_revision_blocking(&self, revision: i64) -> Result<(), Error> {
        runtime::block_on(
            &self.inner.handle,
            "Replica::wait_revision_blocking",
            "Replica::wait_revision",
            self.wait_revision(revision),
        )
    }
}

impl<T: fmt::Debug, C> fmt::Debug for Replica<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut d = f.debug_struct("Replica");
        d.field("key", &String::from_utf8_lossy(&inner.key));
        match inner.local.try_read_with_revision() {
            Some((value, revision)) => d.field("value", &*value).field("revision", &revision),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.field("status", &inner.status.snapshot()).finish()
    }
}
