//! `envoi dkim keygen`.

use std::process::ExitCode;

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
            let algorithm = match algorithm {
                KeyAlgorithmArg::Ed25519 => Algorithm::Ed25519,
                KeyAlgorithmArg::Rsa => Algorithm::Rsa,
            };
            let key = envoi_dkim::generate(algorithm)?;
            key.write_private(&out)?;
            eprintln!(
                "wrote {}; publish this record, then add a [[dkim.key]] for it:",
                out.display()
            );
            println!("{}", key.txt_record(&domain, &selector));
            Ok(ExitCode::SUCCESS)
        }
    }
}
