//! The one HTTP client for control calls: health checks, policy and data
//! uploads, `/metrics`, the correctness gate's decisions, always outside
//! any timing. The measured path is `http1`'s own client.
//!
//! Plain blocking HTTP/1.0 over `std::net`: the server closes the
//! connection after each answer and sends no chunked encoding, so reading
//! to the end is the whole answer. Host names are resolved (`localhost`, a
//! Kubernetes service name) and every address they resolve to is tried.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A server's answer: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The body, as text (lossy UTF-8).
    pub body: String,
}

impl Reply {
    /// A 2xx status.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// `http://host:port/path` split into the address to connect to
/// (`host:port`, port 80 when absent) and the path (`/` when absent).
pub fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}` is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    let has_port = match authority.rfind(']') {
        // [::1]:8181 or [::1]
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    let authority = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_string()))
}

/// `GET url`.
pub fn get(url: &str, timeout: Duration) -> Result<Reply, String> {
    call("GET", url, None, timeout)
}

/// `POST url` with a JSON body.
pub fn post_json(url: &str, body: &str, timeout: Duration) -> Result<Reply, String> {
    call("POST", url, Some((body, "application/json")), timeout)
}

/// `PUT url` with a body of the given content type.
pub fn put(url: &str, body: &str, content_type: &str, timeout: Duration) -> Result<Reply, String> {
    call("PUT", url, Some((body, content_type)), timeout)
}

fn call(
    method: &str,
    url: &str,
    body: Option<(&str, &str)>,
    timeout: Duration,
) -> Result<Reply, String> {
    let (authority, path) = split_url(url)?;
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {authority}\r\n");
    if let Some((text, content_type)) = body {
        request.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            text.len()
        ));
    }
    request.push_str("\r\n");
    let mut stream = connect(&authority, timeout).map_err(|e| format!("{url}: {e}"))?;
    let exchange = |stream: &mut TcpStream| -> std::io::Result<Vec<u8>> {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.write_all(request.as_bytes())?;
        if let Some((text, _)) = body {
            stream.write_all(text.as_bytes())?;
        }
        read_reply(stream)
    };
    let raw = exchange(&mut stream).map_err(|e| format!("{url}: {e}"))?;
    parse_reply(&raw).ok_or_else(|| format!("{url}: the answer is not HTTP"))
}

/// Reads one answer: the head, then `Content-Length` bytes of body when the
/// server says how many (a server may keep the connection open despite
/// HTTP/1.0), else everything until it closes.
fn read_reply(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head.lines().find_map(|l| {
                l.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            if let Some(length) = length {
                while raw.len() < end + 4 + length {
                    match stream.read(&mut chunk)? {
                        0 => break,
                        n => raw.extend_from_slice(&chunk[..n]),
                    }
                }
                raw.truncate(end + 4 + length);
                return Ok(raw);
            }
            stream.read_to_end(&mut raw)?;
            return Ok(raw);
        }
        match stream.read(&mut chunk)? {
            0 => return Ok(raw),
            n => raw.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Connects to the first address `authority` resolves to that answers.
fn connect(authority: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in authority.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{authority} resolves to no address"),
        )
    }))
}

fn parse_reply(raw: &[u8]) -> Option<Reply> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut words = head.split_whitespace();
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    let status = words.next()?.parse().ok()?;
    Some(Reply {
        status,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_and_path() {
        assert_eq!(
            split_url("http://localhost:8181/v1/data").unwrap(),
            ("localhost:8181".into(), "/v1/data".into())
        );
        assert_eq!(
            split_url("http://rigor-serve").unwrap(),
            ("rigor-serve:80".into(), "/".into())
        );
        assert_eq!(
            split_url("http://[::1]/x").unwrap(),
            ("[::1]:80".into(), "/x".into())
        );
        assert_eq!(
            split_url("http://[::1]:9/x").unwrap(),
            ("[::1]:9".into(), "/x".into())
        );
        assert!(split_url("https://a/b").is_err());
        assert!(split_url("http:///b").is_err());
    }

    #[test]
    fn a_host_name_is_resolved_and_answered() {
        // A one-shot server on loopback, reached by name.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (done, release) = std::sync::mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            // Keep-alive despite HTTP/1.0: the length says where it ends.
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                .unwrap();
            // The connection stays open until the client has its answer: a
            // client waiting for the close would time out instead.
            let _ = release.recv();
            request
        });
        let reply = get(
            &format!("http://localhost:{port}/metrics"),
            Duration::from_secs(5),
        )
        .unwrap();
        done.send(()).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, "hello");
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /metrics HTTP/1.0\r\n"),
            "{request}"
        );
        assert!(request.contains(&format!("Host: localhost:{port}")));
    }

    #[test]
    fn replies_that_are_not_http_are_refused() {
        assert_eq!(parse_reply(b"garbage"), None);
        assert_eq!(
            parse_reply(b"HTTP/1.1 404 Not Found\r\n\r\nno"),
            Some(Reply {
                status: 404,
                body: "no".into()
            })
        );
    }
}
