//! The envoi binary: `envoi serve` (the daemon), `envoi queue` (its admin client),
//! `envoi config` (checks), `envoi spool` (offline maintenance) and the completion and man page generators. The library crates do the work; this crate reads files, flags and
//! the environment, and wires them.
//!
//! # Layout
//! - `cli`: clap definitions.
//! - `config`: the TOML configuration, parsed once into typed structs.
//! - `serve`: the daemon's wiring, signals, reload, logging.
//! - `admin`: starting the admin API.
//! - `commands`: `envoi queue ...`, `envoi config ...`, `envoi spool ...`, completions and man pages.

mod admin;
mod cli;
mod commands;
mod config;
mod serve;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use cli::{Cli, Command};

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
            let config = config::load_config(args.config.as_deref(), &args)?;
            serve::logging::init(&config.log)?;
            runtime.block_on(serve::run(config, args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Queue(args) => runtime.block_on(commands::queue::run(args)),
        Command::Reload(args) => runtime.block_on(commands::reload::run(args)),
        Command::Config(command) => commands::config::run(command),
        Command::Dkim(command) => commands::dkim::run(command),
        Command::Spool(command) => commands::spool::run(command),
        Command::Completions { shell } => commands::docs::completions(shell),
        Command::Manpages { dir } => commands::docs::manpages(&dir),
    }
}
