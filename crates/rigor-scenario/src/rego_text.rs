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
    for line in code.lines() {
        let starts_top = depth == 0;
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
                    if !name.is_empty() && !keyword && !out.rules.contains(&name) {
                        out.rules.push(name);
                    }
                }
                Some(_) => {}
            }
        }
        for c in line.bytes() {
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

/// What a Rego v1 parser's error looks like when it reads a v0 policy: a
/// body without `if`, a partial set rule without `contains`.
pub fn looks_like_v0_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("`if` keyword is required")
        || m.contains("if keyword is required")
        || m.contains("`contains` keyword is required")
        || m.contains("contains keyword is required")
}

/// Whether the text looks like Rego v0: a rule body opened without `if`
/// (`allow {`, `deny[msg] {`) at the top level.
pub fn looks_like_v0(text: &str) -> bool {
    let mut blank = vec![b' '; text.len()];
    code_bytes(text, |i, c| blank[i] = c);
    for (i, c) in text.bytes().enumerate() {
        if c == b'\n' {
            blank[i] = b'\n';
        }
    }
    let code = String::from_utf8_lossy(&blank).into_owned();
    code.lines().any(|line| {
        let starts_rule = line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && !line.starts_with("package")
            && !line.starts_with("import");
        starts_rule && line.trim_end().ends_with('{') && !line.contains(" if ") && {
            let before = line.trim_end().trim_end_matches('{').trim_end();
            !before.ends_with(":=") && !before.ends_with('=') && !before.ends_with(" if")
        }
    })
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
    }

    #[test]
    fn v0_policies_are_recognised() {
        assert!(looks_like_v0("package x\n\nallow {\n  true\n}\n"));
        assert!(looks_like_v0(
            "package x\nviolation[{\"msg\": m}] {\n m := 1\n}\n"
        ));
        assert!(!looks_like_v0("package x\nallow if {\n  true\n}\n"));
        assert!(!looks_like_v0("package x\nobj := {\n  \"a\": 1,\n}\n"));
        assert!(looks_like_v0_error(
            "`if` keyword is required before rule body"
        ));
    }
}
