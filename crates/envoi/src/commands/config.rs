//! `envoi config check FILE`, `envoi config show [FILE]` and `envoi config hash-password`.

use std::io::{BufRead, IsTerminal};
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
            let config = Config::load(&file)?;
            // What the file names must be usable too: a missing key file fails here, not
            // when the daemon starts.
            crate::serve::build::dkim(&config)?;
            crate::serve::build::check_dane(&config.relay)?;
            println!("{}: OK", file.display());
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Show { file } => {
            let config = match &file {
                Some(file) => Config::load(file)?,
                None => Config::default(),
            };
            let text = crate::config::show::effective_toml(&config)
                .map_err(|e| anyhow::anyhow!("cannot write the configuration as TOML: {e}"))?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::HashPassword => {
            let password = read_password()?;
            println!("{}", crate::serve::users::hash_password(&password)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The password to hash: asked twice without echo on a terminal, else the first line of
/// standard input (for scripts).
fn read_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            anyhow::bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        anyhow::bail!("no password given");
    }
    Ok(password)
}
