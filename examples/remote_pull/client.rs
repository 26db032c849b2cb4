//! The `remote_pull` client: one persistent connection, reconnecting with backoff.

use super::protocol::{
    is_timeout, parse_reply, send_by, shown, Line, LineReader, Reply, Request, State, MAX_LINE,
};
use pushpull::Version;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Client tuning.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Bound of each connection attempt.
    pub connect_timeout: Duration,
    /// Bound of each reply; must exceed the server's long poll.
    pub reply_timeout: Duration,
    /// Bound of each write.
    pub write_timeout: Duration,
    /// First pause before reconnecting; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Give up after failing to reach the server for this long.
    pub give_up_after: Duration,
    /// Stop after this long in any case.
    pub run_limit: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: CONNECT_TIMEOUT,
            reply_timeout: Duration::from_secs(15),
            write_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            give_up_after: Duration::from_secs(10),
            run_limit: None,
        }
    }
}

/// A state the client received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    pub server_id: String,
    pub version: u64,
    pub state: State,
}

/// What happens to a client, as reported to its callback.
#[derive(Debug)]
pub enum Event<'a> {
    /// Connected; `restarted` if the server id differs from the previous connection's.
    Connected { server_id: &'a str, restarted: bool },
    /// A newer state arrived.
    Update(&'a Update),
    /// The connection broke or the server closed it.
    Disconnected { reason: &'a str },
    /// A connection attempt failed; the next one is in `retry_in`.
    Unreachable { error: &'a str, retry_in: Duration },
}

/// What a client run saw.
#[derive(Clone, Debug, Default)]
pub struct ClientReport {
    /// `STATE` replies received.
    pub updates: u64,
    /// `NOCHANGE` replies received.
    pub nochange: u64,
    /// The last state received.
    pub last: Option<Update>,
    /// Successful connections (greeting received).
    pub connections: u64,
    /// Times the server id changed between connections.
    pub server_restarts: u64,
    /// `STATE` replies not newer than requested (a server bug; never expected).
    pub out_of_order: u64,
    /// `STATE` replies whose payload does not match their version (never expected).
    pub inconsistent: u64,
    /// Why the client stopped, if not because its callback asked it to.
    pub error: Option<String>,
}

/// One open connection.
struct Connection {
    reader: LineReader<TcpStream>,
    writer: TcpStream,
    server_id: String,
}

impl Connection {
    fn open(addr: &str, config: &ClientConfig) -> Result<Connection, String> {
        let target = addr
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr} resolves to no address"))?;
        let stream = TcpStream::connect_timeout(&target, config.connect_timeout)
            .map_err(|e| format!("connect to {target}: {e}"))?;
        let setup = |s: &TcpStream| -> io::Result<TcpStream> {
            s.set_nodelay(true)?;
            s.try_clone()
        };
        let writer = setup(&stream).map_err(|e| format!("socket setup: {e}"))?;
        let mut reader = LineReader::new(stream, MAX_LINE);
        let greeting = read_reply(&mut reader, config)?;
        let server_id = match parse_reply(&greeting) {
            Some(Reply::Hello(id)) => id,
            _ => {
                return Err(format!(
                    "unexpected greeting {}",
                    shown(greeting.as_bytes())
                ))
            }
        };
        Ok(Connection {
            reader,
            writer,
            server_id,
        })
    }
}

/// Reads one reply line as text, all of it within the reply timeout.
fn read_reply(reader: &mut LineReader<TcpStream>, config: &ClientConfig) -> Result<String, String> {
    match reader.read_line_by(Instant::now() + config.reply_timeout) {
        Ok(Line::Complete(line)) => String::from_utf8(line)
            .map_err(|e| format!("reply is not UTF-8: {}", shown(e.as_bytes()))),
        Ok(Line::TooLong) => Err("reply too long".into()),
        Ok(Line::Eof) => Err("server closed the connection".into()),
        Err(e) if is_timeout(&e) => Err("no reply within the reply timeout".into()),
        Err(e) => Err(format!("read: {e}")),
    }
}

/// How a session on one connection ended.
enum SessionEnd {
    /// The callback asked to stop, or the run limit passed.
    Stop,
    /// The connection is unusable; reconnect. `progress`: it delivered at least one reply.
    Broken { reason: String, progress: bool },
}

/// Pulls newer states from the server at `addr` until `on_event` returns `false`, the run
/// limit passes, or the server stays unreachable for `give_up_after`. Keeps one connection
/// open and reconnects with exponential backoff; after a reconnect to a *different* server
/// run (new server id) it starts over from version 0.
pub fn client(
    addr: &str,
    config: &ClientConfig,
    mut on_event: impl FnMut(Event<'_>) -> bool,
) -> ClientReport {
    let started = Instant::now();
    let deadline = config.run_limit.map(|limit| started + limit);
    let mut report = ClientReport::default();
    let mut server_id: Option<String> = None;
    let mut version = 0u64;
    let mut backoff = config.backoff_min;
    let mut failing_since: Option<Instant> = None;
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            report.error = Some("run time limit reached".into());
            return report;
        }
        let failure = match Connection::open(addr, config) {
            Ok(mut conn) => {
                report.connections += 1;
                let restarted = server_id.as_deref().is_some_and(|id| id != conn.server_id);
                if server_id.as_deref() != Some(conn.server_id.as_str()) {
                    if server_id.is_some() {
                        report.server_restarts += 1;
                    }
                    server_id = Some(conn.server_id.clone());
                    version = 0; // versions of another server run mean nothing here
                }
                let event = Event::Connected {
                    server_id: &conn.server_id,
                    restarted,
                };
                if !on_event(event) {
                    return report;
                }
                match session(
                    &mut conn,
                    config,
                    &mut version,
                    &mut report,
                    &mut on_event,
                    deadline,
                ) {
                    SessionEnd::Stop => return report,
                    SessionEnd::Broken { reason, progress } => {
                        if progress {
                            failing_since = None;
                            backoff = config.backoff_min;
                        }
                        if !on_event(Event::Disconnected { reason: &reason }) {
                            return report;
                        }
                        reason
                    }
                }
            }
            Err(error) => {
                if !on_event(Event::Unreachable {
                    error: &error,
                    retry_in: backoff,
                }) {
                    return report;
                }
                error
            }
        };
        let since = *failing_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= config.give_up_after {
            report.error = Some(format!(
                "gave up: no usable connection to {addr} for {:.1} s (last error: {failure})",
                since.elapsed().as_secs_f64()
            ));
            return report;
        }
        let pause = match deadline {
            Some(d) => backoff.min(d.saturating_duration_since(Instant::now())),
            None => backoff,
        };
        thread::sleep(pause); // reconnect backoff
        backoff = (backoff * 2).min(config.backoff_max);
    }
}

fn session(
    conn: &mut Connection,
    config: &ClientConfig,
    version: &mut u64,
    report: &mut ClientReport,
    on_event: &mut impl FnMut(Event<'_>) -> bool,
    deadline: Option<Instant>,
) -> SessionEnd {
    let mut progress = false;
    let broken = |reason: String, progress: bool| SessionEnd::Broken { reason, progress };
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            report.error = Some("run time limit reached".into());
            return SessionEnd::Stop;
        }
        let request = Request::Pull(Version::from(*version)).line();
        if let Err(e) = send_by(
            &conn.writer,
            &request,
            Instant::now() + config.write_timeout,
        ) {
            return broken(format!("write: {e}"), progress);
        }
        let line = match read_reply(&mut conn.reader, config) {
            Ok(line) => line,
            Err(reason) => return broken(reason, progress),
        };
        match parse_reply(&line) {
            Some(Reply::State(v, state)) => {
                let v = u64::from(v);
                progress = true;
                if v <= *version {
                    report.out_of_order += 1;
                    return broken(format!("asked for > v{version}, got v{v}"), progress);
                }
                if !state.matches_version(v) {
                    report.inconsistent += 1;
                }
                *version = v;
                report.updates += 1;
                let update = Update {
                    server_id: conn.server_id.clone(),
                    version: v,
                    state,
                };
                let go_on = on_event(Event::Update(&update));
                report.last = Some(update);
                if !go_on {
                    return SessionEnd::Stop;
                }
            }
            Some(Reply::NoChange(_)) => {
                progress = true;
                report.nochange += 1;
            }
            Some(Reply::Err(reason)) => return broken(format!("server error: {reason}"), progress),
            Some(Reply::Bye(reason)) => {
                return broken(format!("server said bye: {reason}"), progress)
            }
            Some(Reply::Hello(_)) | None => {
                return broken(
                    format!("unexpected reply {}", shown(line.as_bytes())),
                    progress,
                )
            }
        }
    }
}
