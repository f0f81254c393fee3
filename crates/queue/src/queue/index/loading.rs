//! The schedule read in the background after start-up.
//!
//! The queue starts with the first page of the stored schedule and reads the rest in due
//! order while it takes mail and attempts messages. Each page may come from a snapshot of
//! the store older than what the index knows, so a page's entry is added only when the index
//! does not know it (else the index's state is the newer: an enqueue, or an attempt that
//! rescheduled it) and it did not leave the queue since loading began (else a page read
//! before its removal would bring it back). An administrator's hold or release of a message
//! not loaded yet is applied when it loads, and a flush during loading forces what loads
//! after it. Memory for this is bounded by the removals, holds and releases during loading,
//! and freed when it ends.

use std::collections::{HashMap, HashSet};

use envoi_types::QueueId;

use super::Index;
use crate::destination::Destination;
use crate::storage::ScheduleEntry;

/// What happened, while the schedule loads, to messages a later page may still name.
#[derive(Debug, Default)]
pub(super) struct Loading {
    /// Messages that left the index (removed from the store) since loading began.
    gone: HashSet<QueueId>,
    /// Held flags set on messages the index did not know yet.
    held: HashMap<QueueId, bool>,
    /// The time (ms) of the last flush since loading began.
    flushed: Option<u64>,
}

impl Index {
    /// The stored schedule is being read: from now on, remember what a later page must not
    /// undo (see the module docs).
    pub fn begin_loading(&mut self) {
        self.loading = Some(Loading::default());
    }

    /// Every page is in: forget what loading remembered.
    pub fn end_loading(&mut self) {
        self.loading = None;
    }

    /// True while the stored schedule is being read.
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// Adds the entries of a page read in the background (unsorted: each is sorted into its
    /// lane at its first claim), but those the index knows or that left the queue since
    /// loading began; returns how many it added.
    pub fn insert_loaded(&mut self, entries: &[ScheduleEntry]) -> usize {
        let mut added = 0;
        for entry in entries {
            let Some(loading) = &mut self.loading else {
                return added;
            };
            if self.entries.contains_key(&entry.id) || loading.gone.contains(&entry.id) {
                continue;
            }
            let held = loading.held.remove(&entry.id).unwrap_or(entry.held);
            let flushed = loading.flushed;
            self.insert(
                &ScheduleEntry {
                    held,
                    ..entry.clone()
                },
                Destination::unsorted(),
            );
            if let Some(at) = flushed {
                self.force(entry.id, at);
            }
            added += 1;
        }
        added
    }

    /// A message the index may not know left the store (an administrator deleted it): a page
    /// read before must not bring it back. If it was loaded meanwhile, it goes now (idle), or
    /// when its attempt ends (in flight; the attempt finds it gone).
    pub fn note_removed(&mut self, id: QueueId) {
        if self.loading.is_none() {
            return;
        }
        match self.entries.get_mut(&id) {
            Some(entry) if entry.in_flight => entry.deleted = true,
            Some(entry) => {
                let entry = entry.clone();
                self.unlink(id, &entry);
                self.forget(id);
            }
            None => self.note_gone(id),
        }
    }

    /// Records that `id` left the index, while loading.
    pub(super) fn note_gone(&mut self, id: QueueId) {
        if let Some(loading) = &mut self.loading {
            loading.gone.insert(id);
        }
    }

    /// While loading, records the held flag of a message not loaded yet, for when it loads;
    /// false when not loading (the message is unknown).
    pub(super) fn note_held(&mut self, id: QueueId, held: bool) -> bool {
        match &mut self.loading {
            Some(loading) if !loading.gone.contains(&id) => {
                loading.held.insert(id, held);
                true
            }
            _ => false,
        }
    }

    /// While loading, records a flush at `now` (ms) for the messages still to load.
    pub(super) fn note_flush(&mut self, now: u64) {
        if let Some(loading) = &mut self.loading {
            loading.flushed = Some(now);
        }
    }
}
