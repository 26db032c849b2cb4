//! Async waits (tokio tasks on a 2-worker multi-thread runtime): a ping-pong and a fan-out
//! against tokio's `watch`, and one push waking blocked threads and tasks together.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use pushpull::Shared;
use tokio::runtime::Runtime;
use tokio::sync::{watch, Notify};

use crate::harness::{anchor, ours, Workload, PP, WATCH};

const FAMILY: &str = "async";
const FANOUT: usize = 64;
const MIXED_TASKS: usize = 16;
const MIXED_THREADS: usize = 2;
/// How long `mixed_fanout` lets its blocked threads settle (past any spin) before a push.
const SETTLE: Duration = Duration::from_micros(200);

/// Built on a runner's first call, so a filtered-out workload starts no threads.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("build a 2-worker tokio runtime")
}

// --- async_pingpong ---------------------------------------------------------------------------

fn pingpong_pushpull(rt: &Runtime, n: u64) -> Duration {
    let ping = Arc::new(Shared::new(0u64));
    let pong = Arc::new(Shared::new(0u64));
    // Both pullers exist before either task starts: no push is missed.
    let mut ping_puller = ping.puller_arc();
    let mut pong_puller = pong.puller_arc();
    rt.block_on(async move {
        let partner = tokio::spawn({
            let pong = Arc::clone(&pong);
            async move {
                for i in 0..n {
                    drop(ping_puller.wait_async().await);
                    pong.push(|v| *v = i);
                }
            }
        });
        let master = tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..n {
                ping.push(|v| *v = i);
                drop(pong_puller.wait_async().await);
            }
            start.elapsed()
        });
        partner.await.unwrap();
        master.await.unwrap()
    })
}

fn pingpong_watch(rt: &Runtime, n: u64) -> Duration {
    let (ping_tx, mut ping_rx) = watch::channel(0u64);
    let (pong_tx, mut pong_rx) = watch::channel(0u64);
    rt.block_on(async move {
        let partner = tokio::spawn(async move {
            for i in 0..n {
                ping_rx.changed().await.unwrap();
                ping_rx.borrow_and_update();
                pong_tx.send_modify(|v| *v = i);
            }
        });
        let master = tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..n {
                ping_tx.send_modify(|v| *v = i);
                pong_rx.changed().await.unwrap();
                pong_rx.borrow_and_update();
            }
            start.elapsed()
        });
        partner.await.unwrap();
        master.await.unwrap()
    })
}

// --- async_fanout_64 and mixed_fanout ---------------------------------------------------------

/// Counts, once, that the wrapped future returned `Pending` (its waker is registered), and
/// wakes `armed` when `count` reaches `target`.
struct CountPending<F> {
    inner: Pin<Box<F>>,
    counted: bool,
    round: Arc<Round>,
}

impl<F> CountPending<F> {
    fn new(inner: F, round: &Arc<Round>) -> Self {
        CountPending {
            inner: Box::pin(inner),
            counted: false,
            round: Arc::clone(round),
        }
    }
}

impl<F: Future> Future for CountPending<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let out = self.inner.as_mut().poll(cx);
        if out.is_pending() && !self.counted {
            self.counted = true;
            self.round.arm();
        }
        out
    }
}

/// One fan-out round's bookkeeping: how many waiters are armed, how many observed the push,
/// and when the last one did.
struct Round {
    waiters: usize,
    armed: AtomicUsize,
    all_armed: Notify,
    observed: AtomicUsize,
    last: Mutex<Option<Instant>>,
    all_observed: Notify,
}

impl Round {
    fn new(waiters: usize) -> Self {
        Round {
            waiters,
            armed: AtomicUsize::new(0),
            all_armed: Notify::new(),
            observed: AtomicUsize::new(0),
            last: Mutex::new(None),
            all_observed: Notify::new(),
        }
    }
    fn arm(&self) {
        if self.armed.fetch_add(1, Ordering::AcqRel) + 1 == self.waiters {
            self.all_armed.notify_one();
        }
    }
    fn observe(&self) {
        let now = Instant::now();
        if self.observed.fetch_add(1, Ordering::AcqRel) + 1 == self.waiters {
            *self.last.lock().unwrap() = Some(now);
            self.all_observed.notify_one();
        }
    }
    /// Waits until every waiter is armed; resets the armed count for the next round.
    async fn until_armed(&self) {
        while self.armed.load(Ordering::Acquire) < self.waiters {
            self.all_armed.notified().await;
        }
        self.armed.store(0, Ordering::Release);
    }
    /// Waits until every waiter observed the push; the latency since `pushed`.
    async fn until_observed(&self, pushed: Instant) -> Duration {
        while self.observed.load(Ordering::Acquire) < self.waiters {
            self.all_observed.notified().await;
        }
        self.observed.store(0, Ordering::Release);
        let last = self
            .last
            .lock()
            .unwrap()
            .take()
            .expect("the last observer's time");
        last.saturating_duration_since(pushed)
    }
}

fn fanout_pushpull(rt: &Runtime, n: u64) -> Duration {
    let s = Arc::new(Shared::new(0u64));
    let round = Arc::new(Round::new(FANOUT));
    rt.block_on(async {
        let tasks: Vec<_> = (0..FANOUT)
            .map(|_| {
                let mut p = s.puller_arc();
                let round = Arc::clone(&round);
                tokio::spawn(async move {
                    for _ in 0..n {
                        drop(CountPending::new(p.wait_async(), &round).await);
                        round.observe();
                    }
                })
            })
            .collect();
        let mut total = Duration::ZERO;
        for i in 1..=n {
            round.until_armed().await;
            let pushed = Instant::now();
            s.push(|v| *v = i);
            total += round.until_observed(pushed).await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        total
    })
}

fn fanout_watch(rt: &Runtime, n: u64) -> Duration {
    let (tx, rx) = watch::channel(0u64);
    let round = Arc::new(Round::new(FANOUT));
    rt.block_on(async {
        let tasks: Vec<_> = (0..FANOUT)
            .map(|_| {
                let mut rx = rx.clone();
                let round = Arc::clone(&round);
                tokio::spawn(async move {
                    for _ in 0..n {
                        CountPending::new(rx.changed(), &round).await.unwrap();
                        rx.borrow_and_update();
                        round.observe();
                    }
                })
            })
            .collect();
        let mut total = Duration::ZERO;
        for i in 1..=n {
            round.until_armed().await;
            let pushed = Instant::now();
            tx.send_modify(|v| *v = i);
            total += round.until_observed(pushed).await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        total
    })
}

fn mixed_pushpull(rt: &Runtime, n: u64) -> Duration {
    let s = Arc::new(Shared::new(0u64));
    let round = Arc::new(Round::new(MIXED_THREADS + MIXED_TASKS));
    let threads: Vec<_> = (0..MIXED_THREADS)
        .map(|_| {
            let mut p = s.puller_arc();
            let round = Arc::clone(&round);
            thread::spawn(move || {
                for _ in 0..n {
                    round.arm();
                    drop(p.wait());
                    round.observe();
                }
            })
        })
        .collect();
    let total = rt.block_on(async {
        let tasks: Vec<_> = (0..MIXED_TASKS)
            .map(|_| {
                let mut p = s.puller_arc();
                let round = Arc::clone(&round);
                tokio::spawn(async move {
                    for _ in 0..n {
                        drop(CountPending::new(p.wait_async(), &round).await);
                        round.observe();
                    }
                })
            })
            .collect();
        let mut total = Duration::ZERO;
        for i in 1..=n {
            round.until_armed().await;
            // The threads announce themselves just before `wait`: give them time to get past
            // any spin and block (this thread is not a runtime worker; sleeping here stalls
            // no task).
            thread::sleep(SETTLE);
            let pushed = Instant::now();
            s.push(|v| *v = i);
            total += round.until_observed(pushed).await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        total
    });
    for t in threads {
        t.join().unwrap();
    }
    total
}

pub fn workloads() -> Vec<Workload> {
    vec![
        Workload::new(
            "async_pingpong",
            FAMILY,
            "one round trip between two tokio tasks on a 2-worker multi-thread runtime: task A \
             pushes into one Shared, task B `wait_async`s on it and pushes into a second one, \
             A `wait_async`s on that (watch: two channels, `send_modify` and `changed()`)",
            vec![
                ours(PP, {
                    let mut rt = None;
                    move |n| pingpong_pushpull(rt.get_or_insert_with(runtime), n)
                }),
                anchor(WATCH, {
                    let mut rt = None;
                    move |n| pingpong_watch(rt.get_or_insert_with(runtime), n)
                }),
            ],
        ),
        Workload::new(
            "async_fanout_64",
            FAMILY,
            "one push with 64 tasks pending in `wait_async` (watch: `changed()`) on a 2-worker \
             runtime: the time from the push until the last of the 64 observed it",
            vec![
                ours(PP, {
                    let mut rt = None;
                    move |n| fanout_pushpull(rt.get_or_insert_with(runtime), n)
                }),
                anchor(WATCH, {
                    let mut rt = None;
                    move |n| fanout_watch(rt.get_or_insert_with(runtime), n)
                }),
            ],
        ),
        Workload::new(
            "mixed_fanout",
            FAMILY,
            "one push waking 2 threads blocked in `Puller::wait` (given 200 µs to block) and 16 \
             tasks pending in `wait_async` on a 2-worker runtime: the time from the push until \
             the last of the 18 observed it (no anchor can wait in both worlds)",
            vec![ours(PP, {
                let mut rt = None;
                move |n| mixed_pushpull(rt.get_or_insert_with(runtime), n)
            })],
        ),
    ]
}
