//! A message's pending recipients per domain: what the queue counts per domain for the admin
//! summary, kept with each schedule entry so that the counts follow the entries.

use std::sync::Arc;

use envoi_types::{Address, RecipientStatus};

/// How many pending recipients a message has in each domain (lower case), each domain once,
/// in first-seen order. Cheap to clone: one domain (the usual case) is held inline, more
/// behind one shared allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecipientDomains(Repr);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Repr {
    None,
    One(Arc<str>, u32),
    Many(Arc<[(Arc<str>, u32)]>),
}

impl RecipientDomains {
    /// The domains of `recipients` (the pending ones: the caller filters).
    pub fn of<'a>(recipients: impl IntoIterator<Item = &'a Address>) -> Self {
        let mut domains: Vec<(Arc<str>, u32)> = Vec::new();
        for recipient in recipients {
            let domain = recipient.domain_lowercase();
            match domains.iter_mut().find(|(d, _)| **d == *domain) {
                Some((_, count)) => *count = count.saturating_add(1),
                None => domains.push((Arc::from(domain), 1)),
            }
        }
        Self::from_counts(domains)
    }

    /// The domains of the pending recipients among `statuses`.
    pub fn pending(statuses: &[RecipientStatus]) -> Self {
        Self::of(
            statuses
                .iter()
                .filter(|s| s.is_pending())
                .map(|s| &s.recipient),
        )
    }

    fn from_counts(mut domains: Vec<(Arc<str>, u32)>) -> Self {
        match domains.len() {
            0 => Self(Repr::None),
            1 => {
                let (domain, count) = domains.remove(0);
                Self(Repr::One(domain, count))
            }
            _ => Self(Repr::Many(Arc::from(domains))),
        }
    }

    /// Each domain with its count of pending recipients.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, u32)> {
        let (one, many) = match &self.0 {
            Repr::None => (None, &[][..]),
            Repr::One(domain, count) => (Some((domain, *count)), &[][..]),
            Repr::Many(all) => (None, &all[..]),
        };
        one.into_iter()
            .chain(many.iter().map(|(domain, count)| (domain, *count)))
    }

    /// The same counts with each name replaced by `intern`'s: one allocation per domain name
    /// however many messages name it.
    pub(crate) fn interned(&self, mut intern: impl FnMut(&Arc<str>) -> Arc<str>) -> Self {
        match &self.0 {
            Repr::None => self.clone(),
            Repr::One(domain, count) => Self(Repr::One(intern(domain), *count)),
            Repr::Many(all) => Self::from_counts(
                all.iter()
                    .map(|(domain, count)| (intern(domain), *count))
                    .collect(),
            ),
        }
    }
}

/// Queued mail for one recipient domain, as the queue counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainTally {
    /// The domain, lower case.
    pub domain: String,
    /// Messages with at least one pending recipient in it.
    pub messages: u64,
    /// Pending recipients in it, over all messages.
    pub recipients: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(domains: &RecipientDomains) -> Vec<(String, u32)> {
        domains.iter().map(|(d, n)| (d.to_string(), n)).collect()
    }

    #[test]
    fn counts_each_domain_once_without_case() {
        let addresses: Vec<Address> = ["a@X.example", "b@y.example", "c@x.EXAMPLE"]
            .iter()
            .map(|a| Address::parse(a).unwrap())
            .collect();
        let domains = RecipientDomains::of(&addresses);
        assert_eq!(
            counts(&domains),
            vec![("x.example".into(), 2), ("y.example".into(), 1)]
        );
        assert_eq!(counts(&RecipientDomains::of(&addresses[..1])).len(), 1);
        assert!(counts(&RecipientDomains::of(&[])).is_empty());
    }
}
