//! Turning a parsed scenario into a [`Plan`]: the workload, its cases and
//! modes, the targets and their thresholds, the cache, comparisons and
//! regression settings, every default resolved and every mistake located.

use super::*;

pub(super) struct Builder<'a> {
    pub(super) file: &'a Path,
    pub(super) source: &'a str,
    pub(super) base: &'a Path,
}

impl Builder<'_> {
    pub(super) fn error<T>(&self, span: &Spanned<T>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.file, message).at(span.referenced, Some(self.source))
    }

    pub(super) fn build(&self, s: Scenario, mode: Mode) -> Result<Plan, ScenarioError> {
        let name = &s.name;
        if name.value.is_empty()
            || !name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(self
                .error(
                    name,
                    format!(
                        "scenario name `{}` is not usable as a directory name",
                        name.value
                    ),
                )
                .with_help("use letters, digits, `-`, `_` and `.` only")
                .into());
        }
        let mut workload = self.workload(&s.workload, mode, &s.modes)?;
        let mut targets = self.targets(&s)?;
        // A soak is a question about memory: it is graded on growth even
        // when the scenario names no level (which may set its own).
        if workload.soak.is_some() {
            for t in &mut targets {
                t.thresholds
                    .entry(DEFAULT_GROWTH_METRIC.to_string())
                    .or_insert(Threshold {
                        target: Some(DEFAULT_GROWTH_TARGET),
                        critical: Some(DEFAULT_GROWTH_CRITICAL),
                    });
            }
        }
        let aa_control = if mode == Mode::Full {
            let mut copy = targets[0].clone();
            let id = format!("{}{AA_SUFFIX}", copy.id());
            *copy.spec.as_kind_mut().id_mut() = id.clone();
            targets.push(copy);
            Some(id)
        } else {
            None
        };
        let mut regression = match &s.regression {
            Some(r) => {
                for name in r.value.metrics.keys() {
                    if crate::metrics::metric(name).is_none() {
                        let d = self.error(
                            r,
                            format!("`regression.metrics` names `{name}`, which is not a metric"),
                        );
                        return Err(match crate::metrics::did_you_mean(
                            name,
                            crate::metrics::metric_names().iter().copied(),
                        ) {
                            Some(best) => d.with_help(format!("did you mean `{best}`?")),
                            None => d.with_help(
                                "see `rigor metrics`, or the metric table in docs/scenarios.md",
                            ),
                        }
                        .into());
                    }
                }
                RegressionPlan {
                    threshold: r.value.threshold.map_or(0.10, |p| p.0),
                    metrics: r
                        .value
                        .metrics
                        .iter()
                        .map(|(k, v)| (k.clone(), v.0))
                        .collect(),
                    noisy_cv: r.value.noisy_cv.map_or(0.05, |p| p.0),
                    paired_by_default: false,
                }
            }
            None => RegressionPlan::default(),
        };
        // A comparison graded against a regression threshold is sharpest
        // in paired rounds (drift cancels): the default wherever every
        // target can take rounds; `paired: false` keeps trial medians.
        let paired_by_default = s.compare.as_ref().is_some_and(|c| c.paired.is_none())
            && s.regression
                .as_ref()
                .is_some_and(|r| r.value.threshold.is_some())
            && workload.rate.is_empty()
            && matches!(workload.stop, Stop::Duration(_))
            && workload.soak.is_none()
            && targets.len() >= 2
            && targets.iter().all(|t| t.spec.kind() != "opa-bench");
        regression.paired_by_default = paired_by_default;
        if let Some(c) = s
            .compare
            .as_ref()
            .filter(|c| c.paired == Some(true) || paired_by_default)
        {
            let w = &s.workload.value;
            let round = w.round.map_or(DEFAULT_ROUND, |d| d.0);
            if round < Duration::from_millis(1) {
                return Err(self
                    .error(&s.workload, "`round` must be at least 1ms")
                    .with_help("e.g. `round: 10ms`")
                    .into());
            }
            if !workload.rate.is_empty()
                || matches!(workload.stop, Stop::Iterations(_))
                || workload.soak.is_some()
            {
                return Err(self
                    .error(
                        &c.baseline,
                        "`compare: { paired: true }` runs closed loop for a `duration`",
                    )
                    .with_help(
                        "remove `rate`, `iterations` or `soak` from the workload, or drop `paired`",
                    )
                    .into());
            }
            workload.round = Some(round);
        } else if s.workload.value.round.is_some() {
            return Err(self
                .error(&s.workload, "`round` applies to paired comparisons only")
                .with_help("add `compare: { baseline: <id>, paired: true }`, or remove `round`")
                .into());
        }
        let compare = match &s.compare {
            Some(c) if !targets.iter().any(|t| t.id() == c.baseline.value) => {
                let ids: Vec<&str> = targets.iter().map(|t| t.id()).collect();
                let mut d = self.error(
                    &c.baseline,
                    format!(
                        "`compare.baseline` names `{}`, which is not a target",
                        c.baseline.value
                    ),
                );
                d = match crate::metrics::did_you_mean(&c.baseline.value, ids.iter().copied()) {
                    Some(best) => d.with_help(format!("did you mean `{best}`?")),
                    None => d.with_help(format!("target ids: {}", ids.join(", "))),
                };
                return Err(d.into());
            }
            Some(c) => Some(c.baseline.value.clone()),
            None => None,
        };
        let verify = match s.verify {
            None | Some(crate::model::Verify::Gate(true)) => VerifyMode::Gate,
            Some(crate::model::Verify::Gate(false)) => VerifyMode::Off,
            Some(crate::model::Verify::Word(crate::model::VerifyWord::Warn)) => VerifyMode::Warn,
        };
        let policy = match &s.policy {
            Some(p) => Some(self.policy(p)?),
            None => {
                if let Some(t) = s
                    .targets
                    .iter()
                    .find(|t| t.value.needs_policy() && t.value.own_policy().is_none())
                {
                    return Err(self
                        .error(
                            t,
                            format!(
                                "target `{}` evaluates a policy, but the scenario has no `policy:`",
                                t.value.id()
                            ),
                        )
                        .with_help("add `policy: { files: [...], query: data.<package>.<rule> }`")
                        .into());
                }
                None
            }
        };
        let mut inputs = Inputs::new();
        let mut generated = Vec::new();
        let mut traffic = Vec::new();
        let query = policy.as_ref().map(|p| p.query.as_str());
        for (i, input) in s.inputs.iter().enumerate() {
            let sink = (&mut inputs, &mut generated, &mut traffic);
            self.input(input, i, workload.seed, query, sink)?;
        }

        let cache = match &s.cache {
            Some(c) => {
                let (plan, capacities) = self.cache(c)?;
                workload.capacity = capacities;
                Some(plan)
            }
            None => {
                if let Some(t) = s.targets.iter().find(|t| t.value.needs_cache()) {
                    return Err(self
                        .error(
                            t,
                            format!(
                                "target `{}` runs the cache workload, but the scenario has no `cache:`",
                                t.value.id()
                            ),
                        )
                        .with_help("add e.g. `cache: { keys: 100000, distribution: zipfian, capacity: 10000 }`")
                        .into());
                }
                None
            }
        };
        if let (Some(c), false) = (&s.cache, s.targets.iter().any(|t| t.value.needs_cache())) {
            return Err(self
                .error(c, "`cache:` is set but no target runs it")
                .with_help("add a `kind: moka` or `kind: redis` target, or remove `cache:` (a policy target's decision cache is configured on the target)")
                .into());
        }
        if let Some(speed) = workload.recorded {
            let arrivals = self.arrivals(&s.workload, &inputs, speed)?;
            let span = arrivals.last().copied().unwrap_or(0);
            // The case's rate: the log's mean, sped up (operations over
            // the span between the first and the last start).
            workload.rate = vec![if span > 0 {
                (arrivals.len() - 1) as f64 * 1e9 / span as f64
            } else {
                1.0
            }];
            workload.arrivals = Some(arrivals.into());
            if s.inputs_distribution.is_some() {
                return Err(self
                    .error(
                        &s.workload,
                        "`rate: recorded` replays inputs in their logged order",
                    )
                    .with_help("remove `inputs_distribution`")
                    .into());
            }
        }
        let inputs_order = match &s.inputs_distribution {
            Some(d) => {
                if inputs.is_empty() {
                    return Err(self
                        .error(
                            d,
                            "`inputs_distribution` is set but the scenario has no `inputs:`",
                        )
                        .into());
                }
                match d.value.distribution {
                    Distribution::Sequential => None,
                    _ => Some(self.distribution(
                        d,
                        d.value.distribution,
                        d.value.zipf_exponent,
                        d.value.hotspot_keys,
                        d.value.hotspot_ops,
                    )?),
                }
            }
            None => None,
        };
        let pairs = match (&compare, workload.round) {
            (Some(base), Some(_)) => targets
                .iter()
                .filter(|t| t.id() != base)
                .map(|t| (base.clone(), t.id().to_string()))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Plan {
            name: name.value.clone(),
            description: s.description.clone(),
            path: self.file.to_path_buf(),
            source: String::new(),
            policy,
            inputs: std::sync::Arc::new(inputs),
            generated,
            traffic,
            overrides: Vec::new(),
            only: Vec::new(),
            fingerprint: String::new(),
            workload,
            targets,
            mode,
            compare,
            verify,
            explain: s.explain.unwrap_or(false),
            cache,
            inputs_order,
            regression,
            pairs,
            aa_control,
        })
    }

    pub(super) fn distribution<T>(
        &self,
        at: &Spanned<T>,
        kind: Distribution,
        zipf_exponent: Option<f64>,
        hotspot_keys: Option<Percent>,
        hotspot_ops: Option<Percent>,
    ) -> Result<DistributionPlan, Diagnostic> {
        if zipf_exponent.is_some() && kind != Distribution::Zipfian {
            return Err(self
                .error(
                    at,
                    "`zipf_exponent` applies to `distribution: zipfian` only",
                )
                .with_help("remove it, or set `distribution: zipfian`"));
        }
        if (hotspot_keys.is_some() || hotspot_ops.is_some()) && kind != Distribution::Hotspot {
            return Err(self
                .error(
                    at,
                    "`hotspot_keys` and `hotspot_ops` apply to `distribution: hotspot` only",
                )
                .with_help("remove them, or set `distribution: hotspot`"));
        }
        let s = zipf_exponent.unwrap_or(0.99);
        if !(s.is_finite() && s > 0.0 && s <= 10.0) {
            return Err(self
                .error(at, format!("`zipf_exponent` {s} is out of range"))
                .with_help("use a value above 0 and at most 10; 0.99 is YCSB's default"));
        }
        let hot_keys = hotspot_keys.unwrap_or(Percent(0.2)).0;
        if hot_keys <= 0.0 {
            return Err(self.error(at, "`hotspot_keys` must be above 0%"));
        }
        Ok(DistributionPlan {
            shape: kind,
            zipf_exponent: s,
            hotspot_keys: hot_keys,
            hotspot_ops: hotspot_ops.unwrap_or(Percent(0.8)).0,
        })
    }

    pub(super) fn cache(
        &self,
        c: &Spanned<crate::model::CacheWorkload>,
    ) -> Result<(CachePlan, Vec<Capacity>), Diagnostic> {
        let v = &c.value;
        if v.keys == 0 || v.keys > MAX_KEYS {
            return Err(self
                .error(
                    c,
                    format!("`keys` is {}; it must be 1 to {MAX_KEYS}", v.keys),
                )
                .with_help(
                    "key names are built in memory before timing, which bounds the keyspace",
                ));
        }
        let kind = v.distribution.unwrap_or(Distribution::Zipfian);
        let distribution =
            self.distribution(c, kind, v.zipf_exponent, v.hotspot_keys, v.hotspot_ops)?;
        let value = v
            .value_size
            .unwrap_or(crate::units::SizeRange { min: 100, max: 100 });
        if value.max == 0 {
            return Err(self.error(c, "`value_size` must be above 0B"));
        }
        let capacities = v
            .capacity
            .as_ref()
            .map(|c| c.to_vec())
            .unwrap_or_else(|| vec![Capacity::Entries(v.keys)]);
        if capacities.is_empty() {
            return Err(self
                .error(c, "`capacity` is an empty list")
                .with_help("give a capacity such as `10000` (entries) or `64MiB`, or drop it"));
        }
        if v.ttl.is_some_and(|t| t.0 < Duration::from_millis(1)) {
            return Err(self
                .error(c, "`ttl` must be at least 1ms (Redis' resolution)")
                .with_help("write e.g. `ttl: 60s`, or drop it for no expiry"));
        }
        Ok((
            CachePlan {
                keys: v.keys,
                distribution,
                value_min: value.min,
                value_max: value.max,
                read_ratio: v.read_ratio.unwrap_or(Percent(1.0)).0,
                miss: v.miss.unwrap_or_default(),
                ttl: v.ttl.map(|t| t.0),
                preload: v.preload.unwrap_or(true),
            },
            capacities,
        ))
    }

    /// Checks where a Redis server is: managed, or a URL the user allows rigor to flush.
    /// A kind's own complaint, placed at its target.
    pub(super) fn kind_error<T>(&self, at: &Spanned<T>, e: crate::kinds::KindError) -> Diagnostic {
        let d = self.error(at, e.message);
        match e.help {
            Some(h) => d.with_help(h),
            None => d,
        }
    }

    pub(super) fn workload(
        &self,
        w: &Spanned<crate::model::Workload>,
        mode: Mode,
        modes: &crate::model::ModeOverrides,
    ) -> Result<WorkloadPlan, Diagnostic> {
        let v = &w.value;
        let concurrency = v
            .concurrency
            .as_ref()
            .map(|c| c.to_vec())
            .unwrap_or_else(|| vec![1]);
        if concurrency.is_empty() || concurrency.contains(&0) {
            return Err(self.error(
                w,
                "`concurrency` must be at least 1 (a list must not be empty)",
            ));
        }
        // A soak scenario (soak, no duration or iterations) is a soak in
        // every mode; `--mode soak` makes any scenario one.
        let soak_only = v.soak.is_some() && v.duration.is_none() && v.iterations.is_none();
        let is_soak = soak_only || mode == Mode::Soak;
        if v.soak.is_some_and(|d| d.0.is_zero()) {
            return Err(self.error(w, "`soak` must be longer than 0s"));
        }
        let sample = v.sample.map(|d| d.0).unwrap_or(DEFAULT_SAMPLE);
        let window = v.window.map(|d| d.0).unwrap_or(DEFAULT_WINDOW);
        if window < Duration::from_millis(1) {
            return Err(self.error(w, "`window` must be at least 1ms").with_help(
                "e.g. `window: 1s`: throughput, p99 and errors are charted per window",
            ));
        }
        if sample.is_zero() {
            return Err(self
                .error(w, "`sample` must be longer than 0s")
                .with_help("e.g. `sample: 1s`: a soak samples memory this often"));
        }
        if v.sample.is_some() && v.soak.is_none() && mode != Mode::Soak {
            return Err(self.error(w, "`sample` applies to soaks only").with_help(
                "add e.g. `soak: 10m` (run it with `--mode soak`), or remove `sample`",
            ));
        }
        let mut stop = match (v.duration, v.iterations) {
            _ if is_soak => Stop::Duration(v.soak.map(|d| d.0).unwrap_or(DEFAULT_SOAK)),
            (Some(d), None) if d.0.is_zero() => {
                return Err(self.error(w, "`duration` must be longer than 0s"))
            }
            (Some(d), None) => Stop::Duration(d.0),
            (None, Some(0)) => return Err(self.error(w, "`iterations` must be at least 1")),
            (None, Some(n)) => Stop::Iterations(n),
            (Some(_), Some(_)) => {
                return Err(self
                    .error(w, "`workload` has both `duration` and `iterations`")
                    .with_help("keep one: `duration: 5s` measures for a time, `iterations: 100000` counts operations per worker"))
            }
            (None, None) => {
                return Err(self
                    .error(w, "`workload` needs `duration` or `iterations`")
                    .with_help("add e.g. `duration: 5s` or `iterations: 100000`"))
            }
        };
        let recorded = matches!(v.rate, Some(crate::model::RateSpec::Recorded(_)));
        let mut rate: Vec<f64> = v.rate.as_ref().map(|r| r.rates()).unwrap_or_default();
        if recorded {
            // The log's own rate, set once the inputs are read.
            rate = vec![RATE_FROM_LOG];
        } else if v.speed.is_some() {
            return Err(self
                .error(w, "`speed` applies to `rate: recorded`")
                .with_help(
                "remove `speed`, or set `rate: recorded` to replay a decision log's arrival times",
            ));
        }
        if v.rate.is_some() && rate.is_empty() {
            return Err(self
                .error(w, "`rate` is an empty list")
                .with_help("give a rate such as `1000/s`, or drop `rate` for closed loop"));
        }
        if !rate.is_empty() && matches!(stop, Stop::Iterations(_)) {
            return Err(self
                .error(w, "rate mode runs for a `duration`, not `iterations`")
                .with_help("replace `iterations` with e.g. `duration: 10s`; the rate fixes how many operations that is"));
        }
        let mut warmup = v.warmup.map(|d| d.0).unwrap_or_default();
        let mut trials = v.trials.unwrap_or(1);
        if trials == 0 {
            return Err(self.error(w, "`trials` must be at least 1"));
        }
        match mode {
            Mode::Quick => {
                trials = 1;
                warmup = warmup.min(Duration::from_millis(200));
                stop = match stop {
                    Stop::Duration(d) => Stop::Duration(d.min(Duration::from_secs(1))),
                    Stop::Iterations(n) => Stop::Iterations(n.min(10_000)),
                };
            }
            Mode::Full => {
                trials = trials.max(FULL_TRIALS);
                warmup = warmup.max(Duration::from_secs(1));
                stop = match stop {
                    Stop::Duration(d) => Stop::Duration(d * 2),
                    Stop::Iterations(n) => Stop::Iterations(n.saturating_mul(2)),
                };
            }
            // A soak is one long trial: its samples over time are the data.
            Mode::Soak => trials = 1,
            Mode::Default | Mode::Profile => {}
        }
        let over = match mode {
            Mode::Quick => modes.quick.as_ref(),
            Mode::Full => modes.full.as_ref(),
            Mode::Profile => modes.profile.as_ref(),
            Mode::Soak => modes.soak.as_ref(),
            Mode::Default => None,
        };
        if let Some(o) = over {
            if let Some(t) = o.trials {
                if t == 0 {
                    return Err(self.error(w, "a mode's `trials` must be at least 1"));
                }
                trials = t;
            }
            if let Some(d) = o.warmup {
                warmup = d.0;
            }
            match (o.duration, o.iterations, stop) {
                (Some(d), _, Stop::Duration(_)) if !d.0.is_zero() => stop = Stop::Duration(d.0),
                (_, Some(n), Stop::Iterations(_)) if n > 0 => stop = Stop::Iterations(n),
                (None, None, _) => {}
                _ => {
                    return Err(self
                        .error(w, "a mode override must set the same kind of stop as the workload (`duration` or `iterations`), above 0")
                        .with_help("e.g. `modes: { full: { duration: 10s } }` for a workload with `duration`"))
                }
            }
        }
        let timing = v.timing.unwrap_or_default();
        if timing == Timing::Batch && !rate.is_empty() {
            return Err(self
                .error(w, "`timing: batch` does not apply in rate mode: every operation has its own start time")
                .with_help("remove `timing`, or remove `rate` for closed loop"));
        }
        let soak = is_soak.then(|| SoakPlan {
            sample: if mode == Mode::Quick {
                sample.min(Duration::from_millis(100))
            } else {
                sample
            },
        });
        Ok(WorkloadPlan {
            round: None,
            shard: None,
            soak,
            window: if mode == Mode::Quick && v.window.is_none() {
                window.min(Duration::from_millis(100))
            } else {
                window
            },
            concurrency,
            warmup,
            stop,
            trials,
            rate,
            recorded: recorded.then(|| v.speed.map_or(1.0, |s| s.0)),
            arrivals: None,
            seed: v.seed.unwrap_or_else(default_seed),
            timing,
            capacity: Vec::new(),
            threads: match v.threads {
                Some(0) => return Err(self.error(w, "`threads` must be at least 1")),
                t => t,
            },
        })
    }

    pub(super) fn targets(&self, s: &Scenario) -> Result<Vec<TargetPlan>, Diagnostic> {
        if s.targets.is_empty() {
            return Err(Diagnostic::new(self.file, "`targets` is empty")
                .with_help("add at least one target, e.g. `- { id: embedded, kind: regorus }`"));
        }
        let mut out: Vec<TargetPlan> = Vec::new();
        for t in &s.targets {
            let id = t.value.id();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(self
                    .error(t, format!("target id `{id}` is not valid"))
                    .with_help("use letters, digits, `-`, `_` and `.` only"));
            }
            if out.iter().any(|o| o.id() == id) {
                return Err(self
                    .error(t, format!("target id `{id}` is used twice"))
                    .with_help("give every target its own `id`"));
            }
            let mut spec = t.value.clone();
            spec.as_kind_mut()
                .resolve()
                .map_err(|e| self.kind_error(t, e))?;
            if let Some(dc) = spec.decision_cache_mut() {
                if let Some(key) = &dc.key {
                    let bad = key.iter().find(|p| {
                        let mut parts = p.split('.');
                        parts.next() != Some("input") || parts.any(str::is_empty)
                    });
                    if key.is_empty() || bad.is_some() {
                        return Err(self
                            .error(t, format!(
                                "target `{id}`: cache `key` {}",
                                bad.map_or("is empty".to_string(), |p| format!("path `{p}` is not a path into the input"))
                            ))
                            .with_help("list paths such as `input.user` or `input.resource.type`, or drop `key` to key on the whole input"));
                    }
                }
                if dc.kind == crate::model::DecisionStore::Redis {
                    let mut c = dc.connection();
                    crate::kinds::resolve_redis(id, &mut c).map_err(|e| self.kind_error(t, e))?;
                    dc.url = c.url;
                } else if dc.server.is_some() || dc.url.is_some() || dc.flush {
                    return Err(self
                        .error(t, format!("target `{id}`: `server`, `url` and `flush` apply to a `kind: redis` decision cache only"))
                        .with_help("remove them, or set `kind: redis`"));
                }
            }
            let mut thresholds = s.thresholds.0.clone();
            let Thresholds(own) = t.value.thresholds();
            thresholds.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
            // Failed operations never pass silently: a scenario that says
            // nothing about errors allows none (it may loosen this).
            thresholds
                .entry(DEFAULT_ERRORS_METRIC.to_string())
                .or_insert(Threshold {
                    target: None,
                    critical: Some(0.0),
                });
            let policy = match spec.own_policy() {
                // Fields inside a target lose their own positions in the
                // tagged enum: a problem is located at the target.
                Some(p) => Some(self.policy(p).map_err(|d| match d.line {
                    Some(_) => d,
                    None => {
                        let mut at = self.error(t, format!("target `{id}`: {}", d.message));
                        at.help = d.help;
                        at
                    }
                })?),
                None => None,
            };
            // Two versions uploaded to one server replace each other: one
            // target would measure the other's policy.
            if let Some(url) = spec.as_kind().uploads_to() {
                if let Some(other) = out
                    .iter()
                    .find(|o| o.spec.as_kind().uploads_to() == Some(url) && o.policy != policy)
                {
                    return Err(self
                        .error(
                            t,
                            format!(
                                "target `{id}` uploads a policy to {} where `{}` uploads another: the second upload would replace the first",
                                crate::redact::redact_credentials(url),
                                other.id()
                            ),
                        )
                        .with_help("give each version its own server (`server: managed`, or another `url`)"));
                }
            }
            out.push(TargetPlan {
                spec,
                thresholds,
                policy,
            });
        }
        Ok(out)
    }
}
