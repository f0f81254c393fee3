//! Reading a stored message: its rows (the metadata row, and the state row when it has one)
//! and its body, from the row, the `chunks` table, its pack or its file.

use envoi_queue::{MessageInfo, RecipientDomains, StorageError, StoredMessage};
use envoi_types::{Message, QueueId, SpooledBody};
use redb::ReadTransaction;

use crate::error;
use crate::packs;
use crate::schema::{
    chunk_key, id_key, read_meta, read_state, BodyPlace, Location, MetaRecord, CHUNKS, CHUNK_LEN,
};
use crate::spool::Spool;

/// The two tables a message's rows live in, opened once for any number of messages.
struct RowTables {
    meta: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    states: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl RowTables {
    fn open(txn: &ReadTransaction) -> Result<Self, StorageError> {
        Ok(Self {
            meta: read_meta(txn)?,
            states: read_state(txn)?,
        })
    }

    /// Hands the raw rows of `id` to `read`: its metadata row and its state row when it has
    /// one; `None` when no such message is stored.
    fn with<T>(
        &self,
        id: QueueId,
        read: impl FnOnce(&[u8], Option<&[u8]>) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        let key = id_key(id);
        let Some(row) = self
            .meta
            .get(key.as_slice())
            .map_err(|e| error::db("cannot read meta table", e))?
        else {
            return Ok(None);
        };
        let state = self
            .states
            .get(key.as_slice())
            .map_err(|e| error::db("cannot read state table", e))?;
        read(row.value(), state.as_ref().map(|s| s.value())).map(Some)
    }
}

/// Hands the raw rows of `id` to `read` ([`RowTables::with`]).
fn with_raw_rows<T>(
    txn: &ReadTransaction,
    id: QueueId,
    read: impl FnOnce(&[u8], Option<&[u8]>) -> Result<T, StorageError>,
) -> Result<Option<T>, StorageError> {
    RowTables::open(txn)?.with(id, read)
}

/// Decodes the rows of `id` with `decode` (the record with its current state, and its inline
/// body when it has one); `None` when no such message is stored.
fn with_row<T>(
    txn: &ReadTransaction,
    id: QueueId,
    decode: impl FnOnce(MetaRecord, &[u8]) -> Result<T, StorageError>,
) -> Result<Option<T>, StorageError> {
    with_raw_rows(txn, id, |row, state| {
        // Decoding checks that an inline body has the length the record says.
        let (record, inline) =
            MetaRecord::decode_rows(row, state).map_err(|detail| error::corrupt(id, detail))?;
        decode(record, inline)
    })
}

/// The admin summary of `id` ([`MetaRecord::summary`]: the listing's fields only); `None`
/// when no such message is stored.
pub(crate) fn summary(
    txn: &ReadTransaction,
    id: QueueId,
) -> Result<Option<MessageInfo>, StorageError> {
    with_raw_rows(txn, id, |row, state| {
        MetaRecord::summary(id, row, state).map_err(|detail| error::corrupt(id, detail))
    })
}

/// Each message's pending recipients per domain, from its rows (the listing's fields only, as
/// [`summary`]), in the order of `ids`: `None` for a message whose rows are gone or do not
/// decode (the queue leaves it out of its domain counts until its attempt quarantines it).
pub(crate) fn pending_domains(
    txn: &ReadTransaction,
    ids: impl IntoIterator<Item = QueueId>,
) -> Result<Vec<Option<RecipientDomains>>, StorageError> {
    let tables = RowTables::open(txn)?;
    let mut found = Vec::new();
    for id in ids {
        let info = tables.with(
            id,
            |row, state| Ok(MetaRecord::summary(id, row, state).ok()),
        )?;
        found.push(
            info.flatten()
                .map(|info| RecipientDomains::pending(&info.recipients)),
        );
    }
    Ok(found)
}

/// The full message of `id`, its body read from its metadata row or its file; a streamed
/// message's rest stays in its file ([`spooled_rest`]).
pub(crate) fn load(
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
            BodyPlace::Chunked { chunks } => read_chunks(txn, id, chunks, inline)?,
            BodyPlace::Packed => {
                let at = Location::decode(inline)
                    .ok_or_else(|| error::corrupt(id, "packed body without a location".into()))?;
                packs::read(txn, id, at, record.body_len)?
            }
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

/// A chunked body: its `chunks` chunks in order, then the `tail` kept in its metadata row. A
/// chunk missing or of the wrong length makes the message unusable (`Corrupt`).
fn read_chunks(
    txn: &ReadTransaction,
    id: QueueId,
    chunks: u32,
    tail: &[u8],
) -> Result<Vec<u8>, StorageError> {
    let table = txn
        .open_table(CHUNKS)
        .map_err(|e| error::redb_any("cannot open chunks table", e))?;
    let mut body = Vec::with_capacity((chunks as usize) * CHUNK_LEN + tail.len());
    for index in 0..chunks {
        let chunk = table
            .get(chunk_key(id, index).as_slice())
            .map_err(|e| error::db("cannot read chunks table", e))?
            .ok_or_else(|| error::corrupt(id, format!("body chunk {index} missing")))?;
        if chunk.value().len() != CHUNK_LEN {
            return Err(error::corrupt(id, format!("body chunk {index} cut short")));
        }
        body.extend_from_slice(chunk.value());
    }
    body.extend_from_slice(tail);
    Ok(body)
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
