//! Recording an attempt's outcome: its bounces built, then one durable commit.
//!
//! Once the relay has answered, the outcome is kept until the store takes it: a commit that
//! fails is retried with a growing delay, the message stays in flight (so the relay is never
//! called for it again meanwhile, and a delete is refused), and the queue pauses delivery and
//! refuses new mail ([`super::uncommitted`]). Only a restart loses such an outcome; then what
//! was in flight may be sent again, as after a crash.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, SystemTime};

use envoi_types::{EnhancedCode, QueueId, Reply};

use super::index::CommitKind;
use super::retry::FALLBACK_RETRY;
use super::verdict::Verdict;
use super::Shared;
use crate::bounce::{BounceContext, Failure};
use crate::events::{self, AttemptTimes, Delays, Fate, RecipientEvent};
use crate::storage::{
    AttemptCommit, AttemptRecord, Disposition, MessageHistory, MessageMeta, NewMessage,
    RecipientDomains, StorageError, StoredMessage,
};

/// The first wait before committing an outcome again; it doubles up to [`MAX_COMMIT_RETRY`].
const FIRST_COMMIT_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two tries of one commit.
const MAX_COMMIT_RETRY: Duration = Duration::from_secs(60);

/// How hard to try storing an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Persist {
    /// Until the store takes it: the relay has acted on it.
    UntilStored,
    /// Once (an administrative bounce): on failure the caller is told and nothing changed.
    Once,
}

/// What an attempt decided, before it is stored.
pub(super) struct Decision {
    /// Every recipient's new status.
    pub verdict: Verdict,
    /// Failed attempts, this one included when it counted.
    pub attempts: u32,
    /// When to attempt again, if some recipient stays pending.
    pub next: Option<SystemTime>,
    /// True for a delivery attempt, which the history records; false when the queue failed
    /// the recipients itself (expiry, an administrative bounce).
    pub attempted: bool,
    /// When the delivery attempt's parts happened, for the log; `None` when no relay was
    /// called.
    pub times: Option<AttemptTimes>,
}

/// Stores the outcome of an attempt of `message`: its bounces and its new state, in one
/// commit. Returns when the message is next due, or `None` when it left the queue. With
/// [`Persist::Once`], a storage failure is returned and nothing was stored.
pub(super) async fn record(
    shared: &Shared,
    message: &StoredMessage,
    decision: Decision,
    persist: Persist,
) -> Result<Option<SystemTime>, StorageError> {
    if shared.index().begin_commit(message.id) == CommitKind::Deleted {
        // Deleted by an administrator during the attempt: no bounce, no state; the removal
        // is repeated here in case the administrator's failed.
        events::deleted_in_flight(message.id);
        let removal = AttemptCommit {
            bounces: Vec::new(),
            disposition: Disposition::Remove,
        };
        return match store(shared, message.id, removal, persist).await {
            Ok(()) | Err(StorageError::NotFound(_) | StorageError::Corrupt { .. }) => Ok(None),
            Err(error) => Err(error),
        };
    }
    let Decision {
        mut verdict,
        attempts,
        mut next,
        attempted,
        times,
    } = decision;
    let now = shared.clock.now();
    let mut history = message.meta.history.clone();
    if attempted {
        let attempt = AttemptRecord {
            at: now,
            replies: verdict.attempt_replies(),
        };
        history.record(attempt, shared.reports.history_limit);
    }
    let delayed = delay_warning(shared, message, &verdict, &mut history, now);
    let mut bounces = match build_bounces(shared, message, &verdict, delayed) {
        Some(bounces) => bounces,
        None => {
            tracing::error!(id = %message.id, "the bounce factory panicked; failed recipients stay pending");
            verdict.revert_failures();
            history.delay_warnings_sent = message.meta.history.delay_warnings_sent;
            next = Some(fallback(shared, next));
            Vec::new()
        }
    };
    if let (Some(bounce_queue), false) = (&shared.bounce_queue, bounces.is_empty()) {
        // Another store: the bounce must be durable there before the original changes here.
        if let Err(error) = bounce_queue.shared.store_messages(bounces).await {
            tracing::error!(id = %message.id, %error, "bounce not stored; failed recipients stay pending");
            verdict.revert_failures();
            history.delay_warnings_sent = message.meta.history.delay_warnings_sent;
            next = Some(fallback(shared, next));
        }
        bounces = Vec::new();
    }
    log_fates(shared, message, &verdict, times, next);
    let bounce_sizes: Vec<(QueueId, u64)> = bounces
        .iter()
        .map(|b| (b.id, b.envelope.message.len() as u64))
        .collect();
    let bounce_entries: Vec<_> = bounces
        .iter()
        .map(|b| (super::schedule_entry(b), shared.destination_of(&b.envelope)))
        .collect();
    let pending = verdict
        .has_pending()
        .then(|| RecipientDomains::pending(&verdict.recipients));
    let disposition = if verdict.has_pending() {
        Disposition::Retry {
            next_attempt: next.unwrap_or_else(|| shared.clock.now()),
            attempts,
            recipients: verdict.recipients,
            history,
        }
    } else {
        Disposition::Remove
    };
    let (next_due, attempts) = match &disposition {
        Disposition::Retry {
            next_attempt,
            attempts,
            ..
        } => (Some(*next_attempt), Some(*attempts)),
        Disposition::Remove => (None, None),
    };
    let commit = AttemptCommit {
        bounces,
        disposition,
    };
    match store(shared, message.id, commit, persist).await {
        Ok(()) => {
            let mut index = shared.index();
            if let Some(attempts) = attempts {
                index.set_attempts(message.id, attempts);
            }
            if let Some(pending) = &pending {
                index.set_domains(message.id, pending);
            }
            drop(index);
            shared.schedule(&bounce_entries);
            shared.bytes_added(&bounce_sizes);
            Ok(next_due)
        }
        Err(StorageError::NotFound(_)) => {
            // Gone meanwhile (another node, or a store-level removal); the bounces were stored.
            shared.schedule(&bounce_entries);
            shared.bytes_added(&bounce_sizes);
            Ok(None)
        }
        Err(error @ StorageError::Corrupt { .. }) => {
            tracing::error!(id = %message.id, %error, "outcome not stored: the record is corrupt; left to the store's quarantine");
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// The next attempt after a failure that has no delay of its own: the fallback delay, or the
/// one already decided if sooner.
fn fallback(shared: &Shared, next: Option<SystemTime>) -> SystemTime {
    let now = shared.clock.now();
    let soon = now.checked_add(FALLBACK_RETRY).unwrap_or(now);
    next.map_or(soon, |next| next.min(soon))
}

/// Commits `commit`; with [`Persist::UntilStored`], again and again while the store fails
/// (any error but `NotFound` and `Corrupt`, which retrying cannot change).
async fn store(
    shared: &Shared,
    id: QueueId,
    commit: AttemptCommit,
    persist: Persist,
) -> Result<(), StorageError> {
    let mut delay = FIRST_COMMIT_RETRY;
    loop {
        let result = shared
            .with_storage(shared.storage.commit_attempt(id, commit.clone()))
            .await;
        match result {
            Err(error) if persist == Persist::UntilStored && retryable(&error) => {
                tracing::error!(id = %id, %error, retry_in = ?delay,
                    "attempt outcome not stored; kept in memory, delivery paused, new mail refused");
                shared.uncommitted().failed(id, error);
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2).min(MAX_COMMIT_RETRY);
            }
            other => {
                if shared.uncommitted().settled(id) {
                    tracing::info!("every attempt outcome is stored; delivery resumes");
                    shared.wake.notify_one();
                }
                return other;
            }
        }
    }
}

fn retryable(error: &StorageError) -> bool {
    !matches!(
        error,
        StorageError::NotFound(_) | StorageError::Corrupt { .. }
    )
}

fn log_fates(
    shared: &Shared,
    message: &StoredMessage,
    verdict: &Verdict,
    times: Option<AttemptTimes>,
    next: Option<SystemTime>,
) {
    let delay = shared
        .clock
        .now()
        .duration_since(message.envelope.arrival)
        .unwrap_or_default();
    let mut counted = Vec::with_capacity(verdict.fates.len());
    for &(index, fate) in &verdict.fates {
        let Some(status) = verdict.recipients.get(index) else {
            continue;
        };
        counted.push((shared.relay.destination(&status.recipient), fate));
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
                delays: times.map_or(Delays::queued_only(delay), |t| {
                    t.delays(verdict.timings(index))
                }),
                next,
                attempt: message.meta.attempts.saturating_add(1),
                reply,
            },
        );
        if fate == Fate::Bounced && message.envelope.sender.is_null() {
            events::not_bounced(message.id, &status.recipient);
        } else if fate == Fate::Bounced && !message.envelope.dsn.notify(&status.recipient).failure {
            events::not_bounced_by_notify(message.id, &status.recipient);
        }
    }
    let mut tallies = shared.tallies();
    for (dest, fate) in &counted {
        tallies.fate(dest, *fate);
    }
}

/// The recipients a delay warning is owed for after this attempt: once the message has
/// waited a threshold it has not been warned about, with recipients still pending, those
/// whose `NOTIFY` allows it (none for the null sender). Records in `history` every threshold
/// passed, so that none is warned about twice, across restarts too: the count is committed
/// with the warning.
fn delay_warning(
    shared: &Shared,
    message: &StoredMessage,
    verdict: &Verdict,
    history: &mut MessageHistory,
    now: SystemTime,
) -> Vec<Failure> {
    if !verdict.has_pending() {
        return Vec::new();
    }
    let waited = now
        .duration_since(message.envelope.arrival)
        .unwrap_or_default();
    let passed = shared
        .reports
        .delay_warnings
        .iter()
        .filter(|threshold| waited >= **threshold)
        .count();
    let passed = u32::try_from(passed).unwrap_or(u32::MAX);
    if passed <= history.delay_warnings_sent {
        return Vec::new();
    }
    history.delay_warnings_sent = passed;
    if message.envelope.sender.is_null() {
        return Vec::new();
    }
    let not_yet = Reply::new(451, EnhancedCode::new(4, 0, 0), "Not attempted yet");
    let dsn = &message.envelope.dsn;
    verdict
        .delayed(&not_yet)
        .into_iter()
        .filter(|f| dsn.notify(&f.recipient).delay)
        .collect()
}

/// The reports of this attempt, one per kind that has recipients: the bounce listing every
/// recipient that failed in it, the report on those delivered or relayed that asked for one
/// (`NOTIFY=SUCCESS`), and the delay warning for `delayed`. Recipients whose `NOTIFY` does
/// not ask for a kind are left out of it; none at all for the null sender. `None` when the
/// bounce factory panicked.
fn build_bounces(
    shared: &Shared,
    message: &StoredMessage,
    verdict: &Verdict,
    delayed: Vec<Failure>,
) -> Option<Vec<NewMessage>> {
    if message.envelope.sender.is_null() {
        return Some(Vec::new());
    }
    let dsn = &message.envelope.dsn;
    let failures: Vec<Failure> = verdict
        .failures()
        .into_iter()
        .filter(|f| dsn.notify(&f.recipient).failure)
        .collect();
    let successes: Vec<Failure> = verdict
        .successes()
        .into_iter()
        .filter(|f| dsn.notify(&f.recipient).success)
        .collect();
    let expiry = message
        .envelope
        .arrival
        .checked_add(shared.retry.lifetime());
    let reports = [(failures, None), (successes, None), (delayed, expiry)];
    let now = shared.clock.now();
    catch_unwind(AssertUnwindSafe(|| {
        reports
            .iter()
            .filter(|(listed, _)| !listed.is_empty())
            .map(|(listed, will_retry_until)| {
                let bounce_id = QueueId::new();
                let envelope = shared.bounces.bounce(BounceContext {
                    original: &message.envelope,
                    original_id: message.id,
                    bounce_id,
                    failures: listed,
                    now,
                    will_retry_until: *will_retry_until,
                });
                let action = listed.first().map_or("failed", |f| f.action.keyword());
                events::reported(message.id, bounce_id, action, listed.len());
                NewMessage {
                    id: bounce_id,
                    meta: MessageMeta::new(&envelope, now),
                    envelope,
                }
            })
            .collect()
    }))
    .ok()
}
