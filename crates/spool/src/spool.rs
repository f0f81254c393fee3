//! The [`Spool`] handle: opening, the writer thread's lifetime, and the way async callers reach
//! blocking work.
//!
//! No database or file operation runs on an async worker. Reads, and the writing of body files
//! (bodies above [`SpoolOptions::inline_max`]), run on tokio blocking threads. A mutation is a
//! [`Request`] sent to the writer thread with a `tokio::sync::oneshot` for its outcome: the
//! async caller sends it without blocking (`try_send`; only when the writer's queue is full,
//! which is back-pressure, does it finish the send on a blocking thread) and awaits the
//! oneshot, which the writer completes after the group's commit (completing one needs no
//! runtime). So a mutation with inline bodies costs no thread hand-off besides the writer's.
//!
//! Paused test clocks: with tokio's `test-util` clock paused, the runtime advances time to the
//! next timer as soon as no task can make progress — and a task awaiting the writer's reply
//! looks exactly like that, so a test's clock would jump (firing retry timers, leases and
//! timeouts) while a commit is in flight. A running `spawn_blocking` task stops that
//! auto-advance. Tokio can pause time only on a current-thread runtime, so on a current-thread
//! runtime a mutation waits for its reply inside `spawn_blocking`, as every mutation used to:
//! test time then stands still during a commit. Multi-thread runtimes (the daemon's) take the
//! direct path above. Both paths send the same request to the same writer.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use envoi_queue::{QuarantinedRecord, ScheduleEntry, StorageError};
use redb::{Builder, Database};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot;

use crate::backend::{DatabaseFile, SpoolBackend, Watched};
use crate::bodies::BodyDir;
use crate::deferred;
use crate::handle::{Opener, Shared};
use crate::open::{self, StartupReport};
use crate::options::SpoolOptions;
use crate::schema::{create_tables, DB_FILE, NEW_DB_FILE};
use crate::writer::{self, Done, Op, Request};

/// A durable message store in one directory. Cloning is cheap and shares the store.
///
/// Dropping the last clone stops the writer thread (after the requests it already holds are
/// committed) and the background record check, and waits for both: a short block, after which
/// the directory can be opened again.
#[derive(Clone)]
pub struct Spool {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub shared: Arc<Shared>,
    pub options: SpoolOptions,
    pub dir: PathBuf,
    pub report: StartupReport,
    /// The schedule read at open, handed to the first `load_schedule` if nothing changed since.
    startup_schedule: Mutex<Option<Vec<ScheduleEntry>>>,
    sender: Mutex<Option<SyncSender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Tells the background record check to stop (on drop).
    stop_verifier: Arc<AtomicBool>,
    verifier: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.inner.dir)
            .finish()
    }
}

impl Spool {
    /// Opens the spool in `dir`: takes its lock, reconciles it (see [`StartupReport`]) and starts
    /// the writer thread. Blocks; call it at start-up or from a blocking thread.
    ///
    /// # Errors
    /// `Unavailable` naming the path and the reason when the directory is missing (and
    /// [`SpoolOptions::create_dir`] is off), not a directory, not writable, or locked by another
    /// process; `Io` when reconciliation cannot read or write it.
    pub fn open(dir: &Path, options: SpoolOptions) -> Result<Self, StorageError> {
        Self::open_inner(dir, options).inspect_err(|e| {
            tracing::error!(dir = %dir.display(), error = %e, "spool refused to open");
        })
    }

    fn open_inner(dir: &Path, options: SpoolOptions) -> Result<Self, StorageError> {
        open::check_dir(dir, options.create_dir)?;
        let db_path = dir.join(DB_FILE);
        if !db_path.exists() {
            create_database(dir, &db_path)?;
        }
        let cache = options.cache_size;
        let sync_failed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&sync_failed);
        let opener: Opener = Box::new(move || {
            let file = Watched::new(DatabaseFile::open(&db_path)?, Arc::clone(&flag));
            Builder::new()
                .set_cache_size(cache)
                .create_with_backend(file)
        });
        Self::start(dir, options, opener, sync_failed)
    }

    /// Opens a spool whose database lives on a custom backend (`make_backend` is called
    /// again to reopen after an I/O failure; each new backend's cached pages are dropped before
    /// redb reads it); body files still go to `dir`. For tests that model power loss.
    ///
    /// # Errors
    /// As [`Spool::open`].
    pub fn open_with_backend<B, F>(
        dir: &Path,
        options: SpoolOptions,
        make_backend: F,
    ) -> Result<Self, StorageError>
    where
        B: SpoolBackend,
        F: Fn() -> B + Send + Sync + 'static,
    {
        open::check_dir(dir, options.create_dir)?;
        let cache = options.cache_size;
        let sync_failed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&sync_failed);
        let opener: Opener = Box::new(move || {
            Builder::new()
                .set_cache_size(cache)
                .create_with_backend(Watched::new(make_backend(), Arc::clone(&flag)))
        });
        Self::start(dir, options, opener, sync_failed)
    }

    fn start(
        dir: &Path,
        options: SpoolOptions,
        opener: Opener,
        sync_failed: Arc<AtomicBool>,
    ) -> Result<Self, StorageError> {
        let db = opener().map_err(|e| open::open_error(dir, e))?;
        let bodies = BodyDir::open(dir).map_err(|e| {
            StorageError::Unavailable(format!(
                "spool directory {}: cannot use its bodies directory: {e}",
                dir.display()
            ))
        })?;
        create_tables(&db).map_err(|e| match e {
            StorageError::Io(reason) | StorageError::Full(reason) => StorageError::Unavailable(
                format!("spool directory {}: not writable: {reason}", dir.display()),
            ),
            StorageError::Unavailable(reason) => {
                StorageError::Unavailable(format!("spool directory {}: {reason}", dir.display()))
            }
            other => other,
        })?;
        let opened = deferred::open_checks(
            &db,
            &bodies,
            options.verify_at_open,
            options.background_check_from,
        )?;
        let (report, schedule, deferred) = match opened {
            deferred::Opened::Reconciled(report, schedule) => (report, Some(schedule), None),
            deferred::Opened::Deferred(report, deferred) => (report, None, Some(deferred)),
        };
        tracing::info!(
            dir = %dir.display(),
            messages = report.messages,
            quarantined = report.quarantined.len(),
            orphan_bodies = report.orphan_bodies.len(),
            checks_in_background = deferred.is_some(),
            "spool opened"
        );
        let shared = Arc::new(Shared::new(db, opener, sync_failed, bodies));
        let (sender, receiver) = mpsc::sync_channel(options.queue_depth.max(1));
        let max_batch = options.max_batch.max(1);
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("envoi-spool-writer".into())
            .spawn(move || writer::run(writer_shared, receiver, max_batch))
            .map_err(|e| StorageError::Io(format!("cannot start the spool writer: {e}")))?;
        let stop_verifier = Arc::new(AtomicBool::new(false));
        let verifier = if options.verify_at_open {
            None
        } else {
            let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop_verifier));
            let spawned = std::thread::Builder::new()
                .name("envoi-spool-verify".into())
                .spawn(move || {
                    if let Some(deferred) = deferred {
                        if let Err(e) = check_deferred(&shared, deferred, &stop) {
                            tracing::error!(error = %e, "background check of the spool schedule failed");
                        }
                    }
                    if let Err(e) = verify_records(&shared, Some(&stop)) {
                        tracing::error!(error = %e, "background check of spool records failed");
                    }
                });
            match spawned {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the spool record check");
                    None
                }
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                options,
                dir: dir.to_owned(),
                report,
                startup_schedule: Mutex::new(schedule),
                sender: Mutex::new(Some(sender)),
                writer: Mutex::new(Some(writer)),
                stop_verifier,
                verifier: Mutex::new(verifier),
            }),
        })
    }

    /// Decodes every metadata record now and quarantines the undecodable ones (what the
    /// background check after [`Spool::open`] does). Blocks; returns what it set aside.
    ///
    /// # Errors
    /// `Io` when the database cannot be read or written.
    pub fn verify_records(&self) -> Result<Vec<QuarantinedRecord>, StorageError> {
        verify_records(&self.inner.shared, None)
    }

    /// Why the spool stopped for good, if it has: its writer thread panicked, or an fsync of
    /// its database failed. A stopped spool answers every call with that error
    /// (`Unavailable`); only a new process can open the directory again (see
    /// docs/architecture.md, section 4, "Failures").
    pub fn failure(&self) -> Option<StorageError> {
        self.inner.shared.stopped()
    }

    /// Resolves when the spool stops for good, with the reason ([`Spool::failure`]). A daemon
    /// waits on it to exit rather than stay up with a store that refuses everything.
    pub async fn stopped(&self) -> StorageError {
        let mut watch = self.inner.shared.watch_stopped();
        loop {
            if let Some(why) = watch.borrow_and_update().clone() {
                return why;
            }
            if watch.changed().await.is_err() {
                // The sender lives as long as the spool, which `self` keeps alive.
                std::future::pending::<()>().await;
            }
        }
    }

    /// The schedule read at open, once, if no mutation happened since.
    pub(crate) fn take_startup_schedule(&self) -> Option<Vec<ScheduleEntry>> {
        self.inner
            .startup_schedule
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// What reconciliation found when this spool was opened.
    pub fn startup_report(&self) -> &StartupReport {
        &self.inner.report
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The options it was opened with.
    pub fn options(&self) -> &SpoolOptions {
        &self.inner.options
    }

    /// Sends a mutation to the writer and waits until it is durable or failed, without
    /// blocking an async worker (see the module docs for the current-thread case).
    pub(crate) async fn submit(&self, op: Op) -> Result<Done, StorageError> {
        if on_current_thread_runtime() {
            let spool = self.clone();
            return blocking(move || spool.submit_blocking(op)).await;
        }
        self.forget_startup_schedule();
        let (reply, outcome) = oneshot::channel();
        let request = Request { op, reply };
        // The writer's queue is a bounded std channel: `try_send` never blocks, and the
        // writer thread waits on it without a runtime. A full queue is the back-pressure
        // case: the send then waits on a blocking thread instead of an async worker.
        let pending = {
            let sender = self.inner.sender.lock().unwrap_or_else(|p| p.into_inner());
            let sender = sender
                .as_ref()
                .ok_or_else(|| StorageError::Io("spool is closed".into()))?;
            match sender.try_send(request) {
                Ok(()) => None,
                Err(TrySendError::Full(request)) => Some(request),
                Err(TrySendError::Disconnected(_)) => {
                    return Err(StorageError::Io("spool writer has stopped".into()))
                }
            }
        };
        if let Some(request) = pending {
            let spool = self.clone();
            blocking(move || spool.send_blocking(request)).await?;
        }
        // A dropped reply means the writer died mid-commit (a panic): the outcome is unknown
        // to us, so it is an error, never a success.
        outcome
            .await
            .map_err(|_| StorageError::Io("spool writer stopped before replying".into()))?
    }

    /// Sends a mutation to the writer and waits, on the calling (blocking) thread, until it is
    /// durable or failed.
    pub(crate) fn submit_blocking(&self, op: Op) -> Result<Done, StorageError> {
        self.forget_startup_schedule();
        let (reply, outcome) = oneshot::channel();
        self.send_blocking(Request { op, reply })?;
        outcome
            .blocking_recv()
            .map_err(|_| StorageError::Io("spool writer stopped before replying".into()))?
    }

    /// Queues a request for the writer, waiting while its queue is full. Blocks.
    fn send_blocking(&self, request: Request) -> Result<(), StorageError> {
        let sender = self
            .inner
            .sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| StorageError::Io("spool is closed".into()))?;
        sender
            .send(request)
            .map_err(|_| StorageError::Io("spool writer has stopped".into()))
    }

    /// The schedule read at open is stale from the first mutation on.
    fn forget_startup_schedule(&self) {
        drop(self.take_startup_schedule());
    }
}

/// True on a current-thread tokio runtime, the only kind whose clock tokio can pause.
fn on_current_thread_runtime() -> bool {
    Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::CurrentThread)
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_verifier.store(true, Ordering::Relaxed);
        if let Some(verifier) = self
            .verifier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = verifier.join();
        }
        // Closing the channel lets the writer finish the requests it holds and stop.
        drop(self.sender.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(writer) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

/// The checks open left to the background ([`crate::deferred`]).
fn check_deferred(
    shared: &Shared,
    deferred: deferred::Deferred,
    stop: &AtomicBool,
) -> Result<(), StorageError> {
    let db = shared.db()?;
    deferred::check(&db, &shared.bodies, deferred, stop)
}

/// Finds undecodable metadata records and quarantines them, then checks the packs' counts.
fn verify_records(
    shared: &Shared,
    stop: Option<&AtomicBool>,
) -> Result<Vec<QuarantinedRecord>, StorageError> {
    let _turn = shared.check_turn();
    crate::quarantine::verify(&*shared.db()?, stop)
}

/// Runs blocking work off the async workers.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Io(format!("spool task failed: {e}")))?
}

/// Creates the database file atomically: built under a temporary name with every table, made
/// durable, then renamed into place and the directory fsync'd. A process killed while
/// creating leaves only the temporary file, replaced by the next attempt, never a
/// half-initialised `spool.redb` that redb would refuse to open.
fn create_database(dir: &Path, db_path: &Path) -> Result<(), StorageError> {
    let unavailable = |what: &str, e: &dyn std::fmt::Display| {
        StorageError::Unavailable(format!(
            "spool directory {}: cannot create the database ({what}): {e}",
            dir.display()
        ))
    };
    let tmp = dir.join(NEW_DB_FILE);
    match std::fs::remove_file(&tmp) {
        Ok(()) => tracing::info!(file = %tmp.display(), "removing an unfinished database"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(unavailable("remove leftover", &e)),
    }
    // Created empty and private first: redb would create it with the umask's permissions.
    crate::private::file_options()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| unavailable("create", &e))?;
    let db = Database::create(&tmp).map_err(|e| open::open_error(dir, e))?;
    create_tables(&db)?;
    drop(db);
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| unavailable("fsync", &e))?;
    std::fs::rename(&tmp, db_path).map_err(|e| unavailable("rename", &e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| unavailable("fsync directory", &e))
}
