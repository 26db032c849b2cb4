//! A deliberately hot lock, found with the contention profile.
//!
//! A worker updates shared statistics and, by mistake, keeps the write guard while it does
//! slow work (here: a 20 ms sleep standing for I/O); two readers want the statistics all the
//! time. The profile names the culprit: the writer's `write()` line *caused* almost all the
//! waiting, the readers' line *waited*.
//!
//! ```sh
//! cargo run --release --example contention --features profile            # table, pprof, SVG
//! cargo run --release --example contention --features profile -- --rounds 5 --out /tmp/p
//! go tool pprof -top target/contention/contention.pb.gz                   # if Go is installed
//! ```
//!
//! Writes `contention.pb.gz` (pprof) and `contention.svg` (a flame graph of the caused
//! delays, drawn with the `inferno` crate) into `--out` (default `target/contention`).

use pushpull::profile::{self, ProfileConfig};
use pushpull::{Shared, WaitGroup};
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[derive(Debug, Default)]
struct Stats {
    slow_ops: u64,
}

/// The slow work the worker does while it holds the write guard: the bug this example shows.
fn slow_work() {
    thread::sleep(Duration::from_millis(20));
}

fn main() -> std::io::Result<()> {
    let mut rounds = 20u32;
    let mut out = PathBuf::from("target/contention");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--rounds N")
            }
            "--out" => out = args.next().expect("--out DIR").into(),
            other => panic!("unknown argument {other:?} (--rounds N, --out DIR)"),
        }
    }

    profile::enable(ProfileConfig::default()); // every event: a demo is short
    let stats = Arc::new(Shared::new(Stats::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers = WaitGroup::new();

    let writer = {
        let stats = Arc::clone(&stats);
        workers.spawn(move || {
            for _ in 0..rounds {
                let mut s = stats.write();
                s.slow_ops += 1;
                slow_work(); // holding the write guard: every reader waits
                drop(s);
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (stats, stop) = (Arc::clone(&stats), Arc::clone(&stop));
            workers.spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let s = stats.read(); // waits whenever the writer sleeps
                    reads += s.slow_ops.min(1);
                }
                reads
            })
        })
        .collect();
    writer.join().expect("writer");
    stop.store(true, Ordering::Relaxed);
    workers.wait();
    let reads: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
    profile::disable();

    let report = profile::report();
    println!("{report}");
    println!("{} slow operations, {reads} reads", stats.read().slow_ops);

    fs::create_dir_all(&out)?;
    let pprof = out.join("contention.pb.gz");
    report.write_pprof(BufWriter::new(File::create(&pprof)?))?;
    let mut folded = Vec::new();
    report.write_folded(&mut folded)?;
    let folded = String::from_utf8(folded).expect("folded stacks are UTF-8");
    let svg = out.join("contention.svg");
    let mut options = inferno::flamegraph::Options::default();
    options.title = "pushpull: delay caused, by class and holder site".to_string();
    options.count_name = "ns".to_string();
    options.deterministic = true;
    inferno::flamegraph::from_lines(
        &mut options,
        folded.lines(),
        BufWriter::new(File::create(&svg)?),
    )?;
    println!("wrote {} and {}", pprof.display(), svg.display());
    Ok(())
}
