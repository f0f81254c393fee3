//! The scheduler task: starts due attempts, within the delivery limit, until shutdown.

use std::sync::Arc;
use std::time::Duration;

use super::{attempt, Shared};

/// How often a shared store is asked for work other nodes enqueued.
const POLL_SHARED: Duration = Duration::from_secs(5);
/// How many entries one poll of a shared store brings in.
const POLL_LIMIT: usize = 1000;

/// Runs until the queue stops taking new attempts.
pub(super) async fn run(shared: Arc<Shared>) {
    let mut next_poll = tokio::time::Instant::now();
    loop {
        if shared.stop_new.is_cancelled() {
            return;
        }
        if shared.storage.is_shared() && tokio::time::Instant::now() >= next_poll {
            poll_shared(&shared).await;
            next_poll = tokio::time::Instant::now() + POLL_SHARED;
        }
        let saturated = start_due(&shared);
        // With every delivery slot busy, only a finished attempt (which notifies) can make
        // progress; sleeping until an already-past due time would spin.
        let wake_at = if saturated {
            None
        } else {
            shared
                .index()
                .next_wake()
                .map(|t| shared.clock.instant_at(t))
        };
        let wake_at = match (wake_at, shared.storage.is_shared()) {
            (Some(at), true) => Some(at.min(next_poll)),
            (None, true) => Some(next_poll),
            (at, false) => at,
        };
        tokio::select! {
            () = shared.stop_new.cancelled() => return,
            () = shared.wake.notified() => {}
            () = sleep_until(wake_at) => {}
        }
    }
}

/// Starts every due attempt a delivery slot is free for. True when the slots ran out.
fn start_due(shared: &Arc<Shared>) -> bool {
    loop {
        let Ok(permit) = shared.deliveries.clone().try_acquire_owned() else {
            return true;
        };
        let now = shared.clock.now();
        let Some(id) = shared.index().pop_due(now) else {
            return false;
        };
        let task_shared = shared.clone();
        shared.attempts.spawn(async move {
            let _permit = permit;
            attempt::run(task_shared, id).await;
        });
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn poll_shared(shared: &Shared) {
    match shared
        .storage
        .poll_due(shared.clock.now(), POLL_LIMIT)
        .await
    {
        Ok(entries) => {
            let mut index = shared.index();
            for entry in &entries {
                if !index.contains(entry.id) {
                    index.insert(entry);
                }
            }
        }
        Err(error) => tracing::warn!(%error, "polling the shared store failed"),
    }
}
