//! envoi's embedded durable store: a [`Spool`] keeps queued messages in one local directory and
//! implements [`envoi_queue::Storage`].
//!
//! Metadata (envelope without body, written once), each message's changing state (per-recipient
//! status, attempts, held flag; a small row of its own from its first change) and a due-ordered
//! schedule index live in a [redb] database, `spool.redb`; bodies up to
//! [`SpoolOptions::inline_max`] (128 KiB by default) live in the same database, at the end of
//! their message's metadata row (one B-tree insert and one remove per message besides the
//! schedule row) or, from 4064 octets, in page-sized chunks with the rest at the end of the
//! row; larger ones in `bodies/<id>` files. A retry or hold rewrites the state row and the
//! schedule row, never a body. Chosen by measurement (bench/spool/README.md): inline bodies share the
//! group commit's single fsync, so at 4 and 64 KiB they are faster than files at any
//! concurrency; past ~128 KiB the one writer thread spends its time copying bodies into pages
//! and files (written and fdatasync'd in parallel by the callers) win.
//! All mutations go through one writer thread that commits concurrent requests together
//! (group commit): one fsync for many callers, each of which returns only once its own change
//! is durable.
//!
//! # Durability argument
//! What is fsync'd, in which order, for each mutation:
//! 1. **File bodies** (only bodies above `inline_max`): written to `bodies/<id>.tmp`,
//!    `fdatasync`ed, hard-linked as `bodies/<id>` — by the caller's blocking thread, before
//!    the request reaches the writer.
//! 2. **Directory**: the writer `fsync`s `bodies/` once per group that contains a file body, so
//!    every link named by the group is durable *before* the commit that refers to it.
//! 3. **Commit**: the writer applies the whole group in one redb write transaction and commits it
//!    with `Durability::Immediate`: redb writes the new pages and a checksummed header and
//!    returns only after `fsync`; recovery after a crash picks the last header whose checksum
//!    verifies, so a commit is all there or not there.
//! 4. **Reply**: only after the commit returned `Ok` does any caller of the group get `Ok`.
//! 5. **Unlinks**: a body file is unlinked only after the commit that removed its metadata.
//!
//! Why a crash at any instant keeps every acknowledged message: an `Ok` is sent after step 3,
//! so its metadata, schedule row and inline body are in a durable commit, and its file body
//! (if any) was durable in steps 1–2, before that commit. A crash before step 3 completes
//! leaves the previous commit, plus at worst a `.tmp` file or a body file that no metadata names;
//! start-up removes both (no client was told such a message was stored). A crash between the
//! commit and an unlink leaves a body without metadata, removed the same way. A removal or
//! reschedule is one commit, so a delivered message (removed, or its recipient marked
//! delivered) cannot come back after `Ok`; a crash before it commits leaves the previous state,
//! which is the at-least-once window (docs/architecture.md, section 1: nothing is sent twice
//! but what was in flight).
//!
//! Failures: a failed write, fsync or commit fails every request of its group (`Full` for
//! ENOSPC, else `Io`) and is never retried. After a failed *write* (disk full, say) the
//! database is closed and reopened from what is durable on disk (redb refuses work after an
//! I/O error), so the store works again once the cause is gone, without a restart. After a
//! failed *fsync* of the database it is not: Linux keeps the pages it failed to write readable
//! in the page cache and reports the error once, so a reopen would read the failed commit back
//! and acknowledge later commits built on pages a power cut loses. The spool then **stops for
//! good** ([`Spool::failure`], [`Spool::stopped`]): every call fails with `Unavailable`, and
//! `envoi serve` exits non-zero for a supervisor to restart it. Every open of the database
//! first drops the file's clean cached pages (`POSIX_FADV_DONTNEED`), so the restarted process
//! reads the disk. A panic in the writer thread stops the spool the same way: it may have
//! unwound from inside redb mid-commit, and redb's in-memory state is then not trusted, not
//! even to be dropped (its `Drop` writes allocator state). A request may have reached the disk
//! even though its caller got `Err`: that can only duplicate a message the client will resend,
//! never lose one.
//!
//! Start-up ([`Spool::open`]) reads the schedule index in due order — never a body, and no
//! metadata record — and keeps it for the first [`envoi_queue::Storage::load_schedule`]. Each
//! schedule row carries where its body is, so messages whose body file is missing go to the
//! `quarantine` table (logged, listed by [`envoi_queue::Storage::quarantined`]). When redb's
//! row counts of the two tables differ, the metadata rows are scanned too: a readable record
//! whose schedule row is damaged or missing gets it rebuilt, a schedule row naming no metadata
//! row is removed. Body files that neither a message nor a quarantined record names are removed
//! and logged, all before `open` returns: a quarantined message keeps its body file. Every
//! metadata record is then decoded by a background thread (or during `open` with
//! [`SpoolOptions::verify_at_open`]); undecodable ones are quarantined the same way. Until the
//! check reaches one, a `get`/`claim` of it fails with `Corrupt`, never a panic; a `claim` that
//! finds its message unusable (its body file missing, say) quarantines it at once. An inline
//! body is the tail of its metadata row, so a body cut short or missing makes the row
//! undecodable (its length is checked against the record's): that check finds it, and it reads
//! inline bodies along with the records.
//!
//! The database records its layout version (table `format`); a layout 2, 3 or 4 database is
//! raised to layout 5 (the `state` and `chunks` tables, state rows with TLS reports) at open,
//! its rows read as they are;
//! a database of another layout (one written before inline bodies moved into the metadata row
//! has no such record) is refused at open with `Unavailable`, never read as this one.
//!
//! # Streamed bodies
//! [`envoi_queue::Storage::open_body`] gives a staging file, `bodies/incoming-<ulid>.tmp`: the
//! receiving session writes a large message's content there as it arrives and fdatasyncs it at
//! the message's end; the write that stores the message hard-links it as `bodies/<id>` and the
//! writer commits only the row (with the head inline). The staging name goes when its last
//! holder lets go (after the store, or when the transaction was refused or dropped); a crash
//! leaves a `.tmp` file start-up removes. Reading such a message leaves the rest in its file.
//!
//! # Layout
//! - `spool`: the [`Spool`] handle, opening, the writer's lifetime.
//! - `storage`: `impl Storage for Spool`.
//! - `schedule_read`: the schedule read whole, a page at a time, and counted by state.
//! - `writer`: the group-commit writer thread.
//! - `apply`: applying a group's ops inside one write transaction.
//! - `schema`: the on-disk format in one place: file names, tables, layout version, row
//!   layouts (metadata row with its inline body, state row, chunks, big-endian schedule keys),
//!   quarantine entries, and the older record formats still read.
//! - `bodies`: body files.
//! - `staging`: the streaming enqueue's staging files.
//! - `open`: directory checks and start-up reconciliation ([`StartupReport`]).
//! - `deferred`: the start-up checks of a large spool, run in the background after open.
//! - `handle`: the shared database handle, reopening after I/O errors, and stopping for good
//!   after a failed fsync or a writer panic.
//! - `backend`: the database file under redb: dropping its cached pages at every open, and
//!   noticing a failed fsync ([`SpoolBackend`]).
//! - `compact`: offline compaction of the database ([`compact`]).
//! - `error`: mapping I/O and redb errors to [`envoi_queue::StorageError`].
//! - `options`: [`SpoolOptions`].
//! - `read`: a stored message's rows and body, read back.
//! - `quarantine`: records set aside, with their raw rows and why.
//! - `private`: directories 0700 and files 0600 whatever the umask.
//! - `space`: whether the filesystem has room for mail ([`SpoolOptions::min_free`]).
//! - `failpoint`: crash-test failpoints (cargo feature `failpoints`).

mod apply;
mod backend;
mod bodies;
mod compact;
mod deferred;
mod error;
pub mod failpoint;
mod handle;
mod open;
mod options;
mod packs;
mod private;
mod quarantine;
mod read;
mod schedule_read;
mod schema;
mod space;
mod spool;
mod staging;
mod storage;
mod writer;

pub use backend::SpoolBackend;
pub use compact::{compact, CompactReport, DiskUsage};
pub use open::StartupReport;
pub use options::SpoolOptions;
pub use packs::PackCheck;
pub use schema::DB_FILE;
pub use spool::Spool;
