//! What the bridge adds to what etcd itself costs, as ratios measured in one run.
//!
//! ```text
//! cargo bench --bench bridge                      # 15 rounds of 200 operations per workload
//! cargo bench --bench bridge -- --rounds 5 --ops 50   # quicker
//! ```
//!
//! * `push_commit`: `Replica::push(|v| *v += 1)` until it returns (read your writes
//!   included), against a bare etcd-client `Txn(If mod_revision == r, Then Put)` of the same
//!   JSON value.
//! * `propagation`: from the start of a push in one replica until a task awaiting a puller of
//!   another replica (another client) wakes with the value, against a bare `Txn` put until a
//!   bare etcd-client watch of another client receives the event.
//!
//! Each round measures every variant back to back, on a local etcd on tmpfs started for the
//! run (fsyncs cost nothing there: the figures are etcd's request path, not a disk). Per
//! variant: the median of the rounds' per-operation medians, and the min-max over rounds;
//! ratios are bridge / bare per round, summarized the same way. Target: at most 1.10.

#[allow(dead_code)]
#[path = "../tests/support/server.rs"]
mod server;

use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp, WatchOptions};
use pushpull_etcd::Replica;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

struct Config {
    rounds: usize,
    ops: usize,
    explain: bool,
    /// Only this variant, `ops` times, nothing printed: for `perf stat` on this process.
    only: Option<String>,
}

fn config() -> Config {
    let mut c = Config {
        rounds: 15,
        ops: 200,
        explain: false,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => {
                c.rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rounds N")
            }
            "--ops" => c.ops = args.next().and_then(|v| v.parse().ok()).expect("--ops N"),
            "--explain" => c.explain = true,
            "--only" => c.only = args.next(),
            "--bench" => {}
            other => panic!("unknown argument {other:?} (--rounds N, --ops N)"),
        }
    }
    c
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A bare compare-and-put loop on `key` (the anchor of `push_commit`).
struct Bare {
    client: Client,
    key: String,
    revision: i64,
    value: u64,
}

impl Bare {
    async fn new(client: Client, key: &str) -> Bare {
        let mut c = client.clone();
        let r = c
            .put(key, serde_json::to_vec(&0u64).unwrap(), None)
            .await
            .unwrap();
        Bare {
            client,
            key: key.to_owned(),
            revision: r.header().unwrap().revision(),
            value: 0,
        }
    }

    async fn put(&mut self) {
        self.put_with(false).await;
    }

    /// `with_id`: also put a second key in the same transaction, as the bridge does.
    async fn put_with(&mut self, with_id: bool) {
        self.value += 1;
        let mut ops = vec![TxnOp::put(
            self.key.clone(),
            serde_json::to_vec(&self.value).unwrap(),
            None,
        )];
        if with_id {
            ops.push(TxnOp::put(
                format!("{}\0id", self.key),
                format!("{:032x}", self.value),
                None,
            ));
        }
        let txn = Txn::new()
            .when([Compare::mod_revision(
                self.key.clone(),
                CompareOp::Equal,
                self.revision,
            )])
            .and_then(ops);
        let r = self.client.txn(txn).await.unwrap();
        assert!(r.succeeded());
        self.revision = r.header().unwrap().revision();
    }
}

/// The median of `ops` timings of `$op` (an expression evaluating to a `Duration`), in µs.
macro_rules! sample {
    ($ops:expr, $op:expr) => {{
        let mut v = Vec::with_capacity($ops);
        for _ in 0..$ops {
            let d: Duration = $op;
            v.push(d.as_secs_f64() * 1e6);
        }
        median(v)
    }};
}

fn report(name: &str, bridge: &[f64], bare: &[f64]) -> f64 {
    let ratios: Vec<f64> = bridge.iter().zip(bare).map(|(a, b)| a / b).collect();
    let range = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        format!("{lo:.2}-{hi:.2}")
    };
    let ratio = median(ratios.clone());
    println!(
        "{name:<12} bridge {:>8.1} µs ({} µs)   bare {:>8.1} µs ({} µs)   ratio {:.3} ({})",
        median(bridge.to_vec()),
        range(bridge),
        median(bare.to_vec()),
        range(bare),
        ratio,
        range(&ratios),
    );
    ratio
}

fn main() {
    let config = config();
    // BRIDGE_ETCD=host:port uses a running etcd (to measure this process alone with perf).
    let external = std::env::var("BRIDGE_ETCD").ok();
    let etcd = external.is_none().then(server::Etcd::start);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let endpoints = match (&external, &etcd) {
            (Some(e), _) => vec![e.clone()],
            (None, Some(etcd)) => etcd.endpoints(),
            (None, None) => unreachable!(),
        };
        let connect = || async { pushpull_etcd::connect(&endpoints).await.unwrap() };

        // push_commit
        let replica = Replica::open(connect().await, "bench/commit", 0u64).await.unwrap();
        let mut bare = Bare::new(connect().await, "bench/commit-bare").await;
        // propagation: a pusher and a follower (another client), for each side.
        let pusher = Replica::open(connect().await, "bench/prop", 0u64).await.unwrap();
        let follower = Replica::open(connect().await, "bench/prop", 0u64).await.unwrap();
        let (woke_tx, mut woke) = mpsc::unbounded_channel::<Instant>();
        let mut puller = follower.puller_arc();
        tokio::spawn(async move {
            loop {
                drop(puller.wait_async().await);
                if woke_tx.send(Instant::now()).is_err() {
                    return;
                }
            }
        });
        let mut bare_pusher = Bare::new(connect().await, "bench/prop-bare").await;
        let mut watcher = connect().await;
        let mut stream = watcher
            .watch("bench/prop-bare", Some(WatchOptions::new().with_start_revision(bare_pusher.revision + 1)))
            .await
            .unwrap();
        let (event_tx, mut event) = mpsc::unbounded_channel::<Instant>();
        tokio::spawn(async move {
            while let Ok(Some(r)) = stream.message().await {
                if !r.events().is_empty() && event_tx.send(Instant::now()).is_err() {
                    return;
                }
            }
        });

        if let Some(only) = &config.only {
            for _ in 0..config.ops {
                match only.as_str() {
                    "bare" => bare.put().await,
                    "bridge" => drop(replica.push(|v| *v += 1).await.unwrap()),
                    other => panic!("--only bare|bridge, not {other}"),
                }
            }
            return;
        }
        // Warm up every path.
        for _ in 0..50 {
            replica.push(|v| *v += 1).await.unwrap();
            bare.put().await;
        }
        let (mut commit_bridge, mut commit_bare, mut prop_bridge, mut prop_bare) =
            (vec![], vec![], vec![], vec![]);
        for round in 0..config.rounds {
            // Alternate which side goes first, so that drift over time cancels out.
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for side in order {
                if side == 0 {
                    commit_bridge.push(sample!(config.ops, {
                        let t = Instant::now();
                        replica.push(|v| *v += 1).await.unwrap();
                        t.elapsed()
                    }));
                    prop_bridge.push(sample!(config.ops, {
                        let t = Instant::now();
                        pusher.push(|v| *v += 1).await.unwrap();
                        woke.recv().await.unwrap() - t
                    }));
                } else {
                    commit_bare.push(sample!(config.ops, {
                        let t = Instant::now();
                        bare.put().await;
                        t.elapsed()
                    }));
                    prop_bare.push(sample!(config.ops, {
                        let t = Instant::now();
                        bare_pusher.put().await;
                        event.recv().await.unwrap() - t
                    }));
                }
            }
        }
        if config.explain {
            // CPU per operation, this process and etcd's (clock ticks of /proc/<pid>/stat).
            fn ticks(pid: &str) -> u64 {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
                let f: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
                f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
            }
            let etcd_pid = etcd.as_ref().expect("--explain starts its own etcd").pid(0).to_string();
            let n = 6000;
            for name in ["bare", "bridge", "bare", "bridge"] {
                let (me0, e0, t0) = (ticks("self"), ticks(&etcd_pid), Instant::now());
                for _ in 0..n {
                    if name == "bare" {
                        bare.put().await;
                    } else {
                        replica.push(|v| *v += 1).await.unwrap();
                    }
                }
                let (me1, e1) = (ticks("self"), ticks(&etcd_pid));
                println!(
                    "cpu {name:<7} wall {:>6.1} µs/op  client cpu {:>6.1} µs/op  etcd cpu {:>6.1} µs/op",
                    t0.elapsed().as_secs_f64() * 1e6 / n as f64,
                    (me1 - me0) as f64 * 1e4 / n as f64,
                    (e1 - e0) as f64 * 1e4 / n as f64
                );
            }
            // Where the difference comes from: the second key, and a watch on the key.
            let mut two = Bare::new(connect().await, "bench/two").await;
            let mut watched = Bare::new(connect().await, "bench/watched").await;
            let mut w = connect().await;
            let mut s = w
                .watch(
                    "bench/watched",
                    Some(WatchOptions::new().with_start_revision(watched.revision + 1)),
                )
                .await
                .unwrap();
            tokio::spawn(async move { while let Ok(Some(_)) = s.message().await {} });
            // The same, with the watch on the putting client's own connection (as a replica's).
            let mut own = Bare::new(connect().await, "bench/own").await;
            let mut ow = own.client.clone();
            let mut os = ow
                .watch(
                    "bench/own",
                    Some(WatchOptions::new().with_start_revision(own.revision + 1)),
                )
                .await
                .unwrap();
            tokio::spawn(async move { while let Ok(Some(_)) = os.message().await {} });
            let (mut one_v, mut two_v, mut watched_v, mut own_v, mut bridge_v) =
                (vec![], vec![], vec![], vec![], vec![]);
            for _ in 0..config.rounds {
                one_v.push(sample!(config.ops, {
                    let t = Instant::now();
                    bare.put().await;
                    t.elapsed()
                }));
                two_v.push(sample!(config.ops, {
                    let t = Instant::now();
                    two.put_with(true).await;
                    t.elapsed()
                }));
                watched_v.push(sample!(config.ops, {
                    let t = Instant::now();
                    watched.put().await;
                    t.elapsed()
                }));
                own_v.push(sample!(config.ops, {
                    let t = Instant::now();
                    own.put().await;
                    t.elapsed()
                }));
                bridge_v.push(sample!(config.ops, {
                    let t = Instant::now();
                    replica.push(|v| *v += 1).await.unwrap();
                    t.elapsed()
                }));
            }
            report("two keys", &two_v, &one_v);
            report("watched", &watched_v, &one_v);
            report("own watch", &own_v, &one_v);
            report("bridge", &bridge_v, &one_v);
        }
        println!(
            "pushpull-etcd bridge benchmark: {} rounds x {} ops, etcd on tmpfs, medians per op (min-max over rounds)",
            config.rounds, config.ops
        );
        let a = report("push_commit", &commit_bridge, &commit_bare);
        let b = report("propagation", &prop_bridge, &prop_bare);
        println!(
            "target <= 1.10: push_commit {}, propagation {}",
            if a <= 1.10 { "met" } else { "NOT met" },
            if b <= 1.10 { "met" } else { "NOT met" }
        );
    });
}
