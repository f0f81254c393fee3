//! One delivery attempt of one message, and the durable record of its outcome.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use envoi_types::{Envelope, QueueId, Reply};

use super::verdict::Verdict;
use super::Shared;
use crate::bounce::BounceContext;
use crate::events::{self, Fate, RecipientEvent};
use crate::relay::{Delivery, RelayError};
use crate::storage::{
    AttemptCommit, Disposition, Lease, MessageMeta, NewMessage, ScheduleEntry, StorageError,
    StoredMessage,
};

/// After a storage failure, try the message again this much later (no attempt is counted).
const STORAGE_RETRY: Duration = Duration::from_secs(60);

/// The diagnostic appended when the backoff policy gives up.
pub(super) const TOO_MANY_RETRIES: &str = " (Too many retries)";

/// Runs one attempt and puts the message back in the index (or forgets it).
pub(super) async fn run(shared: Arc<Shared>, id: QueueId) {
    tokio::select! {
        next = attempt(&shared, id) => {
            shared.index().finish(id, next);
            shared.wake.notify_one();
        }
        // Shutdown grace is over: drop the attempt. Nothing was committed, so the stored
        // state is the one before the attempt and a restart attempts it again.
        () = shared.abort.cancelled() => {}
    }
}

/// Attempts `id` once; returns when it is next due, or `None` when it left the queue.
async fn attempt(shared: &Shared, id: QueueId) -> Option<SystemTime> {
    let now = shared.clock.now();
    let lease = Lease {
        owner: shared.node.clone(),
        until: now + shared.lease,
    };
    let fresh = shared.fresh().take(id);
    let claimed = match fresh {
        Some(message) => Ok(Some(message)),
        None => shared.with_storage(shared.storage.claim(id, &lease)).await,
    };
    let message = match claimed {
        Ok(Some(message)) => message,
        Ok(None) => return None,
        Err(error @ StorageError::Corrupt { .. }) => {
            // The store sets such records aside (quarantine); retrying cannot mend them.
            tracing::error!(id = %id, %error, "message cannot be decoded; left to the store's quarantine");
            return None;
        }
        Err(error) => {
            tracing::error!(id = %id, %error, "cannot read message for delivery; will try again");
            return Some(now + STORAGE_RETRY);
        }
    };
    if shared.retry.is_expired(message.envelope.arrival, now) {
        events::expired(id, &message.envelope.sender, message.envelope.arrival, now);
        let reply = shared.retry.expired_reply();
        return fail_pending(shared, &message, &reply).await;
    }
    if message.meta.held {
        return Some(message.meta.next_attempt);
    }
    deliver(shared, message).await
}

/// Fails every pending recipient with `reply`, bounces and removes the message.
pub(super) async fn fail_pending(
    shared: &Shared,
    message: &StoredMessage,
    reply: &Reply,
) -> Option<SystemTime> {
    let verdict = Verdict::fail_pending(&message.meta.recipients, reply);
    log_fates(shared, message, &verdict);
    commit(shared, message, verdict, message.meta.attempts, None).await
}

async fn deliver(shared: &Shared, message: StoredMessage) -> Option<SystemTime> {
    let attempted: Vec<usize> = message
        .meta
        .recipients
        .iter()
        .enumerate()
        .filter(|(_, status)| status.is_pending())
        .map(|(index, _)| index)
        .collect();
    let pending = attempted
        .iter()
        .filter_map(|&i| message.meta.recipients.get(i))
        .map(|status| status.recipient.clone())
        .collect();
    let envelope = message.envelope.copy_with_recipients(pending);
    let started = Instant::now();
    let answer = call_relay(shared, envelope, message.meta.attempts).await;
    metrics::histogram!(events::ATTEMPT_SECONDS).record(started.elapsed().as_secs_f64());

    let mut verdict = Verdict::judge(&message.meta.recipients, &attempted, answer);
    let mut attempts = message.meta.attempts;
    let mut next = None;
    if verdict.has_deferred() {
        attempts += 1;
        let now = shared.clock.now();
        match shared.retry.next_attempt(&message.envelope, attempts, now) {
            Some(at) => next = Some(at),
            None => verdict.give_up(TOO_MANY_RETRIES),
        }
    }
    log_fates(shared, &message, &verdict);
    commit(shared, &message, verdict, attempts, next).await
}

/// Calls the relay in its own task, so that a panic becomes a transient failure.
async fn call_relay(
    shared: &Shared,
    envelope: Envelope,
    attempts: u32,
) -> Result<Delivery, RelayError> {
    let relay = shared.relay.clone();
    let task = tokio::spawn(async move { relay.attempt(&envelope, attempts).await });
    let _abort = AbortOnDrop(task.abort_handle());
    match task.await {
        Ok(answer) => answer,
        Err(error) if error.is_panic() => Err(RelayError("relay panicked".into())),
        Err(error) => Err(RelayError(error.to_string())),
    }
}

/// Aborts the relay task when the attempt is dropped at shutdown.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn log_fates(shared: &Shared, message: &StoredMessage, verdict: &Verdict) {
    let delay = shared
        .clock
        .now()
        .duration_since(message.envelope.arrival)
        .unwrap_or_default();
    for &(index, fate) in &verdict.fates {
        let Some(status) = verdict.recipients.get(index) else {
            continue;
        };
        let Some(reply) = &status.last_reply else {
            continue;
        };
        events::recipient(
            fate,
            &RecipientEvent {
                id: message.id,
                sender: &message.envelope.sender,
                recipient: &status.recipient,
                relay: status.remote_host.as_deref(),
                delay,
                attempt: message.meta.attempts + 1,
                reply,
            },
        );
        if fate == Fate::Bounced && message.envelope.sender.is_null() {
            events::not_bounced(message.id, &status.recipient);
        }
    }
}

/// Stores the bounces and the message's new state durably, in that order.
async fn commit(
    shared: &Shared,
    message: &StoredMessage,
    mut verdict: Verdict,
    attempts: u32,
    next: Option<SystemTime>,
) -> Option<SystemTime> {
    let mut bounces = build_bounces(shared, message, &verdict);
    let mut next = next;
    if let (Some(bounce_queue), false) = (&shared.bounce_queue, bounces.is_empty()) {
        // Another store: the bounce must be durable there before the original changes here.
        if let Err(error) = bounce_queue.shared.store_messages(bounces).await {
            tracing::error!(id = %message.id, %error, "bounce not stored; failed recipients stay pending");
            verdict.revert_failures();
            next = Some(shared.clock.now() + STORAGE_RETRY);
        }
        bounces = Vec::new();
    }
    let bounce_entries: Vec<ScheduleEntry> = bounces.iter().map(super::schedule_entry).collect();
    let disposition = if verdict.has_pending() {
        Disposition::Retry {
            next_attempt: next.unwrap_or_else(|| shared.clock.now()),
            attempts,
            recipients: verdict.recipients,
        }
    } else {
        Disposition::Remove
    };
    let next_due = match &disposition {
        Disposition::Retry { next_attempt, .. } => Some(*next_attempt),
        Disposition::Remove => None,
    };
    let commit = AttemptCommit {
        bounces,
        disposition,
    };
    match shared
        .with_storage(shared.storage.commit_attempt(message.id, commit))
        .await
    {
        Ok(()) => {
            shared.schedule(&bounce_entries);
            next_due
        }
        Err(StorageError::NotFound(_)) => {
            // Deleted by an administrator during the attempt; the bounces were stored.
            shared.schedule(&bounce_entries);
            None
        }
        Err(error) => {
            tracing::error!(id = %message.id, %error,
                "attempt outcome not stored; the message keeps its previous state");
            Some(shared.clock.now() + STORAGE_RETRY)
        }
    }
}

/// One bounce listing every recipient that failed in this attempt; none for the null sender
/// or when nothing failed.
fn build_bounces(shared: &Shared, message: &StoredMessage, verdict: &Verdict) -> Vec<NewMessage> {
    let failures = verdict.failures();
    if message.envelope.sender.is_null() || failures.is_empty() {
        return Vec::new();
    }
    let now = shared.clock.now();
    let bounce_id = QueueId::new();
    let envelope = shared.bounces.bounce(BounceContext {
        original: &message.envelope,
        original_id: message.id,
        bounce_id,
        failures: &failures,
        now,
    });
    vec![NewMessage {
        id: bounce_id,
        meta: MessageMeta::new(&envelope, now),
        envelope,
    }]
}
