//! How values travel: a [`Codec`] turns a `T` into the bytes stored in etcd and back.

use std::error::Error as StdError;

/// The error a [`Codec`] returns.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Encodes values into the bytes stored under an etcd key, and decodes them back.
///
/// Every replica of a key must use codecs that agree. Decoding runs on the replica's watch
/// task for every value it applies; a value that does not decode is counted in
/// [`Status::rejected`](crate::Status::rejected) and skipped, never applied. A codec that
/// panics is treated like one that returns an error (the panic is caught).
///
/// ```
/// use pushpull_etcd::{BoxError, Codec};
///
/// /// Plain decimal text, readable with `etcdctl get`.
/// struct Decimal;
///
/// impl Codec<u64> for Decimal {
///     fn encode(&self, value: &u64) -> Result<Vec<u8>, BoxError> {
///         Ok(value.to_string().into_bytes())
///     }
///     fn decode(&self, bytes: &[u8]) -> Result<u64, BoxError> {
///         Ok(std::str::from_utf8(bytes)?.trim().parse()?)
///     }
/// }
///
/// assert_eq!(Decimal.decode(&Decimal.encode(&42).unwrap()).unwrap(), 42);
/// assert!(Decimal.decode(b"forty-two").is_err());
/// ```
pub trait Codec<T>: Send + Sync + 'static {
    /// The bytes to store for `value`.
    ///
    /// # Errors
    ///
    /// When `value` cannot be encoded; the push that asked for it fails with
    /// [`Error::Encode`](crate::Error::Encode) and writes nothing.
    fn encode(&self, value: &T) -> Result<Vec<u8>, BoxError>;

    /// The value stored as `bytes`.
    ///
    /// # Errors
    ///
    /// When `bytes` is not a value of this codec (for instance, written by another client).
    fn decode(&self, bytes: &[u8]) -> Result<T, BoxError>;
}

/// The default codec: JSON through `serde_json`, readable with `etcdctl get`.
///
/// ```
/// use pushpull_etcd::{Codec, Json};
///
/// let bytes = Json.encode(&vec![1, 2, 3]).unwrap();
/// assert_eq!(bytes, b"[1,2,3]");
/// let back: Vec<i32> = Json.decode(&bytes).unwrap();
/// assert_eq!(back, [1, 2, 3]);
/// assert!(<Json as Codec<Vec<i32>>>::decode(&Json, b"not json").is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Json;

impl<T> Codec<T> for Json
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    fn encode(&self, value: &T) -> Result<Vec<u8>, BoxError> {
        Ok(serde_json::to_vec(value)?)
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, BoxError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// Decodes with `codec`, turning a panic in user code into an error: the watch task that calls
/// it must not die.
pub(crate) fn decode_caught<T, C: Codec<T>>(codec: &C, bytes: &[u8]) -> Result<T, BoxError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| codec.decode(bytes))) {
        Ok(result) => result,
        Err(panic) => Err(format!("the codec panicked: {}", panic_message(&*panic)).into()),
    }
}

/// The message of a caught panic, if it is a string.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "(not a string)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Panics;
    impl Codec<u8> for Panics {
        fn encode(&self, _: &u8) -> Result<Vec<u8>, BoxError> {
            Ok(Vec::new())
        }
        fn decode(&self, _: &[u8]) -> Result<u8, BoxError> {
            panic!("bad codec")
        }
    }

    #[test]
    fn a_panicking_decode_is_an_error() {
        let err = decode_caught(&Panics, b"x").unwrap_err();
        assert_eq!(err.to_string(), "the codec panicked: bad codec");
    }
}
