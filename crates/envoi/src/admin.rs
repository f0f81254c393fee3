//! Starting the admin API beside the daemon.

use std::net::SocketAddr;

use anyhow::Context;
use std::sync::Arc;

use envoi_admin::api::Reloader;
use envoi_admin::{AdminConfig, AdminState};
use envoi_queue::Queue;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Binds the admin address and serves the API until `shutdown`; returns the bound address.
///
/// # Errors
/// The address cannot be bound, or a non-loopback address has no token.
pub async fn start(
    config: &Config,
    queue: Queue,
    metrics: Option<PrometheusHandle>,
    reloader: Arc<dyn Reloader>,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let address = config.admin.address;
    let admin_config = AdminConfig {
        token: config.admin.token.clone(),
        require_token: !address.ip().is_loopback(),
        ..AdminConfig::default()
    };
    let mut state = AdminState::new(queue, admin_config)
        .context("admin API")?
        .with_reloader(reloader);
    if let Some(handle) = metrics {
        state = state.with_metrics(handle);
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on admin address {address}"))?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = envoi_admin::serve(listener, state, shutdown).await {
            tracing::error!(%error, "admin API stopped");
        }
    });
    Ok(bound)
}

/// Installs the Prometheus recorder before anything records, and describes every metric.
pub fn install_metrics() -> Option<PrometheusHandle> {
    match envoi_admin::install_metrics_recorder() {
        Ok(handle) => {
            envoi_edge::events::describe_metrics();
            envoi_edge::events::register_metrics();
            envoi_relay::mta_sts::describe_metrics();
            Some(handle)
        }
        Err(error) => {
            tracing::warn!(%error, "metrics disabled");
            None
        }
    }
}
