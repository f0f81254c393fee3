//! The shared database handle, and reopening it after an I/O failure.
//!
//! After a failed write redb refuses all further work (`PreviousIo`) until the database is
//! closed and opened again; reopening re-reads the last durable commit from disk. So that the
//! store "works again when space returns, without a restart", the writer reopens the database
//! through this handle. The file lock allows one open `Database` per process, so
//! the old one must be dropped first: readers hold it only for one short read.
//!
//! Two failures are not reopened but **stop the spool for good** ([`Shared::stop`]): every
//! later call fails with `Unavailable`, [`crate::Spool::stopped`] resolves, and the process must
//! restart (`envoi serve` exits non-zero):
//! - **A failed fsync** of the database. Linux keeps the pages it failed to write readable in
//!   the page cache and reports the error once; a reopen in this process would read the failed
//!   commit back as if it were durable, and the next commit would be acknowledged on top of
//!   pages a power cut loses. Every open drops the file's clean cached pages first
//!   (`crate::backend`; the kernel drops the clean pages no process maps, which is what a
//!   failed writeback leaves), which is what makes the restart read the disk.
//! - **A panic in the writer thread.** It may have unwound from inside redb, halfway through a
//!   commit, so redb's in-memory state (page cache, allocator, locks) is not known to be
//!   consistent. Reopening would mean dropping that `Database`, and redb's `Drop` writes the
//!   allocator state and marks the file cleanly closed from exactly that state; so the old
//!   database is never dropped (it is leaked, its file lock held until the process exits), and
//!   the next process opens the file from its last durable commit, repairing it if needed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use envoi_queue::StorageError;
use redb::{Database, DatabaseError};
use tokio::sync::watch;

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
    /// Set by the database backend when an fsync fails (see the module docs).
    sync_failed: Arc<AtomicBool>,
    /// Why the spool stopped for good, once it has.
    stopped: watch::Sender<Option<StorageError>>,
    /// Where file bodies live.
    pub bodies: BodyDir,
    /// Held by each check of the records and packs: a pack check repairs a count by the
    /// difference its snapshot saw, which is right only once (see `crate::packs::check`).
    checks: Mutex<()>,
}

impl Shared {
    /// A handle on an open database whose backend sets `sync_failed` when an fsync fails.
    pub fn new(
        db: Database,
        opener: Opener,
        sync_failed: Arc<AtomicBool>,
        bodies: BodyDir,
    ) -> Self {
        Self {
            db: RwLock::new(Some(Arc::new(db))),
            closed_because: RwLock::new(None),
            opener,
            sync_failed,
            stopped: watch::Sender::new(None),
            bodies,
            checks: Mutex::new(()),
        }
    }

    /// The turn of one check of the records and packs; others wait for it to end.
    pub fn check_turn(&self) -> MutexGuard<'_, ()> {
        self.checks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open database, or `Io` while it could not be reopened, or `Unavailable` once the
    /// spool has stopped (an fsync failed: then this call stops it).
    pub fn db(&self) -> Result<Arc<Database>, StorageError> {
        self.stop_if_sync_failed();
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

    /// Why the spool stopped for good, if it has.
    pub fn stopped(&self) -> Option<StorageError> {
        self.stopped.borrow().clone()
    }

    /// A receiver that sees the spool stop.
    pub fn watch_stopped(&self) -> watch::Receiver<Option<StorageError>> {
        self.stopped.subscribe()
    }

    /// Stops the spool for good because of `why` (see the module docs): the database is closed
    /// without being dropped, every later call fails with `why`. Idempotent: the first reason
    /// stays.
    pub fn stop(&self, why: StorageError) {
        let mut slot = self.db.write().unwrap_or_else(|p| p.into_inner());
        if self.stopped.borrow().is_some() {
            return;
        }
        tracing::error!(error = %why, "spool stopped; envoi must be restarted");
        // Never dropped: redb's `Drop` would write allocator state and a clean-shutdown mark
        // from in-memory state this process no longer trusts. Readers holding a clone finish
        // their read; the count never reaches zero.
        if let Some(db) = slot.take() {
            std::mem::forget(db);
        }
        *self
            .closed_because
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(why.clone());
        self.stopped.send_replace(Some(why));
    }

    /// Stops the spool if the database's backend saw an fsync fail.
    pub fn stop_if_sync_failed(&self) {
        if self.sync_failed.load(Ordering::SeqCst) && self.stopped.borrow().is_none() {
            self.stop(StorageError::Unavailable(
                "spool stopped after a failed fsync of its database: what this process could \
                 read may not be on disk; restart envoi"
                    .into(),
            ));
        }
    }

    /// Closes the database and opens it again, unless it must stop for good instead (a failed
    /// fsync). Only the writer calls this.
    pub fn reopen(&self) {
        self.stop_if_sync_failed();
        if self.stopped.borrow().is_some() {
            return;
        }
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
