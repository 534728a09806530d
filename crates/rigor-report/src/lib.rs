//! rigor's reporters: console text and one self-contained HTML file,
//! rendered from a results file alone.
//!
//! Design choices worth knowing:
//! - Templates are minijinja files under this crate's `templates/`, embedded in
//!   the binary as defaults and overridable with a directory, so a user can
//!   change a report without touching Rust.
//! - Templates see view structs ([`view`]), never the results model: the
//!   model can evolve without breaking users' templates, and formatting
//!   decisions (units, colours, chart geometry) live in one place.
//! - User text is never trusted ([`escape`]): HTML is auto-escaped, every
//!   printed value has its control characters escaped and its URL
//!   passwords redacted; only rigor's own colours pass as they are.

use std::path::Path;

use minijinja::{Environment, Value};
use rigor_results::Results;

pub mod alloc;
pub mod case;
pub mod chart;
pub mod ci;
pub mod cost;
pub mod escape;
pub mod export;
pub mod format;
pub mod view;

/// The default templates, embedded.
pub const DEFAULT_TEMPLATES: &[(&str, &str)] = &[
    (
        "console.txt.j2",
        include_str!("../templates/console.txt.j2"),
    ),
    (
        "report.html.j2",
        include_str!("../templates/report.html.j2"),
    ),
    ("summary.md.j2", include_str!("../templates/summary.md.j2")),
    ("junit.xml.j2", include_str!("../templates/junit.xml.j2")),
];

/// The formats `rigor report --format` renders, each a template above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `console.txt.j2`.
    Console,
    /// `report.html.j2`.
    Html,
    /// `summary.md.j2`.
    Markdown,
    /// `junit.xml.j2`.
    Junit,
}

/// Errors of the report layer.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A template could not be read.
    #[error("cannot read template {path}: {source}")]
    Read {
        /// The template file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A template failed to parse or render.
    #[error("template {name}: {message}\n  help: fix the template, or drop --templates to use the built-in one")]
    Template {
        /// The template name.
        name: String,
        /// minijinja's message, with line.
        message: String,
    },
}

/// Renders reports, with templates from `dir` where present and the built-in ones otherwise.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    /// Loads templates; files in `dir` override the built-in ones of the same name.
    pub fn new(dir: Option<&Path>) -> Result<Self, ReportError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html.j2") || name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else if name.ends_with(".md.j2") {
                minijinja::AutoEscape::Custom(escape::MARKDOWN.into())
            } else if name.ends_with(".xml.j2") {
                minijinja::AutoEscape::Custom(escape::XML.into())
            } else {
                minijinja::AutoEscape::None
            }
        });
        // Block tags on their own lines leave no blank lines behind (Jinja's trim/lstrip).
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.set_formatter(escape::formatter);
        env.add_filter("ljust", |s: String, w: usize| format!("{s:<w$}", w = w));
        env.add_filter("rjust", |s: String, w: usize| format!("{s:>w$}", w = w));
        // Markdown: a value in a code span (shown as is; a backtick cannot end it).
        env.add_filter("code", |s: String| {
            Value::from_safe_string(format!("`{}`", escape::md_code(&s)))
        });
        for (name, text) in DEFAULT_TEMPLATES {
            let text = match dir.map(|d| d.join(name)) {
                Some(path) if path.exists() => {
                    std::fs::read_to_string(&path).map_err(|source| ReportError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
                }
                _ => text.to_string(),
            };
            env.add_template_owned(name.to_string(), text)
                .map_err(|e| template_error(name, &e))?;
        }
        Ok(Renderer { env })
    }

    fn render<T: serde::Serialize>(&self, name: &str, view: &T) -> Result<String, ReportError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| template_error(name, &e))?;
        template
            .render(Value::from(minijinja::value::Serde(view)))
            .map_err(|e| template_error(name, &e))
    }

    /// The console report; `color` adds ANSI colours to verdicts.
    pub fn console(&self, results: &Results, color: bool) -> Result<String, ReportError> {
        self.render("console.txt.j2", &view::ReportView::new(results, color))
    }

    /// The Markdown summary, in the shape reviews use.
    pub fn markdown(&self, results: &Results) -> Result<String, ReportError> {
        self.render("summary.md.j2", &ci::MarkdownView::new(results))
    }

    /// JUnit XML: a test case per threshold grade, failed target and regression check.
    pub fn junit(&self, results: &Results) -> Result<String, ReportError> {
        self.render("junit.xml.j2", &ci::JunitView::new(results))
    }

    /// Any format, by name.
    pub fn format(
        &self,
        format: Format,
        results: &Results,
        color: bool,
    ) -> Result<String, ReportError> {
        match format {
            Format::Console => self.console(results, color),
            Format::Html => self.html(results),
            Format::Markdown => self.markdown(results),
            Format::Junit => self.junit(results),
        }
    }

    /// The HTML report: one file, no network fetches.
    pub fn html(&self, results: &Results) -> Result<String, ReportError> {
        self.render("report.html.j2", &view::ReportView::new(results, false))
    }
}

fn template_error(name: &str, e: &minijinja::Error) -> ReportError {
    let mut message = e.to_string();
    if let Some(line) = e.line() {
        message = format!("line {line}: {message}");
    }
    ReportError::Template {
        name: name.to_string(),
        message,
    }
}
