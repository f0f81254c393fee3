//! The queue summary: totals by state, then a table of destination domains.

use std::fmt::Write as _;

use super::table::table;
use crate::api::Summary;

/// `queued: N (active a, deferred d, held h)`, then the domains of pending recipients.
pub fn summary(s: &Summary) -> String {
    let mut out = format!(
        "queued: {} (active {}, deferred {}, held {})\n",
        s.total, s.by_state.active, s.by_state.deferred, s.by_state.held
    );
    if s.by_domain.is_empty() {
        return out;
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = s
        .by_domain
        .iter()
        .map(|d| {
            vec![
                d.domain.clone(),
                d.messages.to_string(),
                d.recipients.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(&["DOMAIN", "MESSAGES", "RECIPIENTS"], &rows));
    if !s.domains_complete {
        let _ = writeln!(out, "(domain counts cover only part of a very large queue)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DomainCount, StateCounts};

    #[test]
    fn totals_then_domains() {
        let s = Summary {
            total: 3,
            by_state: StateCounts {
                active: 1,
                deferred: 1,
                held: 1,
            },
            by_domain: vec![DomainCount {
                domain: "example.org".into(),
                messages: 2,
                recipients: 5,
            }],
            domains_complete: true,
        };
        assert_eq!(
            summary(&s),
            "queued: 3 (active 1, deferred 1, held 1)\n\n\
             DOMAIN       MESSAGES  RECIPIENTS\n\
             example.org  2         5\n"
        );
    }
}
