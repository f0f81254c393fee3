//! Tuning knobs of a [`crate::Spool`].
//!
//! With the `serde` feature, [`SpoolOptions`] deserialises from a configuration file's keys, a
//! missing key keeping the field's `Default`. Only [`SpoolOptions::min_free`] is a key (the
//! others are `serde(skip)`): dropping a field's `skip` makes it one, with its default still
//! written only here.

/// How a spool is opened and where it keeps bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct SpoolOptions {
    /// Bodies up to this many octets are stored inline in the database, committed with their
    /// metadata; larger ones go to their own file. Default 128 KiB: in bench/spool/README.md
    /// inline bodies beat body files at 4 and 64 KiB at every concurrency, tie around 128 KiB,
    /// and lose at 256 KiB and 1 MiB (the single writer then spends its time copying bodies).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub inline_max: usize,
    /// Create the spool directory when it does not exist (otherwise opening refuses).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub create_dir: bool,
    /// At most this many requests share one commit.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub max_batch: usize,
    /// Requests waiting for the writer beyond this many make callers wait (back-pressure).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub queue_depth: usize,
    /// redb page cache size in bytes.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub cache_size: usize,
    /// Decode every metadata record during [`crate::Spool::open`] (quarantining the
    /// undecodable before it returns). Off: open reads only the schedule index and a background
    /// thread checks the records right after; that keeps start-up time independent of
    /// metadata size (docs/architecture.md, section 4, "Start-up and quarantine").
    #[cfg_attr(feature = "serde", serde(skip))]
    pub verify_at_open: bool,
    /// A spool holding at least this many messages, whose metadata and schedule tables have
    /// as many rows, checks its schedule against its body files in the background right
    /// after open instead of during it: open then reads neither table, and a queue over it
    /// starts in milliseconds whatever its size (docs/architecture.md, section 4, "Start-up
    /// and quarantine"). Default 50 000: below it, the check at open takes a fraction of a
    /// second. Ignored with [`SpoolOptions::verify_at_open`].
    #[cfg_attr(feature = "serde", serde(skip))]
    pub background_check_from: u64,
    /// The spool reports itself full ([`envoi_queue::StoreHealth::Full`], so the edge answers
    /// `MAIL` with `452 4.3.1` before any body is sent) while its filesystem has fewer octets
    /// free than this; 0 turns the check off. Default 64 MiB: room for two messages of the
    /// default maximum size (25 MiB) and for the database to grow. Raising
    /// `max_message_size`, keep this at least 1.5 times it, as Postfix does.
    pub min_free: u64,
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
            background_check_from: 50_000,
            min_free: 64 * 1024 * 1024,
        }
    }
}
