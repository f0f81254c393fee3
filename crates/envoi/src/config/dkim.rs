//! `[dkim]`: DKIM signing keys and how the signing domain is chosen.
//!
//! ```toml
//! [dkim]
//! sign_by = "from"            # or "sender"
//! [[dkim.key]]
//! domain = "example.org"
//! selector = "2026a"
//! key = "/etc/envoi/dkim/example.org.2026a.pem"
//! algorithm = "ed25519"       # or "rsa"
//! ```

use std::path::PathBuf;

use envoi_dkim::{Algorithm, KeySpec, SignBy};
use serde::Deserialize;

/// `[dkim]`. Without keys nothing is signed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSection {
    /// Which domain signs: the From: header's ("from", default) or the envelope sender's
    /// ("sender").
    #[serde(default)]
    pub sign_by: SignBy,
    /// The keys, one `[[dkim.key]]` table each; several for one domain sign it several times.
    #[serde(default, rename = "key")]
    pub keys: Vec<DkimKey>,
}

/// `[[dkim.key]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimKey {
    /// The signing domain (`d=`).
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    /// The private key file (PEM), read at start.
    pub key: PathBuf,
    /// "ed25519" or "rsa".
    pub algorithm: Algorithm,
}

impl DkimSection {
    /// The keys as the signer takes them.
    pub fn specs(&self) -> Vec<KeySpec> {
        self.keys
            .iter()
            .map(|k| KeySpec {
                domain: k.domain.clone(),
                selector: k.selector.clone(),
                path: k.key.clone(),
                algorithm: k.algorithm,
            })
            .collect()
    }

    /// Refuses empty names and a domain/selector pair given twice.
    ///
    /// # Errors
    /// The message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for key in &self.keys {
            let valid = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            };
            if !valid(&key.domain) || !valid(&key.selector) {
                return Err(format!(
                    "dkim.key: domain {:?} / selector {:?}: letters, digits, '-', '_' and '.' only",
                    key.domain, key.selector
                ));
            }
            let pair = (key.domain.to_ascii_lowercase(), key.selector.clone());
            if !seen.insert(pair) {
                return Err(format!(
                    "dkim.key: selector {:?} of {:?} is configured twice",
                    key.selector, key.domain
                ));
            }
        }
        Ok(())
    }
}
