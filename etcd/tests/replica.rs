//! A replica against a real etcd: open, push, push_at, wake-ups across replicas, bad input,
//! the blocking variants.

mod support;

use pushpull_etcd::{BoxError, Codec, Error, Json, Options, Replica};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use support::{bounded, client, eventually, raw_client, Etcd, HANG};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_commits_returns_its_revision_and_reads_its_writes() {
    let etcd = Etcd::start();
    let replica = Replica::open(client(&etcd.endpoints()).await, "t/counter", 10u64)
        .await
        .unwrap();
    let opened_at = replica.revision();
    assert_eq!(*replica.read(), 10);
    let r1 = replica.push(|n| *n += 1).await.unwrap();
    assert!(r1 > opened_at);
    // Read your writes: no waiting for the watch.
    assert_eq!((*replica.read(), replica.revision()), (11, r1));
    let r2 = replica.push(|n| *n *= 2).await.unwrap();
    assert!(r2 > r1);
    assert_eq!(*replica.read(), 22);
    // etcd holds what the replica says, at that revision.
    let mut raw = raw_client(&etcd.endpoints()).await;
    let got = raw.get("t/counter", None).await.unwrap();
    assert_eq!(got.kvs()[0].value(), b"22");
    assert_eq!(got.kvs()[0].mod_revision(), r2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_openers_of_a_missing_key_agree_on_one_value() {
    let etcd = Etcd::start();
    let (a, b) = (
        client(&etcd.endpoints()).await,
        client(&etcd.endpoints()).await,
    );
    let (a, b) = tokio::join!(
        Replica::open(a, "t/config", "from a".to_owned()),
        Replica::open(b, "t/config", "from b".to_owned())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(*a.read(), *b.read());
    assert_eq!(a.revision(), b.revision());
    let mut raw = raw_client(&etcd.endpoints()).await;
    let got = raw.get("t/config", None).await.unwrap();
    assert_eq!(
        got.kvs()[0].version(),
        1,
        "created once, never overwritten by the other"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_of_two_push_at_with_the_same_seen_wins() {
    let etcd = Etcd::start();
    let a = Replica::open(client(&etcd.endpoints()).await, "t/slot", 0u32)
        .await
        .unwrap();
    let b = Replica::open(client(&etcd.endpoints()).await, "t/slot", 0u32)
        .await
        .unwrap();
    for round in 0..20u32 {
        let seen = a.revision();
        bounded("b catches up", b.wait_revision(seen))
            .await
            .unwrap();
        assert_eq!(b.revision(), seen);
        let (ra, rb) = tokio::join!(
            a.push_at(seen, |v| *v = 2 * round),
            b.push_at(seen, |v| *v = 2 * round + 1)
        );
        let (winner, loser) = match (ra, rb) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
            (ra, rb) => panic!("round {round}: not exactly one winner: {ra:?} {rb:?}"),
        };
        match loser {
            Error::Conflict { current } => assert_eq!(current, winner, "round {round}"),
            other => panic!("round {round}: the loser got {other:?}"),
        }
        bounded("a sees the winner", a.wait_revision(winner))
            .await
            .unwrap();
        bounded("b sees the winner", b.wait_revision(winner))
            .await
            .unwrap();
        assert_eq!(*a.read(), *b.read());
    }
    // A stale seen never wins, even alone.
    let stale = a.revision() - 1;
    assert!(matches!(
        a.push_at(stale, |v| *v = 99).await,
        Err(Error::Conflict { current }) if current == a.revision()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_push_wakes_a_blocked_thread_wait() {
    let etcd = Etcd::start();
    let a = Replica::open(client(&etcd.endpoints()).await, "t/wake", 0u64)
        .await
        .unwrap();
    let b = Replica::open(client(&etcd.endpoints()).await, "t/wake", 0u64)
        .await
        .unwrap();
    let mut puller = b.puller_arc();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        ready_tx.send(()).unwrap();
        puller.wait_for(HANG).unwrap().map(|v| *v)
    });
    ready_rx.recv().unwrap();
    a.push(|n| *n = 7).await.unwrap();
    let woke = tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
    assert_eq!(
        woke,
        Some(7),
        "the thread's wait was woken by the other replica's push"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_push_wakes_a_task_wait_async_and_wait_until_async() {
    let etcd = Etcd::start();
    let a = Replica::open(client(&etcd.endpoints()).await, "t/wake", 0u64)
        .await
        .unwrap();
    let b = Replica::open(client(&etcd.endpoints()).await, "t/wake", 0u64)
        .await
        .unwrap();
    let mut puller = b.puller_arc();
    let waiting = tokio::spawn(async move { *puller.wait_async().await.unwrap() });
    let b2 = b.clone();
    let until = tokio::spawn(async move { *b2.wait_until_async(|n| *n >= 3).await });
    for _ in 0..3 {
        a.push(|n| *n += 1).await.unwrap();
    }
    let first = bounded("wait_async", waiting).await.unwrap();
    assert!(
        (1..=3).contains(&first),
        "woken with a value a pushed: {first}"
    );
    assert_eq!(bounded("wait_until_async", until).await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_revision_then_read_shows_what_the_other_replica_pushed() {
    let etcd = Etcd::start();
    let a = Replica::open(client(&etcd.endpoints()).await, "t/msg", String::new())
        .await
        .unwrap();
    let b = Replica::open(client(&etcd.endpoints()).await, "t/msg", String::new())
        .await
        .unwrap();
    for i in 0..20 {
        let rev = a.push(|s| *s = format!("message {i}")).await.unwrap();
        bounded("wait_revision", b.wait_revision(rev))
            .await
            .unwrap();
        assert_eq!(*b.read(), format!("message {i}"));
        assert!(b.revision() >= rev);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_does_not_decode_is_rejected_and_the_next_good_one_applied() {
    let etcd = Etcd::start();
    let replica = Replica::open(client(&etcd.endpoints()).await, "t/typed", 1u64)
        .await
        .unwrap();
    let kept = replica.revision();
    let mut raw = raw_client(&etcd.endpoints()).await;
    let bad = raw.put("t/typed", "not a number", None).await.unwrap();
    let bad_rev = bad.header().unwrap().revision();
    bounded("the bad value is seen", replica.wait_revision(bad_rev))
        .await
        .unwrap();
    let status = replica.status();
    assert_eq!(status.rejected, 1);
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap()
            .contains("does not decode"),
        "{status:?}"
    );
    assert_eq!(
        (*replica.read(), replica.revision()),
        (1, kept),
        "not applied"
    );
    // A push based on an undecodable value refuses instead of guessing.
    assert!(matches!(
        replica.push(|n| *n += 1).await,
        Err(Error::Decode { revision, .. }) if revision == bad_rev
    ));
    let good = raw.put("t/typed", "5", None).await.unwrap();
    let good_rev = good.header().unwrap().revision();
    bounded("the good value", replica.wait_revision(good_rev))
        .await
        .unwrap();
    assert_eq!((*replica.read(), replica.revision()), (5, good_rev));
    assert_eq!(
        replica
            .push(|n| *n += 1)
            .await
            .map(|_| *replica.read())
            .unwrap(),
        6
    );
    assert_eq!(replica.status().rejected, 1);
}

/// Decodes like JSON, but panics on "boom".
struct Touchy;
impl Codec<u64> for Touchy {
    fn encode(&self, v: &u64) -> Result<Vec<u8>, BoxError> {
        Json.encode(v)
    }
    fn decode(&self, bytes: &[u8]) -> Result<u64, BoxError> {
        assert!(bytes != b"\"boom\"", "Touchy cannot stand boom");
        Json.decode(bytes)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_codec_that_panics_counts_as_rejected_and_the_watch_goes_on() {
    let etcd = Etcd::start();
    let replica = Replica::open_with(
        client(&etcd.endpoints()).await,
        "t/touchy",
        1u64,
        Touchy,
        Options::default(),
    )
    .await
    .unwrap();
    let mut raw = raw_client(&etcd.endpoints()).await;
    let boom = raw.put("t/touchy", "\"boom\"", None).await.unwrap();
    let boom_rev = boom.header().unwrap().revision();
    bounded("boom seen", replica.wait_revision(boom_rev))
        .await
        .unwrap();
    let status = replica.status();
    assert_eq!(status.rejected, 1);
    let error = status.last_error.unwrap();
    assert!(error.contains("Touchy cannot stand boom"), "{error}");
    let good = raw.put("t/touchy", "9", None).await.unwrap();
    bounded(
        "still following",
        replica.wait_revision(good.header().unwrap().revision()),
    )
    .await
    .unwrap();
    assert_eq!(*replica.read(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_key_keeps_the_local_value_and_a_later_put_is_followed() {
    let etcd = Etcd::start();
    let replica = Replica::open(client(&etcd.endpoints()).await, "t/gone", 3u64)
        .await
        .unwrap();
    let kept = replica.revision();
    let mut raw = raw_client(&etcd.endpoints()).await;
    let deleted = raw.delete("t/gone", None).await.unwrap();
    let deleted_rev = deleted.header().unwrap().revision();
    bounded("the delete is seen", replica.wait_revision(deleted_rev))
        .await
        .unwrap();
    assert_eq!((*replica.read(), replica.revision()), (3, kept));
    let status = replica.status();
    assert!(
        status.last_error.as_deref().unwrap().contains("deleted"),
        "{status:?}"
    );
    assert!(matches!(
        replica.push(|n| *n += 1).await,
        Err(Error::Deleted { .. })
    ));
    assert_eq!(*replica.read(), 3, "a refused push changes nothing");
    let put = raw.put("t/gone", "40", None).await.unwrap();
    let put_rev = put.header().unwrap().revision();
    drop(bounded("the new value", replica.wait_until_async(|n| *n == 40)).await);
    assert_eq!(replica.revision(), put_rev);
    assert_eq!(
        replica
            .push(|n| *n += 2)
            .await
            .map(|_| *replica.read())
            .unwrap(),
        42
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_reports_connected() {
    let etcd = Etcd::start();
    let replica = Replica::open(client(&etcd.endpoints()).await, "t/s", 0u8)
        .await
        .unwrap();
    eventually("connected", HANG, || replica.status().connected).await;
    let status = replica.status();
    assert_eq!(
        (status.reconnects, status.resyncs, status.rejected),
        (0, 0, 0)
    );
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Job {
    id: u32,
    owner: Option<String>,
}

#[test]
fn the_blocking_variants_work_from_plain_threads() {
    let etcd = Etcd::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let endpoints = etcd.endpoints();
    let (a, b) = rt.block_on(async {
        let a = Replica::open(
            client(&endpoints).await,
            "t/job",
            Job { id: 1, owner: None },
        )
        .await
        .unwrap();
        let b = Replica::open(
            client(&endpoints).await,
            "t/job",
            Job { id: 1, owner: None },
        )
        .await
        .unwrap();
        (a, b)
    });
    let seen = a.revision();
    let rev = std::thread::spawn(move || {
        let claimed = a
            .push_at_blocking(seen, |j| j.owner = Some("a".into()))
            .unwrap();
        assert!(matches!(
            a.push_at_blocking(seen, |j| j.owner = Some("again".into())),
            Err(Error::Conflict { current }) if current == claimed
        ));
        a.push_blocking(|j| j.id += 1).unwrap()
    })
    .join()
    .unwrap();
    let b2 = b.clone();
    std::thread::spawn(move || b2.wait_revision_blocking(rev).unwrap())
        .join()
        .unwrap();
    assert_eq!(
        *b.read(),
        Job {
            id: 2,
            owner: Some("a".into())
        }
    );
    drop((b, rt));
}

async fn replica_for_panics() -> (Etcd, Replica<u64>) {
    let etcd = Etcd::start();
    let r = Replica::open(client(&etcd.endpoints()).await, "t/p", 0u64)
        .await
        .unwrap();
    (etcd, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "Replica::push_blocking called inside a tokio runtime")]
async fn push_blocking_inside_a_runtime_panics_naming_push() {
    let (_etcd, r) = replica_for_panics().await;
    let _ = r.push_blocking(|n| *n += 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "use `Replica::push_at(..).await` there")]
async fn push_at_blocking_inside_a_runtime_panics_naming_push_at() {
    let (_etcd, r) = replica_for_panics().await;
    let _ = r.push_at_blocking(r.revision(), |n| *n += 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "Replica::wait_revision_blocking called inside a tokio runtime")]
async fn wait_revision_blocking_inside_a_runtime_panics_naming_wait_revision() {
    let (_etcd, r) = replica_for_panics().await;
    let _ = r.wait_revision_blocking(1);
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "use `Replica::push(..).await` there")]
async fn push_blocking_in_a_current_thread_runtime_panics_too() {
    let (_etcd, r) = replica_for_panics().await;
    let _ = r.push_blocking(|n| *n += 1);
}

#[test]
fn handles_are_send_and_sync_and_futures_spawnable() {
    // Compile-time promises, checked at run time for the record: handles are Send + Sync,
    // futures of pushes are Send (tokio::spawn takes them).
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Replica<Vec<u8>>>();
    send_sync::<pushpull_etcd::ReplicaPuller<Vec<u8>>>();
    fn spawnable<F: std::future::Future + Send>(_: F) {}
    let _ = |r: Replica<u64>| {
        spawnable(async move {
            let _ = r.push(|n| *n += 1).await;
            let _ = r.wait_revision(3).await;
            let mut p = r.puller_arc();
            let _ = *p.wait_async().await.unwrap();
        })
    };
    let _ = Duration::ZERO;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_watch_answers_its_heartbeats_and_stays_up() {
    let etcd = Etcd::start();
    let mut options = Options::default();
    options.heartbeat = Duration::from_millis(100);
    let replica = Replica::open_with(
        client(&etcd.endpoints()).await,
        "t/idle",
        0u64,
        Json,
        options,
    )
    .await
    .unwrap();
    eventually("connected", HANG, || replica.status().connected).await;
    // Idle for twenty heartbeats (the scenario, not a synchronization): each silence is
    // answered by a progress response, so the watch is never taken for dead.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = replica.status();
    assert!(status.connected, "{status:?}");
    assert_eq!((status.reconnects, status.last_error), (0, None));
    let mut raw = raw_client(&etcd.endpoints()).await;
    let put = raw.put("t/idle", "5", None).await.unwrap();
    bounded(
        "still following",
        replica.wait_revision(put.header().unwrap().revision()),
    )
    .await
    .unwrap();
    assert_eq!(*replica.read(), 5);
}
