//! Opening a spool: checks on the directory, then the start-up reconciliation.
//!
//! Reconciliation reads the schedule index (never a body, and no metadata record unless asked):
//! a message whose body file is missing is moved to the `quarantine` table with its raw bytes
//! (its body file, if any, is kept) and reported. When the metadata rows outnumber the valid
//! schedule rows (redb counts them without reading), the metadata rows are scanned: a readable
//! record whose schedule row is damaged or missing gets it rebuilt, an unreadable one is
//! quarantined. A body file that no message or quarantined record names is removed (its write
//! never committed, so no client was told it was stored) and reported. Metadata
//! records are checked for decodability either at open ([`crate::SpoolOptions::verify_at_open`])
//! or by a background scan right after it; undecodable ones are quarantined the same way. The
//! rest loads. A large spool whose tables agree leaves the schedule's read to the background
//! too (`crate::deferred`).

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;

use std::sync::atomic::{AtomicBool, Ordering};

use envoi_queue::{QuarantinedRecord, RecipientDomains, ScheduleEntry, StorageError};
use envoi_types::QueueId;
use redb::{Database, DatabaseError, ReadableTable, ReadableTableMetadata};

use crate::bodies::BodyDir;
use crate::error;
use crate::quarantine;
use crate::schema::{
    decode_schedule, id_key, key_id, read_meta, read_state, schedule_key, BodyPlace, MetaRecord,
    SCHEDULE,
};

/// What reconciliation found and did at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartupReport {
    /// Messages in the store after reconciliation.
    pub messages: u64,
    /// Records moved to quarantine at this start (undecodable, or body file missing).
    pub quarantined: Vec<QuarantinedRecord>,
    /// Body files without metadata, removed.
    pub orphan_bodies: Vec<QueueId>,
    /// Files in the body directory that are not bodies (left alone).
    pub strangers: Vec<String>,
    /// Packs whose count disagreed with the rows naming them, repaired at this start (only
    /// with [`crate::SpoolOptions::verify_at_open`]; otherwise the check runs after open and
    /// logs what it repairs).
    pub packs: crate::PackCheck,
}

/// Checks that `path` is a usable directory, creating it when asked.
pub(crate) fn check_dir(path: &Path, create: bool) -> Result<(), StorageError> {
    let unavailable = |reason: String| {
        StorageError::Unavailable(format!("spool directory {}: {reason}", path.display()))
    };
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(unavailable("is not a directory".into())),
        Err(e) if e.kind() == io::ErrorKind::NotFound && create => crate::private::create_dir(path)
            .map_err(|e| unavailable(format!("cannot create it: {e}"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(unavailable("does not exist".into())),
        Err(e) => Err(unavailable(e.to_string())),
    }
}

/// Explains a failure to open the database file in `dir`.
pub(crate) fn open_error(dir: &Path, e: DatabaseError) -> StorageError {
    let reason = match &e {
        DatabaseError::DatabaseAlreadyOpen => "locked by another process (or already open)".into(),
        DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == io::ErrorKind::PermissionDenied
                || io.kind() == io::ErrorKind::ReadOnlyFilesystem =>
        {
            format!("not writable: {io}")
        }
        other => other.to_string(),
    };
    StorageError::Unavailable(format!("spool directory {}: {reason}", dir.display()))
}

/// A record to set aside: its `meta` key, id (when the key is one), why, and its raw bytes.
#[derive(Debug, Clone)]
pub(crate) struct Bad {
    pub key: Vec<u8>,
    pub id: Option<QueueId>,
    pub reason: String,
    pub raw: Vec<u8>,
}

/// Reconciles the database with the body directory, already scanned (`files`, `strangers`;
/// see the module docs), reading only the schedule index — plus the metadata rows when some have no valid schedule row (their count
/// differs, which redb tells without reading them), and every one when `verify_records` is
/// set. Returns the report and the schedule in due order, minus what was set aside.
pub(crate) fn reconcile_scanned(
    db: &Database,
    bodies: &BodyDir,
    verify_records: bool,
    mut files: HashSet<QueueId>,
    strangers: Vec<String>,
) -> Result<(StartupReport, Vec<ScheduleEntry>), StorageError> {
    let mut found = Found::default();
    {
        let read = db
            .begin_read()
            .map_err(|e| error::redb_any("cannot read spool", e))?;
        let (meta, states) = (read_meta(&read)?, read_state(&read)?);
        let schedule = read
            .open_table(SCHEDULE)
            .map_err(|e| error::redb_any("cannot open schedule table", e))?;
        let mut scheduled = HashSet::new();
        for row in schedule
            .iter()
            .map_err(|e| error::db("cannot read schedule", e))?
        {
            let (key, value) = row.map_err(|e| error::db("cannot read schedule", e))?;
            match decode_schedule(key.value(), value.value()) {
                None => found.damaged.push(key.value().to_vec()),
                Some(row) => {
                    scheduled.insert(row.entry.id);
                    if row.body == BodyPlace::File && !files.remove(&row.entry.id) {
                        found
                            .bad
                            .push(bad_record(&meta, row.entry.id, "body file missing")?);
                    } else {
                        found.entries.push(row.entry);
                    }
                }
            }
        }
        let metas = meta
            .len()
            .map_err(|e| error::db("cannot read meta table", e))?;
        if metas != scheduled.len() as u64 || !found.damaged.is_empty() {
            let tables = (&meta, &states);
            let stored = unscheduled(tables, &scheduled, &mut files, &mut found)?;
            // Schedule rows naming no metadata row: nothing to deliver; removed.
            let (kept, stale): (Vec<_>, Vec<_>) = std::mem::take(&mut found.entries)
                .into_iter()
                .partition(|e| stored.contains(&e.id));
            found.entries = kept;
            for entry in stale {
                tracing::warn!(id = %entry.id, "spool schedule row without metadata removed");
                found
                    .damaged
                    .push(schedule_key(entry.next_attempt, entry.id).to_vec());
                if bodies.path_of(entry.id).exists() {
                    files.insert(entry.id);
                }
            }
        }
        if verify_records {
            found.bad.extend(undecodable(&meta, &states, None)?);
        }
    }
    let Found {
        mut entries,
        bad,
        damaged,
        rebuild,
    } = found;
    entries.extend(rebuild_schedule(db, damaged, rebuild)?);
    entries.sort_by_key(|e| (e.next_attempt, e.id));
    let quarantined = quarantine::quarantine(db, bad)?;
    let set_aside: HashSet<String> = quarantined.iter().map(|q| q.key.clone()).collect();
    if !set_aside.is_empty() {
        entries.retain(|e| !set_aside.contains(&format!("meta/{}", e.id)));
    }
    // A quarantined message keeps its body file: the quarantine keeps everything.
    let kept = quarantine::quarantined_ids(db)?;
    files.retain(|id| !kept.contains(id));
    let orphan_bodies = remove_orphans(bodies, files);
    for name in &strangers {
        tracing::warn!(file = %name, "unexpected file in the spool body directory, left alone");
    }
    let packs = if verify_records {
        crate::packs::check(db, None)?
    } else {
        crate::PackCheck::default()
    };
    let report = StartupReport {
        messages: entries.len() as u64,
        quarantined,
        orphan_bodies,
        strangers,
        packs,
    };
    Ok((report, entries))
}

/// What the start-up scan found.
#[derive(Default)]
pub(crate) struct Found {
    /// Schedule entries that load as they are.
    pub entries: Vec<ScheduleEntry>,
    /// Records to quarantine.
    pub bad: Vec<Bad>,
    /// Schedule keys whose row does not decode, or names no metadata row: removed.
    pub damaged: Vec<Vec<u8>>,
    /// Readable records without a valid schedule row: their row is written again.
    pub rebuild: Vec<(QueueId, MetaRecord)>,
}

/// The record of `id` to set aside for `reason`, with its raw row (empty when it has none).
pub(crate) fn bad_record(meta: &Rows, id: QueueId, reason: &str) -> Result<Bad, StorageError> {
    let key = id_key(id).to_vec();
    let raw = meta
        .get(key.as_slice())
        .map_err(|e| error::db("cannot read meta table", e))?
        .map(|v| v.value().to_vec())
        .unwrap_or_default();
    Ok(Bad {
        key,
        id: Some(id),
        reason: reason.to_owned(),
        raw,
    })
}

/// Finds the metadata rows that no valid schedule row names: a readable one is rebuilt (its
/// schedule row is derived from the record), one whose body file is missing or that does not
/// decode is set aside. Returns the id of every metadata row.
pub(crate) fn unscheduled(
    (meta, states): (&Rows, &Rows),
    scheduled: &HashSet<QueueId>,
    files: &mut HashSet<QueueId>,
    found: &mut Found,
) -> Result<HashSet<QueueId>, StorageError> {
    let mut stored = HashSet::new();
    for row in meta
        .iter()
        .map_err(|e| error::db("cannot read meta table", e))?
    {
        let (key, value) = row.map_err(|e| error::db("cannot read meta table", e))?;
        let Some(id) = key_id(key.value()) else {
            continue; // left to the record check, which quarantines it
        };
        stored.insert(id);
        if scheduled.contains(&id) {
            continue;
        }
        let state = states
            .get(key.value())
            .map_err(|e| error::db("cannot read state table", e))?;
        let decoded = MetaRecord::decode_rows(value.value(), state.as_ref().map(|s| s.value()));
        let reason = match decoded {
            Ok((record, _)) if record.body == BodyPlace::File && !files.remove(&id) => {
                "body file missing".to_owned()
            }
            Ok((record, _)) => {
                tracing::warn!(%id, "spool schedule row missing or damaged; rebuilt from the record");
                found.rebuild.push((id, record));
                continue;
            }
            Err(reason) => reason,
        };
        found.bad.push(Bad {
            key: key.value().to_vec(),
            id: Some(id),
            reason,
            raw: value.value().to_vec(),
        });
    }
    Ok(stored)
}

/// Removes the damaged schedule rows and writes the schedule rows of `rebuild`, in one commit;
/// returns the rebuilt entries.
pub(crate) fn rebuild_schedule(
    db: &Database,
    damaged: Vec<Vec<u8>>,
    rebuild: Vec<(QueueId, MetaRecord)>,
) -> Result<Vec<ScheduleEntry>, StorageError> {
    if damaged.is_empty() && rebuild.is_empty() {
        return Ok(Vec::new());
    }
    // redb's error is large but ends the whole commit; not worth boxing.
    #[allow(clippy::result_large_err)]
    let commit = || -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        {
            let mut schedule = txn.open_table(SCHEDULE)?;
            for key in &damaged {
                schedule.remove(key.as_slice())?;
            }
            for (id, record) in &rebuild {
                schedule.insert(
                    record.schedule_key(*id).as_slice(),
                    record.schedule_value().as_slice(),
                )?;
            }
        }
        txn.commit()?;
        Ok(())
    };
    commit().map_err(|e| error::redb_any("cannot rebuild spool schedule rows", e))?;
    Ok(rebuild
        .into_iter()
        .map(|(id, record)| ScheduleEntry {
            id,
            next_attempt: record.meta.next_attempt,
            arrival: record.arrival,
            held: record.meta.held,
            attempts: record.meta.attempts,
            domains: Some(RecipientDomains::pending(&record.meta.recipients)),
        })
        .collect())
}

/// A read-only table of the spool keyed and valued by bytes (`meta`, `state`).
pub(crate) type Rows = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

/// Every message whose rows (its metadata row, and its state row when it has one) cannot be
/// decoded. Stops early (returning what it found) when `stop` is set.
pub(crate) fn undecodable(
    meta: &Rows,
    states: &Rows,
    stop: Option<&AtomicBool>,
) -> Result<Vec<Bad>, StorageError> {
    let mut bad = Vec::new();
    for (n, row) in meta
        .iter()
        .map_err(|e| error::db("cannot read meta table", e))?
        .enumerate()
    {
        if n % 1024 == 0 && stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        let (key, value) = row.map_err(|e| error::db("cannot read meta table", e))?;
        let id = key_id(key.value());
        let state = states
            .get(key.value())
            .map_err(|e| error::db("cannot read state table", e))?;
        let decoded = MetaRecord::decode_rows(value.value(), state.as_ref().map(|s| s.value()));
        let reason = match (id, decoded) {
            (None, _) => "key is not a queue id".to_owned(),
            (Some(_), Err(reason)) => reason,
            (Some(_), Ok(_)) => continue,
        };
        bad.push(Bad {
            key: key.value().to_vec(),
            id,
            reason,
            raw: value.value().to_vec(),
        });
    }
    Ok(bad)
}

/// Removes body files that no metadata refers to.
pub(crate) fn remove_orphans(bodies: &BodyDir, orphans: HashSet<QueueId>) -> Vec<QueueId> {
    let mut orphans: Vec<QueueId> = orphans.into_iter().collect();
    orphans.sort();
    for id in &orphans {
        tracing::warn!(%id, "body file without metadata removed (its write never committed)");
        bodies.remove(*id);
    }
    orphans
}
