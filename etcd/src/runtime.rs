//! The blocking variants: run an async call on the runtime a replica or group was opened on.

use std::future::Future;
use tokio::runtime::Handle;

/// The runtime of the caller, or [`Error::NoRuntime`](crate::Error::NoRuntime).
pub(crate) fn current() -> Result<Handle, crate::Error> {
    Handle::try_current().map_err(|_| crate::Error::NoRuntime)
}

/// Runs `future` to completion on `handle` from a plain thread. Inside a runtime (a task, a
/// `block_on`, or a `spawn_blocking` thread: tokio's context is set on all of them) it
/// panics naming `method` and its async twin instead: blocking a thread that runs tasks can
/// stall the very tasks the call waits for.
#[track_caller]
pub(crate) fn block_on<F: Future>(
    handle: &Handle,
    method: &str,
    twin: &str,
    future: F,
) -> F::Output {
    if Handle::try_current().is_ok() {
        panic!(
            "pushpull_etcd: {method} called inside a tokio runtime, where blocking can stall \
             the tasks it waits for; use `{twin}(..).await` there (blocking variants are for \
             plain threads)"
        );
    }
    handle.block_on(future)
}
