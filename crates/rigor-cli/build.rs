//! Records the rustc version and git commit rigor is built from, for the
//! environment section of every results file.
// A build script speaks to cargo on stdout: println! is its protocol.
#![allow(clippy::disallowed_macros)]

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = output(&rustc, &["--version"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=RIGOR_RUSTC_VERSION={version}");
    let commit = output("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or_default();
    let dirty = output("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    let commit = if commit.is_empty() {
        commit
    } else if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    };
    println!("cargo:rustc-env=RIGOR_GIT_COMMIT={commit}");
    // `rigor --version`: "0.1.0 (commit 4bc8f53a1b2c, 2026-12-04)", or the
    // bare version where there is no git checkout (a crate tarball).
    let pkg = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let line = if commit.is_empty() {
        pkg
    } else {
        match output("git", &["log", "-1", "--format=%cs"]) {
            Some(date) if !date.is_empty() => format!("{pkg} (commit {commit}, {date})"),
            _ => format!("{pkg} (commit {commit})"),
        }
    };
    println!("cargo:rustc-env=RIGOR_VERSION_LINE={line}");
    // The dependency set, as a hash: baselines from another one are capped at WARN.
    let lock = std::fs::read("../../Cargo.lock").unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in lock {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    println!("cargo:rustc-env=RIGOR_CARGO_LOCK={h:016x}");
    println!("cargo:rerun-if-changed=../../Cargo.lock");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/index");
    // On a branch HEAD names a ref; a commit changes the ref's file, not
    // HEAD: without this, the commit recorded in every results file can be
    // an older one.
    if let Ok(head) = std::fs::read_to_string("../../.git/HEAD") {
        if let Some(reference) = head.trim().strip_prefix("ref: ") {
            // A ref that is only packed has no file: a missing path would
            // rerun this script on every build.
            let path = format!("../../.git/{reference}");
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    if std::path::Path::new("../../.git/packed-refs").exists() {
        println!("cargo:rerun-if-changed=../../.git/packed-refs");
    }
}
