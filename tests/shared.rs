//! Integration tests of `Shared<T>`: guards, try/timeout variants, conversions, re-entrancy
//! detection and the small traits. Every blocking step is bounded (see `common::bounded`).

mod common;

use common::{assert_contains_all, bounded, panic_message_of, scaled, SHORT, TIMEOUT};
use pushpull::{ModifyGuard, Shared, WriteGuard};
use std::fmt::Debug;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[test]
fn shared_and_guards_are_send_and_sync_where_expected() {
    fn send_sync<T: Send + Sync + ?Sized>() {}
    send_sync::<Shared<Vec<u8>>>();
    send_sync::<Shared<[u8]>>();
    send_sync::<pushpull::WaitGroup>();
    fn send<T: Send>() {}
    send::<pushpull::Token>();
    // The guards are `Sync` when `T` is (a `&guard` may go to scoped threads); that they are
    // never `Send` is checked by `tests/guards_stay_on_their_thread.rs` and the crate docs'
    // compile_fail example.
    fn sync<T: Sync + ?Sized>() {}
    sync::<pushpull::ReadGuard<'static, Vec<u8>>>();
    sync::<ModifyGuard<'static, Vec<u8>>>();
    sync::<WriteGuard<'static, Vec<u8>>>();
    sync::<pushpull::ReadGuard<'static, [u8]>>();
}

#[test]
fn four_threads_of_update_increments_sum_exactly() {
    let per_thread = scaled(10_000) as u64;
    let (value, version) = bounded("4 x update", move || {
        let counter = Shared::new(0u64);
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..per_thread {
                        counter.push(|n| *n += 1);
                    }
                });
            }
        });
        let version = counter.version().get();
        (counter.into_inner(), version)
    });
    assert_eq!(value, 4 * per_thread);
    assert_eq!(version, 4 * per_thread, "one version per update");
}

#[test]
fn modify_then_upgrade_increments_from_three_threads_lose_nothing() {
    let per_thread = scaled(3_000) as u64;
    let value = bounded("modify + upgrade", move || {
        let counter = Shared::new(0u64);
        thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..per_thread {
                        let guard = counter.modify();
                        let seen = *guard; // decide on what we read...
                        let mut write = ModifyGuard::upgrade(guard);
                        *write = seen + 1; // ...and it is still valid when we write
                    }
                });
            }
            // A reader alongside the modifiers: the value only grows.
            s.spawn(|| {
                let mut last = 0;
                for _ in 0..per_thread {
                    let now = *counter.read();
                    assert!(now >= last, "value went back from {last} to {now}");
                    last = now;
                }
            });
        });
        assert_eq!(counter.version().get(), 3 * per_thread);
        counter.into_inner()
    });
    assert_eq!(value, 3 * per_thread);
}

/// Holds a guard of `shared` on another thread until told to let go. `take` selects the
/// guard kind: 'r' read, 'm' modify, 'w' write.
fn hold_on_other_thread<'scope, T: Send + Sync + 'static>(
    s: &'scope thread::Scope<'scope, '_>,
    shared: &'scope Shared<T>,
    take: char,
) -> (mpsc::Sender<()>, thread::ScopedJoinHandle<'scope, ()>) {
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let handle = s.spawn(move || {
        let _r;
        let _m;
        let _w;
        match take {
            'r' => _r = Some(shared.read()),
            'm' => _m = Some(shared.modify()),
            'w' => _w = Some(shared.write()),
            _ => unreachable!(),
        }
        held_tx.send(()).unwrap();
        release_rx
            .recv_timeout(TIMEOUT)
            .expect("holder was never released");
    });
    held_rx
        .recv_timeout(TIMEOUT)
        .expect("holder never took the guard");
    (release_tx, handle)
}

#[test]
fn try_write_for_is_none_while_another_thread_holds_the_write_lock() {
    bounded("try_write_for vs other writer", || {
        let shared = Shared::new(1);
        thread::scope(|s| {
            let (release, holder) = hold_on_other_thread(s, &shared, 'w');
            assert!(shared.try_write_for(SHORT).is_none());
            assert!(shared.try_modify_for(SHORT).is_none());
            assert!(shared.try_read_for(SHORT).is_none());
            assert!(shared.try_write().is_none());
            assert!(shared.try_modify().is_none());
            assert!(shared.try_read().is_none());
            release.send(()).unwrap();
            // Generous bound: must succeed once the holder lets go.
            let mut w = shared.try_write_for(TIMEOUT).expect("lock freed");
            *w += 1;
            drop(w);
            holder.join().unwrap();
        });
        assert_eq!(*shared.read(), 2);
    });
}

#[test]
fn try_write_for_is_none_while_another_thread_holds_a_read() {
    bounded("try_write_for vs other reader", || {
        let shared = Shared::new(1);
        thread::scope(|s| {
            let (release, holder) = hold_on_other_thread(s, &shared, 'r');
            assert!(shared.try_write_for(SHORT).is_none());
            assert!(shared.try_write().is_none());
            // Readers and a modifier coexist with a reader.
            assert!(shared.try_read().is_some());
            let m = shared
                .try_modify_for(TIMEOUT)
                .expect("modify coexists with readers");
            // ...but the modifier cannot upgrade while the reader is there.
            let m = ModifyGuard::try_upgrade(m).expect_err("a reader is in");
            let m = ModifyGuard::try_upgrade_for(m, SHORT).expect_err("the reader stays");
            release.send(()).unwrap();
            let mut w = ModifyGuard::try_upgrade_for(m, TIMEOUT).expect("reader left");
            *w = 5;
            drop(w);
            holder.join().unwrap();
        });
        assert_eq!(*shared.read(), 5);
        assert_eq!(shared.version().get(), 1);
    });
}

#[test]
fn readers_coexist_with_a_modifier_on_another_thread() {
    bounded("readers vs modifier", || {
        let shared = Shared::new(vec![1, 2, 3]);
        thread::scope(|s| {
            let (release, holder) = hold_on_other_thread(s, &shared, 'm');
            let a = shared.read();
            let b = shared.try_read().expect("readers coexist with a modifier");
            let c = shared
                .try_read_for(TIMEOUT)
                .expect("readers coexist with a modifier");
            assert_eq!(a.len() + b.len() + c.len(), 9);
            assert!(shared.try_modify().is_none(), "one modifier at a time");
            assert!(
                shared.try_modify_for(SHORT).is_none(),
                "one modifier at a time"
            );
            drop((a, b, c));
            assert!(
                shared.try_write_for(SHORT).is_none(),
                "writers wait for modifier"
            );
            release.send(()).unwrap();
            assert!(shared.try_modify_for(TIMEOUT).is_some());
            holder.join().unwrap();
        });
    });
}

#[test]
fn modify_holder_can_try_read_but_not_try_write() {
    let shared = Shared::new(7);
    let m = shared.modify();
    {
        let r = shared.try_read().expect("a modify holder may read");
        assert_eq!(*r, 7);
        let r2 = shared.read();
        assert_eq!(*r2 + *m, 14);
    }
    assert!(shared.try_write().is_none());
    assert!(shared.try_modify().is_none());
    drop(m);
    assert!(shared.try_write().is_some());
}

#[test]
fn owner_try_for_calls_return_none_at_once() {
    // Each call below has a 60 s timeout; `bounded` fails the test after 10 s, so this
    // asserts that they return without waiting for the timeout (never how fast).
    bounded("owner try_*_for", || {
        let long = Duration::from_secs(60);
        let shared = Shared::new(0);

        let w = shared.write();
        // Release builds without `reentrancy-check` do not know the writer: there the calls
        // wait out a short timeout instead.
        let own = common::writer_own_timeout(long);
        assert!(shared.try_read_for(own).is_none());
        assert!(shared.try_modify_for(own).is_none());
        assert!(shared.try_write_for(own).is_none());
        drop(w);

        let m = shared.modify();
        assert!(shared.try_modify_for(long).is_none());
        assert!(shared.try_write_for(long).is_none());
        assert!(shared.try_read_for(long).is_some(), "a modifier may read");
        drop(m);

        assert!(shared.try_write_for(long).is_some(), "free again");
    });
}

#[cfg(debug_assertions)]
#[test]
fn reader_try_write_for_returns_none_at_once_in_debug_builds() {
    bounded("reader try_write_for", || {
        let long = Duration::from_secs(60);
        let shared = Shared::new(0);
        let r = shared.read();
        assert!(shared.try_write_for(long).is_none());
        let m = shared
            .try_modify_for(long)
            .expect("modify coexists with our read");
        let m = ModifyGuard::try_upgrade_for(m, long).expect_err("we hold a read");
        drop(m);
        drop(r);
    });
}

#[test]
#[cfg_attr(
    not(any(debug_assertions, feature = "reentrancy-check")),
    ignore = "release builds record the writer only with the reentrancy-check feature"
)]
fn reentrant_write_panics_naming_shared_deadlock_and_write_guard() {
    let shared = Shared::new(0);
    let msg = panic_message_of(|| {
        let _w = shared.write();
        let _again = shared.write();
    });
    assert_contains_all(&msg, &["Shared", "would deadlock", "WriteGuard", "write()"]);
    // The first guard was released by the unwind.
    assert!(shared.try_write().is_some());
    assert!(!shared.is_poisoned(), "no mutable access was taken");
}

#[test]
fn modify_while_holding_modify_panics() {
    let shared = Shared::new(0);
    let msg = panic_message_of(|| {
        let _m = shared.modify();
        let _again = shared.modify();
    });
    assert_contains_all(
        &msg,
        &["Shared", "would deadlock", "modify()", "ModifyGuard"],
    );
    assert!(shared.try_modify().is_some());
}

#[test]
#[cfg_attr(
    not(any(debug_assertions, feature = "reentrancy-check")),
    ignore = "release builds record the writer only with the reentrancy-check feature"
)]
fn write_while_holding_modify_panics_and_modify_while_holding_write_panics() {
    let shared = Shared::new(0);
    let msg = panic_message_of(|| {
        let _m = shared.modify();
        let _w = shared.write();
    });
    assert_contains_all(
        &msg,
        &["Shared", "would deadlock", "write()", "ModifyGuard"],
    );
    let msg = panic_message_of(|| {
        let _w = shared.write();
        let _m = shared.modify();
    });
    assert_contains_all(
        &msg,
        &["Shared", "would deadlock", "modify()", "WriteGuard"],
    );
    assert!(shared.try_write().is_some());
}

#[test]
#[cfg_attr(
    not(any(debug_assertions, feature = "reentrancy-check")),
    ignore = "release builds record the writer only with the reentrancy-check feature"
)]
fn read_while_holding_write_panics() {
    let shared = Shared::new(0);
    let msg = panic_message_of(|| {
        let _w = shared.write();
        let _r = shared.read();
    });
    assert_contains_all(&msg, &["Shared", "would deadlock", "read()", "WriteGuard"]);
    assert!(shared.try_write().is_some());
}

#[test]
fn read_while_holding_modify_with_a_writer_queued_does_not_deadlock() {
    bounded("modify holder reads behind a queued writer", || {
        let shared = Shared::new(10);
        for round in 0..scaled(20) {
            thread::scope(|s| {
                let m = shared.modify();
                let (started_tx, started_rx) = mpsc::channel();
                let shared = &shared;
                let writer = s.spawn(move || {
                    started_tx.send(common::kernel_tid()).unwrap();
                    *shared.write() += 1; // queues behind our modify guard
                });
                let tid = started_rx.recv_timeout(TIMEOUT).unwrap();
                // Every other round, the writer is parked in its queue for certain (the read
                // must succeed either way).
                if round % 2 == 0 {
                    common::until_asleep(&[tid]);
                }
                let r = shared.read();
                assert_eq!(*r, *m);
                drop(r);
                let r = shared.try_read().expect("modify holder may read");
                drop(r);
                drop(m);
                writer.join().unwrap();
            });
        }
        assert_eq!(*shared.read(), 10 + scaled(20) as i32);
    });
}

#[cfg(debug_assertions)]
#[test]
fn recursive_read_with_a_writer_queued_does_not_deadlock_in_debug_builds() {
    // In debug builds readers are tracked, so a thread reading again takes a recursive read
    // instead of queueing behind a writer that waits for its first read.
    bounded("recursive read behind a queued writer", || {
        let shared = Shared::new(0);
        thread::scope(|s| {
            let r1 = shared.read();
            let writer = s.spawn(|| *shared.write() += 1);
            while shared.try_read().is_some() {
                // Until the writer is queued (it then refuses new plain readers).
                thread::yield_now();
            }
            let r2 = shared.read();
            let r3 = shared.try_read_for(TIMEOUT).expect("recursive read");
            assert_eq!(*r1 + *r2 + *r3, 0);
            drop((r1, r2, r3));
            writer.join().unwrap();
        });
        assert_eq!(*shared.read(), 1);
    });
}

#[test]
fn write_guard_downgrade_keeps_the_value_and_lets_readers_in() {
    bounded("WriteGuard::downgrade", || {
        let shared = Shared::new(vec![1]);
        let mut w = shared.write();
        w.push(2);
        let r = WriteGuard::downgrade(w);
        assert_eq!(*r, [1, 2]);
        assert_eq!(shared.version().get(), 1, "the mutation published");
        thread::scope(|s| {
            s.spawn(|| {
                let other = shared
                    .try_read()
                    .expect("readers may join a downgraded guard");
                assert_eq!(*other, [1, 2]);
                assert!(shared.try_write().is_none(), "still read-locked");
            })
            .join()
            .unwrap();
        });
        // This thread holds only a read now: another read is fine, a try_write is not.
        assert!(shared.try_write().is_none());
        drop(r);
        assert!(shared.try_write().is_some());

        // A downgrade without mutation publishes nothing.
        let w = shared.write();
        let r = WriteGuard::downgrade(w);
        drop(r);
        assert_eq!(shared.version().get(), 1);
    });
}

#[test]
fn modify_guard_downgrade_lets_another_modifier_in() {
    bounded("ModifyGuard::downgrade", || {
        let shared = Shared::new(3);
        let m = shared.modify();
        let r = ModifyGuard::downgrade(m);
        assert_eq!(*r, 3);
        thread::scope(|s| {
            s.spawn(|| {
                let m2 = shared.try_modify().expect("the modify lock was given up");
                assert_eq!(*m2, 3);
                assert!(
                    ModifyGuard::try_upgrade(m2).is_err(),
                    "our read is still there"
                );
            })
            .join()
            .unwrap();
        });
        // The downgraded guard is a plain read: this thread may take modify again.
        let m = shared.try_modify().expect("no modifier left");
        drop(m);
        drop(r);
        assert_eq!(shared.version().get(), 0);
    });
}

#[test]
fn try_upgrade_without_other_readers_succeeds_and_publishes_once() {
    let shared = Shared::new(1);
    let m = shared.modify();
    let mut w = ModifyGuard::try_upgrade(m).expect("no readers");
    *w += 1;
    *w += 1;
    drop(w);
    assert_eq!(*shared.read(), 3);
    assert_eq!(shared.version().get(), 1, "one publish per guard");
    // An upgrade that is only read through publishes nothing.
    let w = ModifyGuard::upgrade(shared.modify());
    assert_eq!(*w, 3);
    drop(w);
    assert_eq!(shared.version().get(), 1);
}

#[test]
fn upgrade_waits_for_a_reader_on_another_thread() {
    bounded("upgrade waits for reader", || {
        let shared = Shared::new(0);
        thread::scope(|s| {
            let (release, holder) = hold_on_other_thread(s, &shared, 'r');
            let m = shared.modify();
            let shared = &shared;
            let releaser = s.spawn(move || {
                while shared.try_read().is_some() {
                    // Until the upgrade waits for the reader (it then refuses plain readers).
                    thread::yield_now();
                }
                release.send(()).unwrap();
            });
            let mut w = ModifyGuard::upgrade(m); // blocks until the reader leaves
            *w = 9;
            drop(w);
            holder.join().unwrap();
            releaser.join().unwrap();
        });
        assert_eq!(*shared.read(), 9);
    });
}

#[test]
fn get_mut_into_inner_default_from() {
    let mut s = Shared::new(String::from("a"));
    s.get_mut().push('b');
    assert_eq!(s.version().get(), 0, "get_mut publishes nothing");
    assert_eq!(*s.read(), "ab");
    assert_eq!(s.into_inner(), "ab");

    let d: Shared<Vec<u8>> = Shared::default();
    assert!(d.read().is_empty());
    assert_eq!(d.version().get(), 0);

    let f: Shared<i32> = Shared::from(4);
    assert_eq!(*f.read(), 4);
    let g: Shared<i32> = 5.into();
    assert_eq!(g.into_inner(), 5);

    // into_inner of a poisoned Shared still gives the value.
    let p = Shared::new(1);
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p.push(|v| {
            *v = 2;
            panic!("half done")
        })
    }));
    assert!(p.is_poisoned());
    assert_eq!(p.into_inner(), 2);
}

#[test]
fn with_and_update_return_the_closure_result() {
    let s = Shared::new(vec![1, 2, 3]);
    assert_eq!(s.with(|v| v.iter().sum::<i32>()), 6);
    assert_eq!(s.version().get(), 0);
    let len = s.push(|v| {
        v.push(4);
        v.len()
    });
    assert_eq!(len, 4);
    assert_eq!(s.version().get(), 1);
}

#[test]
fn debug_shows_value_version_and_poison() {
    let s = Shared::new(5);
    s.push(|v| *v += 1);
    let text = format!("{s:?}");
    assert_contains_all(
        &text,
        &["Shared", "value: 6", "Version(1)", "poisoned: false"],
    );
}

#[test]
fn debug_never_blocks_and_shows_locked_while_write_locked() {
    bounded("Debug while locked", || {
        let s = Shared::new(5);
        {
            let _w = s.write(); // this thread's own write guard
            let text = format!("{s:?}");
            assert!(text.contains("<locked>"), "{text}");
            assert!(!text.contains('5'), "{text}");
        }
        {
            let _m = s.modify(); // a modifier does not hide the value
            assert!(format!("{s:?}").contains("value: 5"));
        }
        thread::scope(|sc| {
            let (release, holder) = hold_on_other_thread(sc, &s, 'w');
            let text = format!("{s:?}");
            assert!(text.contains("<locked>"), "{text}");
            release.send(()).unwrap();
            holder.join().unwrap();
        });
        assert!(format!("{s:?}").contains("value: 5"));
    });
}

#[test]
fn guards_forward_debug_and_display() {
    let s = Shared::new(String::from("hi"));
    assert_eq!(format!("{}", s.read()), "hi");
    assert_eq!(format!("{:?}", s.read()), "\"hi\"");
    assert_eq!(format!("{}", s.modify()), "hi");
    assert_eq!(format!("{:?}", s.write()), "\"hi\"");
    assert_eq!(
        s.version().get(),
        0,
        "formatting a write guard is not a mutation"
    );
}

#[test]
fn unsized_slice_through_box_coercion() {
    let boxed: Box<Shared<[i32; 3]>> = Box::new(Shared::new([1, 2, 3]));
    let slice: Box<Shared<[i32]>> = boxed;
    assert_eq!(slice.read().len(), 3);
    slice.write()[1] = 20;
    assert_eq!(slice.version().get(), 1);
    slice.push(|v| v.iter_mut().for_each(|x| *x *= 2));
    assert_eq!(&*slice.read(), &[2, 40, 6]);
    let mut puller = slice.puller();
    slice.push(|v| v[0] = 0);
    assert_eq!(puller.pull_with(|v| v.to_vec()), Some(vec![0, 40, 6]));
    let m = slice.modify();
    let mut w = ModifyGuard::upgrade(m);
    w.reverse();
    drop(w);
    assert_eq!(&*slice.read(), &[6, 40, 0]);
    assert!(format!("{slice:?}").contains("[6, 40, 0]"));
}

trait Counter: Debug + Send + Sync {
    fn bump(&mut self) -> u32;
    fn get(&self) -> u32;
}

#[derive(Debug)]
struct Simple(u32);

impl Counter for Simple {
    fn bump(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
    fn get(&self) -> u32 {
        self.0
    }
}

#[test]
fn unsized_trait_object() {
    let shared: Arc<Shared<dyn Counter>> = Arc::new(Shared::new(Simple(0)));
    let per_thread = scaled(500) as u32;
    bounded("dyn Counter", {
        let shared = Arc::clone(&shared);
        move || {
            thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..per_thread {
                            shared.push(|c| c.bump());
                        }
                    });
                }
            });
        }
    });
    assert_eq!(shared.read().get(), 2 * per_thread);
    assert_eq!(shared.version().get(), u64::from(2 * per_thread));
    assert!(format!("{shared:?}").contains("Simple"));
}

#[test]
fn a_queued_writer_goes_before_a_new_reader() {
    // The fairness the crate docs claim: once a writer waits, a thread that does not already
    // read queues behind it (only a thread that already reads may read again ahead of it, to
    // avoid deadlocking on itself). Otherwise a stream of overlapping readers starves writers.
    bounded("queued writer before a new reader", || {
        let shared = &Shared::new(0);
        thread::scope(|s| {
            let r = shared.read();
            let writer = s.spawn(|| *shared.write() = 1);
            while shared.try_read().is_some() {
                // Until the writer is queued (it then refuses new plain readers).
                thread::yield_now();
            }
            let (read_tx, read_rx) = mpsc::channel();
            let reader = s.spawn(move || {
                let value = *shared.read();
                read_tx.send(value).unwrap();
                value
            });
            // The new reader must not get in while the writer waits for our read: if it
            // did, it would report 0 here.
            assert!(
                read_rx.recv_timeout(SHORT).is_err(),
                "a new reader got in ahead of the queued writer"
            );
            drop(r);
            writer.join().unwrap();
            assert_eq!(
                reader.join().unwrap(),
                1,
                "the reader came after the writer"
            );
        });
    });
}
