//! `kind: opa-http`: a policy server speaking OPA's REST Data API.
//!
//! Each operation is `POST {url}/v1/data/{query path}` with `{"input": ...}`;
//! the decision is read from `result`. Each request is written whole from
//! the input's JSON text (kept once, in the plan) into the connection's
//! buffer. The measured path is rigor's own HTTP/1.1 client (`http1`: one
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

mod connection;
mod endpoint;

use std::sync::Arc;
use std::time::Duration;

use rigor_engine::results::cost::PolicyProfile;
use rigor_engine::target::{
    Answer, AsyncWorker, AsyncWorkers, Explain, Facts, MemoryScope, ServerProbe, Target,
    TargetError, TrialHooks, WorkerContext, Workers,
};
use rigor_scenario::model::OpaHttpSpec;
use rigor_scenario::plan::{DistributionPlan, Inputs, Plan, PolicyPlan, TargetPlan};

use crate::decision;
use crate::opa::{ManagedOpa, Opa};
use crate::prometheus::go_server_counters;
use crate::Kind;
use connection::{Connection, ServerTimings};
pub use endpoint::parse_url;
pub(crate) use endpoint::query_path;
use endpoint::{Bodies, Endpoint};

/// One request in this many asks for OPA's timers by default: asking for
/// every one cost 13.5% of OPA's throughput at 16 connections on the
/// development VM (the server builds, and the client parses, the metrics
/// object), and a sample of one in 16 keeps thousands of requests per trial.
pub const DEFAULT_METRICS_EVERY: u32 = 16;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds `kind: opa-http`.
#[derive(Debug)]
pub struct Factory;

/// A configured endpoint.
#[derive(Debug)]
pub struct OpaHttp {
    endpoint: Arc<Endpoint>,
    /// The plan's inputs, each request's body written from one.
    bodies: Bodies,
    /// How operations pick inputs; `None` is round-robin.
    order: Option<DistributionPlan>,
    /// The decision cache, with each input's canonical JSON.
    cache: Option<decision::Cached>,
    /// The OPA rigor started, stopped when the target is dropped.
    managed: Option<ManagedOpa>,
    /// The policy a managed OPA serves, for its profile (`--explain`).
    policy: Option<PolicyPlan>,
}

fn runtime() -> Result<tokio::runtime::Runtime, TargetError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TargetError::Failed(format!("cannot start a tokio runtime: {e}")))
}

impl Explain for OpaHttp {
    fn explain(&self, indices: &[usize], _: Duration) -> Result<PolicyProfile, String> {
        let (Some(m), Some(policy), Bodies::Inputs(inputs)) =
            (&self.managed, &self.policy, &self.bodies)
        else {
            return Err("not a managed OPA: its policy is not known to rigor".into());
        };
        crate::profile::opa_profile(&m.opa, policy, inputs, indices)
    }
}

impl OpaHttp {
    /// Checks the server answers and uploads policy and data if asked.
    pub fn new(
        spec: &OpaHttpSpec,
        policy: &PolicyPlan,
        inputs: Arc<Inputs>,
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
        let server_metrics = spec.server_metrics.unwrap_or(true);
        let path = format!("{base}/v1/data/{}", query_path(&policy.query));
        let endpoint = Endpoint {
            head_plain: endpoint::head(&authority, &path),
            head_metrics: endpoint::head(&authority, &format!("{path}?metrics=true")),
            authority,
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
        Ok(OpaHttp {
            endpoint: Arc::new(endpoint),
            bodies: Bodies::Inputs(inputs),
            order: None,
            cache: None,
            policy: managed.as_ref().map(|_| policy.clone()),
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
            inputs: match &self.bodies {
                Bodies::Inputs(inputs) if !inputs.is_empty() => Some(inputs.len()),
                _ => None,
            },
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

    fn explainer(&self) -> Option<&dyn Explain> {
        // Only an OPA rigor started: its binary and policy are known.
        self.managed.as_ref().map(|_| self as &dyn Explain)
    }

    fn decide(&self, input: &serde_json::Value) -> Option<Result<Answer, String>> {
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(e) => return Some(Err(e.to_string())),
        };
        let body = serde_json::json!({ "input": input }).to_string();
        let mut connection = Connection {
            endpoint: self.endpoint.clone(),
            bodies: Bodies::One(Arc::new(body.into_bytes())),
            message: Vec::new(),
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
            rigor_engine::keys::index_stream(o, self.bodies.len() as u64, ctx.seed, ctx.index)
        });
        let cache = match &self.cache {
            Some((c, canon)) => Some((c.async_handle()?, canon.clone())),
            None => None,
        };
        Ok(Box::new(Connection {
            endpoint: self.endpoint.clone(),
            bodies: self.bodies.clone(),
            message: Vec::with_capacity(1024),
            // Replaying arrivals, operation i is input i: no offset.
            offset: if ctx.replay { 0 } else { ctx.index as u64 },
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
        let mut target = OpaHttp::new(spec, policy, plan.inputs.clone())?;
        target.order = plan.inputs_order;
        if let Some(cache) = &spec.cache {
            let cached = decision::attach(cache, &plan.inputs, |i| {
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
        Ok(Some(Box::new(OpaHttp::new(
            spec,
            policy,
            plan.inputs.clone(),
        )?)))
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
