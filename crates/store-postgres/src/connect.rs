//! The connection pool: session settings, TLS, timeouts.

use std::path::Path;
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
        tls(options)?,
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

/// rustls trusting the certificates of [`PgOptions::ca_file`] when it is set (a private CA,
/// as libpq's `sslrootcert`), else the web PKI roots; the ring provider (the workspace's TLS
/// stack).
pub(crate) fn tls(options: &PgOptions) -> Result<MakeRustlsConnect, PgError> {
    let roots = match &options.ca_file {
        Some(path) => own_roots(path)?,
        None => rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Tls(format!("TLS settings: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The certificates of the PEM file at `path`; an unreadable file, or one without a usable
/// certificate, is an error that names it.
fn own_roots(path: &Path) -> Result<rustls::RootCertStore, PgError> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| PgError::Tls(format!("cannot read ca_file {shown}: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut std::io::BufReader::new(file)) {
        let cert = cert.map_err(|e| PgError::Tls(format!("ca_file {shown}: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| PgError::Tls(format!("ca_file {shown}: {e}")))?;
    }
    if roots.is_empty() {
        return Err(PgError::Tls(format!(
            "ca_file {shown} holds no PEM certificate"
        )));
    }
    Ok(roots)
}
