//! From a recipient domain to the ordered list of hosts to try (RFC 5321 §5.1, RFC 7505).
//!
//! Preference order, random order among equal preferences (load spreading as §5.1 asks),
//! the domain itself when it has no MX (implicit MX), a null MX as a permanent refusal.
//!
//! # Layout
//! - [`mx_hosts`]: the lookup and ordering.

use rand::seq::SliceRandom;

use crate::failure::Failure;
use crate::resolver::{DnsError, MxRecord, Resolver};

/// Where MX resolution points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHosts {
    /// Host names in the order to try.
    pub hosts: Vec<String>,
    /// True when the domain had no MX and its own address records are used.
    pub implicit: bool,
}

/// The hosts to try for `domain`, best first.
///
/// # Errors
/// [`Failure::DnsNotFound`] (NXDOMAIN), [`Failure::NullMx`], [`Failure::DnsTemporary`].
pub async fn mx_hosts(resolver: &dyn Resolver, domain: &str) -> Result<MxHosts, Failure> {
    let records = match resolver.mx(domain).await {
        Ok(records) => records,
        Err(DnsError::NotFound) => return Err(Failure::DnsNotFound(domain.to_owned())),
        Err(DnsError::Temporary(e)) => return Err(Failure::DnsTemporary(e)),
    };
    if records.is_empty() {
        return Ok(MxHosts {
            hosts: vec![domain.to_owned()],
            implicit: true,
        });
    }
    // RFC 7505 §3: a null MX is the domain's only record; one mixed with others is ignored.
    if records.len() == 1 && records[0].exchange.is_empty() {
        return Err(Failure::NullMx(domain.to_owned()));
    }
    Ok(MxHosts {
        hosts: order(records),
        implicit: false,
    })
}

/// Sorted by preference, shuffled within each preference.
fn order(mut records: Vec<MxRecord>) -> Vec<String> {
    records.retain(|r| !r.exchange.is_empty());
    let mut rng = rand::thread_rng();
    records.shuffle(&mut rng);
    // A stable sort keeps the shuffled order among equals.
    records.sort_by_key(|r| r.preference);
    let mut hosts: Vec<String> = Vec::with_capacity(records.len());
    for record in records {
        if !hosts.contains(&record.exchange) {
            hosts.push(record.exchange);
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::StaticResolver;
    use std::net::Ipv4Addr;

    #[tokio::test]
    async fn ordering_null_and_implicit() {
        let dns = StaticResolver::new()
            .with_mx("a.org", 20, "b.a.org")
            .with_mx("a.org", 10, "a.a.org")
            .with_null_mx("null.org")
            .with_a("plain.org", Ipv4Addr::LOCALHOST)
            .with_servfail("fail.org");
        assert_eq!(
            mx_hosts(&dns, "a.org").await.unwrap().hosts,
            vec!["a.a.org", "b.a.org"]
        );
        assert!(matches!(
            mx_hosts(&dns, "null.org").await,
            Err(Failure::NullMx(_))
        ));
        assert!(mx_hosts(&dns, "plain.org").await.unwrap().implicit);
        assert!(matches!(
            mx_hosts(&dns, "none.org").await,
            Err(Failure::DnsNotFound(_))
        ));
        assert!(matches!(
            mx_hosts(&dns, "fail.org").await,
            Err(Failure::DnsTemporary(_))
        ));
    }

    #[test]
    fn equal_preferences_are_shuffled() {
        let records: Vec<MxRecord> = (0..8)
            .map(|i| MxRecord {
                preference: 10,
                exchange: format!("mx{i}"),
            })
            .chain(std::iter::once(MxRecord {
                preference: 5,
                exchange: "first".into(),
            }))
            .collect();
        let mut orders = std::collections::HashSet::new();
        for _ in 0..50 {
            let hosts = order(records.clone());
            assert_eq!(hosts[0], "first");
            orders.insert(hosts);
        }
        // 8! orders; 50 draws all equal has probability ~ (1/40320)^49.
        assert!(orders.len() > 1);
    }
}
