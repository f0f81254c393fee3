//! Errors of opening the store, and how database failures map to [`StorageError`].

use envoi_queue::StorageError;
use tokio_postgres::error::SqlState;

/// Why the store could not be opened or a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The connection URL does not parse.
    #[error("invalid PostgreSQL URL: {0}")]
    Url(String),
    /// The database's schema is newer than this binary knows.
    #[error(
        "the database's envoi schema is version {found}, newer than this binary's {known}: \
         upgrade envoi on this node"
    )]
    NewerSchema {
        /// The version found.
        found: usize,
        /// The newest version this binary knows.
        known: usize,
    },
    /// The server answered with an error, or the connection failed.
    #[error("PostgreSQL: {}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    /// No connection could be had from the pool.
    #[error("PostgreSQL connection pool: {0}")]
    Pool(String),
    /// The TLS settings cannot be used (an unreadable or empty `ca_file`).
    #[error("PostgreSQL TLS: {0}")]
    Tls(String),
    /// The store's own runtime could not be started.
    #[error("cannot start the store's runtime: {0}")]
    Runtime(String),
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(db) => Self::Db(db),
            other => Self::Pool(other.to_string()),
        }
    }
}

impl From<PgError> for StorageError {
    fn from(error: PgError) -> Self {
        match &error {
            PgError::Db(db) if db.code() == Some(&SqlState::DISK_FULL) => {
                StorageError::Full(error.to_string())
            }
            PgError::NewerSchema { .. }
            | PgError::Url(_)
            | PgError::Tls(_)
            | PgError::Runtime(_) => StorageError::Unavailable(error.to_string()),
            _ => StorageError::Io(error.to_string()),
        }
    }
}

/// True when `error` is a unique-key violation (an id already stored).
pub(crate) fn is_duplicate(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// The id a unique-key violation names (`Key (id)=(\x…) already exists.`), when it does.
pub(crate) fn duplicate_key(error: &tokio_postgres::Error) -> Option<envoi_types::QueueId> {
    let detail = error.as_db_error()?.detail()?;
    let start = detail.find("=(\\x")? + 4;
    let hex = detail.get(start..start + 32)?;
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(envoi_types::QueueId::from_bytes(bytes))
}

/// The server's own words for a database error (the bare error says only "db error"), or the
/// connection failure and its cause.
fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} ({}): {}", db.message(), db.code().code(), db.severity());
    }
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}
