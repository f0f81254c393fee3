//! The schedule as the queue loads it: one small entry per message, read in due order, a page
//! at a time, so that start-up does not wait for a large queue to be read whole.

use std::time::SystemTime;

use envoi_types::QueueId;

use super::RecipientDomains;
use serde::{Deserialize, Serialize};

/// What the scheduler keeps in memory per message: no body, no addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleEntry {
    /// The message.
    pub id: QueueId,
    /// When its next attempt is due.
    pub next_attempt: SystemTime,
    /// When it arrived (for expiry).
    pub arrival: SystemTime,
    /// Whether it is held.
    pub held: bool,
    /// Failed scheduled attempts so far (see [`crate::MessageMeta::attempts`]): with `held`,
    /// its admin state ([`crate::MessageState::of`]), which the queue counts as it changes.
    pub attempts: u32,
    /// Its pending recipients per domain, when the store read them with the entry (`None`:
    /// it did not; the queue then asks [`crate::Storage::schedule_domains`]). Never
    /// serialized.
    #[serde(skip)]
    pub domains: Option<RecipientDomains>,
}

impl ScheduleEntry {
    /// Its place in due order: the next attempt, ties by id.
    pub fn cursor(&self) -> ScheduleCursor {
        ScheduleCursor {
            next_attempt: self.next_attempt,
            id: self.id,
        }
    }
}

/// A place in the schedule's due order: a page read [`after`](crate::Storage::load_schedule_page)
/// it starts with the first entry due later (or due then with a greater id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScheduleCursor {
    /// The due time (compared first).
    pub next_attempt: SystemTime,
    /// The id (compared on equal due times).
    pub id: QueueId,
}

/// One page of the schedule, in due order (see [`crate::Storage::load_schedule_page`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulePage {
    /// The entries, in due order, each after the cursor the page was asked for.
    pub entries: Vec<ScheduleEntry>,
    /// True when no entry follows the last one (as the store stood when it read the page).
    pub complete: bool,
}

impl SchedulePage {
    /// The page of `entries` (in due order) after `after`, at most `limit` long (0: no limit).
    pub fn of_sorted(
        entries: Vec<ScheduleEntry>,
        after: Option<ScheduleCursor>,
        limit: usize,
    ) -> Self {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let mut rest = entries
            .into_iter()
            .filter(|e| after.is_none_or(|after| e.cursor() > after))
            .peekable();
        let page: Vec<ScheduleEntry> = rest.by_ref().take(limit).collect();
        Self {
            complete: rest.peek().is_none(),
            entries: page,
        }
    }

    /// Where the next page starts: after this page's last entry (`None` when it is empty).
    pub fn next_cursor(&self) -> Option<ScheduleCursor> {
        self.entries.last().map(ScheduleEntry::cursor)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn entry(secs: u64) -> ScheduleEntry {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        ScheduleEntry {
            id: QueueId::new(),
            next_attempt: at,
            arrival: at,
            held: false,
            attempts: 0,
            domains: None,
        }
    }

    #[test]
    fn pages_cover_every_entry_once_in_order() {
        let mut all: Vec<ScheduleEntry> = (0..7).map(|i| entry(i % 3)).collect();
        all.sort_by_key(ScheduleEntry::cursor);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = SchedulePage::of_sorted(all.clone(), after, 3);
            seen.extend(page.entries.iter().cloned());
            after = page.next_cursor().or(after);
            if page.complete {
                break;
            }
        }
        assert_eq!(seen, all);
        let whole = SchedulePage::of_sorted(all.clone(), None, 0);
        assert!(whole.complete);
        assert_eq!(whole.entries, all);
    }
}
