//! The documentation is tested like code: every YAML example in README.md
//! and the guide under docs/ is validated by the real binary, every
//! relative link resolves (files and `#anchors`), every guide page is in
//! the book's table of contents, and every code block says its language.
//!
//! YAML blocks say what they are in the fence's info string:
//! - ```` ```yaml ````: a whole scenario, validated as if it were a file in
//!   `scenarios/` (so `policies/rbac.rego` resolves);
//! - ```` ```yaml fragment ````: some top-level keys of a scenario, validated
//!   after the keys it lacks are taken from [`BASE`];
//! - ```` ```yaml partial ````: YAML that is not a scenario or cannot stand
//!   alone (a nested key, a CI workflow): parsed, nothing more.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::Rigor;

mod ci;

/// The scenario a fragment's missing keys come from.
const BASE: &str = "name: docs-fragment
policy: {files: [policies/rbac.rego], data: [data/rbac.json], query: data.rbac.allow}
inputs: [{inline: {user: bob, action: read, type: dog}}]
workload: {concurrency: 1, duration: 1s}
targets: [{id: regorus, kind: regorus}]
";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// README.md and every page of the guide.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![repo().join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

/// A fenced code block: its info string, its text, the line of its fence.
struct Block {
    info: String,
    text: String,
    line: usize,
    /// The fence's indentation (a block inside a list item), taken off
    /// every line of the block.
    indent: usize,
}

/// The fenced blocks of a Markdown text (``` fences, as the docs write them).
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("```") {
            match open.take() {
                Some(block) => out.push(block),
                None => {
                    open = Some(Block {
                        info: rest.trim().to_string(),
                        text: String::new(),
                        line: i + 1,
                        indent: line.len() - trimmed.len(),
                    })
                }
            }
        } else if let Some(block) = open.as_mut() {
            let strip = block.indent.min(line.len() - trimmed.len());
            block.text.push_str(&line[strip..]);
            block.text.push('\n');
        }
    }
    assert!(open.is_none(), "a code block is never closed");
    out
}

/// The text outside fenced blocks and inline code, where links live.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if fenced {
            out.push('\n');
            continue;
        }
        // Inline code spans hold examples, not links.
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// Every link target in a text: `[text](target)` and `[ref]: target`.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in prose(text).lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or("");
            out.push((i + 1, target.to_string()));
            rest = &after[end..];
        }
        let t = line.trim_start();
        if t.starts_with('[') {
            if let Some(at) = t.find("]: ") {
                out.push((i + 1, t[at + 3..].trim().to_string()));
            }
        }
    }
    out
}

/// A heading's anchor, as GitHub and mdBook make it: lower case, letters,
/// digits, `-` and `_` kept, spaces to `-`, the rest dropped.
fn slug(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c.to_lowercase().next().unwrap_or(c))
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// The anchors of a Markdown file's headings (a repeated heading gets
/// `-1`, `-2`, as GitHub numbers them).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced {
            continue;
        }
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let s = slug(line[hashes..].trim().trim_end_matches('#').trim());
            let n = seen.entry(s.clone()).or_default();
            out.insert(if *n == 0 {
                s.clone()
            } else {
                format!("{s}-{n}")
            });
            *n += 1;
        }
    }
    out
}

fn name(doc: &Path) -> String {
    doc.strip_prefix(repo())
        .unwrap_or(doc)
        .display()
        .to_string()
        .replace("../", "")
}

/// Every ```yaml block of the README and the guide validates (whole
/// scenarios and fragments) or parses (partials); every block says its
/// language; a doc's YAML with a misspelt field fails here.
#[test]
fn every_yaml_example_in_the_docs_is_valid() {
    let r = Rigor::new();
    // Beside the examples: the scenarios' policies, data and inputs.
    for entry in std::fs::read_dir(repo().join("scenarios")).unwrap() {
        let entry = entry.unwrap();
        std::os::unix::fs::symlink(entry.path(), r.path(&entry.file_name().to_string_lossy()))
            .unwrap();
    }
    let mut problems = Vec::new();
    let (mut whole, mut fragments, mut partials) = (0, 0, 0);
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for block in blocks(&text) {
            let at = format!("{}:{}", name(&doc), block.line);
            let mut words = block.info.split_whitespace();
            let Some(lang) = words.next() else {
                problems.push(format!(
                    "{at}: a code block without a language (```sh, ```text, ```yaml ...)"
                ));
                continue;
            };
            if lang != "yaml" {
                continue;
            }
            let file = format!("doc-{}.yaml", at.replace(['/', ':', '.'], "-"));
            let text = match words.next() {
                None => {
                    whole += 1;
                    block.text.clone()
                }
                Some("fragment") => {
                    fragments += 1;
                    let keys = match serde_saphyr::from_str::<serde_json::Value>(&block.text) {
                        Ok(serde_json::Value::Object(map)) => map,
                        other => {
                            problems.push(format!(
                                "{at}: a `yaml fragment` is a mapping of top-level scenario keys, got {other:?}"
                            ));
                            continue;
                        }
                    };
                    // The fragment as written, then the base's other keys:
                    // error positions stay the fragment's own lines.
                    let mut text = block.text.clone();
                    for line in BASE.lines() {
                        let key = line.split(':').next().unwrap_or("");
                        if !keys.contains_key(key) {
                            text.push_str(line);
                            text.push('\n');
                        }
                    }
                    text
                }
                Some("partial") => {
                    partials += 1;
                    if let Err(e) = serde_saphyr::from_str::<serde_json::Value>(&block.text) {
                        problems.push(format!("{at}: not YAML: {e}"));
                    }
                    continue;
                }
                Some(other) => {
                    problems.push(format!(
                        "{at}: unknown marker `yaml {other}`: write `yaml` (a scenario), `yaml fragment` or `yaml partial`"
                    ));
                    continue;
                }
            };
            r.file(&file, &text);
            let out = r.run(&["validate", &file]);
            if out.code != 0 {
                problems.push(format!(
                    "{at}: this YAML example does not validate ({file} is the block{}):\n{}",
                    if text.len() > block.text.len() {
                        " followed by the base scenario's other keys"
                    } else {
                        ""
                    },
                    out.stderr
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The docs do show scenarios: a change that turned every example into
    // a `partial` would pass the loop above and test nothing.
    assert!(
        whole >= 2 && fragments >= 10,
        "{whole} whole scenarios, {fragments} fragments, {partials} partials"
    );
}

/// Every relative link of the README and the guide points at a file that
/// exists, and every `#anchor` at a heading of its page; every page is in
/// the book's table of contents.
#[test]
fn every_link_in_the_docs_resolves() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for (line, link) in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") || link.is_empty() {
                continue;
            }
            checked += 1;
            let at = format!("{}:{line}", name(&doc));
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(path)
            };
            if !target.exists() {
                problems.push(format!(
                    "{at}: link `{link}`: {} does not exist",
                    target.display()
                ));
                continue;
            }
            if !anchor.is_empty() && target.extension().is_some_and(|e| e == "md") {
                let headings = anchors(&std::fs::read_to_string(&target).unwrap());
                if !headings.contains(anchor) {
                    problems.push(format!(
                        "{at}: link `{link}`: no heading with anchor #{anchor} in {}",
                        name(&target)
                    ));
                }
            }
        }
    }
    // The table of contents lists every page of the guide.
    let summary = std::fs::read_to_string(repo().join("docs/SUMMARY.md")).unwrap();
    let listed: BTreeSet<String> = links(&summary).into_iter().map(|(_, l)| l).collect();
    for doc in documents().iter().skip(1) {
        let file = doc.file_name().unwrap().to_string_lossy().to_string();
        if file != "SUMMARY.md" && !listed.contains(&file) {
            problems.push(format!(
                "docs/{file} is not in docs/SUMMARY.md: add it to the book"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 50, "only {checked} relative links found");
}

/// The checker itself: a misspelt anchor, a missing file and a scenario
/// with a misspelt field are each caught (so the tests above can fail).
#[test]
fn the_docs_checks_catch_what_they_claim_to() {
    let page = "# Title\n\n## A `code` heading: with, punctuation?\n\n\
                [ok](#a-code-heading-with-punctuation) [bad](#nope)\n\n\
                ```yaml fragment\nworkload: {concurency: 1}\n```\n";
    assert!(anchors(page).contains("a-code-heading-with-punctuation"));
    assert!(!anchors(page).contains("nope"));
    let found = links(page);
    assert_eq!(found.len(), 2);
    let b = blocks(page);
    assert_eq!((b[0].info.as_str(), b[0].line), ("yaml fragment", 7));
    let r = Rigor::new();
    for entry in ["policies", "data"] {
        std::os::unix::fs::symlink(repo().join("scenarios").join(entry), r.path(entry)).unwrap();
    }
    let mut text = b[0].text.clone();
    text.push_str(
        &BASE
            .lines()
            .filter(|l| !l.starts_with("workload"))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    r.file("f.yaml", &text);
    let out = r.run(&["validate", "f.yaml"]).expect(2);
    assert!(
        out.stderr.contains("concurency") && out.stderr.contains("f.yaml:1:"),
        "{}",
        out.stderr
    );
}
