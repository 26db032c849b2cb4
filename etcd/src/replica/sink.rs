//! How a replica's watch applies what it receives to the local copy.

use crate::codec::{decode_caught, Codec};
use crate::follow::Sink;
use crate::local::Local;
use crate::status::StatusCell;
use etcd_client::{Event, EventType, KeyValue};
use std::marker::PhantomData;
use std::sync::Arc;

pub(crate) struct ReplicaSink<T, C> {
    pub(crate) local: Arc<Local<T>>,
    pub(crate) codec: Arc<C>,
    pub(crate) status: Arc<StatusCell>,
    pub(crate) _value: PhantomData<fn() -> T>,
}

impl<T: Send + Sync + 'static, C: Codec<T>> ReplicaSink<T, C> {
    /// A value of the key at `kv.mod_revision()`: applied if newer and decodable.
    fn offer(&self, kv: &KeyValue) {
        let revision = kv.mod_revision();
        if revision <= self.local.revision() {
            // Already held (typically this replica's own push, applied when it committed).
            self.local.advance(revision);
            return;
        }
        match decode_caught(&*self.codec, kv.value()) {
            Ok(value) => {
                self.local.apply(revision, value);
            }
            Err(e) => {
                let held = self.local.revision();
                self.status.update(|s| {
                    s.rejected += 1;
                    s.last_error = Some(format!(
                        "the value at revision {revision} does not decode ({e}): not applied, keeping the value of revision {held}"
                    ));
                });
                self.local.advance(revision);
            }
        }
    }

    fn deleted(&self, revision: i64) {
        let held = self.local.revision();
        self.status.error(format!(
            "the key was deleted by another client (revision {revision}): keeping the value of revision {held} until a new value is put"
        ));
        self.local.advance(revision);
    }
}

impl<T: Send + Sync + 'static, C: Codec<T>> Sink for ReplicaSink<T, C> {
    fn reset(&mut self, kvs: &[KeyValue], revision: i64) {
        match kvs.first() {
            Some(kv) => self.offer(kv),
            None => self.deleted(revision),
        }
        self.local.advance(revision);
    }

    fn apply(&mut self, events: &[Event]) {
        // Latest-value semantics: only the last change of a response matters; the ones before
        // it are superseded (and not decoded).
        let Some(last) = events.last() else { return };
        let Some(kv) = last.kv() else { return };
        match last.event_type() {
            EventType::Put => self.offer(kv),
            EventType::Delete => self.deleted(kv.mod_revision()),
        }
    }

    fn resume_from(&self) -> i64 {
        self.local.progress() + 1
    }
}
