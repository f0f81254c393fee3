//! The configuration file: every knob of `envoi serve`, parsed once into typed, validated
//! structs. Unknown keys, bad values and missing files are errors that name the key, the line
//! and what was expected.
//!
//! Each setting is stated once: a library's knob is a field of the library's settings struct
//! (`envoi_edge::Limits`, `envoi_relay::PoolConfig`, `envoi_queue::QueueSettings`, ...), which
//! deserialises with its own defaults and is embedded in the section holding its keys.
//!
//! # Layout
//! - `dkim`: DKIM signing keys and the signing domain.
//! - `duration`: "30s", "5m", "4h", "5d".
//! - `log`: the `[log]` section: format, level filter, output.
//! - `postgres`: the `[storage]` keys of the PostgreSQL store.
//! - `table`: one TOML table read into a section and the library structs it embeds.
//! - `smtp`: listeners, limits, timeouts, access control, auth users.
//! - `queue`: lifetime, concurrency, backoff, prequeue policies.
//! - `relay`: smarthost, routes, MX and DNS, TLS policy, timeouts, limits.
//! - `show`: the effective configuration as TOML (`envoi config show`), secrets redacted.
//! - this file: the whole file, storage and admin sections, loading with the command-line
//!   overrides.

pub mod dkim;
pub mod duration;
pub mod log;
pub mod postgres;
pub mod queue;
pub mod relay;
pub mod show;
pub mod smtp;
pub mod table;
#[cfg(test)]
mod tests_settings;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use envoi_spool::SpoolOptions;
use serde::{Deserialize, Serialize};

use crate::cli::ServeArgs;
use postgres::PostgresKeys;
use table::Embeds;

pub use dkim::DkimSection;
pub use log::{LogFormat, LogOutput, LogSection};
pub use queue::QueueSection;
pub use relay::RelaySection;
pub use smtp::{Listener, ListenerTls, SmtpSection};

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key or value is wrong (the message names the line).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message: line, column, the key and what was expected.
        message: String,
    },
    /// The values parse but do not make sense together.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// The whole configuration file. Every section is optional; defaults match `envoi serve`
/// without arguments.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This host's name: SMTP banner, Received headers, Reporting-MTA. Default: the system's.
    pub hostname: Option<String>,
    /// The SMTP server.
    #[serde(
        default,
        deserialize_with = "table::section",
        serialize_with = "table::serialize_section"
    )]
    pub smtp: SmtpSection,
    /// The queue.
    #[serde(
        default,
        deserialize_with = "table::section",
        serialize_with = "table::serialize_section"
    )]
    pub queue: QueueSection,
    /// Delivery.
    #[serde(
        default,
        deserialize_with = "table::section",
        serialize_with = "table::serialize_section"
    )]
    pub relay: RelaySection,
    /// Where messages are stored.
    #[serde(
        default,
        deserialize_with = "table::section",
        serialize_with = "table::serialize_section"
    )]
    pub storage: StorageSection,
    /// The admin API.
    #[serde(default)]
    pub admin: AdminSection,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
    /// DKIM signing.
    #[serde(default)]
    pub dkim: DkimSection,
}

/// `[storage]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// `"spool"` (durable, default), `"postgres"` (shared by several nodes) or `"memory"`
    /// (lost at exit).
    #[serde(default)]
    pub kind: StorageKind,
    /// The spool directory.
    #[serde(default = "default_spool")]
    pub path: PathBuf,
    /// The spool's tuning; its keyed fields (`min_free`) are keys of this table.
    #[serde(skip)]
    pub spool: SpoolOptions,
    /// The PostgreSQL store's keys (`url`, `node`, ...).
    #[serde(skip)]
    pub postgres: PostgresKeys,
}

impl Embeds for StorageSection {
    type Parts = (SpoolOptions, PostgresKeys);

    fn with_parts(self, (spool, postgres): Self::Parts) -> Self {
        Self {
            spool,
            postgres,
            ..self
        }
    }

    fn part_tables(&self) -> Result<Vec<toml::Table>, String> {
        // The spool's one key, written here: its options are not serializable.
        let mut spool = toml::Table::new();
        let min_free = i64::try_from(self.spool.min_free).map_err(|e| e.to_string())?;
        spool.insert("min_free".to_owned(), toml::Value::Integer(min_free));
        Ok(vec![spool, table::to_table(&self.postgres)?])
    }
}

/// Which store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// The embedded durable spool.
    #[default]
    Spool,
    /// In memory; for tests and throw-away setups.
    Memory,
    /// A PostgreSQL database several nodes share.
    Postgres,
}

fn default_spool() -> PathBuf {
    PathBuf::from("./envoi-spool")
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            kind: StorageKind::Spool,
            path: default_spool(),
            spool: SpoolOptions::default(),
            postgres: PostgresKeys::default(),
        }
    }
}

/// `[admin]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Where the admin API listens; a non-loopback address requires `token`.
    #[serde(default = "default_admin")]
    pub address: SocketAddr,
    /// The bearer token clients must send.
    #[serde(serialize_with = "show::redact_option")]
    pub token: Option<String>,
}

fn default_admin() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8025))
}

impl Default for AdminSection {
    fn default() -> Self {
        Self {
            address: default_admin(),
            token: None,
        }
    }
}

impl Config {
    /// Reads and validates `path`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, and for parse errors the line and key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            ParseFailure::Syntax(message) => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            ParseFailure::Invalid(message) => ConfigError::Invalid {
                path: path.to_owned(),
                message,
            },
        })
    }

    /// Parses and validates configuration text.
    ///
    /// # Errors
    /// A [`ParseFailure`] whose message names the line and key.
    pub fn parse(text: &str) -> Result<Self, ParseFailure> {
        let config: Self = toml::from_str(text)
            .map_err(|e| ParseFailure::Syntax(e.to_string().trim().to_owned()))?;
        config.validate().map_err(ParseFailure::Invalid)?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        self.smtp.validate()?;
        self.queue.validate()?;
        self.relay.validate()?;
        self.log.validate()?;
        self.dkim.validate()?;
        if self.storage.kind == StorageKind::Postgres {
            self.storage.postgres.options("")?;
        }
        if !self.admin.address.ip().is_loopback() && self.admin.token.is_none() {
            return Err(format!(
                "admin.address {} is not loopback: set admin.token so the API is not open to the network",
                self.admin.address
            ));
        }
        Ok(())
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
        config.smtp.listeners = vec![Listener {
            address: listen,
            tls: ListenerTls::None,
        }];
    }
    if let Some(relay) = &args.relay {
        relay::parse_hop(relay).map_err(|e| anyhow::anyhow!("--relay: {e}"))?;
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

/// Why configuration text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseFailure {
    /// Not TOML, an unknown key, or a bad value (toml names line and key).
    Syntax(String),
    /// Values that do not fit together.
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message of a syntax error (bad TOML, unknown key, bad value).
    pub(super) fn syntax(text: &str) -> String {
        match Config::parse(text) {
            Err(ParseFailure::Syntax(m)) => m,
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_is_the_default() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.storage.path, PathBuf::from("./envoi-spool"));
        assert_eq!(config.admin.address, default_admin());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let message = syntax("hostname = \"a\"\n\n[queue]\nmax_lifetim = \"5d\"\n");
        assert!(message.contains("line 4"), "{message}");
        assert!(message.contains("max_lifetim"), "{message}");
        assert!(message.contains("expected one of"), "{message}");
    }

    #[test]
    fn bad_duration_names_line_and_expectation() {
        let message = syntax("[queue]\nmax_lifetime = \"five days\"\n");
        assert!(message.contains("line 2"), "{message}");
        assert!(message.contains("\"30s\""), "{message}");
    }

    #[test]
    fn open_admin_without_token_is_refused() {
        let err = Config::parse("[admin]\naddress = \"0.0.0.0:8025\"\n").unwrap_err();
        assert!(matches!(err, ParseFailure::Invalid(m) if m.contains("admin.token")));
    }

    #[test]
    fn a_backoff_factor_must_be_finite_and_at_least_one() {
        for factor in ["inf", "nan", "0.5", "-2.0"] {
            let text = format!(
                "[queue.backoff]\nkind = \"exponential\"\nfirst = \"60s\"\nfactor = {factor}\nmax_attempts = 5\n"
            );
            let err = Config::parse(&text).unwrap_err();
            assert!(
                matches!(&err, ParseFailure::Invalid(m) if m.contains("queue.backoff.factor")),
                "factor {factor}: {err:?}"
            );
        }
    }
}
