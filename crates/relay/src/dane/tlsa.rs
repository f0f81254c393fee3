//! TLSA records (RFC 6698) as DANE for SMTP reads them (RFC 7672 §3): which are usable and
//! whether a certificate matches one.
//!
//! Usable: usage DANE-TA(2) or DANE-EE(3), selector full certificate(0) or SPKI(1), matching
//! type full(0), SHA-256(1) or SHA-512(2). PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP
//! (RFC 7672 §3.1.3), as is anything unknown.

use ring::digest;

use super::der;

/// One TLSA record's four fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlsa {
    /// Certificate usage: 2 DANE-TA, 3 DANE-EE (0 and 1 are PKIX, unusable here).
    pub usage: u8,
    /// 0 the full certificate, 1 its SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0 the selected bytes themselves, 1 their SHA-256, 2 their SHA-512.
    pub matching: u8,
    /// The association data.
    pub data: Vec<u8>,
}

/// Certificate usage DANE-TA: a trust anchor of the server's chain.
pub const DANE_TA: u8 = 2;
/// Certificate usage DANE-EE: the server's own certificate or key.
pub const DANE_EE: u8 = 3;

impl Tlsa {
    /// True when RFC 7672 lets an SMTP client authenticate a server with this record.
    pub fn is_usable(&self) -> bool {
        matches!(self.usage, DANE_TA | DANE_EE)
            && matches!(self.selector, 0 | 1)
            && matches!(self.matching, 0..=2)
    }

    /// True when this (usable) record's data matches the DER certificate `cert`, whatever
    /// the usage: the caller decides where in the chain `cert` must be.
    pub fn matches(&self, cert: &[u8]) -> bool {
        if !self.is_usable() {
            return false;
        }
        let selected = match self.selector {
            0 => cert,
            _ => match der::spki(cert) {
                Some(spki) => spki,
                None => return false,
            },
        };
        match self.matching {
            0 => selected == self.data.as_slice(),
            1 => digest::digest(&digest::SHA256, selected).as_ref() == self.data.as_slice(),
            _ => digest::digest(&digest::SHA512, selected).as_ref() == self.data.as_slice(),
        }
    }
}

impl From<&hickory_proto::rr::rdata::TLSA> for Tlsa {
    fn from(record: &hickory_proto::rr::rdata::TLSA) -> Self {
        Self {
            usage: record.cert_usage().into(),
            selector: record.selector().into(),
            matching: record.matching().into(),
            data: record.cert_data().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn self_signed() -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["mx.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert, key)
    }

    fn record(usage: u8, selector: u8, matching: u8, data: &[u8]) -> Tlsa {
        Tlsa {
            usage,
            selector,
            matching,
            data: data.to_vec(),
        }
    }

    #[test]
    fn matches_each_selector_and_matching_type() {
        let (cert, key) = self_signed();
        let der = cert.der().to_vec();
        let spki = key.public_key_der();
        let sha256 = |b: &[u8]| digest::digest(&digest::SHA256, b).as_ref().to_vec();
        let sha512 = |b: &[u8]| digest::digest(&digest::SHA512, b).as_ref().to_vec();
        assert!(record(3, 1, 1, &sha256(&spki)).matches(&der));
        assert!(record(3, 0, 1, &sha256(&der)).matches(&der));
        assert!(record(3, 1, 2, &sha512(&spki)).matches(&der));
        assert!(record(3, 0, 0, &der).matches(&der));
        assert!(record(3, 1, 0, &spki).matches(&der));
        assert!(record(2, 0, 1, &sha256(&der)).matches(&der));
        // Another certificate, or the right hash under the wrong selector, does not match.
        let (other, _) = self_signed();
        assert!(!record(3, 1, 1, &sha256(&spki)).matches(other.der()));
        assert!(!record(3, 0, 1, &sha256(&spki)).matches(&der));
    }

    #[test]
    fn pkix_usages_and_unknown_fields_are_unusable() {
        let (cert, _) = self_signed();
        let der = cert.der().to_vec();
        let hash = digest::digest(&digest::SHA256, &der).as_ref().to_vec();
        for unusable in [
            record(0, 0, 1, &hash),
            record(1, 0, 1, &hash),
            record(4, 0, 1, &hash),
            record(3, 2, 1, &hash),
            record(3, 0, 3, &hash),
        ] {
            assert!(!unusable.is_usable(), "{unusable:?}");
            assert!(!unusable.matches(&der), "{unusable:?}");
        }
        assert!(record(2, 1, 2, &[]).is_usable());
    }
}
