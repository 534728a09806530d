//! rigor's scenario layer: the YAML model, its loading with positioned
//! errors, and its validation into a [`Plan`] before any work starts.
//!
//! Design choices worth knowing:
//! - YAML is parsed with `serde-saphyr`, which keeps line and column for
//!   every error and has budgets against alias bombs and deep nesting.
//! - Every problem becomes a [`Diagnostic`] naming the file, line and column,
//!   what is wrong and what to do. Nothing falls back to a silent default.
//! - Raw input ([`model`]) and the checked plan ([`plan`]) are separate types
//!   (ripgrep's LowArgs -> HiArgs): downstream code only sees the plan.

pub mod decision_log;
pub mod expand;
pub mod generate;
pub mod inputs;
pub mod kinds;
pub mod metrics;
pub mod model;
pub mod overrides;
pub mod part;
pub mod plan;
pub mod redact;
pub mod rego_text;
pub mod rng;
pub mod shard;
pub mod units;

use std::fmt;
use std::path::{Path, PathBuf};

pub use model::Scenario;
pub use plan::{Mode, Plan};

/// A problem in an input file, with its position and a hint.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The file at fault.
    pub file: PathBuf,
    /// 1-based line, if known.
    pub line: Option<u64>,
    /// 1-based column, if known.
    pub column: Option<u64>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
    /// The offending source line, for display.
    pub source_line: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without position.
    pub fn new(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            line: None,
            column: None,
            message: message.into(),
            help: None,
            source_line: None,
        }
    }

    /// Adds a position, picking the source line out of `source` for display.
    pub fn at(mut self, location: serde_saphyr::Location, source: Option<&str>) -> Self {
        if location.line() > 0 {
            self.line = Some(location.line());
            self.column = Some(location.column().max(1));
            self.source_line = source
                .and_then(|s| s.lines().nth(location.line() as usize - 1))
                .map(str::to_string);
        }
        self
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}:{}", self.column.unwrap_or(1))?;
        }
        write!(f, ": {}", self.message)?;
        if let (Some(line), Some(text)) = (self.line, &self.source_line) {
            let gutter = line.to_string().len();
            let col = self.column.unwrap_or(1) as usize;
            // The caret's padding is built, not a format width: widths above
            // u16::MAX (a column in a very long line) panic.
            write!(
                f,
                "\n{:gutter$} |\n{line} | {text}\n{:gutter$} | {}^",
                "",
                "",
                " ".repeat(col.saturating_sub(1))
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Errors of the scenario layer.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A file could not be read.
    #[error("cannot read {}: {source}; check that the path exists and is readable", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The input is invalid; the diagnostic says where and why.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

impl From<Diagnostic> for ScenarioError {
    fn from(d: Diagnostic) -> Self {
        ScenarioError::Invalid(Box::new(d))
    }
}

/// Limits against hostile or broken YAML: scenario files are small.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 48,
            max_nodes: 2_000_000,
            max_aliases: 10_000,
        },
        with_snippet: false,
    }
}

/// Parses YAML text into `T`, turning errors into positioned diagnostics.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<T, Box<Diagnostic>> {
    serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|e| Box::new(yaml_diagnostic(file, text, &e)))
}

/// Reads and parses a scenario file (no validation beyond types and units).
pub fn load(path: &Path) -> Result<(Scenario, String), ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let scenario = parse_yaml(path, &text).map_err(ScenarioError::Invalid)?;
    Ok((scenario, text))
}

fn yaml_diagnostic(file: &Path, text: &str, error: &serde_saphyr::Error) -> Diagnostic {
    let inner = error.without_snippet();
    let message = match inner {
        serde_saphyr::Error::Message { msg, .. } => msg.clone(),
        serde_saphyr::Error::AliasError { error, .. } => match error.without_snippet() {
            serde_saphyr::Error::Message { msg, .. } => msg.clone(),
            other => strip_position(&other.to_string()),
        },
        other => strip_position(&other.to_string()),
    };
    let mut d = Diagnostic::new(file, message.clone());
    if let Some(location) = error.location() {
        d = d.at(location, Some(text));
    }
    if let Some(help) = suggestion(&message) {
        d = d.with_help(help);
    }
    d
}

/// saphyr appends " at line L, column C" to plain messages; we print positions ourselves.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// For "unknown field `x`, expected one of a, b" (and unknown variants),
/// suggests the closest expected name; for a boolean where a string was
/// expected, says which words YAML reads as booleans.
fn suggestion(message: &str) -> Option<String> {
    if message.starts_with("invalid type: boolean") && message.ends_with("expected a string") {
        return Some(
            "YAML reads y, n, yes, no, on, off, true and false as booleans: quote the value (e.g. `id: \"n\"`)".into(),
        );
    }
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (given, expected) = rest.split_once('`')?;
    let expected = expected
        .split_once("expected ")
        .map(|(_, e)| e)
        .unwrap_or("");
    let expected = expected.strip_prefix("one of ").unwrap_or(expected);
    let names: Vec<&str> = expected
        .split(", ")
        .map(|n| n.trim().trim_matches('`'))
        .filter(|n| !n.is_empty())
        .collect();
    match metrics::did_you_mean(given, names.iter().copied()) {
        Some(best) => Some(format!("did you mean `{best}`?")),
        None if !names.is_empty() => Some(format!("valid names: {}", names.join(", "))),
        None => None,
    }
}

/// A short stable hash of a text (FNV-1a 64, hex).
pub fn content_hash(text: &str) -> String {
    let mut h = ContentHasher::new();
    h.update(text);
    h.finish()
}

/// [`content_hash`] fed in pieces: the hash of their concatenation,
/// without making it (a plan's inputs are hashed where they lie).
#[derive(Debug, Clone, Copy)]
pub struct ContentHasher(u64);

impl ContentHasher {
    /// FNV-1a's offset basis.
    pub fn new() -> Self {
        ContentHasher(0xcbf2_9ce4_8422_2325)
    }

    /// Adds the next piece.
    pub fn update(&mut self, text: &str) {
        for b in text.bytes() {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash so far, as [`content_hash`] writes it.
    pub fn finish(&self) -> String {
        format!("{:016x}", self.0)
    }
}

impl Default for ContentHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// The JSON Schema of scenario files, generated from the Rust types.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Scenario);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
