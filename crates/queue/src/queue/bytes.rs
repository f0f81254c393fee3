//! The queue-bytes gauge ([`events::QUEUE_BYTES`]): the size of every message this queue
//! holds, kept as messages come and go, never scanned for a scrape.
//!
//! A message counts from its enqueue (or, for one stored before the start, from the start-up
//! count) until it leaves the queue: delivered or failed for every recipient, deleted,
//! bounced, expired. The start-up count reads the store's listing page by page in the
//! background; a message that leaves meanwhile is remembered until the count ends, so a page
//! read before its removal cannot count it again.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, Weak};
use std::time::SystemTime;

use envoi_types::QueueId;

use super::{Queue, Shared};
use crate::events;
use crate::storage::ListQuery;

/// Messages read per page of the start-up count.
const COUNT_PAGE: usize = 1000;

/// The sizes of the messages in the queue, and their sum in the gauge.
#[derive(Debug, Default)]
pub(super) struct QueueBytes {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    sizes: HashMap<QueueId, u64>,
    total: u64,
    /// The start-up count is running.
    counting: bool,
    /// Messages that left the queue while the count ran: the count must not add them.
    left_while_counting: HashSet<QueueId>,
}

impl QueueBytes {
    fn state(&self) -> MutexGuard<'_, State> {
        // Each change is complete before the next: a poisoned lock holds a consistent state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A message entered the queue.
    pub fn added(&self, id: QueueId, size: u64) {
        let mut state = self.state();
        if state.sizes.insert(id, size).is_none() {
            state.total = state.total.saturating_add(size);
            events::queue_bytes_changed(size, true);
        }
    }

    /// A message left the queue (known or not).
    pub fn removed(&self, id: QueueId) {
        let mut state = self.state();
        if state.counting {
            state.left_while_counting.insert(id);
        }
        if let Some(size) = state.sizes.remove(&id) {
            state.total = state.total.saturating_sub(size);
            events::queue_bytes_changed(size, false);
        }
    }

    /// The start-up count found a stored message: added unless known or gone meanwhile.
    fn counted(&self, id: QueueId, size: u64) {
        let known = {
            let state = self.state();
            state.sizes.contains_key(&id) || state.left_while_counting.contains(&id)
        };
        if !known {
            self.added(id, size);
        }
    }

    fn set_counting(&self, counting: bool) {
        let mut state = self.state();
        state.counting = counting;
        if !counting {
            state.left_while_counting = HashSet::new();
        }
    }

    /// The bytes of the messages in the queue.
    pub fn total(&self) -> u64 {
        self.state().total
    }
}

impl Shared {
    /// Puts an attempted or taken message back in the index, due at `next`, or forgets it
    /// when `next` is `None` (it left the queue).
    pub(super) fn finish(&self, id: QueueId, next: Option<SystemTime>) {
        self.index().finish(id, next);
        if next.is_none() {
            self.bytes.removed(id);
        }
    }

    /// Messages that entered the queue without [`Shared::store_messages`] (bounces).
    pub(super) fn bytes_added(&self, sizes: &[(QueueId, u64)]) {
        for &(id, size) in sizes {
            self.bytes.added(id, size);
        }
    }
}

impl Queue {
    /// The bytes of the messages in the queue (the `envoi_queue_bytes` gauge): each counts
    /// from its enqueue until it leaves; those stored before the start are counted in the
    /// background after it. With a shared store, the messages this node stored or met.
    pub fn queued_bytes(&self) -> u64 {
        self.shared.bytes.total()
    }
}

/// Counts the messages stored before the start, page by page; ends early when the queue is
/// gone. A page that cannot be read ends the count (logged): the gauge then misses those
/// messages until they leave.
pub(super) async fn count_stored(shared: Weak<Shared>) {
    let mut after = None;
    if let Some(shared) = shared.upgrade() {
        shared.bytes.set_counting(true);
    }
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let query = ListQuery {
            after,
            limit: COUNT_PAGE,
            ..ListQuery::default()
        };
        let page = match strong.with_storage(strong.storage.list(&query)).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "cannot count the queue's bytes; the gauge misses the messages stored before the start");
                break;
            }
        };
        for info in &page {
            strong.bytes.counted(info.id, info.size);
        }
        match page.last() {
            Some(last) if page.len() == COUNT_PAGE && after.is_none_or(|a| a < last.id) => {
                after = Some(last.id);
            }
            _ => break,
        }
    }
    if let Some(shared) = shared.upgrade() {
        shared.bytes.set_counting(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> QueueId {
        QueueId::from_bytes(n.to_be_bytes())
    }

    #[test]
    fn a_message_counts_once_from_enqueue_to_removal() {
        let bytes = QueueBytes::default();
        bytes.added(id(1), 100);
        bytes.added(id(1), 100);
        bytes.added(id(2), 50);
        assert_eq!(bytes.total(), 150);
        bytes.removed(id(1));
        bytes.removed(id(1));
        assert_eq!(bytes.total(), 50);
    }

    #[test]
    fn the_count_adds_neither_known_messages_nor_ones_gone_meanwhile() {
        let bytes = QueueBytes::default();
        bytes.set_counting(true);
        bytes.added(id(1), 100);
        bytes.counted(id(1), 100);
        // Enqueued, removed, then met on a page read before the removal.
        bytes.added(id(2), 70);
        bytes.removed(id(2));
        bytes.counted(id(2), 70);
        // Removed before the count reached it (never known).
        bytes.removed(id(3));
        bytes.counted(id(3), 30);
        bytes.counted(id(4), 5);
        bytes.set_counting(false);
        assert_eq!(bytes.total(), 105);
    }
}
