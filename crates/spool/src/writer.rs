//! The writer: one thread that turns queued mutations into group commits.
//!
//! Callers send a [`Request`] on a bounded channel and wait for its reply on a oneshot (see
//! [`crate::spool`]). The writer takes every request waiting, up to a batch limit, fsyncs the body
//! directory once if any of them wrote a body file, applies them all in one redb write
//! transaction and commits it with `Durability::Immediate` — one fsync for the whole group —
//! then replies to each. A request that is invalid (duplicate id, unknown id) fails alone and
//! changes nothing (`crate::apply`); a failed commit or directory fsync fails every request of
//! the group. Nothing is ever retried: the callers get `Err`. After a failed write the database
//! is reopened from what is durable on disk; after a failed fsync of the database, or a panic
//! here, the spool stops for good (`crate::handle`).

// redb's error is large; it only ever ends a whole commit (a rare, slow path), so it is passed
// as is rather than boxed at every `?`.
#![allow(clippy::result_large_err)]

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use envoi_queue::{Disposition, StorageError, Suspension};
use envoi_types::QueueId;
use tokio::sync::oneshot;

use crate::apply::apply_all;
use crate::error;
use crate::failpoint;
use crate::handle::Shared;
use crate::schema::{BodyPlace, MetaRecord};

/// A message ready to insert: its metadata row encoded, with the body when it is inline
/// (otherwise the body is already in its file).
#[derive(Debug)]
pub(crate) struct Prepared {
    pub id: QueueId,
    pub record: MetaRecord,
    /// The metadata row, encoded by the caller (off the writer thread).
    pub row: Vec<u8>,
    /// The part of an inline body that goes to the `chunks` table (empty unless the body is
    /// [`BodyPlace::Chunked`]): a view of the message's buffer, not a copy.
    pub chunks: bytes::Bytes,
    /// The body that goes to a pack (empty unless the body is [`BodyPlace::Packed`]); the
    /// row ends with a blank location, which the writer fills in.
    pub packed: bytes::Bytes,
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
    Suspend(Suspension),
    Resume(String),
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Write(_) => "write",
            Op::Attempt { .. } => "commit_attempt",
            Op::Remove(_) => "remove",
            Op::SetHeld(..) => "set_held",
            Op::Suspend(_) => "suspend",
            Op::Resume(_) => "resume",
        }
    }

    /// The messages of this op whose body is in a file.
    pub(crate) fn new_files(&self) -> impl Iterator<Item = QueueId> + '_ {
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
pub(crate) type Outcome = (Result<Done, StorageError>, Vec<QueueId>);

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
