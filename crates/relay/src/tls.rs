//! TLS client configurations for STARTTLS, built once per relay.
//!
//! Two connectors: a verifying one (web PKI roots plus configured extra roots, host name
//! checked) for `Required`, and one for `Opportunistic` that accepts any certificate but still
//! checks handshake signatures: opportunistic TLS (RFC 7435) protects against passive
//! eavesdropping only, and most MX certificates would not verify anyway.
//!
//! # Layout
//! - [`TlsConnectors`]: the two connectors, and the check of an opportunistic session's chain.
//! - `AcceptAnyCert`: the opportunistic verifier.
//! - `handshake_signatures_by!`: the signature checks every verifier here shares.

use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::config::TlsSettings;

/// Why the TLS configuration cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// An extra root certificate was rejected.
    #[error("invalid extra root certificate: {0}")]
    BadRoot(rustls::Error),
    /// rustls refused the protocol versions (should not happen with ring's defaults).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The certificate verifier could not be built from the roots.
    #[error("TLS verifier: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
}

/// The verifying and the opportunistic connector.
#[derive(Clone)]
pub struct TlsConnectors {
    /// Certificates verified against the roots and the host name.
    pub verified: TlsConnector,
    /// Any certificate accepted; handshake signatures still checked.
    pub opportunistic: TlsConnector,
    /// The verifying connector's check, to tell whether an opportunistic session's
    /// certificate would have verified too (what a session reports, and what MTA-STS in
    /// `testing` mode counts).
    verifier: Arc<WebPkiServerVerifier>,
}

impl std::fmt::Debug for TlsConnectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConnectors")
    }
}

impl TlsConnectors {
    /// Builds both connectors from the settings.
    ///
    /// # Errors
    /// A [`TlsConfigError`] when an extra root is not a usable certificate.
    pub fn new(settings: &TlsSettings) -> Result<Self, TlsConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        if !settings.only_extra_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for der in &settings.extra_roots {
            roots
                .add(CertificateDer::from(der.clone()))
                .map_err(TlsConfigError::BadRoot)?;
        }
        let roots = Arc::new(roots);
        let verifier =
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone()).build()?;
        let verified = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let opportunistic = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth();
        Ok(Self {
            verified: TlsConnector::from(Arc::new(verified)),
            opportunistic: TlsConnector::from(Arc::new(opportunistic)),
            verifier,
        })
    }

    /// True when the chain `certs` (end entity first) verifies for `name` against the
    /// verifying connector's roots.
    pub fn verifies(&self, certs: &[CertificateDer<'_>], name: &ServerName<'_>) -> bool {
        let Some((end_entity, intermediates)) = certs.split_first() else {
            return false;
        };
        self.verifier
            .verify_server_cert(end_entity, intermediates, name, &[], UnixTime::now())
            .is_ok()
    }
}

/// The three handshake-signature methods of a [`ServerCertVerifier`], checked with the crypto
/// provider held in the named field: every verifier here checks signatures the same way and
/// differs only in how it judges the certificate.
macro_rules! handshake_signatures_by {
    ($provider:tt) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.$provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.$provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.$provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}
pub(crate) use handshake_signatures_by;

/// Accepts any certificate chain; verifies handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures_by!(0);
}
