//! Guards stay on the thread that took them: the `!Send` marker every pushpull guard and
//! per-thread record carries, and the name the compiler shows for it.
//!
//! A guard's bookkeeping is per thread (the owner word names the thread holding the exclusive
//! side, the debug read registry is a thread-local list, and the lock-order records are per
//! thread), and an unlock from another thread would make it lie. `parking_lot`'s own guards are
//! `!Send` only while no crate in the build enables its `send_guard` feature (Cargo unifies
//! features across the dependency graph), so pushpull's guards carry this marker of their own.
//! `std::sync::MutexGuard` is `!Send` and `Sync`, so a guard stays `Sync` exactly when the
//! lock's guard is (when `T: Sync`). Every marker uses the one leaf type below, so a guard that
//! would leave its thread gets one error naming it, not one per field.

use std::marker::PhantomData;

/// Why a pushpull guard is not `Send`: the name the compiler shows when a
/// [`ReadGuard`](crate::ReadGuard), [`ModifyGuard`](crate::ModifyGuard) or
/// [`WriteGuard`](crate::WriteGuard) would leave the thread that took it, most often a guard
/// held across an `.await` in a spawned task:
///
/// ```text
/// error: future cannot be sent between threads safely
///   = help: within `{async block}`, the trait `Send` is not implemented for
///           `std::sync::MutexGuard<'static, pushpull::GuardsStayOnTheirThread>`
/// note: future is not `Send` as this value is used across an await
///   let guard = shared.read();
///       ----- has type `ReadGuard<'_, i32>` which is not `Send`
/// ```
///
/// The fix: drop the guard before the `.await` (copy or clone what you need out of it), or
/// take it again after. Guards never move between threads, whatever features the build
/// enables. (A second error may name `*mut ()`: the same rule, from `parking_lot`'s own guard
/// inside.) This type has no value and no use beyond that message.
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// let shared = pushpull::Shared::new(1);
/// assert_send(shared.read()); // `MutexGuard<'static, GuardsStayOnTheirThread>` cannot be sent
/// ```
#[derive(Debug)]
pub struct GuardsStayOnTheirThread {
    _private: (),
}

/// The marker: `!Send`, `Sync`, zero-sized.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct NotSend(PhantomData<std::sync::MutexGuard<'static, GuardsStayOnTheirThread>>);
