//! The `cluster` example runs to the end and says what it demonstrated.

mod support;

use std::process::{Command, Stdio};

#[test]
fn the_cluster_example_counts_the_killed_worker_lost_and_finishes_the_board() {
    support::server::require_etcd();
    // `cargo test` builds the examples next to the test binaries' directory.
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap()
        .join("examples")
        .join("cluster");
    assert!(example.exists(), "{} not built", example.display());
    let child = Command::new(example)
        .env_remove("ETCD_ENDPOINTS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = support::finish("cluster example", child);
    assert!(out.contains("started a local etcd"), "{out}");
    assert!(
        out.contains("master: wait() returned Outcome { done: 2, lost: 1 }"),
        "{out}"
    );
    assert!(out.contains("handed back from w3"), "{out}");
    assert!(
        out.contains("demonstrated: 4 processes shared one board"),
        "{out}"
    );
}
