//! Forwarding: rewriting recipients from an alias table.

use std::collections::HashMap;

use envoi_types::{Address, DsnRequest, Envelope, OriginalRecipient, RecipientDsn};

use super::PrequeuePolicy;

/// Rewrites recipients from a table of aliases.
///
/// Keys are full addresses (`alice@example.org`) or whole domains (`@example.org`), compared
/// case-insensitively; an address key wins over its domain key. A recipient with no entry is
/// kept. The rewrite is applied once (aliases of aliases are not followed) and duplicate
/// results are dropped, keeping the first. A target keeps the DSN parameters of the
/// recipient it replaces (RFC 3461 §6.2): its `NOTIFY`, and its `ORCPT`, or the replaced
/// address as the original recipient when the sender gave none.
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
        let mut dsn = DsnRequest {
            recipients: Vec::new(),
            ..envelope.dsn.clone()
        };
        for original in &envelope.recipients {
            for target in self.rewrite(original) {
                if recipients.contains(&target) {
                    continue;
                }
                dsn.add_recipient(inherited(&envelope.dsn, original, &target));
                recipients.push(target);
            }
        }
        envelope.recipients = recipients;
        envelope.dsn = dsn;
        vec![envelope]
    }
}

/// The DSN parameters `target` takes over from `original`, the recipient it replaces.
fn inherited(dsn: &DsnRequest, original: &Address, target: &Address) -> RecipientDsn {
    let given = dsn.recipient(original);
    let orcpt = given.and_then(|r| r.orcpt.clone());
    let rewritten = original != target;
    RecipientDsn {
        recipient: target.clone(),
        notify: given.and_then(|r| r.notify),
        orcpt: orcpt.or_else(|| rewritten.then(|| OriginalRecipient::of(original))),
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

    #[test]
    fn targets_keep_notify_and_name_the_original_recipient() {
        use envoi_types::Notify;
        let policy = Forward::new().alias("alias@example.org", vec![a("real@example.net")]);
        let mut env = Envelope::new(
            Sender::Null,
            vec![a("alias@example.org"), a("keep@other.org")],
            Vec::new(),
        );
        env.dsn.add_recipient(RecipientDsn {
            recipient: a("alias@example.org"),
            notify: Some(Notify::NEVER),
            orcpt: None,
        });
        let out = policy.apply(env).remove(0);
        let target = out.dsn.recipient(&a("real@example.net")).unwrap();
        assert_eq!(target.notify, Some(Notify::NEVER));
        assert_eq!(
            target.orcpt.as_ref().map(|o| o.address.as_str()),
            Some("alias@example.org")
        );
        assert!(out.dsn.recipient(&a("keep@other.org")).is_none());
        assert!(out.dsn.recipient(&a("alias@example.org")).is_none());
    }
}
