//! envoi's admin HTTP API: the JSON types, the axum server, `/metrics`, the client the CLI
//! uses, and the text the CLI prints.
//!
//! The daemon wires it like this:
//! ```no_run
//! # async fn wire(queue: envoi_queue::Queue) -> Result<(), Box<dyn std::error::Error>> {
//! use envoi_admin::{AdminConfig, AdminState};
//! let metrics = envoi_admin::install_metrics_recorder()?; // once, before the queue starts
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8025").await?;
//! // A token is required when the address is not loopback; one given is always checked.
//! let config = AdminConfig::for_address(listener.local_addr()?, None);
//! let state = AdminState::new(queue, config)?.with_metrics(metrics);
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! envoi_admin::serve(listener, state, shutdown).await?;
//! # Ok(()) }
//! ```
//! and the CLI like this:
//! ```no_run
//! # async fn cli() -> Result<(), envoi_admin::ClientError> {
//! let client = envoi_admin::AdminClient::new("http://127.0.0.1:8025", None)?;
//! let page = client.list(&envoi_admin::api::MessageFilter::default()).await?;
//! print!("{}", envoi_admin::render::list(&page, std::time::SystemTime::now()));
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`api`]: request and response types shared by server and client.
//! - [`server`]: routes, one file per endpoint group; auth; error mapping; [`serve`].
//! - [`metrics`]: the Prometheus recorder and the admin-owned gauges.
//! - [`destination_metrics`]: the per-destination gauges (top N, then "other").
//! - [`destination_counters`]: the per-destination counters (top N, then "other").
//! - [`client`]: [`AdminClient`] and [`ClientError`].
//! - [`render`]: tables and lines for people.
//! - [`web`]: the dashboard, HTML pages on the same listener.

pub mod api;
pub mod client;
pub mod destination_counters;
pub mod destination_metrics;
pub mod metrics;
pub mod render;
pub mod server;
pub mod web;

pub use client::{AdminClient, ClientError};
pub use metrics::{
    install_metrics_recorder, MetricsError, QUARANTINED_RECORDS, QUEUE_MESSAGES, STORAGE_STATE,
    UNCOMMITTED,
};
pub use server::{router, serve, AdminConfig, AdminConfigError, AdminState, ApiError};
