//! [`Storage`] for [`PgStore`]: each call is one short transaction or statement.

use std::time::SystemTime;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use envoi_queue::storage::{
    AttemptCommit, Lease, ListQuery, MessageInfo, NewMessage, QuarantinedRecord, ScheduleEntry,
    StateCounts, StoredMessage,
};
use envoi_queue::{BodySink, SharedBackoff, Storage, StorageError, StoreHealth, Suspension};
use envoi_types::QueueId;

use crate::codec::{self, id_bytes, nanos};
use crate::insert::Columns;
use crate::rows;
use crate::sql::{self, prepared};
use crate::store::PgStore;
use crate::{claims, listing};

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
        self.run(move |inner| async move { Ok(claims::claim(&inner, id, until).await) })
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
        self.run(move |inner| async move { Ok(listing::list(&inner, &query).await) })
            .await?
    }

    async fn count_by_state(&self) -> Result<StateCounts, StorageError> {
        self.run(|inner| async move { Ok(listing::counts(&inner).await) })
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
        self.run(move |inner| async move { Ok(claims::poll_due(&inner, now, limit).await) })
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
