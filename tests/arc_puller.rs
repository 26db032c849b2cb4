//! Owned pullers (`Shared::puller_arc`) and pullers started at a given version
//! (`puller_at`, `puller_arc_at`).

mod common;

use common::{bounded, scaled, SHORT, TIMEOUT};
use pushpull::{ArcPuller, Puller, Shared, Version};
use std::sync::{mpsc, Arc};
use std::thread;

fn assert_static_clone_send_sync<P: 'static + Clone + Send + Sync>() {}

#[test]
fn arc_puller_is_static_clone_send_sync() {
    assert_static_clone_send_sync::<ArcPuller<u64>>();
    assert_static_clone_send_sync::<ArcPuller<Vec<String>>>();
    assert_static_clone_send_sync::<ArcPuller<str>>();
}

/// The race of the issue: a push made right after subscribing, before the thread that pulls
/// is even running, is never missed by an owned puller created before the spawn.
#[test]
fn an_arc_puller_created_before_spawn_misses_no_push() {
    bounded("pullers created before spawn", || {
        for round in 0..scaled(200) as u64 {
            let shared = Arc::new(Shared::new(round));
            let mut puller = shared.puller_arc();
            shared.push(|v| *v += 1000); // before the thread exists
            let follower = thread::spawn(move || {
                let value = *puller
                    .wait_for(TIMEOUT)
                    .unwrap()
                    .expect("the push was missed");
                (value, puller.seen())
            });
            assert_eq!(follower.join().unwrap(), (round + 1000, Version::from(1)));
        }
    });
}

#[test]
fn arc_puller_has_every_method_of_puller() {
    let shared = Arc::new(Shared::new(vec![1]));
    let mut puller = shared.puller_arc();
    assert!(Arc::ptr_eq(puller.shared(), &shared));
    assert!(!puller.has_changed());
    assert_eq!(puller.seen(), Version::ZERO);
    assert_eq!(puller.pull(), None);
    assert!(puller.wait_for(SHORT).unwrap().is_none());

    shared.push(|v| v.push(2));
    assert!(puller.has_changed());
    assert_eq!(puller.pull(), Some(vec![1, 2]));
    assert_eq!(puller.seen().get(), 1);

    shared.push(|v| v.push(3));
    assert_eq!(puller.pull_with(|v| v.len()), Some(3));

    shared.push(|v| v.clear());
    puller.mark_seen();
    assert!(!puller.has_changed());

    let mut clone = puller.clone();
    shared.push(|v| v.push(4));
    assert_eq!(*puller.wait().unwrap(), [4]);
    assert!(clone.has_changed(), "a clone has its own cursor");
    assert_eq!(*clone.wait_for(TIMEOUT).unwrap().unwrap(), [4]);
    assert!(format!("{puller:?}").contains("Puller"));
    assert_eq!(
        Arc::strong_count(&shared),
        3,
        "each puller holds one reference"
    );
    drop((puller, clone));
    assert_eq!(Arc::strong_count(&shared), 1);
}

/// A borrowed puller's guard borrows the `Shared`, not the puller: the puller stays usable.
#[test]
fn a_borrowed_pullers_guard_outlives_the_puller_borrow() {
    let shared = Shared::new(7);
    let mut puller: Puller<'_, i32> = shared.puller();
    shared.push(|n| *n += 1);
    let guard = puller.wait_for(TIMEOUT).unwrap().unwrap();
    let seen = puller.seen(); // allowed while `guard` lives
    assert_eq!((*guard, seen.get()), (8, 1));
}

#[test]
fn many_arc_pullers_in_threads_all_see_the_last_push() {
    let pushes = scaled(2_000) as u64;
    bounded("4 owned pullers vs a pusher", move || {
        let shared = Arc::new(Shared::new(0u64));
        let followers: Vec<_> = (0..4)
            .map(|_| {
                let mut puller = shared.puller_arc();
                thread::spawn(move || {
                    let mut last = 0;
                    while last < pushes {
                        let value = *puller.wait_for(TIMEOUT).unwrap().expect("lost wake-up");
                        assert!(value > last, "never backwards, never twice");
                        assert_eq!(value, puller.seen().get(), "value belongs to its version");
                        last = value;
                    }
                })
            })
            .collect();
        for _ in 0..pushes {
            shared.push(|v| *v += 1);
        }
        for follower in followers {
            follower.join().unwrap();
        }
    });
}

#[test]
fn a_puller_at_the_current_version_waits_for_the_next_push() {
    let shared = Arc::new(Shared::new("a"));
    shared.push(|v| *v = "b");
    let at = shared.version();
    let mut borrowed = shared.puller_at(at);
    let mut owned = shared.puller_arc_at(at);
    assert!(!borrowed.has_changed() && !owned.has_changed());
    assert_eq!((borrowed.pull(), owned.pull()), (None, None));
    assert!(owned.wait_for(SHORT).unwrap().is_none());

    let (tx, rx) = mpsc::channel();
    let follower = thread::spawn(move || tx.send(*owned.wait_for(TIMEOUT).unwrap().unwrap()));
    shared.push(|v| *v = "c");
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), "c");
    follower.join().unwrap().unwrap();
    assert_eq!(borrowed.pull(), Some("c"));
}

#[test]
fn a_puller_behind_reports_the_latest_value_at_once() {
    let shared = Arc::new(Shared::new(0));
    for _ in 0..5 {
        shared.push(|n| *n += 1);
    }
    let mut borrowed = shared.puller_at(Version::from(2));
    let mut owned = shared.puller_arc_at(Version::ZERO);
    assert!(borrowed.has_changed() && owned.has_changed());
    assert_eq!(
        *borrowed.wait_for(TIMEOUT).unwrap().unwrap(),
        5,
        "intermediate versions coalesce"
    );
    assert_eq!(*owned.wait().unwrap(), 5);
    assert_eq!((borrowed.seen().get(), owned.seen().get()), (5, 5));
    assert!(!owned.has_changed());
}

/// A version the `Shared` never reached (from another `Shared`, e.g. a server's previous run)
/// is not the version of the current value: the puller reports it at once, then goes on from
/// the current version.
#[test]
fn a_puller_ahead_of_the_shared_reports_the_current_value_at_once() {
    let shared = Arc::new(Shared::new(10));
    shared.push(|n| *n += 1); // v1
    let mut owned = shared.puller_arc_at(Version::from(u64::MAX));
    assert!(owned.has_changed());
    assert_eq!(*owned.wait_for(TIMEOUT).unwrap().unwrap(), 11);
    assert_eq!(owned.seen(), Version::from(1));
    assert!(
        owned.wait_for(SHORT).unwrap().is_none(),
        "from now on, only new publishes"
    );

    let mut borrowed = shared.puller_at(Version::from(7));
    assert_eq!(borrowed.pull(), Some(11));
    assert_eq!(u64::from(borrowed.seen()), 1);
    assert_eq!(
        common::block_on(shared.puller_at(7.into()).wait_async())
            .unwrap()
            .clone(),
        11
    );
}

/// A client that goes away and comes back with the version it had (as a number, the way it
/// travels over the wire) gets exactly what it missed.
#[test]
fn a_resumed_puller_continues_from_the_version_it_had() {
    let shared = Arc::new(Shared::new(Vec::<u32>::new()));
    let mut first = shared.puller_arc();
    shared.push(|v| v.push(1));
    assert_eq!(first.pull(), Some(vec![1]));
    let wire: u64 = first.seen().into();
    drop(first);

    let mut resumed = shared.puller_arc_at(Version::from(wire));
    assert_eq!(resumed.pull(), None, "nothing missed yet");
    shared.push(|v| v.push(2));
    shared.push(|v| v.push(3));
    assert_eq!(resumed.pull(), Some(vec![1, 2, 3]));
    assert_eq!(resumed.seen().get(), 3);
}
