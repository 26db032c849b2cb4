//! The wiring API where checking is compiled out (release builds without the
//! `lock-order-check` feature, and `cfg(loom)`): the same signatures as `local` and `graph`,
//! empty, so the callers need no `cfg`, and `HeldMark` zero-sized.

use super::{How, LockRef};
use std::panic::Location;

/// Does nothing: checking is compiled out.
#[inline(always)]
pub(crate) fn before_acquire(_lock: LockRef, _how: How, _at: &'static Location<'static>) {}

/// Does nothing: checking is compiled out.
#[inline(always)]
pub(crate) fn hold(_lock: LockRef, _how: How, _at: &'static Location<'static>) -> HeldMark {
    HeldMark {
        _not_send: crate::thread_bound::NotSend::default(),
    }
}

/// Does nothing: checking is compiled out.
#[inline(always)]
pub(crate) fn forget(_id: u64) {}

/// Zero-sized. Not `Send` but `Sync`, as where checking is on, so that a guard's auto traits
/// do not depend on the build.
#[must_use = "the lock counts as held only while the mark lives"]
#[derive(Debug)]
pub(crate) struct HeldMark {
    _not_send: crate::thread_bound::NotSend,
}

impl HeldMark {
    /// Does nothing: checking is compiled out.
    #[inline(always)]
    pub(crate) fn change(&self, _how: How, _at: &'static Location<'static>) {}
}
