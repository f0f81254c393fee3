//! Reading the stored schedule: the first page before the queue starts, the rest in the
//! background, in due order, while the queue takes mail and attempts what is due.
//!
//! What keeps a page read from an old snapshot from losing or doubling an entry is in the
//! index (`index::loading`). The task holds the queue only while it reads and adds a page,
//! and ends at shutdown or when the queue is dropped; a page that cannot be read is tried
//! again later, and the queue says it is still loading meanwhile.
//!
//! Entries a page gave without their recipients' domains (the spool's: a page must not wait
//! for every message's rows) get them from the store once the page is in, the first page's
//! too, so that start-up does not wait for them; until every entry has its domains the admin
//! summary counts domains by a scan.

use std::sync::Weak;
use std::time::{Duration, Instant};

use envoi_types::QueueId;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::events;
use crate::storage::{ScheduleCursor, ScheduleEntry, SchedulePage, Storage, StorageError};

/// Entries per page: a page is read in a few milliseconds, so the first one delays start-up
/// by that much.
pub(super) const PAGE: usize = 8192;

/// Entries of a page added per turn of the index's lock, as a flush marks them: enqueues
/// and attempts get the lock in between.
const INSERT_CHUNK: usize = 512;

/// The first wait after a page could not be read; doubled per failure up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Reads the first page.
pub(super) async fn first_page(storage: &dyn Storage) -> Result<SchedulePage, StorageError> {
    storage.load_schedule_page(None, PAGE).await
}

/// Where the background load starts and what it has done so far.
pub(super) struct Progress {
    /// After this entry (`None`: from the first).
    pub after: Option<ScheduleCursor>,
    /// True when no page follows the first.
    pub complete: bool,
    /// Entries of the first page given without their domains.
    pub first_unknown: Vec<QueueId>,
    /// Entries indexed so far.
    pub loaded: usize,
    /// When start-up began.
    pub started: Instant,
}

/// Asks the store for the domains the first page came without, then reads the pages after
/// `progress.after` into the index until the last (each page's missing domains asked for once
/// it is in), then ends loading.
pub(super) async fn run(shared: Weak<Shared>, stop: CancellationToken, mut progress: Progress) {
    if let Some(queue) = shared.upgrade() {
        let first = std::mem::take(&mut progress.first_unknown);
        tokio::select! {
            () = learn_domains(&queue, first) => {}
            () = stop.cancelled() => return,
        }
    }
    if progress.complete {
        return;
    }
    let mut delay = FIRST_RETRY;
    loop {
        let Some(queue) = shared.upgrade() else {
            return;
        };
        let read = queue.storage.load_schedule_page(progress.after, PAGE);
        let page = tokio::select! {
            page = queue.with_storage(read) => page,
            () = stop.cancelled() => return,
        };
        match page {
            Ok(page) => {
                delay = FIRST_RETRY;
                let mut added = 0;
                for chunk in page.entries.chunks(INSERT_CHUNK) {
                    let mut index = queue.index();
                    added += index.insert_loaded(chunk);
                    // Straight to a waiter (see `Queue::flush`).
                    parking_lot::MutexGuard::unlock_fair(index);
                }
                tokio::select! {
                    () = learn_domains(&queue, unknown_domains(&page.entries)) => {}
                    () = stop.cancelled() => return,
                }
                progress.loaded += added;
                progress.after = page.next_cursor().or(progress.after);
                if added > 0 {
                    queue.wake.notify_one();
                }
                if page.complete {
                    finished(&queue, &progress);
                    return;
                }
            }
            Err(error) => {
                tracing::error!(%error, retry_in = ?delay, "cannot read the stored schedule; loading paused");
                drop(queue);
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stop.cancelled() => return,
                }
                delay = delay.saturating_mul(2).min(MAX_RETRY);
                continue;
            }
        }
        drop(queue);
        // Lets enqueues and attempts in between pages on a busy runtime.
        tokio::task::yield_now().await;
    }
}

/// The entries given without their domains.
pub(super) fn unknown_domains(entries: &[ScheduleEntry]) -> Vec<QueueId> {
    entries
        .iter()
        .filter(|e| e.domains.is_none())
        .map(|e| e.id)
        .collect()
}

/// Asks the store for the domains of `ids` and gives the index those it found, a chunk per turn
/// of its lock. A store that cannot tell, or fails, leaves them unknown: the admin summary
/// then counts domains by a scan (logged).
async fn learn_domains(queue: &Shared, ids: Vec<QueueId>) {
    if ids.is_empty() {
        return;
    }
    match queue
        .with_storage(queue.storage.schedule_domains(ids))
        .await
    {
        Ok(found) => {
            for chunk in found.chunks(INSERT_CHUNK) {
                let mut index = queue.index();
                index.learn_domains(chunk);
                parking_lot::MutexGuard::unlock_fair(index);
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read the domains of loaded messages; the summary counts them by a scan");
        }
    }
}

/// Loading is over: says so in the log and the gauge.
pub(super) fn finished(shared: &Shared, progress: &Progress) {
    shared.index().end_loading();
    metrics::gauge!(events::SCHEDULE_LOADING).set(0.0);
    tracing::info!(
        loaded = progress.loaded,
        seconds = progress.started.elapsed().as_secs_f64(),
        "stored schedule loaded"
    );
}
