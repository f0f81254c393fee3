//! Per recipient domain, how many queued messages have pending recipients there and how many
//! such recipients, kept as entries come, go and their outcomes are stored, so that the admin
//! summary reads one record per domain rather than every message.
//!
//! Every entry counts, held or in flight alike; an entry whose store did not give its domains
//! (a shared store's poll) counts as unknown, and while any is, the counts are not offered.

use std::collections::HashMap;
use std::sync::Arc;

use envoi_types::QueueId;

use super::{Entry, Index};
use crate::storage::{DomainTally, RecipientDomains};

/// Every domain's counts, and how many entries have unknown domains.
#[derive(Debug, Default)]
pub(super) struct DomainTallies {
    by_domain: HashMap<Arc<str>, Counts>,
    unknown: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    messages: u64,
    recipients: u64,
}

impl DomainTallies {
    /// `domains` with each name shared with the tallies' own (one allocation per name).
    pub(super) fn intern(&self, domains: &RecipientDomains) -> RecipientDomains {
        domains.interned(|name| {
            self.by_domain
                .get_key_value(&**name)
                .map_or_else(|| name.clone(), |(kept, _)| kept.clone())
        })
    }

    /// Counts one entry's domains.
    pub(super) fn add(&mut self, domains: Option<&RecipientDomains>) {
        let Some(domains) = domains else {
            self.unknown += 1;
            return;
        };
        for (domain, recipients) in domains.iter() {
            let counts = self.by_domain.entry(domain.clone()).or_default();
            counts.messages += 1;
            counts.recipients += u64::from(recipients);
        }
    }

    /// Stops counting one entry's domains.
    pub(super) fn remove(&mut self, domains: Option<&RecipientDomains>) {
        let Some(domains) = domains else {
            self.unknown = self.unknown.saturating_sub(1);
            return;
        };
        for (domain, recipients) in domains.iter() {
            let Some(counts) = self.by_domain.get_mut(&**domain) else {
                continue;
            };
            counts.messages = counts.messages.saturating_sub(1);
            counts.recipients = counts.recipients.saturating_sub(u64::from(recipients));
            if counts.messages == 0 {
                self.by_domain.remove(&**domain);
            }
        }
    }

    fn view(&self) -> Vec<DomainTally> {
        self.by_domain
            .iter()
            .map(|(domain, counts)| DomainTally {
                domain: domain.to_string(),
                messages: counts.messages,
                recipients: counts.recipients,
            })
            .collect()
    }
}

impl Index {
    /// Per domain, the messages with pending recipients there and how many; `None` while the
    /// schedule loads or some entry's domains are unknown (the counts would fall short).
    pub fn domain_tallies(&self) -> Option<Vec<DomainTally>> {
        if self.is_loading() || self.by_domain_names.unknown > 0 {
            return None;
        }
        Some(self.by_domain_names.view())
    }

    /// A message's pending recipients changed (its attempt's outcome was stored).
    pub fn set_domains(&mut self, id: QueueId, domains: &RecipientDomains) {
        let domains = self.by_domain_names.intern(domains);
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let old = entry.domains.replace(domains);
        let new = entry.domains.clone();
        self.by_domain_names.remove(old.as_ref());
        self.by_domain_names.add(new.as_ref());
    }

    /// Domains the store read for entries it gave without them; an entry that has its own
    /// meanwhile (an outcome was stored: newer than the store's read) or left keeps as it is.
    pub fn learn_domains(&mut self, found: &[(QueueId, RecipientDomains)]) {
        for (id, domains) in found {
            if self.entries.get(id).is_some_and(|e| e.domains.is_none()) {
                self.set_domains(*id, domains);
            }
        }
    }

    /// The domain tallies recomputed from every entry: what the kept ones must equal.
    #[cfg(test)]
    pub fn retally_domains(&self) -> Option<Vec<DomainTally>> {
        let mut fresh = DomainTallies::default();
        for entry in self.entries.values() {
            fresh.add(entry.domains.as_ref());
        }
        let sorted = |mut all: Vec<DomainTally>| {
            all.sort_by(|a, b| a.domain.cmp(&b.domain));
            all
        };
        (fresh.unknown == 0).then(|| sorted(fresh.view()))
    }

    /// Counts `entry` under its domains.
    pub(super) fn tally_domains(&mut self, entry: &Entry) {
        self.by_domain_names.add(entry.domains.as_ref());
    }

    /// Stops counting `entry` under its domains.
    pub(super) fn untally_domains(&mut self, entry: &Entry) {
        self.by_domain_names.remove(entry.domains.as_ref());
    }
}
