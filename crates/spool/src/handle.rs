//! The shared database handle, and reopening it after an I/O failure.
//!
//! After a failed write or fsync redb refuses all further work (`PreviousIo`) until the
//! database is closed and opened again; reopening re-reads the last durable commit from disk.
//! So that the store "works again when space returns, without a restart", the writer reopens
//! the database through this handle. The file lock allows one open `Database` per process, so
//! the old one must be dropped first: readers hold it only for one short read.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use envoi_queue::StorageError;
use redb::{Database, DatabaseError};

use crate::bodies::BodyDir;

/// Opens the database (the same file or backend each time).
pub(crate) type Opener = Box<dyn Fn() -> Result<Database, DatabaseError> + Send + Sync>;

/// How long a reopen waits for readers to let go of the old database.
const READER_GRACE: Duration = Duration::from_secs(5);

/// What the writer and the readers share.
pub(crate) struct Shared {
    db: RwLock<Option<Arc<Database>>>,
    /// Why the database is closed, when a reopen failed (so "disk full" stays `Full`).
    closed_because: RwLock<Option<StorageError>>,
    opener: Opener,
    /// Where file bodies live.
    pub bodies: BodyDir,
}

impl Shared {
    /// A handle on an open database.
    pub fn new(db: Database, opener: Opener, bodies: BodyDir) -> Self {
        Self {
            db: RwLock::new(Some(Arc::new(db))),
            closed_because: RwLock::new(None),
            opener,
            bodies,
        }
    }

    /// The open database, or `Io` while it could not be reopened.
    pub fn db(&self) -> Result<Arc<Database>, StorageError> {
        let slot = self.db.read().unwrap_or_else(|p| p.into_inner());
        slot.clone().ok_or_else(|| {
            let why = self
                .closed_because
                .read()
                .unwrap_or_else(|p| p.into_inner());
            why.clone().unwrap_or_else(|| {
                StorageError::Io("spool database is closed after an I/O error".into())
            })
        })
    }

    /// True when the database is open.
    pub fn is_open(&self) -> bool {
        self.db.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Closes the database and opens it again. Only the writer calls this.
    pub fn reopen(&self) {
        let mut slot = self.db.write().unwrap_or_else(|p| p.into_inner());
        if let Some(mut old) = slot.take() {
            let deadline = Instant::now() + READER_GRACE;
            // Readers clone the Arc under the read lock we now exclude, so the count only falls.
            loop {
                match Arc::try_unwrap(old) {
                    Ok(db) => {
                        drop(db);
                        break;
                    }
                    Err(still_shared) if Instant::now() < deadline => {
                        old = still_shared;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(_) => {
                        tracing::error!("spool readers did not release the database; not reopened");
                        return;
                    }
                }
            }
        }
        let outcome = (self.opener)();
        let mut why = self
            .closed_because
            .write()
            .unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(db) => {
                tracing::info!("spool database reopened");
                *slot = Some(Arc::new(db));
                *why = None;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reopen spool database");
                *why = Some(match e {
                    redb::DatabaseError::Storage(e) => {
                        crate::error::db("spool database cannot be reopened", e)
                    }
                    other => {
                        StorageError::Io(format!("spool database cannot be reopened: {other}"))
                    }
                });
            }
        }
    }
}
