//! The connection pool: session settings, TLS, timeouts.

use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::PgError;
use crate::options::PgOptions;

/// A pool of sessions configured for envoi: `synchronous_commit` on (a commit that returned
/// is on the server's disk), bounded statements and idle transactions (a stuck session cannot
/// hold a snapshot for long), and the configured schema first in the search path.
pub(crate) fn pool(options: &PgOptions) -> Result<Pool, PgError> {
    let manager = Manager::from_config(
        config(options)?,
        tls()?,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(options.connect_timeout),
            create: Some(options.connect_timeout),
            recycle: Some(options.connect_timeout),
        })
        .build()
        .map_err(|e| PgError::Pool(e.to_string()))
}

/// The settings of every session of this node (the pool's and the notice listener's).
pub(crate) fn config(options: &PgOptions) -> Result<tokio_postgres::Config, PgError> {
    let mut config =
        tokio_postgres::Config::from_str(&options.url).map_err(|e| PgError::Url(e.to_string()))?;
    let mut session = config.get_options().unwrap_or_default().to_owned();
    session.push_str(&format!(
        " -c synchronous_commit=on -c statement_timeout={} -c idle_in_transaction_session_timeout={}",
        options.statement_timeout.as_millis(),
        options.idle_in_transaction_timeout.as_millis(),
    ));
    if let Some(schema) = &options.schema {
        session.push_str(&format!(" -c search_path={schema}"));
    }
    config.options(session.trim());
    config.application_name(format!("envoi {}", options.node));
    config.connect_timeout(options.connect_timeout);
    Ok(config)
}

/// rustls with the web PKI roots and the ring provider (the workspace's TLS stack).
pub(crate) fn tls() -> Result<MakeRustlsConnect, PgError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Pool(format!("TLS settings: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
