//! Helpers shared by the integration tests: bounded blocking and panic inspection.
//!
//! Every blocking call in these tests is bounded, so a bug fails the test instead of hanging CI.
#![allow(dead_code)]

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// A generous bound for anything that must complete: a correct implementation finishes in
/// microseconds, a broken one would hang forever.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A short wait for something that must *not* happen (a timeout is the expected outcome).
pub const SHORT: Duration = Duration::from_millis(50);

/// Runs `f` on a new thread and returns its result, failing the test if it does not finish
/// within [`TIMEOUT`] (a deadlock) or if it panicked (the panic message is re-raised).
#[track_caller]
pub fn bounded<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let result = catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(Ok(value)) => {
            handle.join().expect("bounded thread");
            value
        }
        Ok(Err(payload)) => panic!("{what}: panicked: {}", message(&*payload)),
        Err(_) => panic!("{what}: did not finish within {TIMEOUT:?} (deadlock?)"),
    }
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// Runs `f`, which must panic, and returns the panic message.
#[track_caller]
pub fn panic_message_of<R>(f: impl FnOnce() -> R) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic, but the call returned"),
        Err(payload) => message(&*payload),
    }
}

/// Asserts that `msg` contains every one of `parts`.
#[track_caller]
pub fn assert_contains_all(msg: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            msg.contains(part),
            "panic message {msg:?} does not contain {part:?}"
        );
    }
}

/// Scales an iteration count down under Miri, which is ~1000x slower.
pub const fn scaled(n: usize) -> usize {
    if cfg!(miri) {
        if n / 100 > 2 {
            n / 100
        } else {
            2
        }
    } else {
        n
    }
}

/// The marker that expected panics of these tests carry in their message.
pub const EXPECTED: &str = "[expected test panic]";

/// Installs (once per test binary) a panic hook that stays silent for panics whose message
/// contains [`EXPECTED`] and forwards every other panic to the previous hook, so the output
/// of tests that panic on purpose hundreds of times stays readable.
pub fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !message(info.payload()).contains(EXPECTED) {
                previous(info);
            }
        }));
    });
}

/// Whether `Shared` records the thread holding its `WriteGuard` in this build (debug builds,
/// or the `reentrancy-check` feature): only then does a re-entrant `write()` / `read()` panic
/// instead of deadlocking, and a writer's own `try_*_for` give up at once.
#[allow(dead_code)]
pub const WRITERS_TRACKED: bool = cfg!(any(debug_assertions, feature = "reentrancy-check"));

/// The timeout for a `try_*_for` by the thread that holds the `WriteGuard`: `long` where the
/// call must give up at once (tracked builds), a short one where it waits it out.
#[allow(dead_code)]
pub fn writer_own_timeout(long: Duration) -> Duration {
    if WRITERS_TRACKED {
        long
    } else {
        SHORT
    }
}

/// Whether `Shared` records which `Shared`s this thread reads (debug builds): only then does a
/// reader's `write()` / wait panic instead of deadlocking, and a reader's timed call give up at
/// once instead of at its timeout.
#[allow(dead_code)]
pub const READERS_TRACKED: bool = cfg!(debug_assertions);

/// Asserts that `f`, run on a thread of its own, is still blocked after [`SHORT`]: what the
/// docs promise as "deadlock" in builds that cannot tell. The thread is left blocked (leak
/// what it uses); it ends with the test process. A call that panics or returns instead fails
/// the test, so the docs' "deadlock" cells cannot drift silently.
#[track_caller]
pub fn assert_stays_blocked(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(outcome.map_err(|p| message(&*p)));
    });
    match rx.recv_timeout(SHORT) {
        Err(_) => {} // still blocked, as documented
        Ok(Ok(())) => panic!("{what}: returned, but the docs say it deadlocks in this build"),
        Ok(Err(msg)) => panic!("{what}: panicked ({msg}), but the docs say it deadlocks here"),
    }
}

/// A value that lives for the rest of the test process (for threads left blocked).
#[allow(dead_code)]
pub fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// Runs `body` while another thread holds the write lock of `shared` (having changed the value
/// through it first, which publishes, if `change` is given), and releases it only after `body`
/// returned: a `body` that waits for the lock to be released never returns (the caller's
/// `bounded` then fails the test).
#[allow(dead_code)]
pub fn while_written_elsewhere<T: Send + Sync, R>(
    shared: &pushpull::Shared<T>,
    change: Option<fn(&mut T)>,
    body: impl FnOnce() -> R,
) -> R {
    thread::scope(|s| {
        let (held_tx, held_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let writer = s.spawn(move || {
            let mut guard = shared.write();
            if let Some(change) = change {
                change(&mut guard); // the first mutable access publishes
            }
            held_tx.send(()).unwrap();
            release_rx.recv_timeout(TIMEOUT).expect("never released");
        });
        held_rx
            .recv_timeout(TIMEOUT)
            .expect("writer never took the lock");
        let result = body();
        release_tx.send(()).unwrap();
        writer.join().unwrap();
        result
    })
}

/// Another thread's writer of a `Shared`, under the test's control: it holds the write lock
/// from [`hold_write_lock`] until [`HeldWriter::release`].
pub struct HeldWriter {
    release: mpsc::Sender<bool>,
    writer: thread::JoinHandle<()>,
}

/// Starts a thread that takes the write lock of `shared` and holds it; returns once it does.
pub fn hold_write_lock<T: Send + Sync + 'static>(
    shared: &std::sync::Arc<pushpull::Shared<T>>,
    change: fn(&mut T),
) -> HeldWriter {
    let shared = std::sync::Arc::clone(shared);
    let (held_tx, held_rx) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<bool>();
    let writer = thread::spawn(move || {
        let mut guard = shared.write();
        held_tx.send(()).unwrap();
        let publish = release_rx.recv_timeout(TIMEOUT).expect("never released");
        if publish {
            change(&mut guard); // the first mutable access publishes
        }
    });
    held_rx
        .recv_timeout(TIMEOUT)
        .expect("writer never took the lock");
    HeldWriter { release, writer }
}

impl HeldWriter {
    /// Releases the lock, publishing first (the writer's `change`) if `publish`; returns once
    /// the writer thread is done (its wake-ups delivered).
    pub fn release(self, publish: bool) {
        self.release.send(publish).unwrap();
        self.writer.join().unwrap();
    }
}

/// Another thread holding a read guard of `shared` until [`HeldReader::release`], and a
/// writer queued behind it (`push(change)`): returns once the writer is queued, which plain
/// readers see as `try_read` failing.
pub struct QueuedWriter {
    release: mpsc::Sender<()>,
    reader: thread::JoinHandle<()>,
    writer: thread::JoinHandle<()>,
}

/// See [`QueuedWriter`].
pub fn queue_writer_behind_a_reader<T: Send + Sync + 'static>(
    shared: &std::sync::Arc<pushpull::Shared<T>>,
    change: fn(&mut T),
) -> QueuedWriter {
    let (held_tx, held_rx) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let reader = {
        let shared = std::sync::Arc::clone(shared);
        thread::spawn(move || {
            let _read = shared.read();
            held_tx.send(()).unwrap();
            release_rx.recv_timeout(TIMEOUT).expect("never released");
        })
    };
    held_rx
        .recv_timeout(TIMEOUT)
        .expect("reader never took the lock");
    let writer = {
        let shared = std::sync::Arc::clone(shared);
        thread::spawn(move || shared.push(change))
    };
    let give_up = std::time::Instant::now() + TIMEOUT;
    while shared.try_read().is_some() {
        // Until the writer is queued (it then refuses new plain readers).
        assert!(
            std::time::Instant::now() < give_up,
            "the writer never queued"
        );
        thread::yield_now();
    }
    QueuedWriter {
        release,
        reader,
        writer,
    }
}

impl QueuedWriter {
    /// Lets the reader go: the writer gets in and pushes. Returns once it did.
    pub fn release(self) {
        self.release.send(()).unwrap();
        self.reader.join().unwrap();
        self.writer.join().unwrap();
    }
}

/// Spins (yielding) until `what` shows `waiting: true` in its `Debug` output: a waiter has
/// announced itself (a `Shared` for its current version, a `WaitGroup` for its running
/// round), so the next publish or last `done` must wake it. The deterministic form of "the
/// waiter is parked"; bounded by [`TIMEOUT`].
pub fn until_a_waiter_registered(what: &impl std::fmt::Debug) {
    let give_up = std::time::Instant::now() + TIMEOUT;
    while !format!("{what:?}").contains("waiting: true") {
        assert!(
            std::time::Instant::now() < give_up,
            "no waiter registered: {what:?}"
        );
        thread::yield_now();
    }
}

/// This thread's id as the kernel knows it, for [`until_asleep`] (Linux: the target of
/// `/proc/thread-self`, `/proc/<pid>/task/<tid>`).
pub fn kernel_tid() -> u32 {
    let link = std::fs::read_link("/proc/thread-self").expect("these tests need Linux's /proc");
    link.file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse().ok())
        .expect("/proc/thread-self names a task")
}

/// Spins (yielding) until every thread in `tids` ([`kernel_tid`]s) is asleep in the kernel
/// (state `S` in `/proc/self/task/<tid>/stat`): the deterministic form of "the waiter is
/// parked" (or "the writer is blocked") for blocking tests. Call it once the threads have
/// passed every other point where they could sleep (a barrier, a channel). Bounded by
/// [`TIMEOUT`].
pub fn until_asleep(tids: &[u32]) {
    let give_up = std::time::Instant::now() + TIMEOUT;
    for tid in tids {
        loop {
            let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
                .expect("the thread is alive");
            // `tid (comm) S ...`: the state follows the last `)`.
            let state = stat[stat.rfind(')').expect("stat has a comm") + 1..]
                .split_whitespace()
                .next();
            if state == Some("S") {
                break;
            }
            assert!(
                std::time::Instant::now() < give_up,
                "thread {tid} never went to sleep"
            );
            thread::yield_now();
        }
    }
}

/// A minimal executor: polls `future` on this thread, parking the thread between polls until
/// its waker is woken. No runtime, no timer: wrap a call in [`bounded`] to bound it.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        // A wake before this park makes it return at once (the unpark token); a spurious
        // return only polls again.
        thread::park();
    }
}

/// A waker that counts how often it was woken, for polling futures by hand.
#[derive(Default)]
pub struct CountingWaker(std::sync::atomic::AtomicUsize);

impl CountingWaker {
    /// A new counter and a waker that bumps it.
    pub fn new() -> (std::sync::Arc<Self>, std::task::Waker) {
        let count = std::sync::Arc::new(CountingWaker::default());
        (std::sync::Arc::clone(&count), std::task::Waker::from(count))
    }

    /// How many times the waker was woken.
    pub fn wakes(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl std::task::Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A multi-thread tokio runtime with two workers (the machine has two cores).
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime")
}
