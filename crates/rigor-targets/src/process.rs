//! Helpers for the peer processes rigor starts (`redis-server`, `opa`):
//! free loopback ports, binaries found where their installers put them,
//! and children that die with rigor.

use std::path::{Path, PathBuf};
use std::process::Command;

use rigor_engine::target::TargetError;

/// Asks the kernel to kill the child if rigor dies without dropping it
/// (a crash, SIGKILL): no orphaned servers.
pub fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches only the child.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// A loopback port free at the time of asking (a server started on it may
/// still lose a race for it: callers retry).
pub fn free_port() -> Result<u16, TargetError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| TargetError::Failed(format!("cannot find a free loopback port: {e}")))
}

/// Where a program is: `explicit` (a path, or a name looked up on `PATH`),
/// else `name` on `PATH`, else in `extra` directories (where an installer
/// such as `go install` puts binaries that are not on `PATH`).
pub fn find_binary(name: &str, explicit: Option<&str>, extra: &[PathBuf]) -> Option<PathBuf> {
    if let Some(given) = explicit {
        let p = Path::new(given);
        if p.components().count() > 1 {
            return p.is_file().then(|| p.to_path_buf());
        }
        return on_path(given);
    }
    on_path(name).or_else(|| {
        extra
            .iter()
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    p.is_file()
}

/// The directories `go install` writes to: `$GOBIN`, each `$GOPATH`'s
/// `bin`, and `~/go/bin` (Go's default GOPATH), without running `go`.
pub fn go_bin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(bin) = std::env::var_os("GOBIN").filter(|b| !b.is_empty()) {
        dirs.push(PathBuf::from(bin));
    }
    if let Some(gopath) = std::env::var_os("GOPATH") {
        dirs.extend(std::env::split_paths(&gopath).map(|p| p.join("bin")));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join("go").join("bin"));
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_are_found_on_path_and_in_extra_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tool = dir.path().join("rigor-test-tool");
        std::fs::write(&tool, "#!/bin/sh\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        assert_eq!(
            find_binary("rigor-test-tool", None, &[dir.path().to_path_buf()]),
            Some(tool.clone())
        );
        assert_eq!(find_binary("rigor-test-tool", None, &[]), None);
        let given = tool.display().to_string();
        assert_eq!(find_binary("x", Some(&given), &[]), Some(tool));
        assert_eq!(find_binary("x", Some("/no/such/opa"), &[]), None);
        assert!(find_binary("sh", None, &[]).is_some());
    }
}
