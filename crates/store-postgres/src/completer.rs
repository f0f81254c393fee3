//! Batched completion: one task takes every waiting [`envoi_queue::Storage::commit_attempt`]
//! and applies them all in one transaction (one statement per kind of outcome), answering each
//! caller after `COMMIT` returned. Concurrent attempts thus share one commit, as writes do in
//! [`crate::writer`], instead of paying a synchronous commit each.
//!
//! Fencing is per message, inside the batch: an outcome is applied only while the row carries
//! this node's lease with the counter its claim (or its write) read. An outcome refused for a
//! lost lease stores nothing of its attempt, bounces included; one whose message was deleted
//! meanwhile still stores its bounces (the contract of `commit_attempt`). A batch that fails is
//! applied again one outcome at a time, so that each caller gets its own answer.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use envoi_queue::storage::{AttemptCommit, Disposition};
use envoi_queue::StorageError;
use envoi_types::QueueId;
use tokio::sync::{mpsc, oneshot};

use crate::codec::{encode_history, encode_recipients, id_bytes, nanos};
use crate::error::PgError;
use crate::insert::Columns;
use crate::sql::{self, prepared};
use crate::store::Inner;

/// Outcomes applied per transaction at most.
const BATCH: usize = 1000;

/// One caller's outcome, waiting for its commit.
struct Request {
    id: QueueId,
    /// The fencing counter this node's lease carries; `None`: no lease (an unclaimed commit).
    fence: Option<i64>,
    commit: AttemptCommit,
    reply: oneshot::Sender<Result<(), StorageError>>,
}

/// A request encoded for the statements.
struct Prepared {
    request: Request,
    key: Vec<u8>,
    bounces: Columns,
    /// The new state for a retry; `None` for a removal.
    retry: Option<Retry>,
}

/// A retry's columns.
struct Retry {
    next_ns: i64,
    attempts: i32,
    recipients: Vec<u8>,
    /// NULL when empty.
    history: Option<Vec<u8>>,
}

/// What became of one outcome in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    /// Removed or rescheduled.
    Done,
    /// The message is gone (deleted meanwhile): its bounces are stored.
    Gone,
    /// Another node holds the message now: nothing of the attempt is stored.
    Stale,
}

/// The handle callers send their outcomes to.
pub(crate) struct Completer {
    requests: mpsc::UnboundedSender<Request>,
}

impl Completer {
    /// Starts the completion task on `runtime`; it ends when the store goes.
    pub(crate) fn spawn(runtime: &tokio::runtime::Handle, inner: Weak<Inner>) -> Self {
        let (requests, receiver) = mpsc::unbounded_channel();
        runtime.spawn(run(inner, receiver));
        Self { requests }
    }

    /// Applies `commit` to `id` (under the lease `fence` names) in the next batch.
    pub(crate) async fn complete(
        &self,
        id: QueueId,
        fence: Option<i64>,
        commit: AttemptCommit,
    ) -> Result<(), StorageError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            id,
            fence,
            commit,
            reply,
        };
        let closed = || StorageError::Unavailable("the store's completion task has stopped".into());
        self.requests.send(request).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

async fn run(inner: Weak<Inner>, mut receiver: mpsc::UnboundedReceiver<Request>) {
    // A second outcome for an id already in the batch waits for the next one: each statement
    // must see each row once.
    let mut carried: Option<Request> = None;
    loop {
        let first = match carried.take() {
            Some(request) => request,
            None => match receiver.recv().await {
                Some(request) => request,
                None => return,
            },
        };
        let mut ids = HashSet::from([first.id]);
        let mut batch = vec![first];
        while batch.len() < BATCH {
            let Ok(request) = receiver.try_recv() else {
                break;
            };
            if !ids.insert(request.id) {
                carried = Some(request);
                break;
            }
            batch.push(request);
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        complete_batch(&inner, batch).await;
    }
}

/// Encodes each request (one that cannot be encoded fails alone) and applies the rest together;
/// when that fails, each alone.
async fn complete_batch(inner: &Arc<Inner>, batch: Vec<Request>) {
    let prepared: Vec<Prepared> = batch.into_iter().filter_map(prepare).collect();
    if prepared.is_empty() {
        return;
    }
    match apply(inner, &prepared).await {
        Ok(applied) => answer(inner, prepared, &applied),
        Err(error) if prepared.len() > 1 => {
            tracing::debug!(%error, "batched completion failed; applying its outcomes one by one");
            for one in prepared {
                let alone = [one];
                match apply(inner, &alone).await {
                    Ok(applied) => answer(inner, alone.into(), &applied),
                    Err(error) => {
                        let [one] = alone;
                        let _ = one.request.reply.send(Err(error));
                    }
                }
            }
        }
        Err(error) => {
            for one in prepared {
                let _ = one.request.reply.send(Err(error.clone()));
            }
        }
    }
}

/// Encodes `request`; one that cannot be encoded is answered with the error here.
fn prepare(request: Request) -> Option<Prepared> {
    let fail = |request: Request, error: StorageError| {
        let _ = request.reply.send(Err(error));
        None
    };
    let bounces = match Columns::of(&request.commit.bounces) {
        Ok(bounces) => bounces,
        Err(error) => return fail(request, error),
    };
    let retry = match &request.commit.disposition {
        Disposition::Remove => None,
        Disposition::Retry {
            next_attempt,
            attempts,
            recipients,
            history,
        } => match (encode_recipients(recipients), encode_history(history)) {
            (Ok(encoded), Ok(history)) => Some(Retry {
                next_ns: nanos(*next_attempt),
                attempts: i32::try_from(*attempts).unwrap_or(i32::MAX),
                recipients: encoded,
                history,
            }),
            (Err(detail), _) | (_, Err(detail)) => return fail(request, StorageError::Io(detail)),
        },
    };
    Some(Prepared {
        key: id_bytes(request.id),
        request,
        bounces,
        retry,
    })
}

/// Answers each caller and forgets the fences of the leases that ended. A refused outcome
/// keeps its stale fence: a later commit from this node without a new claim is refused too.
fn answer(inner: &Inner, prepared: Vec<Prepared>, applied: &[Applied]) {
    let mut fences = inner.fences();
    for (one, applied) in prepared.into_iter().zip(applied) {
        let id = one.request.id;
        let result = match applied {
            Applied::Done => Ok(()),
            Applied::Gone => Err(StorageError::NotFound(id)),
            Applied::Stale => {
                tracing::warn!(%id, "attempt outcome refused: this node's lease on the message was lost");
                let _ = one.request.reply.send(Err(StorageError::NotFound(id)));
                continue;
            }
        };
        fences.forget(id);
        let _ = one.request.reply.send(result);
    }
}

/// Applies every outcome of `batch` at once; what became of each, in order, once committed.
/// A batch of removals alone (the common case: every recipient delivered, nothing to bounce) is
/// one `DELETE`, its own transaction: one round trip. Anything else is one transaction.
async fn apply(inner: &Inner, batch: &[Prepared]) -> Result<Vec<Applied>, StorageError> {
    let mut session = inner.session().await?;
    let node = &inner.options.node;
    let removals_only = batch
        .iter()
        .all(|p| p.retry.is_none() && p.bounces.is_empty());
    if removals_only {
        let done = remove(&session, node, batch).await?;
        // Read after the commit: it only tells a message gone from one another node holds.
        return judge(&session, batch, &done).await;
    }
    let tx = session.transaction().await.map_err(PgError::from)?;
    let mut done = remove(&tx, node, batch).await?;
    done.extend(reschedule(&tx, node, batch).await?);
    let applied = judge(&tx, batch, &done).await?;
    let mut bounces = Columns::default();
    for (p, applied) in batch.iter().zip(&applied) {
        if *applied != Applied::Stale {
            bounces.append(p.bounces.clone());
        }
    }
    let now = SystemTime::now();
    let until = now.checked_add(inner.options.lease).unwrap_or(now);
    bounces.insert(&tx, node, until).await?;
    tx.commit().await.map_err(PgError::from)?;
    announce_retries(inner, batch, &applied);
    Ok(applied)
}

/// What became of each outcome of `batch`, given the ids `done` applied: the others are gone
/// (no such message any more) or stale (the message is still stored, under another lease).
async fn judge<C: GenericClient>(
    client: &C,
    batch: &[Prepared],
    done: &HashSet<Vec<u8>>,
) -> Result<Vec<Applied>, StorageError> {
    let missed: Vec<&Vec<u8>> = batch
        .iter()
        .map(|p| &p.key)
        .filter(|key| !done.contains(*key))
        .collect();
    let still_stored: HashSet<Vec<u8>> = if missed.is_empty() {
        HashSet::new()
    } else {
        let rows = client
            .query(&prepared(client, sql::STORED_OF).await?, &[&missed])
            .await
            .map_err(PgError::from)?;
        rows.iter().map(|row| row.get(0)).collect()
    };
    Ok(batch
        .iter()
        .map(
            |p| match (done.contains(&p.key), still_stored.contains(&p.key)) {
                (true, _) => Applied::Done,
                (false, false) => Applied::Gone,
                (false, true) => Applied::Stale,
            },
        )
        .collect())
}

/// Tells the other nodes when the earliest retry of the batch is due (sent debounced).
fn announce_retries(inner: &Inner, batch: &[Prepared], applied: &[Applied]) {
    let earliest = batch
        .iter()
        .zip(applied)
        .filter(|(_, applied)| **applied == Applied::Done)
        .filter_map(|(p, _)| p.retry.as_ref().map(|r| r.next_ns))
        .min();
    if let Some(nanos) = earliest {
        inner.notices.announce(nanos);
    }
}

/// Fences of the batch's leases, by request.
fn fences<'a>(batch: impl Iterator<Item = &'a Prepared>) -> Vec<Option<i64>> {
    batch.map(|p| p.request.fence).collect()
}

/// Deletes the messages whose attempt removes them (under their lease); returns their ids.
async fn remove<C: GenericClient>(
    client: &C,
    node: &str,
    batch: &[Prepared],
) -> Result<HashSet<Vec<u8>>, StorageError> {
    let removals: Vec<&Prepared> = batch.iter().filter(|p| p.retry.is_none()).collect();
    if removals.is_empty() {
        return Ok(HashSet::new());
    }
    let keys: Vec<&Vec<u8>> = removals.iter().map(|p| &p.key).collect();
    let fences = fences(removals.iter().copied());
    let rows = client
        .query(
            &prepared(client, sql::FINISH_MANY).await?,
            &[&keys, &fences, &node],
        )
        .await
        .map_err(PgError::from)?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Reschedules the messages whose attempt keeps them (under their lease); returns their ids.
async fn reschedule<C: GenericClient>(
    client: &C,
    node: &str,
    batch: &[Prepared],
) -> Result<HashSet<Vec<u8>>, StorageError> {
    let retries: Vec<(&Prepared, &Retry)> = batch
        .iter()
        .filter_map(|p| p.retry.as_ref().map(|r| (p, r)))
        .collect();
    if retries.is_empty() {
        return Ok(HashSet::new());
    }
    let keys: Vec<&Vec<u8>> = retries.iter().map(|(p, _)| &p.key).collect();
    let fences = fences(retries.iter().map(|(p, _)| *p));
    let next: Vec<i64> = retries.iter().map(|(_, r)| r.next_ns).collect();
    let attempts: Vec<i32> = retries.iter().map(|(_, r)| r.attempts).collect();
    let recipients: Vec<&Vec<u8>> = retries.iter().map(|(_, r)| &r.recipients).collect();
    let histories: Vec<&Option<Vec<u8>>> = retries.iter().map(|(_, r)| &r.history).collect();
    let rows = client
        .query(
            &prepared(client, sql::RESCHEDULE_MANY).await?,
            &[
                &keys,
                &fences,
                &next,
                &attempts,
                &recipients,
                &node,
                &histories,
            ],
        )
        .await
        .map_err(PgError::from)?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
