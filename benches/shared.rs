//! criterion micro-benchmarks of `Shared`'s guards: uncontended read / modify /
//! modify+upgrade / write / update, and `update` contended by 2 threads.
//!
//! `cargo bench --bench shared`; see `benches/lockbench/` for the comparison with
//! parking_lot / std (this file measures pushpull alone).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pushpull::{ModifyGuard, Shared};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(50)
}

fn uncontended(c: &mut Criterion) {
    let s = Shared::new(1u64);
    let mut g = c.benchmark_group("shared/uncontended/1t");
    g.bench_function("read", |b| b.iter(|| *black_box(&s).read()));
    g.bench_function("modify", |b| b.iter(|| *black_box(&s).modify()));
    g.bench_function("modify+upgrade", |b| {
        b.iter(|| {
            let m = black_box(&s).modify();
            *ModifyGuard::upgrade(m) += 1;
        })
    });
    g.bench_function("write", |b| b.iter(|| *black_box(&s).write() += 1));
    g.bench_function("update", |b| b.iter(|| black_box(&s).push(|v| *v += 1)));
    g.finish();
}

/// `threads` threads each run `iters / threads` updates; the wall time of the whole batch.
fn contended_updates(threads: u64, iters: u64) -> Duration {
    let s = Shared::new(0u64);
    let per = (iters / threads).max(1);
    let barrier = Barrier::new(threads as usize);
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| {
                barrier.wait();
                for _ in 0..per {
                    s.push(|v| *v += 1);
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        for _ in 0..per {
            s.push(|v| *v += 1);
        }
        // The scope joins the other threads before returning; time until they are done.
        while *s.read() < per * threads {
            std::hint::spin_loop();
        }
        start.elapsed()
    })
}

fn contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("shared/update_contended");
    for threads in [1u64, 2] {
        g.bench_with_input(
            BenchmarkId::new("update", format!("{threads}t")),
            &threads,
            |b, &t| b.iter_custom(|iters| contended_updates(t, iters)),
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = uncontended, contended
}
criterion_main!(benches);
