//! Just enough DER to find a certificate's SubjectPublicKeyInfo (the TLSA selector `1`).
//!
//! X.509 (RFC 5280 §4.1): `Certificate ::= SEQUENCE { tbsCertificate, ... }` and
//! `tbsCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
//! validity, subject, subjectPublicKeyInfo, ... }`. Nothing is interpreted beyond the outer
//! structure: the SPKI's bytes are hashed as they are.

/// One DER element: its tag, its whole encoding, its content and what follows it.
struct Element<'a> {
    tag: u8,
    whole: &'a [u8],
    content: &'a [u8],
    rest: &'a [u8],
}

const SEQUENCE: u8 = 0x30;
const VERSION: u8 = 0xa0;

/// The first element of `input`, or `None` when it is not well formed DER (short or
/// long definite length of up to four octets).
fn element(input: &[u8]) -> Option<Element<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first, after_len) = after_tag.split_first()?;
    let (len, body) = if first < 0x80 {
        (usize::from(first), after_len)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 || after_len.len() < octets {
            return None;
        }
        let (len_bytes, body) = after_len.split_at(octets);
        let len = len_bytes.iter().try_fold(0usize, |acc, b| {
            acc.checked_mul(256)?.checked_add(usize::from(*b))
        })?;
        (len, body)
    };
    if body.len() < len {
        return None;
    }
    let (content, rest) = body.split_at(len);
    let header = input.len().checked_sub(body.len())?;
    let whole = input.get(..header.checked_add(len)?)?;
    Some(Element {
        tag,
        whole,
        content,
        rest,
    })
}

/// The DER encoding of the certificate's SubjectPublicKeyInfo, or `None` when `cert` is not
/// an X.509 certificate.
pub(crate) fn spki(cert: &[u8]) -> Option<&[u8]> {
    tbs_fields(cert)?.get(5).map(|e| e.whole)
}

/// The contents (inside the SEQUENCE) of the certificate's issuer Name.
pub(crate) fn issuer_contents(cert: &[u8]) -> Option<&[u8]> {
    tbs_fields(cert)?.get(2).map(|e| e.content)
}

/// The contents (inside the SEQUENCE) of a DER SubjectPublicKeyInfo.
pub(crate) fn spki_contents(spki: &[u8]) -> Option<&[u8]> {
    element(spki)
        .filter(|e| e.tag == SEQUENCE && e.rest.is_empty())
        .map(|e| e.content)
}

/// serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo: the first six
/// fields of tbsCertificate after the optional version.
fn tbs_fields(cert: &[u8]) -> Option<Vec<Element<'_>>> {
    let certificate = element(cert).filter(|e| e.tag == SEQUENCE)?;
    let tbs = element(certificate.content).filter(|e| e.tag == SEQUENCE)?;
    let mut rest = tbs.content;
    let first = element(rest)?;
    if first.tag == VERSION {
        rest = first.rest;
    }
    let mut fields = Vec::with_capacity(6);
    for _ in 0..6 {
        let field = element(rest)?;
        rest = field.rest;
        fields.push(field);
    }
    let spki = fields.get(5)?;
    (spki.tag == SEQUENCE && fields.get(2)?.tag == SEQUENCE).then_some(fields)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_the_key_of_a_generated_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["mx.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_eq!(spki(cert.der()), Some(&key.public_key_der()[..]));
        assert_eq!(spki(b"\x30\x03\x02\x01"), None);
        assert_eq!(spki(b""), None);
    }
}
