//! HTTP/2 for tests: nghttp2's `h2load` run as a process and its summary
//! read, and a frame-level client for what no well-behaved client sends
//! (a stream opened after a GOAWAY, the known floods).
//!
//! The frame client encodes header blocks with HPACK literals only (no
//! table, no Huffman coding), which every decoder must accept, and never
//! decodes the server's: the tests look at frame types, stream ids, flags
//! and DATA.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::Lines;

/// The client connection preface (RFC 9113, section 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types (RFC 9113, section 6).
pub mod kind {
    /// DATA.
    pub const DATA: u8 = 0x0;
    /// HEADERS.
    pub const HEADERS: u8 = 0x1;
    /// RST_STREAM.
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS.
    pub const SETTINGS: u8 = 0x4;
    /// PING.
    pub const PING: u8 = 0x6;
    /// GOAWAY.
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION.
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
pub mod flag {
    /// END_STREAM (DATA, HEADERS).
    pub const END_STREAM: u8 = 0x1;
    /// ACK (SETTINGS, PING).
    pub const ACK: u8 = 0x1;
    /// END_HEADERS (HEADERS, CONTINUATION).
    pub const END_HEADERS: u8 = 0x4;
}

/// Error codes (RFC 9113, section 7).
pub mod code {
    /// NO_ERROR.
    pub const NO_ERROR: u32 = 0x0;
    /// PROTOCOL_ERROR.
    pub const PROTOCOL_ERROR: u32 = 0x1;
    /// CANCEL.
    pub const CANCEL: u32 = 0x8;
    /// REFUSED_STREAM.
    pub const REFUSED_STREAM: u32 = 0x7;
    /// ENHANCE_YOUR_CALM.
    pub const ENHANCE_YOUR_CALM: u32 = 0xb;
}

/// SETTINGS_INITIAL_WINDOW_SIZE.
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;

/// One frame as read from the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame type.
    pub kind: u8,
    /// Its flags.
    pub flags: u8,
    /// Its stream id.
    pub stream: u32,
    /// Its payload.
    pub payload: Vec<u8>,
}

impl Frame {
    fn u32_at(&self, at: usize) -> u32 {
        self.payload
            .get(at..at + 4)
            .map_or(u32::MAX, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A GOAWAY's last stream id.
    pub fn last_stream_id(&self) -> u32 {
        self.u32_at(0) & 0x7fff_ffff
    }

    /// The error code of a GOAWAY or RST_STREAM.
    pub fn error_code(&self) -> u32 {
        match self.kind {
            kind::GOAWAY => self.u32_at(4),
            _ => self.u32_at(0),
        }
    }

    /// Whether it has `flag`.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// How reading ended when no frame came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The server closed the connection (FIN).
    Closed,
    /// The server reset it.
    Reset,
    /// Nothing arrived within the read timeout.
    Quiet,
}

/// A frame-level HTTP/2 client on a plain TCP connection (h2c, prior knowledge).
pub struct RawH2 {
    stream: TcpStream,
}

impl RawH2 {
    /// Connects, sends the preface and a SETTINGS frame with `settings`
    /// (id, value), and acknowledges nothing yet.
    pub fn connect(addr: SocketAddr, settings: &[(u16, u32)]) -> io::Result<RawH2> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut raw = RawH2 { stream };
        raw.stream.write_all(PREFACE)?;
        let payload: Vec<u8> = settings
            .iter()
            .flat_map(|(id, value)| [&id.to_be_bytes()[..], &value.to_be_bytes()[..]].concat())
            .collect();
        raw.send(kind::SETTINGS, 0, 0, &payload)?;
        Ok(raw)
    }

    /// The TCP connection.
    pub fn tcp(&self) -> &TcpStream {
        &self.stream
    }

    /// Sends one frame.
    pub fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> io::Result<()> {
        self.stream.write_all(&frame(kind, flags, stream, payload))
    }

    /// Sends raw bytes (several frames at once, say).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Opens stream `id` with `GET path`, no body.
    pub fn get(&mut self, id: u32, path: &str) -> io::Result<()> {
        let block = request_block("GET", path);
        self.send(
            kind::HEADERS,
            flag::END_HEADERS | flag::END_STREAM,
            id,
            &block,
        )
    }

    /// Reads the next frame, or says how reading ended.
    pub fn read_frame(&mut self) -> Result<Frame, Ended> {
        let mut head = [0u8; 9];
        read_exact(&mut self.stream, &mut head)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        read_exact(&mut self.stream, &mut payload)?;
        Ok(Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload,
        })
    }

    /// Reads frames, acknowledging the server's SETTINGS, until `want`
    /// returns true for one (returned with every frame read before it) or
    /// reading ends (returned as the error, with the frames read).
    pub fn read_until(
        &mut self,
        want: impl Fn(&Frame) -> bool,
    ) -> Result<(Frame, Vec<Frame>), (Ended, Vec<Frame>)> {
        let mut seen = Vec::new();
        loop {
            match self.read_frame() {
                Ok(frame) => {
                    if frame.kind == kind::SETTINGS && !frame.has(flag::ACK) {
                        let _ = self.send(kind::SETTINGS, flag::ACK, 0, &[]);
                    }
                    if want(&frame) {
                        return Ok((frame, seen));
                    }
                    seen.push(frame);
                }
                Err(ended) => return Err((ended, seen)),
            }
        }
    }
}

fn read_exact(s: &mut TcpStream, buf: &mut [u8]) -> Result<(), Ended> {
    let mut at = 0;
    while at < buf.len() {
        match s.read(&mut buf[at..]) {
            Ok(0) => return Err(Ended::Closed),
            Ok(n) => at += n,
            Err(e) => {
                return Err(match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ended::Quiet,
                    io::ErrorKind::Interrupted => continue,
                    _ => Ended::Reset,
                })
            }
        }
    }
    Ok(())
}

/// One frame's bytes.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK integer with an `prefix`-bit prefix, after `first`'s high bits.
fn hpack_int(out: &mut Vec<u8>, first: u8, prefix: u8, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// One header field as an HPACK literal without indexing, new name, no Huffman.
pub fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    hpack_int(out, 0, 7, name.len());
    out.extend_from_slice(name.as_bytes());
    hpack_int(out, 0, 7, value.len());
    out.extend_from_slice(value.as_bytes());
}

/// A request's header block: the four pseudo-headers (`http`, authority `t`).
pub fn request_block(method: &str, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in [
        (":method", method),
        (":scheme", "http"),
        (":path", path),
        (":authority", "t"),
    ] {
        hpack_literal(&mut out, name, value);
    }
    out
}

/// What `h2load` said at the end of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H2LoadSummary {
    /// Requests counted in all (with `-n`, those never started too).
    pub total: u64,
    /// Requests the clients started (submitted to their connection).
    pub started: u64,
    /// Requests with a response (any status) or an error.
    pub done: u64,
    /// Requests with a complete response.
    pub succeeded: u64,
    /// Requests without a 2xx/3xx response (errored ones included).
    pub failed: u64,
    /// Requests whose stream closed with an error code or never got a
    /// response (h2load's own count; a subset of `failed`).
    pub errored: u64,
    /// Requests that timed out.
    pub timeout: u64,
    /// 2xx responses.
    pub status_2xx: u64,
    /// Everything h2load printed.
    pub output: String,
}

impl H2LoadSummary {
    /// Reads h2load's `requests:` and `status codes:` lines.
    pub fn parse(output: &str) -> Option<H2LoadSummary> {
        let numbers = |prefix: &str| -> Option<Vec<(String, u64)>> {
            let line = output.lines().find(|l| l.starts_with(prefix))?;
            line[prefix.len()..]
                .split(',')
                .map(|part| {
                    let mut words = part.split_whitespace();
                    let n = words.next()?.parse().ok()?;
                    Some((words.next()?.to_owned(), n))
                })
                .collect()
        };
        let requests = numbers("requests:")?;
        let status = numbers("status codes:")?;
        let get = |list: &[(String, u64)], what: &str| {
            list.iter().find(|(w, _)| w == what).map(|(_, n)| *n)
        };
        Some(H2LoadSummary {
            total: get(&requests, "total")?,
            started: get(&requests, "started")?,
            done: get(&requests, "done")?,
            succeeded: get(&requests, "succeeded")?,
            failed: get(&requests, "failed")?,
            errored: get(&requests, "errored")?,
            timeout: get(&requests, "timeout")?,
            status_2xx: get(&status, "2xx")?,
            output: output.to_owned(),
        })
    }
}

/// An `h2load` run in the background (Debian package nghttp2-client), its
/// output read as it comes.
///
/// h2load (1.52) never reconnects an HTTP/2 client whose connection got a
/// GOAWAY: the client ends there (it reconnects only after an HTTP/1.1
/// `Connection: close`). A run therefore carries load across one hand-over
/// at most; a hot-deploy test starts one per hand-over. Given far more
/// requests (`-n`) than it can make, a run ends when its last client has
/// met its GOAWAY (the requests never started count as failed); given a
/// duration (`-D`), it runs to the end of the duration.
pub struct H2Load {
    child: Child,
    args: Vec<String>,
    /// What it printed on stdout so far.
    pub out: Lines,
}

impl H2Load {
    /// Starts `h2load ARGS`; fails loudly when h2load is missing.
    pub fn start(args: &[&str]) -> H2Load {
        let mut child = Command::new("h2load")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("h2load: {e}: install nghttp2-client (scripts/test does)"));
        // Everything but errors (which go to the test's stderr) is on stdout.
        let out = Lines::default();
        if let Some(pipe) = child.stdout.take() {
            let sink = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    sink.push(line);
                }
                sink.close();
            });
        }
        H2Load {
            child,
            args: args.iter().map(|a| a.to_string()).collect(),
            out,
        }
    }

    /// Runs `h2load ARGS` to its end.
    pub fn run(args: &[&str]) -> H2LoadSummary {
        H2Load::start(args).finish()
    }

    /// Waits for its end and reads its summary.
    pub fn finish(mut self) -> H2LoadSummary {
        let args = self.args.join(" ");
        let status = self.child.wait().unwrap();
        self.out.wait_closed(Duration::from_secs(10));
        let text = self.out.text();
        H2LoadSummary::parse(&text)
            .unwrap_or_else(|| panic!("h2load {args}: no summary ({status}):\n{text}"))
    }
}

impl std::ops::AddAssign<&H2LoadSummary> for H2LoadSummary {
    /// Adds another run's counts (the output is not kept).
    fn add_assign(&mut self, other: &H2LoadSummary) {
        self.total += other.total;
        self.started += other.started;
        self.done += other.done;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.errored += other.errored;
        self.timeout += other.timeout;
        self.status_2xx += other.status_2xx;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_h2loads_summary() {
        let out = "finished in 8.01s, 4139.00 req/s, 159.20KB/s\n\
requests: 33200 total, 33123 started, 33123 done, 33112 succeeded, 88 failed, 88 errored, 0 timeout\n\
status codes: 33112 2xx, 0 3xx, 0 4xx, 0 5xx\n";
        let s = H2LoadSummary::parse(out).unwrap();
        assert_eq!(
            (
                s.total,
                s.started,
                s.done,
                s.succeeded,
                s.failed,
                s.errored,
                s.timeout,
                s.status_2xx
            ),
            (33200, 33123, 33123, 33112, 88, 88, 0, 33112)
        );
        assert!(H2LoadSummary::parse("no summary").is_none());
    }

    #[test]
    fn encodes_frames_and_hpack_literals() {
        assert_eq!(
            frame(kind::PING, flag::ACK, 0, &[1; 8])[..9],
            [0, 0, 8, 6, 1, 0, 0, 0, 0]
        );
        let mut out = Vec::new();
        hpack_literal(&mut out, ":path", "/");
        assert_eq!(out, b"\x00\x05:path\x01/");
        let mut long = Vec::new();
        hpack_int(&mut long, 0, 7, 300);
        assert_eq!(long, [127, 173, 1]);
    }
}
