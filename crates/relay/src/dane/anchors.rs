//! DNSSEC trust anchors: DNSKEY and DS records in zone-file text (as `ldns-keygen` writes
//! them, or the root's `root.key`), one record per line or spread over lines in parentheses.
//!
//! A DNSKEY anchor trusts that key for its zone; a DS anchor trusts the zone's DNSKEY it
//! digests. Lines of other types are ignored; `;` starts a comment.

use base64::Engine;
use hickory_proto::rr::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::rr::dnssec::{Algorithm, DigestType};
use hickory_proto::rr::Name;

/// Why trust anchor text cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// A DNSKEY or DS line is malformed; the text says which and why.
    #[error("trust anchor {line:?}: {reason}")]
    Malformed {
        /// The record as read (parentheses joined).
        line: String,
        /// What is wrong.
        reason: String,
    },
    /// The text holds no DNSKEY or DS record.
    #[error("no DNSKEY or DS record among the trust anchors")]
    Empty,
}

/// The configured anchors.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    keys: Vec<(Name, DNSKEY)>,
    ds: Vec<(Name, DS)>,
}

impl TrustAnchors {
    /// Parses zone-file text.
    ///
    /// # Errors
    /// [`AnchorError`] for a malformed DNSKEY/DS record or when there is none.
    pub fn parse(text: &str) -> Result<Self, AnchorError> {
        let mut anchors = Self::default();
        for record in records(text) {
            anchors
                .add(&record)
                .map_err(|reason| AnchorError::Malformed {
                    line: record.clone(),
                    reason,
                })?;
        }
        if anchors.keys.is_empty() && anchors.ds.is_empty() {
            return Err(AnchorError::Empty);
        }
        Ok(anchors)
    }

    fn add(&mut self, record: &str) -> Result<(), String> {
        let tokens: Vec<&str> = record.split_whitespace().collect();
        let Some(at) = tokens
            .iter()
            .take(4)
            .position(|t| t.eq_ignore_ascii_case("DNSKEY") || t.eq_ignore_ascii_case("DS"))
        else {
            return Ok(());
        };
        let owner = tokens.first().copied().unwrap_or_default();
        if at == 0 || !owner.ends_with('.') {
            return Err("the owner must be an absolute name (ending in a dot)".into());
        }
        let name = Name::from_ascii(owner).map_err(|e| e.to_string())?;
        let rdata = tokens.get(at + 1..).unwrap_or_default();
        let number = |i: usize| -> Result<u16, String> {
            rdata
                .get(i)
                .ok_or_else(|| "too few fields".to_owned())?
                .parse::<u16>()
                .map_err(|e| e.to_string())
        };
        let byte = |i: usize| -> Result<u8, String> {
            u8::try_from(number(i)?).map_err(|e| e.to_string())
        };
        let data: String = rdata.get(3..).unwrap_or_default().concat();
        if data.is_empty() {
            return Err("too few fields".into());
        }
        if tokens.get(at).is_some_and(|t| t.eq_ignore_ascii_case("DS")) {
            // key tag, algorithm, digest type, digest.
            let algorithm = Algorithm::from_u8(byte(1)?);
            let digest_type = DigestType::from_u8(byte(2)?).map_err(|e| e.to_string())?;
            let digest = hex(&data).ok_or("the digest is not hexadecimal")?;
            self.ds
                .push((name, DS::new(number(0)?, algorithm, digest_type, digest)));
        } else {
            // flags, protocol, algorithm, key.
            let algorithm = Algorithm::from_u8(byte(2)?);
            let flags = number(0)?;
            let key = base64::engine::general_purpose::STANDARD
                .decode(data.as_bytes())
                .map_err(|e| format!("the key is not base64: {e}"))?;
            let key = DNSKEY::new(
                flags & 0x0100 != 0,
                flags & 0x0001 != 0,
                flags & 0x0080 != 0,
                algorithm,
                key,
            );
            self.keys.push((name, key));
        }
        Ok(())
    }

    /// The deepest zone with an anchor at or above `name`.
    pub(crate) fn closest(&self, name: &Name) -> Option<&Name> {
        self.keys
            .iter()
            .map(|(zone, _)| zone)
            .chain(self.ds.iter().map(|(zone, _)| zone))
            .filter(|zone| zone.zone_of(name))
            .max_by_key(|zone| zone.num_labels())
    }

    /// True when an anchor is configured for exactly `zone`.
    pub(crate) fn has_zone(&self, zone: &Name) -> bool {
        self.keys.iter().any(|(z, _)| z == zone) || self.ds.iter().any(|(z, _)| z == zone)
    }

    /// True when `key` (a DNSKEY of `zone`) is an anchor, or an anchor DS digests it.
    pub(crate) fn trusts(&self, zone: &Name, key: &DNSKEY) -> bool {
        self.keys.iter().any(|(z, k)| {
            z == zone && k.algorithm() == key.algorithm() && k.public_key() == key.public_key()
        }) || self.ds.iter().any(|(z, ds)| {
            z == zone && ds.algorithm() == key.algorithm() && ds.covers(zone, key).unwrap_or(false)
        })
    }
}

/// The records of zone-file text: comments dropped, parenthesised continuations joined.
fn records(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut open = false;
    for line in text.lines() {
        let line = line.split(';').next().unwrap_or_default();
        for c in line.chars() {
            match c {
                '(' => open = true,
                ')' => open = false,
                c => current.push(c),
            }
        }
        current.push(' ');
        if !open {
            if !current.trim().is_empty() {
                out.push(current.trim().to_owned());
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ROOT_KSK: &str = ". 172800 IN DNSKEY 257 3 8 (\n AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3\n +/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kv\n ArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF\n 0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+e\n oZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfd\n RUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwN\n R1AkUTV74bU= ) ; KSK-2017\n";

    #[test]
    fn reads_keys_and_digests() {
        let text = format!(
            "{ROOT_KSK}example. IN DS 12345 13 2 0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef\nexample. IN SOA x. y. 1 2 3 4 5\n"
        );
        let anchors = TrustAnchors::parse(&text).unwrap();
        assert_eq!(anchors.keys.len(), 1);
        assert_eq!(anchors.ds.len(), 1);
        assert!(anchors.keys[0].1.secure_entry_point());
        let name = Name::from_ascii("mx.example.").unwrap();
        assert_eq!(
            anchors.closest(&name),
            Some(&Name::from_ascii("example.").unwrap())
        );
        assert!(anchors.trusts(&Name::root(), &anchors.keys[0].1.clone()));
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(
            TrustAnchors::parse("; nothing\n").unwrap_err(),
            AnchorError::Empty
        );
        assert!(TrustAnchors::parse("example IN DNSKEY 257 3 13 AAAA\n").is_err());
        assert!(TrustAnchors::parse("example. IN DS 1 13 2 xyz\n").is_err());
        assert!(TrustAnchors::parse("example. IN DNSKEY 257 3\n").is_err());
    }
}
