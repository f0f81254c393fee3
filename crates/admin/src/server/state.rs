//! What every handler reads: the queue, the access configuration, the metrics handle, the
//! reloader.

use std::net::SocketAddr;
use std::sync::Arc;

use envoi_queue::Queue;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::api::Reloader;
use crate::web::WebState;

/// Largest injected message by default (a request body past it is refused with 413).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 50 * 1024 * 1024;
/// Open admin connections by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// Who may use the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// The bearer token. When set, every request but `/healthz` must carry
    /// `Authorization: Bearer <token>`, whatever the listen address.
    pub token: Option<String>,
    /// True when a token is mandatory: the binary sets it when the admin address is not
    /// loopback. [`AdminState::new`] refuses such a configuration without a token.
    pub require_token: bool,
    /// Largest request body (an injected message as JSON) in octets.
    pub max_message_bytes: usize,
    /// Most admin connections open at once; more wait to be accepted.
    pub max_connections: usize,
}

impl AdminConfig {
    /// The configuration for an admin API listening on `addr`: a token is required unless
    /// `addr` is loopback; `token` is checked whenever it is given.
    pub fn for_address(addr: SocketAddr, token: Option<String>) -> Self {
        Self {
            token,
            require_token: !addr.ip().is_loopback(),
            ..Self::default()
        }
    }
}

impl Default for AdminConfig {
    /// No token, none required (loopback), 50 MiB bodies, 64 connections.
    fn default() -> Self {
        Self {
            token: None,
            require_token: false,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Why an [`AdminConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminConfigError {
    /// A token is required (non-loopback address) but none is configured.
    #[error("the admin API listens on a non-loopback address and needs a token: set admin.token")]
    TokenRequired,
    /// The configured token is empty or has whitespace or control characters.
    #[error("the admin token must be non-empty printable text without spaces")]
    BadToken,
}

/// The state the admin handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AdminState {
    queue: Queue,
    config: AdminConfig,
    metrics: Option<PrometheusHandle>,
    reloader: Option<Arc<dyn Reloader>>,
    web: Arc<WebState>,
}

impl AdminState {
    /// State over `queue` with this access configuration, without `/metrics` (see
    /// [`AdminState::with_metrics`]).
    ///
    /// # Errors
    /// [`AdminConfigError`] when a token is required but missing, or unusable.
    pub fn new(queue: Queue, config: AdminConfig) -> Result<Self, AdminConfigError> {
        match &config.token {
            None if config.require_token => return Err(AdminConfigError::TokenRequired),
            Some(token) if !valid_token(token) => return Err(AdminConfigError::BadToken),
            _ => {}
        }
        Ok(Self {
            queue,
            config,
            metrics: None,
            reloader: None,
            web: Arc::new(WebState::default()),
        })
    }

    /// Serves `/metrics` from this handle (from [`crate::install_metrics_recorder`]).
    pub fn with_metrics(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// Serves `POST /v1/reload` with this reloader (the daemon's SIGHUP reload).
    pub fn with_reloader(mut self, reloader: Arc<dyn Reloader>) -> Self {
        self.reloader = Some(reloader);
        self
    }

    /// The reloader, when the server can reload.
    pub fn reloader(&self) -> Option<&Arc<dyn Reloader>> {
        self.reloader.as_ref()
    }

    /// The queue administered.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The access configuration.
    pub fn config(&self) -> &AdminConfig {
        &self.config
    }

    /// The dashboard's sessions, sign-in limit and samples.
    pub fn web(&self) -> &WebState {
        &self.web
    }

    /// The Prometheus handle, when metrics are enabled.
    pub fn metrics(&self) -> Option<&PrometheusHandle> {
        self.metrics.as_ref()
    }
}

fn valid_token(token: &str) -> bool {
    !token.is_empty() && token.chars().all(|c| c.is_ascii_graphic())
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("queue", &self.queue)
            .field("token", &self.config.token.as_ref().map(|_| "<set>"))
            .field("require_token", &self.config.require_token)
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_required_off_loopback() {
        let local = AdminConfig::for_address("127.0.0.1:8025".parse().unwrap(), None);
        assert!(!local.require_token);
        let v6 = AdminConfig::for_address("[::1]:8025".parse().unwrap(), None);
        assert!(!v6.require_token);
        let public = AdminConfig::for_address("0.0.0.0:8025".parse().unwrap(), Some("t".into()));
        assert!(public.require_token);
        assert_eq!(public.token.as_deref(), Some("t"));
    }
}
