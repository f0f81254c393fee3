//! `impl Storage for Spool`: mutations go to the writer (awaited, see [`crate::spool`]), reads
//! use their own transactions on blocking threads.

use std::ops::Bound;

use async_trait::async_trait;
use envoi_queue::{
    AttemptCommit, BodySink, Lease, ListQuery, MessageInfo, NewMessage, QuarantinedRecord,
    RecipientDomains, ScheduleCursor, ScheduleEntry, SchedulePage, StateCounts, Storage,
    StorageError, StoreHealth, StoredMessage, Suspension,
};
use envoi_types::QueueId;
use redb::{ReadTransaction, ReadableTable};

use crate::error;
use crate::read::{self, load, summary};
use crate::schedule_read;
use crate::schema::{
    chunks_for, id_key, key_id, read_meta, read_state, suspension, BodyPlace, MetaRecord,
    CHUNK_LEN, LOCATION_LEN, SUSPENSIONS,
};
use crate::space;
use crate::spool::{blocking, Spool};
use crate::staging::SpoolSink;
use crate::writer::{Done, Op, Prepared};

impl Spool {
    /// Encodes new messages (with their bodies when inline) and writes the bodies that go to
    /// files (each fdatasync'd; a streamed message's staged rest is linked, its head goes in
    /// the row); on error the files already written are removed.
    fn prepare(&self, messages: Vec<NewMessage>) -> Result<Vec<Prepared>, StorageError> {
        let inline_max = self.inner.options.inline_max;
        let bodies = &self.inner.shared.bodies;
        let mut prepared: Vec<Prepared> = Vec::with_capacity(messages.len());
        for message in messages {
            let body = message.envelope.message.bytes();
            let staged = message.envelope.message.spooled_body();
            let place = match chunks_for(body.len()) {
                _ if body.len() > inline_max || staged.is_some() => BodyPlace::File,
                Some(0) if body.is_empty() => BodyPlace::Inline,
                Some(0) => BodyPlace::Packed,
                Some(chunks) => BodyPlace::Chunked { chunks },
                None => BodyPlace::File,
            };
            let record = MetaRecord::of(&message.envelope, message.meta, place);
            // A streamed message keeps its head in the row; a whole message in a file none; a
            // chunked one what is left after its chunks.
            let chunked = match place {
                BodyPlace::Chunked { chunks } => (chunks as usize) * CHUNK_LEN,
                _ => 0,
            };
            // A packed one its location, left blank here and filled in by the writer.
            let inline: &[u8] = match (place, staged) {
                (BodyPlace::Inline | BodyPlace::Chunked { .. }, _) | (BodyPlace::File, Some(_)) => {
                    &body[chunked..]
                }
                (BodyPlace::Packed, _) => &[0; LOCATION_LEN],
                (BodyPlace::File, None) => &[],
            };
            let written = record
                .encode(inline)
                .map_err(StorageError::Io)
                .and_then(|row| {
                    match (place, staged) {
                        (BodyPlace::File, Some(rest)) => bodies.adopt(message.id, rest)?,
                        (BodyPlace::File, None) => bodies.write(message.id, &body)?,
                        (BodyPlace::Inline | BodyPlace::Chunked { .. } | BodyPlace::Packed, _) => {}
                    }
                    Ok(row)
                });
            let row = match written {
                Ok(row) => row,
                Err(e) => {
                    for done in prepared.iter().filter(|p| p.record.body == BodyPlace::File) {
                        bodies.remove(done.id);
                    }
                    return Err(e);
                }
            };
            prepared.push(Prepared {
                id: message.id,
                record,
                row,
                packed: match place {
                    BodyPlace::Packed => body.clone(),
                    _ => bytes::Bytes::new(),
                },
                chunks: body.slice(..chunked),
            });
        }
        Ok(prepared)
    }

    /// [`Spool::prepare`] without blocking an async worker: on this thread when every body is
    /// inline (encoding only), else on a blocking thread, where body files are written.
    async fn prepare_new(&self, messages: Vec<NewMessage>) -> Result<Vec<Prepared>, StorageError> {
        // A stopped spool refuses before writing any body file.
        if let Some(why) = self.inner.shared.stopped() {
            return Err(why);
        }
        let inline_max = self.inner.options.inline_max;
        if messages.iter().all(|m| {
            m.envelope.message.len() <= inline_max && m.envelope.message.spooled_body().is_none()
        }) {
            return self.prepare(messages);
        }
        let spool = self.clone();
        blocking(move || spool.prepare(messages)).await
    }

    fn read<T, F>(&self, work: F) -> impl std::future::Future<Output = Result<T, StorageError>>
    where
        T: Send + 'static,
        F: FnOnce(&Spool, &ReadTransaction) -> Result<T, StorageError> + Send + 'static,
    {
        let spool = self.clone();
        blocking(move || {
            let db = spool.inner.shared.db()?;
            let txn = db
                .begin_read()
                .map_err(|e| error::redb_any("cannot read spool", e))?;
            work(&spool, &txn)
        })
    }
}

fn done(outcome: Done) -> Result<(), StorageError> {
    match outcome {
        Done::Ok | Done::Removed(_) => Ok(()),
    }
}

#[async_trait]
impl Storage for Spool {
    async fn write(&self, messages: Vec<NewMessage>) -> Result<(), StorageError> {
        let prepared = self.prepare_new(messages).await?;
        done(self.submit(Op::Write(prepared)).await?)
    }

    /// A staging file in `bodies/` ([`crate::staging`]): the content goes to disk as it
    /// arrives, and only a [`Storage::write`] of a message made with it keeps it.
    async fn open_body(&self, limit: usize) -> Result<Box<dyn BodySink>, StorageError> {
        if let Some(why) = self.inner.shared.stopped() {
            return Err(why);
        }
        let dir = self.inner.shared.bodies.dir().to_path_buf();
        Ok(Box::new(SpoolSink::create(dir, limit).await?))
    }

    async fn load_schedule(&self) -> Result<Vec<ScheduleEntry>, StorageError> {
        // Start-up already read the index in due order; nothing changed since, so use that.
        if let Some(entries) = self.take_startup_schedule() {
            return self
                .read(move |_, txn| schedule_read::with_domains(txn, entries))
                .await;
        }
        self.read(|_, txn| schedule_read::whole(txn)).await
    }

    /// One range read of the schedule table (its keys are in due order) in its own snapshot.
    async fn load_schedule_page(
        &self,
        after: Option<ScheduleCursor>,
        limit: usize,
    ) -> Result<SchedulePage, StorageError> {
        // Pages are read from the table: the copy kept from start-up is not needed.
        drop(self.take_startup_schedule());
        self.read(move |_, txn| schedule_read::page(txn, after, limit))
            .await
    }

    /// One read of every message's rows, in one snapshot.
    async fn schedule_domains(
        &self,
        ids: Vec<QueueId>,
    ) -> Result<Vec<(QueueId, RecipientDomains)>, StorageError> {
        self.read(move |_, txn| {
            let domains = read::pending_domains(txn, ids.iter().copied())?;
            Ok(ids
                .into_iter()
                .zip(domains)
                .filter_map(|(id, domains)| Some((id, domains?)))
                .collect())
        })
        .await
    }

    async fn claim(
        &self,
        id: QueueId,
        _lease: &Lease,
    ) -> Result<Option<StoredMessage>, StorageError> {
        // One node per spool: the lease has nothing to guard against.
        match self.get(id).await {
            Err(StorageError::Corrupt {
                id: Some(bad),
                detail,
            }) if bad == id => {
                // The queue drops it from its schedule; set it aside now, not at the next
                // start, so that the log, the admin API and the counts say so at once.
                let spool = self.clone();
                let reason = detail.clone();
                let set_aside = blocking(move || {
                    crate::quarantine::quarantine_message(&*spool.inner.shared.db()?, id, &reason)
                })
                .await;
                if let Err(e) = set_aside {
                    tracing::error!(%id, error = %e, "cannot quarantine an unusable message");
                }
                Err(StorageError::Corrupt {
                    id: Some(id),
                    detail,
                })
            }
            other => other,
        }
    }

    async fn commit_attempt(&self, id: QueueId, commit: AttemptCommit) -> Result<(), StorageError> {
        let bounces = self.prepare_new(commit.bounces).await?;
        let op = Op::Attempt {
            id,
            bounces,
            disposition: commit.disposition,
        };
        done(self.submit(op).await?)
    }

    async fn remove(&self, id: QueueId) -> Result<bool, StorageError> {
        match self.submit(Op::Remove(id)).await? {
            Done::Removed(was) => Ok(was),
            Done::Ok => Ok(true),
        }
    }

    async fn set_held(&self, id: QueueId, held: bool) -> Result<(), StorageError> {
        done(self.submit(Op::SetHeld(id, held)).await?)
    }

    async fn get(&self, id: QueueId) -> Result<Option<StoredMessage>, StorageError> {
        self.read(move |spool, txn| load(spool, txn, id)).await
    }

    async fn info(&self, id: QueueId) -> Result<Option<MessageInfo>, StorageError> {
        self.read(move |_, txn| summary(txn, id)).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<MessageInfo>, StorageError> {
        let query = query.clone();
        self.read(move |_, txn| {
            let (meta, states) = (read_meta(txn)?, read_state(txn)?);
            let after = query.after.map(id_key);
            let start = match &after {
                Some(key) => Bound::Excluded(key.as_slice()),
                None => Bound::Unbounded,
            };
            let mut out = Vec::new();
            let rows = meta
                .range::<&[u8]>((start, Bound::Unbounded))
                .map_err(|e| error::db("cannot read meta table", e))?;
            for row in rows {
                let (key, value) = row.map_err(|e| error::db("cannot read meta table", e))?;
                let state = states
                    .get(key.value())
                    .map_err(|e| error::db("cannot read state table", e))?;
                let Some(id) = key_id(key.value()) else {
                    continue;
                };
                // The listing's fields only: never the cold fields or the body.
                let state = state.as_ref().map(|s| s.value());
                let Ok(info) = MetaRecord::summary(id, value.value(), state) else {
                    continue;
                };
                if query.matches(&info) {
                    out.push(info);
                    if out.len() >= query.page_size() {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn count_by_state(&self) -> Result<StateCounts, StorageError> {
        self.read(|_, txn| schedule_read::counts(txn)).await
    }

    async fn suspensions(&self) -> Result<Vec<Suspension>, StorageError> {
        self.read(|_, txn| {
            let table = match txn.open_table(SUSPENSIONS) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(error::redb_any("cannot open suspensions table", e)),
            };
            let mut out = Vec::new();
            for row in table
                .iter()
                .map_err(|e| error::db("cannot read suspensions", e))?
            {
                let (key, value) = row.map_err(|e| error::db("cannot read suspensions", e))?;
                let decoded = suspension::decode(key.value(), value.value());
                out.push(decoded.map_err(|detail| StorageError::Corrupt { id: None, detail })?);
            }
            Ok(out)
        })
        .await
    }

    async fn suspend(&self, suspension: Suspension) -> Result<(), StorageError> {
        done(self.submit(Op::Suspend(suspension)).await?)
    }

    async fn resume(&self, destination: &str) -> Result<bool, StorageError> {
        match self.submit(Op::Resume(destination.to_owned())).await? {
            Done::Removed(was) => Ok(was),
            Done::Ok => Ok(true),
        }
    }

    async fn quarantined(&self) -> Result<Vec<QuarantinedRecord>, StorageError> {
        let spool = self.clone();
        blocking(move || crate::quarantine::list_quarantine(&*spool.inner.shared.db()?)).await
    }

    /// `Failing` once the spool has stopped for good; `Full` while its filesystem has less
    /// than [`crate::SpoolOptions::min_free`] free (one `statvfs`); else `Ok`.
    fn health(&self) -> StoreHealth {
        if let Some(why) = self.inner.shared.stopped() {
            return StoreHealth::Failing(why.to_string());
        }
        space::check(
            &self.inner.dir,
            self.inner.options.min_free,
            space::free_octets,
        )
    }
}
