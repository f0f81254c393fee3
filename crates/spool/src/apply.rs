//! Applying a group's ops inside one redb write transaction.
//!
//! Each op checks everything that can refuse it (unknown or undecodable id, duplicate id, a
//! row that cannot be encoded) before its first change, so a refused op leaves no trace and
//! fails alone while the rest of its group commits.

// redb's error is large; it only ever ends a whole commit (a rare, slow path), so it is passed
// as is rather than boxed at every `?`.
#![allow(clippy::result_large_err)]

use envoi_queue::{Disposition, StorageError};
use envoi_types::QueueId;
use redb::{ReadableTable, Table, WriteTransaction};

use crate::error;
use crate::packs;
use crate::schema::{
    chunk_key, id_key, schedule_key_id, suspension, BodyPlace, Location, MetaRecord, CHUNKS,
    CHUNK_LEN, LOCATION_LEN, META, SCHEDULE, SCHEDULE_KEY_LEN, SCHEDULE_VALUE_LEN, STATE,
    SUSPENSIONS,
};
use crate::writer::{Done, Op, Outcome, Prepared, Request};
use take::{take, Taken};

/// The outcome of one op inside the transaction: `Err` is fatal for the whole transaction.
type Applied = Result<Outcome, redb::Error>;

/// Applies every op of `batch` in `txn`, in order; one outcome per op.
pub(crate) fn apply_all(
    txn: &WriteTransaction,
    batch: &[Request],
) -> Result<Vec<Outcome>, redb::Error> {
    let mut tables = Tables {
        meta: txn.open_table(META)?,
        state: txn.open_table(STATE)?,
        chunks: txn.open_table(CHUNKS)?,
        packs: packs::PackTables::open(txn)?,
        schedule: txn.open_table(SCHEDULE)?,
        suspensions: txn.open_table(SUSPENSIONS)?,
    };
    batch.iter().map(|r| apply(&mut tables, &r.op)).collect()
}

struct Tables<'t> {
    meta: Table<'t, &'static [u8], &'static [u8]>,
    state: Table<'t, &'static [u8], &'static [u8]>,
    chunks: Table<'t, &'static [u8], &'static [u8]>,
    packs: packs::PackTables<'t>,
    schedule: Table<'t, &'static [u8], &'static [u8]>,
    suspensions: Table<'t, &'static str, &'static [u8]>,
}

/// Applies one op; returns its outcome and the body files to unlink once committed (those of
/// removed messages, and those the op wrote itself when it was refused). Each op checks
/// everything before changing anything, so a refused op leaves no trace.
fn apply(t: &mut Tables<'_>, op: &Op) -> Applied {
    match op {
        Op::Write(messages) => {
            if let Some(refusal) = check_new(t, messages)? {
                return Ok((Err(refusal), op.new_files().collect()));
            }
            insert_new(t, messages)?;
            Ok((Ok(Done::Ok), Vec::new()))
        }
        Op::Attempt {
            id,
            bounces,
            disposition: Disposition::Remove,
        } if bounces.is_empty() => {
            // A delivered message, the common case: one B-tree walk instead of a read and a
            // remove; an undecodable row is put back, so the refusal leaves no trace.
            match take(t, *id)? {
                Taken::Missing => Ok((Err(StorageError::NotFound(*id)), Vec::new())),
                Taken::Record(record, at) => Ok((Ok(Done::Ok), delete_rest(t, *id, &record, at)?)),
                Taken::Undecodable(rows, detail) => {
                    rows.put_back(t, *id)?;
                    Ok((Err(error::corrupt(*id, detail)), Vec::new()))
                }
            }
        }
        Op::Attempt {
            id,
            bounces,
            disposition,
        } => {
            let existing = match read_record(t, *id)? {
                Ok(existing) => existing,
                Err(e) => return Ok((Err(e), op.new_files().collect())),
            };
            if let Some(refusal) = check_new(t, bounces)? {
                return Ok((Err(refusal), op.new_files().collect()));
            }
            // Everything that can refuse the op runs before the first change: the new rows of
            // a reschedule are encoded before the bounces go in or the old schedule row goes.
            let change = match (existing, disposition) {
                (None, _) => None,
                (Some(record), Disposition::Remove) => Some(Change::Delete(record)),
                (Some(record), Disposition::Retry { .. }) => {
                    match Rescheduled::new(*id, record, disposition) {
                        Ok(rescheduled) => Some(Change::Reschedule(rescheduled)),
                        Err(e) => return Ok((Err(e), op.new_files().collect())),
                    }
                }
            };
            insert_new(t, bounces)?;
            match change {
                // The bounces are stored all the same (the contract): their files stay.
                None => Ok((Err(StorageError::NotFound(*id)), Vec::new())),
                Some(Change::Delete(record)) => Ok((Ok(Done::Ok), delete(t, *id, &record)?)),
                Some(Change::Reschedule(rescheduled)) => {
                    rescheduled.apply(t, *id)?;
                    Ok((Ok(Done::Ok), Vec::new()))
                }
            }
        }
        Op::Remove(id) => match take(t, *id)? {
            Taken::Missing => Ok((Ok(Done::Removed(false)), Vec::new())),
            Taken::Record(record, at) => {
                Ok((Ok(Done::Removed(true)), delete_rest(t, *id, &record, at)?))
            }
            Taken::Undecodable(..) => {
                // It escaped the start-up check: remove the rest by its id alone (a pack it
                // may name keeps its count until the next start-up check).
                remove_schedule_by_id(t, *id)?;
                remove_chunks(t, *id, u32::MAX)?;
                Ok((Ok(Done::Removed(true)), vec![*id]))
            }
        },
        Op::SetHeld(id, held) => match read_record(t, *id)? {
            Ok(Some(mut record)) => {
                record.meta.held = *held;
                Ok((update(t, *id, &record)?, Vec::new()))
            }
            Ok(None) => Ok((Err(StorageError::NotFound(*id)), Vec::new())),
            Err(e) => Ok((Err(e), Vec::new())),
        },
        Op::Suspend(s) => {
            let value = suspension::encode(s);
            t.suspensions
                .insert(s.destination.as_str(), value.as_slice())?;
            Ok((Ok(Done::Ok), Vec::new()))
        }
        Op::Resume(destination) => {
            let was = t.suspensions.remove(destination.as_str())?.is_some();
            Ok((Ok(Done::Removed(was)), Vec::new()))
        }
    }
}

/// What a checked attempt commit does to its message.
// Built and matched once per op, never stored.
#[allow(clippy::large_enum_variant)]
enum Change {
    Delete(MetaRecord),
    Reschedule(Rescheduled),
}

/// A reschedule with its new rows already encoded, so applying it cannot fail halfway.
struct Rescheduled {
    old_key: [u8; SCHEDULE_KEY_LEN],
    new_key: [u8; SCHEDULE_KEY_LEN],
    new_value: [u8; SCHEDULE_VALUE_LEN],
    state_row: Vec<u8>,
}

impl Rescheduled {
    /// Encodes the state `disposition` leaves `record` in; `Io` when it has no stored form.
    fn new(
        id: QueueId,
        mut record: MetaRecord,
        disposition: &Disposition,
    ) -> Result<Self, StorageError> {
        let old_key = record.schedule_key(id);
        if let Disposition::Retry {
            next_attempt,
            attempts,
            recipients,
            history,
        } = disposition
        {
            record.meta.next_attempt = *next_attempt;
            record.meta.attempts = *attempts;
            record.meta.recipients.clone_from(recipients);
            record.meta.history.clone_from(history);
        }
        let state_row = record.state_row().map_err(StorageError::Io)?;
        Ok(Self {
            old_key,
            new_key: record.schedule_key(id),
            new_value: record.schedule_value(),
            state_row,
        })
    }

    /// Replaces the state row and the schedule row; the metadata row (and any inline body in
    /// it) is left as it is.
    fn apply(&self, t: &mut Tables<'_>, id: QueueId) -> Result<(), redb::Error> {
        t.schedule.remove(self.old_key.as_slice())?;
        t.state
            .insert(id_key(id).as_slice(), self.state_row.as_slice())?;
        t.schedule
            .insert(self.new_key.as_slice(), self.new_value.as_slice())?;
        Ok(())
    }
}

/// The stored record of `id` with its current state (its body, inline or not, is not
/// copied): `Ok(Err(Corrupt))` when it cannot be decoded.
fn read_record(
    t: &Tables<'_>,
    id: QueueId,
) -> Result<Result<Option<MetaRecord>, StorageError>, redb::Error> {
    let key = id_key(id);
    let Some(bytes) = t.meta.get(key.as_slice())? else {
        return Ok(Ok(None));
    };
    let state = t.state.get(key.as_slice())?;
    let state = state.as_ref().map(|s| s.value());
    Ok(MetaRecord::decode_rows(bytes.value(), state)
        .map(|(record, _)| Some(record))
        .map_err(|detail| error::corrupt(id, detail)))
}

/// Refuses a set of new messages when one of their ids is stored or repeated.
fn check_new(t: &Tables<'_>, messages: &[Prepared]) -> Result<Option<StorageError>, redb::Error> {
    for (i, message) in messages.iter().enumerate() {
        let repeated = messages[..i].iter().any(|m| m.id == message.id);
        if repeated || t.meta.get(id_key(message.id).as_slice())?.is_some() {
            return Ok(Some(StorageError::DuplicateId(message.id)));
        }
    }
    Ok(None)
}

fn insert_new(t: &mut Tables<'_>, messages: &[Prepared]) -> Result<(), redb::Error> {
    for message in messages {
        if message.record.body == BodyPlace::Packed {
            // The row ends with a blank location: append the body and fill it in.
            let at = t.packs.append(&message.packed)?;
            let mut row = message.row.clone();
            let blank = row.len().checked_sub(LOCATION_LEN);
            if let Some(blank) = blank.and_then(|start| row.get_mut(start..)) {
                blank.copy_from_slice(&at.encode());
            }
            t.meta
                .insert(id_key(message.id).as_slice(), row.as_slice())?;
        } else {
            t.meta
                .insert(id_key(message.id).as_slice(), message.row.as_slice())?;
        }
        for (index, chunk) in (0u32..).zip(message.chunks.chunks(CHUNK_LEN)) {
            t.chunks
                .insert(chunk_key(message.id, index).as_slice(), chunk)?;
        }
        t.schedule.insert(
            message.record.schedule_key(message.id).as_slice(),
            message.record.schedule_value().as_slice(),
        )?;
    }
    Ok(())
}

/// Writes the state row of a stored message from `record`, and its schedule row (whose key
/// the change leaves as it was).
fn update(
    t: &mut Tables<'_>,
    id: QueueId,
    record: &MetaRecord,
) -> Result<Result<Done, StorageError>, redb::Error> {
    let row = match record.state_row() {
        Ok(row) => row,
        Err(e) => return Ok(Err(StorageError::Io(e))),
    };
    t.state.insert(id_key(id).as_slice(), row.as_slice())?;
    t.schedule.insert(
        record.schedule_key(id).as_slice(),
        record.schedule_value().as_slice(),
    )?;
    Ok(Ok(Done::Ok))
}

/// Deletes every row of `id`; returns the body file to unlink after the commit.
fn delete(
    t: &mut Tables<'_>,
    id: QueueId,
    record: &MetaRecord,
) -> Result<Vec<QueueId>, redb::Error> {
    let row = t.meta.remove(id_key(id).as_slice())?;
    let at = row.and_then(|row| packs::location_in(record, row.value()));
    t.state.remove(id_key(id).as_slice())?;
    delete_rest(t, id, record, at)
}

/// Deletes the schedule row of `id`, whose metadata and state rows are gone, and releases its
/// body's place in a pack (`packed`); returns the body file to unlink after the commit.
fn delete_rest(
    t: &mut Tables<'_>,
    id: QueueId,
    record: &MetaRecord,
    packed: Option<Location>,
) -> Result<Vec<QueueId>, redb::Error> {
    t.schedule.remove(record.schedule_key(id).as_slice())?;
    match record.body {
        BodyPlace::Inline => Ok(Vec::new()),
        BodyPlace::Packed => {
            if let Some(at) = packed {
                t.packs.release(at)?;
            }
            Ok(Vec::new())
        }
        BodyPlace::Chunked { chunks } => {
            remove_chunks(t, id, chunks)?;
            Ok(Vec::new())
        }
        BodyPlace::File => Ok(vec![id]),
    }
}

/// Removes the first `chunks` chunks of `id` (all it has when its record is readable; every
/// chunk it may have with `u32::MAX`).
fn remove_chunks(t: &mut Tables<'_>, id: QueueId, chunks: u32) -> Result<(), redb::Error> {
    if chunks == 0 {
        return Ok(());
    }
    let (first, last) = (chunk_key(id, 0), chunk_key(id, chunks - 1));
    t.chunks
        .retain_in::<&[u8], _>(first.as_slice()..=last.as_slice(), |_, _| false)?;
    Ok(())
}

/// Removes the schedule row of `id` without knowing its due time (a full scan; rare).
fn remove_schedule_by_id(t: &mut Tables<'_>, id: QueueId) -> Result<(), redb::Error> {
    let mut found = Vec::new();
    for row in t.schedule.iter()? {
        let (key, _) = row?;
        if key.value().len() == SCHEDULE_KEY_LEN && schedule_key_id(key.value()) == Some(id) {
            found.push(key.value().to_vec());
        }
    }
    for key in found {
        t.schedule.remove(key.as_slice())?;
    }
    Ok(())
}

mod take;
#[cfg(test)]
mod tests;
