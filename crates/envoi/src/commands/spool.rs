//! `envoi spool compact`: offline compaction of the spool's database.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{SpoolArgs, SpoolCommand};
use crate::config::Config;

/// Runs a spool subcommand.
///
/// # Errors
/// An unreadable configuration file, a spool that is open elsewhere (a running daemon) or
/// missing, or a failed compaction.
pub fn run(command: SpoolCommand) -> anyhow::Result<ExitCode> {
    match command {
        SpoolCommand::Compact(args) => {
            let dir = spool_dir(&args)?;
            let report = envoi_spool::compact(&dir)
                .with_context(|| format!("cannot compact spool {}", dir.display()))?;
            println!(
                "{}: {} -> {}",
                dir.join(envoi_spool::DB_FILE).display(),
                size(report.before),
                size(report.after)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--spool`, else the configuration file's `storage.path`, else the default.
fn spool_dir(args: &SpoolArgs) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &args.spool {
        return Ok(dir.clone());
    }
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    Ok(config.storage.path)
}

/// "N octets (M allocated)": the file's length, and what the filesystem gave it.
fn size(usage: envoi_spool::DiskUsage) -> String {
    format!("{} octets ({} allocated)", usage.len, usage.allocated)
}
