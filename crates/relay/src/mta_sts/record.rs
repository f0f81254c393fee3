//! The `_mta-sts.<domain>` TXT record (RFC 8461 §3.1): `v=STSv1; id=<1-32 alphanumerics>;`.
//!
//! Sans-IO: the resolver's TXT strings in, the policy id out.
//!
//! # Layout
//! - [`Record`]: the parsed record.
//! - [`Record::parse`]: one TXT string; [`Record::select`]: the answer of a lookup.

/// A valid MTA-STS TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The policy id: changes whenever the published policy changes.
    pub id: String,
}

impl Record {
    /// One TXT string as an MTA-STS record, `None` when it is not a valid one: `v=STSv1`
    /// first, an `id` of 1 to 32 ASCII alphanumerics, other fields (extensions) ignored.
    pub fn parse(text: &str) -> Option<Self> {
        let mut fields = text.split(';').map(str::trim).filter(|f| !f.is_empty());
        if fields.next()? != "v=STSv1" {
            return None;
        }
        let mut id = None;
        for field in fields {
            let (key, value) = field.split_once('=')?;
            if key.trim() == "id" {
                // A second id makes the record ambiguous.
                if id.is_some() {
                    return None;
                }
                id = Some(value.trim());
            }
        }
        let id = id?;
        let valid = (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
        valid.then(|| Self { id: id.to_owned() })
    }

    /// The record of a TXT lookup's answer: strings not starting with `v=STSv1` are other
    /// records and are ignored; none, or more than one (RFC 8461 §3.1), means no record.
    pub fn select(texts: &[String]) -> Option<Self> {
        let mut candidates = texts
            .iter()
            .filter(|t| t.trim_start().starts_with("v=STSv1"));
        let first = candidates.next()?;
        if candidates.next().is_some() {
            return None;
        }
        Self::parse(first.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Option<String> {
        Record::parse(text).map(|r| r.id)
    }

    #[test]
    fn valid_records() {
        assert_eq!(
            id("v=STSv1; id=20160831085700Z;").as_deref(),
            Some("20160831085700Z")
        );
        assert_eq!(id("v=STSv1;id=abc").as_deref(), Some("abc"));
        assert_eq!(id("v=STSv1; id=abc; ext=1").as_deref(), Some("abc"));
    }

    #[test]
    fn invalid_records() {
        assert_eq!(id("id=abc; v=STSv1"), None, "version first");
        assert_eq!(id("v=STSv2; id=abc"), None);
        assert_eq!(id("v=STSv1"), None, "no id");
        assert_eq!(id("v=STSv1; id="), None);
        assert_eq!(id("v=STSv1; id=a-b"), None, "alphanumerics only");
        assert_eq!(id(&format!("v=STSv1; id={}", "a".repeat(33))), None);
        assert_eq!(id("v=STSv1; id=a; id=b"), None);
        assert_eq!(id("v=STSv1; garbage"), None);
    }

    #[test]
    fn a_lookup_needs_exactly_one_record() {
        let one = vec!["v=spf1 -all".to_owned(), "v=STSv1; id=x1".to_owned()];
        assert_eq!(Record::select(&one).map(|r| r.id).as_deref(), Some("x1"));
        let two = vec!["v=STSv1; id=x1".to_owned(), "v=STSv1; id=x2".to_owned()];
        assert_eq!(Record::select(&two), None);
        assert_eq!(Record::select(&[]), None);
    }
}
