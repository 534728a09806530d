//! A small Redis client for `client: multiplexed` on one runtime thread:
//! RESP2 over one TCP connection, shared by that thread's workers, with no
//! driver task and no channels.
//!
//! Why not the `redis` crate's `MultiplexedConnection`: it sends every
//! request through a channel to a driver task and every reply back through
//! a oneshot, two task switches and two more epoll calls per request, which
//! left rigor's default client at 0.82-0.91x redis-benchmark on one
//! connection. Here a worker appends its command to the connection's write
//! buffer and flushes it itself; whichever waiting worker finds nobody
//! reading becomes the reader, parses every complete reply, hands each to
//! its request by order (Redis answers in order), and wakes the others.
//! Everything runs on one thread (`Rc`, `RefCell`), so there are no locks.
//!
//! Only what the cache workload needs: GET and SET (with PX), replies of
//! any RESP2 type parsed; `AUTH` and `SELECT` from the URL at connect.

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use rigor_engine::target::OpError;
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// A reply, as far as the workload looks at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `$-1` or `*-1`.
    Nil,
    /// A bulk string's bytes.
    Bulk(Vec<u8>),
    /// `+OK` and other simple strings.
    Status(String),
    /// `:n`.
    Int(i64),
    /// An array (elements not kept: the workload sends no command that returns one).
    Array(usize),
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `host:port`.
    pub addr: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
    pub connect_timeout: Duration,
    pub timeout: Duration,
}

impl Target {
    /// The TCP target of a `redis://` URL, or `None` for what this client
    /// does not speak (unix sockets, TLS, RESP3): those use the `redis`
    /// crate's client.
    pub(crate) fn from_info(
        info: &redis::ConnectionInfo,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Option<Self> {
        let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
            return None;
        };
        let settings = info.redis_settings();
        if settings.protocol() != redis::ProtocolVersion::RESP2 {
            return None;
        }
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        Some(Target {
            addr: format!("{host}:{port}"),
            username: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
            db: settings.db(),
            connect_timeout,
            timeout,
        })
    }
}

/// One connection, shared (cloned) by the workers of one runtime thread.
#[derive(Clone)]
pub(crate) struct Conn {
    shared: Rc<Shared>,
}

struct Shared {
    stream: TcpStream,
    state: RefCell<State>,
    /// Replies arrived (or the connection broke): waiters look again.
    arrived: Notify,
    timeout: Duration,
}

#[derive(Default)]
struct State {
    /// Bytes queued and not yet written.
    out: Vec<u8>,
    /// Bytes read and not yet parsed.
    input: Vec<u8>,
    /// Sequence number of the next request.
    next: u64,
    /// Sequence number of the next reply to arrive.
    answered: u64,
    /// Replies not yet taken, oldest first, with their sequence numbers.
    replies: VecDeque<(u64, Result<Reply, String>)>,
    /// Requests whose caller gave up (timed out): their replies are dropped.
    abandoned: HashSet<u64>,
    /// Someone is reading (or writing) the socket.
    reading: bool,
    writing: bool,
    /// Why the connection is unusable.
    broken: Option<String>,
}

fn io_error(what: &str, e: impl std::fmt::Display) -> OpError {
    OpError::new("io", format!("{what}: {e}"))
}

impl Conn {
    /// Connects, authenticates and selects the database.
    pub(crate) async fn connect(target: &Target) -> Result<Conn, OpError> {
        let stream = tokio::time::timeout(target.connect_timeout, TcpStream::connect(&target.addr))
            .await
            .map_err(|_| {
                OpError::new(
                    "connect",
                    format!(
                        "connecting to {} took longer than {:?}",
                        target.addr, target.connect_timeout
                    ),
                )
            })?
            .map_err(|e| OpError::new("connect", format!("{}: {e}", target.addr)))?;
        stream
            .set_nodelay(true)
            .map_err(|e| OpError::new("connect", e.to_string()))?;
        let conn = Conn {
            shared: Rc::new(Shared {
                stream,
                state: RefCell::default(),
                arrived: Notify::new(),
                timeout: target.timeout,
            }),
        };
        let mut buf = Vec::new();
        if let Some(password) = &target.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &target.username {
                args.push(user.as_bytes());
            }
            args.push(password.as_bytes());
            encode(&mut buf, &args);
            conn.expect_ok(&buf, "AUTH").await?;
        }
        if target.db != 0 {
            buf.clear();
            let db = target.db.to_string();
            encode(&mut buf, &[b"SELECT", db.as_bytes()]);
            conn.expect_ok(&buf, "SELECT").await?;
        }
        Ok(conn)
    }

    async fn expect_ok(&self, command: &[u8], what: &str) -> Result<(), OpError> {
        match self.request(command).await? {
            Reply::Status(_) => Ok(()),
            other => Err(OpError::new(
                "connect",
                format!("{what} answered {other:?}, not OK"),
            )),
        }
    }

    /// Whether the connection broke (the next operation should reopen it).
    pub(crate) fn is_broken(&self) -> bool {
        self.shared.state.borrow().broken.is_some()
    }

    /// Sends one encoded command and waits for its reply. A Redis error
    /// reply is an `OpError` of kind `server`; a reply later than the
    /// timeout is an error of kind `timeout` (the reply, when it comes, is
    /// dropped); a broken connection is kind `io`.
    pub(crate) async fn request(&self, command: &[u8]) -> Result<Reply, OpError> {
        let seq = {
            let mut st = self.shared.state.borrow_mut();
            if let Some(why) = &st.broken {
                return Err(io_error("connection broken", why));
            }
            let seq = st.next;
            st.next += 1;
            st.out.extend_from_slice(command);
            seq
        };
        let timeout = self.shared.timeout;
        match tokio::time::timeout(timeout, self.exchange(seq)).await {
            Ok(r) => r,
            Err(_) => {
                let mut st = self.shared.state.borrow_mut();
                // The reply may have been parsed in the meantime.
                if let Some(pos) = st.replies.iter().position(|(s, _)| *s == seq) {
                    st.replies.remove(pos);
                } else {
                    st.abandoned.insert(seq);
                }
                Err(OpError::new(
                    "timeout",
                    format!("no reply within {timeout:?}"),
                ))
            }
        }
    }

    async fn exchange(&self, seq: u64) -> Result<Reply, OpError> {
        self.flush().await?;
        loop {
            // Registered before looking, so a wake between the look and the
            // wait is not lost.
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let read_now = {
                let mut st = self.shared.state.borrow_mut();
                if let Some(pos) = st.replies.iter().position(|(s, _)| *s == seq) {
                    let (_, reply) = st.replies.remove(pos).unwrap_or((seq, Ok(Reply::Nil)));
                    return reply.map_err(|e| OpError::new("server", e));
                }
                if let Some(why) = &st.broken {
                    return Err(io_error("connection broken", why));
                }
                if st.reading {
                    false
                } else {
                    st.reading = true;
                    true
                }
            };
            if read_now {
                let _reader = Role {
                    shared: &self.shared,
                    reading: true,
                };
                self.read_some().await;
            } else {
                arrived.await;
            }
        }
    }

    /// Writes everything queued (others' commands too). One writer at a
    /// time, so commands never interleave; the others wait for it.
    async fn flush(&self) -> Result<(), OpError> {
        loop {
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            {
                let mut st = self.shared.state.borrow_mut();
                if let Some(why) = &st.broken {
                    return Err(io_error("connection broken", why));
                }
                if !st.writing {
                    st.writing = true;
                    break;
                }
            }
            arrived.await;
        }
        let _writer = Role {
            shared: &self.shared,
            reading: false,
        };
        loop {
            let result = {
                let st = self.shared.state.borrow();
                if st.out.is_empty() {
                    return Ok(());
                }
                self.shared.stream.try_write(&st.out)
            };
            match result {
                Ok(n) => {
                    self.shared.state.borrow_mut().out.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Err(e) = self.shared.stream.writable().await {
                        return Err(self.break_with("write", e));
                    }
                }
                Err(e) => return Err(self.break_with("write", e)),
            }
        }
    }

    /// Reads what the socket has and parses every complete reply.
    async fn read_some(&self) {
        loop {
            // Wait first: when every reply so far was parsed the readiness
            // was cleared ([`Conn::take_replies`]), so no read is tried
            // before one is there.
            if let Err(e) = self.shared.stream.readable().await {
                self.break_with("read", e);
                return;
            }
            let result = {
                let mut st = self.shared.state.borrow_mut();
                // Read into the buffer's spare room, not a zeroed chunk copied over.
                st.input.reserve(16 * 1024);
                self.shared.stream.try_read_buf(&mut st.input)
            };
            match result {
                Ok(0) => {
                    self.break_with("read", "the server closed the connection");
                    return;
                }
                Ok(_) => {
                    self.take_replies();
                    return;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    self.break_with("read", e);
                    return;
                }
            }
        }
    }

    /// Parses every complete reply in the input buffer.
    fn take_replies(&self) {
        let mut st = self.shared.state.borrow_mut();
        let mut at = 0;
        let mut bad = None;
        loop {
            match parse(&st.input[at..]) {
                Ok(Some((reply, used))) => {
                    at += used;
                    let seq = st.answered;
                    st.answered += 1;
                    if !st.abandoned.remove(&seq) {
                        st.replies.push_back((seq, reply));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    bad = Some(e);
                    break;
                }
            }
        }
        st.input.drain(..at);
        let answered_all = st.input.is_empty() && st.answered == st.next;
        drop(st);
        if answered_all {
            // Nothing is owed and nothing is buffered: forget the socket's
            // readiness instead of learning it from a failing read (a system
            // call per request). Safe on a current-thread runtime: data
            // arriving later is a new edge epoll reports at the next turn.
            let _ = self
                .shared
                .stream
                .try_io(tokio::io::Interest::READABLE, || {
                    Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
                });
        }
        if let Some(e) = bad {
            self.break_with("read", e);
        }
        self.shared.arrived.notify_waiters();
    }

    fn break_with(&self, what: &str, e: impl std::fmt::Display) -> OpError {
        let message = format!("{what}: {e}");
        self.shared
            .state
            .borrow_mut()
            .broken
            .get_or_insert(message.clone());
        self.shared.arrived.notify_waiters();
        OpError::new("io", message)
    }
}

/// Gives up the reader's or writer's role on drop (also when the future
/// holding it is cancelled by a timeout) and wakes whoever waits for it.
struct Role<'a> {
    shared: &'a Shared,
    reading: bool,
}

impl Drop for Role<'_> {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.try_borrow_mut() {
            if self.reading {
                st.reading = false;
            } else {
                st.writing = false;
            }
        }
        self.shared.arrived.notify_waiters();
    }
}

/// Appends a command (an array of bulk strings) to `buf`.
pub(crate) fn encode(buf: &mut Vec<u8>, args: &[&[u8]]) {
    use std::io::Write;
    let _ = write!(buf, "*{}\r\n", args.len());
    for a in args {
        let _ = write!(buf, "${}\r\n", a.len());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// Parses one reply from the start of `buf`: the reply (an error reply as
/// `Err` inside) and the bytes it took, `None` if incomplete, or `Err` for
/// bytes that are not RESP2.
#[allow(clippy::type_complexity)]
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Result<Reply, String>, usize)>, String> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let Some((&kind, line)) = buf[..end].split_first() else {
        return Err("an empty line where a reply was expected".into());
    };
    let text = std::str::from_utf8(line).map_err(|_| "a reply line that is not UTF-8")?;
    let number = || {
        text.parse::<i64>()
            .map_err(|_| format!("`{text}` where a number was expected"))
    };
    let after = end + 2;
    match kind {
        b'+' => Ok(Some((Ok(Reply::Status(text.to_owned())), after))),
        b'-' => Ok(Some((Err(text.to_owned()), after))),
        b':' => Ok(Some((Ok(Reply::Int(number()?)), after))),
        b'$' => {
            let n = number()?;
            if n < 0 {
                return Ok(Some((Ok(Reply::Nil), after)));
            }
            let n = n as usize;
            if buf.len() < after + n + 2 {
                return Ok(None);
            }
            if &buf[after + n..after + n + 2] != b"\r\n" {
                return Err("a bulk string not followed by CRLF".into());
            }
            Ok(Some((
                Ok(Reply::Bulk(buf[after..after + n].to_vec())),
                after + n + 2,
            )))
        }
        b'*' => {
            let n = number()?;
            if n < 0 {
                return Ok(Some((Ok(Reply::Nil), after)));
            }
            let mut at = after;
            for _ in 0..n {
                match parse(&buf[at..])? {
                    Some((_, used)) => at += used,
                    None => return Ok(None),
                }
            }
            Ok(Some((Ok(Reply::Array(n as usize)), at)))
        }
        other => Err(format!(
            "a reply starting with byte {other:#04x}, not RESP2"
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn encodes_a_command_as_an_array_of_bulk_strings() {
        let mut buf = Vec::new();
        encode(&mut buf, &[b"SET", b"k", b"v1"]);
        assert_eq!(buf, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n");
    }

    #[test]
    fn parses_every_reply_type_and_waits_for_incomplete_ones() {
        let ok = |r: Reply, n: usize| Ok(Some((Ok(r), n)));
        assert_eq!(parse(b"+OK\r\n"), ok(Reply::Status("OK".into()), 5));
        assert_eq!(parse(b":42\r\n"), ok(Reply::Int(42), 5));
        assert_eq!(parse(b"$-1\r\n"), ok(Reply::Nil, 5));
        assert_eq!(
            parse(b"$3\r\nabc\r\n+OK"),
            ok(Reply::Bulk(b"abc".to_vec()), 9)
        );
        assert_eq!(parse(b"*2\r\n$1\r\na\r\n:1\r\n"), ok(Reply::Array(2), 15));
        assert_eq!(
            parse(b"-ERR wrong\r\n"),
            Ok(Some((Err("ERR wrong".into()), 12)))
        );
        // A bulk string whose bytes contain CRLF is read by length.
        assert_eq!(
            parse(b"$4\r\na\r\nb\r\n"),
            ok(Reply::Bulk(b"a\r\nb".to_vec()), 10)
        );
        for partial in [&b"$3\r\nab"[..], b"+OK", b"*2\r\n:1\r\n", b""] {
            assert_eq!(parse(partial), Ok(None), "{partial:?}");
        }
        assert!(parse(b"!x\r\n").is_err());
        assert!(parse(b"$3\r\nabcd\r\n").is_err());
    }

    /// Runs `f` on a single-threaded runtime, as the engine runs async workers.
    fn on_runtime<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    fn target(port: u16, db: i64, timeout: Duration) -> Target {
        Target {
            addr: format!("127.0.0.1:{port}"),
            username: None,
            password: None,
            db,
            connect_timeout: Duration::from_secs(2),
            timeout,
        }
    }

    /// Many workers on one connection (a real redis-server): each gets its
    /// own reply, not a neighbour's, whatever order they interleave in.
    #[test]
    fn concurrent_requests_on_one_connection_get_their_own_replies() {
        let server = crate::redis_server::ManagedRedis::start(None).unwrap();
        let ok = on_runtime(async {
            let conn = Conn::connect(&target(server.port, 3, Duration::from_secs(5)))
                .await
                .unwrap();
            let workers = (0..16u32).map(|w| {
                let conn = conn.clone();
                async move {
                    let mut buf = Vec::new();
                    for round in 0..50u32 {
                        let key = format!("k{w}");
                        let value = format!("v{w}-{round}-{}", "x".repeat((w * 37) as usize));
                        buf.clear();
                        encode(&mut buf, &[b"SET", key.as_bytes(), value.as_bytes()]);
                        assert_eq!(
                            conn.request(&buf).await.unwrap(),
                            Reply::Status("OK".into())
                        );
                        buf.clear();
                        encode(&mut buf, &[b"GET", key.as_bytes()]);
                        assert_eq!(
                            conn.request(&buf).await.unwrap(),
                            Reply::Bulk(value.into_bytes())
                        );
                    }
                    buf.clear();
                    encode(&mut buf, &[b"GET", format!("missing{w}").as_bytes()]);
                    assert_eq!(conn.request(&buf).await.unwrap(), Reply::Nil);
                    w
                }
            });
            let handles: Vec<_> = workers.map(tokio::task::spawn_local).collect();
            let mut done = Vec::new();
            for h in handles {
                done.push(h.await.unwrap());
            }
            // SELECT took effect: the keys are in database 3, not 0.
            let mut buf = Vec::new();
            encode(&mut buf, &[b"DBSIZE"]);
            let size = conn.request(&buf).await.unwrap();
            (done.len(), size)
        });
        assert_eq!(ok, (16, Reply::Int(16)));
        let mut admin = redis::Client::open(server.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let in_db0: u64 = redis::cmd("DBSIZE").query(&mut admin).unwrap();
        assert_eq!(in_db0, 0, "SELECT 3 was not applied");
    }

    /// A request that times out is an error of kind `timeout`; its late
    /// reply is dropped, so the next request on the connection gets its own.
    /// A server error reply is kind `server`. A server that goes away
    /// breaks the connection (kind `io`).
    #[test]
    fn a_timed_out_reply_is_dropped_and_errors_have_kinds() {
        let mut server = crate::redis_server::ManagedRedis::start(None).unwrap();
        let port = server.port;
        on_runtime(async {
            let conn = Conn::connect(&target(port, 0, Duration::from_millis(100)))
                .await
                .unwrap();
            let mut buf = Vec::new();
            // BLPOP blocks this connection for 300ms, past the timeout.
            encode(&mut buf, &[b"BLPOP", b"nothing", b"0.3"]);
            let e = conn.request(&buf).await.unwrap_err();
            assert_eq!(e.class, "timeout", "{e}");
            tokio::time::sleep(Duration::from_millis(400)).await;
            buf.clear();
            encode(&mut buf, &[b"SET", b"a", b"1"]);
            assert_eq!(
                conn.request(&buf).await.unwrap(),
                Reply::Status("OK".into())
            );
            buf.clear();
            encode(&mut buf, &[b"INCR", b"a"]);
            assert_eq!(conn.request(&buf).await.unwrap(), Reply::Int(2));
            buf.clear();
            encode(&mut buf, &[b"NOSUCHCOMMAND"]);
            let e = conn.request(&buf).await.unwrap_err();
            assert_eq!(e.class, "server", "{e}");
            assert!(!conn.is_broken());
            server.child.kill().unwrap();
            server.child.wait().unwrap();
            buf.clear();
            encode(&mut buf, &[b"GET", b"a"]);
            let e = conn.request(&buf).await.unwrap_err();
            assert_eq!(e.class, "io", "{e}");
            assert!(conn.is_broken());
        });
    }
}
