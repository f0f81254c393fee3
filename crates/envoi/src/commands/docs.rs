//! `envoi completions SHELL` and `envoi manpages DIR`: generated from the clap definitions, so
//! they never disagree with `--help`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::Cli;

/// Prints the completion script for `shell`.
///
/// # Errors
/// None in practice; the signature matches the other commands.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "envoi", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Writes `envoi.1` and one page per subcommand (`envoi-queue-list.1`, ...) into `dir`.
///
/// # Errors
/// The directory or a page cannot be written; the message names the path.
pub fn manpages(dir: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut command = Cli::command();
    command.build();
    write_pages(&command, dir)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the page of `command` and, recursively, of its subcommands; a built command's
/// subcommands are named for display as `envoi-queue-list`.
fn write_pages(command: &clap::Command, dir: &Path) -> anyhow::Result<()> {
    let name = command.get_display_name().unwrap_or(command.get_name());
    let path = dir.join(format!("{name}.1"));
    let mut text = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut text)
        .with_context(|| format!("cannot render {name}"))?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    for sub in command
        .get_subcommands()
        .filter(|sub| sub.get_name() != "help")
    {
        write_pages(sub, dir)?;
    }
    Ok(())
}
