//! The hooks where recording is compiled out (no `profile` feature, or `cfg(loom)`): the
//! names and signatures of `hooks.rs`, empty and zero-sized, so the callers need no `cfg`
//! and compile to what they were without the profile.

use super::{Access, Armed};
use std::panic::Location;

/// Zero-sized: no class, no holder site.
pub(crate) struct LockSlot;

impl LockSlot {
    #[inline(always)]
    #[allow(clippy::extra_unused_type_parameters)] // the signature of hooks.rs
    pub(crate) fn new<T: ?Sized>() -> Self {
        LockSlot
    }

    #[inline(always)]
    pub(crate) fn starts_armed() -> bool {
        false
    }

    #[inline(always)]
    pub(crate) fn holding(&self, _at: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn holding_armed(&self, _at: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn contended(&self, _access: Access, _switch: &impl Armed) -> Wait<'_> {
        Wait(std::marker::PhantomData)
    }

    #[inline(always)]
    pub(crate) fn hold_ended(&self) {}

    #[inline(always)]
    pub(crate) fn pulled_armed(&self, _at: &'static Location<'static>, _from: u64, _to: u64) {}
}

/// Zero-sized.
pub(crate) struct GroupSlot;

impl GroupSlot {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        GroupSlot
    }
}

/// Zero-sized: nothing is timed.
#[must_use]
pub(crate) struct Wait<'a>(std::marker::PhantomData<&'a ()>);

/// Zero-sized: no hold is timed.
#[derive(Clone, Copy)]
pub(crate) struct Timed;

impl Timed {
    pub(crate) const NO: Timed = Timed;

    #[inline(always)]
    pub(crate) fn is_timed(self) -> bool {
        false
    }
}

impl Wait<'_> {
    #[inline(always)]
    pub(crate) fn acquired(self) -> Timed {
        Timed
    }

    #[inline(always)]
    pub(crate) fn gave_up(self) {}
}

/// Zero-sized, no `Drop`.
#[derive(Debug)]
pub(crate) struct WaitProbe;

impl WaitProbe {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        WaitProbe
    }

    #[inline(always)]
    pub(crate) fn pending<C>(&mut self, _class: &C) {}

    #[inline(always)]
    pub(crate) fn pending_if<C>(&mut self, _class: &C, _waits: impl FnOnce() -> bool) {}

    #[inline(always)]
    pub(crate) fn ready<C>(&mut self, _class: &C, _skipped: impl FnOnce() -> u64) {}
}
