//! The real OPA as a peer: finding the `opa` binary and its version,
//! staging the scenario's policy and data for OPA's loader, and a managed
//! `opa run --server` that rigor starts and stops (`server: managed`).
//!
//! The managed server gets the same modules and the same merged data
//! document the embedded targets evaluate: module files are passed as
//! written (so OPA's own messages name the user's files), the merged data
//! as one `data.json` in a private directory (OPA loads a `data.json` given
//! by path at the root of `data`, as rigor merges it). Its log goes to a
//! file (`--log-level error`): a pipe nobody reads could fill and stall it,
//! and per-request logging would be measured.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rigor_engine::target::TargetError;
use rigor_scenario::plan::PolicyPlan;

use crate::process::{die_with_parent, find_binary, free_port, go_bin_dirs};

/// The OPA release rigor's scenarios, tests and `just deps` are pinned to.
pub const PINNED: &str = "v1.22.3";

/// How long a managed server may take to answer `/health`.
const START_TIMEOUT: Duration = Duration::from_secs(20);

fn install_help() -> String {
    format!(
        "install it with `go install github.com/open-policy-agent/opa@{PINNED}` (or `just deps`), \
         which puts it in $(go env GOPATH)/bin; or put `opa` on PATH, or set `opa_binary:` to its path"
    )
}

/// An `opa` binary and what it says of its version.
#[derive(Debug, Clone)]
pub struct Opa {
    /// Where it is.
    pub path: PathBuf,
    /// `1.22.3 (go1.26.8)`, from `opa version`.
    pub version: String,
}

impl Opa {
    /// Finds `opa`: `explicit` (a target's `opa_binary:`), else on PATH,
    /// else where `go install` puts it. Missing is a setup failure (exit 3)
    /// that says how to install it.
    pub fn find(explicit: Option<&str>) -> Result<Opa, TargetError> {
        let path = find_binary("opa", explicit, &go_bin_dirs()).ok_or_else(|| {
            TargetError::Failed(match explicit {
                Some(p) => format!("`opa_binary: {p}` is not an executable file; {}", install_help()),
                None => format!(
                    "`opa` is not installed (not on PATH, nor in $GOBIN, $GOPATH/bin or ~/go/bin); {}",
                    install_help()
                ),
            })
        })?;
        let out = Command::new(&path)
            .arg("version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| TargetError::Failed(format!("cannot run `{}`: {e}", path.display())))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let version = match (field("Version:"), field("Go Version:")) {
            (Some(v), Some(go)) => format!("{v} ({go})"),
            (Some(v), None) => v,
            _ => {
                return Err(TargetError::Failed(format!(
                    "`{} version` printed no version; is it OPA? {}",
                    path.display(),
                    install_help()
                )))
            }
        };
        Ok(Opa { path, version })
    }

    /// A command running this binary.
    pub fn command(&self) -> Command {
        Command::new(&self.path)
    }

    /// `opa check` on the scenario's policy (parse, compile, type check),
    /// for `rigor validate`: a policy OPA rejects is `Invalid` with OPA's
    /// own message.
    pub fn check(&self, policy: &PolicyPlan) -> Result<(), TargetError> {
        let staged = stage(policy)?;
        let mut command = self.command();
        command.arg("check");
        if policy.rego_v0 {
            command.arg("--v0-compatible");
        }
        // Data files are not Rego: only the modules are checked.
        let modules = staged
            .files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "rego"));
        let out = command
            .args(modules)
            .current_dir(staged.dir.path())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                TargetError::Failed(format!("cannot run `{}`: {e}", self.path.display()))
            })?;
        if out.status.success() {
            return Ok(());
        }
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Err(TargetError::Invalid(format!(
            "OPA {} rejected the policy (`opa check`): {}",
            self.version,
            opa_message(&text)
        )))
    }
}

/// The scenario's policy and data as files for OPA's loader.
#[derive(Debug)]
pub struct Staged {
    /// Holds the merged `data.json` (and copies of modules whose file
    /// changed since rigor read it); removed when dropped.
    pub dir: tempfile::TempDir,
    /// Module files and the data file, in load order, for `-d` or `opa run`.
    pub files: Vec<PathBuf>,
}

/// Writes what OPA needs to load exactly what the embedded targets evaluate.
pub fn stage(policy: &PolicyPlan) -> Result<Staged, TargetError> {
    let failed = |what: &str, e: std::io::Error| {
        TargetError::Failed(format!("cannot stage the policy for OPA ({what}): {e}"))
    };
    let dir = tempfile::Builder::new()
        .prefix("rigor-opa-")
        .tempdir()
        .map_err(|e| failed("temporary directory", e))?;
    let mut files = Vec::new();
    for (i, module) in policy.modules.iter().enumerate() {
        let path = Path::new(&module.path);
        let same = std::fs::read_to_string(path).is_ok_and(|t| t == module.text);
        if same {
            files.push(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
        } else {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("module{i}.rego"));
            let copy = dir.path().join(format!("{i}-{name}"));
            std::fs::write(&copy, &module.text).map_err(|e| failed(&module.path, e))?;
            files.push(copy);
        }
    }
    if policy.data.as_object().is_some_and(|o| !o.is_empty()) {
        let data = dir.path().join("data.json");
        std::fs::write(&data, policy.data.to_string()).map_err(|e| failed("data.json", e))?;
        files.push(data);
    }
    Ok(Staged { dir, files })
}

/// Whether OPA's message is about the policy or data (the user's input: exit 2).
pub fn rejects_input(message: &str) -> bool {
    [
        "rego_",
        "load error",
        "initialization error",
        "compile error",
        "json: ",
        "yaml: ",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// OPA's stderr without its warning about running as root, one message.
pub fn opa_message(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| !l.contains("Running OPA with root privileges"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// An `opa run --server` process rigor started; stopped when dropped.
#[derive(Debug)]
pub struct ManagedOpa {
    child: Child,
    /// The loopback port it listens on.
    pub port: u16,
    /// The binary and its version.
    pub opa: Opa,
    _staged: Staged,
}

impl ManagedOpa {
    /// Starts OPA on a free loopback port with the scenario's policy and
    /// data and waits until `/health` answers 200. A policy OPA rejects is
    /// `Invalid` with OPA's own message.
    pub fn start(opa: &Opa, policy: &PolicyPlan) -> Result<Self, TargetError> {
        let staged = stage(policy)?;
        let log = staged.dir.path().join("opa.log");
        let mut last_error = String::new();
        // A port found free can be taken before OPA binds it: retry.
        for _ in 0..3 {
            let port = free_port()?;
            let log_file = std::fs::File::create(&log)
                .map_err(|e| TargetError::Failed(format!("cannot create OPA's log file: {e}")))?;
            let mut command = opa.command();
            command
                .args(["run", "--server", "--addr", &format!("127.0.0.1:{port}")])
                .args(["--log-level", "error", "--skip-version-check"]);
            if policy.rego_v0 {
                command.arg("--v0-compatible");
            }
            // OPA prints start-up errors on stdout and its log on stderr: both to the file.
            let out_file = log_file
                .try_clone()
                .map_err(|e| TargetError::Failed(format!("cannot share OPA's log file: {e}")))?;
            command
                .args(&staged.files)
                .current_dir(staged.dir.path())
                .stdin(Stdio::null())
                .stdout(out_file)
                .stderr(log_file);
            die_with_parent(&mut command);
            let mut child = command.spawn().map_err(|e| {
                TargetError::Failed(format!("cannot start `{}`: {e}", opa.path.display()))
            })?;
            match wait_ready(&mut child, port, &log) {
                Ok(()) => {
                    return Ok(ManagedOpa {
                        child,
                        port,
                        opa: opa.clone(),
                        _staged: staged,
                    })
                }
                Err(message) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    if rejects_input(&message) {
                        return Err(TargetError::Invalid(format!(
                            "OPA {} rejected the policy: {message}",
                            opa.version
                        )));
                    }
                    if !message.contains("address already in use") {
                        return Err(TargetError::Failed(format!(
                            "`opa run --server` did not start: {message}"
                        )));
                    }
                    last_error = message;
                }
            }
        }
        Err(TargetError::Failed(format!(
            "`opa run --server` did not start: {last_error}"
        )))
    }

    /// The server's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's process id (for its resident memory).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Waits until the server at `port` answers `/health` with 200; else OPA's
/// message (from its log) on why it exited or hung.
fn wait_ready(child: &mut Child, port: u16, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let health = format!("http://127.0.0.1:{port}/health");
    let log_text = || opa_message(&std::fs::read_to_string(log).unwrap_or_default());
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{} ({status})", log_text()));
        }
        if crate::control::get(&health, Duration::from_millis(500)).is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no answer from /health within {START_TIMEOUT:?}: {}",
                log_text()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for ManagedOpa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opa_messages_are_classified() {
        assert!(rejects_input(
            "error: load error: 1 error occurred during loading: /p.rego:2: rego_parse_error: unexpected } token"
        ));
        assert!(!rejects_input(
            "error: listen tcp 127.0.0.1:1: bind: address already in use"
        ));
        let log = "{\"level\":\"warning\",\"msg\":\"OPA running with uid or gid 0. Running OPA with root privileges is not recommended.\"}\nerror: boom\n";
        assert_eq!(opa_message(log), "error: boom");
    }

    #[test]
    fn staging_writes_the_merged_data_and_keeps_unchanged_module_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let module = dir.path().join("p.rego");
        std::fs::write(&module, "package p\nx := 1\n").expect("write");
        let policy = PolicyPlan {
            modules: vec![
                rigor_scenario::plan::PolicyModule {
                    path: module.display().to_string(),
                    text: "package p\nx := 1\n".into(),
                    printing: None,
                },
                rigor_scenario::plan::PolicyModule {
                    path: dir.path().join("changed.rego").display().to_string(),
                    text: "package q\ny := 2\n".into(),
                    printing: None,
                },
            ],
            data: serde_json::json!({"roles": {"a": 1}}),
            query: "data.p.x".into(),
            rego_v0: false,
            prints: Default::default(),
            print_calls: 0,
            query_is_set: false,
        };
        let staged = stage(&policy).expect("staged");
        assert_eq!(staged.files.len(), 3);
        assert_eq!(
            staged.files[0],
            std::fs::canonicalize(&module).expect("canonical")
        );
        assert!(staged.files[1].starts_with(staged.dir.path()));
        assert_eq!(
            std::fs::read_to_string(&staged.files[1]).expect("copy"),
            "package q\ny := 2\n"
        );
        let data: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&staged.files[2]).expect("data"))
                .expect("json");
        assert_eq!(data, policy.data);
    }
}
