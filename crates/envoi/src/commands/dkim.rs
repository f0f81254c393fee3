//! `envoi dkim keygen`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use envoi_dkim::Algorithm;

use crate::cli::{DkimCommand, KeyAlgorithmArg};

/// Runs a dkim subcommand.
///
/// # Errors
/// The key file exists or cannot be written, or key generation failed.
pub fn run(command: DkimCommand) -> anyhow::Result<ExitCode> {
    match command {
        DkimCommand::Keygen {
            domain,
            selector,
            algorithm,
            out,
        } => {
            for (what, name) in [("--domain", &domain), ("--selector", &selector)] {
                let valid = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
                anyhow::ensure!(
                    valid,
                    "{what} {name:?}: letters, digits, '-', '_' and '.' only"
                );
            }
            let algorithm = match algorithm {
                KeyAlgorithmArg::Ed25519 => Algorithm::Ed25519,
                KeyAlgorithmArg::Rsa => Algorithm::Rsa,
            };
            let key = envoi_dkim::generate(algorithm)?;
            write_private(&out, key.private_pem.as_bytes())
                .with_context(|| format!("cannot write the key to {}", out.display()))?;
            eprintln!(
                "wrote {}; publish this record, then add a [[dkim.key]] for it:",
                out.display()
            );
            println!("{}", key.txt_record(&domain, &selector));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes `pem` to a new file readable by its owner only (0600): an existing file is never
/// overwritten, so a key in use cannot be replaced by mistake.
fn write_private(path: &Path, pem: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(pem)?;
    file.sync_all()
}
