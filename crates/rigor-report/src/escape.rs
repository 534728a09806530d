//! Hostile text in reports: names, descriptions, target ids, inputs and
//! error messages come from users (or from a results file anyone can edit)
//! and must print as text in every output.
//!
//! - HTML: minijinja's auto-escaping (`<`, `>`, `&`, quotes, `/`), plus
//!   [`clean`] on every value the templates print.
//! - Console: [`clean`] shows control characters as `\u{1b}` instead of
//!   sending them to the terminal, so text cannot move the cursor, clear
//!   the screen or set the title; rigor's own colours travel as [`Styled`].
//! - Markdown and JUnit: see [`crate::ci`].
//!
//! Every output also passes through
//! [`rigor_scenario::redact::redact_credentials`], so a password in a URL
//! (in the scenario source, a target's configuration or an error) prints as `***`.

use std::borrow::Cow;
use std::fmt::Write as _;

use rigor_scenario::redact::redact_credentials;

/// Whether `c` must not reach a terminal (or a reader) as itself: C0
/// controls but tab and newline, DEL, C1 controls (U+009B is a CSI on some
/// terminals) and the bidirectional overrides that reorder text on screen.
pub(crate) fn is_hostile(c: char, keep_cr: bool) -> bool {
    match c {
        '\n' | '\t' => false,
        '\r' => !keep_cr,
        c if c.is_control() => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => true,
        _ => false,
    }
}

/// `text` with control characters shown as `\u{..}` escapes.
///
/// Newlines and tabs stay (messages span lines; the scenario source is
/// shown as written). A carriage return stays only with `keep_cr` (HTML,
/// where it cannot overwrite a line).
pub fn escape_controls(text: &str, keep_cr: bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_hostile(c, keep_cr)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hostile(c, keep_cr) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// What every printed value goes through: passwords in URLs redacted, then
/// control characters escaped. Safe to print on a terminal.
pub fn clean(text: &str, keep_cr: bool) -> String {
    let redacted = redact_credentials(text);
    escape_controls(&redacted, keep_cr).into_owned()
}

/// Text for a terminal: [`clean`] without carriage returns. For anything
/// printed outside the templates (progress lines, errors on stderr).
pub fn terminal_safe(text: &str) -> String {
    clean(text, false)
}

/// Text rigor styled itself (a verdict with ANSI colours): templates print
/// it unchanged, where every other value is [`clean`]ed. Outside templates
/// it serializes as a plain string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Styled(pub String);

impl serde::Serialize for Styled {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        minijinja::Value::from_safe_string(self.0.clone()).serialize(serializer)
    }
}

/// Text for an XML attribute or element, passwords in URLs redacted.
pub(crate) fn xml_escape(s: &str) -> String {
    let s = redact_credentials(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // As references, so that attributes keep them (parsers turn a
            // literal newline in an attribute into a space).
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            // XML 1.0 forbids the other C0 controls and U+FFFE/U+FFFF, even escaped.
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            // Allowed, but terminal-active or reordering when a CI log prints them.
            c if is_hostile(c, true) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Text for Markdown (a table cell or a heading), passwords in URLs redacted:
/// HTML is shown, not rendered (`<` as `&lt;`), Markdown's punctuation is
/// backslash-escaped, and line breaks (which would end a table row) and
/// control characters are spaces and `\u{..}` escapes.
pub(crate) fn md_escape(s: &str) -> String {
    let s = redact_credentials(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '{' | '}' | '#' | '!' | '|' | '~'
            | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if is_hostile(c, false) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Text inside a Markdown code span (metric names, the baseline), passwords
/// in URLs redacted: nothing renders there and backslashes do not escape,
/// so a backtick (which would end the span) becomes a quote; a pipe is
/// still escaped (tables split cells before code spans).
pub(crate) fn md_code(s: &str) -> String {
    let s = redact_credentials(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '`' => out.push('\''),
            '|' => out.push_str("\\|"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if is_hostile(c, false) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The templates' formatter: every value except safe ones ([`Styled`]) is
/// [`clean`]ed, then auto-escaped as the template asks (HTML for
/// `*.html.j2`); safe ones only have their passwords redacted.
pub(crate) fn formatter(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    use minijinja::value::ValueKind;
    if value.is_safe() {
        // Styled text, or a user's template saying `| safe`: printed as it
        // is, but never with a password.
        let text = value.to_string();
        let redacted = redact_credentials(&text);
        if matches!(state.auto_escape(), minijinja::AutoEscape::Custom(_)) {
            return out.write_str(&redacted).map_err(minijinja::Error::from);
        }
        if redacted == text {
            return minijinja::escape_formatter(out, state, value);
        }
        let redacted = minijinja::Value::from_safe_string(redacted);
        return minijinja::escape_formatter(out, state, &redacted);
    }
    if matches!(
        value.kind(),
        ValueKind::Undefined | ValueKind::None | ValueKind::Bool | ValueKind::Number
    ) {
        // minijinja's own formatter knows no custom escape; these need none.
        if matches!(state.auto_escape(), minijinja::AutoEscape::Custom(_)) {
            return match value.kind() {
                ValueKind::Undefined | ValueKind::None => Ok(()),
                _ => out
                    .write_str(&value.to_string())
                    .map_err(minijinja::Error::from),
            };
        }
        return minijinja::escape_formatter(out, state, value);
    }
    let text = match value.as_str() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(value.to_string()),
    };
    match state.auto_escape() {
        // Markdown (`*.md.j2`) and XML (`*.xml.j2`) have escapes of their own.
        minijinja::AutoEscape::Custom(name) if name == MARKDOWN => out
            .write_str(&md_escape(&text))
            .map_err(minijinja::Error::from),
        minijinja::AutoEscape::Custom(name) if name == XML => out
            .write_str(&xml_escape(&text))
            .map_err(minijinja::Error::from),
        escape => {
            let html = matches!(escape, minijinja::AutoEscape::Html);
            let cleaned = minijinja::Value::from(clean(&text, html));
            minijinja::escape_formatter(out, state, &cleaned)
        }
    }
}

/// The auto-escape of `*.md.j2` templates ([`md_escape`]).
pub(crate) const MARKDOWN: &str = "markdown";
/// The auto-escape of `*.xml.j2` templates ([`xml_escape`]).
pub(crate) const XML: &str = "xml";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_shown_not_sent() {
        assert_eq!(
            escape_controls("a\u{1b}[2Jb\u{7}", false),
            "a\\u{1b}[2Jb\\u{7}"
        );
        assert_eq!(
            escape_controls("x\r\ny\tz\u{0}", false),
            "x\\u{d}\ny\tz\\u{0}"
        );
        assert_eq!(escape_controls("x\r\ny", true), "x\r\ny");
        assert_eq!(
            escape_controls("\u{9b}31m \u{202e}gnp.exe", false),
            "\\u{9b}31m \\u{202e}gnp.exe"
        );
        assert!(matches!(
            escape_controls("plain · é 🦀", false),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn clean_redacts_then_escapes() {
        assert_eq!(
            terminal_safe("url redis://u:pw@h\u{1b}]0;t\u{7}"),
            "url redis://u:***@h\\u{1b}]0;t\\u{7}"
        );
    }
}
