//! What rigor reads from Rego source text without an engine: its `print()`
//! calls (to erase them, as OPA's library does when printing is off), its
//! package and the rules it defines (to check a query before any target
//! compiles it). A small lexer that knows comments, strings and raw
//! strings, so nothing inside them is taken for code.

/// A `print(...)` call: its byte range in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Call {
    start: usize,
    end: usize,
}

/// Byte ranges of the text that are code (not comments, not strings).
/// Calls `f(index, byte)` for every code byte, in order.
fn code_bytes(text: &str, mut f: impl FnMut(usize, u8)) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
                i += 1;
            }
            c => {
                f(i, c);
                i += 1;
            }
        }
    }
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The `print(...)` calls of a module, in order.
fn print_calls(text: &str) -> Vec<Call> {
    let b = text.as_bytes();
    // Code bytes only, with their positions, so that strings and comments
    // between tokens are skipped when matching parentheses.
    let mut code: Vec<(usize, u8)> = Vec::with_capacity(b.len());
    code_bytes(text, |i, c| code.push((i, c)));
    let mut calls = Vec::new();
    let mut k = 0;
    while k + 5 <= code.len() {
        let (at, _) = code[k];
        let word = code[k..k + 5].iter().map(|(_, c)| *c).eq(*b"print");
        // Contiguous in the text, not a longer name, not a field (`x.print`).
        let whole = word
            && code[k + 4].0 == at + 4
            && (k == 0 || {
                let (p, c) = code[k - 1];
                !(p + 1 == at && (is_ident(c) || c == b'.'))
            })
            && code.get(k + 5).is_none_or(|(_, c)| !is_ident(*c));
        if !whole {
            k += 1;
            continue;
        }
        let mut j = k + 5;
        while j < code.len() && code[j].1.is_ascii_whitespace() {
            j += 1;
        }
        if code.get(j).map(|(_, c)| *c) != Some(b'(') {
            k += 1;
            continue;
        }
        let mut depth = 0i32;
        let mut end = None;
        while j < code.len() {
            match code[j].1 {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(code[j].0 + 1);
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        let Some(end) = end else { break };
        calls.push(Call { start: at, end });
        k = j + 1;
    }
    calls
}

/// How many `print()` calls a module has.
pub fn count_prints(text: &str) -> usize {
    print_calls(text).len()
}

/// The module with every `print(...)` call replaced by `true`, as OPA's
/// compiler erases them when printing is off (a print never fails, so
/// `true` keeps every rule's meaning). Line breaks inside a call are kept,
/// so every other line keeps its number in error messages. Returns the
/// text and the number of calls erased.
pub fn erase_prints(text: &str) -> (String, usize) {
    let calls = print_calls(text);
    if calls.is_empty() {
        return (text.to_string(), 0);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for c in &calls {
        out.push_str(&text[last..c.start]);
        out.push_str("true");
        out.extend(text[c.start..c.end].chars().filter(|ch| *ch == '\n'));
        last = c.end;
    }
    out.push_str(&text[last..]);
    (out, calls.len())
}

/// A module's package (`a.b` for `package a.b`) and the names of the rules
/// and functions it defines at the top level, in order of first appearance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outline {
    /// The package path, without `data.`.
    pub package: String,
    /// Rule and function names (a rule defined in several bodies once).
    pub rules: Vec<String>,
    /// The rules among them that are partial sets (`deny contains msg`,
    /// v0 `deny[msg] { ... }`): their value is a set, whose JSON array's
    /// order means nothing.
    pub sets: Vec<String>,
}

/// Reads a module's package and top-level rule names. Rules are the
/// identifiers that start a line at column 0 outside any bracket (Rego's
/// formatter and every policy we know put heads there), followed by what a
/// head continues with (`:=`, `=`, `if`, `{`, `[`, `(`, `contains`,
/// `else`, a line end); `default NAME` and `NAME.x.y` (ref heads) count
/// with their first name.
pub fn outline(text: &str) -> Outline {
    // Code with comments and strings blanked out (same byte positions).
    let mut blank = vec![b' '; text.len()];
    code_bytes(text, |i, c| blank[i] = c);
    for (i, c) in text.bytes().enumerate() {
        if c == b'\n' {
            blank[i] = b'\n';
        }
    }
    let code = String::from_utf8_lossy(&blank).into_owned();
    let mut out = Outline::default();
    let mut depth = 0i32;
    for raw in code.lines() {
        let starts_top = depth == 0;
        let line = raw.trim_start();
        if starts_top {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.first().copied() {
                Some("package") => {
                    if let Some(p) = words.get(1) {
                        out.package = p.trim_start_matches("data.").to_string();
                    }
                }
                Some("import") | None => {}
                Some(_) if line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') => {
                    let head = line.strip_prefix("default ").unwrap_or(line).trim_start();
                    let name: String = head
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    let keyword = matches!(
                        name.as_str(),
                        "package" | "import" | "some" | "every" | "not" | "with" | "else"
                    );
                    if !name.is_empty() && !keyword {
                        let after = head[name.len()..].trim_start();
                        if is_set_head(after) && !out.sets.contains(&name) {
                            out.sets.push(name.clone());
                        }
                        if !out.rules.contains(&name) {
                            out.rules.push(name);
                        }
                    }
                }
                Some(_) => {}
            }
        }
        for c in raw.bytes() {
            match c {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth -= 1,
                _ => {}
            }
        }
        depth = depth.max(0);
    }
    out
}

/// Whether what follows a rule's name makes it a partial set: `contains`,
/// or v0's `[term] {` / `[term]` alone (no `=` or `:=` after the bracket,
/// which would make it a partial object).
fn is_set_head(after: &str) -> bool {
    if after.starts_with("contains ") {
        return true;
    }
    let Some(rest) = after.strip_prefix('[') else {
        return false;
    };
    let mut depth = 1;
    for (i, c) in rest.char_indices() {
        match c {
            '[' | '(' | '{' => depth += 1,
            ']' | ')' | '}' => {
                depth -= 1;
                if depth == 0 {
                    let tail = rest[i + 1..].trim_start();
                    return !(tail.starts_with('=')
                        || tail.starts_with(":=")
                        || tail.starts_with('.'));
                }
            }
            _ => {}
        }
    }
    false
}

/// The rules a module set defines, by package: what a query may name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// Package path (without `data.`) and its rule names, packages sorted.
    pub packages: std::collections::BTreeMap<String, Vec<String>>,
    /// `package.rule` of every partial set rule.
    pub sets: Vec<String>,
}

impl Rules {
    /// Reads every module's outline.
    pub fn of<'a>(modules: impl IntoIterator<Item = &'a str>) -> Rules {
        let mut r = Rules::default();
        for text in modules {
            let o = outline(text);
            let rules = r.packages.entry(o.package.clone()).or_default();
            for name in o.rules {
                if !rules.contains(&name) {
                    rules.push(name);
                }
            }
            r.sets
                .extend(o.sets.iter().map(|s| format!("{}.{s}", o.package)));
        }
        r
    }

    /// Whether `query` (`data.a.b.rule`) names a partial set rule.
    pub fn is_set(&self, query: &str) -> bool {
        let path = query.trim_start_matches("data.");
        self.sets.iter().any(|s| s == path)
    }

    /// Checks `query` against the packages and the data: `Ok` when it
    /// names a rule, a package, a path above a package, goes below a rule
    /// (a field of its value), or is a path that exists in `data` (or runs
    /// into one of its values). Else the package it falls in, or `None`
    /// when it falls in no package, with the closest existing rule path.
    pub fn check(&self, query: &str, data: &serde_json::Value) -> Result<(), QueryMiss> {
        let path = query.trim_start_matches("data.");
        if in_data(data, path) {
            return Ok(());
        }
        // A package, or a path above one (a virtual document of packages).
        if self
            .packages
            .keys()
            .any(|p| p == path || p.starts_with(&format!("{path}.")))
        {
            return Ok(());
        }
        // The longest package the path is inside.
        let inside = self
            .packages
            .iter()
            .filter(|(p, _)| path.starts_with(&format!("{p}.")))
            .max_by_key(|(p, _)| p.len());
        let all: Vec<String> = self
            .packages
            .iter()
            .flat_map(|(p, rules)| rules.iter().map(move |r| format!("data.{p}.{r}")))
            .collect();
        let suggest = |what: &str| {
            crate::metrics::did_you_mean(what, all.iter().map(String::as_str)).map(str::to_string)
        };
        match inside {
            Some((p, rules)) => {
                let rest = &path[p.len() + 1..];
                let rule = rest.split('.').next().unwrap_or("");
                if rules.iter().any(|r| r == rule) {
                    return Ok(());
                }
                Err(QueryMiss {
                    package: Some(p.clone()),
                    rules: rules.clone(),
                    suggestion: suggest(query),
                })
            }
            None => Err(QueryMiss {
                package: None,
                rules: Vec::new(),
                suggestion: suggest(query),
            }),
        }
    }
}

/// Whether `path` (`a.b.c`) exists in `data`, or runs into one of its
/// values that is not an object (a field of an array or a scalar: not
/// something to judge here).
fn in_data(data: &serde_json::Value, path: &str) -> bool {
    let mut at = data;
    for seg in path.split('.') {
        match at {
            serde_json::Value::Object(map) => match map.get(seg) {
                Some(next) => at = next,
                None => return false,
            },
            _ => return true,
        }
    }
    true
}

/// A query that names nothing the policy defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryMiss {
    /// The package the query falls in, if any.
    pub package: Option<String>,
    /// That package's rules.
    pub rules: Vec<String>,
    /// The closest rule path that exists.
    pub suggestion: Option<String>,
}

/// What a Rego v1 parser's error looks like when it reads a v0 policy: a
/// body without `if`, a partial set rule without `contains`.
pub fn looks_like_v0_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("`if` keyword is required")
        || m.contains("if keyword is required")
        || m.contains("`contains` keyword is required")
        || m.contains("contains keyword is required")
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"package audited

import rego.v1

# print("not in a comment")
default allow := false

allow if {
    print("user", input.user, "wants", input.action)
    input.user == "alice"
    msg := "print(no)"
    print(sprintf("%v", [
        input.action,
    ]))
}

deny contains msg if {
    some x in input.items
    print ( x )
    msg := sprintf("bad %v", [x])
}

blueprint := x.print
"#;

    #[test]
    fn prints_are_found_outside_comments_and_strings() {
        assert_eq!(count_prints(POLICY), 3);
        assert_eq!(count_prints("x := `print(1)`"), 0);
        assert_eq!(count_prints("x := reprint(1)"), 0);
    }

    #[test]
    fn erasing_keeps_lines_and_everything_else() {
        let (erased, n) = erase_prints(POLICY);
        assert_eq!(n, 3);
        assert_eq!(erased.lines().count(), POLICY.lines().count());
        assert!(erased.contains("# print(\"not in a comment\")"));
        assert!(erased.contains("msg := \"print(no)\""));
        assert!(erased.contains("    true\n    input.user"));
        assert!(erased.contains("blueprint := x.print"));
        assert_eq!(count_prints(&erased), 0);
        // The multi-line call leaves its line breaks: the next rule keeps its line.
        let line_of = |t: &str, s: &str| t.lines().position(|l| l.contains(s));
        assert_eq!(
            line_of(POLICY, "deny contains"),
            line_of(&erased, "deny contains")
        );
    }

    #[test]
    fn outline_names_package_and_rules() {
        let o = outline(POLICY);
        assert_eq!(o.package, "audited");
        assert_eq!(o.rules, vec!["allow", "deny", "blueprint"]);
        let v0 =
            "package k8s.limits\n\nviolation[{\"msg\": msg}] {\n  x := 1\n}\nf(x) = y { y := x }\n";
        let o = outline(v0);
        assert_eq!(o.package, "k8s.limits");
        assert_eq!(o.rules, vec!["violation", "f"]);
        assert_eq!(o.sets, vec!["violation"]);
        assert_eq!(outline(POLICY).sets, vec!["deny"]);
        let objects =
            "package p\nroles[name] := r if { r := 1; name := \"a\" }\nq[x] = 1 { x := 2 }\n";
        assert!(outline(objects).sets.is_empty());
    }

    #[test]
    fn queries_are_checked_against_packages_and_rules() {
        let rules = Rules::of([POLICY, "package k8s.limits\nviolation[m] {\n m := 1\n}\n"]);
        let none = serde_json::json!({});
        assert!(rules.check("data.audited.allow", &none).is_ok());
        assert!(rules.check("data.audited", &none).is_ok());
        assert!(rules.check("data.k8s", &none).is_ok());
        assert!(rules.check("data.audited.allow.x", &none).is_ok());
        let data = serde_json::json!({"roles": {"alice": ["admin"]}, "audited": {"limits": 3}});
        assert!(rules.check("data.roles.alice", &data).is_ok());
        assert!(rules.check("data.roles.alice.0", &data).is_ok());
        assert!(rules.check("data.audited.limits", &data).is_ok());
        // A package's name in the data does not hide a misspelt rule.
        assert!(rules.check("data.audited.alow", &data).is_err());
        assert!(rules.check("data.roles.bob", &data).is_err());
        let miss = rules.check("data.audited.alow", &none).unwrap_err();
        assert_eq!(miss.package.as_deref(), Some("audited"));
        assert_eq!(miss.rules, vec!["allow", "deny", "blueprint"]);
        assert_eq!(miss.suggestion.as_deref(), Some("data.audited.allow"));
        let miss = rules.check("data.audit.allow", &none).unwrap_err();
        assert_eq!(miss.package, None);
        assert_eq!(miss.suggestion.as_deref(), Some("data.audited.allow"));
        assert!(rules.is_set("data.k8s.limits.violation"));
        assert!(rules.is_set("data.audited.deny"));
        assert!(!rules.is_set("data.audited.allow"));
    }

    #[test]
    fn v0_parser_errors_are_recognised() {
        assert!(looks_like_v0_error(
            "`if` keyword is required before rule body"
        ));
        assert!(!looks_like_v0_error("unexpected token"));
    }
}
