//! New key pairs: the private key as PEM and the DNS record that publishes the public key.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use mail_auth::common::crypto::Ed25519Key;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};

use crate::{Algorithm, DkimError};

/// RSA keys are made this size: RFC 8301 asks for at least 1024 bits and receivers expect 2048.
pub const RSA_BITS: usize = 2048;

/// A generated key pair.
#[derive(Clone)]
pub struct GeneratedKey {
    /// The private key, PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub private_pem: String,
    /// The public key as the `p=` tag wants it: base64 of the raw Ed25519 key, or of the RSA
    /// key's SubjectPublicKeyInfo.
    pub public_base64: String,
    /// The algorithm.
    pub algorithm: Algorithm,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("algorithm", &self.algorithm)
            .field("public_base64", &self.public_base64)
            .finish_non_exhaustive()
    }
}

/// A new key pair (RSA: [`RSA_BITS`] bits).
///
/// # Errors
/// The system's random source or the encoding failed.
pub fn generate(algorithm: Algorithm) -> Result<GeneratedKey, DkimError> {
    let failed = |e: &dyn std::fmt::Display| DkimError::Generate(e.to_string());
    let (pkcs8, public) = match algorithm {
        Algorithm::Ed25519 => {
            let pkcs8 = Ed25519Key::generate_pkcs8().map_err(|e| failed(&e))?;
            let public = Ed25519Key::from_pkcs8_der(&pkcs8)
                .map_err(|e| failed(&e))?
                .public_key();
            (pkcs8, public)
        }
        Algorithm::Rsa => {
            let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), RSA_BITS)
                .map_err(|e| failed(&e))?;
            let pkcs8 = private.to_pkcs8_der().map_err(|e| failed(&e))?;
            let public = private
                .to_public_key()
                .to_public_key_der()
                .map_err(|e| failed(&e))?;
            (pkcs8.as_bytes().to_vec(), public.as_bytes().to_vec())
        }
    };
    Ok(GeneratedKey {
        private_pem: pem("PRIVATE KEY", &pkcs8),
        public_base64: BASE64.encode(public),
        algorithm,
    })
}

impl GeneratedKey {
    /// The record's value: `v=DKIM1; k=...; p=...`.
    pub fn record_value(&self) -> String {
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm.key_type(),
            self.public_base64
        )
    }

    /// The zone-file line to publish for `selector` of `domain`; the value is cut into quoted
    /// strings of at most 255 octets, as a TXT string cannot be longer (RFC 1035 §3.3.14).
    pub fn txt_record(&self, domain: &str, selector: &str) -> String {
        let value = self.record_value();
        let strings: Vec<String> = value
            .as_bytes()
            .chunks(255)
            .map(|chunk| format!("\"{}\"", String::from_utf8_lossy(chunk)))
            .collect();
        format!(
            "{selector}._domainkey.{}. IN TXT {}",
            domain.trim_end_matches('.'),
            strings.join(" ")
        )
    }
}

/// `der` as a PEM block with `label`, 64 characters a line.
fn pem(label: &str, der: &[u8]) -> String {
    let text = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
