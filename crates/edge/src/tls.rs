//! TLS server settings for STARTTLS and implicit-TLS listeners (rustls on ring).
//!
//! The caller hands over the certificate chain and key (as PEM or DER bytes): the edge reads
//! no files.

use std::sync::Arc;

use envoi_types::TlsInfo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ProtocolVersion;
use tokio_rustls::TlsAcceptor;

/// Why TLS settings cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The PEM text holds no certificate.
    #[error("no certificate found in the PEM input")]
    NoCertificate,
    /// The PEM text holds no private key.
    #[error("no private key found in the PEM input")]
    NoKey,
    /// The PEM text cannot be read.
    #[error("invalid PEM: {0}")]
    Pem(#[from] std::io::Error),
    /// rustls refused the certificate or key.
    #[error("rustls refused the certificate or key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A ready rustls server configuration, cheap to clone.
#[derive(Clone)]
pub struct TlsSettings {
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsSettings {
    /// Shows nothing of the configuration: it holds the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings").finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// Settings from a DER certificate chain (leaf first) and its private key.
    ///
    /// # Errors
    /// [`TlsError::Rustls`] when the key does not fit the certificate or is unsupported.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// Settings from PEM text: a certificate chain and a private key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    /// See [`TlsError`].
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let chain = rustls_pemfile::certs(&mut &cert_pem[..]).collect::<Result<Vec<_>, _>>()?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate);
        }
        let key = rustls_pemfile::private_key(&mut &key_pem[..])?.ok_or(TlsError::NoKey)?;
        Self::from_der(chain, key)
    }

    /// Settings from a rustls configuration the caller built itself.
    pub fn from_config(config: Arc<rustls::ServerConfig>) -> Self {
        Self { config }
    }

    /// The acceptor that performs handshakes with these settings.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.config))
    }
}

/// The version and cipher suite a finished handshake negotiated, as the envelope records
/// them (`TLSv1.3`, `TLS13_AES_256_GCM_SHA384`).
pub(crate) fn session_info(connection: &rustls::ServerConnection) -> TlsInfo {
    let version = match connection.protocol_version() {
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_owned(),
    };
    let cipher = connection.negotiated_cipher_suite().map_or_else(
        || "unknown".to_owned(),
        |suite| format!("{:?}", suite.suite()),
    );
    TlsInfo { version, cipher }
}
