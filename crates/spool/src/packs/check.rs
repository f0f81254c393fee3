//! The check after open: every pack's count against the rows naming it (`super`), repaired
//! where they disagree.

// redb's error is large; it only ever ends a whole commit (a rare, slow path), so it is passed
// as is rather than boxed at every `?`.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use envoi_queue::StorageError;
use redb::{Database, ReadTransaction, ReadableTable};

use super::{location_in, remove_pack};
use crate::error;
use crate::schema::{
    decode_count, encode_count, key_pack, pack_key, MetaRecord, META, PACKS, PACK_COUNTS, PACK_LEN,
    QUARANTINE,
};

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
/// so the writer's own changes since are kept; two checks at once would each add it, so the
/// callers take turns (`Shared::check_turn`). Stops early, changing nothing, when `stop` is
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
        let _turn = self.inner.shared.check_turn();
        check(&*self.inner.shared.db()?, None)
    }
}
