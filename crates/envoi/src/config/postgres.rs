//! The `[storage]` keys of `kind = "postgres"`: several nodes sharing one queue.

use std::path::PathBuf;
use std::time::Duration;

use envoi_store_postgres::PgOptions;
use serde::{Deserialize, Serialize};

/// `[storage]` keys for PostgreSQL; each is optional but `url`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresKeys {
    /// `postgres://user@host:port/database` (`?sslmode=require` for TLS).
    #[serde(default, serialize_with = "super::show::redact_url")]
    pub url: Option<String>,
    /// A PEM file of the certificates TLS to the server trusts (a private CA). Default: the
    /// web PKI roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// This node's name, unique in the cluster. Default: the host name.
    #[serde(default)]
    pub node: Option<String>,
    /// The schema envoi's tables live in. Default: the connection's (`public`).
    #[serde(default)]
    pub schema: Option<String>,
    /// Connections in the pool.
    #[serde(default)]
    pub pool_size: Option<usize>,
    /// How long a lease taken on a new message or a batch of due ones lasts. The first attempt
    /// of a message this node stored needs no claim only while this lease outlasts an attempt's.
    #[serde(
        default,
        deserialize_with = "super::duration::option",
        serialize_with = "super::duration::serialize_option"
    )]
    pub lease: Option<Duration>,
    /// How often the node writes its heartbeat.
    #[serde(
        default,
        deserialize_with = "super::duration::option",
        serialize_with = "super::duration::serialize_option"
    )]
    pub heartbeat: Option<Duration>,
    /// A node whose heartbeat is older than this is dead: the others take its messages.
    #[serde(
        default,
        deserialize_with = "super::duration::option",
        serialize_with = "super::duration::serialize_option"
    )]
    pub node_timeout: Option<Duration>,
}

impl PostgresKeys {
    /// The store's options, or why they cannot be had (no `url`, or a heartbeat that cannot
    /// keep the node alive).
    pub fn options(&self, hostname: &str) -> Result<PgOptions, String> {
        let url = self
            .url
            .clone()
            .ok_or("[storage] kind = \"postgres\" needs `url`")?;
        let mut options = PgOptions::new(url, self.node.as_deref().unwrap_or(hostname));
        options.schema = self.schema.clone();
        options.ca_file = self.ca_file.clone();
        if let Some(size) = self.pool_size {
            options.pool_size = size;
        }
        options.lease = self.lease.unwrap_or(options.lease);
        options.heartbeat = self.heartbeat.unwrap_or(options.heartbeat);
        options.node_timeout = self.node_timeout.unwrap_or(options.node_timeout);
        if options.heartbeat.is_zero() || options.heartbeat >= options.node_timeout {
            return Err(format!(
                "[storage] heartbeat ({:?}) must be above zero and below node_timeout ({:?})",
                options.heartbeat, options.node_timeout
            ));
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use crate::config::tests::syntax;
    use crate::config::{Config, ParseFailure, StorageKind};

    #[test]
    fn postgres_keys_reach_the_store_options() {
        let config = Config::parse(
            "[storage]\nkind = \"postgres\"\nurl = \"postgres://envoi@db/mail\"\nnode = \"mx1\"\n\
             ca_file = \"/etc/envoi/db-ca.pem\"\npool_size = 8\nlease = \"5m\"\nheartbeat = \"2s\"\nnode_timeout = \"10s\"\n",
        )
        .unwrap();
        assert_eq!(config.storage.kind, StorageKind::Postgres);
        let options = config.storage.postgres.options("host.example").unwrap();
        assert_eq!(options.url, "postgres://envoi@db/mail");
        assert_eq!(options.node, "mx1");
        assert_eq!(
            options.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/envoi/db-ca.pem"))
        );
        assert_eq!(options.pool_size, 8);
        assert_eq!(options.lease, Duration::from_secs(300));
        assert_eq!(options.heartbeat, Duration::from_secs(2));
        assert_eq!(options.node_timeout, Duration::from_secs(10));
    }

    #[test]
    fn the_node_defaults_to_the_host_name_and_liveness_to_15_seconds() {
        let config =
            Config::parse("[storage]\nkind = \"postgres\"\nurl = \"postgres://db/mail\"\n")
                .unwrap();
        let options = config.storage.postgres.options("host.example").unwrap();
        assert_eq!(options.node, "host.example");
        assert_eq!(options.node_timeout, Duration::from_secs(15));
    }

    #[test]
    fn postgres_without_url_or_with_a_slow_heartbeat_is_refused() {
        let err = Config::parse("[storage]\nkind = \"postgres\"\n").unwrap_err();
        assert!(
            matches!(&err, ParseFailure::Invalid(m) if m.contains("needs `url`")),
            "{err:?}"
        );
        let err = Config::parse(
            "[storage]\nkind = \"postgres\"\nurl = \"postgres://db/m\"\nheartbeat = \"20s\"\n",
        )
        .unwrap_err();
        assert!(
            matches!(&err, ParseFailure::Invalid(m) if m.contains("below node_timeout")),
            "{err:?}"
        );
        let message = syntax("[storage]\nkind = \"postgres\"\nurll = \"x\"\n");
        assert!(
            message.contains("line 3") && message.contains("url"),
            "{message}"
        );
    }
}
