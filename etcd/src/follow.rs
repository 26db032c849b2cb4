//! Following a key (or a prefix) in etcd: the watch state machine every replica and group
//! runs on its background task.
//!
//! Modelled on kube-rs's `watcher` (list, then watch from the list's revision; on "too old",
//! list again), with etcd's own rules for resumable watches:
//!
//! ```text
//!            ┌──────────── compacted (canceled with compact_revision) ─────────────┐
//!            ▼                                                                    │
//!        [Resync] ──Get ok──▶ [Connect] ──created──▶ [Watching] ──events──▶ [Watching]
//!            │                   │  ▲                    │
//!        Get failed        failed │  │ delay             │ stream failed / ended / canceled,
//!            ▼                   ▼  │                    │ or silent past the heartbeat
//!        [Backoff → Resync]   [Backoff → Connect] ◀──────┘
//! ```
//!
//! * **Resync**: a linearizable `Get` of the range; the sink replaces its state with it (a
//!   replica publishes the value once, and only if it is newer than the one it holds).
//! * **Connect**: a watch starting at the sink's [`resume_from`](Sink::resume_from): the first
//!   revision it has not reflected (last applied revision + 1, or the re-read's *store*
//!   revision + 1). Never "from now" (that loses what happened while disconnected), never the
//!   last seen revision itself (that delivers it twice). etcd 3.4 answers a start revision
//!   that was compacted by creating the watch and then canceling it with `compact_revision`
//!   set, on a stream that stays open: either response may come first here, and both lead to
//!   Resync (counted in [`Status::resyncs`](crate::Status::resyncs)), never to a silent skip.
//! * **Watching**: events go to the sink, one watch response at a time (etcd never splits a
//!   revision across responses without `fragment`, so the sink always sees whole
//!   transactions). A stream that errors, ends, or is canceled (for instance "no leader" when
//!   the client asked for `require_leader`) goes back to Connect after a backoff. A stream
//!   silent for [`Options::heartbeat`](crate::Options) is asked for progress; silent for as long
//!   again, it is taken for dead (a black-holed connection) and re-created.
//! * **Backoff**: exponential with jitter from `retry_min` to `retry_max`, reset by a watch
//!   that etcd confirmed.
//!
//! Progress notifications are not used to move the resume point: on etcd 3.4 the answer to a
//! progress request can overtake events still queued for a watcher that is catching up (3.5
//! fixed it), so the only revisions trusted are those of events applied and of re-reads.

use crate::codec::panic_message;
use crate::{backoff::Backoff, status::StatusCell, Options};
use etcd_client::{Client, Event, GetOptions, KeyValue, WatchOptions, WatchStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, sleep_until, timeout, Instant, Sleep};

/// What a follower keeps up to date.
pub(crate) trait Sink: Send + 'static {
    /// Replace the state by a fresh read of the range at store revision `revision`.
    fn reset(&mut self, kvs: &[KeyValue], revision: i64);
    /// Apply the events of one watch response, in revision order.
    fn apply(&mut self, events: &[Event]);
    /// The first revision not reflected yet: where a (re)created watch starts.
    fn resume_from(&self) -> i64;
}

/// The range followed: one key, or every key under a prefix.
#[derive(Clone, Debug)]
pub(crate) struct Range {
    pub(crate) key: Vec<u8>,
    pub(crate) prefix: bool,
}

/// Where the state machine is.
enum State {
    Resync,
    Connect,
    Watching(Box<Watching>),
    Backoff(Next),
}

/// Where a backoff leads.
#[derive(Clone, Copy, Debug)]
enum Next {
    Resync,
    Connect,
}

/// An established watch.
struct Watching {
    stream: WatchStream,
    /// When the stream last delivered anything.
    heard: Instant,
    /// A progress request is outstanding since the last time the stream spoke.
    asked: bool,
    /// Fires at the earliest moment the stream may have been silent too long; re-armed lazily
    /// (when it fires early), so that a busy stream costs no timer update per message.
    alarm: Pin<Box<Sleep>>,
}

/// The first response to a watch creation.
enum Created {
    Watching(Box<WatchStream>),
    Compacted(i64),
    Canceled(String),
}

pub(crate) struct Follower<S> {
    client: Client,
    range: Range,
    sink: S,
    options: Options,
    status: Arc<StatusCell>,
    backoff: Backoff,
    watches: u64,
}

impl<S: Sink> Follower<S> {
    pub(crate) fn new(
        client: Client,
        range: Range,
        sink: S,
        options: Options,
        status: Arc<StatusCell>,
    ) -> Self {
        let backoff = Backoff::new(options.retry_min, options.retry_max);
        Follower {
            client,
            range,
            sink,
            options,
            status,
            backoff,
            watches: 0,
        }
    }

    /// Starts following on `handle`, from a watch at the sink's resume point (the caller made
    /// the first read), or from a first read if `read_first`. The task stops when the returned
    /// guard is dropped.
    pub(crate) fn spawn(self, handle: &tokio::runtime::Handle, read_first: bool) -> AbortOnDrop {
        let start = if read_first {
            State::Resync
        } else {
            State::Connect
        };
        AbortOnDrop(handle.spawn(self.run(start)))
    }

    async fn run(mut self, mut state: State) {
        loop {
            state = match state {
                State::Resync => self.resync().await,
                State::Connect => self.connect().await,
                State::Watching(watching) => self.watching(watching).await,
                State::Backoff(next) => {
                    sleep(self.backoff.next_delay()).await;
                    match next {
                        Next::Resync => State::Resync,
                        Next::Connect => State::Connect,
                    }
                }
            };
        }
    }

    async fn resync(&mut self) -> State {
        let mut options = GetOptions::new();
        if self.range.prefix {
            options = options.with_prefix();
        }
        let mut kv = self.client.kv_client();
        match timeout(
            self.options.request_timeout,
            kv.get(self.range.key.clone(), Some(options)),
        )
        .await
        {
            Ok(Ok(response)) => {
                let revision = response.header().map_or(0, |h| h.revision());
                let sink = &mut self.sink;
                self.status.guard("applying a re-read", || {
                    sink.reset(response.kvs(), revision);
                });
                State::Connect
            }
            Ok(Err(e)) => self.retry(Next::Resync, format!("re-read failed: {e}")),
            Err(_) => self.retry(
                Next::Resync,
                format!(
                    "re-read got no answer within {:?}",
                    self.options.request_timeout
                ),
            ),
        }
    }

    async fn connect(&mut self) -> State {
        let from = self.sink.resume_from();
        let mut options = WatchOptions::new().with_start_revision(from);
        if self.range.prefix {
            options = options.with_prefix();
        }
        let mut client = self.client.watch_client();
        let key = self.range.key.clone();
        let created = timeout(self.options.request_timeout, async move {
            let mut stream = client.watch(key, Some(options)).await?;
            let first = stream.message().await?;
            Ok::<_, etcd_client::Error>(match first {
                None => Created::Canceled("the stream ended before the watch was created".into()),
                Some(r) if r.canceled() && r.compact_revision() > 0 => {
                    Created::Compacted(r.compact_revision())
                }
                Some(r) if r.canceled() => Created::Canceled(r.cancel_reason().to_owned()),
                Some(_) => Created::Watching(Box::new(stream)),
            })
        })
        .await;
        match created {
            Ok(Ok(Created::Watching(stream))) => {
                self.watches += 1;
                let reconnect = self.watches > 1;
                self.status.update(|s| {
                    s.connected = true;
                    s.reconnects += u64::from(reconnect);
                });
                self.backoff.reset();
                let heard = Instant::now();
                State::Watching(Box::new(Watching {
                    stream: *stream,
                    heard,
                    asked: false,
                    alarm: Box::pin(sleep_until(heard + self.options.heartbeat)),
                }))
            }
            Ok(Ok(Created::Compacted(compacted))) => self.compacted(from, compacted),
            Ok(Ok(Created::Canceled(reason))) => {
                self.retry(Next::Connect, format!("etcd refused the watch: {reason}"))
            }
            Ok(Err(e)) => self.retry(Next::Connect, format!("watch failed: {e}")),
            Err(_) => self.retry(
                Next::Connect,
                format!(
                    "watch not created within {:?}",
                    self.options.request_timeout
                ),
            ),
        }
    }

    async fn watching(&mut self, mut w: Box<Watching>) -> State {
        let quiet_limit = self.options.heartbeat * if w.asked { 2 } else { 1 };
        tokio::select! {
            message = w.stream.message() => match message {
                Ok(Some(response)) => {
                    w.heard = Instant::now();
                    w.asked = false;
                    if response.canceled() {
                        self.status.update(|s| s.connected = false);
                        if response.compact_revision() > 0 {
                            let from = self.sink.resume_from();
                            return self.compacted(from, response.compact_revision());
                        }
                        let reason = format!("etcd canceled the watch: {}", response.cancel_reason());
                        return self.retry(Next::Connect, reason);
                    }
                    let events = response.events();
                    if !events.is_empty() {
                        self.status.update(|s| s.events += events.len() as u64);
                        let sink = &mut self.sink;
                        self.status.guard("applying watch events", || sink.apply(events));
                    }
                    State::Watching(w)
                }
                Ok(None) => self.lost("the watch stream ended".into()),
                Err(e) => self.lost(format!("the watch stream failed: {e}")),
            },
            () = &mut w.alarm => {
                let due = w.heard + quiet_limit;
                if Instant::now() < due {
                    // The stream spoke since the alarm was set: not silent yet.
                    w.alarm.as_mut().reset(due);
                    return State::Watching(w);
                }
                if w.asked {
                    return self.lost(format!("the watch was silent for {quiet_limit:?}, even when asked for progress"));
                }
                // Any answer proves the stream alive; a failed send shows up as a stream error.
                let _ = w.stream.request_progress().await;
                w.asked = true;
                w.alarm.as_mut().reset(w.heard + self.options.heartbeat * 2);
                State::Watching(w)
            }
        }
    }

    fn compacted(&mut self, from: i64, compacted: i64) -> State {
        self.status.update(|s| {
            s.connected = false;
            s.resyncs += 1;
            s.last_error = Some(format!(
                "the history from revision {from} was compacted (up to {compacted}): re-reading"
            ));
        });
        State::Resync
    }

    fn lost(&mut self, error: String) -> State {
        self.status.update(|s| s.connected = false);
        self.retry(Next::Connect, error)
    }

    fn retry(&mut self, next: Next, error: String) -> State {
        self.status.error(error);
        State::Backoff(next)
    }
}

impl StatusCell {
    /// Runs sink code (which runs user code: codecs, `Drop` of values) so that a panic in it
    /// is reported in the status instead of killing the task silently.
    fn guard(&self, what: &str, f: impl FnOnce()) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(f)) {
            self.error(format!("{what} panicked: {}", panic_message(&*panic)));
        }
    }
}

/// Aborts a background task when dropped (when the last handle of its owner goes).
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs an idempotent request with retries: each attempt bounded by the request timeout,
/// failures retried with backoff until `budget` is spent.
pub(crate) async fn retry<R, F, Fut>(
    options: &Options,
    budget: Duration,
    what: &'static str,
    mut attempt: F,
) -> Result<R, crate::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<R, etcd_client::Error>>,
{
    let deadline = Instant::now() + budget;
    let mut backoff = Backoff::new(options.retry_min, options.retry_max);
    loop {
        let error = match timeout(options.request_timeout, attempt()).await {
            Ok(Ok(r)) => return Ok(r),
            Ok(Err(e)) if !is_transient(&e) => return Err(crate::Error::Etcd(e)),
            Ok(Err(e)) => crate::Error::Etcd(e),
            Err(_) => crate::Error::Timeout {
                what,
                after: options.request_timeout,
            },
        };
        let delay = backoff.next_delay();
        if Instant::now() + delay >= deadline {
            return Err(error);
        }
        sleep(delay).await;
    }
}

/// Whether an error may go away by itself (a connection, an election, a timeout), as opposed
/// to a refusal that would repeat (bad request, permissions, quota).
pub(crate) fn is_transient(e: &etcd_client::Error) -> bool {
    use tonic::Code;
    match e {
        etcd_client::Error::GRpcStatus(status) => matches!(
            status.code(),
            Code::Unavailable
                | Code::DeadlineExceeded
                | Code::Unknown
                | Code::Cancelled
                | Code::Internal
                | Code::Aborted
        ),
        etcd_client::Error::TransportError(_)
        | etcd_client::Error::IoError(_)
        | etcd_client::Error::WatchError(_)
        | etcd_client::Error::LeaseKeepAliveError(_) => true,
        _ => false,
    }
}
