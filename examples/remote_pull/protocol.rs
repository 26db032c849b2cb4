//! The line protocol of `remote_pull`: what travels over the wire and how it is read and
//! written. Both sides use it.

use std::io::{self, Read, Write};
use std::net::TcpStream;

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

/// Writes `text` to the stream (bounded by its write timeout).
pub fn send(mut w: &TcpStream, text: &str) -> io::Result<()> {
    w.write_all(text.as_bytes())
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
