//! criterion micro-benchmarks of `WaitGroup`: one thread doing add 4 / done 4 / wait, and
//! the token cycle (token / drop / wait).
//!
//! `cargo bench --bench wait_group`; the fan-in workload with real workers is in
//! `benches/lockbench/` (`waitgroup_fanin`).

use criterion::{criterion_group, criterion_main, Criterion};
use pushpull::WaitGroup;
use std::hint::black_box;
use std::time::Duration;

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(50)
}

fn cycles(c: &mut Criterion) {
    let mut g = c.benchmark_group("wait_group/cycle/1t");
    let wg = WaitGroup::new();
    g.bench_function("add 4 / done 4 / wait", |b| {
        b.iter(|| {
            let wg = black_box(&wg);
            wg.add(4);
            for _ in 0..4 {
                wg.done();
            }
            wg.wait();
        })
    });
    g.bench_function("token / drop / wait", |b| {
        b.iter(|| {
            let wg = black_box(&wg);
            drop(black_box(wg.token()));
            wg.wait();
        })
    });
    g.bench_function("wait (count 0)", |b| b.iter(|| black_box(&wg).wait()));
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = cycles
}
criterion_main!(benches);
