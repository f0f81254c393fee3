//! Taking leases: one message for an attempt ([`claim`]), or a batch of due ones
//! ([`poll_due`]), and reading a message this node already holds leased without a write.

use std::time::SystemTime;

use envoi_queue::storage::{ScheduleEntry, StoredMessage};
use envoi_queue::StorageError;
use envoi_types::QueueId;

use crate::codec::{id_bytes, nanos};
use crate::error::PgError;
use crate::rows;
use crate::sql::{self, prepared};
use crate::store::Inner;

/// `d` in whole milliseconds, as the statements take durations.
fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// When a lease taken now without a caller's deadline lapses.
pub(crate) fn own_lease_until(inner: &Inner) -> i64 {
    let now = SystemTime::now();
    nanos(now.checked_add(inner.options.lease).unwrap_or(now))
}

/// A message this node holds leased (its write's lease, or a batch claim's), read without a
/// write while the lease covers the attempt (see [`sql::READ_LEASED`]); `None`: it must be
/// claimed.
async fn read_leased(
    inner: &Inner,
    id: QueueId,
    until: i64,
) -> Result<Option<StoredMessage>, StorageError> {
    let Some(fence) = inner.fences().get(id).filter(|f| f.until_ns >= until) else {
        return Ok(None);
    };
    let session = inner.session().await?;
    let row = session
        .query_opt(
            &prepared(&session, sql::READ_LEASED).await?,
            &[&id_bytes(id), &inner.options.node, &until, &fence.counter],
        )
        .await
        .map_err(PgError::from)?;
    // A row that does not decode goes the claim's way, which sets it aside.
    Ok(row.and_then(|row| rows::stored(id, &row, 0).ok()))
}

/// Claims `id` for this node; sets a record it cannot use aside. A message this node already
/// holds leased (it wrote it, or claimed it in a batch) for longer than the attempt is only
/// read: a claim would write (and commit) a row nobody else can take anyway.
pub(crate) async fn claim(
    inner: &Inner,
    id: QueueId,
    until: i64,
) -> Result<Option<StoredMessage>, StorageError> {
    if let Some(message) = read_leased(inner, id, until).await? {
        return Ok(Some(message));
    }
    let session = inner.session().await?;
    let key = id_bytes(id);
    let now = nanos(SystemTime::now());
    let row = session
        .query_opt(
            &prepared(&session, sql::CLAIM).await?,
            &[
                &key,
                &inner.options.node,
                &until,
                &now,
                &millis(inner.options.node_timeout),
            ],
        )
        .await
        .map_err(PgError::from)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let fence: i64 = row.get(0);
    match rows::stored(id, &row, 1) {
        Ok(message) => {
            // A held message is returned unleased: its commit (an expiry) must not be held to
            // a lease it never had.
            if message.meta.held {
                inner.fences().forget(id);
            } else {
                inner.fences().hold(id, fence, until);
            }
            Ok(Some(message))
        }
        Err(detail) => {
            let body: Option<&[u8]> = row.get(5);
            session
                .execute(
                    &prepared(&session, sql::QUARANTINE).await?,
                    &[&key, &id.to_string(), &detail, &body],
                )
                .await
                .map_err(PgError::from)?;
            tracing::error!(%id, %detail, "message set aside in the quarantine table");
            Err(StorageError::Corrupt {
                id: Some(id),
                detail,
            })
        }
    }
}

/// Leases a batch of due messages to this node (see [`sql::CLAIM_DUE`]) and remembers each
/// lease's fencing counter, so that their attempts read them without a claim.
pub(crate) async fn poll_due(
    inner: &Inner,
    now: SystemTime,
    limit: usize,
) -> Result<Vec<ScheduleEntry>, StorageError> {
    let session = inner.session().await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let until = own_lease_until(inner);
    let rows = session
        .query(
            &prepared(&session, sql::CLAIM_DUE).await?,
            &[
                &nanos(now),
                &nanos(SystemTime::now()),
                &limit,
                &inner.options.node,
                &until,
                &millis(inner.options.node_timeout),
            ],
        )
        .await
        .map_err(PgError::from)?;
    let mut entries = rows
        .iter()
        .map(rows::schedule_entry)
        .collect::<Result<Vec<_>, _>>()?;
    let mut fences = inner.fences();
    for (entry, row) in entries.iter().zip(&rows) {
        fences.hold(entry.id, row.get(4), until);
    }
    drop(fences);
    entries.sort_by_key(|e| (e.next_attempt, e.id));
    Ok(entries)
}
