//! `kind: redis`: a real Redis server running the `cache:` workload.
//!
//! - Operations use multiplexed async connections, as most applications
//!   do: `connections:` of them (default 1), shared by the workers, no
//!   pipelining beyond what concurrent workers on one connection produce;
//!   timeouts are explicit. Over TCP the client is rigor's own
//!   (`resp`: no driver task, no channels; the `redis` crate's
//!   `MultiplexedConnection` did 0.83-0.91x redis-benchmark's requests on one
//!   connection); unix sockets use the `redis` crate's. The engine runs async
//!   workers on one single-threaded runtime per core, and a connection is
//!   driven by the runtime that opened it, so each runtime thread opens its
//!   own share (`connections` split over the threads in proportion to
//!   their workers, at least one each): a request never waits for another
//!   thread to wake up, which on a 2-core VM would add ~100us per request
//!   and measure rigor instead of Redis.
//! - `client: blocking` gives each worker a thread and its own blocking
//!   connection instead: one request, then its reply, no runtime or channel
//!   in between, as redis-benchmark's clients: two system calls per
//!   request where the multiplexed client makes four. docs/PERFORMANCE.md
//!   (`just selfbench`) has both against redis-benchmark.
//! - Before each trial, outside timing: FLUSHDB, measure the empty
//!   server's `used_memory`, preload, measure again (`cache.memory`), then
//!   set `maxmemory` from the capacity and the measured memory per entry,
//!   with `allkeys-lfu` (or `allkeys-lru`), so Redis holds about as many
//!   entries as moka ([`crate::redis_server::Sizing`]).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redis::aio::MultiplexedConnection;
use rigor_engine::keys::{self, WRITE_BIT};
use rigor_engine::target::{
    AsyncWorker, AsyncWorkers, BlockingWorkers, CacheState, Facts, MemoryScope, OpError, Outcome,
    ServerProbe, Target, TargetError, TrialContext, TrialHooks, Worker, WorkerContext, Workers,
};
use rigor_scenario::model::{Eviction, MissPolicy, RedisClient, RedisSpec};
use rigor_scenario::plan::{Plan, TargetPlan};
use rigor_scenario::units::Capacity;

use crate::keyspace::Keyspace;
use crate::redis_server::{self as rs, Server, Sizing};
use crate::resp;
use crate::Kind;

/// Builds `kind: redis`.
#[derive(Debug)]
pub struct Factory;

/// A Redis cache target.
// Fields drop in order: connections, then the runtime driving them, then
// the server (a managed one is stopped last).
pub struct Redis {
    connections: u32,
    client: RedisClient,
    admin: Mutex<redis::Connection>,
    limit: rs::PendingLimit,
    keyspace: Arc<Keyspace>,
    eviction: Eviction,
    ttl_ms: Option<u64>,
    /// Connections reopened after one broke (the server restarted or died), all workers.
    reconnects: Arc<AtomicU64>,
    server: Server,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("server", &self.server.label)
            .finish_non_exhaustive()
    }
}

/// Sorts a Redis error into rigor's error kinds.
pub fn op_error(e: redis::RedisError) -> OpError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connection_refusal() {
        "connect"
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
        "io"
    } else {
        "redis"
    };
    OpError::new(kind, e.to_string())
}

impl Redis {
    fn new(spec: &RedisSpec, keyspace: Arc<Keyspace>) -> Result<Self, TargetError> {
        let server = Server::open(&spec.connection())?;
        let admin = Mutex::new(server.admin()?);
        Ok(Redis {
            ttl_ms: keyspace.plan.ttl.map(|t| t.as_millis() as u64),
            keyspace,
            eviction: spec.eviction,
            server,
            connections: spec.connections.unwrap_or(1).max(1),
            client: spec.client,
            admin,
            limit: rs::PendingLimit::default(),
            reconnects: Arc::default(),
        })
    }

    fn write(&self, c: &mut redis::Connection, n: usize) -> Result<(), TargetError> {
        let ks = &self.keyspace;
        rs::write_all(c, (0..n).map(|i| (ks.name(i), ks.value(i))), self.ttl_ms)
            .map_err(|e| self.server.failed("preload", e))
    }
}

impl Target for Redis {
    fn workers(&self) -> Workers<'_> {
        match self.client {
            RedisClient::Multiplexed => Workers::Async(self),
            RedisClient::Blocking => Workers::Blocking(self),
        }
    }

    fn hooks(&self) -> Option<&dyn TrialHooks> {
        Some(self)
    }

    fn facts(&self) -> Facts {
        Facts {
            outcomes: true,
            ..Facts::new(MemoryScope::Client)
        }
    }

    fn events(&self) -> std::collections::BTreeMap<&'static str, u64> {
        [("reconnects", self.reconnects.load(Ordering::Relaxed))].into()
    }

    fn server(&self) -> Option<&dyn ServerProbe> {
        Some(self)
    }
}

impl ServerProbe for Redis {
    /// Redis has no per-request heap counters of Go's kind.
    fn counters(&self) -> Result<Option<std::collections::BTreeMap<&'static str, f64>>, String> {
        Ok(None)
    }

    fn memory(&self) -> Option<rigor_engine::target::ServerMemory> {
        Some(self.server.memory(&self.admin))
    }
}

impl TrialHooks for Redis {
    fn entries_now(&self) -> Option<u64> {
        rs::dbsize(&mut *self.admin.lock().ok()?).ok()
    }

    fn prepare(&self, trial: &TrialContext) -> Result<Option<CacheState>, TargetError> {
        let ks = &self.keyspace;
        let capacity = trial
            .case
            .capacity
            .unwrap_or(Capacity::Entries(ks.plan.keys));
        let mut c = self
            .admin
            .lock()
            .map_err(|_| TargetError::Failed("admin connection lock poisoned".into()))?;
        let fail = |what: &str, e: redis::RedisError| self.server.failed(what, e);
        // A sharded run shares one server: the first shard empties,
        // preloads and limits it; the others use it as it is (their
        // warm-up covers the first shard's preload).
        if let Some(w) = trial.case.whole.filter(|w| w.shard.index > 0) {
            let entries = rs::dbsize(&mut c).map_err(|e| fail("DBSIZE", e))?;
            return Ok(Some(CacheState {
                entries,
                memory: None,
                memory_source: format!(
                    "shard {}: the first shard prepares the shared server (FLUSHDB, preload, limit)",
                    w.shard
                ),
                capacity_note: None,
            }));
        }
        rs::reset(&mut c).map_err(|e| fail("FLUSHDB", e))?;
        let base = rs::used_memory(&mut c).map_err(|e| fail("INFO memory", e))?;
        let preload = ks.preload_count(capacity);
        // Size entries on the preload itself, or on a sample of 1000 keys
        // when the preload is smaller (used_memory moves in steps).
        let sample = preload.max(ks.names.len().min(1000));
        self.write(&mut c, sample)?;
        let used = rs::used_memory(&mut c).map_err(|e| fail("INFO memory", e))?;
        let payload: u64 = (0..sample).map(|i| ks.payload(i)).sum();
        let held = used.saturating_sub(base);
        let sizing = Sizing {
            base,
            per_entry: held as f64 / sample.max(1) as f64,
            per_payload_byte: held as f64 / payload.max(1) as f64,
            ..Sizing::default()
        };
        let memory = if sample == preload {
            held
        } else {
            rs::reset(&mut c).map_err(|e| fail("FLUSHDB", e))?;
            self.write(&mut c, preload)?;
            rs::used_memory(&mut c)
                .map_err(|e| fail("INFO memory", e))?
                .saturating_sub(base)
        };
        // The limit waits for the trial's connections (armed).
        self.limit.prepare(sizing, memory, capacity, self.eviction);
        let entries = rs::dbsize(&mut c).map_err(|e| fail("DBSIZE", e))?;
        Ok(Some(CacheState {
            entries,
            memory: Some(memory),
            memory_source: "INFO memory used_memory after preload minus the empty server's".into(),
            capacity_note: None,
        }))
    }

    fn armed(&self) -> Result<(), TargetError> {
        let mut c = self
            .admin
            .lock()
            .map_err(|_| TargetError::Failed("admin connection lock poisoned".into()))?;
        self.limit.arm(&mut c, &self.server)
    }

    fn cache_state(&self) -> Option<CacheState> {
        let mut c = self.admin.lock().ok()?;
        let entries = rs::dbsize(&mut c).ok()?;
        Some(CacheState {
            entries,
            memory: None,
            memory_source: String::new(),
            capacity_note: self.limit.note(),
        })
    }
}

impl BlockingWorkers for Redis {
    /// `client: blocking`: the worker's own connection, opened here, before timing.
    fn worker(&self, ctx: &WorkerContext) -> Result<Box<dyn Worker>, TargetError> {
        Ok(Box::new(BlockingWorker {
            connection: Some(self.server.admin()?),
            client: self.server.client.clone(),
            timeout: self.server.timeout,
            connect_timeout: self.server.connect_timeout,
            reconnects: self.reconnects.clone(),
            ops: Ops::new(self, ctx),
        }))
    }
}

impl AsyncWorkers for Redis {
    fn async_workers(
        &self,
        contexts: &[WorkerContext],
    ) -> Result<Vec<Box<dyn AsyncWorker>>, TargetError> {
        let Some(first) = contexts.first() else {
            return Ok(Vec::new());
        };
        // This thread's share of the connections, in proportion to its workers.
        let concurrency = first.case.concurrency.max(1) as usize;
        let share = (self.connections as usize * contexts.len()).div_ceil(concurrency);
        let slots: Vec<Slot> = (0..share.max(1)).map(|_| Slot::default()).collect();
        let own = resp::Target::from_info(
            self.server.client.get_connection_info(),
            self.server.connect_timeout,
            self.server.timeout,
        );
        Ok(contexts
            .iter()
            .enumerate()
            .map(|(k, ctx)| {
                Box::new(RedisWorker {
                    slot: slots[k % slots.len()].clone(),
                    connection: None,
                    own: own.clone(),
                    command: Vec::with_capacity(512),
                    client: self.server.client.clone(),
                    config: self.server.async_config(),
                    reconnects: self.reconnects.clone(),
                    ops: Ops::new(self, ctx),
                }) as Box<dyn AsyncWorker>
            })
            .collect())
    }
}

/// A connection shared by the workers of one runtime thread, opened by the first.
type Slot = Rc<RefCell<Option<AsyncConn>>>;

/// A multiplexed connection: rigor's own over TCP, the `redis` crate's otherwise.
#[derive(Clone)]
enum AsyncConn {
    Own(resp::Conn),
    Crate(MultiplexedConnection),
}

/// What one worker sends, whatever its connection: the key stream drawn
/// before timing, and the commands for entry `op`.
struct Ops {
    keyspace: Arc<Keyspace>,
    stream: Vec<u32>,
    fill: bool,
    ttl_ms: Option<u64>,
}

/// The next command of a worker's stream.
enum Step {
    /// A read of key `i`; on a miss, a fill when `miss: fill`.
    Get(usize),
    /// A write of key `i`.
    Set(usize),
}

impl Ops {
    fn new(redis: &Redis, ctx: &WorkerContext) -> Self {
        Ops {
            keyspace: redis.keyspace.clone(),
            stream: keys::cache_stream(&redis.keyspace.plan, ctx.seed, ctx.index),
            fill: redis.keyspace.plan.miss == MissPolicy::Fill,
            ttl_ms: redis.ttl_ms,
        }
    }

    #[inline]
    fn step(&self, op: u64) -> Step {
        let entry = self.stream[(op % self.stream.len() as u64) as usize];
        let i = (entry & !WRITE_BIT) as usize;
        if entry & WRITE_BIT != 0 {
            Step::Set(i)
        } else {
            Step::Get(i)
        }
    }

    fn set(&self, i: usize) -> redis::Cmd {
        let ks = &self.keyspace;
        let mut cmd = redis::cmd("SET");
        cmd.arg(ks.name(i)).arg(ks.value(i));
        if let Some(ms) = self.ttl_ms {
            cmd.arg("PX").arg(ms);
        }
        cmd
    }

    fn get(&self, i: usize) -> redis::Cmd {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.keyspace.name(i));
        cmd
    }

    /// [`Ops::set`] encoded into `buf` (cleared first).
    fn encode_set(&self, buf: &mut Vec<u8>, i: usize) {
        let ks = &self.keyspace;
        buf.clear();
        match self.ttl_ms {
            Some(ms) => {
                let ms = ms.to_string();
                resp::encode(
                    buf,
                    &[
                        b"SET",
                        ks.name(i).as_bytes(),
                        ks.value(i),
                        b"PX",
                        ms.as_bytes(),
                    ],
                )
            }
            None => resp::encode(buf, &[b"SET", ks.name(i).as_bytes(), ks.value(i)]),
        }
    }

    /// [`Ops::get`] encoded into `buf` (cleared first).
    fn encode_get(&self, buf: &mut Vec<u8>, i: usize) {
        buf.clear();
        resp::encode(buf, &[b"GET", self.keyspace.name(i).as_bytes()]);
    }
}

/// Whether an error means the connection is gone (reopen it before the
/// next command). A blocking connection that timed out still has the late
/// reply coming, so it is out of step and reopened too; a multiplexed one
/// matches replies to requests itself.
fn broken(e: &OpError, blocking: bool) -> bool {
    matches!(e.class, "io" | "connect") || (blocking && e.class == "timeout")
}

/// `client: blocking`: one connection, request then reply, on the worker's thread.
struct BlockingWorker {
    /// `None` after it broke: the next operation reopens it.
    connection: Option<redis::Connection>,
    client: redis::Client,
    timeout: std::time::Duration,
    connect_timeout: std::time::Duration,
    reconnects: Arc<AtomicU64>,
    ops: Ops,
}

impl BlockingWorker {
    #[cold]
    fn reconnect(&mut self) -> Result<(), OpError> {
        let c = self
            .client
            .get_connection_with_timeout(self.connect_timeout)
            .map_err(op_error)?;
        c.set_read_timeout(Some(self.timeout))
            .and_then(|_| c.set_write_timeout(Some(self.timeout)))
            .map_err(op_error)?;
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        self.connection = Some(c);
        Ok(())
    }
}

impl Worker for BlockingWorker {
    fn input_of(&self, _: u64) -> Option<usize> {
        None
    }

    fn call(&mut self, op: u64) -> Result<Outcome, OpError> {
        if self.connection.is_none() {
            self.reconnect()?;
        }
        let result = self.command(op);
        if let Err(e) = &result {
            if broken(e, true) {
                self.connection = None;
            }
        }
        result
    }
}

impl BlockingWorker {
    #[inline]
    fn command(&mut self, op: u64) -> Result<Outcome, OpError> {
        let Some(c) = self.connection.as_mut() else {
            return Err(OpError::new("connect", "not connected"));
        };
        match self.ops.step(op) {
            Step::Set(i) => {
                self.ops.set(i).query::<()>(c).map_err(op_error)?;
                Ok(Outcome::Set)
            }
            Step::Get(i) => {
                let value: Option<Vec<u8>> = self.ops.get(i).query(c).map_err(op_error)?;
                let hit = value.is_some();
                std::hint::black_box(value);
                if !hit && self.ops.fill {
                    self.ops.set(i).query::<()>(c).map_err(op_error)?;
                }
                Ok(Outcome::Get { hit })
            }
        }
    }
}

struct RedisWorker {
    slot: Slot,
    connection: Option<AsyncConn>,
    /// Where rigor's own client connects (`None`: the `redis` crate's client).
    own: Option<resp::Target>,
    /// The command being sent, reused.
    command: Vec<u8>,
    client: redis::Client,
    config: redis::AsyncConnectionConfig,
    reconnects: Arc<AtomicU64>,
    ops: Ops,
}

impl RedisWorker {
    /// One operation; a connection that broke is dropped (from the shared
    /// slot too) and reopened by the next operation, counted in `reconnects`.
    async fn call_reconnecting(&mut self, op: u64) -> Result<Outcome, OpError> {
        if self.connection.is_none() {
            self.connect().await?;
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        let result = self.op(op).await;
        if let Err(e) = &result {
            let own_broken = matches!(&self.connection, Some(AsyncConn::Own(c)) if c.is_broken());
            if own_broken || broken(e, false) {
                self.connection = None;
                *self.slot.borrow_mut() = None;
            }
        }
        result
    }

    async fn connect(&mut self) -> Result<(), OpError> {
        let existing = self.slot.borrow().clone();
        let connection = match existing {
            Some(c) => c,
            None => {
                let c = match &self.own {
                    Some(target) => AsyncConn::Own(resp::Conn::connect(target).await?),
                    None => AsyncConn::Crate(
                        self.client
                            .get_multiplexed_async_connection_with_config(&self.config)
                            .await
                            .map_err(op_error)?,
                    ),
                };
                *self.slot.borrow_mut() = Some(c.clone());
                c
            }
        };
        self.connection = Some(connection);
        Ok(())
    }

    async fn op(&mut self, op: u64) -> Result<Outcome, OpError> {
        let step = self.ops.step(op);
        match self.connection.as_mut() {
            None => Err(OpError::new("connect", "not connected")),
            Some(AsyncConn::Own(c)) => own_op(c, &self.ops, &mut self.command, step).await,
            Some(AsyncConn::Crate(c)) => crate_op(c, &self.ops, step).await,
        }
    }
}

/// One operation on rigor's own connection.
async fn own_op(
    c: &resp::Conn,
    ops: &Ops,
    buf: &mut Vec<u8>,
    step: Step,
) -> Result<Outcome, OpError> {
    match step {
        Step::Set(i) => {
            own_set(c, ops, buf, i).await?;
            Ok(Outcome::Set)
        }
        Step::Get(i) => {
            ops.encode_get(buf, i);
            let hit = match c.request(buf).await? {
                resp::Reply::Bulk(value) => {
                    std::hint::black_box(value);
                    true
                }
                resp::Reply::Nil => false,
                other => return Err(unexpected("GET", &other)),
            };
            if !hit && ops.fill {
                own_set(c, ops, buf, i).await?;
            }
            Ok(Outcome::Get { hit })
        }
    }
}

async fn own_set(c: &resp::Conn, ops: &Ops, buf: &mut Vec<u8>, i: usize) -> Result<(), OpError> {
    ops.encode_set(buf, i);
    match c.request(buf).await? {
        resp::Reply::Status(_) => Ok(()),
        other => Err(unexpected("SET", &other)),
    }
}

#[cold]
fn unexpected(command: &str, reply: &resp::Reply) -> OpError {
    OpError::new(
        "protocol",
        format!("{command} answered {reply:?}, which it never does"),
    )
}

/// One operation on the `redis` crate's multiplexed connection.
async fn crate_op(
    c: &mut MultiplexedConnection,
    ops: &Ops,
    step: Step,
) -> Result<Outcome, OpError> {
    match step {
        Step::Set(i) => {
            ops.set(i).query_async::<()>(c).await.map_err(op_error)?;
            Ok(Outcome::Set)
        }
        Step::Get(i) => {
            let value: Option<Vec<u8>> = ops.get(i).query_async(c).await.map_err(op_error)?;
            let hit = value.is_some();
            std::hint::black_box(value);
            if !hit && ops.fill {
                ops.set(i).query_async::<()>(c).await.map_err(op_error)?;
            }
            Ok(Outcome::Get { hit })
        }
    }
}

impl AsyncWorker for RedisWorker {
    fn input_of(&self, _: u64) -> Option<usize> {
        None
    }

    fn call(
        &mut self,
        op: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Outcome, OpError>> + '_>> {
        Box::pin(self.call_reconnecting(op))
    }

    fn ready(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), OpError>> + '_>> {
        Box::pin(self.connect())
    }
}

impl Kind for Factory {
    type Spec = RedisSpec;

    fn build(
        spec: &RedisSpec,
        _: &TargetPlan,
        plan: &Plan,
    ) -> Result<Box<dyn Target>, TargetError> {
        let cache = plan
            .cache
            .as_ref()
            .ok_or_else(|| TargetError::Invalid("the scenario has no `cache:`".into()))?;
        Ok(Box::new(Redis::new(
            spec,
            Keyspace::new(cache, plan.workload.seed),
        )?))
    }

    /// Offline: the URL parses; whether a server answers is the run's business.
    fn check(spec: &RedisSpec, _: &TargetPlan, _: &Plan) -> Result<(), TargetError> {
        if let Some(url) = &spec.url {
            redis::Client::open(url.as_str())
                .map_err(|e| TargetError::Invalid(format!("`url` is not a Redis URL: {e}")))?;
        }
        Ok(())
    }
}
