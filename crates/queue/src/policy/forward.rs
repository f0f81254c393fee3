//! Forwarding: rewriting recipients from an alias table.

use std::collections::HashMap;

use envoi_types::{Address, Envelope};

use super::PrequeuePolicy;

/// Rewrites recipients from a table of aliases.
///
/// Keys are full addresses (`alice@example.org`) or whole domains (`@example.org`), compared
/// case-insensitively; an address key wins over its domain key. A recipient with no entry is
/// kept. The rewrite is applied once (aliases of aliases are not followed) and duplicate
/// results are dropped, keeping the first.
#[derive(Debug, Clone, Default)]
pub struct Forward {
    table: HashMap<String, Vec<Address>>,
}

impl Forward {
    /// A policy with an empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an alias: mail for `key` goes to `targets` instead.
    pub fn alias(mut self, key: &str, targets: Vec<Address>) -> Self {
        self.table.insert(key.to_lowercase(), targets);
        self
    }

    fn rewrite(&self, recipient: &Address) -> Vec<Address> {
        let full = recipient.as_str().to_lowercase();
        let domain = format!("@{}", recipient.domain_lowercase());
        self.table
            .get(&full)
            .or_else(|| self.table.get(&domain))
            .cloned()
            .unwrap_or_else(|| vec![recipient.clone()])
    }
}

impl PrequeuePolicy for Forward {
    fn apply(&self, mut envelope: Envelope) -> Vec<Envelope> {
        let mut recipients: Vec<Address> = Vec::new();
        for target in envelope.recipients.iter().flat_map(|r| self.rewrite(r)) {
            if !recipients.contains(&target) {
                recipients.push(target);
            }
        }
        envelope.recipients = recipients;
        vec![envelope]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoi_types::Sender;

    fn a(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    #[test]
    fn rewrites_addresses_and_domains() {
        let policy = Forward::new()
            .alias("Postmaster@Example.org", vec![a("admin@example.net")])
            .alias("@old.org", vec![a("catch@new.org")]);
        let env = Envelope::new(
            Sender::Null,
            vec![
                a("postmaster@example.org"),
                a("x@old.org"),
                a("y@OLD.org"),
                a("keep@other.org"),
            ],
            Vec::new(),
        );
        let out = policy.apply(env).remove(0);
        assert_eq!(
            out.recipients,
            vec![
                a("admin@example.net"),
                a("catch@new.org"),
                a("keep@other.org")
            ]
        );
    }
}
