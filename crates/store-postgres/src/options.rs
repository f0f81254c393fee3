//! What a node needs to open the shared store.

use std::path::PathBuf;
use std::time::Duration;

/// Settings of the PostgreSQL store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// `postgres://user@host:port/database?sslmode=...` (TLS with rustls when the URL asks for
    /// it; `sslmode=prefer`, the default, uses it when the server offers it).
    pub url: String,
    /// A PEM file of the certificates TLS to the server trusts (a private CA); `None`: the web
    /// PKI roots.
    pub ca_file: Option<PathBuf>,
    /// This node's name, unique in the cluster: it names the node's leases and heartbeat.
    pub node: String,
    /// The schema envoi's tables live in; `None` is the connection's default (`public`).
    pub schema: Option<String>,
    /// Connections in the pool.
    pub pool_size: usize,
    /// How long a lease taken without an attempt deadline (a new message, a batch claim) lasts.
    pub lease: Duration,
    /// How often this node writes its heartbeat.
    pub heartbeat: Duration,
    /// A node whose heartbeat is older than this is dead: the others release its leases.
    pub node_timeout: Duration,
    /// `statement_timeout` of envoi's sessions.
    pub statement_timeout: Duration,
    /// `idle_in_transaction_session_timeout` of envoi's sessions.
    pub idle_in_transaction_timeout: Duration,
    /// How long a call waits for a connection before it fails (the database is down).
    pub connect_timeout: Duration,
    /// At most one notice of due work (a `NOTIFY`) is sent per this interval.
    pub notify_interval: Duration,
}

impl PgOptions {
    /// Defaults for `url` and `node`.
    pub fn new(url: impl Into<String>, node: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ca_file: None,
            node: node.into(),
            schema: None,
            pool_size: 16,
            lease: Duration::from_secs(20 * 60),
            heartbeat: Duration::from_secs(3),
            node_timeout: Duration::from_secs(15),
            statement_timeout: Duration::from_secs(30),
            idle_in_transaction_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            notify_interval: Duration::from_secs(1),
        }
    }
}
