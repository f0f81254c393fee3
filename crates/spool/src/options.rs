//! Tuning knobs of a [`crate::Spool`].

/// How a spool is opened and where it keeps bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolOptions {
    /// Bodies up to this many octets are stored inline in the database, committed with their
    /// metadata; larger ones go to their own file. Default 128 KiB: in bench/spool/README.md
    /// inline bodies beat body files at 4 and 64 KiB at every concurrency, tie around 128 KiB,
    /// and lose at 256 KiB and 1 MiB (the single writer then spends its time copying bodies).
    pub inline_max: usize,
    /// Create the spool directory when it does not exist (otherwise opening refuses).
    pub create_dir: bool,
    /// At most this many requests share one commit.
    pub max_batch: usize,
    /// Requests waiting for the writer beyond this many make callers wait (back-pressure).
    pub queue_depth: usize,
    /// redb page cache size in bytes.
    pub cache_size: usize,
    /// Decode every metadata record during [`crate::Spool::open`] (quarantining the
    /// undecodable before it returns). Off: open reads only the schedule index and a background
    /// thread checks the records right after; that keeps start-up time independent of
    /// metadata size (docs/architecture.md, section 4, "Start-up and quarantine").
    pub verify_at_open: bool,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        Self {
            inline_max: 128 * 1024,
            create_dir: false,
            max_batch: 256,
            queue_depth: 1024,
            cache_size: 64 * 1024 * 1024,
            verify_at_open: false,
        }
    }
}
