//! The `quarantine` table: records set aside (at start-up, by the background record check, or
//! when an attempt finds its message unusable) with their raw rows and the reason, so nothing of
//! a message is lost and the rest of the spool works on.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;

use envoi_queue::{QuarantinedRecord, StorageError};
use envoi_types::QueueId;
use redb::{Database, ReadableTable};

use crate::error;
use crate::open::{bad_record, undecodable, Bad};
use crate::schema::{
    encode_quarantined, quarantine_key, quarantined_reason, read_meta, read_state, schedule_key_id,
    META, QUARANTINE, SCHEDULE, STATE,
};

/// Moves bad records to the quarantine table in one commit (their raw rows, which hold any
/// inline body, and their state rows), and removes their schedule rows. A record that changed since it was found
/// (removed or rewritten meanwhile) is left alone.
pub(crate) fn quarantine(
    db: &Database,
    bad: Vec<Bad>,
) -> Result<Vec<QuarantinedRecord>, StorageError> {
    if bad.is_empty() {
        return Ok(Vec::new());
    }
    // redb's error is large but ends the whole commit; not worth boxing.
    #[allow(clippy::result_large_err)]
    let commit = || -> Result<Vec<QuarantinedRecord>, redb::Error> {
        let txn = db.begin_write()?;
        let mut report = Vec::new();
        {
            let mut meta = txn.open_table(META)?;
            let mut states = txn.open_table(STATE)?;
            let mut schedule = txn.open_table(SCHEDULE)?;
            let mut quarantine = txn.open_table(QUARANTINE)?;
            let ids: HashSet<QueueId> = bad.iter().filter_map(|b| b.id).collect();
            let mut stale = Vec::new();
            for row in schedule.iter()? {
                let (key, _) = row?;
                if schedule_key_id(key.value()).is_none_or(|id| ids.contains(&id)) {
                    stale.push(key.value().to_vec());
                }
            }
            for key in stale {
                schedule.remove(key.as_slice())?;
            }
            for Bad {
                key,
                id,
                reason,
                raw,
            } in bad
            {
                let current = meta.get(key.as_slice())?.map(|v| v.value().to_vec());
                if current.unwrap_or_default() != raw {
                    continue;
                }
                let name = quarantine_key(id, &key);
                tracing::error!(record = %name, %reason, "spool record quarantined");
                let state = states.remove(key.as_slice())?;
                let state = state.as_ref().map(|s| s.value());
                let kept = encode_quarantined(&reason, &raw, state);
                quarantine.insert(name.as_str(), kept.as_slice())?;
                meta.remove(key.as_slice())?;
                report.push(QuarantinedRecord { key: name, reason });
            }
        }
        txn.commit()?;
        Ok(report)
    };
    commit().map_err(|e| error::redb_any("cannot quarantine spool records", e))
}

/// Finds undecodable metadata records and quarantines them, then checks that the packs'
/// counts agree with the rows naming them (`crate::packs::check`, which repairs them). Stops
/// early when `stop` is set.
pub(crate) fn verify(
    db: &Database,
    stop: Option<&AtomicBool>,
) -> Result<Vec<QuarantinedRecord>, StorageError> {
    let bad = {
        let read = db
            .begin_read()
            .map_err(|e| error::redb_any("cannot read spool", e))?;
        let (meta, states) = (read_meta(&read)?, read_state(&read)?);
        undecodable(&meta, &states, stop)?
    };
    let quarantined = quarantine(db, bad)?;
    crate::packs::check(db, stop)?;
    Ok(quarantined)
}

/// Quarantines the message `id` found unusable at attempt time (`reason`), unless its row
/// changed meanwhile; logs it. Its body file, if any, stays.
pub(crate) fn quarantine_message(
    db: &Database,
    id: QueueId,
    reason: &str,
) -> Result<Vec<QuarantinedRecord>, StorageError> {
    let bad = {
        let read = db
            .begin_read()
            .map_err(|e| error::redb_any("cannot read spool", e))?;
        let meta = read_meta(&read)?;
        bad_record(&meta, id, reason)?
    };
    if bad.raw.is_empty() {
        return Ok(Vec::new()); // removed meanwhile
    }
    quarantine(db, vec![bad])
}

/// The ids of the quarantined messages (their body files are kept).
pub(crate) fn quarantined_ids(db: &Database) -> Result<HashSet<QueueId>, StorageError> {
    Ok(list_quarantine(db)?
        .iter()
        .filter_map(|q| q.key.strip_prefix("meta/")?.parse().ok())
        .collect())
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
        let reason = quarantined_reason(value.value());
        out.push(QuarantinedRecord {
            key: key.value().to_owned(),
            reason,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failed assertion

    use super::*;
    use crate::schema::{create_tables, id_key};

    #[test]
    fn a_quarantined_message_keeps_its_state_row_in_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("q.redb")).unwrap();
        create_tables(&db).unwrap();
        let id = QueueId::new();
        let (row, state) = (vec![9u8, 1, 2], vec![1u8, 7]);
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(id_key(id).as_slice(), row.as_slice())
            .unwrap();
        txn.open_table(STATE)
            .unwrap()
            .insert(id_key(id).as_slice(), state.as_slice())
            .unwrap();
        txn.commit().unwrap();
        let report = quarantine_message(&db, id, "undecodable").unwrap();
        assert_eq!(report.len(), 1);
        let read = db.begin_read().unwrap();
        assert!(read_meta(&read)
            .unwrap()
            .get(id_key(id).as_slice())
            .unwrap()
            .is_none());
        let states = read.open_table(STATE).unwrap();
        assert!(states.get(id_key(id).as_slice()).unwrap().is_none());
        let table = read.open_table(QUARANTINE).unwrap();
        let entry = table.get(format!("meta/{id}").as_str()).unwrap().unwrap();
        let (reason, raw, kept) =
            postcard::from_bytes::<(String, Vec<u8>, Option<Vec<u8>>)>(entry.value()).unwrap();
        assert_eq!(
            (reason.as_str(), raw, kept),
            ("undecodable", row, Some(state))
        );
    }
}
