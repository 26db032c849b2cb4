//! Tests of the `remote_pull` example: its server and client are compiled into this test
//! (`#[path]` module) and driven directly over loopback; two more tests run the example
//! binary itself (`--serve` + `--connect`, and the one-process demo).
//!
//! Every wait is bounded: sockets have read timeouts, threads are waited for with
//! `WaitGroup::wait_for`, conditions with `Shared::wait_until_for` or `recv_timeout`.
#![cfg(not(loom))]

#[allow(dead_code)]
#[path = "../examples/remote_pull/main.rs"]
mod remote_pull;
#[path = "support/examples.rs"]
mod support;

use pushpull::Version;
use pushpull::WaitGroup;
use remote_pull::client::{client, ClientConfig, ClientReport, Event, Update};
use remote_pull::protocol::{
    is_timeout, parse_decimal, parse_reply, parse_request, Line, LineReader, Reply, Request, State,
    MAX_LINE,
};
use remote_pull::server::{Server, ServerConfig};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use support::wait_bounded;

/// Generous bound for anything that should take milliseconds.
const LIMIT: Duration = Duration::from_secs(30);

fn server_config() -> ServerConfig {
    ServerConfig {
        long_poll: Duration::from_millis(300),
        greeting_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        max_invalid_requests: 100,
        tick: Duration::from_millis(50),
        write_timeout: Duration::from_secs(5),
        linger: Duration::from_secs(2),
        max_connections: 64,
    }
}

fn client_config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(5),
        reply_timeout: Duration::from_secs(10),
        write_timeout: Duration::from_secs(5),
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(200),
        give_up_after: LIMIT,
        run_limit: Some(Duration::from_secs(120)),
    }
}

fn start(config: ServerConfig) -> Server {
    Server::start("127.0.0.1:0", config).expect("bind a loopback port")
}

/// A client on its own thread that records every update and stops at the first finished
/// state. Wait for it with `wg.wait_for`.
fn spawn_client(
    wg: &WaitGroup,
    addr: String,
    config: ClientConfig,
) -> JoinHandle<(ClientReport, Vec<Update>)> {
    wg.spawn(move || {
        let mut updates = Vec::new();
        let report = client(&addr, &config, |event| match event {
            Event::Update(u) => {
                updates.push(u.clone());
                !u.state.finished
            }
            _ => true,
        });
        (report, updates)
    })
}

fn join_client(
    wg: &WaitGroup,
    handle: JoinHandle<(ClientReport, Vec<Update>)>,
) -> (ClientReport, Vec<Update>) {
    assert!(wg.wait_for(LIMIT), "client did not finish within {LIMIT:?}");
    handle.join().expect("client thread panicked")
}

/// Checks the client's view of one server run: strictly increasing versions, each state the
/// one the pusher made at that version.
fn assert_sound(updates: &[Update]) {
    assert!(!updates.is_empty(), "no update received");
    for pair in updates.windows(2) {
        assert!(
            pair[0].version < pair[1].version,
            "versions not strictly increasing: v{} then v{}",
            pair[0].version,
            pair[1].version
        );
    }
    for u in updates {
        assert!(u.state.matches_version(u.version), "torn state {u:?}");
    }
}

/// A raw protocol connection for poking the server by hand.
struct Raw {
    reader: LineReader<TcpStream>,
    stream: TcpStream,
}

impl Raw {
    /// Connects and checks the greeting.
    fn open(server: &Server) -> Raw {
        let (raw, hello) = Raw::connect(server.addr());
        assert_eq!(hello, format!("HELLO pushpull-remote {}", server.id()));
        raw
    }

    /// Connects and returns the first line, which should be the greeting.
    fn connect(addr: SocketAddr) -> (Raw, String) {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        stream.set_write_timeout(Some(LIMIT)).unwrap();
        let mut raw = Raw {
            reader: LineReader::new(stream.try_clone().unwrap(), 4096),
            stream,
        };
        let first = raw.line();
        (raw, first)
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write request");
    }

    /// The next reply line (bounded by the read timeout).
    fn line(&mut self) -> String {
        match self.reader.read_line().expect("read reply (timed out?)") {
            Line::Complete(line) => String::from_utf8(line).expect("reply is UTF-8"),
            other => panic!("expected a reply line, got {other:?}"),
        }
    }

    fn ask(&mut self, request: &[u8]) -> String {
        self.send(request);
        self.line()
    }

    /// The server closed the connection (bounded by the read timeout).
    fn assert_closed(&mut self) {
        match self.reader.read_line() {
            Ok(Line::Eof) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("expected the server to close, got {other:?}"),
        }
    }
}

#[test]
fn client_sees_strictly_increasing_versions_ending_at_the_servers_last() {
    let server = start(server_config());
    let wg = WaitGroup::new();
    let clients: Vec<_> = (0..2)
        .map(|_| spawn_client(&wg, server.addr().to_string(), client_config()))
        .collect();

    let last = server.run_pusher(500, Duration::ZERO);
    assert_eq!(last, 500);

    for handle in clients {
        let (report, updates) = join_client(&wg, handle);
        assert_eq!(report.error, None);
        assert_sound(&updates);
        let final_update = updates.last().unwrap();
        assert_eq!(
            final_update.version, last,
            "did not end at the server's last version"
        );
        assert!(final_update.state.finished);
        assert_eq!(report.last.as_ref(), Some(final_update));
        assert_eq!(report.updates, updates.len() as u64);
        assert_eq!(report.out_of_order, 0);
        assert_eq!(report.inconsistent, 0);
        assert_eq!(report.connections, 1);
        assert_eq!(report.server_restarts, 0);
        assert!(updates.iter().all(|u| u.server_id == server.id()));
    }
    // The clients left: the server's connection count drops back to zero.
    let conns = server
        .conns()
        .wait_until_for(LIMIT, |c| c.active == 0)
        .unwrap()
        .map(|c| *c)
        .expect("connections still open");
    assert_eq!(conns.total, 2);
    assert!(server.shutdown(LIMIT), "server threads did not finish");
}

#[test]
fn client_that_starts_late_gets_the_current_state_at_once() {
    let server = start(server_config());
    server.run_pusher(10, Duration::ZERO);
    let wg = WaitGroup::new();
    let (report, updates) = join_client(
        &wg,
        spawn_client(&wg, server.addr().to_string(), client_config()),
    );
    assert_eq!(report.error, None);
    // Watch semantics: one reply carries the latest state, not the ten steps to it.
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].version, 10);
    assert_eq!(
        updates[0].state,
        State {
            tick: 10,
            sum: 55,
            finished: true
        }
    );
    assert!(server.shutdown(LIMIT));
}

#[test]
fn malformed_requests_get_err_and_the_connection_keeps_working() {
    let server = start(server_config());
    server.push_tick(false);
    let mut raw = Raw::open(&server);
    let bad: &[(&[u8], &str)] = &[
        (b"GARBAGE\n", "ERR unknown request \"GARBAGE\""),
        (b"pull 0\n", "ERR unknown request \"pull\""),
        (b"PULL abc\n", "ERR bad version \"abc\""),
        (b"PULL -1\n", "ERR bad version \"-1\""),
        (b"PULL +1\n", "ERR bad version \"+1\""),
        (b"PULL  1\n", "ERR malformed request \"PULL  1\""),
        (b"PULL 99999999999999999999999\n", "ERR bad version"),
        (b"PULL\n", "ERR PULL needs a version"),
        (b"PULL 1 2\n", "ERR too many arguments to PULL"),
        (b"\n", "ERR empty request"),
        (b"   \r\n", "ERR empty request"),
        (
            b"\xff\xfe\x00\n",
            "ERR request is not UTF-8: \"\\xff\\xfe\\x00\"",
        ),
        (b"\x1b[2J\x07\n", "ERR unknown request \"\\x1b[2J\\x07\""),
    ];
    for (request, expected) in bad {
        let reply = raw.ask(request);
        assert!(
            reply.starts_with(expected),
            "{request:?}: got {reply:?}, expected {expected:?}"
        );
        assert!(reply.len() < MAX_LINE);
    }
    // The same connection still serves good requests, also pipelined with bad ones.
    assert_eq!(raw.ask(b"PULL 0\n"), "STATE 1 tick=1 sum=1 finished=false");
    raw.send(b"NOPE\nPULL 0\r\nPULL 1\n");
    assert!(raw.line().starts_with("ERR unknown request"));
    assert_eq!(raw.line(), "STATE 1 tick=1 sum=1 finished=false");
    assert_eq!(raw.line(), "NOCHANGE 1"); // nothing newer within the long poll
    assert_eq!(raw.ask(b"QUIT\n"), "BYE quit");
    raw.assert_closed();
    assert!(server.shutdown(LIMIT));
}

#[test]
fn pull_rejects_a_signed_version() {
    let server = start(server_config());
    server.push_tick(false);
    let mut raw = Raw::open(&server);
    // `u64::from_str` takes a leading `+`; the protocol's decimal does not.
    for request in [&b"PULL +0\n"[..], b"PULL +3\n", b"PULL -0\n", b"PULL +\n"] {
        let reply = raw.ask(request);
        assert!(
            reply.starts_with("ERR bad version") && reply.contains("digits only"),
            "{:?}: got {reply:?}",
            request.escape_ascii().to_string()
        );
    }
    // Leading zeros are still a version, and the largest one is accepted.
    assert_eq!(
        raw.ask(b"PULL 000\n"),
        "STATE 1 tick=1 sum=1 finished=false"
    );
    assert_eq!(raw.ask(b"PULL 18446744073709551615\n"), "NOCHANGE 1");
    assert!(raw
        .ask(b"PULL 18446744073709551616\n")
        .starts_with("ERR bad version \"18446744073709551616\""));
    assert_eq!(raw.ask(b"QUIT\n"), "BYE quit");
    raw.assert_closed();
    assert!(server.shutdown(LIMIT));
}

#[test]
fn pull_rejects_spaces_around_its_version() {
    let server = start(server_config());
    server.push_tick(false);
    let mut raw = Raw::open(&server);
    for request in [
        &b"PULL  0\n"[..],
        b"PULL 0 \n",
        b" PULL 0\n",
        b"PULL\t0\n",
        b"PULL 0 \r\n",
    ] {
        let reply = raw.ask(request);
        assert!(
            reply.starts_with("ERR malformed request")
                && reply.ends_with("words are separated by single spaces"),
            "{:?}: got {reply:?}",
            request.escape_ascii().to_string()
        );
    }
    assert!(raw.ask(b"PULL \n").starts_with("ERR malformed request"));
    assert_eq!(
        raw.ask(b"PULL 0\r\n"),
        "STATE 1 tick=1 sum=1 finished=false"
    );
    assert!(server.shutdown(LIMIT));
}

#[test]
fn invalid_requests_per_connection_are_capped() {
    let server = start(ServerConfig {
        max_invalid_requests: 3,
        ..server_config()
    });
    server.push_tick(false);
    let mut raw = Raw::open(&server);
    assert_eq!(raw.ask(b"\n"), "ERR empty request");
    assert!(raw.ask(b"PULL x\n").starts_with("ERR bad version"));
    // Valid requests in between do not wipe the slate.
    assert_eq!(raw.ask(b"PULL 0\n"), "STATE 1 tick=1 sum=1 finished=false");
    assert!(raw.ask(b"HELLO\n").starts_with("ERR unknown request"));
    assert_eq!(raw.ask(b"\n"), "ERR too many invalid requests (max 3)");
    raw.assert_closed();
    // Pipelined, the same: three answered, the fourth closes, the rest is never read.
    let mut raw = Raw::open(&server);
    raw.send(b"\n\n\n\nPULL 0\n\n");
    for _ in 0..3 {
        assert_eq!(raw.line(), "ERR empty request");
    }
    assert_eq!(raw.line(), "ERR too many invalid requests (max 3)");
    raw.assert_closed();
    // Other connections keep their own count.
    let mut fresh = Raw::open(&server);
    assert_eq!(fresh.ask(b"\n"), "ERR empty request");
    assert_eq!(
        fresh.ask(b"PULL 0\n"),
        "STATE 1 tick=1 sum=1 finished=false"
    );
    drop(fresh);
    assert!(server.shutdown(LIMIT));
}

#[test]
fn over_long_line_gets_err_and_closes_only_that_connection() {
    let server = start(server_config());
    server.push_tick(false);

    // Exactly MAX_LINE bytes, newline included, is still a request.
    let mut raw = Raw::open(&server);
    let mut longest = b"PULL ".to_vec();
    longest.resize(MAX_LINE - 2, b'0');
    longest.extend_from_slice(b"0\n");
    assert_eq!(longest.len(), MAX_LINE);
    assert_eq!(raw.ask(&longest), "STATE 1 tick=1 sum=1 finished=false");

    // One byte more is not: ERR, then the server closes.
    let mut too_long = b"PULL ".to_vec();
    too_long.resize(MAX_LINE - 1, b'0');
    too_long.extend_from_slice(b"0\n");
    assert_eq!(
        raw.ask(&too_long),
        format!("ERR line too long (max {MAX_LINE} bytes)")
    );
    raw.assert_closed();

    // Same without any newline: a stream of garbage.
    let mut raw = Raw::open(&server);
    raw.send(&[b'A'; 4 * MAX_LINE]);
    assert!(raw.line().starts_with("ERR line too long"));
    raw.assert_closed();

    // Other and new connections are unaffected.
    let mut fresh = Raw::open(&server);
    assert_eq!(
        fresh.ask(b"PULL 0\n"),
        "STATE 1 tick=1 sum=1 finished=false"
    );
    drop(fresh);
    assert!(server.shutdown(LIMIT));
}

#[test]
fn server_survives_clients_that_vanish_mid_request() {
    let server = start(server_config());
    server.push_tick(false);

    // Half a request, then gone.
    let mut a = Raw::open(&server);
    a.send(b"PULL 1");
    drop(a);
    // A request that long-polls (nothing newer than v1 comes), then gone before the reply.
    let mut b = Raw::open(&server);
    b.send(b"PULL 1\n");
    drop(b);
    // Half a request, then a half-close: the server sees end of input.
    let mut c = Raw::open(&server);
    c.send(b"PULL 0");
    c.stream.shutdown(Shutdown::Write).unwrap();
    c.assert_closed();
    // Gone without a word.
    drop(Raw::open(&server));

    // Every one of those connection threads ends, bounded by a long poll.
    let conns = server
        .conns()
        .wait_until_for(LIMIT, |c| c.total == 4 && c.active == 0)
        .unwrap()
        .map(|c| *c)
        .expect("connection threads did not end");
    assert_eq!(conns.refused, 0);

    // And the server still serves.
    let mut d = Raw::open(&server);
    assert_eq!(d.ask(b"PULL 0\n"), "STATE 1 tick=1 sum=1 finished=false");
    drop(d);
    assert!(server.shutdown(LIMIT));
}

#[test]
fn stalled_clients_do_not_hold_up_others_and_are_timed_out() {
    let server = start(ServerConfig {
        greeting_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(500),
        ..server_config()
    });
    // Connected and silent; half a request and silent; waiting for a version from the future
    // and never reading.
    let mut silent = Raw::open(&server);
    let mut partial = Raw::open(&server);
    partial.send(b"PULL 0");
    let mut future = Raw::open(&server);
    future.send(b"PULL 1000000\n");

    // Meanwhile a real client goes through a whole run.
    let wg = WaitGroup::new();
    let handle = spawn_client(&wg, server.addr().to_string(), client_config());
    let last = server.run_pusher(200, Duration::ZERO);
    let (report, updates) = join_client(&wg, handle);
    assert_eq!(report.error, None);
    assert_sound(&updates);
    assert_eq!(updates.last().unwrap().version, last);

    // The idle ones are told and closed; the long-poller got NOCHANGE replies, never a state.
    assert_eq!(silent.line(), "ERR greeting timeout");
    silent.assert_closed();
    assert_eq!(partial.line(), "ERR greeting timeout");
    partial.assert_closed();
    let nochange = future.line();
    let at: u64 = nochange
        .strip_prefix("NOCHANGE ")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("expected NOCHANGE, got {nochange:?}"));
    assert!(at <= last);
    assert_eq!(future.line(), "ERR idle timeout");
    future.assert_closed();
    assert!(server.shutdown(LIMIT));
}

#[test]
fn client_survives_a_server_restart() {
    let first = start(server_config());
    let addr = first.addr();
    let first_id = first.id().to_string();
    for _ in 0..5 {
        first.push_tick(false);
    }

    let (events_tx, events) = mpsc::channel::<String>();
    let wg = WaitGroup::new();
    let handle = {
        let config = client_config();
        wg.spawn(move || {
            let mut updates = Vec::new();
            let report = client(&addr.to_string(), &config, |event| {
                let _ = events_tx.send(match &event {
                    Event::Update(u) => format!("update {} v{}", u.server_id, u.version),
                    other => format!("{other:?}"),
                });
                match event {
                    Event::Update(u) => {
                        updates.push(u.clone());
                        !u.state.finished
                    }
                    _ => true,
                }
            });
            (report, updates)
        })
    };

    // Wait (bounded) until the client has the first server's latest version.
    let deadline = Instant::now() + LIMIT;
    let want = format!("update {first_id} v5");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if event == want => break,
            Ok(_) => continue,
            Err(e) => panic!("client never got v5 from the first server: {e}"),
        }
    }

    // Restart: the first server goes away, a new one comes up on the same address.
    assert!(first.shutdown(LIMIT));
    let deadline = Instant::now() + LIMIT;
    let second = loop {
        match Server::start(&addr.to_string(), server_config()) {
            Ok(server) => break server,
            Err(e) if Instant::now() < deadline => {
                eprintln!("rebinding {addr}: {e}; retrying");
                thread::sleep(Duration::from_millis(50)); // retry backoff
            }
            Err(e) => panic!("cannot rebind {addr}: {e}"),
        }
    };
    assert_ne!(second.id(), first_id);
    let last = second.run_pusher(7, Duration::ZERO);

    let (report, updates) = join_client(&wg, handle);
    assert_eq!(report.error, None);
    assert_eq!(report.server_restarts, 1);
    assert!(report.connections >= 2);
    let (before, after): (Vec<Update>, Vec<Update>) =
        updates.into_iter().partition(|u| u.server_id == first_id);
    assert_sound(&before);
    assert_eq!(before.last().unwrap().version, 5);
    assert_sound(&after);
    assert!(after.iter().all(|u| u.server_id == second.id()));
    let final_update = after.last().unwrap();
    assert_eq!(final_update.version, last);
    assert!(final_update.state.finished);
    let seen: Vec<String> = events.try_iter().collect();
    assert!(
        seen.iter().any(|e| e.contains("restarted: true")),
        "no restart reported in {seen:?}"
    );
    assert!(second.shutdown(LIMIT));
}

#[test]
fn server_turns_away_connections_beyond_its_limit() {
    let server = start(ServerConfig {
        max_connections: 2,
        ..server_config()
    });
    server.push_tick(false);
    let a = Raw::open(&server);
    let mut b = Raw::open(&server);

    let stream = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let mut reply = String::new();
    BufReader::new(stream).read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "ERR busy\n");
    assert_eq!(server.conns().read().refused, 1);

    // The admitted ones still work; once one leaves, a new one is admitted.
    assert_eq!(b.ask(b"PULL 0\n"), "STATE 1 tick=1 sum=1 finished=false");
    drop(a);
    assert!(server
        .conns()
        .wait_until_for(LIMIT, |c| c.active < 2)
        .unwrap()
        .is_some());
    let mut c = Raw::open(&server);
    assert_eq!(c.ask(b"PULL 0\n"), "STATE 1 tick=1 sum=1 finished=false");
    drop((b, c));
    assert!(server.shutdown(LIMIT));
}

#[test]
fn client_gives_up_when_nothing_listens() {
    // A port that was free a moment ago and has no listener now.
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let config = ClientConfig {
        give_up_after: Duration::from_millis(300),
        ..client_config()
    };
    let mut unreachable = 0;
    let report = client(&addr.to_string(), &config, |event| {
        assert!(matches!(event, Event::Unreachable { .. }), "{event:?}");
        unreachable += 1;
        true
    });
    assert!(unreachable >= 1);
    assert_eq!(report.connections, 0);
    let error = report.error.expect("an error");
    assert!(error.starts_with("gave up"), "{error}");
}

#[test]
fn shutdown_says_bye_to_waiting_clients() {
    let server = start(ServerConfig {
        long_poll: Duration::from_secs(60),
        ..server_config()
    });
    let mut raw = Raw::open(&server);
    raw.send(b"PULL 0\n"); // long-polls: nothing was pushed
    assert!(server
        .conns()
        .wait_until_for(LIMIT, |c| c.active == 1)
        .unwrap()
        .is_some());
    assert!(
        server.shutdown(LIMIT),
        "a long-polling connection held up shutdown"
    );
    assert_eq!(raw.line(), "BYE server shutting down");
    raw.assert_closed();
}

#[test]
fn protocol_parsing() {
    let pull = |n: u64| Ok(Request::Pull(Version::from(n)));
    assert_eq!(parse_request(b"PULL 7"), pull(7));
    assert_eq!(parse_request(b"PULL 007"), pull(7));
    assert_eq!(parse_request(b"PULL 18446744073709551615"), pull(u64::MAX));
    assert_eq!(parse_request(b"QUIT"), Ok(Request::Quit));
    for bad in [
        &b"PULL 7x"[..],
        b"PULL +7",
        b"PULL -0",
        b"PULL  7",
        b"PULL 7 ",
        b" PULL 7",
        b"PULL\t7",
        b"PULL 7\t",
        b"PULL ",
        b"PULL 18446744073709551616",
        b"PULL 0x7",
        b"PULL 7_000",
        b"PULL \xd9\xa7", // ARABIC-INDIC DIGIT SEVEN: a digit, not an ASCII one
        b"QUIT now",
        b"QUIT ",
        b"",
        b" ",
    ] {
        assert!(
            parse_request(bad).is_err(),
            "{:?} was accepted",
            bad.escape_ascii().to_string()
        );
    }
    assert_eq!(Request::Pull(Version::from(7)).line(), "PULL 7\n");
    assert_eq!(Request::Quit.line(), "QUIT\n");

    // The number grammar of every version and payload field.
    assert_eq!(parse_decimal("0"), Some(0));
    assert_eq!(parse_decimal("000"), Some(0));
    assert_eq!(parse_decimal("0042"), Some(42));
    assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_decimal("018446744073709551615"), Some(u64::MAX));
    for bad in [
        "",
        "+1",
        "-1",
        " 1",
        "1 ",
        "1\n",
        "18446744073709551616",
        "99999999999999999999999",
        "1e3",
        "١",
    ] {
        assert_eq!(parse_decimal(bad), None, "{bad:?}");
    }

    let state = State {
        tick: 3,
        sum: 6,
        finished: true,
    };
    assert_eq!(State::parse(&state.payload()), Some(state.clone()));
    assert!(state.matches_version(3));
    assert!(!state.matches_version(4));
    assert_eq!(State::parse("tick=1 sum=1"), None);
    assert_eq!(State::parse("tick=1 sum=1 finished=false extra"), None);
    assert_eq!(
        parse_reply("STATE 3 tick=3 sum=6 finished=true"),
        Some(Reply::State(Version::from(3), state.clone()))
    );
    assert_eq!(State::parse("tick=+3 sum=6 finished=true"), None);
    assert_eq!(State::parse("tick=3 sum=6 finished=TRUE"), None);
    assert_eq!(
        parse_reply("NOCHANGE 9"),
        Some(Reply::NoChange(Version::from(9)))
    );
    assert_eq!(parse_reply("NOCHANGE +9"), None);
    assert_eq!(parse_reply("STATE +3 tick=3 sum=6 finished=true"), None);
    assert_eq!(
        parse_reply("HELLO pushpull-remote abc"),
        Some(Reply::Hello("abc".into()))
    );
    assert_eq!(parse_reply("HELLO other abc"), None);
    assert_eq!(parse_reply("HELLO pushpull-remote"), None);
    for reply in [
        Reply::Hello("abc".into()),
        Reply::State(Version::from(3), state),
        Reply::NoChange(Version::from(9)),
        Reply::Err("busy".into()),
        Reply::Bye("quit".into()),
    ] {
        let line = reply.line();
        let text = line.strip_suffix('\n').expect("a reply line ends with \\n");
        assert_eq!(parse_reply(text), Some(reply), "round trip of {line:?}");
    }
    assert_eq!(parse_reply("ERR busy"), Some(Reply::Err("busy".into())));
    assert_eq!(parse_reply("BYE quit"), Some(Reply::Bye("quit".into())));
    assert_eq!(parse_reply("STATE x"), None);
    assert_eq!(parse_reply(""), None);

    // The line reader keeps partial input across reads and uses only the bytes read.
    let mut reader = LineReader::new(&b"PULL 1\r\nPU"[..], 16);
    assert_eq!(
        reader.read_line().unwrap(),
        Line::Complete(b"PULL 1".to_vec())
    );
    assert_eq!(reader.read_line().unwrap(), Line::Eof);
    let mut reader = LineReader::new(&[b'x'; 40][..], 16);
    assert_eq!(reader.read_line().unwrap(), Line::TooLong);
}

// ---------------------------------------------------------------------------------------
// The example binary itself
// ---------------------------------------------------------------------------------------

/// The `remote_pull` example binary, built for this test's profile.
fn example_binary() -> PathBuf {
    support::example("remote_pull")
}

/// Every line still to come from a child that exited (until its stdout reader is done).
fn rest(lines: &mpsc::Receiver<String>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(line) = lines.recv_timeout(LIMIT) {
        out.push(line);
    }
    out
}

/// Starts the example with `args`, stdout lines arriving on the returned channel.
fn spawn_example(args: &[&str]) -> (Child, mpsc::Receiver<String>, JoinHandle<String>) {
    let mut child = Command::new(example_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the remote_pull example");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            eprintln!("[remote_pull {}] {line}", std::process::id());
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let errors = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    (child, lines, errors)
}

#[test]
fn example_serve_and_connect_processes() {
    let (mut server, server_lines, server_err) = spawn_example(&[
        "--serve",
        "127.0.0.1:0",
        "--pushes",
        "40",
        "--interval-ms",
        "5",
        "--long-poll-ms",
        "200",
        "--grace-ms",
        "60000",
    ]);
    let first = server_lines
        .recv_timeout(LIMIT)
        .expect("no 'listening on' line from the server");
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();

    let (mut client_proc, client_lines, client_err) = spawn_example(&["--connect", &addr]);
    let status = wait_bounded(&mut client_proc, LIMIT, "remote_pull --connect");
    let client_out = rest(&client_lines);
    let client_err = client_err.join().unwrap();
    assert!(
        status.success(),
        "client failed: {client_out:?} {client_err}"
    );
    assert!(client_out[0].starts_with("connected (server id "));
    let versions: Vec<u64> = client_out
        .iter()
        .filter_map(|l| l.strip_prefix('v')?.split(' ').next()?.parse().ok())
        .collect();
    assert!(!versions.is_empty());
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    assert_eq!(versions.last(), Some(&40));
    assert!(client_out
        .iter()
        .any(|l| l == "v40 tick=40 sum=820 finished=true"));
    let summary = client_out.last().unwrap();
    assert!(
        summary.starts_with("client: ")
            && summary.contains("last v40")
            && summary.contains("0 out of order"),
        "{summary}"
    );

    // Its client gone, the server ends by itself, well before the grace period.
    let status = wait_bounded(&mut server, LIMIT, "remote_pull --serve");
    let server_out = rest(&server_lines);
    assert!(
        status.success(),
        "server failed: {}",
        server_err.join().unwrap()
    );
    assert!(server_out
        .iter()
        .any(|l| l.starts_with("pushed 40 versions, last v40")));
    assert!(server_out
        .iter()
        .any(|l| l.starts_with("server done: 1 connection(s) served")));
}

#[test]
fn example_demo_mode_and_bad_flags() {
    let (mut demo, lines, errors) = spawn_example(&[
        "--pushes",
        "30",
        "--interval-ms",
        "2",
        "--long-poll-ms",
        "200",
    ]);
    let status = wait_bounded(&mut demo, LIMIT, "remote_pull demo");
    let out = rest(&lines);
    let errors = errors.join().unwrap();
    assert!(status.success(), "demo failed: {out:?} {errors}");
    for expected in [
        "strictly increasing: yes",
        "out of order: 0",
        "inconsistent states: 0",
        "final version matches the server's last: yes (client v30, server v30)",
        "OK",
    ] {
        assert!(
            out.iter().any(|l| l == expected),
            "no line {expected:?} in {out:?}"
        );
    }

    for args in [
        &["--serve"][..],
        &["--serve", "127.0.0.1:0", "--connect", "127.0.0.1:1"],
        &["--for", "3"],
        &["--connect", "127.0.0.1:1", "--pushes", "3"],
        &["--pushes", "0"],
        &["--long-poll-ms", "soon"],
        &["--connect", "127.0.0.1:1", "--linger-ms", "100"],
        &["--connect", "127.0.0.1:1", "--max-connections", "3"],
        &["--linger-ms", "60001"],
        &["--connect", "127.0.0.1:1", "--idle-timeout-ms", "100"],
        &["--connect", "127.0.0.1:1", "--greeting-timeout-ms", "100"],
        &["--connect", "127.0.0.1:1", "--max-invalid-requests", "1"],
        &["--idle-timeout-ms", "5"],
        &["--greeting-timeout-ms", "9"],
        &["--max-invalid-requests", "-1"],
        &["--max-connections", "0"],
        &["--frobnicate"],
    ] {
        let (mut child, lines, errors) = spawn_example(args);
        let status = wait_bounded(&mut child, LIMIT, "remote_pull with bad flags");
        let errors = errors.join().unwrap();
        assert_eq!(status.code(), Some(2), "{args:?}: {errors}");
        assert!(errors.contains("error:"), "{args:?}: {errors}");
        assert_eq!(
            rest(&lines),
            Vec::<String>::new(),
            "{args:?} printed to stdout"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Hostage attacks on the example server (issue 12): a few connections that try to hold
// their slots forever, against a server with short deadlines set by its flags
// ---------------------------------------------------------------------------------------

/// How long past a deadline the server may take to act on it, however loaded the machine:
/// the bound that proves "no hang", not a performance target.
const SLACK: Duration = Duration::from_secs(5);
/// An attacker's pace: one byte (or one line) this often.
const TRICKLE: Duration = Duration::from_millis(150);
/// Attackers per test; the server gets one slot more, for a well-behaved client.
const ATTACKERS: usize = 6;

/// `remote_pull --serve 127.0.0.1:0` plus `args`, killed if the test ends before it does.
struct ServeProcess {
    child: Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<String>,
}

impl ServeProcess {
    fn start(args: &[&str]) -> ServeProcess {
        let mut all = vec!["--serve", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let (child, lines, _errors) = spawn_example(&all);
        let first = lines
            .recv_timeout(LIMIT)
            .expect("no 'listening on' line from the server");
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .expect("a socket address");
        ServeProcess { child, addr, lines }
    }

    /// Waits (bounded) for the server to exit by itself, its clients gone; returns its
    /// "server done" line.
    fn finish(&mut self) -> String {
        let status = wait_bounded(&mut self.child, LIMIT, "remote_pull --serve");
        assert!(status.success(), "server failed: {status}");
        let out = rest(&self.lines);
        out.into_iter()
            .find(|l| l.starts_with("server done: "))
            .expect("a 'server done' line")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Versions the attack tests' server pushes, 30 ms apart: over the whole attack.
const PUSHES: u64 = 100;

/// The server flags of the attack tests: [`PUSHES`] pushes, one slot per attacker plus
/// one, and the limits given.
fn attack_server(limits: &[&str]) -> ServeProcess {
    let pushes = PUSHES.to_string();
    let slots = (ATTACKERS + 1).to_string();
    let mut args = vec![
        "--pushes",
        &pushes,
        "--interval-ms",
        "30",
        "--long-poll-ms",
        "200",
        "--grace-ms",
        "60000",
        "--max-connections",
        &slots,
    ];
    args.extend_from_slice(limits);
    ServeProcess::start(&args)
}

/// A well-behaved client on one raw connection, on its own thread: `PULL <the version it
/// has>` again and again, checking every reply, until `stop` is set and it has the last
/// version; then `QUIT`. Signals `ready` after its first reply; returns how many it got.
/// Any broken connection or bad reply panics the thread.
fn spawn_steady_client(
    wg: &WaitGroup,
    addr: SocketAddr,
    ready: mpsc::Sender<()>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<u64> {
    wg.spawn(move || {
        let (mut raw, hello) = Raw::connect(addr);
        assert!(hello.starts_with("HELLO "), "not admitted: {hello:?}");
        let (mut version, mut replies) = (0, 0);
        while !(stop.load(Ordering::Relaxed) && version == PUSHES) {
            let reply = raw.ask(Request::Pull(Version::from(version)).line().as_bytes());
            match parse_reply(&reply) {
                Some(Reply::State(v, state)) if u64::from(v) > version => {
                    version = u64::from(v);
                    assert!(state.matches_version(version), "torn state {reply:?}");
                }
                Some(Reply::NoChange(v)) if u64::from(v) == version => {}
                _ => panic!("asked for > v{version}, got {reply:?}"),
            }
            replies += 1;
            if replies == 1 {
                ready.send(()).unwrap();
            }
        }
        assert_eq!(raw.ask(b"QUIT\n"), "BYE quit");
        replies
    })
}

/// An attacker: connects to the server, signals `ready` when it holds a slot, and returns
/// how long the server let it hold the slot (`None`: still held when `stop` was set).
type Attack = fn(SocketAddr, mpsc::Sender<()>, &AtomicBool) -> Option<Duration>;

/// Runs `attacks` (in turn) on [`ATTACKERS`] threads against `server`, which must free each
/// attacker's slot by `deadline` (+ [`SLACK`]) after the attacker took it. Meanwhile a
/// well-behaved client connected before the attack must be served throughout on its one
/// connection, and one arriving when every slot is taken (so turned away with `ERR busy`)
/// must get in by the deadline and be served.
fn run_attack(server: &ServeProcess, deadline: Duration, attacks: &[Attack]) {
    let started = Instant::now();
    let stop_steady = Arc::new(AtomicBool::new(false));
    let steady_wg = WaitGroup::new();
    let (ready, steady_in) = mpsc::channel();
    let steady = spawn_steady_client(&steady_wg, server.addr, ready, Arc::clone(&stop_steady));
    steady_in
        .recv_timeout(LIMIT)
        .expect("the steady client got no reply");

    let stop = Arc::new(AtomicBool::new(false));
    let attackers = WaitGroup::new();
    let (ready, all_ready) = mpsc::channel();
    let handles: Vec<_> = (0..ATTACKERS)
        .map(|i| {
            let attack = attacks[i % attacks.len()];
            let (addr, ready, stop) = (server.addr, ready.clone(), Arc::clone(&stop));
            attackers.spawn(move || attack(addr, ready, &stop))
        })
        .collect();
    for _ in 0..ATTACKERS {
        all_ready
            .recv_timeout(LIMIT)
            .expect("an attacker did not get its slot");
    }

    // Every slot is taken, and the steady client keeps its own until the end: the late
    // client is turned away (ERR busy) and retries, and gives up unless the server frees
    // an attacker's slot by the deadline.
    let late_wg = WaitGroup::new();
    let late = spawn_client(
        &late_wg,
        server.addr.to_string(),
        ClientConfig {
            give_up_after: deadline + SLACK,
            ..client_config()
        },
    );
    let late = join_client(&late_wg, late);
    stop.store(true, Ordering::Relaxed);
    assert!(
        attackers.wait_for(LIMIT),
        "the attackers did not stop when told"
    );
    let held: Vec<Option<Duration>> = handles
        .into_iter()
        .map(|h| h.join().expect("attacker panicked"))
        .collect();
    stop_steady.store(true, Ordering::Relaxed);
    assert!(
        steady_wg.wait_for(LIMIT),
        "the steady client did not finish"
    );
    let steady_replies = steady.join().expect("the steady client failed");
    eprintln!(
        "attack over after {:?}; the server freed the attackers' slots after {held:?}; \
         the steady client got {steady_replies} replies",
        started.elapsed()
    );

    for held in held {
        let held = held.expect("an attacker still held its slot when the test stopped it");
        assert!(
            held <= deadline + SLACK,
            "an attacker held its slot for {held:?}, deadline {deadline:?}"
        );
    }
    let (report, updates) = late;
    assert_eq!(report.error, None, "late client: {report:?}");
    assert_sound(&updates);
    assert_eq!(updates.last().unwrap().version, PUSHES);
}

/// Linger attack: `QUIT`, then after `BYE` one byte every [`TRICKLE`], never reading.
/// Returns when a write fails: the server closed the connection.
fn quit_then_trickle(
    addr: SocketAddr,
    ready: mpsc::Sender<()>,
    stop: &AtomicBool,
) -> Option<Duration> {
    let (mut raw, hello) = Raw::connect(addr);
    assert!(hello.starts_with("HELLO "), "not admitted: {hello:?}");
    assert_eq!(raw.ask(b"QUIT\n"), "BYE quit");
    let bye = Instant::now();
    ready.send(()).unwrap();
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(TRICKLE); // the attacker's pace
        if raw.stream.write_all(b"x").is_err() {
            return Some(bye.elapsed());
        }
    }
    None
}

#[test]
fn linger_drain_has_an_overall_deadline_against_trickling_clients() {
    let started = Instant::now();
    let mut server = attack_server(&["--linger-ms", "500"]);
    run_attack(&server, Duration::from_millis(500), &[quit_then_trickle]);
    eprintln!("{}", server.finish());
    eprintln!("test took {:?}", started.elapsed());
}

/// Sends `opening` (a valid request, if not empty) and reads its reply, signals `ready`,
/// then sends `drip` (if not empty) every [`TRICKLE`] and reads whatever comes meanwhile:
/// `ERR` replies to its invalid lines, until the server's last line `closing`. Returns how
/// long after connecting (or the opening reply) that came.
fn drip(
    addr: SocketAddr,
    ready: mpsc::Sender<()>,
    stop: &AtomicBool,
    (opening, drip, closing): (&[u8], &[u8], &str),
) -> Option<Duration> {
    let (mut raw, hello) = Raw::connect(addr);
    let mut since = Instant::now();
    assert!(hello.starts_with("HELLO "), "not admitted: {hello:?}");
    if !opening.is_empty() {
        let reply = raw.ask(opening);
        since = Instant::now();
        assert!(
            reply.starts_with("STATE ") || reply.starts_with("NOCHANGE "),
            "{reply:?}"
        );
    }
    ready.send(()).unwrap();
    while !stop.load(Ordering::Relaxed) {
        // After the server closes, a write may fail; its last line is still there to read.
        let _ = raw.stream.write_all(drip);
        let next = Instant::now() + TRICKLE; // the attacker's pace
        loop {
            match raw.reader.read_line_by(next) {
                Ok(Line::Complete(line)) if line == closing.as_bytes() => {
                    return Some(since.elapsed())
                }
                Ok(Line::Complete(line)) if line.starts_with(b"ERR ") => {}
                Err(e) if is_timeout(&e) => break,
                Ok(Line::Complete(line)) => panic!(
                    "attacker: expected {closing:?}, got {:?}",
                    String::from_utf8_lossy(&line)
                ),
                other => panic!("attacker: expected {closing:?}, got {other:?}"),
            }
        }
    }
    None
}

/// Idle attack: one valid request, then an empty line every [`TRICKLE`].
fn pull_then_send_empty_lines(
    addr: SocketAddr,
    ready: mpsc::Sender<()>,
    stop: &AtomicBool,
) -> Option<Duration> {
    drip(addr, ready, stop, (b"PULL 0\n", b"\n", "ERR idle timeout"))
}

/// Idle attack: one valid request, then an invalid one every [`TRICKLE`].
fn pull_then_send_invalid_lines(
    addr: SocketAddr,
    ready: mpsc::Sender<()>,
    stop: &AtomicBool,
) -> Option<Duration> {
    drip(
        addr,
        ready,
        stop,
        (b"PULL 0\n", b"GARBAGE\n", "ERR idle timeout"),
    )
}

/// Idle attack: one valid request, then a next one that never ends, a byte every
/// [`TRICKLE`].
fn pull_then_trickle_a_request(
    addr: SocketAddr,
    ready: mpsc::Sender<()>,
    stop: &AtomicBool,
) -> Option<Duration> {
    drip(addr, ready, stop, (b"PULL 0\n", b"0", "ERR idle timeout"))
}

#[test]
fn invalid_lines_do_not_reset_the_idle_timer() {
    let started = Instant::now();
    let mut server = attack_server(&[
        "--idle-timeout-ms",
        "500",
        "--max-invalid-requests",
        "1000000",
    ]);
    let attacks: [Attack; 3] = [
        pull_then_send_empty_lines,
        pull_then_send_invalid_lines,
        pull_then_trickle_a_request,
    ];
    run_attack(&server, Duration::from_millis(500), &attacks);
    eprintln!("{}", server.finish());
    eprintln!("test took {:?}", started.elapsed());
}

/// Greeting attack: connected, and not a word.
fn say_nothing(addr: SocketAddr, ready: mpsc::Sender<()>, stop: &AtomicBool) -> Option<Duration> {
    drip(addr, ready, stop, (b"", b"", "ERR greeting timeout"))
}

/// Greeting attack: an empty line every [`TRICKLE`] from the start.
fn send_empty_lines(
    addr: SocketAddr,
    ready: mpsc::Sender<()>,
    stop: &AtomicBool,
) -> Option<Duration> {
    drip(addr, ready, stop, (b"", b"\n", "ERR greeting timeout"))
}

/// Greeting attack: a first request that never ends, a byte every [`TRICKLE`].
fn trickle_a_request(
    addr: SocketAddr,
    ready: mpsc::Sender<()>,
    stop: &AtomicBool,
) -> Option<Duration> {
    drip(addr, ready, stop, (b"", b"0", "ERR greeting timeout"))
}

#[test]
fn greeting_phase_has_an_overall_deadline() {
    let started = Instant::now();
    let mut server = attack_server(&[
        "--greeting-timeout-ms",
        "500",
        "--idle-timeout-ms",
        "60000",
        "--max-invalid-requests",
        "1000000",
    ]);
    let attacks: [Attack; 3] = [say_nothing, send_empty_lines, trickle_a_request];
    run_attack(&server, Duration::from_millis(500), &attacks);
    eprintln!("{}", server.finish());
    eprintln!("test took {:?}", started.elapsed());
}
