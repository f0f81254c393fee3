//! A configured signing key: which domain and selector it signs for, and the private key
//! read from its PEM file at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::Writable;
use rustls_pemfile::Item;
use serde::{Deserialize, Serialize};

use crate::DkimError;

/// The signature algorithm of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// `ed25519-sha256` (RFC 8463).
    Ed25519,
    /// `rsa-sha256` (RFC 6376).
    Rsa,
}

impl Algorithm {
    /// The `k=` tag of the DNS record.
    pub fn key_type(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::Rsa => "rsa",
        }
    }
}

/// One key as configured: `[[dkim.key]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// The signing domain (`d=`).
    pub domain: String,
    /// The selector (`s=`): the key's record is `SELECTOR._domainkey.DOMAIN`.
    pub selector: String,
    /// The private key file, PEM (PKCS#8, or PKCS#1 for RSA).
    pub path: PathBuf,
    /// The algorithm the key is for.
    pub algorithm: Algorithm,
}

/// A key read and checked, ready to sign; cloning shares the parsed key.
#[derive(Clone)]
pub struct LoadedKey {
    /// The domain, lower-cased.
    pub domain: String,
    /// The selector.
    pub selector: String,
    /// The algorithm.
    pub algorithm: Algorithm,
    signer: Signer,
}

enum Der {
    Pkcs8(Vec<u8>),
    Pkcs1(Vec<u8>),
}

impl std::fmt::Debug for LoadedKey {
    // The key material stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A signing key in `mail-auth`'s form, parsed once: `mail-auth` takes its key by value for
/// each signer, and a signer is built per message (its header list depends on the message).
#[derive(Clone)]
pub(crate) enum Signer {
    Rsa(Shared<RsaKey<Sha256>>),
    Ed25519(Shared<Ed25519Key>),
}

/// A parsed key shared by the signers of every message.
pub(crate) struct Shared<K>(Arc<K>);

impl<K> Clone for Shared<K> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<K: SigningKey> SigningKey for Shared<K> {
    type Hasher = K::Hasher;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        self.0.sign(input)
    }

    fn algorithm(&self) -> mail_auth::common::crypto::Algorithm {
        self.0.algorithm()
    }
}

impl LoadedKey {
    /// The key of `spec` from `pem`, the content of `spec.path` (read by the caller: this
    /// crate reads no files), checked to be a usable private key of `spec.algorithm`.
    ///
    /// # Errors
    /// The text is not PEM, or holds no usable key of the algorithm; the error names the file.
    pub fn from_pem(spec: &KeySpec, pem: &[u8]) -> Result<Self, DkimError> {
        let der = read_der(&spec.path, pem)?;
        let signer = signer(spec.algorithm, &der).map_err(|reason| DkimError::Invalid {
            path: spec.path.clone(),
            reason,
        })?;
        Ok(Self {
            domain: spec.domain.to_ascii_lowercase(),
            selector: spec.selector.clone(),
            algorithm: spec.algorithm,
            signer,
        })
    }

    /// The key in `mail-auth`'s form.
    pub(crate) fn signer(&self) -> Signer {
        self.signer.clone()
    }
}

/// Parses `der` as a private key of `algorithm`.
fn signer(algorithm: Algorithm, der: &Der) -> Result<Signer, String> {
    let invalid = |e: mail_auth::Error| format!("not a valid {} key: {e}", algorithm.key_type());
    match (algorithm, der) {
        (Algorithm::Rsa, Der::Pkcs8(der)) => RsaKey::from_pkcs8_der(der).map(Signer::rsa),
        (Algorithm::Rsa, Der::Pkcs1(der)) => RsaKey::from_der(der).map(Signer::rsa),
        (Algorithm::Ed25519, Der::Pkcs8(der)) => {
            Ed25519Key::from_pkcs8_maybe_unchecked_der(der).map(Signer::ed25519)
        }
        (Algorithm::Ed25519, Der::Pkcs1(_)) => {
            return Err("an RSA key (BEGIN RSA PRIVATE KEY) is not an ed25519 key".into())
        }
    }
    .map_err(invalid)
}

impl Signer {
    fn rsa(key: RsaKey<Sha256>) -> Self {
        Self::Rsa(Shared(Arc::new(key)))
    }

    fn ed25519(key: Ed25519Key) -> Self {
        Self::Ed25519(Shared(Arc::new(key)))
    }
}

fn read_der(path: &Path, pem: &[u8]) -> Result<Der, DkimError> {
    let invalid = |reason: String| DkimError::Invalid {
        path: path.to_owned(),
        reason,
    };
    for item in rustls_pemfile::read_all(&mut &pem[..]) {
        match item.map_err(|e| invalid(format!("not PEM: {e:?}")))? {
            Item::Pkcs8Key(key) => return Ok(Der::Pkcs8(key.secret_pkcs8_der().to_vec())),
            Item::Pkcs1Key(key) => return Ok(Der::Pkcs1(key.secret_pkcs1_der().to_vec())),
            _ => continue,
        }
    }
    Err(invalid(
        "no private key (PEM PRIVATE KEY or RSA PRIVATE KEY) found".into(),
    ))
}
