//! The scheduler task: starts due attempts, within the delivery limit, until shutdown. A
//! delivery slot is taken only for a message the index gives, which is one whose destination
//! can start now (see `index`).
//!
//! It holds the queue's state only weakly, as the relay's pool reaper does: once the last
//! [`super::Queue`] handle is dropped and the attempts in flight have ended, the state is
//! freed, its drop guard cancels the scheduler's token, and the task ends.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{attempt, Shared};
use crate::destination::Destination;

/// How often a shared store is asked for work other nodes enqueued.
const POLL_SHARED: Duration = Duration::from_secs(5);
/// How many entries one poll of a shared store brings in.
const POLL_LIMIT: usize = 1000;

/// Runs until the queue stops taking new attempts (`stop`, cancelled at shutdown or when the
/// state is dropped) or its state is gone. `wake` is the state's own notifier, kept apart so
/// that waiting does not keep the state alive.
pub(super) async fn run(shared: Weak<Shared>, stop: CancellationToken, wake: Arc<Notify>) {
    let mut next_poll = tokio::time::Instant::now();
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        if stop.is_cancelled() {
            return;
        }
        let wake_at = step(&strong, &mut next_poll).await;
        drop(strong);
        tokio::select! {
            () = stop.cancelled() => return,
            () = wake.notified() => {}
            () = sleep_until(wake_at) => {}
        }
    }
}

/// Polls a shared store when due and starts the due attempts; returns when to look again.
async fn step(
    shared: &Arc<Shared>,
    next_poll: &mut tokio::time::Instant,
) -> Option<tokio::time::Instant> {
    if shared.storage.is_shared() && tokio::time::Instant::now() >= *next_poll {
        poll_shared(shared).await;
        *next_poll = tokio::time::Instant::now() + POLL_SHARED;
    }
    // While an outcome waits for the store, start nothing: its commit notifies when the store
    // takes it. With every delivery slot busy, only a finished attempt (which notifies) can
    // make progress. Either way, sleeping until an already-past due time would spin.
    let paused = shared.uncommitted().is_paused();
    let wake_at = if paused || start_due(shared) {
        None
    } else {
        shared
            .index()
            .next_wake()
            .map(|t| shared.clock.instant_at(t))
    };
    match (wake_at, shared.storage.is_shared()) {
        (Some(at), true) => Some(at.min(*next_poll)),
        (None, true) => Some(*next_poll),
        (at, false) => at,
    }
}

/// Starts every due attempt a delivery slot is free for. True when the slots ran out.
fn start_due(shared: &Arc<Shared>) -> bool {
    loop {
        let Ok(permit) = shared.deliveries.clone().try_acquire_owned() else {
            return true;
        };
        let now = shared.clock.now();
        let Some((id, forced)) = shared.index().pop_due(now) else {
            return false;
        };
        let task_shared = shared.clone();
        shared.attempts.spawn(async move {
            let _permit = permit;
            attempt::run(task_shared, id, forced).await;
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
                    index.insert(entry, Destination::unsorted());
                }
            }
        }
        Err(error) => tracing::warn!(%error, "polling the shared store failed"),
    }
}
