//! A message body kept in a file instead of memory: what a store hands back for a large
//! streamed message, and what a streaming receiver hands to the store.
//!
//! Only the file's path, length and 8-bit flag are held; readers open the file themselves and
//! read it in pieces, so a large body never needs a buffer of its size. An optional guard is
//! dropped with the last clone: a store uses it to remove a staging file nobody names any more.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Something kept alive as long as a [`SpooledBody`] (or a clone) exists; dropping the last
/// one lets it act, for example unlink a staging file.
pub trait BodyGuard: Send + Sync + fmt::Debug {}

/// The part of a message that lives in a file, from offset 0 to its length.
#[derive(Clone)]
pub struct SpooledBody {
    path: Arc<PathBuf>,
    len: u64,
    eight_bit: bool,
    guard: Option<Arc<dyn BodyGuard>>,
}

impl SpooledBody {
    /// The body in the file at `path`, `len` octets long; `eight_bit` when some octet has its
    /// high bit set.
    pub fn new(path: PathBuf, len: u64, eight_bit: bool) -> Self {
        Self {
            path: Arc::new(path),
            len,
            eight_bit,
            guard: None,
        }
    }

    /// The same body, keeping `guard` alive until the last clone is dropped.
    #[must_use]
    pub fn with_guard(mut self, guard: Arc<dyn BodyGuard>) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Where the bytes are.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size in octets.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when some octet has its high bit set.
    pub fn has_8bit(&self) -> bool {
        self.eight_bit
    }

    /// Reads the whole body into memory (for the rare callers that need it contiguous, such
    /// as a bounce quoting a message whole).
    ///
    /// # Errors
    /// The file cannot be read, or its length is not the recorded one.
    pub fn read_all(&self) -> std::io::Result<Vec<u8>> {
        let bytes = std::fs::read(self.path.as_path())?;
        if bytes.len() as u64 != self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "body file {} is {} octets, {} expected",
                    self.path.display(),
                    bytes.len(),
                    self.len
                ),
            ));
        }
        Ok(bytes)
    }
}

impl fmt::Debug for SpooledBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpooledBody")
            .field("path", &self.path)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Two spooled bodies are equal when they are the same bytes of the same file.
impl PartialEq for SpooledBody {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.len == other.len
    }
}

impl Eq for SpooledBody {}
