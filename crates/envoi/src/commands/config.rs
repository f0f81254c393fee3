//! `envoi config check FILE` and `envoi config hash-password`.

use std::io::BufRead;
use std::process::ExitCode;

use crate::cli::ConfigCommand;
use crate::config::Config;

/// Runs a config subcommand.
///
/// # Errors
/// The configuration error (file, line, key) or an unreadable standard input.
pub fn run(command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Check { file } => {
            Config::load(&file)?;
            println!("{}: OK", file.display());
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::HashPassword => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                anyhow::bail!("no password on standard input");
            }
            println!("{}", crate::serve::users::hash_password(password)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
