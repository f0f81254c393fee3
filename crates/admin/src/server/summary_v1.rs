//! `GET /v1/summary`: counts by state and by recipient domain, both as the queue keeps them
//! while messages change. Where the queue cannot keep the domain counts (a shared store, or
//! the schedule still loading), they come from a bounded scan of the listing instead.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use envoi_queue::{DomainTally, MessageInfo, Queue};

use super::{AdminState, ApiError};
use crate::api::{DomainCount, MessageFilter, Summary};

/// Most messages read to count domains; past it the summary says `domains_complete: false`.
const MAX_DOMAIN_SCAN: usize = 100_000;

pub(crate) async fn summary(State(state): State<AdminState>) -> Result<Json<Summary>, ApiError> {
    summary_of(state.queue(), MAX_DOMAIN_SCAN).await.map(Json)
}

/// The summary, scanning at most `max_scan` messages when the queue keeps no domain counts.
async fn summary_of(queue: &Queue, max_scan: usize) -> Result<Summary, ApiError> {
    let by_state = queue.count_by_state().await?;
    let (by_domain, domains_complete) = match queue.domain_tallies() {
        Some(kept) => (sorted(kept.into_iter().map(domain_count).collect()), true),
        None => domain_counts(queue, max_scan).await?,
    };
    Ok(Summary {
        total: by_state.total(),
        by_state,
        by_domain,
        domains_complete,
    })
}

fn domain_count(tally: DomainTally) -> DomainCount {
    DomainCount {
        domain: tally.domain,
        messages: tally.messages,
        recipients: tally.recipients,
    }
}

/// Per-domain counts of pending recipients over at most `max_scan` messages, and whether
/// the scan covered the whole queue.
async fn domain_counts(
    queue: &Queue,
    max_scan: usize,
) -> Result<(Vec<DomainCount>, bool), ApiError> {
    let mut counts: HashMap<String, DomainCount> = HashMap::new();
    let complete = super::select::scan(queue, &MessageFilter::default(), max_scan, |info| {
        count(&mut counts, info);
    })
    .await?;
    Ok((sorted(counts.into_values().collect()), complete))
}

fn count(counts: &mut HashMap<String, DomainCount>, info: &MessageInfo) {
    let mut seen_here: Vec<String> = Vec::new();
    for recipient in info.pending() {
        let domain = recipient.recipient.domain_lowercase();
        let entry = counts.entry(domain.clone()).or_insert_with(|| DomainCount {
            domain: domain.clone(),
            messages: 0,
            recipients: 0,
        });
        entry.recipients += 1;
        if !seen_here.contains(&domain) {
            entry.messages += 1;
            seen_here.push(domain);
        }
    }
}

/// Most messages first, ties by name.
fn sorted(mut domains: Vec<DomainCount>) -> Vec<DomainCount> {
    domains.sort_by(|a, b| {
        b.messages
            .cmp(&a.messages)
            .then_with(|| a.domain.cmp(&b.domain))
    });
    domains
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use envoi_types::{Address, QueueId, RecipientState, RecipientStatus};

    use super::*;

    fn info(recipients: &[(&str, RecipientState)]) -> MessageInfo {
        MessageInfo {
            id: QueueId::new(),
            sender: "s@src.example".into(),
            recipients: recipients
                .iter()
                .map(|(r, state)| RecipientStatus {
                    state: *state,
                    ..RecipientStatus::pending(Address::parse(r).unwrap())
                })
                .collect(),
            attempts: 0,
            next_attempt: SystemTime::now(),
            arrival: SystemTime::now(),
            held: false,
            size: 1,
        }
    }

    #[test]
    fn counts_pending_recipients_and_messages_per_domain() {
        use RecipientState::{Delivered, Pending};
        let mut counts = HashMap::new();
        count(
            &mut counts,
            &info(&[
                ("a@X.example", Pending),
                ("b@x.example", Pending),
                ("c@y.example", Delivered),
            ]),
        );
        count(&mut counts, &info(&[("d@y.example", Pending)]));
        count(&mut counts, &info(&[("e@z.example", Pending)]));
        let rows: Vec<(String, u64, u64)> = sorted(counts.into_values().collect())
            .into_iter()
            .map(|d| (d.domain, d.messages, d.recipients))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("x.example".into(), 1, 2),
                ("y.example".into(), 1, 1),
                ("z.example".into(), 1, 1),
            ]
        );
    }

    /// A queue on a memory store holding `n` messages to d.example, due in a day.
    async fn queue_of(n: usize) -> Queue {
        let store = envoi_queue::MemoryStore::new();
        let messages = (0..n)
            .map(|i| {
                let rcpt = Address::parse(&format!("r{i}@D.example")).unwrap();
                let envelope = envoi_types::Envelope::new(
                    envoi_types::Sender::Null,
                    vec![rcpt],
                    b"x\r\n".to_vec(),
                );
                // Due in a day: the queue's scheduler leaves them alone.
                let due = SystemTime::now() + std::time::Duration::from_secs(86_400);
                envoi_queue::NewMessage::new(envelope, due)
            })
            .collect();
        envoi_queue::Storage::write(&store, messages).await.unwrap();
        let relay = envoi_queue::testkit::ScriptedRelay::new();
        Queue::builder(std::sync::Arc::new(store), relay)
            .start()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn scan_stops_at_the_bound_and_says_so() {
        let queue = queue_of(5).await;
        let (all, complete) = domain_counts(&queue, 100).await.unwrap();
        assert!(complete);
        assert_eq!(all[0].messages, 5);
        let (part, complete) = domain_counts(&queue, 3).await.unwrap();
        assert!(!complete);
        assert_eq!(part[0].messages, 3);
    }

    #[tokio::test]
    async fn a_local_queue_answers_from_its_kept_counts_without_a_scan() {
        let queue = queue_of(5).await;
        let summary = summary_of(&queue, 3).await.unwrap();
        assert!(summary.domains_complete, "no scan, so no bound");
        assert_eq!(
            summary.by_domain,
            vec![DomainCount {
                domain: "d.example".into(),
                messages: 5,
                recipients: 5,
            }]
        );
        assert_eq!(summary.total, 5);
    }
}
