//! The typed seam between the scenario model and every layer that treats
//! targets alike: one [`KindSpec`] implemented by each `*Spec`, and the
//! one match ([`TargetSpec::as_kind`]) that maps a variant to it.
//!
//! Adding a kind: its spec struct and `TargetSpec` variant in `model/targets.rs`,
//! its `KindSpec` impl here, its arm in [`TargetSpec::as_kind`] and
//! [`TargetSpec::as_kind_mut`], and its own file in `rigor-targets` with one
//! arm in that crate's build match. The compiler finds every arm that is
//! missing; nothing is matched by string.

use serde_json::{json, Value};

use crate::model::{
    DecisionCacheSpec, LeakSpec, MokaSpec, NoopSpec, OpaBenchSpec, OpaHttpSpec, RedisConnection,
    RedisSpec, RegorusSpec, SpinSpec, TargetSpec, Thresholds, TimedSpec,
};

/// A problem with a target's own fields; the planner places it at the target.
#[derive(Debug, Clone, PartialEq)]
pub struct KindError {
    /// What is wrong, naming the target.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl KindError {
    fn new(message: impl Into<String>, help: &str) -> Self {
        KindError {
            message: message.into(),
            help: Some(help.to_string()),
        }
    }
}

/// What a target takes from the scenario besides its own fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// It evaluates the scenario's `policy:` and `inputs:`.
    pub policy: bool,
    /// It runs the scenario's `cache:` workload.
    pub cache_workload: bool,
}

/// What every target kind answers, whatever it is.
pub trait KindSpec {
    /// The `kind:` string.
    fn kind(&self) -> &'static str;
    /// The target's id.
    fn id(&self) -> &str;
    /// The id, for renaming (the A/A control's copy).
    fn id_mut(&mut self) -> &mut String;
    /// Thresholds this target adds to (or overrides in) the scenario's.
    fn thresholds(&self) -> &Thresholds;
    /// What it takes from the scenario.
    fn needs(&self) -> Needs {
        Needs::default()
    }
    /// The decision cache in front of a policy target, if any.
    fn decision_cache(&self) -> Option<&DecisionCacheSpec> {
        None
    }
    /// The target's own `policy:`, overriding the scenario's.
    fn own_policy(&self) -> Option<&crate::model::Policy> {
        None
    }
    /// Mutable access to the decision cache, for planning.
    fn decision_cache_mut(&mut self) -> Option<&mut DecisionCacheSpec> {
        None
    }
    /// Checks the fields against each other and resolves `${VAR}`s, before
    /// any work starts.
    fn resolve(&mut self) -> Result<(), KindError> {
        Ok(())
    }
    /// The configuration results.json records for this target (credentials
    /// are redacted by the engine afterwards; never put a URL's password here).
    fn config(&self) -> Value;
    /// It loads the policy into an engine or a server of its own, measured
    /// by rigor: a copy of it with another policy is another version
    /// (`--against REV` makes such copies).
    fn loads_policy(&self) -> bool {
        false
    }
    /// The server this target uploads its policy to (`upload: true`), if any.
    fn uploads_to(&self) -> Option<&str> {
        None
    }
    /// A server rigor starts for this target (`server: managed`, its own or
    /// its decision cache's): one per process, so never shared by shards.
    fn managed_server(&self) -> bool {
        self.decision_cache()
            .is_some_and(|c| c.server == Some(crate::model::ServerMode::Managed))
    }
}

impl TargetSpec {
    /// This variant's spec, through the one seam.
    pub fn as_kind(&self) -> &dyn KindSpec {
        match self {
            TargetSpec::Regorus(s) => s,
            TargetSpec::Noop(s) => s,
            TargetSpec::Spin(s) => s,
            TargetSpec::Timed(s) => s,
            TargetSpec::Leak(s) => s,
            TargetSpec::OpaHttp(s) => s,
            TargetSpec::OpaBench(s) => s,
            TargetSpec::Moka(s) => s,
            TargetSpec::Redis(s) => s,
        }
    }

    /// This variant's spec, mutable.
    pub fn as_kind_mut(&mut self) -> &mut dyn KindSpec {
        match self {
            TargetSpec::Regorus(s) => s,
            TargetSpec::Noop(s) => s,
            TargetSpec::Spin(s) => s,
            TargetSpec::Timed(s) => s,
            TargetSpec::Leak(s) => s,
            TargetSpec::OpaHttp(s) => s,
            TargetSpec::OpaBench(s) => s,
            TargetSpec::Moka(s) => s,
            TargetSpec::Redis(s) => s,
        }
    }

    /// The target's id.
    pub fn id(&self) -> &str {
        self.as_kind().id()
    }

    /// The `kind:` string.
    pub fn kind(&self) -> &'static str {
        self.as_kind().kind()
    }

    /// Thresholds that this target adds to (or overrides in) the scenario's.
    pub fn thresholds(&self) -> &Thresholds {
        self.as_kind().thresholds()
    }

    /// Whether the target runs the scenario's `cache:` workload.
    pub fn needs_cache(&self) -> bool {
        self.as_kind().needs().cache_workload
    }

    /// Whether the target evaluates the scenario's policy.
    pub fn needs_policy(&self) -> bool {
        self.as_kind().needs().policy
    }

    /// The decision cache in front of a policy target, if any.
    pub fn decision_cache(&self) -> Option<&DecisionCacheSpec> {
        self.as_kind().decision_cache()
    }

    /// The target's own `policy:`, overriding the scenario's.
    pub fn own_policy(&self) -> Option<&crate::model::Policy> {
        self.as_kind().own_policy()
    }

    /// Mutable access to the decision cache, for planning.
    pub fn decision_cache_mut(&mut self) -> Option<&mut DecisionCacheSpec> {
        self.as_kind_mut().decision_cache_mut()
    }
}

/// The id, kind and thresholds accessors every spec shares.
macro_rules! common {
    ($kind:literal) => {
        fn kind(&self) -> &'static str {
            $kind
        }
        fn id(&self) -> &str {
            &self.id
        }
        fn id_mut(&mut self) -> &mut String {
            &mut self.id
        }
        fn thresholds(&self) -> &Thresholds {
            &self.thresholds
        }
    };
}

/// The decision-cache accessors of a policy spec with a `cache` field.
macro_rules! cached {
    () => {
        fn decision_cache(&self) -> Option<&DecisionCacheSpec> {
            self.cache.as_ref()
        }
        fn decision_cache_mut(&mut self) -> Option<&mut DecisionCacheSpec> {
            self.cache.as_mut()
        }
    };
}

const POLICY: Needs = Needs {
    policy: true,
    cache_workload: false,
};

const CACHE_WORKLOAD: Needs = Needs {
    policy: false,
    cache_workload: true,
};

fn nanos(d: Option<crate::units::Dur>) -> Option<u64> {
    d.map(|t| t.0.as_nanos() as u64)
}

impl DecisionCacheSpec {
    /// What results.json records of a decision cache.
    pub fn config(&self) -> Value {
        json!({
            "kind": self.kind,
            "key": self.key,
            "capacity": self.capacity,
            "ttl_ns": nanos(self.ttl),
            "eviction": self.eviction,
            "server": self.server,
        })
    }
}

impl KindSpec for RegorusSpec {
    common!("regorus");
    fn loads_policy(&self) -> bool {
        true
    }
    fn needs(&self) -> Needs {
        POLICY
    }
    cached!();
    fn own_policy(&self) -> Option<&crate::model::Policy> {
        self.policy.as_ref()
    }
    fn config(&self) -> Value {
        json!({
            "engine": self.engine,
            "cache": self.cache.as_ref().map(DecisionCacheSpec::config),
        })
    }
}

impl KindSpec for NoopSpec {
    common!("noop");
    fn config(&self) -> Value {
        json!({})
    }
}

impl KindSpec for SpinSpec {
    common!("spin");
    fn config(&self) -> Value {
        json!({ "service_time_ns": self.service_time.0.as_nanos() as u64 })
    }
}

impl KindSpec for TimedSpec {
    common!("timed");
    fn resolve(&mut self) -> Result<(), KindError> {
        for (name, value) in [("jitter", self.jitter), ("trial_jitter", self.trial_jitter)] {
            if value.is_some_and(|p| p.0 > 0.3) {
                return Err(KindError::new(
                    format!("target `{}`: `{name}` is above 30%", self.id),
                    "a spread that wide would draw negative durations; write e.g. `5%`",
                ));
            }
        }
        Ok(())
    }
    fn config(&self) -> Value {
        json!({
            "service_time_ns": self.service_time.0.as_nanos() as u64,
            "jitter": self.jitter.map(|p| p.0),
            "trial_jitter": self.trial_jitter.map(|p| p.0),
        })
    }
}

impl KindSpec for LeakSpec {
    common!("leak");
    fn resolve(&mut self) -> Result<(), KindError> {
        if self.leak.0 < 8 {
            return Err(KindError::new(
                format!("target `{}`: `leak` must be at least 8B", self.id),
                "write e.g. `leak: 64B`: each operation keeps that many bytes",
            ));
        }
        if self.every == Some(0) {
            return Err(KindError::new(
                format!("target `{}`: `every` must be at least 1", self.id),
                "write e.g. `every: 1000`: one operation in 1000 keeps `leak` bytes",
            ));
        }
        Ok(())
    }
    fn config(&self) -> Value {
        json!({ "leak_bytes": self.leak.0, "every": self.every.unwrap_or(1) })
    }
}

impl KindSpec for OpaHttpSpec {
    common!("opa-http");
    fn loads_policy(&self) -> bool {
        self.server == Some(crate::model::ServerMode::Managed)
    }
    fn uploads_to(&self) -> Option<&str> {
        self.url.as_deref().filter(|_| self.upload)
    }
    fn own_policy(&self) -> Option<&crate::model::Policy> {
        self.policy.as_ref()
    }
    fn managed_server(&self) -> bool {
        self.server == Some(crate::model::ServerMode::Managed)
            || self
                .cache
                .as_ref()
                .is_some_and(|c| c.server == Some(crate::model::ServerMode::Managed))
    }
    fn needs(&self) -> Needs {
        POLICY
    }
    cached!();
    fn resolve(&mut self) -> Result<(), KindError> {
        let id = &self.id;
        match (self.server, self.url.take()) {
            (Some(_), Some(_)) => Err(KindError::new(
                format!("target `{id}`: `server: managed` and `url` both name the server"),
                "keep `server: managed` for an OPA that rigor starts, or `url` for one you run",
            )),
            (None, None) => Err(KindError::new(
                format!("target `{id}`: no server: `opa-http` needs `url` or `server: managed`"),
                "add `server: managed` (rigor starts the real OPA; install it with `just deps`), or `url: ${OPA_URL:-http://127.0.0.1:8181}`",
            )),
            (Some(_), None) if self.upload => Err(KindError::new(
                format!("target `{id}`: `upload` does not apply to `server: managed`, which starts OPA with the policy and data loaded"),
                "drop `upload`",
            )),
            (Some(_), None) => Ok(()),
            (None, Some(url)) => {
                let url = crate::expand::expand_env(&url, |name| std::env::var(name).ok())
                    .map_err(|e| {
                        KindError::new(
                            format!("target `{id}`: `url`: {e}"),
                            "set the variable, or give a default: `${OPA_URL:-http://127.0.0.1:8181}`",
                        )
                    })?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(KindError::new(
                        format!("target `{id}`: `url` `{url}` is not an http:// or https:// URL"),
                        "write the server's base URL, e.g. `http://127.0.0.1:8181`",
                    ));
                }
                if self.opa_binary.is_some() {
                    return Err(KindError::new(
                        format!("target `{id}`: `opa_binary` applies to `server: managed` only"),
                        "drop `opa_binary`, or replace `url` with `server: managed`",
                    ));
                }
                self.url = Some(url);
                Ok(())
            }
        }
    }
    fn config(&self) -> Value {
        json!({
            "url": self.url,
            "server": self.server,
            "server_metrics": self.server_metrics.unwrap_or(true),
            "server_metrics_every": self.server_metrics_every,
            "upload": self.upload,
            "timeout_ns": nanos(self.timeout),
            "cache": self.cache.as_ref().map(DecisionCacheSpec::config),
        })
    }
}

impl KindSpec for OpaBenchSpec {
    common!("opa-bench");
    fn own_policy(&self) -> Option<&crate::model::Policy> {
        self.policy.as_ref()
    }
    fn needs(&self) -> Needs {
        POLICY
    }
    fn resolve(&mut self) -> Result<(), KindError> {
        if self.max_inputs == Some(0) {
            return Err(KindError {
                message: format!("target `{}`: `max_inputs` must be at least 1", self.id),
                help: None,
            });
        }
        Ok(())
    }
    fn config(&self) -> Value {
        json!({
            "opa_binary": self.opa_binary,
            "max_inputs": self.max_inputs,
        })
    }
}

impl KindSpec for MokaSpec {
    common!("moka");
    fn needs(&self) -> Needs {
        CACHE_WORKLOAD
    }
    fn config(&self) -> Value {
        json!({ "eviction": self.eviction })
    }
}

impl KindSpec for RedisSpec {
    common!("redis");
    fn managed_server(&self) -> bool {
        self.server == Some(crate::model::ServerMode::Managed)
    }
    fn needs(&self) -> Needs {
        CACHE_WORKLOAD
    }
    fn resolve(&mut self) -> Result<(), KindError> {
        let mut c = self.connection();
        resolve_redis(&self.id, &mut c)?;
        self.url = c.url;
        let id = &self.id;
        if self.connections == Some(0) {
            return Err(KindError {
                message: format!("target `{id}`: `connections` must be at least 1"),
                help: None,
            });
        }
        if self.client == crate::model::RedisClient::Blocking && self.connections.is_some() {
            return Err(KindError::new(
                format!("target `{id}`: `connections` does not apply to `client: blocking`, where each worker owns one connection"),
                "drop `connections` (the workers' count is `workload.concurrency`), or use `client: multiplexed`",
            ));
        }
        Ok(())
    }
    fn config(&self) -> Value {
        json!({
            "server": self.server,
            // Never the URL itself: it may carry a password.
            "url": self.url.as_ref().map(|_| "(given)"),
            "connections": self.connections.unwrap_or(1),
            "eviction": self.eviction,
            "timeout_ns": nanos(self.timeout),
        })
    }
}

/// Checks where a Redis server is (a `redis` target's, or a decision
/// cache's): exactly one of `server` and `url`, and `flush: true` with a
/// server rigor does not own.
pub fn resolve_redis(id: &str, c: &mut RedisConnection) -> Result<(), KindError> {
    match (&c.server, &mut c.url) {
        (Some(_), Some(_)) => Err(KindError::new(
            format!("target `{id}` has both `server: managed` and `url`"),
            "keep one: `server: managed` starts a private redis-server, `url` uses yours",
        )),
        (None, None) => Err(KindError::new(
            format!("target `{id}` needs a Redis server"),
            "add `server: managed` (rigor starts redis-server on a free loopback port) or `url: redis://127.0.0.1:6379`",
        )),
        (Some(_), None) => Ok(()),
        (None, Some(url)) => {
            *url = crate::expand::expand_env(url, |name| std::env::var(name).ok()).map_err(|e| {
                KindError::new(
                    format!("target `{id}`: `url`: {e}"),
                    "set the variable, or give a default: `${REDIS_URL:-redis://127.0.0.1:6379}`",
                )
            })?;
            if !(url.starts_with("redis://")
                || url.starts_with("redis+unix://")
                || url.starts_with("unix://"))
            {
                return Err(KindError::new(
                    format!("target `{id}`: `url` `{url}` is not a redis:// URL"),
                    "write e.g. `redis://127.0.0.1:6379/0`",
                ));
            }
            if !c.flush {
                return Err(KindError::new(
                    format!("target `{id}` uses an existing Redis server: rigor empties its database (FLUSHDB) before each trial and sets its `maxmemory`"),
                    "add `flush: true` if that server is rigor's to use, or use `server: managed`",
                ));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> TargetSpec {
        serde_saphyr::from_str(yaml).expect("a target spec")
    }

    #[test]
    fn every_kind_answers_through_the_seam() {
        let cases = [
            ("{kind: regorus, id: a}", "regorus", true, false),
            ("{kind: noop, id: a}", "noop", false, false),
            (
                "{kind: spin, id: a, service_time: 5us}",
                "spin",
                false,
                false,
            ),
            ("{kind: leak, id: a, leak: 64B}", "leak", false, false),
            (
                "{kind: opa-http, id: a, server: managed}",
                "opa-http",
                true,
                false,
            ),
            ("{kind: opa-bench, id: a}", "opa-bench", true, false),
            ("{kind: moka, id: a}", "moka", false, true),
            (
                "{kind: redis, id: a, server: managed}",
                "redis",
                false,
                true,
            ),
        ];
        for (yaml, kind, policy, cache) in cases {
            let mut s = spec(yaml);
            assert_eq!(s.kind(), kind, "{yaml}");
            assert_eq!(s.needs_policy(), policy, "{yaml}");
            assert_eq!(s.needs_cache(), cache, "{yaml}");
            *s.as_kind_mut().id_mut() = "renamed".into();
            assert_eq!(s.id(), "renamed");
            s.as_kind_mut().resolve().expect(yaml);
            assert!(s.as_kind().config().is_object(), "{yaml}");
        }
    }

    #[test]
    fn leak_records_its_truth_and_refuses_a_tiny_one() {
        let s = spec("{kind: leak, id: l, leak: 1KiB}");
        assert_eq!(s.as_kind().config()["leak_bytes"], 1024);
        let mut tiny = spec("{kind: leak, id: l, leak: 4B}");
        let e = tiny.as_kind_mut().resolve().unwrap_err();
        assert!(e.message.contains("at least 8B"), "{}", e.message);
    }

    #[test]
    fn redis_config_never_records_the_url() {
        let mut s = spec("{kind: redis, id: r, url: 'redis://:secret@127.0.0.1:1/0', flush: true}");
        s.as_kind_mut().resolve().unwrap();
        let config = s.as_kind().config().to_string();
        assert!(!config.contains("secret"), "{config}");
    }
}
