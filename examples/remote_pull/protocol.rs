//! The `remote_pull` line protocol, all of it: what travels over the wire, how each line is
//! parsed and formatted, and how lines are read and written with deadlines. The server and
//! the client both use this module and nothing else to talk.
//!
//! # Lines
//!
//! Every message is one line of at most [`MAX_LINE`] bytes, `\n` included (`\r\n` is
//! accepted). One request, one reply: the client sends a request line and reads exactly one
//! reply line before it sends the next (it may pipeline; replies come in request order).
//!
//! # Greeting
//!
//! On connect the server sends `HELLO pushpull-remote <server-id>` ([`Reply::Hello`]). The
//! server id names this run of the server: versions are only comparable under one id, so a
//! client that sees a new id after reconnecting (the server restarted) starts over from
//! version 0. A server at its connection limit sends `ERR busy` instead and closes.
//!
//! # Requests and replies
//!
//! Words are separated by single spaces, with none before the first or after the last.
//! `<version>` and `<v>` are decimal `u64`s: ASCII digits only (leading zeros allowed), no
//! sign, no spaces, at most `u64::MAX` ([`parse_decimal`]); so `PULL +3`, `PULL  3` and
//! `PULL 3 ` are invalid requests.
//!
//! | request | reply |
//! |---|---|
//! | `PULL <version>` | `STATE <v> <payload>` as soon as the server's version `v` > `<version>`, or `NOCHANGE <v>` (the current version) if nothing newer arrived within the server's long-poll timeout |
//! | `QUIT` | `BYE quit`, then the server closes |
//! | anything else (empty, unknown, malformed, not UTF-8) | `ERR <reason>`; the connection stays usable, up to the server's cap on invalid requests per connection: the one after the cap gets `ERR too many invalid requests (max <n>)` and the server closes |
//!
//! `<payload>` is `tick=<n> sum=<n> finished=<true|false>` ([`State`]): the pusher adds one
//! to `tick` and `tick` to `sum` per push (so a state at version `v` has `tick == v` and
//! `sum == v(v+1)/2`, which the client checks), and its last push sets `finished=true`.
//!
//! # When the server closes
//!
//! Each of these is the last line of a connection ([`Close`]); after it the server stops
//! writing, reads and discards what the client still sends for a bounded time (the server's
//! linger time, so that the last line is not lost to a TCP reset), and closes.
//!
//! | last line | when |
//! |---|---|
//! | `BYE quit` | the client sent `QUIT` |
//! | `BYE server shutting down` | the server stops |
//! | `ERR busy` | instead of the greeting: the server has its maximum of connections |
//! | `ERR greeting timeout` | no valid request within the greeting timeout after connecting |
//! | `ERR idle timeout` | no valid request within the idle timeout after the answer to the last one |
//! | `ERR too many invalid requests (max <n>)` | the invalid request after the `<n>` a connection may make |
//! | `ERR line too long (max 512 bytes)` | a line over [`MAX_LINE`] bytes: the stream is out of sync |
//!
//! The server also closes without a word when the client closes its side or a reply cannot
//! be written within the write timeout.

use pushpull::Version;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The longest line either side accepts, `\n` included.
pub const MAX_LINE: usize = 512;
/// The word after `HELLO` in the greeting.
pub const PROTOCOL: &str = "pushpull-remote";

// ---------------------------------------------------------------------------------------
// Numbers and the state payload
// ---------------------------------------------------------------------------------------

/// A decimal `u64` as the protocol writes it: one or more ASCII digits and nothing else
/// (`u64::from_str` would also take a leading `+`).
pub fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.bytes().try_fold(0u64, |n, b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// A version on the wire: a decimal `u64`.
fn parse_version(text: &str) -> Option<Version> {
    parse_decimal(text).map(Version::from)
}

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
        let tick = parse_decimal(field("tick")?)?;
        let sum = parse_decimal(field("sum")?)?;
        let finished = match field("finished")? {
            "true" => true,
            "false" => false,
            _ => return None,
        };
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

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// A request from the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `PULL <version>`: the first state newer than `version`.
    Pull(Version),
    /// `QUIT`.
    Quit,
}

impl Request {
    /// The request as a line, `\n` included.
    pub fn line(self) -> String {
        match self {
            Request::Pull(version) => format!("PULL {}\n", u64::from(version)),
            Request::Quit => "QUIT\n".into(),
        }
    }
}

/// Parses one request line (without its `\n`); the error is the reason for an `ERR` reply.
/// Words are separated by single spaces, with none before the first or after the last.
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    let text =
        std::str::from_utf8(line).map_err(|_| format!("request is not UTF-8: {}", shown(line)))?;
    if text.bytes().all(|b| b.is_ascii_whitespace()) {
        return Err("empty request".into());
    }
    let words: Vec<&str> = text.split(' ').collect();
    if words
        .iter()
        .any(|w| w.is_empty() || w.bytes().any(|b| b.is_ascii_whitespace()))
    {
        return Err(format!(
            "malformed request {}: words are separated by single spaces",
            shown(line)
        ));
    }
    match words[..] {
        ["PULL", version] => parse_version(version).map(Request::Pull).ok_or_else(|| {
            format!(
                "bad version {}: expected a decimal u64 (digits only)",
                shown(version.as_bytes())
            )
        }),
        ["PULL"] => Err("PULL needs a version".into()),
        ["QUIT"] => Ok(Request::Quit),
        [cmd @ ("PULL" | "QUIT"), ..] => Err(format!("too many arguments to {cmd}")),
        [cmd, ..] => Err(format!(
            "unknown request {}: expected PULL <version> or QUIT",
            shown(cmd.as_bytes())
        )),
        [] => Err("empty request".into()), // `split` yields at least one word
    }
}

// ---------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------

/// A line from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The greeting, `HELLO pushpull-remote <server-id>`.
    Hello(String),
    /// `STATE <v> <payload>`.
    State(Version, State),
    /// `NOCHANGE <v>`.
    NoChange(Version),
    /// `ERR <reason>`.
    Err(String),
    /// `BYE <reason>`.
    Bye(String),
}

impl Reply {
    /// The reply as a line, `\n` included.
    pub fn line(&self) -> String {
        match self {
            Reply::Hello(id) => format!("HELLO {PROTOCOL} {id}\n"),
            Reply::State(v, state) => format!("STATE {} {}\n", u64::from(*v), state.payload()),
            Reply::NoChange(v) => format!("NOCHANGE {}\n", u64::from(*v)),
            Reply::Err(reason) => format!("ERR {reason}\n"),
            Reply::Bye(reason) => format!("BYE {reason}\n"),
        }
    }
}

/// Parses one line from the server (without its `\n`).
pub fn parse_reply(line: &str) -> Option<Reply> {
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    match word {
        "HELLO" => match rest.split(' ').collect::<Vec<_>>()[..] {
            [PROTOCOL, id] if !id.is_empty() => Some(Reply::Hello(id.into())),
            _ => None,
        },
        "STATE" => {
            let (version, payload) = rest.split_once(' ')?;
            Some(Reply::State(
                parse_version(version)?,
                State::parse(payload)?,
            ))
        }
        "NOCHANGE" => Some(Reply::NoChange(parse_version(rest)?)),
        "ERR" => Some(Reply::Err(rest.into())),
        "BYE" => Some(Reply::Bye(rest.into())),
        _ => None,
    }
}

/// Why the server closes a connection: each has a last line ([`reply`](Self::reply)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// The client sent `QUIT`.
    Quit,
    /// The server is stopping.
    ShuttingDown,
    /// The server has its maximum of connections (sent instead of the greeting).
    Busy,
    /// No valid request within the greeting timeout after connecting.
    GreetingTimeout,
    /// No valid request within the idle timeout after the answer to the last one.
    IdleTimeout,
    /// One invalid request more than a connection may make (the cap is given).
    TooManyInvalid(u32),
    /// A line over [`MAX_LINE`] bytes.
    LineTooLong,
}

impl Close {
    /// The last line the server sends.
    pub fn reply(self) -> Reply {
        match self {
            Close::Quit => Reply::Bye("quit".into()),
            Close::ShuttingDown => Reply::Bye("server shutting down".into()),
            Close::Busy => Reply::Err("busy".into()),
            Close::GreetingTimeout => Reply::Err("greeting timeout".into()),
            Close::IdleTimeout => Reply::Err("idle timeout".into()),
            Close::TooManyInvalid(max) => {
                Reply::Err(format!("too many invalid requests (max {max})"))
            }
            Close::LineTooLong => Reply::Err(format!("line too long (max {MAX_LINE} bytes)")),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading and writing lines
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

/// Reads `\n`-terminated lines of at most `max` bytes. A read that fails (e.g. times out)
/// returns the error and keeps the partial line for the next call.
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

    /// Reads until a line is complete (or too long, or the input ends).
    pub fn read_line(&mut self) -> io::Result<Line> {
        loop {
            if let Some(line) = self.read_some()? {
                return Ok(line);
            }
        }
    }

    /// One step of [`read_line`](Self::read_line): a line already buffered, else at most
    /// one `read` of more input. `Ok(None)`: input arrived but no line is complete yet. A
    /// caller with deadlines checks them between steps, so that input trickling in can
    /// never keep it reading.
    pub fn read_some(&mut self) -> io::Result<Option<Line>> {
        if let Some(line) = self.take_line() {
            return Ok(Some(line));
        }
        let mut chunk = [0u8; MAX_LINE];
        let n = loop {
            match self.inner.read(&mut chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(Some(Line::Eof));
        }
        self.buf.extend_from_slice(&chunk[..n]); // only the bytes actually read
        Ok(self.take_line())
    }

    /// A complete (or too long) line from the buffer, if there is one.
    fn take_line(&mut self) -> Option<Line> {
        if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            if pos >= self.max {
                return Some(Line::TooLong);
            }
            let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Some(Line::Complete(line));
        }
        (self.buf.len() >= self.max).then_some(Line::TooLong)
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }
}

impl LineReader<TcpStream> {
    /// Reads one line, all of it by `deadline`: the read timeout is set to what is left
    /// before each read, so a peer trickling bytes cannot stretch it. Times out with a
    /// [`is_timeout`] error; a line already buffered is returned even past the deadline.
    pub fn read_line_by(&mut self, deadline: Instant) -> io::Result<Line> {
        if let Some(line) = self.take_line() {
            return Ok(line);
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "line deadline"));
            }
            self.inner.set_read_timeout(Some(at_least_1ms(left)))?;
            if let Some(line) = self.read_some()? {
                return Ok(line);
            }
        }
    }
}

/// Writes all of `text` by `deadline` (a reader that takes a byte at a time cannot stretch
/// it). Times out with a [`is_timeout`] error.
pub fn send_by(stream: &TcpStream, text: &str, deadline: Instant) -> io::Result<()> {
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "write deadline"));
        }
        stream.set_write_timeout(Some(at_least_1ms(left)))?;
        match (&*stream).write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A socket timeout of `d`, which std refuses to be zero.
pub fn at_least_1ms(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

/// A read that ran into its read timeout (`WouldBlock` on Unix, `TimedOut` on Windows and
/// for the deadlines here).
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
