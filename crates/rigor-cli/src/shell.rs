//! What fits rigor into a shell and a system: `rigor export` (a results
//! file in another tool's format), `rigor completions` and `rigor man`, the
//! last two generated from the same clap definitions as `--help`, so they
//! cannot drift from it.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use rigor_report::export::{Better, Options};

use crate::cli::{BetterArg, Cli, ShellArg};
use crate::failure::Failure;

/// `rigor export RESULTS --format F [--better B] [--out PATH]`.
pub(crate) fn export(
    results: &Path,
    format: &str,
    better: Option<BetterArg>,
    out: Option<&Path>,
) -> Result<(), Failure> {
    let exporter = rigor_report::export::exporter(format).ok_or_else(|| {
        // clap only lets registered names through; this is a bug if reached.
        Failure::Invalid(format!("--format {format}: no such export format"))
    })?;
    if better.is_some() && format != "github-action-benchmark" {
        return Err(Failure::Invalid(format!(
            "--better applies to --format github-action-benchmark only, not {format}: \
             drop --better (other formats carry both directions)"
        )));
    }
    let options = Options {
        better: match better {
            Some(BetterArg::Bigger) => Better::Bigger,
            Some(BetterArg::Smaller) | None => Better::Smaller,
        },
    };
    let text = exporter.export(&crate::read_results(results)?, &options);
    write_or_say(out, &text)
}

/// `rigor completions SHELL`: the script on stdout.
pub(crate) fn completions(shell: ShellArg) -> Result<(), Failure> {
    use clap_complete::Shell;
    let shell = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
        ShellArg::Elvish => Shell::Elvish,
        ShellArg::Powershell => Shell::PowerShell,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "rigor", &mut script);
    crate::say(&String::from_utf8_lossy(&script));
    Ok(())
}

/// `rigor man [--out DIR]`: rigor.1 on stdout, or every command's page in DIR.
pub(crate) fn man(out: Option<PathBuf>) -> Result<(), Failure> {
    let command = Cli::command();
    match out {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Failure::Run(format!("cannot create {}: {e}", dir.display())))?;
            clap_mangen::generate_to(command, &dir).map_err(|e| {
                Failure::Run(format!(
                    "cannot write man pages into {}: {e}",
                    dir.display()
                ))
            })?;
            Ok(())
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|e| Failure::Run(format!("cannot render the man page: {e}")))?;
            crate::say(&String::from_utf8_lossy(&page));
            Ok(())
        }
    }
}

/// Writes `text` to `out`, or to stdout without one.
fn write_or_say(out: Option<&Path>, text: &str) -> Result<(), Failure> {
    match out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Failure::Run(format!("cannot write {}: {e}", path.display()))),
        None => {
            crate::say(text);
            Ok(())
        }
    }
}
