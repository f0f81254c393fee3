//! The envoi binary: `envoi serve` (the daemon), `envoi queue` (its admin client) and
//! `envoi config` (checks). The library crates do the work; this crate reads files, flags and
//! the environment, and wires them.
//!
//! # Layout
//! - `cli`: clap definitions.
//! - `config`: the TOML configuration, parsed once into typed structs.
//! - `serve`: the daemon's wiring, signals, reload, logging.
//! - `admin`: starting the admin API.
//! - `commands`: `envoi queue ...` and `envoi config ...`.

mod admin;
mod cli;
mod commands;
mod config;
mod serve;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use cli::{Cli, Command, ServeArgs};
use config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("envoi: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve(args) => {
            let config = load_config(args.config.as_deref(), &args)?;
            serve::logging::init(config.log.format, config.log.level.as_deref());
            runtime.block_on(serve::run(config, args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Queue(args) => runtime.block_on(commands::queue::run(args)),
        Command::Config(command) => commands::config::run(command),
    }
}

/// The configuration file (or the defaults) with the command-line overrides applied.
///
/// # Errors
/// The file cannot be read or is invalid, or an override makes it invalid.
pub fn load_config(path: Option<&Path>, args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = match path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(listen) = args.listen {
        config.smtp.listeners = vec![config::Listener {
            address: listen,
            tls: config::ListenerTls::None,
        }];
    }
    if let Some(relay) = &args.relay {
        config::relay::parse_hop(relay).map_err(|e| anyhow::anyhow!("--relay: {e}"))?;
        config.relay.smarthost = Some(relay.clone());
    }
    if let Some(spool) = &args.spool {
        config.storage.path = spool.clone();
    }
    if let Some(admin) = args.admin {
        config.admin.address = admin;
        if !admin.ip().is_loopback() && config.admin.token.is_none() {
            anyhow::bail!(
                "--admin {admin} is not loopback: set admin.token in the configuration file"
            );
        }
    }
    if let Some(hostname) = &args.hostname {
        config.hostname = Some(hostname.clone());
    }
    Ok(config)
}
