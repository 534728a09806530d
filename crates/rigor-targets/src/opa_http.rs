//! `kind: opa-http`: a policy server speaking OPA's REST Data API.
//!
//! Each operation is `POST {url}/v1/data/{query path}` with `{"input": ...}`;
//! the decision is read from `result`. Request bodies are serialised before
//! timing, and whole requests (headers included) prepared from them. The
//! measured path is rigor's own HTTP/1.1 client (`http1`: one
//! keep-alive connection per worker, reconnecting after errors, no
//! connection task); a general-purpose client's pooling, URL handling and
//! task hand-offs would be measured too. Control calls (health check,
//! policy and data upload, `/metrics`) use [`crate::control`].
//!
//! With `server: managed` the server is the real OPA, started by rigor
//! ([`crate::opa::ManagedOpa`]). With `server_metrics` (the default) a
//! seeded sample of requests, one in `server_metrics_every` (16), asks for
//! OPA's own timers (`?metrics=true`): asking on every request cost OPA 13.5%
//! of its throughput under load. The evaluation and handler times are
//! recorded into histograms of the connection (a few ns after the answer is
//! parsed, inside the timed request: parsing the answer is part of the
//! operation either way), and OPA's `/metrics` is read before and after each
//! trial for its Go heap. Answers are parsed into the two fields rigor reads.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rigor_engine::target::{
    Answer, AsyncWorker, AsyncWorkers, Facts, MemoryScope, OpError, Outcome, ServerProbe, Target,
    TargetError, TrialHooks, WorkerContext, Workers,
};
use rigor_scenario::model::OpaHttpSpec;
use rigor_scenario::plan::{DistributionPlan, Plan, PolicyPlan, TargetPlan};

use crate::decision::{self, AsyncHandle, DecisionCache};
use crate::http1;
use crate::opa::{ManagedOpa, Opa};
use crate::Kind;

/// One request in this many asks for OPA's timers by default: asking for
/// every one cost 13.5% of OPA's throughput at 16 connections on the
/// development VM (the server builds, and the client parses, the metrics
/// object), and a sample of one in 16 keeps thousands of requests per trial.
pub const DEFAULT_METRICS_EVERY: u32 = 16;

/// The parts of a Data API answer rigor reads; other fields are skipped
/// without being built.
#[derive(serde::Deserialize)]
struct Reply {
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    metrics: Option<Timers>,
}

/// OPA's two timers of interest, from `?metrics=true`.
#[derive(serde::Deserialize)]
struct Timers {
    #[serde(default)]
    timer_rego_query_eval_ns: Option<u64>,
    #[serde(default)]
    timer_server_handler_ns: Option<u64>,
}

/// Per-request timeout when the scenario sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds `kind: opa-http`.
#[derive(Debug)]
pub struct Factory;

/// A configured endpoint.
#[derive(Debug)]
pub struct OpaHttp {
    endpoint: Arc<Endpoint>,
    requests: Arc<Vec<Prepared>>,
    /// How operations pick inputs; `None` is round-robin.
    order: Option<DistributionPlan>,
    /// The decision cache, with each input's canonical JSON.
    cache: Option<decision::Cached>,
    /// The OPA rigor started, stopped when the target is dropped.
    managed: Option<ManagedOpa>,
}

/// One input's request, whole, without and with `?metrics=true`.
#[derive(Debug)]
struct Prepared {
    plain: Vec<u8>,
    metrics: Vec<u8>,
}

impl Prepared {
    fn new(endpoint: &Endpoint, body: &[u8]) -> Self {
        Prepared {
            plain: http1::post(&endpoint.authority, &endpoint.path, body),
            metrics: http1::post(&endpoint.authority, &endpoint.metrics_path, body),
        }
    }
}

#[derive(Debug)]
struct Endpoint {
    /// `host:port` to connect to.
    authority: String,
    /// Request path, e.g. `/v1/data/rbac/allow`.
    path: String,
    /// Base URL as written (expanded), for messages.
    url: String,
    timeout: Duration,
    /// Requests ask for the server's own timings (`?metrics=true`).
    server_metrics: bool,
    /// `path` with `?metrics=true`.
    metrics_path: String,
    /// On average one request in this many asks for the server's timings.
    metrics_every: u64,
}

/// Splits `http://host:port/base` into `(host:port, /base)`.
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = match url.strip_prefix("http://") {
        Some(r) => r,
        None if url.starts_with("https://") => {
            return Err(format!(
                "`{url}`: https is not supported on the measured path yet; point rigor at the server's plain-HTTP port"
            ))
        }
        None => return Err(format!("`{url}` is not an http:// URL")),
    };
    let (authority, base) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, base.to_string()))
}

/// `data.a.b` -> `a/b`.
pub(crate) fn query_path(query: &str) -> String {
    query.trim_start_matches("data.").replace('.', "/")
}

fn runtime() -> Result<tokio::runtime::Runtime, TargetError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TargetError::Failed(format!("cannot start a tokio runtime: {e}")))
}

impl OpaHttp {
    /// Checks the server answers, uploads policy and data if asked, and
    /// serialises the request bodies.
    pub fn new(
        spec: &OpaHttpSpec,
        policy: &PolicyPlan,
        inputs: &[serde_json::Value],
    ) -> Result<Self, TargetError> {
        let managed = match spec.server {
            Some(_) => Some(ManagedOpa::start(
                &Opa::find(spec.opa_binary.as_deref())?,
                policy,
            )?),
            None => None,
        };
        let url = match (&managed, &spec.url) {
            (Some(m), _) => m.url(),
            (None, Some(u)) => u.trim_end_matches('/').to_string(),
            (None, None) => {
                return Err(TargetError::Invalid(
                    "no server: add `server: managed` or `url:`".into(),
                ))
            }
        };
        let (authority, base) = parse_url(&url).map_err(TargetError::Invalid)?;
        let timeout = spec.timeout.map(|t| t.0).unwrap_or(DEFAULT_TIMEOUT);
        let control_timeout = timeout.max(Duration::from_secs(10));
        let health = crate::control::get(&format!("{url}/health"), control_timeout).map_err(|e| {
            TargetError::Failed(format!(
                "cannot reach {url}: {e}; is the server running? (`rigor serve SCENARIO` starts one)"
            ))
        })?;
        if !health.ok() {
            return Err(TargetError::Failed(format!(
                "{url}/health answered {}; is this an OPA server?",
                health.status
            )));
        }
        if spec.upload && managed.is_none() {
            upload(&url, policy, control_timeout)?;
        }
        let bodies = if inputs.is_empty() {
            vec![Bytes::from_static(b"{}")]
        } else {
            inputs
                .iter()
                .map(|i| Bytes::from(serde_json::json!({ "input": i }).to_string()))
                .collect()
        };
        let server_metrics = spec.server_metrics.unwrap_or(true);
        let path = format!("{base}/v1/data/{}", query_path(&policy.query));
        let endpoint = Endpoint {
            authority,
            metrics_path: format!("{path}?metrics=true"),
            path,
            url,
            timeout,
            server_metrics,
            metrics_every: u64::from(
                spec.server_metrics_every
                    .unwrap_or(DEFAULT_METRICS_EVERY)
                    .max(1),
            ),
        };
        let requests = bodies.iter().map(|b| Prepared::new(&endpoint, b)).collect();
        Ok(OpaHttp {
            endpoint: Arc::new(endpoint),
            requests: Arc::new(requests),
            order: None,
            cache: None,
            managed,
        })
    }
}

fn upload(url: &str, policy: &PolicyPlan, timeout: Duration) -> Result<(), TargetError> {
    for (i, module) in policy.modules.iter().enumerate() {
        let name = std::path::Path::new(&module.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("module{i}"));
        let id = format!("rigor/{i}/{name}");
        put(
            &format!("{url}/v1/policies/{id}"),
            &module.text,
            "text/plain",
            timeout,
        )?;
    }
    if let Some(doc) = policy.data.as_object() {
        for (key, value) in doc {
            put(
                &format!("{url}/v1/data/{key}"),
                &value.to_string(),
                "application/json",
                timeout,
            )?;
        }
    }
    Ok(())
}

fn put(url: &str, body: &str, content_type: &str, timeout: Duration) -> Result<(), TargetError> {
    let reply = crate::control::put(url, body, content_type, timeout)
        .map_err(|e| TargetError::Failed(format!("upload to {url} failed: {e}")))?;
    if !reply.ok() {
        return Err(TargetError::Invalid(format!(
            "upload to {url} was refused ({}): {}",
            reply.status, reply.body
        )));
    }
    Ok(())
}

/// One keep-alive connection.
struct Connection {
    endpoint: Arc<Endpoint>,
    requests: Arc<Vec<Prepared>>,
    offset: u64,
    conn: Option<http1::Conn>,
    /// Input indices drawn before timing, when inputs are not round-robin.
    order: Option<Vec<u32>>,
    cache: Option<(AsyncHandle, Arc<Vec<Vec<u8>>>)>,
    /// The server's own timings of the requests that asked for them.
    timings: Option<Box<ServerTimings>>,
    /// State of the draw that picks those requests.
    sample: u64,
}

/// OPA's per-request timers, as the server reported them.
struct ServerTimings {
    eval: hdrhistogram::Histogram<u64>,
    handler: hdrhistogram::Histogram<u64>,
}

impl ServerTimings {
    fn new() -> Box<Self> {
        Box::new(ServerTimings {
            eval: rigor_engine::stats::new_histogram(),
            handler: rigor_engine::stats::new_histogram(),
        })
    }

    #[inline]
    fn record(&mut self, timers: &Timers) {
        if let Some(ns) = timers.timer_rego_query_eval_ns {
            self.eval.saturating_record(ns.max(1));
        }
        if let Some(ns) = timers.timer_server_handler_ns {
            self.handler.saturating_record(ns.max(1));
        }
    }
}

impl Connection {
    async fn connect(&mut self) -> Result<&mut http1::Conn, OpError> {
        if self.conn.as_ref().is_some_and(|c| !c.reusable()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let e = &self.endpoint;
            let conn = tokio::time::timeout(e.timeout, http1::Conn::connect(&e.authority))
                .await
                .map_err(|_| {
                    OpError::new(
                        "timeout",
                        format!("connecting to {} took longer than {:?}", e.url, e.timeout),
                    )
                })?
                .map_err(|err| {
                    OpError::new("connect", format!("cannot connect to {}: {err}", e.url))
                })?;
            self.conn = Some(conn);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| OpError::new("connect", "no connection"))
    }

    /// Sends one request and returns the decision (`"<undefined>"` when the
    /// server returns no `result`, as OPA does for undefined rules).
    /// The input index of operation `op`.
    fn pick(&self, op: u64) -> usize {
        match &self.order {
            Some(order) => order[(op % order.len() as u64) as usize] as usize,
            None => ((op + self.offset) % self.requests.len() as u64) as usize,
        }
    }

    /// Whether this request asks for the server's timers: a seeded draw,
    /// one in `metrics_every` on average, independent of which input it
    /// sends (a fixed stride would sample the same inputs of a round-robin).
    fn sample_metrics(&mut self) -> bool {
        if self.timings.is_none() {
            return false;
        }
        // xorshift64*
        let mut x = self.sample;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.sample = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
            .is_multiple_of(self.endpoint.metrics_every)
    }

    async fn decide(&mut self, index: usize) -> Result<serde_json::Value, OpError> {
        let ask = self.sample_metrics();
        let endpoint = self.endpoint.clone();
        let requests = self.requests.clone();
        let prepared = &requests[index.min(requests.len() - 1)];
        let message = if ask {
            &prepared.metrics
        } else {
            &prepared.plain
        };
        let result = tokio::time::timeout(endpoint.timeout, async {
            // A connection the server closed while idle fails its first write
            // or read; one fresh connection is tried before it counts.
            let fresh = self.conn.is_none();
            let reply = match self.exchange(&endpoint, message).await {
                Err(e) if !fresh && e.kind == "io" => {
                    self.conn = None;
                    self.exchange(&endpoint, message).await
                }
                other => other,
            }?;
            if let (Some(t), Some(m)) = (&mut self.timings, &reply.metrics) {
                t.record(m);
            }
            Ok(reply
                .result
                .unwrap_or_else(|| serde_json::Value::String("<undefined>".into())))
        })
        .await
        .unwrap_or_else(|_| {
            Err(OpError::new(
                "timeout",
                format!("{} took longer than {:?}", endpoint.path, endpoint.timeout),
            ))
        });
        if let Err(e) = &result {
            // After a transport failure the connection's state is unknown: start
            // afresh. A complete answer (an HTTP error status, bad JSON) leaves it usable.
            if matches!(e.kind, "io" | "timeout" | "connect") {
                self.conn = None;
            }
        }
        result
    }
}

impl Connection {
    /// One request on the open connection (opened first if needed), its
    /// answer parsed.
    async fn exchange(&mut self, endpoint: &Endpoint, message: &[u8]) -> Result<Reply, OpError> {
        let response = self
            .connect()
            .await?
            .request(message)
            .await
            .map_err(|e| request_failed(endpoint, e))?;
        parse_reply(endpoint, response.status, response.body)
    }
}

fn request_failed(endpoint: &Endpoint, e: OpError) -> OpError {
    OpError::new(e.kind, format!("request to {} failed: {e}", endpoint.url))
}

/// A complete answer: its decision and timers, or an error naming the status
/// or the invalid JSON.
fn parse_reply(endpoint: &Endpoint, status: u16, body: &[u8]) -> Result<Reply, OpError> {
    if !(200..300).contains(&status) {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(OpError::new(
            "http_status",
            format!("{} answered {status}: {text}", endpoint.path),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        OpError::new(
            "decode",
            format!("{} answered invalid JSON: {e}", endpoint.path),
        )
    })
}

impl Connection {
    async fn op(&mut self, op: u64) -> Result<Outcome, OpError> {
        let index = self.pick(op);
        let Some((_, canon)) = &self.cache else {
            return self
                .decide(index)
                .await
                .map(|v| drop(std::hint::black_box(v)))
                .map(|_| Outcome::Done);
        };
        let key = decision::key(&canon[index.min(canon.len() - 1)]);
        if let Some((handle, _)) = &mut self.cache {
            if let Some(d) = handle.get(key).await? {
                std::hint::black_box(d);
                return Ok(Outcome::Lookup { hit: true });
            }
        }
        let value = self.decide(index).await?;
        let bytes = serde_json::to_vec(&value)
            .map_err(|e| OpError::new("decode", format!("decision does not serialise: {e}")))?;
        if let Some((handle, _)) = &mut self.cache {
            handle.put(key, Bytes::from(bytes)).await?;
        }
        Ok(Outcome::Lookup { hit: false })
    }
}

impl AsyncWorker for Connection {
    fn call(&mut self, op: u64) -> Pin<Box<dyn Future<Output = Result<Outcome, OpError>> + '_>> {
        Box::pin(self.op(op))
    }

    /// Opens the decision cache's Redis connection before timing.
    fn ready(&mut self) -> Pin<Box<dyn Future<Output = Result<(), OpError>> + '_>> {
        Box::pin(async move {
            match &mut self.cache {
                Some((handle, _)) => DecisionCache::connect(handle).await,
                None => Ok(()),
            }
        })
    }

    /// Warm-up requests' server timings are dropped.
    fn measuring(&mut self) {
        if let Some(t) = &mut self.timings {
            t.eval.reset();
            t.handler.reset();
        }
    }

    fn samples(&mut self) -> Vec<(&'static str, hdrhistogram::Histogram<u64>)> {
        match self.timings.take() {
            Some(t) => [("server.eval", t.eval), ("server.handler", t.handler)]
                .into_iter()
                .filter(|(_, h)| !h.is_empty())
                .collect(),
            None => Vec::new(),
        }
    }
}

/// What a server's Prometheus `/metrics` says of its requests and Go heap:
/// `requests` (the Data API's, `http_request_duration_seconds_count` with
/// `handler="v1/data"`), `alloc_bytes`, `mallocs`, `gc_cycles`, `heap_inuse`.
pub fn go_server_counters(text: &str) -> Option<std::collections::BTreeMap<&'static str, f64>> {
    let mut out = std::collections::BTreeMap::new();
    let mut requests = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let key = match name {
            "go_memstats_alloc_bytes_total" => "alloc_bytes",
            "go_memstats_mallocs_total" => "mallocs",
            "go_gc_duration_seconds_count" => "gc_cycles",
            "go_memstats_heap_inuse_bytes" => "heap_inuse",
            n if n.starts_with("http_request_duration_seconds_count{")
                && n.contains("handler=\"v1/data\"") =>
            {
                *requests.get_or_insert(0.0) += value;
                continue;
            }
            _ => continue,
        };
        out.insert(key, value);
    }
    if out.is_empty() {
        return None;
    }
    // OPA's labelled counter appears with the first decision it serves:
    // none yet is none counted.
    out.insert("requests", requests.unwrap_or(0.0));
    Some(out)
}

impl Target for OpaHttp {
    fn workers(&self) -> Workers<'_> {
        Workers::Async(self)
    }

    fn hooks(&self) -> Option<&dyn TrialHooks> {
        self.cache
            .as_ref()
            .map(|(c, _)| c.as_ref() as &dyn TrialHooks)
    }

    fn facts(&self) -> Facts {
        Facts {
            outcomes: self.cache.is_some(),
            peer: self
                .managed
                .as_ref()
                .map(|m| ("opa".to_string(), m.opa.version.clone())),
            ..Facts::new(MemoryScope::Client)
        }
    }

    fn server(&self) -> Option<&dyn ServerProbe> {
        Some(self)
    }

    fn decide(&self, input: &serde_json::Value) -> Option<Result<Answer, String>> {
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(e) => return Some(Err(e.to_string())),
        };
        let body = serde_json::json!({ "input": input }).to_string();
        let mut connection = Connection {
            endpoint: self.endpoint.clone(),
            requests: Arc::new(vec![Prepared::new(&self.endpoint, body.as_bytes())]),
            offset: 0,
            conn: None,
            order: None,
            cache: None,
            timings: None,
            sample: 1,
        };
        let local = tokio::task::LocalSet::new();
        Some(
            local
                .block_on(&rt, connection.decide(0))
                .map(Answer::from)
                .map_err(|e| e.to_string()),
        )
    }
}

impl ServerProbe for OpaHttp {
    /// The server's `/metrics` (OPA's Prometheus endpoint), read by its
    /// URL (host names resolved); a server without it, or one that cannot
    /// be read, says why.
    fn counters(&self) -> Result<Option<std::collections::BTreeMap<&'static str, f64>>, String> {
        if !self.endpoint.server_metrics {
            return Ok(None);
        }
        let url = format!("{}/metrics", self.endpoint.url);
        let reply = crate::control::get(&url, Duration::from_secs(5))?;
        if reply.status != 200 {
            return Err(format!(
                "{url} answered {} (a server without OPA's Prometheus /metrics; `server_metrics: false` stops asking)",
                reply.status
            ));
        }
        go_server_counters(&reply.body)
            .map(Some)
            .ok_or_else(|| format!("{url} has none of Go's memstats (go_memstats_*) and OPA's request counter (http_request_duration_seconds_count)"))
    }

    /// A managed OPA's RSS, and the Go heap in use from `/metrics` when
    /// the server has it.
    fn memory(&self) -> Option<rigor_engine::target::ServerMemory> {
        let rss = self
            .managed
            .as_ref()
            .and_then(|m| rigor_engine::alloc::rss_of(&m.pid().to_string()));
        let heap = self
            .counters()
            .ok()
            .flatten()
            .and_then(|c| c.get("heap_inuse").map(|v| *v as u64));
        (rss.is_some() || heap.is_some())
            .then_some(rigor_engine::target::ServerMemory { rss, heap })
    }
}

impl AsyncWorkers for OpaHttp {
    /// One connection per worker.
    fn async_workers(
        &self,
        contexts: &[WorkerContext],
    ) -> Result<Vec<Box<dyn AsyncWorker>>, TargetError> {
        contexts.iter().map(|c| self.async_worker(c)).collect()
    }
}

impl OpaHttp {
    fn async_worker(&self, ctx: &WorkerContext) -> Result<Box<dyn AsyncWorker>, TargetError> {
        let order = self.order.as_ref().map(|o| {
            rigor_engine::keys::index_stream(o, self.requests.len() as u64, ctx.seed, ctx.index)
        });
        let cache = match &self.cache {
            Some((c, canon)) => Some((c.async_handle()?, canon.clone())),
            None => None,
        };
        Ok(Box::new(Connection {
            endpoint: self.endpoint.clone(),
            requests: self.requests.clone(),
            offset: ctx.index as u64,
            conn: None,
            order,
            cache,
            timings: self.endpoint.server_metrics.then(ServerTimings::new),
            sample: rigor_engine::keys::derive(ctx.seed, &[0x6d65_7472_6963]) | 1,
        }))
    }
}

impl Kind for Factory {
    type Spec = OpaHttpSpec;

    fn build(
        spec: &OpaHttpSpec,
        target: &TargetPlan,
        plan: &Plan,
    ) -> Result<Box<dyn Target>, TargetError> {
        let policy = Self::policy(target, plan)?;
        let inputs: Vec<_> = plan.inputs.iter().map(|i| i.value.clone()).collect();
        let mut target = OpaHttp::new(spec, policy, &inputs)?;
        target.order = plan.inputs_order;
        if let Some(cache) = &spec.cache {
            let cached = decision::attach(cache, &inputs, |i| {
                Target::decide(&target, i)
                    .map(|a| a.map(|a| a.value))
                    .unwrap_or(Ok(serde_json::Value::Bool(true)))
            })?;
            target.cache = Some(cached);
        }
        Ok(Box::new(target))
    }

    /// A managed OPA is local: `rigor validate` starts it and asks it for
    /// every decision, as `run` does. A server at `url:` is not asked.
    fn offline_decider(
        spec: &OpaHttpSpec,
        target: &TargetPlan,
        plan: &Plan,
    ) -> Result<Option<Box<dyn Target>>, TargetError> {
        let policy = Self::policy(target, plan)?;
        if spec.server.is_none() || spec.cache.is_some() {
            return Ok(None);
        }
        let inputs: Vec<_> = plan.inputs.iter().map(|i| i.value.clone()).collect();
        Ok(Some(Box::new(OpaHttp::new(spec, policy, &inputs)?)))
    }

    /// The URL and the policy offline; whether the server answers is the
    /// run's business. A managed server needs the `opa` binary.
    fn check(spec: &OpaHttpSpec, target: &TargetPlan, plan: &Plan) -> Result<(), TargetError> {
        let policy = Self::policy(target, plan)?;
        match &spec.url {
            Some(url) => parse_url(url).map(|_| ()).map_err(TargetError::Invalid),
            None => Opa::find(spec.opa_binary.as_deref())?.check(policy),
        }
    }
}

impl Factory {
    /// The target's own policy, else the scenario's.
    fn policy<'a>(target: &'a TargetPlan, plan: &'a Plan) -> Result<&'a PolicyPlan, TargetError> {
        target.policy(plan).ok_or_else(|| {
            TargetError::Invalid(
                "the scenario has no `policy:` (its `query` names the rule to ask for)".into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_server_counters_are_read_from_prometheus_text() {
        let text = "# HELP x\ngo_memstats_alloc_bytes_total 8.12624e+06\ngo_memstats_mallocs_total 102242\n\
            go_gc_duration_seconds_count 3\ngo_memstats_heap_inuse_bytes 6.127616e+06\n\
            http_request_duration_seconds_count{code=\"200\",handler=\"v1/data\",method=\"post\"} 40\n\
            http_request_duration_seconds_count{code=\"400\",handler=\"v1/data\",method=\"post\"} 2\n\
            http_request_duration_seconds_count{code=\"200\",handler=\"health\",method=\"get\"} 9\n";
        let c = go_server_counters(text).expect("counters");
        assert_eq!(c["requests"], 42.0);
        assert_eq!(c["alloc_bytes"], 8_126_240.0);
        assert_eq!(c["mallocs"], 102_242.0);
        assert_eq!(c["gc_cycles"], 3.0);
        assert_eq!(c["heap_inuse"], 6_127_616.0);
        // Before OPA's first decision its request counter has no series yet.
        assert_eq!(
            go_server_counters("go_memstats_mallocs_total 1\n").unwrap()["requests"],
            0.0
        );
        assert!(go_server_counters("process_cpu_seconds_total 1\n").is_none());
    }

    #[test]
    fn urls_and_paths() {
        assert_eq!(
            parse_url("http://127.0.0.1:8181").unwrap(),
            ("127.0.0.1:8181".into(), "".into())
        );
        assert_eq!(
            parse_url("http://opa/base/").unwrap(),
            ("opa:80".into(), "/base".into())
        );
        assert!(parse_url("https://x").unwrap_err().contains("https"));
        assert!(parse_url("ftp://x").is_err());
        assert_eq!(query_path("data.rbac.allow"), "rbac/allow");
    }
}
