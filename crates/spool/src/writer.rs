//! The writer: one thread that turns queued mutations into group commits.
//!
//! Callers send a [`Request`] on a bounded channel and wait for its reply on a oneshot (see
//! [`crate::spool`]). The writer takes every request waiting, up to a batch limit, fsyncs the body
//! directory once if any of them wrote a body file, applies them all in one redb write
//! transaction and commits it with `Durability::Immediate` — one fsync for the whole group —
//! then replies to each. A request that is invalid (duplicate id, unknown id) fails alone and
//! changes nothing; a failed commit or directory fsync fails every request of the group.
//! Nothing is ever retried after a failed fsync: its callers get `Err`, and the database is
//! reopened from what is durable on disk.

// redb's error is large; it only ever ends a whole commit (a rare, slow path), so it is passed
// as is rather than boxed at every `?`.
#![allow(clippy::result_large_err)]

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use envoi_queue::{Disposition, StorageError};
use envoi_types::QueueId;
use redb::{ReadableTable, Table, WriteTransaction};
use tokio::sync::oneshot;

use crate::error;
use crate::failpoint;
use crate::handle::Shared;
use crate::schema::{
    id_key, schedule_key_id, BodyPlace, MetaRecord, META, SCHEDULE, SCHEDULE_KEY_LEN,
};

/// A message ready to insert: its metadata row encoded, with the body when it is inline
/// (otherwise the body is already in its file).
#[derive(Debug)]
pub(crate) struct Prepared {
    pub id: QueueId,
    pub record: MetaRecord,
    /// The metadata row, encoded by the caller (off the writer thread).
    pub row: Vec<u8>,
}

/// One mutation.
#[derive(Debug)]
pub(crate) enum Op {
    Write(Vec<Prepared>),
    Attempt {
        id: QueueId,
        bounces: Vec<Prepared>,
        disposition: Disposition,
    },
    Remove(QueueId),
    SetHeld(QueueId, bool),
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Write(_) => "write",
            Op::Attempt { .. } => "commit_attempt",
            Op::Remove(_) => "remove",
            Op::SetHeld(..) => "set_held",
        }
    }

    /// The messages of this op whose body is in a file.
    fn new_files(&self) -> impl Iterator<Item = QueueId> + '_ {
        let new: &[Prepared] = match self {
            Op::Write(messages) => messages,
            Op::Attempt { bounces, .. } => bounces,
            _ => &[],
        };
        new.iter()
            .filter(|p| p.record.body == BodyPlace::File)
            .map(|p| p.id)
    }
}

/// What a successful op returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    Ok,
    /// For `Remove`: whether the message was stored.
    Removed(bool),
}

/// A mutation and where to send its outcome. The writer completes `reply` from its own
/// thread, which needs no tokio runtime; the caller awaits it, or waits on it from a blocking
/// thread.
pub(crate) struct Request {
    pub op: Op,
    pub reply: oneshot::Sender<Result<Done, StorageError>>,
}

/// Runs the writer until every sender is gone.
///
/// A group is every request waiting when the writer turns to it (up to `max_batch`): requests
/// that arrive while a commit is under way form the next group. The writer does not wait for
/// more: a short gathering wait (up to 0.5 ms, until as many requests as the last group had
/// arrived) measured slower than none once callers stopped waking through blocking threads
/// (bench/relay and the spool bench, 2026-11-28: 20-session relay throughput and 64-writer
/// durable writes both higher without it), because one `fdatasync` here costs less than the
/// wait did.
///
/// A panic while committing a group stops the spool for good (`Shared::stop`, whose docs say
/// why it is not restarted in this process): the callers of that group get `Err` (their
/// replies are dropped), and the thread goes on only to answer every later request with the
/// reason, at once, until the spool is dropped.
pub(crate) fn run(shared: Arc<Shared>, requests: Receiver<Request>, max_batch: usize) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        // The batch moves into the closure, so a panic drops its reply senders while unwinding.
        let committed = panic::catch_unwind(AssertUnwindSafe(|| commit_batch(&shared, batch)));
        if let Err(payload) = committed {
            shared.stop(StorageError::Unavailable(format!(
                "spool writer panicked ({}); restart envoi",
                panic_message(payload.as_ref())
            )));
        }
    }
}

/// The text a panic was raised with.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

/// One op's outcome, and the body files to unlink once the commit is durable.
type Outcome = (Result<Done, StorageError>, Vec<QueueId>);

/// The outcome of one op inside the transaction: `Err` is fatal for the whole transaction.
type Applied = Result<Outcome, redb::Error>;

/// Failpoints passed by a group holding an op of each kind, before and after its commit.
const BEFORE_COMMIT: [(&str, &str); 3] = [
    ("write", "write.before_commit"),
    ("commit_attempt", "commit_attempt.before_commit"),
    ("remove", "remove.before_commit"),
];
const AFTER_COMMIT: [(&str, &str); 3] = [
    ("write", "write.after_commit"),
    ("commit_attempt", "commit_attempt.after_commit"),
    ("remove", "remove.after_commit"),
];

fn commit_batch(shared: &Shared, batch: Vec<Request>) {
    if let Some(why) = shared.stopped() {
        fail(shared, batch, &why);
        return;
    }
    if !shared.is_open() {
        shared.reopen();
    }
    // Every body file named by this group is fsync'd into its directory before the commit
    // that refers to it; one fsync covers all of them.
    let has_files = batch.iter().any(|r| r.op.new_files().next().is_some());
    let dir_synced = if has_files {
        shared.bodies.sync()
    } else {
        Ok(())
    };
    let (with_files, rest): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .partition(|r| r.op.new_files().next().is_some());
    let batch = match dir_synced {
        Ok(()) => with_files.into_iter().chain(rest).collect::<Vec<_>>(),
        Err(e) => {
            tracing::error!(error = %e, "body directory fsync failed; failing its writes");
            fail(shared, with_files, &e);
            rest
        }
    };
    if batch.is_empty() {
        return;
    }
    for (kind, place) in BEFORE_COMMIT {
        if batch.iter().any(|r| r.op.name() == kind) {
            failpoint::hit(place);
        }
    }
    match apply_and_commit(shared, &batch) {
        Ok(outcomes) => {
            for (kind, place) in AFTER_COMMIT {
                if batch.iter().any(|r| r.op.name() == kind) {
                    failpoint::hit(place);
                }
            }
            for (request, (outcome, unlink)) in batch.into_iter().zip(outcomes) {
                // Unlinked only after the commit that removed the metadata is durable.
                for id in unlink {
                    shared.bodies.remove(id);
                }
                if matches!(request.op, Op::Remove(_)) {
                    failpoint::hit("remove.after_unlink");
                }
                let _ = request.reply.send(outcome);
            }
        }
        Err((e, reopen)) => {
            tracing::error!(error = %e, "spool commit failed; {} requests fail", batch.len());
            // Stopped before anyone hears of the failure, so that no caller can see this
            // error and then get an `Ok` from a database read back from an untrusted cache.
            shared.stop_if_sync_failed();
            fail(shared, batch, &e);
            if reopen {
                shared.reopen();
            }
        }
    }
}

/// Replies `error` to every request and removes the body files they wrote.
fn fail(shared: &Shared, batch: Vec<Request>, error: &StorageError) {
    for request in batch {
        for id in request.op.new_files() {
            shared.bodies.remove(id);
        }
        let _ = request.reply.send(Err(error.clone()));
    }
}

/// Applies every op in one transaction and commits it. On error: the mapped error and whether
/// the database must be reopened.
fn apply_and_commit(
    shared: &Shared,
    batch: &[Request],
) -> Result<Vec<Outcome>, (StorageError, bool)> {
    let db = shared.db().map_err(|e| (e, true))?;
    let fatal = |what: &str, e: redb::Error| {
        let reopen = error::needs_reopen(&e);
        (error::redb_any(what, e), reopen)
    };
    let txn = db
        .begin_write()
        .map_err(|e| fatal("cannot begin spool transaction", e.into()))?;
    let outcomes = apply_all(&txn, batch).map_err(|e| fatal("spool write failed", e))?;
    txn.commit()
        .map_err(|e| fatal("spool commit failed", e.into()))?;
    Ok(outcomes)
}

fn apply_all(txn: &WriteTransaction, batch: &[Request]) -> Result<Vec<Outcome>, redb::Error> {
    let mut tables = Tables {
        meta: txn.open_table(META)?,
        schedule: txn.open_table(SCHEDULE)?,
    };
    batch.iter().map(|r| apply(&mut tables, &r.op)).collect()
}

struct Tables<'t> {
    meta: Table<'t, &'static [u8], &'static [u8]>,
    schedule: Table<'t, &'static [u8], &'static [u8]>,
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
                Taken::Record(record) => Ok((Ok(Done::Ok), delete_rest(t, *id, &record)?)),
                Taken::Undecodable(row, detail) => {
                    t.meta.insert(id_key(*id).as_slice(), row.as_slice())?;
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
                (Some((record, _)), Disposition::Remove) => Some(Change::Delete(record)),
                (Some((record, body)), Disposition::Retry { .. }) => {
                    match Rescheduled::new(*id, record, &body, disposition) {
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
            Taken::Record(record) => Ok((Ok(Done::Removed(true)), delete_rest(t, *id, &record)?)),
            Taken::Undecodable(..) => {
                // It escaped the start-up check: remove the rest by its id alone.
                remove_schedule_by_id(t, *id)?;
                Ok((Ok(Done::Removed(true)), vec![*id]))
            }
        },
        Op::SetHeld(id, held) => match read_record(t, *id)? {
            Ok(Some((mut record, body))) => {
                record.meta.held = *held;
                Ok((update(t, *id, &record, &body)?, Vec::new()))
            }
            Ok(None) => Ok((Err(StorageError::NotFound(*id)), Vec::new())),
            Err(e) => Ok((Err(e), Vec::new())),
        },
    }
}

/// A stored record and its inline body (empty when the body is in a file).
type Existing = (MetaRecord, Vec<u8>);

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
    new_value: [u8; crate::schema::SCHEDULE_VALUE_LEN],
    row: Vec<u8>,
}

impl Rescheduled {
    /// Encodes `record` (with its inline `body`) as `disposition` leaves it; `Io` when it has
    /// no stored form.
    fn new(
        id: QueueId,
        mut record: MetaRecord,
        body: &[u8],
        disposition: &Disposition,
    ) -> Result<Self, StorageError> {
        let old_key = record.schedule_key(id);
        if let Disposition::Retry {
            next_attempt,
            attempts,
            recipients,
        } = disposition
        {
            record.meta.next_attempt = *next_attempt;
            record.meta.attempts = *attempts;
            record.meta.recipients.clone_from(recipients);
        }
        let row = record.encode(body).map_err(StorageError::Io)?;
        Ok(Self {
            old_key,
            new_key: record.schedule_key(id),
            new_value: record.schedule_value(),
            row,
        })
    }

    /// Replaces the metadata row and the schedule row.
    fn apply(&self, t: &mut Tables<'_>, id: QueueId) -> Result<(), redb::Error> {
        t.schedule.remove(self.old_key.as_slice())?;
        t.meta.insert(id_key(id).as_slice(), self.row.as_slice())?;
        t.schedule
            .insert(self.new_key.as_slice(), self.new_value.as_slice())?;
        Ok(())
    }
}

/// The stored record of `id` and its inline body (empty when the body is in a file):
/// `Ok(Err(Corrupt))` when it cannot be decoded.
fn read_record(
    t: &Tables<'_>,
    id: QueueId,
) -> Result<Result<Option<Existing>, StorageError>, redb::Error> {
    let Some(bytes) = t.meta.get(id_key(id).as_slice())? else {
        return Ok(Ok(None));
    };
    Ok(MetaRecord::decode(bytes.value())
        .map(|(record, body)| Some((record, body.to_vec())))
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
        t.meta
            .insert(id_key(message.id).as_slice(), message.row.as_slice())?;
        t.schedule.insert(
            message.record.schedule_key(message.id).as_slice(),
            message.record.schedule_value().as_slice(),
        )?;
    }
    Ok(())
}

/// Rewrites the metadata row of a stored message with `record` and its inline `body`, and
/// writes its schedule row.
fn update(
    t: &mut Tables<'_>,
    id: QueueId,
    record: &MetaRecord,
    body: &[u8],
) -> Result<Result<Done, StorageError>, redb::Error> {
    let row = match record.encode(body) {
        Ok(row) => row,
        Err(e) => return Ok(Err(StorageError::Io(e))),
    };
    t.meta.insert(id_key(id).as_slice(), row.as_slice())?;
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
    t.meta.remove(id_key(id).as_slice())?;
    delete_rest(t, id, record)
}

/// Deletes the schedule row of `id`, whose metadata row is gone; returns the body file to
/// unlink after the commit.
fn delete_rest(
    t: &mut Tables<'_>,
    id: QueueId,
    record: &MetaRecord,
) -> Result<Vec<QueueId>, redb::Error> {
    t.schedule.remove(record.schedule_key(id).as_slice())?;
    match record.body {
        BodyPlace::Inline => Ok(Vec::new()),
        BodyPlace::File => Ok(vec![id]),
    }
}

/// What [`take`] removed.
// Returned once per op and matched at once, never stored: boxing the record would only add
// an allocation.
#[allow(clippy::large_enum_variant)]
enum Taken {
    Missing,
    Record(MetaRecord),
    /// The raw row (to put back if the op is refused) and why it does not decode.
    Undecodable(Vec<u8>, String),
}

/// Removes the metadata row of `id` and decodes it, in one B-tree walk.
fn take(t: &mut Tables<'_>, id: QueueId) -> Result<Taken, redb::Error> {
    let Some(row) = t.meta.remove(id_key(id).as_slice())? else {
        return Ok(Taken::Missing);
    };
    let row = row.value();
    Ok(match MetaRecord::decode(row) {
        Ok((record, _)) => Taken::Record(record),
        Err(detail) => Taken::Undecodable(row.to_vec(), detail),
    })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failed assertion

    use super::*;
    use envoi_queue::MessageMeta;
    use envoi_types::{Address, Envelope, Sender};

    fn with_tables(test: impl FnOnce(&mut Tables<'_>)) {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = Tables {
                meta: txn.open_table(META).unwrap(),
                schedule: txn.open_table(SCHEDULE).unwrap(),
            };
            test(&mut t);
        }
        txn.abort().unwrap();
    }

    fn stored(t: &mut Tables<'_>) -> (QueueId, MetaRecord) {
        let env = Envelope::new(
            Sender::parse("a@b.org").unwrap(),
            vec![Address::parse("c@d.org").unwrap()],
            b"Subject: x\r\n\r\nhi\r\n".to_vec(),
        );
        let record = MetaRecord::of(&env, MessageMeta::new(&env, env.arrival), BodyPlace::Inline);
        let id = QueueId::new();
        let row = record.encode(env.message.as_bytes()).unwrap();
        let prepared = Prepared {
            id,
            record: record.clone(),
            row,
        };
        insert_new(t, &[prepared]).unwrap();
        (id, record)
    }

    fn delivered(id: QueueId) -> Op {
        Op::Attempt {
            id,
            bounces: Vec::new(),
            disposition: Disposition::Remove,
        }
    }

    #[test]
    fn a_delivered_message_loses_every_row() {
        with_tables(|t| {
            let (id, record) = stored(t);
            let (outcome, unlink) = apply(t, &delivered(id)).unwrap();
            assert_eq!(outcome, Ok(Done::Ok));
            assert!(unlink.is_empty());
            assert!(t.meta.get(id_key(id).as_slice()).unwrap().is_none());
            let key = record.schedule_key(id);
            assert!(t.schedule.get(key.as_slice()).unwrap().is_none());
            let (outcome, _) = apply(t, &delivered(id)).unwrap();
            assert_eq!(outcome, Err(StorageError::NotFound(id)));
        });
    }

    #[test]
    fn an_undecodable_row_is_refused_and_left_as_it_was() {
        with_tables(|t| {
            let (id, _) = stored(t);
            let garbage = [2u8, 0, 0, 0, 1, 0xff];
            t.meta
                .insert(id_key(id).as_slice(), garbage.as_slice())
                .unwrap();
            let (outcome, unlink) = apply(t, &delivered(id)).unwrap();
            assert!(
                matches!(outcome, Err(StorageError::Corrupt { .. })),
                "{outcome:?}"
            );
            assert!(unlink.is_empty());
            let row = t.meta.get(id_key(id).as_slice()).unwrap().unwrap();
            assert_eq!(row.value(), garbage);
            drop(row);
            // A plain remove takes it, and its schedule row, by id.
            let (outcome, _) = apply(t, &Op::Remove(id)).unwrap();
            assert_eq!(outcome, Ok(Done::Removed(true)));
            assert!(t.meta.get(id_key(id).as_slice()).unwrap().is_none());
            assert_eq!(t.schedule.iter().unwrap().count(), 0);
        });
    }
}
