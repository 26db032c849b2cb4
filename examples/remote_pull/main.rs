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
//!   [`MAX_LINE`](protocol::MAX_LINE) bytes; a misbehaving client (garbage, over-long line,
//!   stalled, trickling, gone mid-request) costs the server one thread and one connection
//!   slot for a bounded time and nothing else (below).
//!
//! # Protocol
//!
//! One line per message, one reply per request: the server greets with
//! `HELLO pushpull-remote <server-id>`, the client asks `PULL <version>` and gets
//! `STATE <v> <payload>` or `NOCHANGE <v>`, `QUIT` gets `BYE quit`, anything else `ERR`.
//! The [`protocol`] module has all of it in one place: the grammar, every reply, and every
//! reason the server closes a connection.
//!
//! # What a client can cost the server
//!
//! One thread and one of the `--max-connections` slots (default 64), for a bounded time
//! unless it keeps making valid requests. Each phase of a connection has an overall
//! deadline, measured from the start of the phase: a client that sends or reads one byte
//! at a time cannot stretch it.
//!
//! | phase | ends by | default | flag |
//! |---|---|---|---|
//! | greeting: from connecting to the first valid request | the greeting timeout | 10 s | `--greeting-timeout-ms` |
//! | waiting for the next valid request after answering one | the idle timeout | 30 s | `--idle-timeout-ms` |
//! | long-polling a `PULL` | the long-poll timeout | 2 s | `--long-poll-ms` |
//! | writing the greeting, a reply or the last line | the write timeout, each | 5 s | |
//! | closing: draining input after the last line (`BYE`, `ERR`) | the linger time | 2 s | `--linger-ms` |
//!
//! Only a valid request (`PULL <version>`) moves a connection from one deadline to the
//! next: empty, invalid and unfinished lines do not, and after `--max-invalid-requests`
//! (default 8) invalid ones the next closes the connection. So a slot held by a client that
//! makes no valid request is free again after at most the greeting (or idle) timeout +
//! linger, plus a write timeout for each line it is owed and does not read (in practice
//! none: a few short lines fit in the socket's send buffer). On shutdown every connection
//! notices within a tick (200 ms) and closes the same way.

#[path = "../support/cli.rs"]
mod cli;
pub mod client;
pub mod protocol;
pub mod server;

use client::{client, ClientConfig, Event};
use pushpull::WaitGroup;
use server::{Server, ServerConfig};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: remote_pull [--pushes K] [--interval-ms MS] [SERVER LIMITS]
       remote_pull --serve ADDR [--pushes K] [--interval-ms MS] [--grace-ms MS] [SERVER LIMITS]
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
  --grace-ms MS       server: serve after the last push until clients leave, at most MS
                      (0..=3600000, default 5000)
  --for SECS          client: stop after SECS seconds (1..=86400; default: no limit)
  --give-up-secs S    client: give up after S seconds without a usable connection
                      (1..=86400, default 10)
  -h, --help          print this help

server limits (with --serve or the default mode):
  --long-poll-ms MS   how long the server holds a PULL (10..=60000, default 2000)
  --greeting-timeout-ms MS
                      a new connection must make a valid request within MS, or is closed
                      (10..=3600000, default 10000)
  --idle-timeout-ms MS
                      after each answer to a valid request the next one must come within
                      MS, or the connection is closed; invalid lines do not restart this
                      clock
                      (10..=3600000, default 30000)
  --max-invalid-requests N
                      invalid requests a connection may make; the next one closes it
                      (0..=1000000, default 8)
  --linger-ms MS      after its last line (BYE or ERR) a connection drains what the client
                      still sends for at most MS, then closes (0..=60000, default 2000)
  --max-connections N more connections at once are greeted with ERR busy and closed
                      (1..=100000, default 64)

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
    greeting_timeout: Duration,
    idle_timeout: Duration,
    max_invalid_requests: u32,
    linger: Duration,
    max_connections: usize,
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
        greeting_timeout: ServerConfig::default().greeting_timeout,
        idle_timeout: ServerConfig::default().idle_timeout,
        max_invalid_requests: ServerConfig::default().max_invalid_requests,
        linger: ServerConfig::default().linger,
        max_connections: ServerConfig::default().max_connections,
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
            "--greeting-timeout-ms" => {
                o.greeting_timeout = ms(flags.number(&flag, inline, 10, 3_600_000)?)
            }
            "--idle-timeout-ms" => o.idle_timeout = ms(flags.number(&flag, inline, 10, 3_600_000)?),
            "--max-invalid-requests" => {
                o.max_invalid_requests = flags.number(&flag, inline, 0, 1_000_000)? as u32
            }
            "--linger-ms" => o.linger = ms(flags.number(&flag, inline, 0, 60_000)?),
            "--max-connections" => {
                o.max_connections = flags.number(&flag, inline, 1, 100_000)? as usize
            }
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
        Mode::Connect(_) => [
            "--pushes",
            "--interval-ms",
            "--grace-ms",
            "--long-poll-ms",
            "--greeting-timeout-ms",
            "--idle-timeout-ms",
            "--max-invalid-requests",
            "--linger-ms",
            "--max-connections",
        ]
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
        greeting_timeout: o.greeting_timeout,
        idle_timeout: o.idle_timeout,
        max_invalid_requests: o.max_invalid_requests,
        linger: o.linger,
        max_connections: o.max_connections,
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
