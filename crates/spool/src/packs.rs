//! Small inline bodies packed end to end into page-sized values (layout 5; the tables and
//! their bytes are in `crate::schema`, module `packs`).
//!
//! The writer appends each packed body of a group to the open pack, in the group's
//! transaction ([`append`]), and fills its location into the message's row; removing the
//! message releases it in the commit that removes the row ([`release`]): the pack's count goes
//! down, and at zero the pack's values and count go. A quarantined message keeps its pack (its
//! row, in the quarantine entry, still names it). Counts and rows change in the same commits,
//! so a crash cannot part them; [`check`] finds and repairs any disagreement anyway, after
//! start-up, as the record check does for rows.

// redb's error is large; it only ever ends a whole commit (a rare, slow path), so it is passed
// as is rather than boxed at every `?`.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use envoi_queue::StorageError;
use envoi_types::QueueId;
use redb::{Database, ReadTransaction, ReadableTable, Table};

use crate::error;
use crate::schema::{
    decode_count, encode_count, key_pack, pack_key, BodyPlace, Location, MetaRecord, LOCATION_LEN,
    META, PACKS, PACK_COUNTS, PACK_LEN, QUARANTINE, VALUE_LEN,
};

/// The `packs` table in a write transaction.
pub(crate) type Values<'t> = Table<'t, &'static [u8], &'static [u8]>;
/// The `pack_counts` table in a write transaction.
pub(crate) type Counts<'t> = Table<'t, u64, &'static [u8]>;

/// Appends `body` (at most [`PACK_LEN`] octets) to the open pack, or to a new one when it
/// does not fit, and counts it there; returns where it went.
pub(crate) fn append(
    values: &mut Values<'_>,
    counts: &mut Counts<'_>,
    body: &[u8],
) -> Result<Location, redb::Error> {
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
        None => (next_pack(values, counts)?, 0, 0),
    };
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

/// A number no pack has: one past the highest counted or stored.
fn next_pack(values: &Values<'_>, counts: &Counts<'_>) -> Result<u64, redb::Error> {
    let counted = counts.last()?.map(|(pack, _)| pack.value());
    let stored = values.last()?.and_then(|(key, _)| key_pack(key.value()));
    Ok(counted.max(stored).map_or(0, |pack| pack.saturating_add(1)))
}

/// Releases the body at `at`: its pack's count goes down, and the pack goes at zero. A pack
/// without a readable count is left to the start-up check rather than removed.
pub(crate) fn release(
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

/// What [`check`] found: packs whose count disagreed with the rows naming them (repaired),
/// and packs with values but neither a count nor a row naming them (removed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackCheck {
    /// Packs whose count was set to the number of rows naming them (removed at zero).
    pub recounted: Vec<u64>,
    /// Packs no count and no row named, removed.
    pub orphans: Vec<u64>,
}

/// Counts the rows (metadata rows and quarantined ones) naming each pack in one snapshot and
/// repairs every count that disagrees; removes packs that nothing names. The writer may commit
/// meanwhile: a repair adds the difference found in the snapshot to the count as it is then,
/// so the writer's own changes since are kept. Stops early, changing nothing, when `stop` is
/// set.
pub(crate) fn check(db: &Database, stop: Option<&AtomicBool>) -> Result<PackCheck, StorageError> {
    let (named, counted, orphans) = {
        let snapshot = db
            .begin_read()
            .map_err(|e| error::redb_any("cannot read spool", e))?;
        let Some(named) = named(&snapshot, stop)? else {
            return Ok(PackCheck::default());
        };
        let (counted, orphans) = counted(&snapshot, &named)?;
        (named, counted, orphans)
    };
    let mut found = PackCheck {
        orphans,
        ..PackCheck::default()
    };
    let packs = named.keys().chain(counted.keys()).copied();
    let mut differences: BTreeMap<u64, i64> = BTreeMap::new();
    for pack in packs {
        let (rows, count) = (named.get(&pack), counted.get(&pack));
        let rows = i64::from(rows.copied().unwrap_or(0));
        match count {
            Some(&count) if i64::from(count) == rows => {}
            Some(&count) => {
                differences.insert(pack, rows - i64::from(count));
            }
            None => {
                differences.insert(pack, rows);
            }
        }
    }
    if differences.is_empty() && found.orphans.is_empty() {
        return Ok(found);
    }
    let repair = || -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        {
            let mut values = txn.open_table(PACKS)?;
            let mut counts = txn.open_table(PACK_COUNTS)?;
            for (&pack, &difference) in &differences {
                let now = counts.get(pack)?.map(|v| decode_count(v.value()));
                let (n, used) = match (now, counted.contains_key(&pack)) {
                    (Some(Some(now)), _) => now,
                    // Undecodable: closed, so nothing is appended to it.
                    (Some(None), _) => (0, PACK_LEN as u32),
                    // The writer removed it since the snapshot: nothing left to count.
                    (None, true) => continue,
                    (None, false) => (0, PACK_LEN as u32),
                };
                let n = i64::from(n).saturating_add(difference);
                if n <= 0 {
                    remove_pack(&mut values, &mut counts, pack)?;
                } else {
                    let n = u32::try_from(n).unwrap_or(u32::MAX);
                    counts.insert(pack, encode_count(n, used).as_slice())?;
                }
            }
            for &pack in &found.orphans {
                // Values without a count are never written by the writer.
                if counts.get(pack)?.is_none() {
                    remove_pack(&mut values, &mut counts, pack)?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    };
    repair().map_err(|e| error::redb_any("cannot repair spool pack counts", e))?;
    found.recounted = differences.into_keys().collect();
    tracing::error!(
        recounted = ?found.recounted,
        orphans = ?found.orphans,
        "spool pack counts disagreed with the rows naming them; repaired"
    );
    Ok(found)
}

/// How many rows (metadata and quarantined) name each pack in `snapshot`; `None` when stopped.
fn named(
    snapshot: &ReadTransaction,
    stop: Option<&AtomicBool>,
) -> Result<Option<BTreeMap<u64, u32>>, StorageError> {
    let mut named = BTreeMap::new();
    let mut name = |row: &[u8]| {
        if let Some(at) = MetaRecord::decode(row)
            .ok()
            .and_then(|(r, _)| location_in(&r, row))
        {
            let n: &mut u32 = named.entry(at.pack).or_default();
            *n = n.saturating_add(1);
        }
    };
    let meta = snapshot
        .open_table(META)
        .map_err(|e| error::redb_any("cannot open meta table", e))?;
    for (i, row) in meta
        .iter()
        .map_err(|e| error::db("cannot read meta table", e))?
        .enumerate()
    {
        if i % 1024 == 0 && stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Ok(None);
        }
        let (_, row) = row.map_err(|e| error::db("cannot read meta table", e))?;
        name(row.value());
    }
    let quarantine = snapshot
        .open_table(QUARANTINE)
        .map_err(|e| error::redb_any("cannot open quarantine table", e))?;
    for entry in quarantine
        .iter()
        .map_err(|e| error::db("cannot read quarantine table", e))?
    {
        let (_, entry) = entry.map_err(|e| error::db("cannot read quarantine table", e))?;
        type Entry = (String, Vec<u8>, Option<Vec<u8>>);
        if let Ok((_, raw, _)) = postcard::from_bytes::<Entry>(entry.value()) {
            name(&raw);
        }
    }
    Ok(Some(named))
}

/// Each pack's count in `snapshot` (an undecodable one as 0), and the packs with values but no
/// count that no row names (`named`), found by one lookup per gap between counted packs.
fn counted(
    snapshot: &ReadTransaction,
    named: &BTreeMap<u64, u32>,
) -> Result<(BTreeMap<u64, u32>, Vec<u64>), StorageError> {
    let read = |e: redb::StorageError| error::db("cannot read pack tables", e);
    let counts = snapshot
        .open_table(PACK_COUNTS)
        .map_err(|e| error::redb_any("cannot open pack_counts table", e))?;
    let values = snapshot
        .open_table(PACKS)
        .map_err(|e| error::redb_any("cannot open packs table", e))?;
    let mut counted = BTreeMap::new();
    for row in counts.iter().map_err(read)? {
        let (pack, value) = row.map_err(read)?;
        let n = decode_count(value.value()).map_or(0, |(n, _)| n);
        counted.insert(pack.value(), n);
    }
    let mut orphans = Vec::new();
    let mut from = Some(0u64);
    while let Some(start) = from {
        let first = values
            .range::<&[u8]>(pack_key(start, 0).as_slice()..)
            .map_err(read)?
            .next()
            .transpose()
            .map_err(read)?;
        let Some(pack) = first.and_then(|(key, _)| key_pack(key.value())) else {
            break;
        };
        if !counted.contains_key(&pack) && !named.contains_key(&pack) {
            orphans.push(pack);
        }
        from = pack.checked_add(1);
    }
    Ok((counted, orphans))
}

impl crate::Spool {
    /// Checks now that every pack's count is the number of rows (stored and quarantined
    /// messages) naming it, and repairs any that disagrees, as the check after open does;
    /// returns what it found (nothing, unless something other than this spool changed the
    /// database). Blocks.
    ///
    /// # Errors
    /// `Io` when the database cannot be read or written.
    pub fn check_packs(&self) -> Result<PackCheck, StorageError> {
        check(&*self.inner.shared.db()?, None)
    }
}
