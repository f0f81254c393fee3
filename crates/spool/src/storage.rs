//! `impl Storage for Spool`: mutations go to the writer (awaited, see [`crate::spool`]), reads
//! use their own transactions on blocking threads.

use std::ops::Bound;

use async_trait::async_trait;
use envoi_queue::{
    AttemptCommit, BodySink, Lease, ListQuery, MessageInfo, NewMessage, QuarantinedRecord,
    ScheduleCursor, ScheduleEntry, SchedulePage, StateCounts, Storage, StorageError, StoreHealth,
    StoredMessage, Suspension,
};
use envoi_types::{Message, QueueId, SpooledBody};
use redb::{ReadTransaction, ReadableTable};

use crate::error;
use crate::open;
use crate::schedule_read;
use crate::schema::{id_key, key_id, read_meta, suspension, BodyPlace, MetaRecord, SUSPENSIONS};
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
            let place = if body.len() <= inline_max && staged.is_none() {
                BodyPlace::Inline
            } else {
                BodyPlace::File
            };
            let record = MetaRecord::of(&message.envelope, message.meta, place);
            // A streamed message keeps its head in the row; a whole message in a file none.
            let inline: &[u8] = match (place, staged) {
                (BodyPlace::Inline, _) | (BodyPlace::File, Some(_)) => &body,
                (BodyPlace::File, None) => &[],
            };
            let written = record
                .encode(inline)
                .map_err(StorageError::Io)
                .and_then(|row| {
                    match (place, staged) {
                        (BodyPlace::File, Some(rest)) => bodies.adopt(message.id, rest)?,
                        (BodyPlace::File, None) => bodies.write(message.id, &body)?,
                        (BodyPlace::Inline, _) => {}
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

/// Decodes the metadata row of `id` with `decode` (the row's record, and its inline body when
/// it has one); `None` when no such row is stored.
fn with_row<T>(
    txn: &ReadTransaction,
    id: QueueId,
    decode: impl FnOnce(MetaRecord, &[u8]) -> Result<T, StorageError>,
) -> Result<Option<T>, StorageError> {
    let meta = read_meta(txn)?;
    let Some(row) = meta
        .get(id_key(id).as_slice())
        .map_err(|e| error::db("cannot read meta table", e))?
    else {
        return Ok(None);
    };
    // Decoding checks that an inline body has the length the record says.
    let (record, inline) =
        MetaRecord::decode(row.value()).map_err(|detail| error::corrupt(id, detail))?;
    decode(record, inline).map(Some)
}

/// The stored record of `id`, decoded.
fn record(txn: &ReadTransaction, id: QueueId) -> Result<Option<MetaRecord>, StorageError> {
    with_row(txn, id, |record, _| Ok(record))
}

/// The full message of `id`, its body read from its metadata row or its file; a streamed
/// message's rest stays in its file ([`spooled_rest`]).
fn load(
    spool: &Spool,
    txn: &ReadTransaction,
    id: QueueId,
) -> Result<Option<StoredMessage>, StorageError> {
    with_row(txn, id, |record, inline| {
        if record.body == BodyPlace::File && !inline.is_empty() {
            let rest = spooled_rest(spool, id, record.body_len - inline.len() as u64)?;
            let message = Message::spooled(inline.to_vec(), rest);
            return Ok(record.into_stored(id, message));
        }
        let body = match record.body {
            BodyPlace::Inline => inline.to_vec(),
            BodyPlace::File => spool
                .inner
                .shared
                .bodies
                .read(id)?
                .ok_or_else(|| error::corrupt(id, "body file missing".into()))?,
        };
        if body.len() as u64 != record.body_len {
            return Err(error::corrupt(
                id,
                format!(
                    "body is {} octets, {} expected",
                    body.len(),
                    record.body_len
                ),
            ));
        }
        Ok(record.into_stored(id, Message::new(body)))
    })
}

/// The rest of a streamed message, left in `bodies/<id>`: its length checked against the
/// record's, and scanned once for 8-bit octets (in pieces, never whole in memory) so the relay
/// knows what to declare.
fn spooled_rest(spool: &Spool, id: QueueId, expected: u64) -> Result<SpooledBody, StorageError> {
    let path = spool.inner.shared.bodies.path_of(id);
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(error::corrupt(id, "body file missing".into()))
        }
        Err(e) => return Err(error::io("cannot open body file", &path, &e)),
    };
    let mut buffer = vec![0_u8; 64 * 1024];
    let (mut len, mut eight_bit) = (0_u64, false);
    loop {
        let read = std::io::Read::read(&mut file, &mut buffer)
            .map_err(|e| error::io("cannot read body file", &path, &e))?;
        if read == 0 {
            break;
        }
        eight_bit |= !buffer[..read].is_ascii();
        len = len.saturating_add(read as u64);
    }
    if len != expected {
        return Err(error::corrupt(
            id,
            format!("body file is {len} octets, {expected} expected"),
        ));
    }
    Ok(SpooledBody::new(path, len, eight_bit))
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
            return Ok(entries);
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
                    open::quarantine_message(&*spool.inner.shared.db()?, id, &reason)
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
        self.read(move |_, txn| Ok(record(txn, id)?.map(|r| r.info(id))))
            .await
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<MessageInfo>, StorageError> {
        let query = query.clone();
        self.read(move |_, txn| {
            let meta = read_meta(txn)?;
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
                let (Some(id), Ok(record)) = (
                    key_id(key.value()),
                    MetaRecord::decode(value.value()).map(|(record, _)| record),
                ) else {
                    continue;
                };
                let info = record.info(id);
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
        blocking(move || open::list_quarantine(&*spool.inner.shared.db()?)).await
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
