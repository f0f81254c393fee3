//! Opening a spool: checks on the directory, then the start-up reconciliation.
//!
//! Reconciliation reads every metadata record (never a body): a record that cannot be decoded,
//! or whose body file is missing, is moved to the `quarantine` table with its raw bytes and
//! reported; a body file without metadata is removed (its write never committed, so no client
//! was told it was stored) and reported. The rest loads.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;

use envoi_queue::{QuarantinedRecord, StorageError};
use envoi_types::QueueId;
use redb::{Database, DatabaseError, ReadableTable};

use crate::bodies::BodyDir;
use crate::error;
use crate::handle::{BODIES, META, QUARANTINE, SCHEDULE};
use crate::record::{key_id, schedule_key_id, BodyPlace, MetaRecord};

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
}

/// Checks that `path` is a usable directory, creating it when asked.
pub(crate) fn check_dir(path: &Path, create: bool) -> Result<(), StorageError> {
    let unavailable = |reason: String| {
        StorageError::Unavailable(format!("spool directory {}: {reason}", path.display()))
    };
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(unavailable("is not a directory".into())),
        Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
            fs::create_dir_all(path).map_err(|e| unavailable(format!("cannot create it: {e}")))
        }
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

/// Reconciles the database with the body directory; see the module docs.
pub(crate) fn reconcile(db: &Database, bodies: &BodyDir) -> Result<StartupReport, StorageError> {
    let (mut files, strangers) = bodies.scan()?;
    let mut bad: Vec<(Vec<u8>, Option<QueueId>, String, Vec<u8>)> = Vec::new();
    let mut messages = 0u64;
    {
        let read = db
            .begin_read()
            .map_err(|e| error::redb_any("cannot read spool", e))?;
        let meta = read
            .open_table(META)
            .map_err(|e| error::redb_any("cannot open meta table", e))?;
        for row in meta
            .iter()
            .map_err(|e| error::db("cannot read meta table", e))?
        {
            let (key, value) = row.map_err(|e| error::db("cannot read meta table", e))?;
            let id = key_id(key.value());
            let problem = match (id, MetaRecord::decode(value.value())) {
                (None, _) => Some("key is not a queue id".to_owned()),
                (Some(_), Err(reason)) => Some(reason),
                (Some(id), Ok(record)) => match record.body {
                    BodyPlace::File if !files.remove(&id) => Some("body file missing".to_owned()),
                    _ => None,
                },
            };
            match problem {
                Some(reason) => {
                    bad.push((key.value().to_vec(), id, reason, value.value().to_vec()))
                }
                None => messages += 1,
            }
        }
    }
    let quarantined = quarantine(db, bad)?;
    let orphan_bodies = remove_orphans(bodies, files);
    for name in &strangers {
        tracing::warn!(file = %name, "unexpected file in the spool body directory, left alone");
    }
    Ok(StartupReport {
        messages,
        quarantined,
        orphan_bodies,
        strangers,
    })
}

/// Moves bad records to the quarantine table in one commit, with their schedule rows and
/// inline bodies removed.
fn quarantine(
    db: &Database,
    bad: Vec<(Vec<u8>, Option<QueueId>, String, Vec<u8>)>,
) -> Result<Vec<QuarantinedRecord>, StorageError> {
    if bad.is_empty() {
        return Ok(Vec::new());
    }
    let commit = || -> Result<Vec<QuarantinedRecord>, redb::Error> {
        let txn = db.begin_write()?;
        let mut report = Vec::new();
        {
            let mut meta = txn.open_table(META)?;
            let mut schedule = txn.open_table(SCHEDULE)?;
            let mut inline = txn.open_table(BODIES)?;
            let mut quarantine = txn.open_table(QUARANTINE)?;
            let ids: HashSet<QueueId> = bad.iter().filter_map(|b| b.1).collect();
            let mut stale = Vec::new();
            for row in schedule.iter()? {
                let (key, _) = row?;
                if schedule_key_id(key.value()).is_some_and(|id| ids.contains(&id)) {
                    stale.push(key.value().to_vec());
                }
            }
            for key in stale {
                schedule.remove(key.as_slice())?;
            }
            for (key, id, reason, raw) in bad {
                let name = match id {
                    Some(id) => format!("meta/{id}"),
                    None => format!("meta/{}", hex(&key)),
                };
                tracing::error!(record = %name, %reason, "spool record quarantined");
                let kept = postcard::to_stdvec(&(
                    &reason,
                    &raw,
                    inline.get(key.as_slice())?.map(|b| b.value().to_vec()),
                ))
                .unwrap_or_default();
                quarantine.insert(name.as_str(), kept.as_slice())?;
                meta.remove(key.as_slice())?;
                inline.remove(key.as_slice())?;
                report.push(QuarantinedRecord { key: name, reason });
            }
        }
        txn.commit()?;
        Ok(report)
    };
    commit().map_err(|e| error::redb_any("cannot quarantine spool records", e))
}

/// Removes body files that no metadata refers to.
fn remove_orphans(bodies: &BodyDir, orphans: HashSet<QueueId>) -> Vec<QueueId> {
    let mut orphans: Vec<QueueId> = orphans.into_iter().collect();
    orphans.sort();
    for id in &orphans {
        tracing::warn!(%id, "body file without metadata removed (its write never committed)");
        bodies.remove(*id);
    }
    orphans
}

/// Every quarantined record.
pub(crate) fn list_quarantine(db: &Database) -> Result<Vec<QuarantinedRecord>, StorageError> {
    let read = db
        .begin_read()
        .map_err(|e| error::redb_any("cannot read spool", e))?;
    let table = match read.open_table(QUARANTINE) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(error::redb_any("cannot open quarantine table", e)),
    };
    let mut out = Vec::new();
    for row in table
        .iter()
        .map_err(|e| error::db("cannot read quarantine", e))?
    {
        let (key, value) = row.map_err(|e| error::db("cannot read quarantine", e))?;
        let reason = postcard::from_bytes::<(String, Vec<u8>, Option<Vec<u8>>)>(value.value())
            .map(|v| v.0)
            .unwrap_or_else(|e| format!("(unreadable quarantine entry: {e})"));
        out.push(QuarantinedRecord {
            key: key.value().to_owned(),
            reason,
        });
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
