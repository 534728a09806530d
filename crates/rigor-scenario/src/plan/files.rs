//! What a scenario names on disk, read and checked: paths (with the file
//! beside a misspelt one suggested), policy files (prints erased, the query
//! checked against the rules), data documents and inputs.

use super::*;
use crate::inputs::Numbering;

impl Builder<'_> {
    pub(super) fn resolve(&self, path: &Spanned<String>) -> Result<PathBuf, Diagnostic> {
        let full = self.base.join(&path.value);
        if !full.exists() {
            return Err(self
                .error(
                    path,
                    format!(
                        "`{}` does not exist (looked for {})",
                        path.value,
                        full.display()
                    ),
                )
                .with_help(
                    match nearest_file(&full).map(|n| {
                        Path::new(&path.value)
                            .with_file_name(n)
                            .display()
                            .to_string()
                    }) {
                        Some(near) => format!(
                            "did you mean `{near}`? (paths are relative to the scenario file)"
                        ),
                        None => "paths are relative to the scenario file".into(),
                    },
                ));
        }
        Ok(full)
    }

    /// Opens a regular file for reading a line at a time.
    pub(super) fn open(
        &self,
        span: &Spanned<String>,
        path: &Path,
    ) -> Result<std::io::BufReader<std::fs::File>, Diagnostic> {
        if path.exists() && !path.is_file() && !path.is_dir() {
            return Err(self
                .error(span, format!("{} is not a regular file", path.display()))
                .with_help("name a file (devices and pipes are not read)"));
        }
        std::fs::File::open(path)
            .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
            .map_err(|e| self.error(span, format!("cannot read {}: {e}", path.display())))
    }

    pub(super) fn read(&self, span: &Spanned<String>, path: &Path) -> Result<String, Diagnostic> {
        // A device or pipe (`/dev/zero`, a FIFO) would never end or block forever.
        if path.exists() && !path.is_file() && !path.is_dir() {
            return Err(self
                .error(span, format!("{} is not a regular file", path.display()))
                .with_help("name a file (devices and pipes are not read)"));
        }
        std::fs::read_to_string(path)
            .map_err(|e| self.error(span, format!("cannot read {}: {e}", path.display())))
    }

    pub(super) fn policy(&self, p: &crate::model::Policy) -> Result<PolicyPlan, Diagnostic> {
        let mut modules = Vec::new();
        let prints = p.prints.unwrap_or_default();
        let mut print_calls = 0;
        if p.files.is_empty() {
            return Err(Diagnostic::new(self.file, "`policy.files` is empty")
                .with_help("list the Rego files or directories to load"));
        }
        for f in &p.files {
            let full = self.resolve(f)?;
            let mut paths = Vec::new();
            if full.is_dir() {
                let entries = std::fs::read_dir(&full)
                    .map_err(|e| self.error(f, format!("cannot list {}: {e}", full.display())))?;
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "rego") && path.is_file() {
                        paths.push(path);
                    }
                }
                paths.sort();
                if paths.is_empty() {
                    return Err(
                        self.error(f, format!("directory `{}` holds no *.rego file", f.value))
                    );
                }
            } else {
                paths.push(full);
            }
            for path in paths {
                let mut text = self.read(f, &path)?;
                let calls = crate::rego_text::count_prints(&text);
                print_calls += calls;
                let mut printing = None;
                if calls > 0 && prints == crate::model::Prints::Erase {
                    let erased = crate::rego_text::erase_prints(&text).0;
                    printing = Some(std::mem::replace(&mut text, erased));
                }
                modules.push(PolicyModule {
                    printing,
                    path: path.display().to_string(),
                    text,
                });
            }
        }
        let mut data = serde_json::Value::Object(Default::default());
        for d in &p.data {
            let full = self.resolve(d)?;
            let doc = self.document(d, &full)?;
            if !doc.is_object() {
                return Err(self
                    .error(d, format!("data document `{}` is not an object", d.value))
                    .with_help(
                        "data files hold a JSON/YAML object; its keys become `data.<key>`",
                    ));
            }
            merge(&mut data, doc);
        }
        let query = p.query.value.trim();
        if !query.starts_with("data.") || query.len() <= 5 || query.contains(char::is_whitespace) {
            return Err(self
                .error(&p.query, format!("query `{query}` is not a rule path"))
                .with_help("write the rule to evaluate as `data.<package>.<rule>`, e.g. `data.authz.allow`"));
        }
        // A misspelt query must not reach the targets: regorus says only
        // "not a valid rule path", and OPA answers `undefined` to everything.
        let rules = crate::rego_text::Rules::of(modules.iter().map(|m| m.text.as_str()));
        if let Err(miss) = rules.check(query, &data) {
            let message = match &miss.package {
                Some(package) => format!(
                    "query `{query}` names no rule of the policy: package `{package}` defines {}",
                    if miss.rules.is_empty() {
                        "no rule".to_string()
                    } else {
                        miss.rules
                            .iter()
                            .map(|r| format!("`{r}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
                None => format!(
                    "query `{query}` is in no package of the policy (packages: {})",
                    rules
                        .packages
                        .keys()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let d = self.error(&p.query, message);
            return Err(match miss.suggestion {
                Some(best) => d.with_help(format!("did you mean `{best}`?")),
                None => d.with_help("write the rule to evaluate as `data.<package>.<rule>`"),
            });
        }
        Ok(PolicyPlan {
            modules,
            data,
            query: query.to_string(),
            rego_v0: p.rego_v0,
            prints,
            print_calls,
            query_is_set: rules.is_set(query),
        })
    }

    /// Reads one JSON or YAML document.
    pub(super) fn document(
        &self,
        span: &Spanned<String>,
        path: &Path,
    ) -> Result<serde_json::Value, Diagnostic> {
        let text = self.read(span, path)?;
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml {
            crate::parse_yaml(path, &text).map_err(|d| *d)
        } else {
            serde_json::from_str(&text).map_err(|e| Diagnostic {
                file: path.to_path_buf(),
                line: Some(e.line() as u64),
                column: Some(e.column() as u64),
                message: format!("invalid JSON: {e}"),
                help: Some("fix the JSON (or name the file .yaml if it is YAML)".into()),
                source_line: text
                    .lines()
                    .nth(e.line().saturating_sub(1))
                    .map(str::to_string),
            })
        }
    }

    pub(super) fn input(
        &self,
        input: &Spanned<InputSource>,
        index: usize,
        workload_seed: u64,
        query: Option<&str>,
        (out, generated, traffic): InputSink<'_>,
    ) -> Result<(), Diagnostic> {
        let expect = input.value.expect().map(normalize_expect);
        let path = match &input.value {
            InputSource::DecisionLog { log, expect } => {
                let recorded = match expect {
                    None => false,
                    Some(serde_json::Value::String(s)) if s == "recorded" => true,
                    Some(other) => {
                        return Err(self
                            .error(
                                input,
                                format!("inputs[{index}]: `expect: {other}` on a decision log"),
                            )
                            .with_help(
                                "write `expect: recorded` to check each replayed decision against the logged one, or leave `expect` out",
                            ))
                    }
                };
                let Some(query) = log.path.as_deref().or(query) else {
                    return Err(self
                        .error(input, format!("inputs[{index}]: which decisions to replay?"))
                        .with_help("the scenario has no `policy.query`: set `path:` (e.g. `path: authz/allow`)"));
                };
                let span = Spanned::new(log.decision_log.clone(), input.referenced, input.defined);
                let full = self.resolve(&span)?;
                let info =
                    crate::decision_log::read(log, &full, query, workload_seed, recorded, out)
                        .map_err(|e| Diagnostic {
                            file: e.file,
                            line: e.line,
                            column: None,
                            message: format!("decision log: {}", e.message),
                            help: Some(e.help),
                            source_line: None,
                        })?;
                traffic.push(info);
                return Ok(());
            }
            InputSource::Generate { generate, .. } => {
                let generator = generate.check().map_err(|e| {
                    self.error(input, format!("inputs[{index}].generate: {e}"))
                        .with_help("see docs/inputs.md, \"Generated inputs\"")
                })?;
                // Each entry its own stream: two entries with the same fields differ.
                let seed = generate.seed.unwrap_or_else(|| {
                    workload_seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                });
                let origin = format!("inputs[{index}] (generate)");
                let documents = generator.documents(seed);
                generated.push(GeneratedInputs {
                    origin: origin.clone(),
                    count: generator.count(),
                    seed,
                    samples: documents.iter().take(GENERATED_SAMPLES).cloned().collect(),
                });
                let source = out.source(origin, Numbering::Count);
                for (i, value) in documents.iter().enumerate() {
                    out.push(source, i as u32 + 1, value, expect.as_ref());
                }
                return Ok(());
            }
            InputSource::Inline { inline, .. } => {
                let source = out.source(format!("inputs[{index}] (inline)"), Numbering::None);
                out.push(source, 0, inline, expect.as_ref());
                return Ok(());
            }
            InputSource::Path(p) | InputSource::File { file: p, .. } => p,
        };
        let span = Spanned::new(path.clone(), input.referenced, input.defined);
        let full = self.resolve(&span)?;
        if full
            .extension()
            .is_some_and(|e| e == "jsonl" || e == "ndjson")
        {
            // Streamed a line at a time: a file of millions of inputs is
            // never in memory twice (as its text and as the arena).
            let mut reader = self.open(&span, &full)?;
            let size = std::fs::metadata(&full).map_or(0, |m| m.len() as usize);
            let before = out.len();
            // The arena's size is about the file's: reserved once, rather
            // than doubled and copied as it grows.
            out.reserve(size, size / 64);
            let source = out.source(path.clone(), Numbering::Line);
            let mut buffer = String::new();
            for i in 0u64.. {
                buffer.clear();
                let n = std::io::BufRead::read_line(&mut reader, &mut buffer).map_err(|e| {
                    self.error(&span, format!("cannot read {}: {e}", full.display()))
                })?;
                if n == 0 {
                    break;
                }
                let line = buffer.trim_end_matches(['\n', '\r']);
                if line.trim().is_empty() {
                    continue;
                }
                let value: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| Diagnostic {
                        file: full.clone(),
                        line: Some(i + 1),
                        column: Some(e.column() as u64),
                        message: format!("invalid JSON on this line: {e}"),
                        help: Some("a .jsonl file holds one JSON document per line".into()),
                        source_line: Some(line.to_string()),
                    })?;
                let (value, own) = unwrap_expect_line(value);
                let own = own.as_ref().map(normalize_expect);
                out.push(
                    source,
                    i as u32 + 1,
                    &value,
                    own.as_ref().or(expect.as_ref()),
                );
            }
            if out.len() == before {
                return Err(self.error(&span, format!("`{path}` holds no input")));
            }
        } else {
            let value = self.document(&span, &full)?;
            let source = out.source(path.clone(), Numbering::None);
            out.push(source, 0, &value, expect.as_ref());
        }
        Ok(())
    }
}

/// Where `input` puts what it reads: the inputs, the `generate:` records
/// and the decision logs' summaries.
pub(super) type InputSink<'a> = (
    &'a mut Inputs,
    &'a mut Vec<GeneratedInputs>,
    &'a mut Vec<crate::decision_log::TrafficInfo>,
);

/// `expect: undefined` (the bare word) means "no value".
pub(super) fn normalize_expect(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) if s == "undefined" => {
            serde_json::Value::String(UNDEFINED.into())
        }
        other => other.clone(),
    }
}

/// A `.jsonl` line `{"input": ..., "expect": ...}` (exactly those two keys)
/// is an input with its expected decision; any other line is the input itself.
pub(super) fn unwrap_expect_line(
    value: serde_json::Value,
) -> (serde_json::Value, Option<serde_json::Value>) {
    match value {
        serde_json::Value::Object(mut map)
            if map.len() == 2 && map.contains_key("input") && map.contains_key("expect") =>
        {
            let expect = map.remove("expect");
            let input = map.remove("input").unwrap_or_default();
            (input, expect)
        }
        other => (other, None),
    }
}

/// Deep-merges `patch` into `base`: objects merge key by key, anything else replaces.
pub(super) fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}

/// The file beside a missing one whose name is closest to it (`rbac.rego`
/// for `rback.rego`), written as the missing path was but with that name.
pub(super) fn nearest_file(missing: &Path) -> Option<String> {
    let dir = match missing.parent()? {
        d if d.as_os_str().is_empty() => Path::new("."),
        d => d,
    };
    let want = missing.file_name()?.to_string_lossy().into_owned();
    let names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let best = crate::metrics::did_you_mean(&want, names.iter().map(String::as_str))?;
    Some(best.to_string())
}
