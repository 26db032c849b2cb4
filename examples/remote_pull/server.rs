//! The `remote_pull` server: one thread per connection, each long-polling the shared state.

use super::client::CONNECT_TIMEOUT;
use super::protocol::{
    at_least_1ms, is_timeout, parse_request, send_by, Close, Line, LineReader, Reply, Request,
    State, MAX_LINE,
};
use pushpull::{Shared, Version, WaitGroup};
use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// Server tuning. The defaults suit a demo; tests shorten them.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// How long a `PULL` waits for a newer version before replying `NOCHANGE`.
    pub long_poll: Duration,
    /// A new connection must make its first valid request within this long, or it is
    /// closed (`ERR greeting timeout`).
    pub greeting_timeout: Duration,
    /// After answering a valid request, the next one must come within this long, or the
    /// connection is closed (`ERR idle timeout`). Only a valid request restarts the clock:
    /// invalid or unfinished lines, however many, do not.
    pub idle_timeout: Duration,
    /// A connection may make this many invalid requests (each answered `ERR <reason>`);
    /// the next one is answered `ERR too many invalid requests` and the connection closed.
    pub max_invalid_requests: u32,
    /// Read timeout of a connection: how often a connection thread checks for shutdown.
    pub tick: Duration,
    /// Bound of each reply, all of it: a client that reads slowly cannot stretch it.
    pub write_timeout: Duration,
    /// After its last line (`BYE` or `ERR`) a connection reads and discards what the client
    /// still sends, so that the line is not lost to a TCP reset: for this long at most,
    /// however the client trickles. Zero closes at once.
    pub linger: Duration,
    /// More concurrent connections than this are greeted with `ERR busy` and closed.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            long_poll: Duration::from_secs(2),
            greeting_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_invalid_requests: 8,
            tick: Duration::from_millis(200),
            write_timeout: Duration::from_secs(5),
            linger: Duration::from_secs(2),
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
            let line = Close::Busy.reply().line();
            let _ = send_by(&stream, &line, Instant::now() + ctx.config.write_timeout);
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

/// The outcome of a long poll.
enum Poll {
    New(Version, State),
    NoChange(Version),
    Stopping,
}

/// Waits until the state's version exceeds `after`, at most the long-poll timeout, waking
/// at least every tick to notice a shutdown.
fn long_poll(ctx: &Ctx, after: Version) -> Poll {
    let deadline = Instant::now() + ctx.config.long_poll;
    // The puller is created before the first look, so no publish can fall in between.
    let mut puller = ctx.state.puller();
    loop {
        let (state, version) = ctx.state.snapshot(); // a consistent (value, version) pair
        if version > after {
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

/// Closes after a final reply without resetting the connection: stop writing, then drain
/// what the client still sends, so that our last line is not lost to a reset. Bounded by
/// `deadline` overall (each read may wait only for what is left of it, so a client
/// trickling bytes cannot stretch it) and by [`LINGER_MAX_BYTES`].
fn linger_close(stream: &TcpStream, deadline: Instant) {
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; MAX_LINE];
    let mut drained = 0;
    while drained < LINGER_MAX_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(at_least_1ms(left))).is_err() {
            break;
        }
        match (&*stream).read(&mut sink) {
            Ok(0) | Err(_) => break, // EOF, timeout or reset: done either way
            Ok(n) => drained += n,
        }
    }
}

/// The most a lingering connection drains before it closes anyway.
const LINGER_MAX_BYTES: usize = 64 * 1024;

/// Sends `reply`, all of it within the write timeout.
fn send(stream: &TcpStream, ctx: &Ctx, reply: &Reply) -> io::Result<()> {
    send_by(
        stream,
        &reply.line(),
        Instant::now() + ctx.config.write_timeout,
    )
}

/// What [`next_line`] found.
enum Next {
    Line(Line),
    /// The deadline passed before a line was complete.
    Late,
    Stopping,
}

/// Reads the next line, giving up at `due` however the input trickles in, and waking at
/// least every tick to notice a shutdown.
fn next_line(reader: &mut LineReader<TcpStream>, due: Instant, ctx: &Ctx) -> io::Result<Next> {
    loop {
        if ctx.stop.load(Ordering::Acquire) {
            return Ok(Next::Stopping);
        }
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Next::Late);
        }
        let wait = at_least_1ms(left.min(ctx.config.tick));
        reader.get_ref().set_read_timeout(Some(wait))?;
        match reader.read_some() {
            Ok(Some(line)) => return Ok(Next::Line(line)),
            Ok(None) => {}                 // part of a line; it stays buffered
            Err(e) if is_timeout(&e) => {} // nothing within the wait
            Err(e) => return Err(e),
        }
    }
}

fn serve_connection(stream: TcpStream, ctx: &Ctx) -> io::Result<()> {
    let connected = Instant::now();
    let config = &ctx.config;
    stream.set_nodelay(true)?;
    let mut reader = LineReader::new(stream, MAX_LINE);
    let stream = reader.get_ref().try_clone()?;
    send(&stream, ctx, &Reply::Hello(ctx.id.clone()))?;
    // The next valid request is due by `due`, or the connection closes with `late`. Only a
    // valid request moves the deadline on: empty, invalid and unfinished lines do not.
    let mut due = connected + config.greeting_timeout;
    let mut late = Close::GreetingTimeout;
    let mut invalid = 0u32;
    let close = loop {
        let line = match next_line(&mut reader, due, ctx)? {
            Next::Line(Line::Complete(line)) => line,
            Next::Line(Line::Eof) => return Ok(()),
            Next::Line(Line::TooLong) => break Close::LineTooLong,
            Next::Late => break late,
            Next::Stopping => break Close::ShuttingDown,
        };
        let reply = match parse_request(&line) {
            Ok(Request::Pull(after)) => match long_poll(ctx, after) {
                Poll::New(version, state) => Reply::State(version, state),
                Poll::NoChange(version) => Reply::NoChange(version),
                Poll::Stopping => break Close::ShuttingDown,
            },
            Ok(Request::Quit) => break Close::Quit,
            Err(reason) => {
                invalid += 1;
                if invalid > config.max_invalid_requests {
                    break Close::TooManyInvalid(config.max_invalid_requests);
                }
                send(&stream, ctx, &Reply::Err(reason))?;
                continue; // the deadline stands
            }
        };
        send(&stream, ctx, &reply)?;
        due = Instant::now() + config.idle_timeout;
        late = Close::IdleTimeout;
    };
    send(&stream, ctx, &close.reply())?;
    linger_close(&stream, Instant::now() + config.linger);
    Ok(())
}
