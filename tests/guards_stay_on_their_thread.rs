//! Guards are never `Send`, whatever features the dependency graph enables.
//!
//! parking_lot's `send_guard` feature makes its guards `Send`; Cargo unifies features, so any
//! crate in a build can turn it on. pushpull's per-thread records (the writer that holds the
//! lock, the reads this thread holds) would then lie about a guard that moved: a `ModifyGuard`
//! handed to a worker made the original thread's `write()` panic "would deadlock" instead of
//! waiting, and a `ReadGuard` dropped on another thread left a stale record behind. A marker
//! field keeps every guard `!Send`; `Sync` is unchanged (a guard is `Sync` when `T` is).
//!
//! This file is a compile-time test: it only builds if the guards are not `Send`. CI builds it
//! with and without `--features parking_lot/send_guard`.

use pushpull::{ModifyGuard, ReadGuard, Shared, WriteGuard};

/// Resolves for any type only if it is *not* `Send`: for a `Send` type both impls apply and
/// the call `<T as NotSend<_>>::check()` is ambiguous (error E0283).
trait NotSend<Which> {
    fn check() {}
}
impl<T: ?Sized> NotSend<()> for T {}
impl<T: ?Sized + Send> NotSend<u8> for T {}

fn assert_sync<T: Sync>(_: &T) {}

#[test]
fn read_modify_and_write_guards_are_not_send() {
    <ReadGuard<'static, u32> as NotSend<_>>::check();
    <ModifyGuard<'static, u32> as NotSend<_>>::check();
    <WriteGuard<'static, u32> as NotSend<_>>::check();
    // The check can fail: for `Shared<u32>`, which is `Send`, the same line does not compile
    // (E0283). The crate docs' compile_fail example sends a guard to another thread.
}

#[test]
fn guards_stay_sync_when_t_is_sync() {
    let shared = Shared::new(1);
    {
        let r = shared.read();
        assert_sync(&r);
        // A `&guard` may be shared with scoped threads.
        std::thread::scope(|s| {
            assert_eq!(s.spawn(|| *r + 1).join().unwrap(), 2);
        });
    }
    let m = shared.modify();
    assert_sync(&m);
    let w = ModifyGuard::upgrade(m);
    assert_sync(&w);
}
