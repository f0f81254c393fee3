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
//! [dkim.routes]
//! "partner.example" = "example.org"   # mail only to partner.example is signed as example.org
//! ```

use std::path::PathBuf;

use envoi_dkim::{Algorithm, KeySpec, SignBy};
use serde::{Deserialize, Serialize};

/// `[dkim]`. Without keys nothing is signed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSection {
    /// Which domain signs: the From: header's ("from", default) or the envelope sender's
    /// ("sender").
    #[serde(default)]
    pub sign_by: SignBy,
    /// The keys, one `[[dkim.key]]` table each; several for one domain sign it several times.
    #[serde(default, rename = "key")]
    pub keys: Vec<DkimKey>,
    /// `[dkim.routes]`: recipient domain → signing domain, for mail whose recipients are all
    /// in that domain (as `[relay.routes]` is keyed), whatever its From: or sender.
    #[serde(default)]
    pub routes: std::collections::BTreeMap<String, String>,
}

/// `[[dkim.key]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
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

    /// Refuses empty names, a domain/selector pair given twice, and a route's signing domain
    /// without a key.
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
        for (recipients, signing) in &self.routes {
            if !seen
                .iter()
                .any(|(domain, _)| domain.eq_ignore_ascii_case(signing))
            {
                return Err(format!(
                    "dkim.routes.{recipients:?}: no [[dkim.key]] for {signing:?}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ParseFailure};
    use envoi_dkim::{Algorithm, SignBy};

    const KEY: &str = "[[dkim.key]]\ndomain = \"example.org\"\nselector = \"s1\"\n\
                       key = \"/k/s1.pem\"\nalgorithm = \"rsa\"\n";

    #[test]
    fn keys_and_the_signing_domain_are_read() {
        let text = format!("[dkim]\nsign_by = \"sender\"\n{KEY}");
        let config = Config::parse(&text).unwrap();
        assert_eq!(config.dkim.sign_by, SignBy::Sender);
        let specs = config.dkim.specs();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].algorithm, Algorithm::Rsa);
        assert_eq!(specs[0].path, std::path::PathBuf::from("/k/s1.pem"));
        assert_eq!(Config::parse("").unwrap().dkim.sign_by, SignBy::From);
    }

    #[test]
    fn a_bad_algorithm_names_its_line_and_a_repeated_selector_is_refused() {
        let text = KEY.replace("\"rsa\"", "\"dsa\"");
        match Config::parse(&text) {
            Err(ParseFailure::Syntax(message)) => {
                assert!(
                    message.contains("line 5") && message.contains("ed25519"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        let twice = format!("{KEY}{}", KEY.replace("example.org", "Example.ORG"));
        assert!(matches!(
            Config::parse(&twice),
            Err(ParseFailure::Invalid(m)) if m.contains("configured twice")
        ));
        let routed = format!("{KEY}[dkim.routes]\n\"partner.test\" = \"other.test\"\n");
        assert!(matches!(
            Config::parse(&routed),
            Err(ParseFailure::Invalid(m)) if m.contains("dkim.routes") && m.contains("other.test")
        ));
        let routed = format!("{KEY}[dkim.routes]\n\"partner.test\" = \"Example.org\"\n");
        assert_eq!(Config::parse(&routed).unwrap().dkim.routes.len(), 1);
        let spaced = KEY.replace("\"s1\"", "\"s 1\"");
        assert!(matches!(
            Config::parse(&spaced),
            Err(ParseFailure::Invalid(_))
        ));
    }

    #[test]
    fn the_example_key_table_parses_once_uncommented() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/envoi.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let dkim = &text[text.find("[dkim]").unwrap()..];
        let uncommented: String = dkim
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.starts_with('[') || rest.contains(" = ") => rest,
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let config = Config::parse(&uncommented).unwrap();
        assert_eq!(config.dkim.keys.len(), 1);
        assert_eq!(config.dkim.keys[0].algorithm, Algorithm::Ed25519);
    }
}
