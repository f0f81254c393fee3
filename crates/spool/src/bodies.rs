//! Message bodies kept as files: `bodies/<id>`, immutable once written.
//!
//! A body file is written as `bodies/<id>.tmp`, fdatasync'd, linked as `bodies/<id>` (the `.tmp`
//! name is then unlinked); the
//! directory is fsync'd once per group commit by the writer, before the metadata commit that
//! refers to the file. A body file is unlinked only after the commit that removed its metadata.
//! So a crash leaves at worst a `.tmp` file or a body without metadata, both removed at start.
//!
//! A streamed message's rest is staged as `bodies/incoming-<ulid>.tmp` by the receiving session
//! (`crate::staging`), fdatasync'd at its end, then hard-linked as `bodies/<id>` by the write
//! that stores the message: the same steps, with the data written before the write began.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use envoi_queue::StorageError;
use envoi_types::{QueueId, SpooledBody};

use crate::error;
use crate::failpoint;

/// The directory of body files.
#[derive(Debug, Clone)]
pub(crate) struct BodyDir {
    path: PathBuf,
}

impl BodyDir {
    /// The body directory under `spool`, created if missing.
    pub fn open(spool: &Path) -> Result<Self, io::Error> {
        let path = spool.join("bodies");
        crate::private::create_dir(&path)?;
        Ok(Self { path })
    }

    /// Where the body of `id` lives.
    pub fn path_of(&self, id: QueueId) -> PathBuf {
        self.path.join(id.to_string())
    }

    /// Writes the body of `id` durably except for its directory entry (see [`BodyDir::sync`]).
    /// On error nothing named `<id>` is left behind.
    pub fn write(&self, id: QueueId, body: &[u8]) -> Result<(), StorageError> {
        let tmp = self.path.join(format!("{id}.tmp"));
        let result = write_synced(&tmp, body)
            .map_err(|e| error::io("cannot write body file", &tmp, &e))
            .and_then(|()| self.link_as(&tmp, id));
        // Best effort: a leftover .tmp is removed at the next start anyway.
        let _ = fs::remove_file(&tmp);
        if let Err(e) = &result {
            tracing::error!(%id, error = %e, "cannot store a message body file");
        }
        failpoint::hit("write.body_file_synced");
        result
    }

    /// Names the staged file `rest` (already fdatasync'd by its sink) as the body file of
    /// `id`, durably except for its directory entry (see [`BodyDir::sync`]). A hard link: the
    /// staged file may serve several copies of one message. A file of another directory (or
    /// file system) is copied instead.
    pub fn adopt(&self, id: QueueId, rest: &SpooledBody) -> Result<(), StorageError> {
        let target = self.path_of(id);
        match fs::hard_link(rest.path(), &target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(StorageError::DuplicateId(id))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(error::io("staged body file is gone:", rest.path(), &e))
            }
            Err(_) => self.copy_in(id, rest),
        }
    }

    /// [`BodyDir::adopt`] by copy, streamed through a bounded buffer.
    fn copy_in(&self, id: QueueId, rest: &SpooledBody) -> Result<(), StorageError> {
        let tmp = self.path.join(format!("{id}.tmp"));
        let copied = File::open(rest.path())
            .and_then(|mut from| {
                let mut to = crate::private::file_options()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&tmp)?;
                io::copy(&mut from, &mut to)?;
                to.sync_data()
            })
            .map_err(|e| error::io("cannot copy body file to", &tmp, &e));
        let result = copied.and_then(|()| self.link_as(&tmp, id));
        let _ = fs::remove_file(&tmp);
        result
    }

    /// Names the finished file `tmp` as the body of `id`. A hard link, not a rename: it fails
    /// instead of replacing the body of a message already stored under this id. The caller
    /// then drops the .tmp name; losing that unlink in a crash only leaves a .tmp file,
    /// removed at the next start.
    fn link_as(&self, tmp: &Path, id: QueueId) -> Result<(), StorageError> {
        let target = self.path_of(id);
        fs::hard_link(tmp, &target).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                StorageError::DuplicateId(id)
            } else {
                error::io("cannot link body file to", &target, &e)
            }
        })
    }

    /// The directory itself (where staging files are created too).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// Makes every rename into the directory durable (one fsync for a whole group).
    pub fn sync(&self) -> Result<(), StorageError> {
        File::open(&self.path)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| error::io("cannot fsync directory", &self.path, &e))
    }

    /// Reads the body of `id`; `Ok(None)` when the file is missing.
    pub fn read(&self, id: QueueId) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.path_of(id);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(error::io("cannot read body file", &path, &e)),
        }
    }

    /// Unlinks the body of `id` after its metadata is gone. Failure only leaves an orphan,
    /// which the next start removes, so it is logged, not returned.
    pub fn remove(&self, id: QueueId) {
        let path = self.path_of(id);
        if let Err(e) = fs::remove_file(&path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(%id, path = %path.display(), error = %e, "cannot remove body file");
            }
        }
    }

    /// At start: removes `.tmp` files and returns the ids of the body files present, plus the
    /// names of files that are neither (left alone, reported).
    pub fn scan(&self) -> Result<(HashSet<QueueId>, Vec<String>), StorageError> {
        let mut ids = HashSet::new();
        let mut strangers = Vec::new();
        let entries = fs::read_dir(&self.path)
            .map_err(|e| error::io("cannot list body directory", &self.path, &e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| error::io("cannot list body directory", &self.path, &e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                // A body whose write never finished: no metadata can refer to it.
                tracing::info!(file = %name, "removing unfinished body file");
                let _ = fs::remove_file(entry.path());
            } else if let Ok(id) = name.parse::<QueueId>() {
                ids.insert(id);
            } else {
                strangers.push(name);
            }
        }
        Ok((ids, strangers))
    }
}

fn write_synced(path: &Path, body: &[u8]) -> io::Result<()> {
    let mut file = crate::private::file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.write_all(body)?;
    file.sync_data()
}
