//! Group commit: one task takes every waiting [`envoi_queue::Storage::write`], inserts them
//! all in one transaction (one statement per table) and answers each caller after `COMMIT`
//! returned. Concurrent SMTP transactions thus share one commit, as they do in the spool.
//!
//! A batch that fails is written again one caller at a time, so that one caller's duplicate id
//! costs the others nothing and each gets its own answer.

use std::sync::{Arc, Weak};
use std::time::SystemTime;

use envoi_queue::StorageError;
use tokio::sync::{mpsc, oneshot};

use crate::codec::nanos;
use crate::insert::Columns;
use crate::store::Inner;

/// Rows written per transaction at most (about 4 MiB of 4 KiB messages).
const BATCH_ROWS: usize = 1000;

/// One caller's write, waiting for its commit.
pub(crate) struct Request {
    columns: Columns,
    rows: usize,
    reply: oneshot::Sender<Result<(), StorageError>>,
}

/// The handle callers send their writes to.
pub(crate) struct Writer {
    requests: mpsc::UnboundedSender<Request>,
}

impl Writer {
    /// Starts the writer task on `runtime`; it ends when the store goes.
    pub(crate) fn spawn(runtime: &tokio::runtime::Handle, inner: Weak<Inner>) -> Self {
        let (requests, receiver) = mpsc::unbounded_channel();
        runtime.spawn(run(inner, receiver));
        Self { requests }
    }

    /// Writes `columns` (`rows` messages) in the next group commit.
    pub(crate) async fn write(&self, columns: Columns, rows: usize) -> Result<(), StorageError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            columns,
            rows,
            reply,
        };
        let closed = || StorageError::Unavailable("the store's writer has stopped".into());
        self.requests.send(request).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

async fn run(inner: Weak<Inner>, mut receiver: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let mut rows = batch[0].rows;
        while rows < BATCH_ROWS {
            match receiver.try_recv() {
                Ok(request) => {
                    rows += request.rows;
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        commit_batch(&inner, batch).await;
    }
}

/// Commits `batch` together. A duplicate id fails only the requests that hold it: the rest
/// are committed together again. Any other failure: each request is tried alone.
async fn commit_batch(inner: &Arc<Inner>, mut batch: Vec<Request>) {
    while !batch.is_empty() {
        let mut all = Columns::default();
        for request in &batch {
            all.append(request.columns.clone());
        }
        match commit(inner, &all).await {
            Ok(until_ns) => {
                all.lease_fences(inner, until_ns);
                for request in batch {
                    let _ = request.reply.send(Ok(()));
                }
                return;
            }
            Err(StorageError::DuplicateId(id)) if batch.len() > 1 => {
                let (refused, rest) = batch
                    .into_iter()
                    .partition::<Vec<_>, _>(|r| r.columns.contains(id));
                if refused.is_empty() {
                    return each_alone(inner, rest).await;
                }
                for request in refused {
                    let _ = request.reply.send(Err(StorageError::DuplicateId(id)));
                }
                batch = rest;
            }
            Err(error) if batch.len() > 1 => {
                tracing::debug!(%error, "group commit failed; writing its requests one by one");
                return each_alone(inner, batch).await;
            }
            Err(error) => {
                for request in batch {
                    let _ = request.reply.send(Err(error.clone()));
                }
                return;
            }
        }
    }
}

async fn each_alone(inner: &Inner, batch: Vec<Request>) {
    for request in batch {
        let result = commit(inner, &request.columns).await;
        if let Ok(until_ns) = result {
            request.columns.lease_fences(inner, until_ns);
        }
        let _ = request.reply.send(result.map(|_| ()));
    }
}

/// One statement inserting `columns`, its own transaction; `Ok` only once it committed (the
/// server answers a statement outside a transaction after its commit, which
/// `synchronous_commit` makes durable), with the end of the leases it took (ns since the
/// epoch). One round trip where `BEGIN`, two inserts and `COMMIT` took four.
async fn commit(inner: &Inner, columns: &Columns) -> Result<i64, StorageError> {
    let session = inner.session().await?;
    let now = SystemTime::now();
    let until = now.checked_add(inner.options.lease).unwrap_or(now);
    columns.insert(&session, &inner.options.node, until).await?;
    Ok(nanos(until))
}
