//! loom models of pushpull live in `tests/`; this library only holds the small harness they
//! share (compiled under `--cfg loom` only; without the flag the crate is empty).
//!
//! Every model runs through `harness::check` (or `harness::expect_failure` for models in
//! which loom must find a bug). Both count the iterations loom explored and time the run, and
//! print one line per model to stderr:
//!
//! ```text
//! [loom] <name>: <iterations> iterations in <time> (preemption bound <bound>)
//! ```
//!
//! Run with `--nocapture` to see them.

#[cfg(loom)]
pub mod harness {
    use std::cell::Cell;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Once};
    use std::time::{Duration, Instant};

    std::thread_local! {
        /// Set while this OS thread runs code whose panics are expected (and checked): the
        /// panic hook stays silent then. loom runs every model thread on the OS thread of the
        /// test, so one flag covers a whole model; other tests run on other OS threads.
        static QUIET: Cell<bool> = const { Cell::new(false) };
    }

    /// Silences the panic hook on this OS thread until dropped.
    struct Quiet {
        was: bool,
    }

    impl Quiet {
        fn new() -> Self {
            static HOOK: Once = Once::new();
            HOOK.call_once(|| {
                let default = std::panic::take_hook();
                std::panic::set_hook(Box::new(move |info| {
                    if !QUIET.with(Cell::get) {
                        default(info);
                    }
                }));
            });
            Quiet {
                was: QUIET.with(|q| q.replace(true)),
            }
        }
    }

    impl Drop for Quiet {
        fn drop(&mut self) {
            QUIET.with(|q| q.set(self.was));
        }
    }

    /// What one model run cost.
    #[derive(Clone, Copy, Debug)]
    pub struct Stats {
        /// How many executions (interleavings) loom ran, including a failing one.
        pub iterations: usize,
        /// Wall time of the whole exploration.
        pub elapsed: Duration,
    }

    /// The bound a model runs with: its own, unless overridden from the environment
    /// (`LOOM_MAX_PREEMPTIONS=n` for every model, or `PUSHPULL_LOOM_EXHAUSTIVE=1` for
    /// unbounded runs of every model; both are for deeper, slower runs by hand).
    fn effective_bound(bound: Option<usize>) -> Option<usize> {
        if std::env::var_os("PUSHPULL_LOOM_EXHAUSTIVE").is_some() {
            return None;
        }
        match std::env::var("LOOM_MAX_PREEMPTIONS") {
            Ok(n) => Some(n.parse().expect("LOOM_MAX_PREEMPTIONS must be a number")),
            Err(_) => bound,
        }
    }

    fn builder(bound: Option<usize>) -> loom::model::Builder {
        let mut builder = loom::model::Builder::new();
        // Every model states the bound it was measured with (`None`: exhaustive).
        builder.preemption_bound = bound;
        builder
    }

    fn report(name: &str, bound: Option<usize>, stats: Stats, outcome: &str) {
        let bound = match bound {
            Some(b) => b.to_string(),
            None => "none".to_string(),
        };
        eprintln!(
            "[loom] {name}: {} iterations in {:.3?} (preemption bound {bound}){outcome}",
            stats.iterations, stats.elapsed
        );
    }

    /// Explores every interleaving of `f` (up to `bound` preemptions); panics if one fails.
    pub fn check<F>(name: &str, bound: Option<usize>, f: F) -> Stats
    where
        F: Fn() + Sync + Send + 'static,
    {
        let bound = effective_bound(bound);
        let count = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&count);
        let start = Instant::now();
        builder(bound).check(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            f();
        });
        let stats = Stats {
            iterations: count.load(Ordering::Relaxed),
            elapsed: start.elapsed(),
        };
        report(name, bound, stats, "");
        stats
    }

    /// Runs a model in which loom must find a bug: returns the message of the panic loom
    /// stopped at. Panics (failing the test) if loom explored every interleaving without a
    /// failure, i.e. if loom ever stops catching the bug.
    pub fn expect_failure<F>(name: &str, bound: Option<usize>, f: F) -> (String, Stats)
    where
        F: Fn() + Sync + Send + 'static,
    {
        let bound = effective_bound(bound);
        let count = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&count);
        let start = Instant::now();
        let quiet = Quiet::new();
        let result = catch_unwind(AssertUnwindSafe(|| {
            builder(bound).check(move || {
                counter.fetch_add(1, Ordering::Relaxed);
                f();
            })
        }));
        drop(quiet);
        let stats = Stats {
            iterations: count.load(Ordering::Relaxed),
            elapsed: start.elapsed(),
        };
        match result {
            Ok(()) => {
                report(name, bound, stats, ": NO failure found");
                panic!(
                    "loom explored {} interleavings of `{name}` and found no failure, \
                     but this model must fail",
                    stats.iterations
                )
            }
            Err(payload) => {
                let message = panic_message(&*payload);
                let first_line = message.lines().next().unwrap_or_default();
                report(
                    name,
                    bound,
                    stats,
                    &format!(": failed as expected: {first_line}"),
                );
                (message, stats)
            }
        }
    }

    /// The text of a panic payload (`panic!` with a literal or with formatting).
    pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
        if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "<non-string panic payload>".to_string()
        }
    }

    /// Runs `f`, which must panic, and returns the panic message. For panics that pushpull
    /// raises *inside* a model (re-entrancy): the model itself goes on and must pass.
    pub fn panic_of<R>(f: impl FnOnce() -> R) -> String {
        let quiet = Quiet::new();
        let result = catch_unwind(AssertUnwindSafe(f));
        drop(quiet);
        match result {
            Ok(_) => panic!("expected a panic, but the call returned"),
            Err(payload) => panic_message(&*payload),
        }
    }

    /// Runs `f` and catches a panic it may raise, with the panic hook silent: for models in
    /// which a panic is allowed but not required (a waker that panics when woken, if it was
    /// registered in time).
    pub fn quietly<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
        let quiet = Quiet::new();
        let result = catch_unwind(AssertUnwindSafe(f));
        drop(quiet);
        result
    }

    /// A waker for models that need their own: wakes through a `loom::sync::Notify` (as
    /// `loom::future::block_on`'s waker does: `Thread::unpark` would also wake a loom thread
    /// blocked on a lock or a join, which loom's primitives do not expect), and panics
    /// afterwards if `panics` (an executor whose waker misbehaves).
    pub struct ModelWaker {
        notify: loom::sync::Notify,
        panics: bool,
    }

    /// The message of a `ModelWaker`'s panic.
    pub const WAKE_PANIC: &str = "[expected] a waker that panics when woken";

    impl ModelWaker {
        pub fn new(panics: bool) -> Arc<ModelWaker> {
            Arc::new(ModelWaker {
                notify: loom::sync::Notify::new(),
                panics,
            })
        }
    }

    impl std::task::Wake for ModelWaker {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.notify.notify();
            if self.panics {
                panic!("{WAKE_PANIC}");
            }
        }
    }

    /// Polls `future` to completion on the current loom thread with a `ModelWaker`, waiting
    /// between polls until that waker is woken (a lost wake-up is a loom deadlock; loom may
    /// also return spuriously, which only polls again).
    pub fn block_on_model<F: std::future::Future>(future: F) -> F::Output {
        let model_waker = ModelWaker::new(false);
        let waker = std::task::Waker::from(Arc::clone(&model_waker));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            model_waker.notify.wait();
        }
    }

    /// A future that polls `inner` once and completes with whether it was still pending: run
    /// it with `loom::future::block_on` to register a waiter with loom's waker, then drop the
    /// inner future mid-wait.
    pub struct PollOnce<'f, F>(pub &'f mut F);

    impl<F: std::future::Future + Unpin> std::future::Future for PollOnce<'_, F> {
        type Output = bool;

        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<bool> {
            std::task::Poll::Ready(std::pin::Pin::new(&mut *self.0).poll(cx).is_pending())
        }
    }
}
