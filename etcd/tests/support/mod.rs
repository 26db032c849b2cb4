//! Shared by the integration tests: etcd servers, a cuttable proxy, child processes, bounded
//! waits.
#![allow(dead_code)] // each test binary uses part of it

pub mod proxy;
pub mod server;

use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use server::Etcd;

/// The bound on every wait in the tests: long, because it only has to catch a hang.
pub const HANG: Duration = Duration::from_secs(60);

/// A client with the options the crate recommends.
pub async fn client(endpoints: &[String]) -> etcd_client::Client {
    pushpull_etcd::connect(endpoints).await.expect("connect")
}

/// A client for test assertions and foreign writes, straight to etcd.
pub async fn raw_client(endpoints: &[String]) -> etcd_client::Client {
    etcd_client::Client::connect(endpoints, None)
        .await
        .expect("connect")
}

/// `future`, or a panic naming `what` if it takes longer than [`HANG`].
pub async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(HANG, future).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: still waiting after {HANG:?}"),
    }
}

/// Polls `check` (every 10 ms) until it holds, for at most `limit`; panics naming `what`.
pub async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// This test binary, re-executed to run the ignored test `name` alone, as a child process.
pub fn child(name: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("current exe"));
    command
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// Waits (bounded by [`HANG`]) for `child` to exit, returning its stdout; kills it and panics
/// if it takes longer or fails.
pub fn finish(name: &str, mut child: Child) -> String {
    use std::io::Read;
    // Read stdout on a thread, so that a chatty child never blocks on a full pipe.
    let mut stdout = child.stdout.take().expect("child stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + HANG;
    let status = loop {
        match child.try_wait().expect("wait for child") {
            Some(status) => break status,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("child {name} still running after {HANG:?}");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let out = reader.join().expect("stdout reader");
    assert!(
        status.success(),
        "child {name} failed ({status}); output:\n{out}"
    );
    out
}

/// The words after `tag` on the line of `output` that has it (libtest may have printed the
/// test's name before it on the same line).
pub fn field<'a>(output: &'a str, tag: &str) -> Vec<&'a str> {
    output
        .lines()
        .find_map(|l| l.find(tag).map(|at| &l[at + tag.len()..]))
        .unwrap_or_else(|| panic!("no line starting with {tag:?} in:\n{output}"))
        .split_whitespace()
        .collect()
}
