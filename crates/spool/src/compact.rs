//! Offline compaction of a spool's database ([`compact`]): what `envoi spool compact` runs
//! while no daemon has the spool open.
//!
//! The live spool reuses the pages a commit frees, and gives the end of the file back only
//! when it is free (docs/architecture.md, section 4, "Disk space"); compaction moves pages
//! down to the lowest free ones (redb's `Database::compact`), so the file can then shrink to
//! what the database holds.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use envoi_queue::StorageError;
use redb::{Builder, Database};

use crate::backend::DatabaseFile;
use crate::error;
use crate::open;
use crate::schema::{recorded_layout, FORMAT, LAYOUT, RAISED_LAYOUTS};
use crate::DB_FILE;

/// What a database file takes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    /// Its length.
    pub len: u64,
    /// The octets the filesystem allocated to it (what `du` counts; less than `len` where
    /// the file is sparse).
    pub allocated: u64,
}

/// The database file before and after [`compact`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactReport {
    /// Before compaction.
    pub before: DiskUsage,
    /// After.
    pub after: DiskUsage,
}

/// Compacts the database of the spool in `dir`, which no process may have open: the
/// database's lock makes a running daemon's spool (or any other open) a refusal, before
/// anything is changed. Body files are not touched. Every step is a redb commit, so a crash
/// midway leaves a database as good as before, merely less compact.
///
/// # Errors
/// `Unavailable` when `dir` or its database does not exist, the database is open elsewhere,
/// or its layout is not one this build reads; `Io` when compaction fails.
pub fn compact(dir: &Path) -> Result<CompactReport, StorageError> {
    open::check_dir(dir, false)?;
    let path = dir.join(DB_FILE);
    let before = usage(&path).map_err(|e| {
        StorageError::Unavailable(format!("spool database {}: {e}", path.display()))
    })?;
    let file = DatabaseFile::open(&path).map_err(|e| open::open_error(dir, e))?;
    let mut db = Builder::new()
        .create_with_backend(file)
        .map_err(|e| open::open_error(dir, e))?;
    check_layout(&db)?;
    // redb repeats its passes until no page moves; one call says whether anything moved.
    db.compact()
        .map_err(|e| StorageError::Io(format!("cannot compact {}: {e}", path.display())))?;
    drop(db);
    let after = usage(&path).map_err(|e| error::io("cannot measure", &path, &e))?;
    Ok(CompactReport { before, after })
}

/// Refuses a database whose layout this build does not read (it is never changed here).
fn check_layout(db: &Database) -> Result<(), StorageError> {
    let read = db
        .begin_read()
        .map_err(|e| error::redb_any("cannot read spool", e))?;
    let layout = recorded_layout(read.open_table(FORMAT))?;
    match layout {
        Some(layout) if layout == LAYOUT || RAISED_LAYOUTS.contains(&layout) => Ok(()),
        other => Err(StorageError::Unavailable(format!(
            "database layout {} is not one this envoi reads; not compacted",
            other.unwrap_or(1)
        ))),
    }
}

fn usage(path: &Path) -> std::io::Result<DiskUsage> {
    let meta = std::fs::metadata(path)?;
    Ok(DiskUsage {
        len: meta.len(),
        allocated: meta.blocks().saturating_mul(512),
    })
}
