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
//! - [`META`]: 16-byte id → metadata row (`record`): envelope, client, receiver, the state the
//!   message was stored with, and the body when inline. Written once, never rewritten.
//! - [`STATE`]: 16-byte id → state row (`state`): the message's state since it last changed
//!   (attempts, next attempt, held, recipients' statuses, history). A message never changed
//!   has none; when present it overrides the state in the metadata row.
//! - [`CHUNKS`]: (id, index) → one 4064-octet piece of an inline body of at least that many
//!   octets (`chunks`), so that large inline bodies fill redb's pages.
//! - [`PACKS`]: (pack, index) → one 4072-octet value of a pack: small inline bodies end to
//!   end (`packs`), so that they fill redb's pages.
//! - [`PACK_COUNTS`]: pack → messages whose body is in it, and octets used (`packs`).
//! - [`SCHEDULE`]: 28-byte schedule key → 18-byte schedule value (`schedule`): the due index
//!   start-up reads without touching a metadata row.
//! - [`FORMAT`]: [`LAYOUT_KEY`] → the layout version, [`LAYOUT`]; [`NEXT_PACK_KEY`] → the
//!   number of the next new pack (`packs`).
//! - [`QUARANTINE`]: `meta/<id>` (or `meta/<hex key>`) → postcard `(reason, raw row, state
//!   row)` (`quarantine`).
//! - [`SUSPENSIONS`]: destination name → end and reason (`suspension`): the destinations an
//!   administrator suspended. Added within layout 2: an older build ignores the table.
//!
//! # Layouts
//! - **5** (this build): the `packs` and `pack_counts` tables; a non-empty inline body shorter
//!   than a chunk is packed, its metadata row ending with its location instead of the body.
//!   State rows of format 2 add each recipient's TLS report (which TLS policy the delivery
//!   session ran under); format 1 state rows still read (without reports). An envoi of layout
//!   4 refuses the raised database instead of misreading a packed row or a format 2 state row.
//! - **4**: the `state` and `chunks` tables; metadata rows of format 5, which
//!   name each recipient once (statuses and DSN parameters refer to it by index). A retry, hold or
//!   status change rewrites the state row and the schedule row, never the metadata row, so
//!   never an inline body.
//! - **3**: metadata rows of format 4 (and 3, 2), each holding the message's whole state and
//!   rewritten, inline body included, at every change of state; a file body may have its head
//!   in the row (a streamed message).
//! - **2**: as 3, a file body always whole.
//! - **1**: no `format` table; inline bodies in a table of their own. Refused at open.
//!
//! A layout 2, 3 or 4 database is opened and its layout record raised to 5 (then an older envoi
//! refuses it): its rows are read as they are (`v4`, `v3`, `v2`; inline bodies stay in their
//! rows, only new writes are packed), never rewritten; a change of a message's state writes a
//! state row, which overrides the state inside the old row.

use redb::{Database, ReadableTable, TableDefinition, TableHandle};

use envoi_queue::StorageError;
use envoi_types::QueueId;

use crate::error;

mod chunks;
mod packs;
mod quarantine;
mod record;
mod schedule;
mod state;
pub(crate) mod suspension;
mod v2;
mod v3;
mod v4;
mod v5;

pub(crate) use chunks::{chunk_key, chunks_for, CHUNKS, CHUNK_LEN};
pub(crate) use packs::{
    decode_count, encode_count, key_pack, pack_key, Location, LOCATION_LEN, NEXT_PACK_KEY, PACKS,
    PACK_COUNTS, PACK_LEN, VALUE_LEN,
};
pub(crate) use quarantine::{encode_quarantined, quarantine_key, quarantined_reason};
pub(crate) use record::{BodyPlace, MetaRecord};
pub(crate) use schedule::{
    decode_schedule, schedule_key, schedule_key_id, ScheduleRow, SCHEDULE_KEY_LEN,
    SCHEDULE_VALUE_LEN,
};

/// The database file inside the spool directory.
pub const DB_FILE: &str = "spool.redb";
/// Name of a database being created; renamed to [`DB_FILE`] once complete.
pub(crate) const NEW_DB_FILE: &str = "spool.redb.new";

/// Metadata rows by id (16 bytes, big-endian ULID): the record, then the body when it is
/// inline ([`MetaRecord::encode`]).
pub(crate) const META: TableDefinition<&[u8], &[u8]> = TableDefinition::new("meta");

/// State rows by id ([`MetaRecord::state_row`]): only for messages whose state changed since
/// they were stored.
pub(crate) const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");

/// The [`META`] table in a read transaction, with the spool's error for a failure.
pub(crate) fn read_meta(
    txn: &redb::ReadTransaction,
) -> Result<redb::ReadOnlyTable<&'static [u8], &'static [u8]>, StorageError> {
    txn.open_table(META)
        .map_err(|e| error::redb_any("cannot open meta table", e))
}

/// The [`STATE`] table in a read transaction, with the spool's error for a failure.
pub(crate) fn read_state(
    txn: &redb::ReadTransaction,
) -> Result<redb::ReadOnlyTable<&'static [u8], &'static [u8]>, StorageError> {
    txn.open_table(STATE)
        .map_err(|e| error::redb_any("cannot open state table", e))
}

/// The schedule index: (next attempt, id) → (arrival, held, attempts, body place)
/// ([`schedule_key`], [`MetaRecord::schedule_value`]).
pub(crate) const SCHEDULE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("schedule");
/// The database's layout version, under the key [`LAYOUT_KEY`].
pub(crate) const FORMAT: TableDefinition<&str, u64> = TableDefinition::new("format");
/// The key of the layout version in [`FORMAT`].
pub(crate) const LAYOUT_KEY: &str = "layout";
/// The layout this build reads and writes: 5 (see the module docs).
pub(crate) const LAYOUT: u64 = 5;

/// The earlier layouts whose databases are opened and raised to [`LAYOUT`].
pub(crate) const RAISED_LAYOUTS: [u64; 3] = [2, 3, 4];
/// Records set aside at start: key text ([`quarantine_key`]) → postcard (reason, raw bytes,
/// state row) ([`encode_quarantined`]).
pub(crate) const QUARANTINE: TableDefinition<&str, &[u8]> = TableDefinition::new("quarantine");

/// Suspended destinations: name → end and reason ([`suspension::encode`]).
pub(crate) const SUSPENSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("suspensions");

/// The 16-byte key of a message in the `meta` and `state` tables.
pub(crate) fn id_key(id: QueueId) -> [u8; 16] {
    id.to_bytes()
}

/// The id of a `meta` key, if it has the right length.
pub(crate) fn key_id(key: &[u8]) -> Option<QueueId> {
    let bytes: [u8; 16] = key.try_into().ok()?;
    Some(QueueId::from_bytes(bytes))
}

/// The layout a database records in its format table (`table`, as opened by a read or a write
/// transaction); `None` when it has no such table or no record.
pub(crate) fn recorded_layout<T: ReadableTable<&'static str, u64>>(
    table: Result<T, redb::TableError>,
) -> Result<Option<u64>, StorageError> {
    match table {
        Ok(table) => Ok(table
            .get(LAYOUT_KEY)
            .map_err(|e| error::db("cannot read the spool layout", e))?
            .map(|v| v.value())),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(error::redb_any("cannot open the format table", e)),
    }
}

/// Creates every table so that readers find them, and records the layout in a new database
/// (or raises a layout 2, 3 or 4 one to [`LAYOUT`]).
/// Refuses (`Unavailable`) a database of another layout: one written by an older envoi
/// (layout 1 has tables but no layout record) or a newer one. Such a spool must be drained by
/// the envoi that wrote it, or moved away; it is never read as this layout.
pub(crate) fn create_tables(db: &Database) -> Result<(), StorageError> {
    let txn = db
        .begin_write()
        .map_err(|e| error::redb_any("cannot begin spool transaction", e))?;
    let found = recorded_layout(txn.open_table(FORMAT))?;
    let fresh = found.is_none()
        && txn
            .list_tables()
            .map_err(|e| error::db("cannot list spool tables", e))?
            .all(|t| t.name() == FORMAT.name());
    let raised = found.is_some_and(|layout| RAISED_LAYOUTS.contains(&layout));
    match found {
        Some(LAYOUT) => {}
        _ if fresh || raised => {
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
    for table in [META, STATE, CHUNKS, PACKS, SCHEDULE] {
        txn.open_table(table)
            .map_err(|e| error::redb_any("cannot create spool table", e))?;
    }
    txn.open_table(PACK_COUNTS)
        .map_err(|e| error::redb_any("cannot create spool table", e))?;
    txn.open_table(QUARANTINE)
        .map_err(|e| error::redb_any("cannot create spool table", e))?;
    txn.open_table(SUSPENSIONS)
        .map_err(|e| error::redb_any("cannot create spool table", e))?;
    txn.commit()
        .map_err(|e| error::redb_any("cannot create spool tables", e))
}
