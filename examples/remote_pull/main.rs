//! Pulling shared state over a persistent loopback connection (std::net only): the Go seed's
//! second pattern, made robust.
//!
//! ```text
//! cargo run --release --example remote_pull                      # server + client, one process
//! cargo run --release --example remote_pull -- --serve 127.0.0.1:7878 --pushes 100
//! cargo run --release --example remote_pull -- --connect 127.0.0.1:7878
//! ```
//!
//! The Go program this replaces dials a service with a 5 s timeout, writes a request, reads
//! the reply into a 512-byte buffer and prints the *whole buffer*, trailing zero bytes
//! included, because it ignores how many bytes the read returned; it also has no read or
//! write deadline, so a silent peer hangs it forever. Here:
//!
//! * the server owns a [`Shared<State>`](pushpull::Shared) that a local pusher thread
//!   updates; each connection is served on its own thread, which long-polls with a
//!   [`Puller`](pushpull::Puller) (bounded wait) and replies with the bytes it formatted;
//! * the client keeps one connection open and repeatedly asks for "the state newer than the
//!   version I have", printing each new version as it arrives, and reconnects with
//!   exponential backoff when the server goes away;
//! * every connect, read and write is bounded by a timeout; lines are capped at
//!   [`MAX_LINE`] bytes; a misbehaving client (garbage, over-long line, stalled, gone
//!   mid-request) costs the server one thread for a bounded time and nothing else.
//!
//! # Protocol (one request, one reply; lines end with `\n`, `\r\n` is accepted)
//!
//! On connect the server greets: `HELLO pushpull-remote <server-id>`. The server id names
//! this run of the server: versions are only comparable under one id, so a client that sees
//! a new id after reconnecting (the server restarted) starts over from version 0.
//!
//! | request | reply |
//! |---|---|
//! | `PULL <version>` (decimal `u64`) | `STATE <v> <payload>` as soon as the server's version `v` > `<version>`, or `NOCHANGE <v>` (the current version) if nothing newer arrived within the server's long-poll timeout |
//! | `QUIT` | `BYE <reason>`, then the server closes |
//! | anything else | `ERR <reason>`; the connection stays usable |
//!
//! `<payload>` is `tick=<n> sum=<n> finished=<true|false>`: the pusher adds one to `tick`
//! and `tick` to `sum` per push (so a state at version `v` has `tick == v` and
//! `sum == v(v+1)/2`, which the client checks), and its last push sets `finished=true`.
//!
//! The server closes a connection after replying `ERR line too long` (a line over
//! [`MAX_LINE`] bytes) or `ERR idle timeout` (no complete request for the idle timeout),
//! after `BYE` when it shuts down, and without a word when the client vanishes. When it has
//! too many connections it greets a new one with `ERR busy` and closes it.

#[path = "../support/cli.rs"]
mod cli;

use pushpull::{Shared, Version, WaitGroup};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::ToSocketAddrs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest line either side accepts, `\n` included.
pub const MAX_LINE: usize = 512;
/// The word after `HELLO` in the greeting.
pub const PROTOCOL: &str = "pushpull-remote";

// ---------------------------------------------------------------------------------------
// The shared state
// ---------------------------------------------------------------------------------------

/// What the server shares: a tick counter, the running sum of ticks, and whether the pusher
/// is done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub tick: u64,
    pub sum: u64,
    pub finished: bool,
}

impl State {
    /// The `<payload>` of a `STATE` reply.
    pub fn payload(&self) -> String {
        format!(
            "tick={} sum={} finished={}",
            self.tick, self.sum, self.finished
        )
    }

    /// Parses a payload written by [`payload`](Self::payload).
    pub fn parse(payload: &str) -> Option<State> {
        let mut fields = payload.split(' ');
        let mut field = |name: &str| fields.next()?.strip_prefix(name)?.strip_prefix('=');
        let tick = field("tick")?.parse().ok()?;
        let sum = field("sum")?.parse().ok()?;
        let finished = field("finished")?.parse().ok()?;
        if fields.next().is_some() {
            return None;
        }
        Some(State {
            tick,
            sum,
            finished,
        })
    }

    /// Whether this state is the one the pusher produces at `version` (no torn or mixed-up
    /// snapshot).
    pub fn matches_version(&self, version: u64) -> bool {
        self.tick == version && Some(self.sum) == version.checked_mul(version + 1).map(|x| x / 2)
    }
}

/// Connection counts, shared so that anyone can wait for "all clients left".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Connections being served now.
    pub active: usize,
    /// Connections served since the server started.
    pub total: u64,
    /// Connections turned away with `ERR busy`.
    pub refused: u64,
}

// ---------------------------------------------------------------------------------------
// Line I/O shared by both sides
// ---------------------------------------------------------------------------------------

/// One result of [`LineReader::read_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its `\n` (or `\r\n`).
    Complete(Vec<u8>),
    /// More than the cap without a `\n`: the stream is no longer in sync.
    TooLong,
    /// The peer closed the connection (a partial last line is dropped).
    Eof,
}

/// Reads `\n`-terminated lines of at most `max` bytes from a stream with a read timeout. A
/// read that times out returns the error and keeps the partial line for the next call.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::with_capacity(max),
            max,
        }
    }

    pub fn read_line(&mut self) -> io::Result<Line> {
        let mut chunk = [0u8; MAX_LINE];
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                if pos >= self.max {
                    return Ok(Line::TooLong);
                }
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Line::Complete(line));
            }
            if self.buf.len() >= self.max {
                return Ok(Line::TooLong);
            }
            let n = match self.inner.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(Line::Eof);
            }
            self.buf.extend_from_slice(&chunk[..n]); // only the bytes actually read
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }
}

/// A read that ran into its read timeout (`WouldBlock` on Unix, `TimedOut` on Windows).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// At most 40 bytes of untrusted input, escaped, for an `ERR` reply or a log line: never
/// contains a newline, so it cannot break the line protocol.
pub fn shown(bytes: &[u8]) -> String {
    const SHOWN: usize = 40;
    let more = if bytes.len() > SHOWN { "..." } else { "" };
    format!(
        "\"{}{more}\"",
        bytes[..bytes.len().min(SHOWN)].escape_ascii()
    )
}

// ---------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------

/// Server tuning. The defaults suit a demo; tests shorten them.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// How long a `PULL` waits for a newer version before replying `NOCHANGE`.
    pub long_poll: Duration,
    /// A connection without a complete request for this long is closed.
    pub idle_timeout: Duration,
    /// Read timeout of a connection: how often a connection thread checks for shutdown.
    pub tick: Duration,
    /// Write timeout of a connection.
    pub write_timeout: Duration,
    /// More concurrent connections than this are greeted with `ERR busy` and closed.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            long_poll: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(30),
            tick: Duration::from_millis(200),
            write_timeout: Duration::from_secs(5),
            max_connections: 64,
        }
    }
}

/// What a connection thread needs.
struct Ctx {
    id: String,
    state: Arc<Shared<State>>,
    conns: Arc<Shared<ConnStats>>,
    stop: Arc<AtomicBool>,
    config: ServerConfig,
}

/// A running server: an accept thread plus one thread per connection, all counted by a
/// [`WaitGroup`] so that [`shutdown`](Self::shutdown) can wait for them (bounded).
pub struct Server {
    ctx: Arc<Ctx>,
    addr: SocketAddr,
    threads: WaitGroup,
    stopped: bool,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("id", &self.ctx.id)
            .field("addr", &self.addr)
            .finish()
    }
}

/// A new id for each server run: the clock, the process id and a counter.
fn new_server_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:016x}",
        nanos ^ u64::from(std::process::id()).rotate_left(40) ^ n.rotate_left(20)
    )
}

impl Server {
    /// Binds `addr` (e.g. `127.0.0.1:0` for any free port) and starts accepting.
    pub fn start(addr: &str, config: ServerConfig) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let ctx = Arc::new(Ctx {
            id: new_server_id(),
            state: Arc::new(Shared::new(State::default())),
            conns: Arc::new(Shared::new(ConnStats::default())),
            stop: Arc::new(AtomicBool::new(false)),
            config,
        });
        let threads = WaitGroup::new();
        let token = threads.token();
        let (accept_ctx, group) = (Arc::clone(&ctx), threads.clone());
        thread::Builder::new()
            .name("remote-accept".into())
            .spawn(move || {
                let _done = token;
                accept_loop(listener, &accept_ctx, &group);
            })?;
        Ok(Server {
            ctx,
            addr,
            threads,
            stopped: false,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn id(&self) -> &str {
        &self.ctx.id
    }

    /// The state this server shares.
    pub fn state(&self) -> &Shared<State> {
        &self.ctx.state
    }

    /// Connection counts; wait on them with `wait_until_for`.
    pub fn conns(&self) -> &Shared<ConnStats> {
        &self.ctx.conns
    }

    /// One push: `tick += 1`, `sum += tick`, `finished` as given. Returns the new version.
    pub fn push_tick(&self, finished: bool) -> u64 {
        self.ctx.state.push(|s| {
            s.tick += 1;
            s.sum += s.tick;
            s.finished = finished;
        });
        self.ctx.state.version().get()
    }

    /// `pushes` pushes, `interval` apart, the last one `finished`. Returns the last version.
    pub fn run_pusher(&self, pushes: u64, interval: Duration) -> u64 {
        let mut last = self.ctx.state.version().get();
        for i in 1..=pushes {
            last = self.push_tick(i == pushes);
            if i < pushes && !interval.is_zero() {
                thread::sleep(interval); // pacing the demo pusher
            }
        }
        last
    }

    /// Stops accepting, tells every connection to close (`BYE`), and waits up to `timeout`
    /// for all server threads. `true` if they all finished.
    pub fn shutdown(mut self, timeout: Duration) -> bool {
        self.stop();
        self.threads.wait_for(timeout)
    }

    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.ctx.stop.store(true, Ordering::Release);
        // Wake the accept thread, blocked in accept(), with a connection of our own.
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let _ = TcpStream::connect_timeout(&SocketAddr::new(ip, self.addr.port()), CONNECT_TIMEOUT);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop(); // threads finish on their own within a tick or a long poll
    }
}

fn accept_loop(listener: TcpListener, ctx: &Arc<Ctx>, threads: &WaitGroup) {
    for stream in listener.incoming() {
        if ctx.stop.load(Ordering::Acquire) {
            return; // dropping the listener refuses further connections
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                // E.g. out of file descriptors: report, breathe, go on.
                eprintln!("server: accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let admitted = ctx.conns.push(|c| {
            if c.active >= ctx.config.max_connections {
                c.refused += 1;
                false
            } else {
                c.active += 1;
                c.total += 1;
                true
            }
        });
        if !admitted {
            let _ = stream.set_write_timeout(Some(ctx.config.write_timeout));
            let _ = (&stream).write_all(b"ERR busy\n");
            continue;
        }
        let token = threads.token();
        let conn_ctx = Arc::clone(ctx);
        let spawned = thread::Builder::new()
            .name("remote-conn".into())
            .spawn(move || {
                let _done = token;
                let _active = ActiveConn(&conn_ctx.conns);
                let peer = stream.peer_addr().ok();
                if let Err(e) = serve_connection(stream, &conn_ctx) {
                    // The client went away or stalled a write: its problem, not the server's.
                    if let Some(peer) = peer {
                        eprintln!("server: connection from {peer} ended: {e}");
                    }
                }
            });
        if let Err(e) = spawned {
            // The closure (token, stream) was dropped; undo the count.
            eprintln!("server: cannot start a connection thread: {e}");
            ctx.conns.push(|c| c.active -= 1);
        }
    }
}

/// Counts a connection as active until dropped (also on a panic).
struct ActiveConn<'a>(&'a Shared<ConnStats>);

impl Drop for ActiveConn<'_> {
    fn drop(&mut self) {
        self.0.push(|c| c.active -= 1);
    }
}

/// A parsed request.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Pull(u64),
    Quit,
}

/// Parses one request line; the error is the reason for an `ERR` reply.
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    let text =
        std::str::from_utf8(line).map_err(|_| format!("request is not UTF-8: {}", shown(line)))?;
    let mut words = text.split_ascii_whitespace();
    match (words.next(), words.next(), words.next()) {
        (None, _, _) => Err("empty request".into()),
        (Some("PULL"), Some(version), None) => {
            version.parse::<u64>().map(Request::Pull).map_err(|_| {
                format!(
                    "bad version {}: expected a decimal u64",
                    shown(version.as_bytes())
                )
            })
        }
        (Some("PULL"), None, _) => Err("PULL needs a version".into()),
        (Some("QUIT"), None, _) => Ok(Request::Quit),
        (Some(cmd @ ("PULL" | "QUIT")), _, _) => Err(format!("too many arguments to {cmd}")),
        (Some(cmd), _, _) => Err(format!(
            "unknown request {}: expected PULL <version> or QUIT",
            shown(cmd.as_bytes())
        )),
    }
}

/// The outcome of a long poll.
enum Poll {
    New(Version, State),
    NoChange(Version),
    Stopping,
}

/// Waits until the state's version exceeds `after`, at most the long-poll timeout, waking
/// at least every tick to notice a shutdown.
fn long_poll(ctx: &Ctx, after: u64) -> Poll {
    let deadline = Instant::now() + ctx.config.long_poll;
    // The puller is created before the first look, so no publish can fall in between.
    let mut puller = ctx.state.puller();
    loop {
        let (state, version) = ctx.state.pull(); // a consistent (value, version) pair
        if version.get() > after {
            return Poll::New(version, state);
        }
        if ctx.stop.load(Ordering::Acquire) {
            return Poll::Stopping;
        }
        let now = Instant::now();
        if now >= deadline {
            return Poll::NoChange(version);
        }
        // Returns early on the next publish; loops back to re-check (the publish may still
        // be at or below `after`, for a client that asks about a version from the future).
        let _ = puller.wait_for((deadline - now).min(ctx.config.tick));
    }
}

fn send(mut w: &TcpStream, text: &str) -> io::Result<()> {
    w.write_all(text.as_bytes())
}

/// Closes after a final reply without resetting the connection: stop writing, then drain
/// (bounded) what the client still sends, so that our last line is not lost to a reset.
fn linger_close(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; MAX_LINE];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match (&*stream).read(&mut sink) {
            Ok(0) | Err(_) => break, // EOF, timeout or reset: done either way
            Ok(n) => drained += n,
        }
    }
}

fn serve_connection(stream: TcpStream, ctx: &Ctx) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(ctx.config.tick))?;
    stream.set_write_timeout(Some(ctx.config.write_timeout))?;
    let mut reader = LineReader::new(stream, MAX_LINE);
    let stream = reader.get_ref().try_clone()?;
    send(&stream, &format!("HELLO {PROTOCOL} {}\n", ctx.id))?;
    let mut last_request = Instant::now();
    loop {
        if ctx.stop.load(Ordering::Acquire) {
            let _ = send(&stream, "BYE server shutting down\n");
            linger_close(&stream);
            return Ok(());
        }
        let line = match reader.read_line() {
            Ok(Line::Complete(line)) => line,
            Ok(Line::Eof) => return Ok(()),
            Ok(Line::TooLong) => {
                send(
                    &stream,
                    &format!("ERR line too long (max {MAX_LINE} bytes)\n"),
                )?;
                linger_close(&stream);
                return Ok(());
            }
            Err(e) if is_timeout(&e) => {
                if last_request.elapsed() >= ctx.config.idle_timeout {
                    send(&stream, "ERR idle timeout\n")?;
                    linger_close(&stream);
                    return Ok(());
                }
                continue; // partial input stays buffered in the reader
            }
            Err(e) => return Err(e),
        };
        let reply = match parse_request(&line) {
            Ok(Request::Pull(after)) => match long_poll(ctx, after) {
                Poll::New(version, state) => {
                    format!("STATE {} {}\n", version.get(), state.payload())
                }
                Poll::NoChange(version) => format!("NOCHANGE {}\n", version.get()),
                Poll::Stopping => continue, // the check at the top says BYE
            },
            Ok(Request::Quit) => {
                send(&stream, "BYE quit\n")?;
                linger_close(&stream);
                return Ok(());
            }
            Err(reason) => format!("ERR {reason}\n"),
        };
        send(&stream, &reply)?;
        last_request = Instant::now();
    }
}

// ---------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------

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
            s.set_read_timeout(Some(config.reply_timeout))?;
            s.set_write_timeout(Some(config.write_timeout))?;
            s.try_clone()
        };
        let writer = setup(&stream).map_err(|e| format!("socket setup: {e}"))?;
        let mut reader = LineReader::new(stream, MAX_LINE);
        let greeting = read_reply(&mut reader)?;
        let server_id = match greeting.split(' ').collect::<Vec<_>>()[..] {
            ["HELLO", PROTOCOL, id] if !id.is_empty() => id.to_string(),
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

/// Reads one reply line as text.
fn read_reply(reader: &mut LineReader<TcpStream>) -> Result<String, String> {
    match reader.read_line() {
        Ok(Line::Complete(line)) => String::from_utf8(line)
            .map_err(|e| format!("reply is not UTF-8: {}", shown(e.as_bytes()))),
        Ok(Line::TooLong) => Err("reply too long".into()),
        Ok(Line::Eof) => Err("server closed the connection".into()),
        Err(e) if is_timeout(&e) => Err("no reply within the reply timeout".into()),
        Err(e) => Err(format!("read: {e}")),
    }
}

/// A parsed reply to `PULL`.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    State(u64, State),
    NoChange(u64),
    Err(String),
    Bye(String),
}

pub fn parse_reply(line: &str) -> Option<Reply> {
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    match word {
        "STATE" => {
            let (version, payload) = rest.split_once(' ')?;
            Some(Reply::State(version.parse().ok()?, State::parse(payload)?))
        }
        "NOCHANGE" => Some(Reply::NoChange(rest.parse().ok()?)),
        "ERR" => Some(Reply::Err(rest.into())),
        "BYE" => Some(Reply::Bye(rest.into())),
        _ => None,
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
        if let Err(e) = send(&conn.writer, &format!("PULL {version}\n")) {
            return broken(format!("write: {e}"), progress);
        }
        let line = match read_reply(&mut conn.reader) {
            Ok(line) => line,
            Err(reason) => return broken(reason, progress),
        };
        match parse_reply(&line) {
            Some(Reply::State(v, state)) => {
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
            None => {
                return broken(
                    format!("unexpected reply {}", shown(line.as_bytes())),
                    progress,
                )
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------

const USAGE: &str = "\
usage: remote_pull [--pushes K] [--interval-ms MS] [--long-poll-ms MS]
       remote_pull --serve ADDR [--pushes K] [--interval-ms MS] [--long-poll-ms MS] [--grace-ms MS]
       remote_pull --connect ADDR [--for SECS] [--give-up-secs SECS]

Shares a state over a persistent loopback TCP connection: a server pushes K versions, a
client long-polls for each newer one. Without --serve/--connect, runs both in one process
and checks what the client saw.

options:
  --serve ADDR        run the server on ADDR (e.g. 127.0.0.1:0 for a free port); prints
                      'listening on IP:PORT'; exits once it has pushed K versions and its
                      clients have left (at most --grace-ms after the last push)
  --connect ADDR      run the client: print each new version; exit 0 after the last one
  --pushes K          versions to push (1..=1000000, default 60)
  --interval-ms MS    pause between pushes (0..=60000, default 50)
  --long-poll-ms MS   how long the server holds a PULL (10..=60000, default 2000)
  --grace-ms MS       server: serve after the last push until clients leave, at most MS
                      (0..=3600000, default 5000)
  --for SECS          client: stop after SECS seconds (1..=86400; default: no limit)
  --give-up-secs S    client: give up after S seconds without a usable connection
                      (1..=86400, default 10)
  -h, --help          print this help

exit code: 0 success, 1 failure (missed/out-of-order versions, unreachable server), 2 bad arguments";

#[derive(Debug, PartialEq, Eq)]
enum Mode {
    Demo,
    Serve(String),
    Connect(String),
}

#[derive(Debug)]
struct Options {
    mode: Mode,
    pushes: u64,
    interval: Duration,
    long_poll: Duration,
    grace: Duration,
    run_for: Option<Duration>,
    give_up: Duration,
}

enum Command {
    Run(Options),
    Help,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut o = Options {
        mode: Mode::Demo,
        pushes: 60,
        interval: Duration::from_millis(50),
        long_poll: Duration::from_secs(2),
        grace: Duration::from_secs(5),
        run_for: None,
        give_up: Duration::from_secs(10),
    };
    let mut seen: Vec<String> = Vec::new();
    let mut flags = cli::Flags::new(args);
    while let Some((flag, inline)) = flags.next_flag() {
        let ms = |n: u64| Duration::from_millis(n);
        match flag.as_str() {
            "--help" => return Ok(Command::Help),
            "--serve" | "--connect" => {
                if o.mode != Mode::Demo {
                    return Err("give at most one of --serve and --connect".into());
                }
                let addr = flags.value(&flag, inline)?;
                if addr.is_empty() {
                    return Err(format!("{flag} needs an address like 127.0.0.1:7878"));
                }
                o.mode = if flag == "--serve" {
                    Mode::Serve(addr)
                } else {
                    Mode::Connect(addr)
                };
            }
            "--pushes" => o.pushes = flags.number(&flag, inline, 1, 1_000_000)?,
            "--interval-ms" => o.interval = ms(flags.number(&flag, inline, 0, 60_000)?),
            "--long-poll-ms" => o.long_poll = ms(flags.number(&flag, inline, 10, 60_000)?),
            "--grace-ms" => o.grace = ms(flags.number(&flag, inline, 0, 3_600_000)?),
            "--for" => {
                o.run_for = Some(Duration::from_secs(flags.number(&flag, inline, 1, 86_400)?))
            }
            "--give-up-secs" => {
                o.give_up = Duration::from_secs(flags.number(&flag, inline, 1, 86_400)?)
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
        seen.push(flag);
    }
    let has = |f: &str| seen.iter().any(|s| s == f);
    let misplaced = match o.mode {
        Mode::Demo => ["--grace-ms", "--for", "--give-up-secs"]
            .iter()
            .find(|f| has(f))
            .map(|f| (*f, "--connect or --serve")),
        Mode::Serve(_) => ["--for", "--give-up-secs"]
            .iter()
            .find(|f| has(f))
            .map(|f| (*f, "--connect")),
        Mode::Connect(_) => ["--pushes", "--interval-ms", "--long-poll-ms", "--grace-ms"]
            .iter()
            .find(|f| has(f))
            .map(|f| (*f, "--serve or the default mode")),
    };
    if let Some((flag, needs)) = misplaced {
        return Err(format!("{flag} only applies with {needs}"));
    }
    Ok(Command::Run(o))
}

fn server_config(o: &Options) -> ServerConfig {
    ServerConfig {
        long_poll: o.long_poll,
        ..ServerConfig::default()
    }
}

fn client_config(o: &Options) -> ClientConfig {
    ClientConfig {
        // A reply may take a whole long poll; allow a generous margin on top.
        reply_timeout: o.long_poll.max(Duration::from_secs(2)) * 2 + Duration::from_secs(5),
        give_up_after: o.give_up,
        run_limit: o.run_for,
        ..ClientConfig::default()
    }
}

fn print_event(prefix: &str, event: &Event<'_>) {
    match event {
        Event::Connected {
            server_id,
            restarted,
        } => println!(
            "{prefix}connected (server id {server_id}){}",
            if *restarted {
                ": the server restarted, starting over from v0"
            } else {
                ""
            }
        ),
        Event::Update(u) => println!("{prefix}v{} {}", u.version, u.state.payload()),
        Event::Disconnected { reason } => println!("{prefix}disconnected: {reason}"),
        Event::Unreachable { error, retry_in } => {
            println!(
                "{prefix}unreachable: {error}; retrying in {} ms",
                retry_in.as_millis()
            )
        }
    }
}

fn run_server(addr: &str, o: &Options) -> ExitCode {
    let server = match Server::start(addr, server_config(o)) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("remote_pull: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", server.addr());
    println!("server id {}", server.id());
    let last = server.run_pusher(o.pushes, o.interval);
    println!(
        "pushed {} versions, last v{last}; serving until clients leave, at most {} ms",
        o.pushes,
        o.grace.as_millis()
    );
    // Lifetime bound: until at least one client came and all have left, or the grace ends.
    let _ = server
        .conns()
        .wait_until_for(o.grace, |c| c.total > 0 && c.active == 0);
    let stats = *server.conns().read();
    let clean = server.shutdown(Duration::from_secs(5));
    println!(
        "server done: {} connection(s) served, {} refused{}",
        stats.total,
        stats.refused,
        if clean {
            ""
        } else {
            " (some connection threads still closing)"
        }
    );
    ExitCode::SUCCESS
}

fn run_client(addr: &str, o: &Options) -> ExitCode {
    let report = client(addr, &client_config(o), |event| {
        print_event("", &event);
        !matches!(event, Event::Update(u) if u.state.finished)
    });
    let finished = report.last.as_ref().is_some_and(|u| u.state.finished);
    println!(
        "client: {} versions seen, last {}, {} reconnect(s), {} server restart(s), {} out of order, {} inconsistent",
        report.updates,
        report.last.as_ref().map_or("none".into(), |u| format!("v{}", u.version)),
        report.connections.saturating_sub(1),
        report.server_restarts,
        report.out_of_order,
        report.inconsistent
    );
    if let Some(error) = &report.error {
        eprintln!("client: {error}");
    }
    if finished && report.out_of_order == 0 && report.inconsistent == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_demo(o: &Options) -> ExitCode {
    let server = match Server::start("127.0.0.1:0", server_config(o)) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("remote_pull: cannot listen on loopback: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server.addr().to_string();
    println!("listening on {addr}");
    println!(
        "server pushes {} versions, {} ms apart; the client long-polls for each newer one",
        o.pushes,
        o.interval.as_millis()
    );

    let wg = WaitGroup::new();
    let config = client_config(o);
    let client_thread = wg.spawn(move || {
        let mut versions = Vec::new();
        let report = client(&addr, &config, |event| {
            print_event("client: ", &event);
            match event {
                Event::Update(u) => {
                    versions.push(u.version);
                    !u.state.finished
                }
                _ => true,
            }
        });
        (report, versions)
    });

    let last = server.run_pusher(o.pushes, o.interval);
    let budget = o.long_poll * 2 + Duration::from_secs(30);
    if !wg.wait_for(budget) {
        eprintln!(
            "error: the client did not finish within {} s of the last push",
            budget.as_secs()
        );
        return ExitCode::FAILURE;
    }
    let (report, versions) = match client_thread.join() {
        Ok(result) => result,
        Err(_) => {
            eprintln!("error: the client thread panicked");
            return ExitCode::FAILURE;
        }
    };
    let stats = *server.conns().read();
    server.shutdown(Duration::from_secs(5));

    let increasing = versions.windows(2).all(|w| w[0] < w[1]);
    let final_seen = report.last.as_ref().map(|u| u.version);
    println!("versions pushed by the server: {} (last v{last})", o.pushes);
    println!(
        "versions seen by the client: {} (intermediate versions coalesce when pushes outpace round trips)",
        versions.len()
    );
    println!("strictly increasing: {}", yes(increasing));
    println!("out of order: {}", report.out_of_order);
    println!("inconsistent states: {}", report.inconsistent);
    println!(
        "final version matches the server's last: {} (client v{}, server v{last})",
        yes(final_seen == Some(last)),
        final_seen.map_or("-".into(), |v| v.to_string())
    );
    println!(
        "nochange replies: {}, connections: {}, refused: {}",
        report.nochange, stats.total, stats.refused
    );
    let ok = report.error.is_none()
        && increasing
        && report.out_of_order == 0
        && report.inconsistent == 0
        && final_seen == Some(last);
    if let Some(error) = &report.error {
        eprintln!("client: {error}");
    }
    if ok {
        println!("OK");
        ExitCode::SUCCESS
    } else {
        println!("FAILED");
        ExitCode::FAILURE
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(o)) => match &o.mode {
            Mode::Demo => run_demo(&o),
            Mode::Serve(addr) => run_server(addr, &o),
            Mode::Connect(addr) => run_client(addr, &o),
        },
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("remote_pull: error: {message}\nrun with --help for usage");
            ExitCode::from(2)
        }
    }
}
