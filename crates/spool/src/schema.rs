//! The spool's on-disk schema, all of it: file names, redb tables, the layout version, and the
//! byte layout of every row. Change the format here and nowhere else (and bump [`LAYOUT`]).
//!
//! # Files
//! - [`DB_FILE`] (`spool.redb`): the redb database below. Created as [`NEW_DB_FILE`] and
//!   renamed into place, so a half-created database is never opened.
//! - `bodies/<id>`: bodies above `inline_max`, raw bytes (written as `bodies/<id>.tmp`, then
//!   hard-linked; see `crate::bodies`), or the rest after the head of a streamed message
//!   (staged as `bodies/incoming-<ulid>.tmp` while it arrives, then hard-linked; see
//!   `crate::staging`).
//!
//! # Tables
//! - [`META`]: 16-byte id → metadata row (below).
//! - [`SCHEDULE`]: 28-byte schedule key → 18-byte schedule value (below): the due index
//!   start-up reads without touching a metadata row.
//! - [`FORMAT`]: [`LAYOUT_KEY`] → the layout version, [`LAYOUT`].
//! - [`QUARANTINE`]: `meta/<id>` (or `meta/<hex key>`) → postcard `(reason, raw row, None)`.
//! - [`SUSPENSIONS`]: destination name → end and reason (`suspension`): the destinations an
//!   administrator suspended. Added within layout 2: an older build ignores the table.
//!
//! # Rows
//! A metadata row is a format version byte, the length of the postcard-encoded record (4 bytes,
//! big-endian), the record, then the body when it is inline — one row, so storing or removing a
//! small message is one B-tree insert or remove besides its schedule row. The version byte lets
//! another layout be told apart from garbage, and an older record be read: rows are written in
//! format 4; format 3 rows (before DSN parameters and the attempt history were recorded) and
//! format 2 rows (before the client's declarations were recorded) are read with their
//! defaults (`v3`, `v2`). Schedule keys are big-endian so that redb's byte
//! order is due order; schedule values are fixed-size so start-up decodes them without
//! allocating.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use envoi_queue::{MessageInfo, MessageMeta, ScheduleEntry, StorageError, StoredMessage};
use envoi_types::{Address, ClientInfo, DsnRequest, Envelope, Message, QueueId, Sender};
use redb::{Database, ReadableTable, TableDefinition, TableHandle};
use serde::{Deserialize, Serialize};

use crate::error;

pub(crate) mod suspension;
mod v2;
mod v3;

/// The database file inside the spool directory.
pub const DB_FILE: &str = "spool.redb";
/// Name of a database being created; renamed to [`DB_FILE`] once complete.
pub(crate) const NEW_DB_FILE: &str = "spool.redb.new";

/// Metadata rows by id (16 bytes, big-endian ULID): the record, then the body when it is
/// inline ([`MetaRecord::encode`]).
pub(crate) const META: TableDefinition<&[u8], &[u8]> = TableDefinition::new("meta");

/// The [`META`] table in a read transaction, with the spool's error for a failure.
pub(crate) fn read_meta(
    txn: &redb::ReadTransaction,
) -> Result<redb::ReadOnlyTable<&'static [u8], &'static [u8]>, StorageError> {
    txn.open_table(META)
        .map_err(|e| error::redb_any("cannot open meta table", e))
}
/// The schedule index: (next attempt, id) → (arrival, held, attempts, body place)
/// ([`schedule_key`], [`MetaRecord::schedule_value`]).
pub(crate) const SCHEDULE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("schedule");
/// The database's layout version, under the key [`LAYOUT_KEY`].
pub(crate) const FORMAT: TableDefinition<&str, u64> = TableDefinition::new("format");
/// The key of the layout version in [`FORMAT`].
pub(crate) const LAYOUT_KEY: &str = "layout";
/// The layout this build reads and writes: 3, where a row whose body is a file may carry the
/// message's head (a streamed message: the head in the row, the rest in the file). Layout 2
/// (inline bodies inside the metadata row, a file body always whole) is a subset of it: such a
/// database is opened and its layout record raised to 3. Layout 1 (no `format` table; inline
/// bodies in a `bodies` table of their own) is refused at open.
pub(crate) const LAYOUT: u64 = 3;

/// The earlier layout whose databases are opened and raised to [`LAYOUT`].
const LAYOUT_2: u64 = 2;
/// Records set aside at start: key text ([`quarantine_key`]) → postcard (reason, raw bytes)
/// ([`encode_quarantined`]).
pub(crate) const QUARANTINE: TableDefinition<&str, &[u8]> = TableDefinition::new("quarantine");

/// Suspended destinations: name → end and reason ([`suspension::encode`]).
pub(crate) const SUSPENSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("suspensions");

/// The metadata row format written: 4, the envelope with what the client declared (SMTPUTF8,
/// `BODY=`, TLS) and its DSN parameters, and the message's history. Format 3 and 2 rows are
/// still read ([`v3`], [`v2`]); format 1 (no longer read) kept inline bodies in a table of
/// their own, and a database of that layout is refused at open (see [`LAYOUT`]).
const FORMAT_V4: u8 = 4;

/// Length of a metadata row's header: version (1) and record length (4).
const ROW_HEADER_LEN: usize = 5;

/// Length of a schedule key: next-attempt seconds (8), nanoseconds (4), id (16).
pub(crate) const SCHEDULE_KEY_LEN: usize = 28;
/// Length of a schedule value: arrival seconds (8) and nanoseconds (4), held (1), attempts (4),
/// body place (1: 0 inline, 1 file) — what start-up needs without reading metadata records.
pub(crate) const SCHEDULE_VALUE_LEN: usize = 18;

/// Where a message's body lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum BodyPlace {
    /// At the end of the metadata row, committed with it.
    Inline,
    /// In the file `bodies/<id>`, written and fsync'd before the metadata commit.
    File,
}

/// Everything about a message except its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MetaRecord {
    pub sender: Sender,
    pub recipients: Vec<Address>,
    pub client: ClientInfo,
    pub receiver: String,
    pub arrival: SystemTime,
    pub dsn: DsnRequest,
    pub body_len: u64,
    pub body: BodyPlace,
    pub meta: MessageMeta,
}

impl MetaRecord {
    /// The record of `envelope` with `meta`, its body kept at `body`.
    pub fn of(envelope: &Envelope, meta: MessageMeta, body: BodyPlace) -> Self {
        Self {
            sender: envelope.sender.clone(),
            recipients: envelope.recipients.clone(),
            client: envelope.client.clone(),
            receiver: envelope.receiver.clone(),
            arrival: envelope.arrival,
            dsn: envelope.dsn.clone(),
            body_len: envelope.message.len() as u64,
            body,
            meta,
        }
    }

    /// Encodes the metadata row: header, record, then `inline` (the body when it is inline;
    /// when it is a file, the head kept in the row, often empty).
    pub fn encode(&self, inline: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(ROW_HEADER_LEN + 128 + inline.len());
        out.extend_from_slice(&[FORMAT_V4, 0, 0, 0, 0]);
        postcard::to_io(self, &mut out).map_err(|e| format!("cannot encode metadata: {e}"))?;
        let len = u32::try_from(out.len() - ROW_HEADER_LEN)
            .map_err(|_| "metadata record too large".to_owned())?;
        out[1..ROW_HEADER_LEN].copy_from_slice(&len.to_be_bytes());
        out.extend_from_slice(inline);
        Ok(out)
    }

    /// Decodes a metadata row: the record and its inline body (when the body is in a file: the
    /// head kept in the row, the file holding the rest). The error says why the bytes are not
    /// one: an inline body whose length disagrees with the record, or a head longer than the
    /// message, makes the row undecodable.
    pub fn decode(bytes: &[u8]) -> Result<(Self, &[u8]), String> {
        let Some((&version, rest)) = bytes.split_first() else {
            return Err("empty metadata record".to_owned());
        };
        if ![FORMAT_V4, v3::FORMAT, v2::FORMAT].contains(&version) {
            return Err(format!("unknown metadata format {version}"));
        }
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| "metadata record header truncated".to_owned())?;
        let len = usize::try_from(u32::from_be_bytes(*len)).unwrap_or(usize::MAX);
        if len > rest.len() {
            return Err("metadata record truncated".to_owned());
        }
        let (encoded, body) = rest.split_at(len);
        let (record, tail) = match version {
            FORMAT_V4 => postcard::take_from_bytes::<Self>(encoded),
            v3::FORMAT => postcard::take_from_bytes::<v3::Record>(encoded)
                .map(|(old, tail)| (old.into(), tail)),
            _ => postcard::take_from_bytes::<v2::Record>(encoded)
                .map(|(old, tail)| (old.into(), tail)),
        }
        .map_err(|e| format!("undecodable metadata: {e}"))?;
        if !tail.is_empty() {
            return Err(format!("{} trailing bytes after metadata", tail.len()));
        }
        let fits = match record.body {
            BodyPlace::Inline => body.len() as u64 == record.body_len,
            BodyPlace::File => body.len() as u64 <= record.body_len,
        };
        if !fits {
            let expected = record.body_len;
            return Err(format!(
                "inline body is {} octets, {expected} expected",
                body.len()
            ));
        }
        Ok((record, body))
    }

    /// The admin summary, without reading the body.
    pub fn info(&self, id: QueueId) -> MessageInfo {
        MessageInfo {
            id,
            sender: self.sender.as_str().to_owned(),
            recipients: self.meta.recipients.clone(),
            attempts: self.meta.attempts,
            next_attempt: self.meta.next_attempt,
            arrival: self.arrival,
            held: self.meta.held,
            size: self.body_len,
        }
    }

    /// The full message, given its body.
    pub fn into_stored(self, id: QueueId, body: Message) -> StoredMessage {
        StoredMessage {
            id,
            envelope: Envelope {
                sender: self.sender,
                recipients: self.recipients,
                message: body,
                client: self.client,
                receiver: self.receiver,
                arrival: self.arrival,
                dsn: self.dsn,
            },
            meta: self.meta,
        }
    }

    /// The schedule key of this record.
    pub fn schedule_key(&self, id: QueueId) -> [u8; SCHEDULE_KEY_LEN] {
        schedule_key(self.meta.next_attempt, id)
    }

    /// The schedule value of this record.
    pub fn schedule_value(&self) -> [u8; SCHEDULE_VALUE_LEN] {
        let mut value = [0u8; SCHEDULE_VALUE_LEN];
        let (secs, nanos) = split_time(self.arrival);
        value[..8].copy_from_slice(&secs.to_be_bytes());
        value[8..12].copy_from_slice(&nanos.to_be_bytes());
        value[12] = u8::from(self.meta.held);
        value[13..17].copy_from_slice(&self.meta.attempts.to_be_bytes());
        value[17] = u8::from(self.body == BodyPlace::File);
        value
    }
}

/// Seconds and nanoseconds since the epoch; times before it count as the epoch (they are due).
fn split_time(time: SystemTime) -> (u64, u32) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    (since.as_secs(), since.subsec_nanos())
}

fn join_time(secs: u64, nanos: u32) -> Option<SystemTime> {
    if nanos >= 1_000_000_000 {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// The key of the schedule row: due time first so byte order is due order, ties by id.
pub(crate) fn schedule_key(next_attempt: SystemTime, id: QueueId) -> [u8; SCHEDULE_KEY_LEN] {
    let mut key = [0u8; SCHEDULE_KEY_LEN];
    let (secs, nanos) = split_time(next_attempt);
    key[..8].copy_from_slice(&secs.to_be_bytes());
    key[8..12].copy_from_slice(&nanos.to_be_bytes());
    key[12..].copy_from_slice(&id.to_bytes());
    key
}

/// The id at the end of a schedule key, if the key has the right length.
pub(crate) fn schedule_key_id(key: &[u8]) -> Option<QueueId> {
    let bytes: [u8; 16] = key.get(12..SCHEDULE_KEY_LEN)?.try_into().ok()?;
    (key.len() == SCHEDULE_KEY_LEN).then(|| QueueId::from_bytes(bytes))
}

/// A schedule row decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScheduleRow {
    /// The entry the queue keeps.
    pub entry: ScheduleEntry,
    /// Failed attempts (for state counts).
    pub attempts: u32,
    /// Where the body is (for reconciliation with the body directory).
    pub body: BodyPlace,
}

/// Decodes a schedule row; `None` when it is malformed.
pub(crate) fn decode_schedule(key: &[u8], value: &[u8]) -> Option<ScheduleRow> {
    if key.len() != SCHEDULE_KEY_LEN || value.len() != SCHEDULE_VALUE_LEN {
        return None;
    }
    let be64 = |b: &[u8]| b.try_into().ok().map(u64::from_be_bytes);
    let be32 = |b: &[u8]| b.try_into().ok().map(u32::from_be_bytes);
    let next_attempt = join_time(be64(&key[..8])?, be32(&key[8..12])?)?;
    let arrival = join_time(be64(&value[..8])?, be32(&value[8..12])?)?;
    let held = match value[12] {
        0 => false,
        1 => true,
        _ => return None,
    };
    let attempts = be32(&value[13..17])?;
    let body = match value[17] {
        0 => BodyPlace::Inline,
        1 => BodyPlace::File,
        _ => return None,
    };
    let entry = ScheduleEntry {
        id: schedule_key_id(key)?,
        next_attempt,
        arrival,
        held,
        attempts,
    };
    Some(ScheduleRow {
        entry,
        attempts,
        body,
    })
}

/// The 16-byte key of a message in the `meta` table.
pub(crate) fn id_key(id: QueueId) -> [u8; 16] {
    id.to_bytes()
}

/// The id of a `meta` key, if it has the right length.
pub(crate) fn key_id(key: &[u8]) -> Option<QueueId> {
    let bytes: [u8; 16] = key.try_into().ok()?;
    Some(QueueId::from_bytes(bytes))
}

/// The quarantine key of a record: `meta/<id>`, or `meta/<hex of the raw key>` when the key
/// is not an id.
pub(crate) fn quarantine_key(id: Option<QueueId>, key: &[u8]) -> String {
    match id {
        Some(id) => format!("meta/{id}"),
        None => format!("meta/{}", hex(key)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A quarantine entry: postcard `(reason, raw row, body)`. The body slot of layout 1 stays,
/// always empty, so the entry keeps one shape.
pub(crate) fn encode_quarantined(reason: &str, raw: &[u8]) -> Vec<u8> {
    postcard::to_stdvec(&(reason, raw, None::<Vec<u8>>)).unwrap_or_default()
}

/// The reason of a quarantine entry, or why the entry cannot be read.
pub(crate) fn quarantined_reason(value: &[u8]) -> String {
    postcard::from_bytes::<(String, Vec<u8>, Option<Vec<u8>>)>(value)
        .map(|v| v.0)
        .unwrap_or_else(|e| format!("(unreadable quarantine entry: {e})"))
}

/// Creates every table so that readers find them, and records the layout in a new database.
/// Refuses (`Unavailable`) a database of another layout: one written by an older envoi
/// (layout 1 has tables but no layout record) or a newer one. Such a spool must be drained by
/// the envoi that wrote it, or moved away; it is never read as this layout.
pub(crate) fn create_tables(db: &Database) -> Result<(), StorageError> {
    let txn = db
        .begin_write()
        .map_err(|e| error::redb_any("cannot begin spool transaction", e))?;
    let found = match txn.open_table(FORMAT) {
        Ok(table) => table
            .get(LAYOUT_KEY)
            .map_err(|e| error::db("cannot read the spool layout", e))?
            .map(|v| v.value()),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(error::redb_any("cannot open the format table", e)),
    };
    let fresh = found.is_none()
        && txn
            .list_tables()
            .map_err(|e| error::db("cannot list spool tables", e))?
            .all(|t| t.name() == FORMAT.name());
    match found {
        Some(LAYOUT) => {}
        None | Some(LAYOUT_2) if fresh || found == Some(LAYOUT_2) => {
            let mut format = txn
                .open_table(FORMAT)
                .map_err(|e| error::redb_any("cannot create spool table", e))?;
            format
                .insert(LAYOUT_KEY, LAYOUT)
                .map_err(|e| error::db("cannot record the spool layout", e))?;
        }
        other => {
            return Err(StorageError::Unavailable(format!(
                "database layout {} is not the layout {LAYOUT} this envoi reads; drain the spool \
                 with the envoi that wrote it, or move it away",
                other.unwrap_or(1)
            )))
        }
    }
    for table in [META, SCHEDULE] {
        txn.open_table(table)
            .map_err(|e| error::redb_any("cannot create spool table", e))?;
    }
    txn.open_table(QUARANTINE)
        .map_err(|e| error::redb_any("cannot create spool table", e))?;
    txn.open_table(SUSPENSIONS)
        .map_err(|e| error::redb_any("cannot create spool table", e))?;
    txn.commit()
        .map_err(|e| error::redb_any("cannot create spool tables", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope::new(
            Sender::parse("a@b.org").unwrap(),
            vec![Address::parse("c@d.org").unwrap()],
            b"Subject: x\r\n\r\nhi\r\n".to_vec(),
        )
    }

    #[test]
    fn record_round_trips_and_rejects_garbage() {
        let env = envelope();
        let body = env.message.as_bytes();
        let record = MetaRecord::of(&env, MessageMeta::new(&env, env.arrival), BodyPlace::Inline);
        let bytes = record.encode(body).unwrap();
        let (decoded, inline) = MetaRecord::decode(&bytes).unwrap();
        assert_eq!((&decoded, inline), (&record, body));
        assert!(MetaRecord::decode(&[]).is_err());
        assert!(MetaRecord::decode(&[9, 1, 2]).is_err());
        assert!(MetaRecord::decode(&[FORMAT_V4, 0, 0]).is_err());
        // Truncated anywhere: in the body, or in the record.
        assert!(MetaRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(MetaRecord::decode(&bytes[..ROW_HEADER_LEN + 3]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(MetaRecord::decode(&longer).is_err());
        // Version 1 (the old layout) is not read as this one.
        let mut old = bytes.clone();
        old[0] = 1;
        assert!(MetaRecord::decode(&old).unwrap_err().contains("format 1"));
        // A record whose body is in a file carries at most a head (a streamed message's), never
        // more than the message.
        let file = MetaRecord::of(&env, MessageMeta::new(&env, env.arrival), BodyPlace::File);
        let bytes = file.encode(&[]).unwrap();
        assert_eq!(MetaRecord::decode(&bytes).unwrap(), (file.clone(), &[][..]));
        let with_head = file.encode(&body[..5]).unwrap();
        assert_eq!(
            MetaRecord::decode(&with_head).unwrap(),
            (file.clone(), &body[..5])
        );
        let too_long = file.encode(&[body, b"x"].concat()).unwrap();
        assert!(MetaRecord::decode(&too_long).is_err());
    }

    #[test]
    fn declarations_round_trip() {
        let mut env = envelope();
        env.client.smtputf8 = true;
        env.client.body = envoi_types::BodyType::EightBitMime;
        env.client.auth = Some("user".into());
        env.client.tls = Some(envoi_types::TlsInfo {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_256_GCM_SHA384".into(),
        });
        let record = MetaRecord::of(&env, MessageMeta::new(&env, env.arrival), BodyPlace::File);
        let bytes = record.encode(&[]).unwrap();
        let (decoded, _) = MetaRecord::decode(&bytes).unwrap();
        assert_eq!(decoded.client, env.client);
    }

    #[test]
    fn dsn_parameters_and_history_round_trip() {
        use envoi_queue::storage::{AttemptRecord, AttemptReply};
        use envoi_types::{Notify, OriginalRecipient, RecipientDsn, Reply, Ret};
        let mut env = envelope();
        env.dsn = DsnRequest {
            ret: Some(Ret::Headers),
            envid: Some("QQ314".into()),
            recipients: vec![RecipientDsn {
                recipient: env.recipients[0].clone(),
                notify: Some(Notify::NEVER),
                orcpt: Some(OriginalRecipient::of(&env.recipients[0])),
            }],
        };
        let mut meta = MessageMeta::new(&env, env.arrival);
        meta.history.delay_warnings_sent = 2;
        meta.history.attempts.push(AttemptRecord {
            at: env.arrival,
            replies: vec![AttemptReply {
                recipient: env.recipients[0].clone(),
                reply: Reply::with_default_code(451, "later"),
                remote_host: Some("mx.d.org[192.0.2.1]:25".into()),
            }],
        });
        let record = MetaRecord::of(&env, meta, BodyPlace::File);
        let (decoded, _) = MetaRecord::decode(&record.encode(&[]).unwrap()).unwrap();
        assert_eq!(decoded, record);
        assert_eq!(
            decoded
                .into_stored(QueueId::new(), Message::default())
                .envelope
                .dsn,
            env.dsn
        );
    }

    #[test]
    fn schedule_rows_round_trip_and_sort_by_time() {
        let env = envelope();
        let early = UNIX_EPOCH + Duration::new(100, 5);
        let late = UNIX_EPOCH + Duration::new(100, 6);
        let (a, b) = (QueueId::new(), QueueId::new());
        assert!(schedule_key(early, b) < schedule_key(late, a));
        let mut meta = MessageMeta::new(&env, late);
        meta.attempts = 7;
        meta.held = true;
        let record = MetaRecord::of(&env, meta, BodyPlace::File);
        let row = decode_schedule(&record.schedule_key(a), &record.schedule_value()).unwrap();
        let (entry, attempts) = (row.entry, row.attempts);
        assert_eq!(row.body, BodyPlace::File);
        assert_eq!(entry.id, a);
        assert_eq!(entry.next_attempt, late);
        assert_eq!(entry.arrival, env.arrival);
        assert!(entry.held);
        assert_eq!(attempts, 7);
        assert!(decode_schedule(&[0; 5], &record.schedule_value()).is_none());
    }

    #[test]
    fn quarantine_entries_keep_their_reason_and_name() {
        let id = QueueId::new();
        assert_eq!(quarantine_key(Some(id), &id_key(id)), format!("meta/{id}"));
        assert_eq!(quarantine_key(None, &[0xab, 0x01]), "meta/ab01");
        let entry = encode_quarantined("undecodable", &[1, 2, 3]);
        let (reason, raw, body) =
            postcard::from_bytes::<(String, Vec<u8>, Option<Vec<u8>>)>(&entry).unwrap();
        assert_eq!(
            (reason.as_str(), raw, body),
            ("undecodable", vec![1, 2, 3], None)
        );
        assert_eq!(quarantined_reason(&entry), "undecodable");
        assert!(quarantined_reason(&[0xff]).starts_with("(unreadable quarantine entry"));
    }
}
