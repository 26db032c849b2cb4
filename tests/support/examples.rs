//! Running the example programs from integration tests: build them into the test's own
//! target directory and profile, and wait for them with a bound (a hung child is killed).
//! Included with `#[path]` by `tests/examples.rs` and `tests/remote_pull.rs`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long building an example may take.
const BUILD_LIMIT: Duration = Duration::from_secs(900);

/// Waits for `child` at most `limit`; kills it and panics on timeout.
pub fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {} s: killed", limit.as_secs());
        }
        thread::sleep(Duration::from_millis(10)); // polling interval of the bounded wait
    }
}

/// The target directory, `cargo` flags selecting this test's profile (and target triple, if
/// cross-compiling), and where the examples land.
fn layout() -> (PathBuf, Vec<String>, PathBuf) {
    let exe = env::current_exe().expect("current_exe");
    // <target-dir>[/<triple>]/<profile>/deps/<this test>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary layout");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("profile directory name")
        .to_string();
    let mut flags = match profile.as_str() {
        "debug" => vec![],
        "release" => vec!["--release".to_string()],
        other => vec!["--profile".to_string(), other.to_string()],
    };
    let above = profile_dir.parent().expect("target directory");
    // Cargo marks the root of a target directory with CACHEDIR.TAG and .rustc_info.json; a
    // target directory restored without them is still told from a triple by the triple's
    // dashes (`x86_64-unknown-linux-gnu`).
    let is_root = above.join("CACHEDIR.TAG").exists()
        || above.join(".rustc_info.json").exists()
        || !above
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains('-'));
    let target_dir = if is_root {
        above.to_path_buf()
    } else {
        let triple = above.file_name().and_then(|n| n.to_str()).expect("triple");
        flags.extend(["--target".to_string(), triple.to_string()]);
        above.parent().expect("target directory").to_path_buf()
    };
    (target_dir, flags, profile_dir.join("examples"))
}

/// Builds the example `name` (a no-op when `cargo test` already did) and returns its path.
pub fn example(name: &'static str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<&'static str>>> = OnceLock::new();
    let (target_dir, flags, examples_dir) = layout();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if !built.contains(&name) {
        let mut build = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--example", name, "--target-dir"])
            .arg(&target_dir)
            .args(&flags)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .spawn()
            .expect("start cargo build");
        let status = wait_bounded(&mut build, BUILD_LIMIT, "cargo build --example");
        assert!(status.success(), "building example {name} failed: {status}");
        built.push(name);
    }
    examples_dir.join(format!("{name}{}", env::consts::EXE_SUFFIX))
}
