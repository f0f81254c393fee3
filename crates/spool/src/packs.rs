//! Small inline bodies packed end to end into page-sized values (layout 5; the tables and
//! their bytes are in `crate::schema`, module `packs`).
//!
//! The writer appends each packed body of a group to the open pack, in the group's
//! transaction ([`append`]), and fills its location into the message's row; removing the
//! message releases it in the commit that removes the row ([`release`]): the pack's count goes
//! down, and at zero the pack's values and count go. A quarantined message keeps its pack (its
//! row, in the quarantine entry, still names it). Counts and rows change in the same commits,
//! so a crash cannot part them; [`check()`] finds and repairs any disagreement anyway, after
//! start-up, as the record check does for rows.

// redb's error is large; it only ever ends a whole commit (a rare, slow path), so it is passed
// as is rather than boxed at every `?`.
#![allow(clippy::result_large_err)]

use envoi_queue::StorageError;
use envoi_types::QueueId;
use redb::{ReadTransaction, ReadableTable, Table, WriteTransaction};

use crate::error;
use crate::schema::{
    decode_count, encode_count, key_pack, pack_key, BodyPlace, Location, MetaRecord, FORMAT,
    LOCATION_LEN, NEXT_PACK_KEY, PACKS, PACK_COUNTS, PACK_LEN, VALUE_LEN,
};

mod check;

pub(crate) use check::check;
pub use check::PackCheck;

/// The `packs` table in a write transaction.
pub(crate) type Values<'t> = Table<'t, &'static [u8], &'static [u8]>;
/// The `pack_counts` table in a write transaction.
pub(crate) type Counts<'t> = Table<'t, u64, &'static [u8]>;

/// The tables packing changes, in the writer's transaction.
pub(crate) struct PackTables<'t> {
    values: Values<'t>,
    counts: Counts<'t>,
    /// The `format` table, which records the next pack number ([`NEXT_PACK_KEY`]).
    format: Table<'t, &'static str, u64>,
}

impl<'t> PackTables<'t> {
    /// Opens the tables in `txn`.
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self, redb::TableError> {
        Ok(Self {
            values: txn.open_table(PACKS)?,
            counts: txn.open_table(PACK_COUNTS)?,
            format: txn.open_table(FORMAT)?,
        })
    }

    /// Appends `body` (at most [`PACK_LEN`] octets) to the open pack, or to a new one when it
    /// does not fit, and counts it there; returns where it went.
    pub(crate) fn append(&mut self, body: &[u8]) -> Result<Location, redb::Error> {
        append(self, body)
    }

    /// Releases the body at `at` ([`release`]).
    pub(crate) fn release(&mut self, at: Location) -> Result<(), redb::Error> {
        release(&mut self.values, &mut self.counts, at)
    }

    /// A number no pack ever had: the one the `format` table records as next, or one past the
    /// highest counted or stored if that is higher (a database that never recorded one). It is
    /// never given twice, so a row naming a pack that is gone can never read another
    /// message's body.
    fn next_pack(&mut self) -> Result<u64, redb::Error> {
        let recorded = self.format.get(NEXT_PACK_KEY)?.map(|v| v.value());
        let counted = self.counts.last()?.map(|(pack, _)| pack.value());
        let stored = (self.values.last()?).and_then(|(key, _)| key_pack(key.value()));
        let past = counted.max(stored).map(|pack| pack.saturating_add(1));
        let pack = recorded.max(past).unwrap_or(0);
        self.format.insert(NEXT_PACK_KEY, pack.saturating_add(1))?;
        Ok(pack)
    }
}

fn append(t: &mut PackTables<'_>, body: &[u8]) -> Result<Location, redb::Error> {
    let PackTables { values, counts, .. } = t;
    let open = match counts.last()? {
        Some((pack, value)) => decode_count(value.value()).map(|(n, used)| (pack.value(), n, used)),
        None => None,
    };
    let mut open =
        open.filter(|&(_, _, used)| (used as usize).saturating_add(body.len()) <= PACK_LEN);
    // The bytes from the start of the open pack's last value, which is rewritten.
    let mut bytes = Vec::with_capacity(VALUE_LEN + body.len());
    if let Some((pack, _, used)) = open {
        let kept = used as usize % VALUE_LEN;
        if kept > 0 {
            match values.get(pack_key(pack, used / VALUE_LEN as u32).as_slice())? {
                Some(last) if last.value().len() == VALUE_LEN => {
                    bytes.extend_from_slice(&last.value()[..kept]);
                }
                // Its last value is missing or damaged: leave the pack to the start-up check.
                _ => open = None,
            }
        }
    }
    let (pack, count, used) = match open {
        Some(open) => open,
        None => (t.next_pack()?, 0, 0),
    };
    let PackTables { values, counts, .. } = t;
    bytes.extend_from_slice(body);
    let first = used / VALUE_LEN as u32;
    for (index, piece) in (first..).zip(bytes.chunks(VALUE_LEN)) {
        let mut value = [0u8; VALUE_LEN];
        value[..piece.len()].copy_from_slice(piece);
        values.insert(pack_key(pack, index).as_slice(), value.as_slice())?;
    }
    // `body` fits in the pack, so `used` plus its length fits in a u32.
    let now_used = used.saturating_add(u32::try_from(body.len()).unwrap_or(u32::MAX));
    counts.insert(
        pack,
        encode_count(count.saturating_add(1), now_used).as_slice(),
    )?;
    Ok(Location { pack, offset: used })
}

/// Releases the body at `at`: its pack's count goes down, and the pack goes at zero. A pack
/// without a readable count is left to the start-up check rather than removed.
fn release(
    values: &mut Values<'_>,
    counts: &mut Counts<'_>,
    at: Location,
) -> Result<(), redb::Error> {
    let count = counts.get(at.pack)?.and_then(|v| decode_count(v.value()));
    match count {
        Some((n, used)) if n > 1 => {
            counts.insert(at.pack, encode_count(n - 1, used).as_slice())?;
        }
        Some(_) => remove_pack(values, counts, at.pack)?,
        None => tracing::warn!(
            pack = at.pack,
            "spool pack without a count; left to the start-up check"
        ),
    }
    Ok(())
}

/// Removes pack `pack`: its values and its count.
fn remove_pack(
    values: &mut Values<'_>,
    counts: &mut Counts<'_>,
    pack: u64,
) -> Result<(), redb::Error> {
    let (first, last) = (pack_key(pack, 0), pack_key(pack, u32::MAX));
    values.retain_in::<&[u8], _>(first.as_slice()..=last.as_slice(), |_, _| false)?;
    counts.remove(pack)?;
    Ok(())
}

/// The location at the end of `row`, the metadata row of `record`, when its body is packed.
pub(crate) fn location_in(record: &MetaRecord, row: &[u8]) -> Option<Location> {
    if record.body != BodyPlace::Packed {
        return None;
    }
    Location::decode(row.get(row.len().checked_sub(LOCATION_LEN)?..)?)
}

/// The packed body of `id`, `len` octets at `at`. A value missing or of the wrong length
/// makes the message unusable (`Corrupt`).
pub(crate) fn read(
    txn: &ReadTransaction,
    id: QueueId,
    at: Location,
    len: u64,
) -> Result<Vec<u8>, StorageError> {
    if !at.fits(len) {
        return Err(error::corrupt(id, "packed body outside its pack".into()));
    }
    let table = txn
        .open_table(PACKS)
        .map_err(|e| error::redb_any("cannot open packs table", e))?;
    // `fits` bounds both by PACK_LEN.
    let (start, end) = (at.offset as usize, at.offset as usize + len as usize);
    let mut body = Vec::with_capacity(end - start);
    for index in start / VALUE_LEN..=(end - 1) / VALUE_LEN {
        let value = table
            .get(pack_key(at.pack, index as u32).as_slice())
            .map_err(|e| error::db("cannot read packs table", e))?
            .ok_or_else(|| error::corrupt(id, format!("pack {} value {index} missing", at.pack)))?;
        let value = value.value();
        if value.len() != VALUE_LEN {
            return Err(error::corrupt(
                id,
                format!("pack {} value {index} cut short", at.pack),
            ));
        }
        let base = index * VALUE_LEN;
        body.extend_from_slice(&value[start.max(base) - base..end.min(base + VALUE_LEN) - base]);
    }
    Ok(body)
}
