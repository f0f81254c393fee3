//! The scheduler task: starts due attempts, within the delivery limit, until shutdown. A
//! delivery slot is taken only for a message the index gives, which is one whose destination
//! can start now (see `index`).
//!
//! It holds the queue's state only weakly, as the relay's pool reaper does: once the last
//! [`super::Queue`] handle is dropped and the attempts in flight have ended, the state is
//! freed, its drop guard cancels the scheduler's token, and the task ends. (It keeps the
//! store itself, to wait for a shared store's notices; the store outlives it by that little.)

use std::sync::{Arc, Weak};
use std::time::SystemTime;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::poll::{PollBounds, Poller};
use super::{attempt, Shared};
use crate::destination::Destination;
use crate::storage::Storage;

/// How many entries one poll of a shared store brings in.
const POLL_LIMIT: usize = 1000;

/// Runs until the queue stops taking new attempts (`stop`, cancelled at shutdown or when the
/// state is dropped) or its state is gone. `wake` is the state's own notifier, kept apart so
/// that waiting does not keep the state alive. A shared store is polled within `poll`.
pub(super) async fn run(
    shared: Weak<Shared>,
    stop: CancellationToken,
    wake: Arc<Notify>,
    poll: PollBounds,
) {
    let Some(storage) = shared.upgrade().map(|s| s.storage.clone()) else {
        return;
    };
    let mut poller = storage
        .is_shared()
        .then(|| Poller::new(poll, tokio::time::Instant::now()));
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        if stop.is_cancelled() {
            return;
        }
        let wake_at = step(&strong, poller.as_mut()).await;
        let clock = strong.clock;
        drop(strong);
        tokio::select! {
            () = stop.cancelled() => return,
            () = wake.notified() => {}
            () = sleep_until(wake_at) => {}
            at = notice(storage.as_ref(), poller.is_some()) => {
                if let Some(poller) = poller.as_mut() {
                    poller.notice(clock.instant_at(at));
                }
            }
        }
    }
}

/// Another node's notice of due work, for a shared store; never, for a local one.
async fn notice(storage: &dyn Storage, shared: bool) -> SystemTime {
    if !shared {
        return std::future::pending().await;
    }
    storage.due_notice().await
}

/// Polls a shared store when due and starts the due attempts; returns when to look again.
async fn step(shared: &Arc<Shared>, poller: Option<&mut Poller>) -> Option<tokio::time::Instant> {
    let next_poll = match poller {
        Some(poller) => {
            if poller.is_due(tokio::time::Instant::now()) {
                super::cluster::sync(shared).await;
                let found = poll_shared(shared).await;
                poller.polled(found, tokio::time::Instant::now());
            }
            Some(poller.next())
        }
        None => None,
    };
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
    match (wake_at, next_poll) {
        (Some(at), Some(poll)) => Some(at.min(poll)),
        (at, poll) => at.or(poll),
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

/// Brings in the entries a shared store has due for this node; returns how many were new.
async fn poll_shared(shared: &Shared) -> usize {
    match shared
        .storage
        .poll_due(shared.clock.now(), POLL_LIMIT)
        .await
    {
        Ok(entries) => {
            let mut index = shared.index();
            let mut found = 0;
            for entry in &entries {
                if !index.contains(entry.id) {
                    index.insert(entry, Destination::unsorted());
                    found += 1;
                }
            }
            found
        }
        Err(error) => {
            tracing::warn!(%error, "polling the shared store failed");
            0
        }
    }
}
