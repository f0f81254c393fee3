//! The spool's streaming enqueue: a session writes a message's content to a staging file as
//! it arrives, so neither the session nor the writer thread ever holds a large body.
//!
//! The file is `bodies/incoming-<ulid>.tmp`. The session writes each piece on a blocking
//! thread and fdatasyncs the file at the message's end ([`BodySink::finish`]), before the
//! write that stores the message hard-links it as `bodies/<id>` (`BodyDir::adopt`); the writer
//! then fsyncs the directory and commits only the metadata row, which names the file. The
//! staging name is unlinked when the last holder of the staged body lets go (after the store,
//! or when the transaction was refused, aborted or its connection dropped); a crash leaves
//! the `.tmp` file, which start-up removes, and a linked `bodies/<id>` no row names, which
//! start-up removes too.

use std::fs::{self, File};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use envoi_queue::{BodySink, StagedBody, StorageError};
use envoi_types::{BodyGuard, QueueId, SpooledBody};

use crate::error;
use crate::spool::blocking;

/// Unlinks the staging file when the last staged body (or the sink) that names it is dropped.
#[derive(Debug)]
struct StagingFile {
    path: PathBuf,
}

impl BodyGuard for StagingFile {}

impl Drop for StagingFile {
    fn drop(&mut self) {
        // A hard link made from it keeps the data; a leftover name is removed at next start.
        if let Err(e) = fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove staging file");
            }
        }
    }
}

/// A message's content on its way to a staging file.
#[derive(Debug)]
pub(crate) struct SpoolSink {
    /// `None` only while a write runs on a blocking thread, or after a failed one.
    file: Option<File>,
    guard: Arc<StagingFile>,
    len: u64,
    limit: u64,
    eight_bit: bool,
}

impl SpoolSink {
    /// Creates an empty staging file in `dir` for at most `limit` octets.
    pub(crate) async fn create(dir: PathBuf, limit: usize) -> Result<Self, StorageError> {
        let path = dir.join(format!("incoming-{}.tmp", QueueId::new()));
        let guard = Arc::new(StagingFile { path: path.clone() });
        let file = blocking(move || {
            crate::private::file_options()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| error::io("cannot create staging file", &path, &e))
        })
        .await?;
        Ok(Self {
            file: Some(file),
            guard,
            len: 0,
            limit: limit as u64,
            eight_bit: false,
        })
    }

    fn path(&self) -> PathBuf {
        self.guard.path.clone()
    }

    fn take_file(&mut self) -> Result<File, StorageError> {
        self.file
            .take()
            .ok_or_else(|| StorageError::Io("staging file unusable after a failed write".into()))
    }
}

#[async_trait]
impl BodySink for SpoolSink {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        let len = self
            .len
            .checked_add(chunk.len() as u64)
            .filter(|len| *len <= self.limit)
            .ok_or_else(|| {
                StorageError::Full(format!("a body may not exceed {} octets", self.limit))
            })?;
        self.eight_bit |= !chunk.is_ascii();
        let mut file = self.take_file()?;
        let path = self.path();
        let file = blocking(move || {
            file.write_all(&chunk)
                .map_err(|e| error::io("cannot write staging file", &path, &e))?;
            Ok(file)
        })
        .await?;
        self.file = Some(file);
        self.len = len;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<StagedBody, StorageError> {
        let file = self.take_file()?;
        let path = self.path();
        blocking(move || {
            file.sync_data()
                .map_err(|e| error::io("cannot fdatasync staging file", &path, &e))
        })
        .await?;
        let guard: Arc<dyn BodyGuard> = self.guard.clone();
        let body = SpooledBody::new(self.path(), self.len, self.eight_bit).with_guard(guard);
        Ok(StagedBody::File(body))
    }
}
