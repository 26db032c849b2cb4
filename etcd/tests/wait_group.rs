//! The etcd WaitGroup in one process: expect before or after, members dropped or expired,
//! names taken, the blocking wait, a restart of etcd under a live member.

mod support;

use pushpull_etcd::{Error, MemberState, Outcome, WaitGroup};
use std::time::Duration;
use support::{bounded, client, eventually, raw_client, Etcd, HANG};

const TTL: Duration = Duration::from_secs(5);

async fn group(etcd: &Etcd, prefix: &str) -> WaitGroup {
    WaitGroup::open(client(&etcd.endpoints()).await, prefix.to_owned())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_is_not_fooled_by_a_worker_that_has_not_joined_yet() {
    let etcd = Etcd::start();
    let master = group(&etcd, "g/a").await;
    let workers = group(&etcd, "g/a").await;
    master.expect(3);
    let a = workers.add("a", TTL).await.unwrap();
    let b = workers.add("b", TTL).await.unwrap();
    a.done().await.unwrap();
    b.done().await.unwrap();
    let roster = bounded(
        "two done",
        master.wait_until(|r| r.count(MemberState::Done) == 2),
    )
    .await;
    assert_eq!((roster.joined(), roster.count(MemberState::Alive)), (2, 0));
    // Nobody is alive, but only two of three ended: not finished.
    assert_eq!(master.wait_for(Duration::ZERO).await.unwrap(), None);
    let c = workers.add("c", TTL).await.unwrap();
    bounded("c joined", master.wait_until(|r| r.joined() == 3)).await;
    assert_eq!(
        master.wait_for(Duration::ZERO).await.unwrap(),
        None,
        "c is alive"
    );
    c.done().await.unwrap();
    let outcome = bounded("finished", master.wait()).await.unwrap();
    assert_eq!(outcome, Outcome { done: 3, lost: 0 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_after_the_workers_ended_returns_at_once() {
    let etcd = Etcd::start();
    let workers = group(&etcd, "g/b").await;
    for name in ["x", "y"] {
        workers.add(name, TTL).await.unwrap().done().await.unwrap();
    }
    let master = group(&etcd, "g/b").await;
    master.expect(2);
    assert_eq!(
        bounded("wait", master.wait()).await.unwrap(),
        Outcome { done: 2, lost: 0 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_dropped_without_done_ends_lost_without_waiting_for_its_ttl() {
    let etcd = Etcd::start();
    let wg = group(&etcd, "g/c").await;
    wg.expect(2);
    let ok = wg.add("ok", TTL).await.unwrap();
    let dropped = wg.add("dropped", Duration::from_secs(3600)).await.unwrap();
    drop(dropped); // as in a worker that returned early with an error, or panicked
    let roster = bounded(
        "lost long before its hour-long TTL",
        wg.wait_until(|r| r.get("dropped") == Some(MemberState::Lost)),
    )
    .await;
    assert_eq!(roster.get("ok"), Some(MemberState::Alive));
    ok.done().await.unwrap();
    assert_eq!(
        bounded("wait", wg.wait()).await.unwrap(),
        Outcome { done: 1, lost: 1 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_joins_once() {
    let etcd = Etcd::start();
    let wg = group(&etcd, "g/d").await;
    let first = wg.add("w", TTL).await.unwrap();
    assert!(matches!(
        wg.add("w", TTL).await,
        Err(Error::DuplicateMember { name }) if name == "w"
    ));
    first.done().await.unwrap();
    // Done is final too: the name stays taken for this round.
    assert!(matches!(
        wg.add("w", TTL).await,
        Err(Error::DuplicateMember { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_lease_expired_is_lost_and_done_says_so() {
    let etcd = Etcd::start();
    let wg = group(&etcd, "g/e").await;
    let member = wg.add("m", TTL).await.unwrap();
    assert!(member.is_alive());
    // As if the process had stalled past its TTL: etcd drops the lease.
    let mut raw = raw_client(&etcd.endpoints()).await;
    raw.lease_revoke(member.lease_id()).await.unwrap();
    bounded(
        "counted lost",
        wg.wait_until(|r| r.get("m") == Some(MemberState::Lost)),
    )
    .await;
    eventually("the keep-alive notices", HANG, || !member.is_alive()).await;
    assert!(member.last_error().unwrap().contains("expired"));
    assert!(matches!(member.done().await, Err(Error::Lost { name }) if name == "m"));
    wg.expect(1);
    assert_eq!(
        bounded("wait", wg.wait()).await.unwrap(),
        Outcome { done: 0, lost: 1 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_member_survives_an_etcd_restart() {
    let mut etcd = Etcd::start();
    let wg = group(&etcd, "g/f").await;
    wg.expect(1);
    let member = wg.add("m", TTL).await.unwrap();
    bounded("joined", wg.wait_until(|r| r.joined() == 1)).await;
    etcd.kill(0);
    etcd.restart(0);
    // etcd renews every lease's TTL when it starts; the keep-alive reconnects.
    member.done().await.unwrap();
    assert_eq!(
        bounded("wait", wg.wait()).await.unwrap(),
        Outcome { done: 1, lost: 0 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_starts_a_new_round() {
    let etcd = Etcd::start();
    let wg = group(&etcd, "g/h").await;
    wg.add("w", TTL).await.unwrap().done().await.unwrap();
    wg.expect(1);
    bounded("round 1", wg.wait()).await.unwrap();
    wg.clear().await.unwrap();
    bounded("emptied", wg.wait_until(|r| r.joined() == 0)).await;
    assert_eq!(wg.wait_for(Duration::ZERO).await.unwrap(), None);
    wg.add("w", TTL).await.unwrap().done().await.unwrap();
    assert_eq!(
        bounded("round 2", wg.wait()).await.unwrap(),
        Outcome { done: 1, lost: 0 }
    );
}

#[test]
fn wait_blocking_works_from_a_plain_thread() {
    let etcd = Etcd::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let wg = rt.block_on(group(&etcd, "g/i"));
    wg.expect(1);
    let waiter = {
        let wg = wg.clone();
        std::thread::spawn(move || wg.wait_blocking())
    };
    rt.block_on(async { wg.add("w", TTL).await.unwrap().done().await.unwrap() });
    assert_eq!(
        waiter.join().unwrap().unwrap(),
        Outcome { done: 1, lost: 0 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "WaitGroup::wait_blocking called inside a tokio runtime")]
async fn wait_blocking_inside_a_runtime_panics_naming_wait() {
    let etcd = Etcd::start();
    let wg = group(&etcd, "g/j").await;
    let _ = wg.wait_blocking();
}

#[test]
fn handles_are_send_and_sync_and_futures_spawnable() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<WaitGroup>();
    send_sync::<pushpull_etcd::Member>();
    fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
    let _ = |wg: WaitGroup| {
        spawnable(async move {
            let me = wg.add("w", TTL).await.unwrap();
            me.done().await.unwrap();
            let _ = wg.wait().await;
            let _ = wg.wait_for(TTL).await;
            let _ = wg.wait_until(|r| r.joined() > 0).await;
        })
    };
}
