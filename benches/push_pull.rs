//! criterion micro-benchmarks of push / pull: `has_changed` on a quiet value, `pull` when
//! nothing changed and when something did, `push`, `push_at`.
//!
//! `cargo bench --bench push_pull`.

use criterion::{criterion_group, criterion_main, Criterion};
use pushpull::Shared;
use std::hint::black_box;
use std::time::Duration;

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(50)
}

fn pull(c: &mut Criterion) {
    let mut g = c.benchmark_group("push_pull/pull/1t");
    let s = Shared::new(7u64);
    let p = s.puller();
    g.bench_function("has_changed (unchanged)", |b| {
        b.iter(|| black_box(&p).has_changed())
    });
    let mut p = s.puller();
    g.bench_function("pull (unchanged)", |b| b.iter(|| black_box(&mut p).pull()));
    // Changed: each iteration publishes once and pulls the new value.
    let changing = Shared::new(vec![1u64; 8]);
    let mut p = changing.puller();
    g.bench_function("push + pull (changed, Vec<u64; 8> clone)", |b| {
        b.iter(|| {
            changing.push(|v| v[0] += 1);
            black_box(p.pull())
        })
    });
    let mut p = changing.puller();
    g.bench_function("push + pull_with (changed, no clone)", |b| {
        b.iter(|| {
            changing.push(|v| v[0] += 1);
            black_box(p.pull_with(|v| v[0]))
        })
    });
    g.finish();
}

fn push(c: &mut Criterion) {
    let mut g = c.benchmark_group("push_pull/push/1t");
    let s = Shared::new(0u64);
    g.bench_function("push", |b| b.iter(|| black_box(&s).push(|v| *v += 1)));
    g.bench_function("push_if (false)", |b| {
        b.iter(|| black_box(&s).push_if(|v| *v == u64::MAX))
    });
    g.bench_function("push_at (wins)", |b| {
        b.iter(|| {
            let seen = s.version();
            black_box(&s).push_at(seen, |v| *v += 1).is_ok()
        })
    });
    let stale = s.version();
    s.push(|v| *v += 1);
    g.bench_function("push_at (stale, refused lock-free)", |b| {
        b.iter(|| {
            black_box(&s)
                .push_at(black_box(stale), |v| *v += 1)
                .is_err()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = pull, push
}
criterion_main!(benches);
