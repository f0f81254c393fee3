//! Mapping I/O and database failures to [`StorageError`], in one place.
//!
//! The queue turns `Full` into `452 4.3.1` and `Io` into `451 4.3.0`; so every path that can see
//! "no space" must keep that distinction, including redb's wrapped I/O errors.

use std::io;
use std::path::Path;

use envoi_queue::StorageError;

/// True when the error means "no space left" (ENOSPC, or a quota).
pub(crate) fn is_full(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// An I/O failure while doing `what` on `path`.
pub(crate) fn io(what: &str, path: &Path, error: &io::Error) -> StorageError {
    let text = format!("{what} {}: {error}", path.display());
    if is_full(error) {
        StorageError::Full(text)
    } else {
        StorageError::Io(text)
    }
}

/// A redb storage error while doing `what`.
pub(crate) fn db(what: &str, error: redb::StorageError) -> StorageError {
    match error {
        redb::StorageError::Io(e) if is_full(&e) => StorageError::Full(format!("{what}: {e}")),
        other => StorageError::Io(format!("{what}: {other}")),
    }
}

/// Any redb error convertible to [`redb::Error`], while doing `what`.
pub(crate) fn redb_any(what: &str, error: impl Into<redb::Error>) -> StorageError {
    match error.into() {
        redb::Error::Io(e) if is_full(&e) => StorageError::Full(format!("{what}: {e}")),
        other => StorageError::Io(format!("{what}: {other}")),
    }
}

/// True when redb refuses further work until the database is reopened.
pub(crate) fn needs_reopen(error: &redb::Error) -> bool {
    matches!(error, redb::Error::Io(_) | redb::Error::PreviousIo)
}

/// A stored record of `id` that cannot be decoded, and why.
pub(crate) fn corrupt(id: envoi_types::QueueId, detail: String) -> StorageError {
    StorageError::Corrupt {
        id: Some(id),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_is_full_and_eio_is_io() {
        let full = io::Error::from_raw_os_error(28);
        let eio = io::Error::from_raw_os_error(5);
        assert!(matches!(
            io("write", Path::new("/x"), &full),
            StorageError::Full(_)
        ));
        assert!(matches!(
            io("write", Path::new("/x"), &eio),
            StorageError::Io(_)
        ));
        assert!(matches!(
            db("commit", redb::StorageError::Io(full)),
            StorageError::Full(_)
        ));
    }
}
