//! `GET /v1/summary`: counts by state (from the store's counters) and by destination domain
//! (from a bounded scan of the listing).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use envoi_queue::{ListQuery, MessageInfo, Storage, StorageError};

use super::{AdminState, ApiError};
use crate::api::{DomainCount, Summary};

/// Most messages read to count domains; past it the summary says `domains_complete: false`.
const MAX_DOMAIN_SCAN: usize = 100_000;
/// Messages read per storage call during the scan.
const SCAN_PAGE: usize = 1000;

pub(crate) async fn summary(State(state): State<AdminState>) -> Result<Json<Summary>, ApiError> {
    let storage = state.queue().storage();
    let by_state = storage.count_by_state().await?;
    let (by_domain, domains_complete) = domain_counts(storage, MAX_DOMAIN_SCAN).await?;
    Ok(Json(Summary {
        total: by_state.total(),
        by_state,
        by_domain,
        domains_complete,
    }))
}

/// Per-domain counts of pending recipients over at most `max_scan` messages, and whether
/// the scan covered the whole queue.
async fn domain_counts(
    storage: &Arc<dyn Storage>,
    max_scan: usize,
) -> Result<(Vec<DomainCount>, bool), StorageError> {
    let mut counts: HashMap<String, DomainCount> = HashMap::new();
    let mut after = None;
    let mut scanned = 0;
    while scanned < max_scan {
        let query = ListQuery {
            after,
            limit: SCAN_PAGE.min(max_scan - scanned),
            ..ListQuery::default()
        };
        let page = storage.list(&query).await?;
        let Some(last) = page.last() else {
            return Ok((sorted(counts), true));
        };
        if after.is_some_and(|previous| last.id <= previous) {
            break; // a store that ignores the cursor: stop rather than loop
        }
        after = Some(last.id);
        scanned += page.len();
        page.iter().for_each(|info| count(&mut counts, info));
        if page.len() < query.limit {
            return Ok((sorted(counts), true));
        }
    }
    Ok((sorted(counts), false))
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

fn sorted(counts: HashMap<String, DomainCount>) -> Vec<DomainCount> {
    let mut domains: Vec<DomainCount> = counts.into_values().collect();
    domains.sort_by(|a, b| {
        b.messages
            .cmp(&a.messages)
            .then_with(|| a.domain.cmp(&b.domain))
    });
    domains
}
