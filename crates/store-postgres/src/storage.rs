//! [`Storage`] for [`PgStore`]: each call is one short transaction or statement.

use std::time::SystemTime;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use envoi_queue::storage::{
    AttemptCommit, Lease, ListQuery, MessageInfo, MessageState, NewMessage, QuarantinedRecord,
    ScheduleEntry, StateCounts, StoredMessage,
};
use envoi_queue::{BodySink, SharedBackoff, Storage, StorageError, StoreHealth, Suspension};
use envoi_types::QueueId;

use crate::codec::{self, id_bytes, nanos};
use crate::error::PgError;
use crate::insert::Columns;
use crate::rows;
use crate::sql::{self, prepared};
use crate::store::{Inner, PgStore};

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// When a lease taken now without a caller's deadline lapses.
fn own_lease_until(inner: &Inner) -> i64 {
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
async fn claim(
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

/// The page statement for `query`'s state: the state's own index when it has one, so a
/// filtered listing reads only matching rows.
fn list_page(query: &ListQuery) -> &'static str {
    match query.state {
        None => sql::LIST_PAGE,
        Some(MessageState::Held) => sql::LIST_PAGE_HELD,
        Some(MessageState::Deferred) => sql::LIST_PAGE_DEFERRED,
        Some(MessageState::Active) => sql::LIST_PAGE_ACTIVE,
    }
}

async fn list(inner: &Inner, query: &ListQuery) -> Result<Vec<MessageInfo>, StorageError> {
    const CHUNK: i64 = 500;
    let session = inner.session().await?;
    let statement = prepared(&session, list_page(query)).await?;
    let mut after = query.after.map(id_bytes).unwrap_or_default();
    let mut found = Vec::new();
    loop {
        let page = session
            .query(&statement, &[&after, &CHUNK])
            .await
            .map_err(PgError::from)?;
        let Some(last) = page.last() else {
            return Ok(found);
        };
        after = last.get::<_, Vec<u8>>(0);
        for row in &page {
            let info = rows::info(row)?;
            if query.matches(&info) {
                found.push(info);
                if found.len() >= query.page_size() {
                    return Ok(found);
                }
            }
        }
    }
}

async fn counts(inner: &Inner) -> Result<StateCounts, StorageError> {
    let session = inner.session().await?;
    let row = session
        .query_one(&prepared(&session, sql::COUNTS).await?, &[])
        .await
        .map_err(PgError::from)?;
    let count = |i: usize| u64::try_from(row.get::<_, Option<i64>>(i).unwrap_or(0)).unwrap_or(0);
    Ok(StateCounts {
        active: count(0),
        deferred: count(1),
        held: count(2),
    })
}

async fn poll_due(
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

#[async_trait]
impl Storage for PgStore {
    /// Buffered in memory behind a bound ([`crate::stream`]).
    async fn open_body(&self, limit: usize) -> Result<Box<dyn BodySink>, StorageError> {
        Ok(crate::stream::open_body(limit))
    }

    async fn write(&self, messages: Vec<NewMessage>) -> Result<(), StorageError> {
        let columns = Columns::of(&messages)?;
        if columns.is_empty() {
            return Ok(());
        }
        let writer = self.writer.clone();
        self.run(move |_| async move { Ok(writer.write(columns, messages.len()).await) })
            .await?
    }

    async fn load_schedule(&self) -> Result<Vec<ScheduleEntry>, StorageError> {
        self.run(|inner| async move {
            let session = inner.session().await?;
            let rows = session
                .query(&prepared(&session, sql::SCHEDULE).await?, &[])
                .await?;
            Ok(rows.iter().map(rows::schedule_entry).collect())
        })
        .await?
    }

    async fn claim(
        &self,
        id: QueueId,
        lease: &Lease,
    ) -> Result<Option<StoredMessage>, StorageError> {
        let until = nanos(lease.until);
        self.run(move |inner| async move { Ok(claim(&inner, id, until).await) })
            .await?
    }

    async fn commit_attempt(
        &self,
        id: QueueId,
        outcome: AttemptCommit,
    ) -> Result<(), StorageError> {
        let completer = self.completer.clone();
        self.run(move |inner| async move {
            let fence = inner.fences().get(id).map(|f| f.counter);
            Ok(completer.complete(id, fence, outcome).await)
        })
        .await?
    }

    async fn remove(&self, id: QueueId) -> Result<bool, StorageError> {
        self.run(move |inner| async move {
            let session = inner.session().await?;
            let removed = session
                .execute(&prepared(&session, sql::DELETE).await?, &[&id_bytes(id)])
                .await?;
            inner.fences().forget(id);
            Ok(removed > 0)
        })
        .await
        .map_err(StorageError::from)
    }

    async fn set_held(&self, id: QueueId, held: bool) -> Result<(), StorageError> {
        let changed = self
            .run(move |inner| async move {
                let session = inner.session().await?;
                Ok(session
                    .execute(
                        &prepared(&session, sql::SET_HELD).await?,
                        &[&id_bytes(id), &held],
                    )
                    .await?)
            })
            .await?;
        if changed == 0 {
            return Err(StorageError::NotFound(id));
        }
        if !held {
            // Released: due now or at its time; another node may take it.
            self.inner.notices.announce(nanos(SystemTime::now()));
        }
        Ok(())
    }

    async fn get(&self, id: QueueId) -> Result<Option<StoredMessage>, StorageError> {
        self.run(move |inner| async move {
            let session = inner.session().await?;
            let row = session
                .query_opt(&prepared(&session, sql::GET).await?, &[&id_bytes(id)])
                .await?;
            Ok(row.map(|row| {
                rows::stored(id, &row, 0).map_err(|detail| StorageError::Corrupt {
                    id: Some(id),
                    detail,
                })
            }))
        })
        .await?
        .transpose()
    }

    async fn info(&self, id: QueueId) -> Result<Option<MessageInfo>, StorageError> {
        self.run(move |inner| async move {
            let session = inner.session().await?;
            let row = session
                .query_opt(&prepared(&session, sql::INFO).await?, &[&id_bytes(id)])
                .await?;
            Ok(row.as_ref().map(rows::info))
        })
        .await?
        .transpose()
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<MessageInfo>, StorageError> {
        let query = query.clone();
        self.run(move |inner| async move { Ok(list(&inner, &query).await) })
            .await?
    }

    async fn count_by_state(&self) -> Result<StateCounts, StorageError> {
        self.run(|inner| async move { Ok(counts(&inner).await) })
            .await?
    }

    async fn quarantined(&self) -> Result<Vec<QuarantinedRecord>, StorageError> {
        self.run(|inner| async move {
            let session = inner.session().await?;
            let rows = session
                .query(&prepared(&session, sql::QUARANTINED).await?, &[])
                .await?;
            Ok(rows
                .iter()
                .map(|row| QuarantinedRecord {
                    key: row.get(0),
                    reason: row.get(1),
                })
                .collect())
        })
        .await
        .map_err(StorageError::from)
    }

    async fn suspensions(&self) -> Result<Vec<Suspension>, StorageError> {
        self.run(|inner| async move {
            let session = inner.session().await?;
            let rows = session
                .query(&prepared(&session, sql::SUSPENSIONS).await?, &[])
                .await?;
            Ok(rows
                .iter()
                .map(|row| Suspension {
                    destination: row.get(0),
                    until: row.get::<_, Option<i64>>(1).map(codec::time),
                    reason: row.get(2),
                })
                .collect())
        })
        .await
        .map_err(StorageError::from)
    }

    async fn suspend(&self, suspension: Suspension) -> Result<(), StorageError> {
        self.run(move |inner| async move {
            let session = inner.session().await?;
            let until = suspension.until.map(codec::nanos);
            session
                .execute(
                    &prepared(&session, sql::SUSPEND).await?,
                    &[&suspension.destination, &until, &suspension.reason],
                )
                .await?;
            Ok(())
        })
        .await
        .map_err(StorageError::from)
    }

    async fn resume(&self, destination: &str) -> Result<bool, StorageError> {
        let destination = destination.to_owned();
        self.run(move |inner| async move {
            let session = inner.session().await?;
            Ok(session
                .execute(&prepared(&session, sql::RESUME).await?, &[&destination])
                .await?
                > 0)
        })
        .await
        .map_err(StorageError::from)
    }

    fn health(&self) -> StoreHealth {
        match self.inner.unreachable() {
            Some(reason) => StoreHealth::Failing(format!("database unreachable: {reason}")),
            None => StoreHealth::Ok,
        }
    }

    fn is_shared(&self) -> bool {
        true
    }

    /// The writer leases each new message to this node for [`crate::PgOptions::lease`], with
    /// fencing counter 0, in the write's own commit.
    fn write_lease(&self) -> Option<std::time::Duration> {
        Some(self.inner.options.lease)
    }

    async fn due_notice(&self) -> SystemTime {
        self.inner.notices.next().await
    }

    async fn poll_due(
        &self,
        now: SystemTime,
        limit: usize,
    ) -> Result<Vec<ScheduleEntry>, StorageError> {
        self.run(move |inner| async move { Ok(poll_due(&inner, now, limit).await) })
            .await?
    }

    async fn share_backoff(&self, backoff: SharedBackoff) -> Result<(), StorageError> {
        self.run(move |inner| async move {
            let session = inner.session().await?;
            let failures = i32::try_from(backoff.failures).unwrap_or(i32::MAX);
            session
                .execute(
                    &prepared(&session, sql::SHARE_BACKOFF).await?,
                    &[
                        &backoff.destination,
                        &nanos(backoff.until),
                        &failures,
                        &backoff.error,
                        &nanos(SystemTime::now()),
                    ],
                )
                .await?;
            Ok(())
        })
        .await
        .map_err(StorageError::from)
    }

    async fn clear_backoff(&self, destination: Option<&str>) -> Result<(), StorageError> {
        let destination = destination.map(str::to_owned);
        self.run(move |inner| async move {
            let session = inner.session().await?;
            match &destination {
                Some(name) => {
                    session
                        .execute(&prepared(&session, sql::CLEAR_BACKOFF).await?, &[name])
                        .await?
                }
                None => {
                    session
                        .execute(&prepared(&session, sql::CLEAR_BACKOFFS).await?, &[])
                        .await?
                }
            };
            Ok(())
        })
        .await
        .map_err(StorageError::from)
    }

    async fn shared_backoffs(&self, now: SystemTime) -> Result<Vec<SharedBackoff>, StorageError> {
        self.run(move |inner| async move {
            let session = inner.session().await?;
            let rows = session
                .query(&prepared(&session, sql::BACKOFFS).await?, &[&nanos(now)])
                .await?;
            Ok(rows
                .iter()
                .map(|row| SharedBackoff {
                    destination: row.get(0),
                    until: codec::time(row.get(1)),
                    failures: u32::try_from(row.get::<_, i32>(2)).unwrap_or(0),
                    error: row.get(3),
                })
                .collect())
        })
        .await
        .map_err(StorageError::from)
    }
}
