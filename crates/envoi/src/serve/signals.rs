//! Stop and reload signals.

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};

/// Waits for SIGTERM or SIGINT, calling `on_reload` for each SIGHUP meanwhile.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub async fn wait_for_stop(on_reload: impl Fn()) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!(signal = "SIGTERM", "stop requested"); return Ok(()); }
            _ = int.recv() => { tracing::info!(signal = "SIGINT", "stop requested"); return Ok(()); }
            _ = hup.recv() => on_reload(),
        }
    }
}
