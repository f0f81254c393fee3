//! Reading the stored schedule: the first page before the queue starts, the rest in the
//! background, in due order, while the queue takes mail and attempts what is due.
//!
//! What keeps a page read from an old snapshot from losing or doubling an entry is in the
//! index (`index::loading`). The task holds the queue only while it reads and adds a page,
//! and ends at shutdown or when the queue is dropped; a page that cannot be read is tried
//! again later, and the queue says it is still loading meanwhile.

use std::sync::Weak;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::events;
use crate::storage::{ScheduleCursor, SchedulePage, Storage, StorageError};

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
    /// Entries indexed so far.
    pub loaded: usize,
    /// When start-up began.
    pub started: Instant,
}

/// Reads the pages after `progress.after` into the index until the last, then ends loading.
pub(super) async fn run(shared: Weak<Shared>, stop: CancellationToken, mut progress: Progress) {
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
                    added += queue.index().insert_loaded(chunk);
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
