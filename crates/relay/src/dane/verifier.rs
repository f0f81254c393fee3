//! The rustls verifier that authenticates an SMTP server by its TLSA records (RFC 7672 §3).
//!
//! - DANE-EE(3): the server's own certificate (or key) matches; names, expiry and chain are
//!   not checked (RFC 7672 §3.1.1).
//! - DANE-TA(2): a certificate of the presented chain matches and is taken as the trust
//!   anchor; the chain from the server's certificate up to it must verify (signatures,
//!   validity) for the MX host name (RFC 7672 §3.1.2, §3.2.2), through rustls' web PKI
//!   verifier with that anchor as its only root. A `2 1 0` record (the anchor's whole public
//!   key) also works when the server leaves the anchor out of its chain: the key is anchored
//!   under the issuer name of the last certificate presented.
//!
//! Handshake signatures are checked as always, with the provider's algorithms.

use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, RootCertStore};

use rustls::pki_types::TrustAnchor;

use super::der;
use super::tlsa::{Tlsa, DANE_EE, DANE_TA};
use crate::tls::handshake_signatures_by;

/// Accepts a server certificate only when one of the usable TLSA records matches it.
#[derive(Debug)]
pub struct DaneVerifier {
    records: Vec<Tlsa>,
    provider: Arc<CryptoProvider>,
}

impl DaneVerifier {
    /// A verifier for these records (unusable ones are ignored).
    pub fn new(records: Vec<Tlsa>, provider: Arc<CryptoProvider>) -> Self {
        let records = records.into_iter().filter(Tlsa::is_usable).collect();
        Self { records, provider }
    }

    /// True when the chain ending at `anchor` (the `depth`-th intermediate) verifies for
    /// `server_name`.
    fn chain_to_anchor(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        depth: usize,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> bool {
        let Some(anchor) = intermediates.get(depth) else {
            return false;
        };
        let mut roots = RootCertStore::empty();
        if roots.add(anchor.clone()).is_err() {
            return false;
        }
        let below = intermediates.get(..depth).unwrap_or_default();
        self.chain_verifies(roots, end_entity, below, server_name, now)
    }

    /// True when the whole presented chain verifies up to `spki` (a `2 1 0` record's data) as
    /// the key that signed its last certificate.
    fn chain_to_key(
        &self,
        spki: &[u8],
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> bool {
        let top = intermediates.last().unwrap_or(end_entity);
        let (Some(issuer), Some(key)) = (der::issuer_contents(top), der::spki_contents(spki))
        else {
            return false;
        };
        let mut roots = RootCertStore::empty();
        roots.roots.push(TrustAnchor {
            subject: issuer.to_vec().into(),
            subject_public_key_info: key.to_vec().into(),
            name_constraints: None,
        });
        self.chain_verifies(roots, end_entity, intermediates, server_name, now)
    }

    fn chain_verifies(
        &self,
        roots: RootCertStore,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> bool {
        let Ok(verifier) =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
        else {
            return false;
        };
        verifier
            .verify_server_cert(end_entity, intermediates, server_name, &[], now)
            .is_ok()
    }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ee_match = self
            .records
            .iter()
            .any(|r| r.usage == DANE_EE && r.matches(end_entity));
        if ee_match {
            return Ok(ServerCertVerified::assertion());
        }
        for record in self.records.iter().filter(|r| r.usage == DANE_TA) {
            for (depth, cert) in intermediates.iter().enumerate() {
                if record.matches(cert)
                    && self.chain_to_anchor(end_entity, intermediates, depth, server_name, now)
                {
                    return Ok(ServerCertVerified::assertion());
                }
            }
            let whole_key = record.selector == 1 && record.matching == 0;
            if whole_key
                && self.chain_to_key(&record.data, end_entity, intermediates, server_name, now)
            {
                return Ok(ServerCertVerified::assertion());
            }
        }
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))
    }

    handshake_signatures_by!(provider);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use ring::digest;

    fn sha256(bytes: &[u8]) -> Vec<u8> {
        digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
    }

    fn verifier(records: Vec<Tlsa>) -> DaneVerifier {
        DaneVerifier::new(records, Arc::new(rustls::crypto::ring::default_provider()))
    }

    fn name(host: &str) -> ServerName<'static> {
        ServerName::try_from(host.to_owned()).unwrap()
    }

    /// A CA and a server certificate for `host` signed by it.
    fn chain(host: &str) -> (CertificateDer<'static>, CertificateDer<'static>) {
        let (ee, ca, _) = chain_with_key(host);
        (ee, ca)
    }

    /// As [`chain`], with the CA's key.
    fn chain_with_key(host: &str) -> (CertificateDer<'static>, CertificateDer<'static>, KeyPair) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let ee = CertificateParams::new(vec![host.to_owned()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        (ee.der().clone(), ca.der().clone(), ca_key)
    }

    fn verify(
        v: &DaneVerifier,
        ee: &CertificateDer<'_>,
        rest: &[CertificateDer<'_>],
        host: &str,
    ) -> bool {
        v.verify_server_cert(ee, rest, &name(host), &[], UnixTime::now())
            .is_ok()
    }

    #[test]
    fn dane_ee_ignores_names() {
        let (ee, ca) = chain("mx.test");
        let tlsa = |usage| Tlsa {
            usage,
            selector: 0,
            matching: 1,
            data: sha256(&ee),
        };
        assert!(verify(&verifier(vec![tlsa(3)]), &ee, &[], "another.test"));
        // PKIX-EE is unusable: the same data does not authenticate.
        assert!(!verify(&verifier(vec![tlsa(1)]), &ee, &[ca], "mx.test"));
    }

    #[test]
    fn dane_ta_checks_the_chain_and_the_name() {
        let (ee, ca) = chain("mx.test");
        let ta = verifier(vec![Tlsa {
            usage: 2,
            selector: 0,
            matching: 1,
            data: sha256(&ca),
        }]);
        assert!(verify(&ta, &ee, std::slice::from_ref(&ca), "mx.test"));
        assert!(!verify(&ta, &ee, std::slice::from_ref(&ca), "other.test"));
        // The anchor must be presented and must have signed the chain.
        assert!(!verify(&ta, &ee, &[], "mx.test"));
        let (stranger, _) = chain("mx.test");
        assert!(!verify(&ta, &stranger, &[ca], "mx.test"));
    }

    #[test]
    fn dane_ta_with_the_whole_key_needs_no_anchor_in_the_chain() {
        let (ee, ca, ca_key) = chain_with_key("mx.test");
        let key = |data: Vec<u8>| {
            verifier(vec![Tlsa {
                usage: 2,
                selector: 1,
                matching: 0,
                data,
            }])
        };
        let ta = key(ca_key.public_key_der());
        assert!(verify(&ta, &ee, &[], "mx.test"));
        assert!(verify(&ta, &ee, &[ca], "mx.test"));
        assert!(!verify(&ta, &ee, &[], "other.test"));
        let other = KeyPair::generate().unwrap();
        assert!(!verify(&key(other.public_key_der()), &ee, &[], "mx.test"));
    }
}
