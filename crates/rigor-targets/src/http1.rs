//! The measured path of `kind: opa-http`: one keep-alive HTTP/1.1
//! connection per worker, each request written whole, responses parsed
//! in place.
//!
//! Why not hyper's client connection: it runs each connection as a task
//! of its own, so every request crossed two task switches and built a
//! header map, and rigor spent ~20% more CPU per request than wrk (perf
//! stat: 16.7us vs 13.8us), which on shared cores came out of the server
//! it measured. This speaks the subset a Data API answer needs: a status
//! line, headers, and a body with `Content-Length`, chunked, or until the
//! server closes; one request at a time (no pipelining).

use rigor_engine::target::OpError;
use tokio::net::TcpStream;

/// Headers larger than this are refused (a misdirected port, not an API).
const MAX_HEAD: usize = 64 * 1024;

/// A response: its status and body (in the connection's buffer).
#[derive(Debug)]
pub(crate) struct Response<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

/// One keep-alive connection.
pub(crate) struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed.
    input: Vec<u8>,
    /// A chunked body, decoded.
    chunked: Vec<u8>,
    /// The server said it closes after this response (or it did).
    closing: bool,
}

fn io(what: &str, e: impl std::fmt::Display) -> OpError {
    OpError::new("io", format!("{what}: {e}"))
}

fn protocol(what: impl Into<String>) -> OpError {
    OpError::new("io", format!("not an HTTP/1.1 answer: {}", what.into()))
}

/// How a body ends.
enum Framing {
    Length(usize),
    Chunked,
    Close,
}

impl Conn {
    /// Connects (no timeout here: the caller sets one).
    pub(crate) async fn connect(authority: &str) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(authority).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            input: Vec::with_capacity(16 * 1024),
            chunked: Vec::new(),
            closing: false,
        })
    }

    /// Whether the connection can carry another request.
    pub(crate) fn reusable(&self) -> bool {
        !self.closing
    }

    /// Sends one prepared request and reads its response.
    pub(crate) async fn request(&mut self, message: &[u8]) -> Result<Response<'_>, OpError> {
        // A response is consumed whole, so anything left over is a server
        // speaking out of turn: start from a clean buffer either way.
        self.input.clear();
        self.write_all(message).await?;
        let head_end = loop {
            if let Some(end) = head_end(&self.input) {
                break end;
            }
            if self.input.len() > MAX_HEAD {
                return Err(protocol("headers longer than 64 KiB"));
            }
            if self.fill().await? == 0 {
                self.closing = true;
                return Err(io("read", "the server closed the connection"));
            }
        };
        let (status, framing, close) = parse_head(&self.input[..head_end])?;
        self.closing |= close;
        match framing {
            Framing::Length(n) => {
                while self.input.len() < head_end + n {
                    if self.fill().await? == 0 {
                        self.closing = true;
                        return Err(io("read", "the server closed the connection mid-body"));
                    }
                }
                self.drained(head_end + n);
                Ok(Response {
                    status,
                    body: &self.input[head_end..head_end + n],
                })
            }
            Framing::Close => {
                self.closing = true;
                while self.fill().await? > 0 {}
                Ok(Response {
                    status,
                    body: &self.input[head_end..],
                })
            }
            Framing::Chunked => {
                self.chunked.clear();
                let mut at = head_end;
                loop {
                    match dechunk(&self.input[at..], &mut self.chunked)? {
                        Some((used, done)) => {
                            at += used;
                            if done {
                                self.drained(at);
                                break;
                            }
                        }
                        None => {
                            if self.fill().await? == 0 {
                                self.closing = true;
                                return Err(io(
                                    "read",
                                    "the server closed the connection mid-body",
                                ));
                            }
                        }
                    }
                }
                Ok(Response {
                    status,
                    body: &self.chunked,
                })
            }
        }
    }

    async fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), OpError> {
        while !bytes.is_empty() {
            match self.stream.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.stream
                        .writable()
                        .await
                        .map_err(|e| self.broke("write", e))?;
                }
                Err(e) => return Err(self.broke("write", e)),
            }
        }
        Ok(())
    }

    /// Reads what the socket has into `input`; 0 at end of stream.
    async fn fill(&mut self) -> Result<usize, OpError> {
        // Read into the buffer's spare room: a zeroed stack chunk copied
        // over was 5% of the client's CPU per request.
        self.input.reserve(16 * 1024);
        loop {
            // Wait first: after a whole response the readiness was cleared
            // ([`Conn::drained`]), so no read is tried before the answer is there.
            self.stream
                .readable()
                .await
                .map_err(|e| self.broke("read", e))?;
            match self.stream.try_read_buf(&mut self.input) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(self.broke("read", e)),
            }
        }
    }

    /// The response was read whole and nothing follows it (one request at
    /// a time): the socket is empty, so forget its readiness without the
    /// failing read that would otherwise find that out (a system call per
    /// request). Safe on a current-thread runtime: data arriving later is a
    /// new edge that epoll reports at the next turn.
    fn drained(&self, used: usize) {
        if self.input.len() == used {
            let _ = self.stream.try_io(tokio::io::Interest::READABLE, || {
                Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
            });
        }
    }

    fn broke(&mut self, what: &str, e: impl std::fmt::Display) -> OpError {
        self.closing = true;
        io(what, e)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where the head ends (just past its blank line), if it is all there.
/// Byte scans, not `str` searches: parsing the head was a tenth of the
/// client's CPU per request when it went through `str::split`.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = buf[from..].iter().position(|&b| b == b'\n') {
        let at = from + i;
        if at >= 3 && &buf[at - 3..=at] == b"\r\n\r\n" {
            return Some(at + 1);
        }
        from = at + 1;
    }
    None
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end.max(start)]
}

fn digits(bytes: &[u8]) -> Option<usize> {
    if bytes.is_empty() || bytes.len() > 18 {
        return None;
    }
    bytes.iter().try_fold(0usize, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + usize::from(b - b'0'))
    })
}

/// Status, body framing, and whether the server closes after this response.
fn parse_head(head: &[u8]) -> Result<(u16, Framing, bool), OpError> {
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    // `HTTP/1.x NNN reason`
    if status_line.len() < 12 || !status_line.starts_with(b"HTTP/1.") || status_line[8] != b' ' {
        return Err(protocol(format!("status line `{}`", show(status_line))));
    }
    let status = digits(&status_line[9..12])
        .filter(|_| status_line.get(12).is_none_or(|&b| b == b' '))
        .ok_or_else(|| protocol(format!("status line `{}`", show(status_line))))?
        as u16;
    let mut framing = Framing::Close;
    let mut close = status_line[7] == b'0';
    for line in lines.filter(|l| !l.is_empty()) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(protocol(format!("header line `{}`", show(line))));
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = digits(value)
                .ok_or_else(|| protocol(format!("Content-Length `{}`", show(value))))?;
            if !matches!(framing, Framing::Chunked) {
                framing = Framing::Length(n);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if value.eq_ignore_ascii_case(b"chunked") {
                framing = Framing::Chunked;
            } else {
                return Err(protocol(format!("Transfer-Encoding `{}`", show(value))));
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            close = value.eq_ignore_ascii_case(b"close");
        }
    }
    // 1xx, 204 and 304 have no body.
    if status < 200 || status == 204 || status == 304 {
        framing = Framing::Length(0);
    }
    Ok((status, framing, close))
}

/// Decodes the next chunk of a chunked body into `out`: the bytes it
/// took and whether it was the last, or `None` if more input is needed.
fn dechunk(input: &[u8], out: &mut Vec<u8>) -> Result<Option<(usize, bool)>, OpError> {
    let Some(line_end) = find(input, b"\r\n") else {
        return Ok(None);
    };
    let line = std::str::from_utf8(&input[..line_end]).map_err(|_| protocol("a chunk size"))?;
    let size_text = line.split(';').next().unwrap_or_default().trim();
    let size = usize::from_str_radix(size_text, 16)
        .map_err(|_| protocol(format!("chunk size `{size_text}`")))?;
    let data = line_end + 2;
    if size == 0 {
        // The last chunk; trailers (none expected) end with an empty line.
        return Ok(find(&input[data - 2..], b"\r\n\r\n").map(|i| (data - 2 + i + 4, true)));
    }
    if input.len() < data + size + 2 {
        return Ok(None);
    }
    if &input[data + size..data + size + 2] != b"\r\n" {
        return Err(protocol("a chunk not followed by CRLF"));
    }
    out.extend_from_slice(&input[data..data + size]);
    Ok(Some((data + size + 2, false)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn heads_give_status_framing_and_close() {
        let (s, f, c) = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n").unwrap();
        assert!(s == 200 && matches!(f, Framing::Length(12)) && !c);
        let (_, f, c) = parse_head(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        assert!(matches!(f, Framing::Chunked) && c);
        let (s, f, c) = parse_head(b"HTTP/1.0 404 Not Found\r\n\r\n").unwrap();
        assert!(s == 404 && matches!(f, Framing::Close) && c);
        let (_, f, _) =
            parse_head(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert!(matches!(f, Framing::Length(0)));
        for bad in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 abc\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n",
        ] {
            assert!(parse_head(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn heads_end_at_their_blank_line() {
        let response = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody";
        assert_eq!(&response[head_end(response).unwrap()..], b"body");
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n"), None);
        assert_eq!(head_end(b"\n\n\r\n"), None);
        assert_eq!(digits(b"0123"), Some(123));
        assert_eq!(digits(b"12a"), None);
        assert_eq!(digits(b""), None);
        assert_eq!(trim(b"  x y \t"), b"x y");
        assert_eq!(trim(b"   "), b"");
    }

    #[test]
    fn chunked_bodies_decode_across_partial_input() {
        let body = b"4\r\nWiki\r\n6;ext=1\r\npedia \r\n0\r\n\r\n";
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let (used, done) = dechunk(&body[at..], &mut out).unwrap().unwrap();
            at += used;
            if done {
                break;
            }
        }
        assert_eq!(out, b"Wikipedia ");
        assert_eq!(at, body.len());
        // Incomplete input asks for more instead of guessing.
        assert!(dechunk(b"4\r\nWi", &mut Vec::new()).unwrap().is_none());
        assert!(dechunk(b"0\r\n", &mut Vec::new()).unwrap().is_none());
        assert!(dechunk(b"zz\r\n", &mut Vec::new()).is_err());
    }
}
