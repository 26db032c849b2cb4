//! How a [`PullerOf`](super::PullerOf) holds its `Shared`: a borrow or an `Arc`.

use super::*;

mod sealed {
    pub trait Sealed {}
}

/// How a [`PullerOf`] holds its [`Shared`]: `&'a Shared<T>` ([`Puller`]) or
/// `Arc<Shared<T>>` ([`ArcPuller`]). Sealed: pushpull implements it for these two and no other.
///
/// Name it to write code for both kinds of puller:
///
/// ```
/// use pushpull::{PullerOf, Shared, SharedHandle};
/// use std::sync::Arc;
///
/// fn new_len<H: SharedHandle<Value = Vec<u8>>>(puller: &mut PullerOf<H>) -> Option<usize> {
///     puller.pull_with(|v| v.len())
/// }
///
/// let shared = Arc::new(Shared::new(vec![1u8]));
/// let (mut borrowed, mut owned) = (shared.puller(), shared.puller_arc());
/// shared.push(|v| v.push(2));
/// assert_eq!((new_len(&mut borrowed), new_len(&mut owned)), (Some(2), Some(2)));
/// ```
pub trait SharedHandle: sealed::Sealed {
    /// The type of the value in the `Shared`.
    type Value: ?Sized;

    /// The read guard that [`PullerOf::wait`] and its twins return, when the puller is
    /// borrowed for `'p`: [`ReadGuard<'a, T>`](ReadGuard) for a [`Puller<'a, T>`](Puller)
    /// (it borrows the `Shared`, not the puller, which stays usable while the guard lives),
    /// [`ReadGuard<'p, T>`](ReadGuard) for an [`ArcPuller<T>`](ArcPuller) (it borrows the
    /// puller, which holds the `Shared`).
    type Guard<'p>: std::ops::Deref<Target = Self::Value>
    where
        Self: 'p;

    #[doc(hidden)]
    fn shared_ref(&self) -> &Shared<Self::Value>;

    #[doc(hidden)]
    fn guard_with<'p, F>(&'p self, read: F) -> Option<Self::Guard<'p>>
    where
        F: for<'x> FnOnce(&'x Shared<Self::Value>) -> Option<ReadGuard<'x, Self::Value>>;
}

impl<T: ?Sized> sealed::Sealed for &Shared<T> {}
impl<'a, T: ?Sized> SharedHandle for &'a Shared<T> {
    type Value = T;
    type Guard<'p>
        = ReadGuard<'a, T>
    where
        Self: 'p;

    #[inline]
    fn shared_ref(&self) -> &Shared<T> {
        self
    }

    #[inline]
    fn guard_with<'p, F>(&'p self, read: F) -> Option<ReadGuard<'a, T>>
    where
        F: for<'x> FnOnce(&'x Shared<T>) -> Option<ReadGuard<'x, T>>,
    {
        read(*self)
    }
}

impl<T: ?Sized> sealed::Sealed for Arc<Shared<T>> {}
impl<T: ?Sized> SharedHandle for Arc<Shared<T>> {
    type Value = T;
    type Guard<'p>
        = ReadGuard<'p, T>
    where
        Self: 'p;

    #[inline]
    fn shared_ref(&self) -> &Shared<T> {
        self
    }

    #[inline]
    fn guard_with<'p, F>(&'p self, read: F) -> Option<ReadGuard<'p, T>>
    where
        F: for<'x> FnOnce(&'x Shared<T>) -> Option<ReadGuard<'x, T>>,
    {
        read(self)
    }
}
