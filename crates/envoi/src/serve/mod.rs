//! `envoi serve`: wires edge → queue → relay on the configured store, plus the admin API,
//! and runs until SIGTERM or SIGINT (exit 0), or until the store stops for good (exit 1).
//!
//! # Layout
//! - `build`: configuration → store, relay, backoff, policies, edge settings.
//! - `rdns`: the edge's client-name lookups over hickory-resolver.
//! - `reload`: the parts SIGHUP (and `POST /v1/reload`) can replace.
//! - `changes`: which configuration keys a reload changed, applied or waiting for a restart.
//! - `users`: AUTH users with Argon2 hashes.
//! - `logging`: text or JSON log lines to standard error, a file or syslog.
//! - `signals`: stop and reload.
//! - `notify`: readiness, reload and stop for systemd.

pub mod build;
pub mod changes;
pub mod logging;
pub mod notify;
pub mod rdns;
pub mod reload;
pub mod signals;
pub mod users;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use envoi_edge::{ListenMode, Server};
use envoi_queue::{Backoff, PrequeuePolicy, Queue, Relay};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use envoi_admin::api::ReloadReport;

use crate::config::{Config, ListenerTls};
use reload::{Swappable, SwappableBackoff, SwappablePolicies, SwappableRelay};

/// The running daemon's replaceable parts, for SIGHUP.
struct Reloadable {
    config_path: Option<PathBuf>,
    overrides: crate::cli::ServeArgs,
    hostname: String,
    relay: Arc<Swappable<dyn Relay>>,
    backoff: Arc<Swappable<dyn Backoff>>,
    policies: Arc<Swappable<Vec<Box<dyn PrequeuePolicy>>>>,
    /// The configuration file's keys at start: what the parts a reload cannot replace run with.
    started: toml::Value,
    /// The file's keys at start or at the last reload: what the replaceable parts run with.
    applied: std::sync::Mutex<toml::Value>,
}

impl envoi_admin::api::Reloader for Reloadable {
    fn reload(&self) -> ReloadReport {
        reload(self)
    }
}

/// Runs the daemon until a stop signal; returns once everything has stopped.
///
/// # Errors
/// Start-up failures (spool, listeners, TLS files), with the path or address at fault.
pub async fn run(config: Config, args: crate::cli::ServeArgs) -> anyhow::Result<()> {
    let hostname = config.hostname.clone().unwrap_or_else(system_hostname);
    let metrics = crate::admin::install_metrics();
    let store = build::storage(&config, &hostname).await?;

    let relay: Arc<Swappable<dyn Relay>> =
        Swappable::new(Arc::new(build::relay(&config, &hostname)?));
    let backoff = Swappable::new(build::backoff(&config));
    let policies = Swappable::new(Arc::new(build::policies(&config, &hostname)?));
    let queue = Queue::builder(
        store.storage.clone(),
        Arc::new(SwappableRelay(relay.clone())),
    )
    .node(hostname.clone())
    .backoff(SwappableBackoff(backoff.clone()))
    .policy(SwappablePolicies(policies.clone()))
    .max_lifetime(
        config
            .queue
            .max_lifetime
            .unwrap_or(envoi_queue::backoff::DEFAULT_LIFETIME),
    )
    .settings(&config.queue.settings)
    .start()
    .await
    .context("cannot start the queue")?;

    let edge_shutdown = CancellationToken::new();
    let edge_tasks = TaskTracker::new();
    let mut smtp_addresses = Vec::new();
    let server = Server::builder(build::edge(&config, &hostname)?, Arc::new(queue.clone()));
    let server = if config.smtp.auth.users.is_empty() {
        server
    } else {
        server.authenticator(Arc::new(users::UserTable::new(&config.smtp.auth.users)))
    };
    let server = if config.smtp.reverse_dns {
        let dns = build::name_servers(&config.relay);
        server.reverse_dns(Arc::new(rdns::HickoryReverseDns::new(&dns)))
    } else {
        server
    }
    .build();
    for listener in &config.smtp.listeners {
        let socket = bind(listener.address).await?;
        smtp_addresses.push(socket.local_addr()?);
        let mode = match listener.tls {
            ListenerTls::Implicit => ListenMode::ImplicitTls,
            ListenerTls::None | ListenerTls::Starttls => ListenMode::Plain,
        };
        let (server, token) = (server.clone(), edge_shutdown.clone());
        edge_tasks.spawn(async move {
            if let Err(error) = server.serve(socket, mode, token).await {
                tracing::error!(%error, "SMTP listener stopped");
            }
        });
    }
    edge_tasks.close();

    let reloadable = Arc::new(Reloadable {
        started: changes::file_keys(args.config.as_deref())?,
        applied: std::sync::Mutex::new(changes::file_keys(args.config.as_deref())?),
        config_path: args.config.clone(),
        overrides: args,
        hostname: hostname.clone(),
        relay,
        backoff,
        policies,
    });
    let admin_shutdown = CancellationToken::new();
    let admin_address = crate::admin::start(
        &config,
        queue.clone(),
        metrics,
        reloadable.clone(),
        admin_shutdown.clone(),
    )
    .await?;

    tracing::info!(
        smtp = ?smtp_addresses,
        admin = %admin_address,
        storage = %store.describe(&config, &hostname),
        hostname = %hostname,
        "envoi ready"
    );
    notify::ready(&format!(
        "SMTP on {smtp_addresses:?}, admin on {admin_address}"
    ));

    // A store that stopped for good refuses every message and every outcome: staying up would
    // answer 451 to everyone and deliver again what it cannot record as delivered. So the
    // daemon stops as on SIGTERM and exits non-zero, for a supervisor to restart it.
    let store_failure = tokio::select! {
        stopped = signals::wait_for_stop(|| drop(reload(&reloadable))) => {
            stopped?;
            None
        }
        why = store.stopped() => {
            tracing::error!(error = %why, "the store stopped; envoi stops and exits non-zero");
            Some(why)
        }
    };

    if store_failure.is_some() {
        // Nothing can be recorded any more: deliveries stop at once (one that finished now
        // could not be marked delivered and would go again after the restart), then the edge,
        // whose messages the store refuses anyway.
        queue.shutdown(std::time::Duration::ZERO).await;
    }
    notify::stopping();
    tracing::info!("stopping: no new connections; open SMTP transactions may finish");
    edge_shutdown.cancel();
    edge_tasks.wait().await;
    queue.shutdown(config.queue.settings.shutdown_grace).await;
    admin_shutdown.cancel();
    tracing::info!("envoi stopped");
    match store_failure {
        None => Ok(()),
        Some(why) => Err(anyhow::anyhow!("the store stopped: {why}")),
    }
}

async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
}

/// SIGHUP and `POST /v1/reload`: re-reads the configuration and swaps what can be swapped,
/// telling systemd; logs and answers what changed.
fn reload(parts: &Reloadable) -> ReloadReport {
    notify::reloading();
    let report = match swap_parts(parts) {
        Ok(report) => report,
        Err(why) => {
            tracing::error!(error = %why, "reload refused; keeping the running configuration");
            ReloadReport {
                refused: Some(why),
                ..ReloadReport::default()
            }
        }
    };
    if report.refused.is_none() {
        tracing::info!(
            applied = %report.applied.join(","),
            needs_restart = %report.needs_restart.join(","),
            "configuration reloaded"
        );
    }
    notify::ready("configuration reloaded or refused (see the log)");
    report
}

/// Re-reads the configuration and swaps what can be swapped; a bad one changes nothing.
fn swap_parts(parts: &Reloadable) -> Result<ReloadReport, String> {
    let config = crate::config::load_config(parts.config_path.as_deref(), &parts.overrides)
        .map_err(|e| format!("{e:#}"))?;
    let keys = changes::file_keys(parts.config_path.as_deref()).map_err(|e| format!("{e:#}"))?;
    let relay = build::relay(&config, &parts.hostname).map_err(|e| format!("relay: {e:#}"))?;
    let policies =
        build::policies(&config, &parts.hostname).map_err(|e| format!("policies: {e:#}"))?;
    parts.relay.set(Arc::new(relay));
    parts.backoff.set(build::backoff(&config));
    parts.policies.set(Arc::new(policies));
    let mut in_effect = parts
        .applied
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (applied, _) = changes::classify(&in_effect, &keys);
    // What needs a restart stays listed until the restart.
    let (_, restart) = changes::classify(&parts.started, &keys);
    *in_effect = keys;
    Ok(ReloadReport {
        refused: None,
        applied,
        needs_restart: restart,
    })
}

/// The system's host name, or "localhost".
pub fn system_hostname() -> String {
    gethostname::gethostname()
        .into_string()
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
