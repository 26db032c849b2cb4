//! Faults, with nothing lost and the replicas converging within 1 s after the fault ends:
//! etcd paused, killed and restarted, a cluster's leader killed, one replica's connection cut
//! while the history it needs is compacted, answers of pushes lost on the way back.
//!
//! "Converging within 1 s after the fault ends" is the one timing assertion (the issue asks
//! for it): the fault ends when the test sees etcd answer again (its `/health`, a new leader
//! elected, or the proxy forwarding again); the replica has converged when it reflects every
//! revision etcd had committed at that moment. The bound follows from the replica's retry
//! delay (at most `Options::retry_max`, 250 ms) plus one re-created watch: a fraction of 1 s
//! on loopback, which leaves room for a loaded machine.

mod support;

use pushpull_etcd::{Error, Json, Options, Replica};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::proxy::{Mode, Proxy};
use support::{bounded, client, eventually, raw_client, Etcd, HANG};

const CONVERGE: Duration = Duration::from_secs(1);

/// The key's current `mod_revision` and `version` (modifications since creation), read by a
/// plain client.
async fn key_state(endpoints: &[String], key: &str) -> (i64, i64) {
    let mut raw = raw_client(endpoints).await;
    let got = bounded("read the key", raw.get(key, None)).await.unwrap();
    let kv = &got.kvs()[0];
    (kv.mod_revision(), kv.version())
}

/// Asserts that `replica` reflects every revision of `key` committed when the fault ended
/// (`ended`), within [`CONVERGE`] of that moment.
async fn converges(
    what: &str,
    replica: &Replica<u64>,
    endpoints: &[String],
    key: &str,
    ended: Instant,
) {
    let (target, _) = key_state(endpoints, key).await;
    bounded(what, replica.wait_revision(target)).await.unwrap();
    let took = ended.elapsed();
    assert!(
        took <= CONVERGE,
        "{what}: converged {took:?} after the fault ended (bound {CONVERGE:?})"
    );
    eprintln!("{what}: converged {took:?} after the fault ended");
}

/// `n` pushes of +1 on `replica`, in a task; `done` counts the ones that returned.
fn pusher(
    replica: Replica<u64>,
    n: u64,
    done: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<Vec<Result<i64, Error>>> {
    tokio::spawn(async move {
        let mut results = Vec::new();
        for _ in 0..n {
            results.push(replica.push(|v| *v += 1).await);
            done.fetch_add(1, Ordering::SeqCst);
        }
        results
    })
}

/// Every push succeeded, each applied exactly once (the key's version counts its changes),
/// and the follower ends with the total.
async fn nothing_lost(
    results: Vec<Result<i64, Error>>,
    n: u64,
    follower: &Replica<u64>,
    endpoints: &[String],
    key: &str,
) {
    let revisions: Vec<i64> = results
        .into_iter()
        .map(|r| r.expect("every push succeeds despite the fault"))
        .collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "revisions grow");
    let (_, version) = key_state(endpoints, key).await;
    assert_eq!(
        version,
        1 + n as i64,
        "created once, then exactly one change per push"
    );
    let end = *bounded(
        "follower ends with every push",
        follower.wait_until_async(|v| *v == n),
    )
    .await;
    assert_eq!(end, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_paused_for_two_seconds_during_pushes() {
    let etcd = Etcd::start();
    let endpoints = etcd.endpoints();
    let a = Replica::open(client(&endpoints).await, "f/paused", 0u64)
        .await
        .unwrap();
    let b = Replica::open(client(&endpoints).await, "f/paused", 0u64)
        .await
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let task = pusher(a.clone(), 60, Arc::clone(&done));
    eventually("pushes under way", HANG, || {
        done.load(Ordering::SeqCst) >= 20
    })
    .await;
    etcd.pause(0);
    tokio::time::sleep(Duration::from_secs(2)).await; // the fault itself
    etcd.resume(0);
    let ended = Instant::now();
    converges("paused: follower", &b, &endpoints, "f/paused", ended).await;
    let results = bounded("pusher", task).await.unwrap();
    nothing_lost(results, 60, &b, &endpoints, "f/paused").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_killed_and_restarted_on_its_data_directory() {
    let mut etcd = Etcd::start();
    let endpoints = etcd.endpoints();
    let a = Replica::open(client(&endpoints).await, "f/restart", 0u64)
        .await
        .unwrap();
    let b = Replica::open(client(&endpoints).await, "f/restart", 0u64)
        .await
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let task = pusher(a.clone(), 60, Arc::clone(&done));
    eventually("pushes under way", HANG, || {
        done.load(Ordering::SeqCst) >= 20
    })
    .await;
    etcd.kill(0);
    etcd.restart(0); // returns once it answers /health
    let ended = Instant::now();
    converges("restarted: follower", &b, &endpoints, "f/restart", ended).await;
    let results = bounded("pusher", task).await.unwrap();
    nothing_lost(results, 60, &b, &endpoints, "f/restart").await;
    assert!(b.status().reconnects >= 1, "{:?}", b.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_of_a_three_member_cluster_killed_during_pushes() {
    let mut etcd = Etcd::cluster(3);
    let endpoints = etcd.endpoints();
    let a = Replica::open(client(&endpoints).await, "f/leader", 0u64)
        .await
        .unwrap();
    let b = Replica::open(client(&endpoints).await, "f/leader", 0u64)
        .await
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let task = pusher(a.clone(), 60, Arc::clone(&done));
    eventually("pushes under way", HANG, || {
        done.load(Ordering::SeqCst) >= 20
    })
    .await;
    let leader = etcd.leader().expect("a leader");
    etcd.kill(leader);
    let survivors: Vec<String> = (0..3)
        .filter(|&i| i != leader)
        .map(|i| etcd.endpoint(i))
        .collect();
    eventually("a new leader", HANG, || etcd.leader().is_some()).await;
    let ended = Instant::now();
    converges("leader killed: follower", &b, &survivors, "f/leader", ended).await;
    let results = bounded("pusher", task).await.unwrap();
    nothing_lost(results, 60, &b, &survivors, "f/leader").await;
}

/// A replica that talks to etcd through a proxy, a pusher that talks to it directly.
async fn cut_setup(etcd: &Etcd, key: &str) -> (Proxy, Replica<u64>, Replica<u64>) {
    let proxy = Proxy::start(&etcd.endpoint(0));
    let cut = Replica::open(client(&[proxy.endpoint()]).await, key.to_owned(), 0u64)
        .await
        .unwrap();
    let pusher = Replica::open(client(&etcd.endpoints()).await, key.to_owned(), 0u64)
        .await
        .unwrap();
    for _ in 0..5 {
        pusher.push(|v| *v += 1).await.unwrap();
    }
    bounded("caught up", cut.wait_revision(pusher.revision()))
        .await
        .unwrap();
    eventually("watching", HANG, || cut.status().connected).await;
    (proxy, cut, pusher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumed_after_a_reconnect_starts_at_the_next_unseen_revision() {
    let etcd = Etcd::start();
    let endpoints = etcd.endpoints();
    let (proxy, cut, pusher) = cut_setup(&etcd, "f/resume").await;
    let before = cut.status();
    proxy.set_mode(Mode::Refuse);
    proxy.cut();
    eventually("the cut is noticed", HANG, || !cut.status().connected).await;
    for _ in 0..7 {
        pusher.push(|v| *v += 1).await.unwrap();
    }
    proxy.set_mode(Mode::Forward);
    let ended = Instant::now();
    // Nothing is pushed after the reconnect: a watch "from now" would never see the 7.
    converges("resumed", &cut, &endpoints, "f/resume", ended).await;
    assert_eq!(*cut.read(), 12);
    let after = cut.status();
    // No gap, no duplicate: exactly the 7 changes made while cut, each delivered once.
    assert_eq!(after.events - before.events, 7, "{before:?} -> {after:?}");
    assert!(after.reconnects > before.reconnects);
    assert_eq!(after.resyncs, 0);
    // And it goes on following.
    let r = pusher.push(|v| *v += 1).await.unwrap();
    bounded("follows on", cut.wait_revision(r)).await.unwrap();
    assert_eq!(cut.status().events - before.events, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_replica_whose_history_was_compacted_rereads_once_and_resumes_after_it() {
    let etcd = Etcd::start();
    let endpoints = etcd.endpoints();
    let (proxy, cut, pusher) = cut_setup(&etcd, "f/compacted").await;
    let mut puller = cut.puller_arc();
    let seen = puller.seen();
    proxy.set_mode(Mode::Refuse);
    proxy.cut();
    eventually("the cut is noticed", HANG, || !cut.status().connected).await;
    for _ in 0..10 {
        pusher.push(|v| *v += 1).await.unwrap();
    }
    // Other keys move the store revision past the key's mod_revision: resuming from the
    // key's revision + 1 (instead of the re-read's store revision + 1) would hit the
    // compacted history again, and again.
    let mut raw = raw_client(&endpoints).await;
    let mut store = 0;
    for i in 0..5 {
        store = raw
            .put("f/elsewhere", i.to_string(), None)
            .await
            .unwrap()
            .header()
            .unwrap()
            .revision();
    }
    raw.compact(
        store,
        Some(etcd_client::CompactionOptions::new().with_physical()),
    )
    .await
    .unwrap();
    proxy.set_mode(Mode::Forward);
    let ended = Instant::now();
    converges("compacted", &cut, &endpoints, "f/compacted", ended).await;
    assert_eq!(*cut.read(), 15);
    let status = cut.status();
    assert_eq!(status.resyncs, 1, "{status:?}");
    assert!(status.last_error.unwrap().contains("compacted"));
    // The ten changes it missed are published once, as the latest value.
    assert_eq!(puller.pull(), Some(15));
    assert_eq!(puller.seen().get(), seen.get() + 1, "published once");
    // It resumes after the re-read: the next change is an event, and no resync follows.
    let events = cut.status().events;
    let r = pusher.push(|v| *v += 1).await.unwrap();
    bounded("follows on", cut.wait_revision(r)).await.unwrap();
    assert_eq!(*cut.read(), 16);
    let status = cut.status();
    assert_eq!(
        (status.resyncs, status.events),
        (1, events + 1),
        "{status:?}"
    );
}

/// A push through the proxy, whose answer is held back until etcd has applied it; then the
/// connection is cut. Returns the push's result.
async fn push_with_lost_answer(
    etcd: &Etcd,
    proxy: &Proxy,
    replica: &Replica<u64>,
    between: impl std::future::Future<Output = ()>,
) -> Result<i64, Error> {
    let applied = etcd.proposals_applied(0);
    proxy.set_mode(Mode::Hold);
    let r = replica.clone();
    let push = tokio::spawn(async move { r.push(|v| *v += 1).await });
    eventually("etcd applied the push", HANG, || {
        etcd.proposals_applied(0) > applied
    })
    .await;
    between.await;
    proxy.cut();
    proxy.set_mode(Mode::Forward);
    bounded("the push returns", push).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_answer_is_lost_is_applied_once_and_returns_its_revision() {
    let etcd = Etcd::start();
    let endpoints = etcd.endpoints();
    let (proxy, cut, _pusher) = cut_setup(&etcd, "f/lost").await;
    let (_, version) = key_state(&endpoints, "f/lost").await;
    let result = push_with_lost_answer(&etcd, &proxy, &cut, async {}).await;
    let (revision, new_version) = key_state(&endpoints, "f/lost").await;
    assert_eq!(new_version, version + 1, "applied exactly once");
    assert_eq!(
        result.unwrap(),
        revision,
        "the push reports the commit it could not hear about"
    );
    assert_eq!(*cut.read(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_found_in_the_history_when_others_wrote_since() {
    let etcd = Etcd::start();
    let endpoints = etcd.endpoints();
    let (proxy, cut, pusher) = cut_setup(&etcd, "f/lost2").await;
    let (_, version) = key_state(&endpoints, "f/lost2").await;
    let mut committed = 0;
    let result = push_with_lost_answer(&etcd, &proxy, &cut, async {
        // Ours is now the first change after its base, but not the latest any more.
        committed = key_state(&endpoints, "f/lost2").await.0;
        pusher.push(|v| *v += 10).await.unwrap();
    })
    .await;
    let (_, new_version) = key_state(&endpoints, "f/lost2").await;
    assert_eq!(new_version, version + 2, "ours once, the other push once");
    assert_eq!(result.unwrap(), committed);
    drop(bounded("converged", cut.wait_until_async(|v| *v == 16)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_of_a_refused_compare_retries_from_the_new_value_once() {
    let etcd = Etcd::start();
    let endpoints = etcd.endpoints();
    let (proxy, cut, pusher) = cut_setup(&etcd, "f/lost3").await;
    let (_, version) = key_state(&endpoints, "f/lost3").await;
    // The cut replica's copy goes stale (its watch's answers are held back), then another
    // process pushes: the held push's compare fails on etcd, and that answer is lost too.
    proxy.set_mode(Mode::Hold);
    pusher.push(|v| *v += 10).await.unwrap();
    let result = push_with_lost_answer(&etcd, &proxy, &cut, async {}).await;
    let (revision, new_version) = key_state(&endpoints, "f/lost3").await;
    assert_eq!(
        new_version,
        version + 2,
        "the other push, then ours once (retried from 15)"
    );
    assert_eq!(result.unwrap(), revision);
    assert_eq!(*cut.read(), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_connection_is_noticed_and_replaced() {
    let etcd = Etcd::start();
    let endpoints = etcd.endpoints();
    let proxy = Proxy::start(&etcd.endpoint(0));
    let mut options = Options::default();
    options.heartbeat = Duration::from_millis(300);
    options.request_timeout = Duration::from_secs(1);
    // No HTTP/2 keep-alive on this client: only the replica's own heartbeat can notice.
    let plain = etcd_client::Client::connect(
        [proxy.endpoint()],
        Some(etcd_client::ConnectOptions::new().with_require_leader(true)),
    )
    .await
    .unwrap();
    let cut = Replica::open_with(plain, "f/hole", 0u64, Json, options)
        .await
        .unwrap();
    let pusher = Replica::open(client(&endpoints).await, "f/hole", 0u64)
        .await
        .unwrap();
    eventually("watching", HANG, || cut.status().connected).await;
    // The connection stays open; nothing comes back on it (a partition, a dead peer).
    proxy.set_mode(Mode::Hold);
    pusher.push(|v| *v += 1).await.unwrap();
    eventually("the silence is noticed", HANG, || !cut.status().connected).await;
    let status = cut.status();
    eprintln!("black hole noticed: {:?}", status.last_error);
    proxy.set_mode(Mode::Forward);
    let ended = Instant::now();
    converges("black hole", &cut, &endpoints, "f/hole", ended).await;
    assert_eq!(*cut.read(), 1);
}
