//! The seed's master / workers, across processes, through etcd.
//!
//! ```text
//! cargo run --example cluster                                   # starts a local etcd from PATH
//! ETCD_ENDPOINTS=10.0.0.1:2379,10.0.0.2:2379 cargo run --example cluster
//! ```
//!
//! The master puts a board of tasks (square some numbers) in a [`Replica`], starts three
//! worker *processes* (this program again, with `PP_ROLE=worker`), and waits on an etcd
//! [`WaitGroup`]. Each worker joins the group on a 2 s lease, claims a free task with
//! `push_at` (exactly one claimer wins), works, pushes the result, and waits for the board to
//! change when nothing is free. Halfway, the master kills worker `w3` with SIGKILL while it
//! holds a task: the group counts it lost when its lease expires, the master hands its task
//! back, the others finish the board, and `wait` returns `Outcome { done: 2, lost: 1 }`.
//!
//! Exit code 0 when every task has the right result and the outcome is as above, 1 otherwise.

#[allow(dead_code)]
#[path = "../tests/support/server.rs"]
mod server;

use pushpull_etcd::{MemberState, Outcome, Replica, WaitGroup};
use serde::{Deserialize, Serialize};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const TASKS: u64 = 16;
const WORKERS: [&str; 3] = ["w1", "w2", "w3"];
const VICTIM: &str = "w3";
const LEASE: Duration = Duration::from_secs(2);
/// How long one task "works": long enough for the kill to land on a held task.
const WORK: Duration = Duration::from_millis(150);
const LIMIT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Task {
    input: u64,
    owner: Option<String>,
    result: Option<u64>,
    done_by: Option<String>,
}

/// The shared board: the master's hand-out and the workers' results in one value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Board {
    tasks: Vec<Task>,
    /// Tasks handed back after their owner was lost.
    reassigned: Vec<(usize, String)>,
}

impl Board {
    fn free(&self) -> Option<usize> {
        self.tasks
            .iter()
            .position(|t| t.owner.is_none() && t.result.is_none())
    }
    fn finished(&self) -> bool {
        self.tasks.iter().all(|t| t.result.is_some())
    }
    fn held_by(&self, name: &str) -> Option<usize> {
        self.tasks
            .iter()
            .position(|t| t.owner.as_deref() == Some(name) && t.result.is_none())
    }
    fn done_by(&self, name: &str) -> usize {
        self.tasks
            .iter()
            .filter(|t| t.done_by.as_deref() == Some(name))
            .count()
    }
}

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = if std::env::var("PP_ROLE").as_deref() == Ok("worker") {
        runtime.block_on(worker())
    } else {
        runtime.block_on(master())
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn master() -> Result<()> {
    // Where etcd is: ETCD_ENDPOINTS, or a throwaway local one for this run.
    let (endpoints, _local) = match std::env::var("ETCD_ENDPOINTS") {
        Ok(list) => (list.split(',').map(str::to_owned).collect::<Vec<_>>(), None),
        Err(_) => {
            let etcd = server::Etcd::start();
            println!("started a local etcd at {}", etcd.endpoint(0));
            (etcd.endpoints(), Some(etcd))
        }
    };
    let run = format!("cluster-demo/{}-{}", std::process::id(), unix_millis());
    let client = pushpull_etcd::connect(&endpoints).await?;
    let tasks = (1..=TASKS)
        .map(|input| Task {
            input,
            ..Task::default()
        })
        .collect();
    let board = Replica::open(
        client.clone(),
        format!("{run}/board"),
        Board {
            tasks,
            reassigned: Vec::new(),
        },
    )
    .await?;
    let wg = WaitGroup::open(client, format!("{run}/workers")).await?;
    wg.expect(WORKERS.len()); // Go's wg.Add(3), before any worker runs
    println!(
        "master: {TASKS} tasks on {run}/board, {} worker processes",
        WORKERS.len()
    );

    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for name in WORKERS {
        let child = Command::new(&exe)
            .env("PP_ROLE", "worker")
            .env("PP_NAME", name)
            .env("PP_RUN", &run)
            .env("ETCD_ENDPOINTS", endpoints.join(","))
            .spawn()?;
        children.push((name, child));
    }

    // Halfway: kill the victim while it holds a task it has not finished.
    let held = tokio::time::timeout(
        LIMIT,
        board.wait_until_async(|b| b.done_by(VICTIM) >= 1 && b.held_by(VICTIM).is_some()),
    )
    .await
    .map_err(|_| "the victim never held a task")?
    .held_by(VICTIM)
    .unwrap_or_default();
    let killed_at = Instant::now();
    let (_, victim) = children.iter_mut().find(|(n, _)| *n == VICTIM).unwrap();
    victim.kill()?; // SIGKILL: no cleanup, no done
    victim.wait()?;
    println!("master: killed {VICTIM} (SIGKILL) while it held task {held}");

    // The group sees it lost when its lease expires; hand its task back.
    tokio::time::timeout(
        LIMIT,
        wg.wait_until(|r| r.get(VICTIM) == Some(MemberState::Lost)),
    )
    .await
    .map_err(|_| "the victim was never counted lost")?;
    println!(
        "master: the group counted {VICTIM} lost {:.1} s after the kill (lease TTL {} s)",
        killed_at.elapsed().as_secs_f64(),
        LEASE.as_secs()
    );
    board
        .push(|b| {
            b.reassigned.clear();
            for (i, t) in b.tasks.iter_mut().enumerate() {
                if t.owner.as_deref() == Some(VICTIM) && t.result.is_none() {
                    t.owner = None;
                    b.reassigned.push((i, VICTIM.to_owned()));
                }
            }
        })
        .await?;

    let outcome = tokio::time::timeout(LIMIT, wg.wait())
        .await
        .map_err(|_| "the group did not end")??;
    for (name, mut child) in children {
        if name != VICTIM {
            let status = child.wait()?;
            if !status.success() {
                return Err(format!("worker {name} failed: {status}").into());
            }
        }
    }

    let final_board = board.read().clone();
    let wrong: Vec<_> = final_board
        .tasks
        .iter()
        .filter(|t| t.result != Some(t.input * t.input))
        .collect();
    println!("master: wait() returned {outcome:?}");
    for name in WORKERS {
        println!("  {name}: {} task(s) finished", final_board.done_by(name));
    }
    for (task, from) in &final_board.reassigned {
        let by = final_board.tasks[*task].done_by.as_deref().unwrap_or("?");
        println!("  task {task}: handed back from {from}, finished by {by}");
    }
    if !wrong.is_empty() || outcome != (Outcome { done: 2, lost: 1 }) {
        return Err(format!("wrong results {wrong:?} or outcome {outcome:?}").into());
    }
    println!(
        "demonstrated: {} processes shared one board through etcd with no lost update ({} results, revision {}); \
         a worker killed with SIGKILL was counted lost by the etcd WaitGroup, its task went to another worker, \
         and the master's wait returned Outcome {{ done: 2, lost: 1 }}",
        WORKERS.len() + 1,
        TASKS,
        board.revision()
    );
    Ok(())
}

async fn worker() -> Result<()> {
    let name = std::env::var("PP_NAME")?;
    let run = std::env::var("PP_RUN")?;
    let endpoints: Vec<String> = std::env::var("ETCD_ENDPOINTS")?
        .split(',')
        .map(str::to_owned)
        .collect();
    let client = pushpull_etcd::connect(&endpoints).await?;
    let wg = WaitGroup::open(client.clone(), format!("{run}/workers")).await?;
    let me = wg.add(name.clone(), LEASE).await?; // Go: defer wg.Done()
    let board = Replica::open(client, format!("{run}/board"), Board::default()).await?;
    let mut changes = board.puller_arc();
    let deadline = Instant::now() + LIMIT;
    loop {
        if Instant::now() > deadline {
            return Err(format!("{name}: the board did not finish within {LIMIT:?}").into());
        }
        let (free, seen, finished) = {
            let (b, revision) = board.read_with_revision();
            (b.free(), revision, b.finished())
        };
        if finished {
            break;
        }
        let Some(task) = free else {
            // Nothing free: wait for the board to change (a result, a task handed back).
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                drop(changes.wait_async().await);
            })
            .await;
            continue;
        };
        // Claim it: of workers claiming at the same revision, exactly one wins.
        let claimed = board
            .push_at(seen, |b| b.tasks[task].owner = Some(name.clone()))
            .await;
        if claimed.is_err() {
            continue; // somebody else was first: look again
        }
        let input = board.read().tasks[task].input;
        tokio::time::sleep(WORK).await; // the work
        let result = input * input;
        board
            .push(|b| {
                let t = &mut b.tasks[task];
                if t.owner.as_deref() == Some(name.as_str()) && t.result.is_none() {
                    t.result = Some(result);
                    t.done_by = Some(name.clone());
                }
            })
            .await?;
    }
    me.done().await?;
    Ok(())
}

fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
