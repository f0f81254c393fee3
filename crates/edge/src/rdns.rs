//! The client's host name: a reverse (PTR) lookup at connect, forward-confirmed, as Postfix
//! does for its `connect from name[addr]` line and its Received header.
//!
//! A name counts only when it is a well-formed host name and one of its address records is the
//! client's address: anyone can publish any PTR for addresses they own, so an unconfirmed name
//! says nothing about the client. Otherwise the client is `unknown`. The whole lookup is bounded
//! by [`crate::Timeouts::reverse_dns`], so a slow name server delays the greeting by that much
//! at most. The DNS itself is the caller's: the edge sees only [`ReverseDns`].

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;

/// At most this many PTR names are checked; real hosts have one.
const MAX_NAMES: usize = 3;

/// The two lookups a client's name needs; the binary implements it with its resolver.
/// Each answers empty when there is no record or the lookup fails: either way the client is
/// `unknown`, and the session goes on.
#[async_trait]
pub trait ReverseDns: Send + Sync + 'static {
    /// The names the PTR records of `ip` give, without their trailing dot.
    async fn names(&self, ip: IpAddr) -> Vec<String>;

    /// The A and AAAA addresses of `name`.
    async fn addresses(&self, name: &str) -> Vec<IpAddr>;
}

/// The forward-confirmed name of `ip`, lower-cased, or `None` (`unknown`) when it has none,
/// when no name maps back to it, or when the lookups take longer than `timeout`.
pub async fn client_name(dns: &dyn ReverseDns, ip: IpAddr, timeout: Duration) -> Option<String> {
    let ip = ip.to_canonical();
    tokio::time::timeout(timeout, confirmed_name(dns, ip))
        .await
        .ok()
        .flatten()
}

async fn confirmed_name(dns: &dyn ReverseDns, ip: IpAddr) -> Option<String> {
    let names = dns.names(ip).await;
    for name in names.iter().take(MAX_NAMES) {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if !is_host_name(&name) {
            continue;
        }
        let addresses = dns.addresses(&name).await;
        if addresses.iter().any(|a| a.to_canonical() == ip) {
            return Some(name);
        }
    }
    None
}

/// True for an ASCII host name fit for a log line and a Received header: labels of letters,
/// digits, `-` and `_` (seen in the wild), not starting or ending with `-`, and a last label
/// that is not all digits (an address written as a name).
fn is_host_name(name: &str) -> bool {
    let labels_ok = name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    let numeric_top = name
        .rsplit('.')
        .next()
        .is_some_and(|top| top.bytes().all(|b| b.is_ascii_digit()));
    labels_ok && !numeric_top
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_plain_ascii_labels() {
        for good in ["mail.example.org", "a-b.c_d.test", "localhost"] {
            assert!(is_host_name(good), "{good}");
        }
        for bad in [
            "",
            "a..b",
            "-a.test",
            "a-.test",
            "1.2.3.4",
            "mail.example.org\u{1b}[31m",
            "café.test",
            "a b.test",
            "[192.0.2.1]",
        ] {
            assert!(!is_host_name(bad), "{bad:?}");
        }
    }
}
