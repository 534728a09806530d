//! Redis servers for cache targets: a private `redis-server` that rigor
//! starts and stops (`server: managed`), or an existing one (`url:`), and
//! the administrative commands rigor runs outside timing (flush, memory
//! limit, `INFO memory`, preload).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rigor_engine::alloc::rss_of;
use rigor_engine::target::{ServerMemory, TargetError};

use crate::process::{die_with_parent, free_port};
use rigor_scenario::model::{Eviction, RedisConnection};
use rigor_scenario::units::{format_bytes, Capacity};

/// Connect and response timeout when the scenario sets none. The redis
/// crate's own 500ms response default makes spurious errors under load.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a managed server may take to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` process rigor started; stopped when dropped.
#[derive(Debug)]
pub struct ManagedRedis {
    pub(crate) child: Child,
    /// The loopback port it listens on.
    pub port: u16,
}

fn install_help() -> &'static str {
    "install it (`apt-get install redis-server` on Debian/Ubuntu, `brew install redis` on macOS), \
     set `redis_server:` to its path, or point `url:` at a running server"
}

impl ManagedRedis {
    /// Starts `redis-server` on a free loopback port with persistence off
    /// and waits until it answers PING.
    pub fn start(binary: Option<&str>) -> Result<Self, TargetError> {
        let binary = binary.unwrap_or("redis-server");
        let mut last_error = String::new();
        // A port found free can be taken before the server binds it: retry.
        for _ in 0..3 {
            let port = free_port()?;
            let mut command = Command::new(binary);
            command
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
                .args(["--daemonize", "no", "--logfile", ""])
                .arg("--dir")
                .arg(std::env::temp_dir())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            die_with_parent(&mut command);
            let child = command.spawn().map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    TargetError::Failed(format!(
                        "`{binary}` is not installed or not on PATH: {}",
                        install_help()
                    ))
                } else {
                    TargetError::Failed(format!("cannot start `{binary}`: {e}"))
                }
            })?;
            let mut server = ManagedRedis { child, port };
            match server.wait_ready() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(TargetError::Failed(format!(
            "`{binary}` did not start: {last_error}"
        )))
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let client = redis::Client::open(self.url()).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut text = String::new();
                if let Some(mut err) = self.child.stderr.take() {
                    use std::io::Read;
                    let _ = err.read_to_string(&mut text);
                }
                return Err(format!("it exited with {status}: {}", text.trim()));
            }
            if let Ok(mut c) = client.get_connection_with_timeout(Duration::from_millis(200)) {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return Err(format!("no answer to PING within {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ManagedRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis server a target uses: managed or given, with a client for it.
#[derive(Debug)]
pub struct Server {
    /// The managed process, if rigor started it (kept alive with the target).
    pub managed: Option<ManagedRedis>,
    /// A client for the server.
    pub client: redis::Client,
    /// Response timeout per command.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Where the server is, for messages (never with a password).
    pub label: String,
}

impl Server {
    /// Starts or opens the server a connection spec names, and checks it answers.
    pub fn open(spec: &RedisConnection) -> Result<Self, TargetError> {
        let managed = match spec.server {
            Some(_) => Some(ManagedRedis::start(spec.redis_server.as_deref())?),
            None => None,
        };
        let url = match (&managed, &spec.url) {
            (Some(m), _) => m.url(),
            (None, Some(u)) => u.clone(),
            (None, None) => {
                return Err(TargetError::Invalid(
                    "no Redis server: add `server: managed` or `url:`".into(),
                ))
            }
        };
        let client = redis::Client::open(url.as_str())
            .map_err(|e| TargetError::Invalid(format!("`url` is not a Redis URL: {e}")))?;
        let info = client.get_connection_info();
        let label = match &managed {
            Some(m) => format!("managed redis-server on 127.0.0.1:{}", m.port),
            None => format!("redis at {}", info.addr()),
        };
        let server = Server {
            managed,
            client,
            timeout: spec.timeout.map(|t| t.0).unwrap_or(DEFAULT_TIMEOUT),
            connect_timeout: spec.connect_timeout.map(|t| t.0).unwrap_or(DEFAULT_TIMEOUT),
            label,
        };
        let mut c = server.admin()?;
        redis::cmd("PING")
            .query::<String>(&mut c)
            .map_err(|e| server.failed("PING", e))?;
        Ok(server)
    }

    /// The server's memory now, for a soak's samples: its process's RSS
    /// when rigor started it, and `INFO memory`'s `used_memory` over
    /// `admin` (a connection of its own, not a worker's).
    pub fn memory(&self, admin: &std::sync::Mutex<redis::Connection>) -> ServerMemory {
        ServerMemory {
            rss: self
                .managed
                .as_ref()
                .and_then(|m| rss_of(&m.child.id().to_string())),
            heap: admin.lock().ok().and_then(|mut c| used_memory(&mut c).ok()),
        }
    }

    /// An error naming the server and the command.
    pub fn failed(&self, what: &str, e: impl std::fmt::Display) -> TargetError {
        TargetError::Failed(format!("{}: {what} failed: {e}", self.label))
    }

    /// A blocking connection with timeouts, for setup and for blocking workers.
    pub fn admin(&self) -> Result<redis::Connection, TargetError> {
        let c = self
            .client
            .get_connection_with_timeout(self.connect_timeout)
            .map_err(|e| TargetError::Failed(format!("cannot connect to {}: {e}", self.label)))?;
        c.set_read_timeout(Some(self.timeout))
            .and_then(|_| c.set_write_timeout(Some(self.timeout)))
            .map_err(|e| self.failed("setting timeouts", e))?;
        Ok(c)
    }

    /// The async connection settings: explicit timeouts.
    pub fn async_config(&self) -> redis::AsyncConnectionConfig {
        redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.timeout))
    }
}

/// `INFO memory`'s `used_memory`, bytes.
pub fn used_memory(c: &mut redis::Connection) -> redis::RedisResult<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query(c)?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0))
}

/// Empties the database and removes the memory limit, synchronously (the
/// memory is free when this returns).
pub fn reset(c: &mut redis::Connection) -> redis::RedisResult<()> {
    redis::cmd("FLUSHDB").arg("SYNC").query::<()>(c)?;
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(0)
        .query::<()>(c)
}

/// Sets `maxmemory` and the eviction policy matching moka's.
pub fn limit(
    c: &mut redis::Connection,
    maxmemory: u64,
    eviction: Eviction,
) -> redis::RedisResult<()> {
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg(policy_name(eviction))
        .query::<()>(c)?;
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(maxmemory)
        .query::<()>(c)
}

/// Redis' policy for a moka eviction policy.
pub fn policy_name(eviction: Eviction) -> &'static str {
    match eviction {
        Eviction::TinyLfu => "allkeys-lfu",
        Eviction::Lru => "allkeys-lru",
    }
}

/// `DBSIZE`.
pub fn dbsize(c: &mut redis::Connection) -> redis::RedisResult<u64> {
    redis::cmd("DBSIZE").query(c)
}

/// Clients connected (`INFO clients` connected_clients).
pub fn connected_clients(c: &mut redis::Connection) -> redis::RedisResult<u64> {
    let info: String = redis::cmd("INFO").arg("clients").query(c)?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1))
}

/// Room per connection for its query and reply buffers to grow under load:
/// Redis counts them against `maxmemory`, and without room a small cache
/// would shrink (or refuse writes with OOM) as soon as traffic starts.
pub const SLACK_PER_CONNECTION: u64 = 16 * 1024;
/// Room for memory Redis allocates once traffic starts (eviction pool,
/// first buffers): on Redis 7.0 a fresh server refused writes without it.
pub const SLACK_BASE: u64 = 64 * 1024;

/// Writes entries in pipelines of 100 (`SET key value [PX ttl]`); small
/// pipelines keep the server's query buffer, which `used_memory` counts,
/// from inflating the memory measured after a preload.
pub fn write_all<'a>(
    c: &mut redis::Connection,
    entries: impl Iterator<Item = (&'a str, &'a [u8])>,
    ttl_ms: Option<u64>,
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    let mut n = 0;
    for (k, v) in entries {
        let cmd = pipe.cmd("SET").arg(k).arg(v);
        if let Some(ms) = ttl_ms {
            cmd.arg("PX").arg(ms);
        }
        cmd.ignore();
        n += 1;
        if n == 100 {
            pipe.query::<()>(c)?;
            pipe = redis::pipe();
            n = 0;
        }
    }
    if n > 0 {
        pipe.query::<()>(c)?;
    }
    Ok(())
}

/// How a capacity becomes `maxmemory`: the empty server's memory, plus
/// what the trial's connections take (measured once they are open) and room
/// for their buffers to grow, plus the capacity times the memory one entry
/// was measured to take (for a size, the size scaled by the measured memory
/// per payload byte), so that Redis holds about as many entries as moka
/// does for the same capacity.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sizing {
    /// `used_memory` of the empty database, only rigor's admin connection open.
    pub base: u64,
    /// What the trial's connections add, measured with them open.
    pub clients: u64,
    /// The trial's connections (besides rigor's admin connection).
    pub connections: u64,
    /// Measured memory per entry.
    pub per_entry: f64,
    /// Measured memory per payload byte (key + value).
    pub per_payload_byte: f64,
}

impl Sizing {
    /// `maxmemory` for a capacity.
    pub fn maxmemory(&self, capacity: Capacity) -> u64 {
        let extra = match capacity {
            Capacity::Entries(n) => n as f64 * self.per_entry,
            Capacity::Bytes(b) => b as f64 * self.per_payload_byte,
        };
        self.base + self.clients + self.slack() + extra.ceil() as u64
    }

    /// Room for buffers to grow under load.
    pub fn slack(&self) -> u64 {
        SLACK_BASE + self.connections * SLACK_PER_CONNECTION
    }

    /// The mapping in words, for the results.
    pub fn describe(&self, capacity: Capacity, eviction: Eviction) -> String {
        let how = match capacity {
            Capacity::Entries(n) => {
                format!("{n} entries x {} per entry", format_bytes(self.per_entry))
            }
            Capacity::Bytes(b) => format!(
                "{} of keys and values x {:.2} bytes of server memory per payload byte",
                format_bytes(b as f64),
                self.per_payload_byte
            ),
        };
        let extra = self.maxmemory(capacity) - self.base - self.clients - self.slack();
        let mut text = format!(
            "maxmemory {} = empty server {} + {} connection(s) {} + buffer room {} + {how} (measured at preload); maxmemory-policy {}",
            format_bytes(self.maxmemory(capacity) as f64),
            format_bytes(self.base as f64),
            self.connections,
            format_bytes(self.clients as f64),
            format_bytes(self.slack() as f64),
            policy_name(eviction)
        );
        if (self.clients + self.slack()) * 4 > extra {
            text.push_str(&format!(
                ". CAUTION: Redis counts client buffers against maxmemory and they vary under load; for a capacity this small ({}) the limit is approximate: compare the entries each cache holds at the end",
                format_bytes(extra as f64)
            ));
        }
        text
    }
}

/// A memory limit prepared before a trial and applied once the trial's
/// connections are open ([`rigor_engine::target::TrialHooks::armed`]), so that
/// what they take is measured rather than guessed.
#[derive(Debug, Default)]
pub struct PendingLimit {
    pending: std::sync::Mutex<Option<(Sizing, u64, Capacity, Eviction)>>,
    note: std::sync::Mutex<Option<String>>,
}

impl PendingLimit {
    /// Remembers the sizing; `held` is what the preloaded data takes now.
    pub fn prepare(&self, sizing: Sizing, held: u64, capacity: Capacity, eviction: Eviction) {
        if let Ok(mut p) = self.pending.lock() {
            *p = Some((sizing, held, capacity, eviction));
        }
        if let Ok(mut n) = self.note.lock() {
            *n = None;
        }
    }

    /// Measures the open connections and sets `maxmemory`.
    pub fn arm(&self, c: &mut redis::Connection, server: &Server) -> Result<(), TargetError> {
        let Some((mut sizing, held, capacity, eviction)) =
            self.pending.lock().ok().and_then(|mut p| p.take())
        else {
            return Ok(());
        };
        let used = used_memory(c).map_err(|e| server.failed("INFO memory", e))?;
        sizing.connections = connected_clients(c)
            .map_err(|e| server.failed("INFO clients", e))?
            .saturating_sub(1);
        sizing.clients = used.saturating_sub(sizing.base + held);
        limit(c, sizing.maxmemory(capacity), eviction)
            .map_err(|e| server.failed("CONFIG SET maxmemory", e))?;
        if let Ok(mut n) = self.note.lock() {
            *n = Some(format!(
                "{}: {}",
                server.label,
                sizing.describe(capacity, eviction)
            ));
        }
        Ok(())
    }

    /// How the last limit was set.
    pub fn note(&self) -> Option<String> {
        self.note.lock().ok().and_then(|n| n.clone())
    }
}
