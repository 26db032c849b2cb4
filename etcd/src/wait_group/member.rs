//! [`Member`]: a worker's place in a group, kept alive by a lease.

use super::roster::{ALIVE, DONE};
use crate::follow::{is_transient, AbortOnDrop};
use crate::{backoff::Backoff, Error, Options};
use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::time::{sleep, timeout, Instant};

/// A worker's membership in a [`WaitGroup`](crate::WaitGroup), from
/// [`WaitGroup::add`](crate::WaitGroup::add): a key under the group's prefix on an etcd lease
/// that a background task keeps alive while the `Member` lives.
///
/// End it with [`done`](Self::done). Dropping it without `done` revokes the lease at once, and
/// a process that dies stops renewing it: either way the group counts the member
/// [`Lost`](crate::MemberState::Lost) (within the lease's TTL and etcd's expiry check, about
/// half a second, for a dead process), so a master never waits for a dead worker.
pub struct Member {
    name: String,
    prefix: Vec<u8>,
    lease: i64,
    ttl: Duration,
    client: Client,
    options: Options,
    handle: Handle,
    health: Arc<Health>,
    keeper: Option<AbortOnDrop>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("name", &self.name)
            .field("lease", &self.lease)
            .field("ttl", &self.ttl)
            .field("alive", &self.is_alive())
            .field("last_error", &self.last_error())
            .finish_non_exhaustive()
    }
}

/// What the keep-alive task has seen.
#[derive(Debug, Default)]
struct Health(Mutex<HealthState>);

#[derive(Debug, Default)]
struct HealthState {
    expired: bool,
    last_error: Option<String>,
}

impl Health {
    fn update(&self, f: impl FnOnce(&mut HealthState)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn read<R>(&self, f: impl FnOnce(&HealthState) -> R) -> R {
        f(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Member {
    pub(crate) fn start(
        name: String,
        prefix: Vec<u8>,
        lease: i64,
        ttl: Duration,
        client: Client,
        options: Options,
        handle: Handle,
    ) -> Member {
        let health = Arc::new(Health::default());
        let keeper = AbortOnDrop(handle.spawn(keep_alive(
            client.clone(),
            lease,
            ttl,
            options.clone(),
            Arc::clone(&health),
        )));
        Member {
            name,
            prefix,
            lease,
            ttl,
            client,
            options,
            handle,
            health,
            keeper: Some(keeper),
        }
    }

    /// The member's name in the group.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The etcd lease that keeps the member alive.
    #[must_use]
    pub fn lease_id(&self) -> i64 {
        self.lease
    }

    /// The lease's TTL as etcd granted it (etcd may raise a short TTL to its minimum).
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// `false` once the keep-alive task found the lease gone (expired or revoked): the group
    /// counted this member lost, and [`done`](Self::done) will return [`Error::Lost`].
    #[must_use]
    pub fn is_alive(&self) -> bool {
        !self.health.read(|h| h.expired)
    }

    /// The last error the keep-alive task met (it retries; a lease it could not renew in time
    /// expires, and then [`is_alive`](Self::is_alive) is `false`).
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.health.read(|h| h.last_error.clone())
    }

    /// Marks the member done: one transaction writes its done key and removes its lease key
    /// (so the group never sees it half-ended), then the lease is revoked.
    ///
    /// # Errors
    ///
    /// [`Error::Lost`] if the member had already ended as lost (its lease expired: the group
    /// counted it lost, and that stays); [`Error::Etcd`] / [`Error::Timeout`] if etcd could not
    /// be reached within [`Options::push_timeout`](crate::Options) (the member stays alive
    /// while its keep-alive runs: retry).
    pub async fn done(mut self) -> Result<(), Error> {
        let alive = [&self.prefix[..], ALIVE.as_bytes(), self.name.as_bytes()].concat();
        let done = [&self.prefix[..], DONE.as_bytes(), self.name.as_bytes()].concat();
        // If the lease key is still ours: done key in, lease key out, in one revision.
        let txn = Txn::new()
            .when([Compare::lease(alive.clone(), CompareOp::Equal, self.lease)])
            .and_then([
                TxnOp::put(done.clone(), "", None),
                TxnOp::delete(alive, None),
            ])
            .or_else([TxnOp::get(done, None)]);
        let deadline = Instant::now() + self.options.push_timeout;
        let mut backoff = Backoff::new(self.options.retry_min, self.options.retry_max);
        let mut uncertain = false;
        let result = loop {
            let mut kv = self.client.kv_client();
            let error = match timeout(self.options.request_timeout, kv.txn(txn.clone())).await {
                Ok(Ok(response)) if response.succeeded() => break Ok(()),
                Ok(Ok(response)) => {
                    // The lease key is gone. If an earlier attempt's answer was lost, it may
                    // have been this very transaction: its done key says so.
                    let done_key_exists = response.op_responses().into_iter().any(|op| {
                        matches!(op, etcd_client::TxnOpResponse::Get(get) if !get.kvs().is_empty())
                    });
                    break if uncertain && done_key_exists {
                        Ok(())
                    } else {
                        Err(Error::Lost {
                            name: self.name.clone(),
                        })
                    };
                }
                Ok(Err(e)) if !is_transient(&e) => break Err(Error::Etcd(e)),
                Ok(Err(e)) => Error::Etcd(e),
                Err(_) => Error::Timeout {
                    what: "Member::done",
                    after: self.options.request_timeout,
                },
            };
            uncertain = true;
            let delay = backoff.next_delay();
            if Instant::now() + delay >= deadline {
                break Err(error);
            }
            sleep(delay).await;
        };
        if result.is_ok() {
            self.keeper = None; // stops renewing
            let mut lease = self.client.lease_client();
            // Best effort: the member is done whatever happens to its lease now.
            let _ = timeout(self.options.request_timeout, lease.revoke(self.lease)).await;
        }
        result
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if self.keeper.take().is_some() {
            // Dropped without `done` (an error path, a panic): end as lost now rather than
            // after the TTL, like a pushpull Token dropped by a panicking worker.
            let mut lease = self.client.lease_client();
            let id = self.lease;
            let limit = self.options.request_timeout;
            self.handle.spawn(async move {
                let _ = timeout(limit, lease.revoke(id)).await;
            });
        }
    }
}

/// Renews the lease every third of its TTL (as etcd's own client does), re-opening the
/// keep-alive stream after errors, until the lease is found gone.
async fn keep_alive(
    client: Client,
    lease: i64,
    ttl: Duration,
    options: Options,
    health: Arc<Health>,
) {
    let period = (ttl / 3).max(Duration::from_millis(100));
    let mut backoff = Backoff::new(options.retry_min, options.retry_max);
    loop {
        let mut leases = client.lease_client();
        let error = match timeout(options.request_timeout, leases.keep_alive(lease)).await {
            Ok(Ok((mut keeper, mut stream))) => {
                backoff.reset();
                loop {
                    sleep(period).await;
                    if let Err(e) = keeper.keep_alive().await {
                        break e.to_string();
                    }
                    match timeout(options.request_timeout, stream.message()).await {
                        Ok(Ok(Some(answer))) if answer.ttl() > 0 => {}
                        Ok(Ok(Some(_))) => {
                            expired(&health, "etcd reports the lease expired");
                            return;
                        }
                        Ok(Ok(None)) => break "the keep-alive stream ended".to_owned(),
                        Ok(Err(e)) => break e.to_string(),
                        Err(_) => {
                            break format!(
                                "no keep-alive answer within {:?}",
                                options.request_timeout
                            )
                        }
                    }
                }
            }
            Ok(Err(etcd_client::Error::LeaseKeepAliveError(e))) if e.contains("not found") => {
                expired(&health, "etcd reports the lease expired");
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no keep-alive answer within {:?}", options.request_timeout),
        };
        health.update(|h| h.last_error = Some(format!("keep-alive: {error}; retrying")));
        sleep(backoff.next_delay()).await;
    }
}

fn expired(health: &Health, why: &str) {
    health.update(|h| {
        h.expired = true;
        h.last_error = Some(format!(
            "keep-alive: {why}: the group counts this member lost"
        ));
    });
}
