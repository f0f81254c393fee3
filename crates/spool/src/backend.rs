//! The storage under redb: the database file, with two things redb's own file backend lacks.
//!
//! - **Forgetting cached pages.** After a failed `fsync`, Linux marks the pages it could not
//!   write clean and keeps them readable in the page cache: a process that reads the file again
//!   (a reopened database, or a restarted daemon) sees writes that never reached the disk, and
//!   a later commit that builds on them is acknowledged on top of pages a power cut will lose.
//!   So every open of the database first asks the kernel to drop the file's clean cached pages
//!   (`posix_fadvise(POSIX_FADV_DONTNEED)`), and reads come from the disk.
//! - **Noticing a failed fsync.** Every `sync_data` failure is recorded in a flag the spool
//!   checks: from then on the spool stops for good (see `crate::handle`), because what it can
//!   read in this process is no longer known to be what is on disk.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use redb::backends::FileBackend;
use redb::{DatabaseError, StorageBackend};

/// A redb backend the spool can open: a [`StorageBackend`] that can also drop what the
/// operating system caches of it, so that reads after that come from the disk.
pub trait SpoolBackend: StorageBackend {
    /// Drops the cached pages of the database that are not waiting to be written (clean
    /// pages), as Linux's `POSIX_FADV_DONTNEED` does. Called before every open of the database.
    ///
    /// # Errors
    /// When the operating system refuses; the spool logs it and opens all the same.
    fn drop_cached_pages(&self) -> io::Result<()>;
}

/// The database file, with redb's own backend (which takes the file lock) for reads and writes.
#[derive(Debug)]
pub(crate) struct DatabaseFile {
    redb: FileBackend,
    /// The same open file, for `posix_fadvise`.
    file: File,
}

impl DatabaseFile {
    /// Opens (creating if needed) the database file and takes its lock.
    pub fn open(path: &Path) -> Result<Self, DatabaseError> {
        let file = crate::private::file_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let advice = file.try_clone()?;
        Ok(Self {
            redb: FileBackend::new(file)?,
            file: advice,
        })
    }
}

impl StorageBackend for DatabaseFile {
    fn len(&self) -> Result<u64, io::Error> {
        self.redb.len()
    }

    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, io::Error> {
        self.redb.read(offset, len)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.redb.set_len(len)
    }

    fn sync_data(&self, eventual: bool) -> Result<(), io::Error> {
        self.redb.sync_data(eventual)
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.redb.write(offset, data)
    }
}

impl SpoolBackend for DatabaseFile {
    #[cfg(target_os = "linux")]
    fn drop_cached_pages(&self) -> io::Result<()> {
        rustix::fs::fadvise(&self.file, 0, None, rustix::fs::Advice::DontNeed)
            .map_err(io::Error::from)
    }

    #[cfg(not(target_os = "linux"))]
    fn drop_cached_pages(&self) -> io::Result<()> {
        Ok(())
    }
}

/// Wraps the backend redb uses and records any failed `sync_data` in a shared flag.
#[derive(Debug)]
pub(crate) struct Watched<B> {
    inner: B,
    sync_failed: Arc<AtomicBool>,
}

impl<B: SpoolBackend> Watched<B> {
    /// `backend`, its cached pages dropped first (failure is logged: at worst the spool reads
    /// what the cache holds, as it did before).
    pub fn new(backend: B, sync_failed: Arc<AtomicBool>) -> Self {
        if let Err(e) = backend.drop_cached_pages() {
            tracing::warn!(error = %e, "cannot drop the spool database's cached pages");
        }
        Self {
            inner: backend,
            sync_failed,
        }
    }
}

impl<B: StorageBackend> StorageBackend for Watched<B> {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, io::Error> {
        self.inner.read(offset, len)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.inner.set_len(len)
    }

    fn sync_data(&self, eventual: bool) -> Result<(), io::Error> {
        self.inner.sync_data(eventual).inspect_err(|e| {
            tracing::error!(error = %e, "spool database fsync failed");
            self.sync_failed.store(true, Ordering::SeqCst);
        })
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.inner.write(offset, data)
    }
}
