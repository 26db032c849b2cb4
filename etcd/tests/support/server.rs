//! Throwaway etcd servers on loopback for tests, benches and the example: one member or a
//! cluster, on free ports, with temporary data directories, stopped and removed on drop.
//! Faults on demand: kill (SIGKILL) and restart on the same data directory, pause (SIGSTOP)
//! and resume (SIGCONT).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a member may take to start answering (a loaded 2-core machine, debug builds of
/// everything else running).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One or more etcd processes forming a cluster.
pub struct Etcd {
    members: Vec<Member>,
    // Dropped last: the data directories.
    _dir: tempfile::TempDir,
}

struct Member {
    name: String,
    client_port: u16,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

/// Panics with one line if `etcd` is not installed.
pub fn require_etcd() {
    match Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("etcd is not installed (not on PATH): install it with `apt-get install etcd-server`")
        }
        Err(e) => panic!("etcd could not be run: {e}"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free loopback port")
        .port()
}

fn temp_dir() -> tempfile::TempDir {
    // tmpfs when there is one: fsyncs cost nothing, tests and benches measure etcd's logic.
    let shm = std::path::Path::new("/dev/shm");
    let builder = tempfile::Builder::new().prefix("pushpull-etcd-").to_owned();
    if shm.is_dir() {
        if let Ok(dir) = builder.tempdir_in(shm) {
            return dir;
        }
    }
    builder.tempdir().expect("create a temporary directory")
}

impl Etcd {
    /// A one-member etcd.
    pub fn start() -> Etcd {
        Etcd::cluster(1)
    }

    /// An `n`-member cluster, every member answering and a leader elected.
    pub fn cluster(n: usize) -> Etcd {
        require_etcd();
        let mut last_error = String::new();
        for _attempt in 0..3 {
            match Etcd::try_cluster(n) {
                Ok(etcd) => return etcd,
                // A port taken between choosing it and etcd binding it: choose again.
                Err(e) => last_error = e,
            }
        }
        panic!("etcd did not start: {last_error}");
    }

    fn try_cluster(n: usize) -> Result<Etcd, String> {
        let dir = temp_dir();
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!(
            "pushpull-{}-{}",
            std::process::id(),
            dir.path().file_name().unwrap().to_string_lossy()
        );
        let mut members = Vec::new();
        for (i, (client, peer)) in ports.iter().enumerate() {
            let name = format!("m{i}");
            let data = dir.path().join(&name);
            let args = vec![
                format!("--name={name}"),
                format!("--data-dir={}", data.display()),
                format!("--listen-client-urls=http://127.0.0.1:{client}"),
                format!("--advertise-client-urls=http://127.0.0.1:{client}"),
                format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
                format!("--initial-cluster={initial_cluster}"),
                "--initial-cluster-state=new".to_owned(),
                format!("--initial-cluster-token={token}"),
                // Elections in well under a second on loopback.
                "--heartbeat-interval=50".to_owned(),
                "--election-timeout=500".to_owned(),
            ];
            members.push(Member {
                log: dir.path().join(format!("{name}.log")),
                name,
                client_port: *client,
                args,
                child: None,
            });
        }
        let mut etcd = Etcd { members, _dir: dir };
        for i in 0..n {
            etcd.spawn(i)?;
        }
        etcd.wait_healthy(&(0..n).collect::<Vec<_>>())?;
        Ok(etcd)
    }

    fn spawn(&mut self, i: usize) -> Result<(), String> {
        let m = &mut self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .map_err(|e| e.to_string())?;
        let child = Command::new("etcd")
            .args(&m.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn etcd: {e}"))?;
        m.child = Some(child);
        Ok(())
    }

    /// Waits until every member in `which` answers `/health` (which needs a leader).
    fn wait_healthy(&mut self, which: &[usize]) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        for &i in which {
            loop {
                if let Some(child) = self.members[i].child.as_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(format!(
                            "member {} exited ({status}); its log:\n{}",
                            self.members[i].name,
                            self.log_tail(i)
                        ));
                    }
                }
                if healthy(self.members[i].client_port) {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "member {} not healthy within {START_TIMEOUT:?}; its log:\n{}",
                        self.members[i].name,
                        self.log_tail(i)
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(&self.members[i].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// `127.0.0.1:port` of every member.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len()).map(|i| self.endpoint(i)).collect()
    }

    /// `127.0.0.1:port` of member `i`.
    pub fn endpoint(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.members[i].client_port)
    }

    pub fn pid(&self, i: usize) -> u32 {
        self.members[i]
            .child
            .as_ref()
            .expect("member is running")
            .id()
    }

    /// SIGKILL member `i` and reap it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data directory, and waits until it is healthy.
    pub fn restart(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "kill the member first");
        self.spawn(i).expect("restart etcd");
        self.wait_healthy(&[i]).expect("restarted etcd is healthy");
    }

    /// SIGSTOP member `i`: its sockets stay open, nothing answers.
    pub fn pause(&self, i: usize) {
        signal(self.pid(i), "-STOP");
    }

    /// SIGCONT member `i`.
    pub fn resume(&self, i: usize) {
        signal(self.pid(i), "-CONT");
    }

    /// Whether member `i` answers `/health` now.
    pub fn is_healthy(&self, i: usize) -> bool {
        healthy(self.members[i].client_port)
    }

    /// The index of the leader among the running members, if one of them says it leads.
    pub fn leader(&self) -> Option<usize> {
        (0..self.members.len()).find(|&i| {
            self.members[i].child.is_some()
                && http_get(self.members[i].client_port, "/metrics")
                    .is_some_and(|m| m.lines().any(|l| l.trim() == "etcd_server_is_leader 1"))
        })
    }
}

impl Etcd {
    /// How many raft proposals member `i` has applied (a write, or a transaction, each count
    /// one): lets a test see that a request reached etcd when its answer is held back.
    pub fn proposals_applied(&self, i: usize) -> u64 {
        http_get(self.members[i].client_port, "/metrics")
            .and_then(|m| {
                m.lines().find_map(|l| {
                    l.strip_prefix("etcd_server_proposals_applied_total ")
                        .and_then(|v| v.trim().parse::<f64>().ok())
                })
            })
            .map(|v| v as u64)
            .expect("etcd metrics")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            if self.members[i].child.is_some() {
                // A stopped process dies of SIGKILL too.
                self.kill(i);
            }
        }
    }
}

fn signal(pid: u32, which: &str) {
    let status = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {which} {pid} failed");
}

fn healthy(port: u16) -> bool {
    http_get(port, "/health").is_some_and(|body| body.contains("\"health\":\"true\""))
}

/// A tiny HTTP/1.0 GET on loopback (etcd serves `/health` and `/metrics` on its client port).
fn http_get(port: u16, path: &str) -> Option<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}
