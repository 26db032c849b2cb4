//! The compare-and-put every push makes, and what it does when the answer is lost.
//!
//! A push based on revision `base` sends one transaction:
//!
//! ```text
//! If   mod_revision(key) == base
//! Then Put(key, value), Put(key + "\0pushpull-write-id", write_id)
//! Else Get(key), Get(key + "\0pushpull-write-id")
//! ```
//!
//! `write_id` is unique to this attempt. Two facts make a lost answer recoverable:
//!
//! 1. Every attempt based on `base` can only commit as *the first change of the key after
//!    `base`* (its compare says the key has not changed since). So any number of copies of the
//!    same transaction commit at most once between them: resending it is safe.
//! 2. Every write made by this protocol changes the id key in the same revision as the key.
//!    So the attempt committed if and only if the first change of the id key after `base`
//!    carries its `write_id`.
//!
//! When a request fails without an answer (connection dropped, timeout), the same transaction
//! is resent (with backoff, within the push's budget). If a copy succeeds, that is the commit.
//! If the compare fails, the earlier copy may have committed: the id key decides, from the
//! `Else` branch's read if the id key still holds this attempt's id, otherwise from a watch of
//! the id key starting at `base + 1` (its first event). Only if that history was compacted, or etcd stays
//! unreachable for the whole budget, does the push return
//! [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown).

use crate::backoff::random_u64;
use crate::follow::is_transient;
use crate::{backoff::Backoff, Error, Options};
use etcd_client::{
    Client, Compare, CompareOp, KeyValue, Txn, TxnOp, TxnOpResponse, TxnResponse, WatchOptions,
};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::{sleep, timeout, Instant};

/// What a compare-and-put found.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The put committed at this revision.
    Committed(i64),
    /// The key moved past the base: its current state (`None`: it does not exist) and the
    /// store revision of that read.
    Moved {
        current: Option<KeyValue>,
        revision: i64,
    },
}

/// The suffix of the key that records which write made the key's latest change.
const ID_SUFFIX: &[u8] = b"\0pushpull-write-id";

/// The key next to `key` that carries write ids.
pub(crate) fn id_key(key: &[u8]) -> Vec<u8> {
    [key, ID_SUFFIX].concat()
}

/// A write id no other attempt (of this or any process) uses: a per-process random number and
/// a per-process counter.
fn new_write_id() -> Vec<u8> {
    static PROCESS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let process = *PROCESS.get_or_init(random_u64);
    // Relaxed: only uniqueness matters, which the RMW gives in any ordering.
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // `{process:016x}-{n:016x}`, without the formatting machinery (this is on every push).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = Vec::with_capacity(33);
    for (i, word) in [process, n].into_iter().enumerate() {
        if i == 1 {
            id.push(b'-');
        }
        id.extend(
            (0..16)
                .rev()
                .map(|nibble| HEX[((word >> (nibble * 4)) & 0xf) as usize]),
        );
    }
    id
}

pub(crate) struct Writer {
    client: Client,
    key: Vec<u8>,
    id_key: Vec<u8>,
    options: Options,
}

impl Writer {
    pub(crate) fn new(client: Client, key: Vec<u8>, options: Options) -> Self {
        let id_key = id_key(&key);
        Writer {
            client,
            key,
            id_key,
            options,
        }
    }

    /// Puts `value` if the key is still at `base`; resolves lost answers (see the module docs)
    /// until `deadline`.
    pub(crate) async fn compare_and_put(
        &self,
        base: i64,
        value: Vec<u8>,
        deadline: Instant,
    ) -> Result<Outcome, Error> {
        let write_id = new_write_id();
        let txn = Txn::new()
            .when([Compare::mod_revision(
                self.key.clone(),
                CompareOp::Equal,
                base,
            )])
            .and_then([
                TxnOp::put(self.key.clone(), value, None),
                TxnOp::put(self.id_key.clone(), write_id.clone(), None),
            ])
            .or_else([
                TxnOp::get(self.key.clone(), None),
                TxnOp::get(self.id_key.clone(), None),
            ]);
        let mut backoff = Backoff::new(self.options.retry_min, self.options.retry_max);
        // Why an earlier copy of this transaction may have committed unseen.
        let mut uncertain: Option<String> = None;
        loop {
            let mut kv = self.client.kv_client();
            let failure = match timeout(self.options.request_timeout, kv.txn(txn.clone())).await {
                Ok(Ok(response)) => {
                    let revision = response.header().map_or(0, |h| h.revision());
                    if response.succeeded() {
                        return Ok(Outcome::Committed(revision));
                    }
                    let (current, id) = reads(&response);
                    if uncertain.is_none() {
                        return Ok(Outcome::Moved { current, revision });
                    }
                    return self
                        .resolve(base, &write_id, current, id, revision, deadline)
                        .await;
                }
                Ok(Err(e)) if !is_transient(&e) => match uncertain {
                    // A refusal: this copy did nothing, and nothing was sent before it.
                    None => return Err(Error::Etcd(e)),
                    Some(earlier) => {
                        return Err(Error::OutcomeUnknown {
                            base,
                            reason: format!(
                                "an attempt got no answer ({earlier}), and resending it was refused: {e}"
                            ),
                        })
                    }
                },
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {:?}", self.options.request_timeout),
            };
            let delay = backoff.next_delay();
            if Instant::now() + delay >= deadline {
                return Err(Error::OutcomeUnknown {
                    base,
                    reason: format!(
                        "the compare-and-put got no answer ({failure}) and etcd did not answer a resend within the push timeout ({:?})",
                        self.options.push_timeout
                    ),
                });
            }
            uncertain = Some(failure);
            sleep(delay).await;
        }
    }

    /// An earlier copy of the transaction (write id `write_id`, based on `base`) may have
    /// committed; a resend found the key moved. Decides which.
    async fn resolve(
        &self,
        base: i64,
        write_id: &[u8],
        current: Option<KeyValue>,
        id: Option<KeyValue>,
        revision: i64,
        deadline: Instant,
    ) -> Result<Outcome, Error> {
        let moved = |current| Ok(Outcome::Moved { current, revision });
        match &id {
            // Our write is still the latest of this protocol: only our transaction wrote
            // this id, at that revision.
            Some(idkv) if idkv.value() == write_id => {
                return Ok(Outcome::Committed(idkv.mod_revision()));
            }
            // No write of this protocol since `base`: ours did not commit (and never will:
            // the key moved past `base`).
            None => return moved(current),
            Some(idkv) if idkv.mod_revision() <= base => return moved(current),
            Some(_) => {}
        }
        let mut backoff = Backoff::new(self.options.retry_min, self.options.retry_max);
        loop {
            let error = match timeout(self.options.request_timeout, self.first_id_change_after(base))
                .await
            {
                Ok(Ok(FirstChange::Write { revision, id })) => {
                    return if id == write_id {
                        Ok(Outcome::Committed(revision))
                    } else {
                        moved(current)
                    };
                }
                Ok(Ok(FirstChange::Compacted(compacted))) => {
                    return Err(Error::OutcomeUnknown {
                        base,
                        reason: format!(
                            "an attempt got no answer, and the history that would tell (revisions after {base}) was compacted up to {compacted}"
                        ),
                    })
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {:?}", self.options.request_timeout),
            };
            let delay = backoff.next_delay();
            if Instant::now() + delay >= deadline {
                return Err(Error::OutcomeUnknown {
                    base,
                    reason: format!(
                        "an attempt got no answer, and reading the history that would tell failed: {error}"
                    ),
                });
            }
            sleep(delay).await;
        }
    }

    /// The first change of the id key after `base` (which exists: the caller saw a later one).
    async fn first_id_change_after(&self, base: i64) -> Result<FirstChange, etcd_client::Error> {
        let mut watch = self.client.watch_client();
        let options = WatchOptions::new().with_start_revision(base + 1);
        let mut stream = watch.watch(self.id_key.clone(), Some(options)).await?;
        loop {
            let Some(response) = stream.message().await? else {
                return Err(etcd_client::Error::WatchError(
                    "the stream ended before the first event".into(),
                ));
            };
            if response.canceled() {
                if response.compact_revision() > 0 {
                    return Ok(FirstChange::Compacted(response.compact_revision()));
                }
                return Err(etcd_client::Error::WatchError(format!(
                    "etcd canceled the watch: {}",
                    response.cancel_reason()
                )));
            }
            if let Some(kv) = response.events().first().and_then(|e| e.kv()) {
                return Ok(FirstChange::Write {
                    revision: kv.mod_revision(),
                    id: kv.value().to_vec(),
                });
            }
        }
    }
}

enum FirstChange {
    Write { revision: i64, id: Vec<u8> },
    Compacted(i64),
}

/// The key and id key as the `Else` branch read them.
fn reads(response: &TxnResponse) -> (Option<KeyValue>, Option<KeyValue>) {
    let mut found = response.op_responses().into_iter().map(|op| match op {
        TxnOpResponse::Get(mut get) => get.take_kvs().into_iter().next(),
        _ => None,
    });
    let current = found.next().flatten();
    let id = found.next().flatten();
    (current, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_ids_are_unique_and_id_keys_sit_next_to_their_key() {
        let (a, b) = (new_write_id(), new_write_id());
        assert_ne!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert_eq!((text.len(), text.as_bytes()[16]), (33, b'-'));
        assert!(text.replace('-', "").bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(id_key(b"jobs"), b"jobs\0pushpull-write-id");
    }
}
