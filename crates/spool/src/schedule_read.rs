//! Reads of the schedule table for the queue: whole (each entry with its pending recipients'
//! domains, from its rows), a page in due order (without them: a page must not wait for a
//! read of every message's rows; the queue asks for them after), and the counts by state. The table's keys are in due order ([`crate::schema`]), so a page is one range read
//! from just after the last key of the page before; each read is its own snapshot.

use std::ops::Bound;

use envoi_queue::{
    MessageState, ScheduleCursor, ScheduleEntry, SchedulePage, StateCounts, StorageError,
};
use redb::ReadTransaction;

use crate::error;
use crate::read;
use crate::schema::{decode_schedule, schedule_key, ScheduleRow, SCHEDULE};

/// Calls `each` with every decodable schedule row after `after` (from the first when `None`)
/// in due order while it returns true; an undecodable row is logged and skipped (start-up
/// reconciliation removes such rows).
fn for_each_row(
    txn: &ReadTransaction,
    after: Option<ScheduleCursor>,
    mut each: impl FnMut(ScheduleRow) -> bool,
) -> Result<(), StorageError> {
    let schedule = txn
        .open_table(SCHEDULE)
        .map_err(|e| error::redb_any("cannot open schedule table", e))?;
    let start = after.map(|c| schedule_key(c.next_attempt, c.id));
    let lower = match &start {
        Some(key) => Bound::Excluded(key.as_slice()),
        None => Bound::Unbounded,
    };
    let rows = schedule
        .range::<&[u8]>((lower, Bound::Unbounded))
        .map_err(|e| error::db("cannot read schedule", e))?;
    for row in rows {
        let (key, value) = row.map_err(|e| error::db("cannot read schedule", e))?;
        match decode_schedule(key.value(), value.value()) {
            Some(row) => {
                if !each(row) {
                    break;
                }
            }
            None => tracing::error!(key = ?key.value(), "undecodable schedule row skipped"),
        }
    }
    Ok(())
}

/// Every schedule entry, in due order.
pub(crate) fn whole(txn: &ReadTransaction) -> Result<Vec<ScheduleEntry>, StorageError> {
    let mut entries = Vec::new();
    for_each_row(txn, None, |row| {
        entries.push(row.entry);
        true
    })?;
    with_domains(txn, entries)
}

/// `entries` with their pending recipients' domains read from their rows.
pub(crate) fn with_domains(
    txn: &ReadTransaction,
    mut entries: Vec<ScheduleEntry>,
) -> Result<Vec<ScheduleEntry>, StorageError> {
    let domains = read::pending_domains(txn, entries.iter().map(|e| e.id))?;
    for (entry, domains) in entries.iter_mut().zip(domains) {
        entry.domains = domains;
    }
    Ok(entries)
}

/// At most `limit` entries (0: no limit) after `after`, in due order; complete when no row
/// follows.
pub(crate) fn page(
    txn: &ReadTransaction,
    after: Option<ScheduleCursor>,
    limit: usize,
) -> Result<SchedulePage, StorageError> {
    let limit = if limit == 0 { usize::MAX } else { limit };
    let mut entries = Vec::new();
    let mut complete = true;
    for_each_row(txn, after, |row| {
        if entries.len() == limit {
            complete = false;
            return false;
        }
        entries.push(row.entry);
        true
    })?;
    Ok(SchedulePage { entries, complete })
}

/// How many messages are in each admin state (every schedule row read).
pub(crate) fn counts(txn: &ReadTransaction) -> Result<StateCounts, StorageError> {
    let mut counts = StateCounts::default();
    for_each_row(txn, None, |row| {
        counts.add(MessageState::of(row.entry.held, row.attempts));
        true
    })?;
    Ok(counts)
}
