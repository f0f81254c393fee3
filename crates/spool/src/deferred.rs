//! The start-up checks of a large spool, run in the background right after open.
//!
//! Reconciliation at open reads the whole schedule (`crate::open`): about 0.3 s per 100 000
//! messages from a cold disk, so seconds for a large queue, all before the queue can take
//! mail. When the spool holds at least [`crate::SpoolOptions::background_check_from`]
//! messages and its tables agree in size (every metadata row has one schedule row, which
//! redb tells without reading them), open skips that read: nothing found at open could stop
//! the queue from starting. What the read would find is then found here, on the record-check
//! thread, in a snapshot taken during open, before any write:
//!
//! - a schedule row of a message whose body file is missing: the message is quarantined, as
//!   at open (an attempt that reaches it first finds the body missing and quarantines it
//!   itself);
//! - a body file that no message names in the snapshot: removed (no later write can name it:
//!   every message has a new id), unless a quarantined record keeps it;
//! - an undecodable schedule row: removed and rebuilt from its record. The queue skipped the
//!   row when it read the schedule, so that message is attempted from the next start: this
//!   is logged as an error.
//!
//! Findings are logged and quarantined records listed by the admin API; the
//! [`crate::StartupReport`] of such an open has no quarantined records or orphan bodies.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use envoi_queue::{ScheduleEntry, StorageError};
use envoi_types::QueueId;
use redb::{Database, ReadTransaction, ReadableTable, ReadableTableMetadata};

use crate::bodies::BodyDir;
use crate::error;
use crate::open::{self, Found, StartupReport};
use crate::quarantine;
use crate::schema::{decode_schedule, id_key, read_meta, read_state, BodyPlace, SCHEDULE};

/// What open did about reconciliation.
pub(crate) enum Opened {
    /// Reconciled at open: the report, and the schedule in due order.
    Reconciled(StartupReport, Vec<ScheduleEntry>),
    /// A large spool whose tables agree: the checks are left to the background
    /// (this module).
    Deferred(StartupReport, Deferred),
}

/// Reconciles at open (`crate::open`), or, for a spool of at least `background_from`
/// messages whose metadata and schedule tables have as many rows (counted by redb without
/// reading them), only scans the body directory and takes a snapshot for the background
/// checks. `verify_records` always reconciles at open.
pub(crate) fn open_checks(
    db: &Database,
    bodies: &BodyDir,
    verify_records: bool,
    background_from: u64,
) -> Result<Opened, StorageError> {
    let (files, strangers) = bodies.scan()?;
    if !verify_records {
        let snapshot = db
            .begin_read()
            .map_err(|e| error::redb_any("cannot read spool", e))?;
        let metas = read_meta(&snapshot)?
            .len()
            .map_err(|e| error::db("cannot read meta table", e))?;
        let schedules = snapshot
            .open_table(SCHEDULE)
            .map_err(|e| error::redb_any("cannot open schedule table", e))?
            .len()
            .map_err(|e| error::db("cannot read schedule", e))?;
        if schedules >= background_from && metas == schedules {
            for name in &strangers {
                tracing::warn!(file = %name, "unexpected file in the spool body directory, left alone");
            }
            let report = StartupReport {
                messages: schedules,
                strangers,
                ..StartupReport::default()
            };
            return Ok(Opened::Deferred(report, Deferred { files, snapshot }));
        }
    }
    let (report, entries) = open::reconcile_scanned(db, bodies, verify_records, files, strangers)?;
    Ok(Opened::Reconciled(report, entries))
}

/// What open leaves to the background: the body files it saw and a snapshot from then.
pub(crate) struct Deferred {
    /// The body files present at open.
    pub files: HashSet<QueueId>,
    /// The database as it was at open, before any write.
    pub snapshot: ReadTransaction,
}

/// Runs the checks open left (see the module docs). Stops early, doing nothing more, when
/// `stop` is set.
pub(crate) fn check(
    db: &Database,
    bodies: &BodyDir,
    deferred: Deferred,
    stop: &AtomicBool,
) -> Result<(), StorageError> {
    let Deferred {
        mut files,
        snapshot,
    } = deferred;
    let mut found = Found::default();
    let meta = read_meta(&snapshot)?;
    let schedule = snapshot
        .open_table(SCHEDULE)
        .map_err(|e| error::redb_any("cannot open schedule table", e))?;
    for (n, row) in schedule
        .iter()
        .map_err(|e| error::db("cannot read schedule", e))?
        .enumerate()
    {
        if n % 1024 == 0 && stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let (key, value) = row.map_err(|e| error::db("cannot read schedule", e))?;
        match decode_schedule(key.value(), value.value()) {
            None => found.damaged.push(key.value().to_vec()),
            Some(row) if row.body == BodyPlace::File && !files.remove(&row.entry.id) => {
                let bad = open::bad_record(&meta, row.entry.id, "body file missing")?;
                found.bad.push(bad);
            }
            Some(_) => {}
        }
    }
    let mut orphans = HashSet::new();
    for &id in &files {
        let named = meta
            .get(id_key(id).as_slice())
            .map_err(|e| error::db("cannot read meta table", e))?
            .is_some();
        if !named {
            orphans.insert(id);
        }
    }
    if !found.damaged.is_empty() {
        let scheduled = scheduled_ids(&snapshot)?;
        let states = read_state(&snapshot)?;
        open::unscheduled((&meta, &states), &scheduled, &mut files, &mut found)?;
    }
    drop((meta, schedule, snapshot));
    quarantine::quarantine(db, std::mem::take(&mut found.bad))?;
    let kept = quarantine::quarantined_ids(db)?;
    orphans.retain(|id| !kept.contains(id));
    open::remove_orphans(bodies, orphans);
    let (damaged, rebuild) = (found.damaged, found.rebuild);
    if !damaged.is_empty() {
        let rebuilt = open::rebuild_schedule(db, damaged, rebuild)?;
        tracing::error!(
            rebuilt = rebuilt.len(),
            "undecodable spool schedule rows rebuilt after start-up; their messages are attempted from the next start"
        );
    }
    Ok(())
}

/// The ids of every decodable schedule row of `snapshot`.
fn scheduled_ids(snapshot: &ReadTransaction) -> Result<HashSet<QueueId>, StorageError> {
    let schedule = snapshot
        .open_table(SCHEDULE)
        .map_err(|e| error::redb_any("cannot open schedule table", e))?;
    let mut ids = HashSet::new();
    for row in schedule
        .iter()
        .map_err(|e| error::db("cannot read schedule", e))?
    {
        let (key, value) = row.map_err(|e| error::db("cannot read schedule", e))?;
        if let Some(row) = decode_schedule(key.value(), value.value()) {
            ids.insert(row.entry.id);
        }
    }
    Ok(ids)
}
