//! One delivery attempt of one message, from claim to the relay's answer. Its outcome is
//! stored by [`super::outcome`].

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use envoi_types::{Envelope, QueueId, Reply};

use super::outcome::{record, Decision, Persist};
use super::retry::FALLBACK_RETRY;
use super::verdict::Verdict;
use super::Shared;
use crate::destination::Destination;
use crate::events;
use crate::relay::{Delivery, RelayError};
use crate::storage::{Lease, StorageError, StoredMessage};

/// After a failure to read a message, try it again this much later (no attempt is counted).
pub(super) const STORAGE_RETRY: Duration = Duration::from_secs(60);

/// The diagnostic appended when the backoff policy gives up.
pub(super) const TOO_MANY_RETRIES: &str = " (Too many retries)";

/// Runs one attempt and puts the message back in the index (or forgets it). `forced` when a
/// flush or retry made it due before its time.
pub(super) async fn run(shared: Arc<Shared>, id: QueueId, forced: bool) {
    let in_flight = InFlight {
        shared: &shared,
        id,
        ended: false,
    };
    tokio::select! {
        next = attempt(&shared, id, forced) => in_flight.end(next),
        // Shutdown grace is over: drop the attempt. Nothing was committed, so the stored
        // state is the one before the attempt and a restart attempts it again.
        () = shared.abort.cancelled() => {}
    }
}

/// Ends every attempt: when the attempt is dropped without ending (a panic in a store, a
/// policy or the queue itself), the message is due again after [`FALLBACK_RETRY`], as after
/// any transient failure, rather than left in flight for ever.
struct InFlight<'a> {
    shared: &'a Shared,
    id: QueueId,
    ended: bool,
}

impl InFlight<'_> {
    fn end(mut self, next: Option<SystemTime>) {
        self.ended = true;
        self.shared.index().finish(self.id, next);
        self.shared.wake.notify_one();
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if std::thread::panicking() {
            tracing::error!(id = %self.id, "attempt panicked; the message will be attempted again");
        }
        self.shared.uncommitted().settled(self.id);
        let now = self.shared.clock.now();
        let next = now.checked_add(FALLBACK_RETRY).unwrap_or(now);
        self.shared.index().finish(self.id, Some(next));
        self.shared.wake.notify_one();
    }
}

/// Attempts `id` once; returns when it is next due, or `None` when it left the queue.
async fn attempt(shared: &Shared, id: QueueId, forced: bool) -> Option<SystemTime> {
    let now = shared.clock.now();
    let lease = Lease {
        owner: shared.node.clone(),
        until: now.checked_add(shared.lease).unwrap_or(now),
    };
    let fresh = shared.fresh().take(id, lease.until);
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
        return fail_pending(shared, &message, &reply, Persist::UntilStored)
            .await
            .unwrap_or(Some(now + STORAGE_RETRY));
    }
    if message.meta.held {
        // Held in the store (by another node, or a hold the index has not seen): the index
        // must say so too, or the message would be due again at once, in a loop.
        let _ = shared.index().set_held(id, true);
        return Some(message.meta.next_attempt);
    }
    if !sort(shared, &message) {
        // Its destination has no slot free: due again as it was, when one is.
        return Some(message.meta.next_attempt);
    }
    let early = forced && now < message.meta.next_attempt;
    deliver(shared, message, early).await
}

/// Puts the message in the lane of its first pending recipient's destination (it may have
/// been unsorted, or that recipient delivered); false when that destination has no slot.
fn sort(shared: &Shared, message: &StoredMessage) -> bool {
    let first = message
        .meta
        .recipients
        .iter()
        .find(|status| status.is_pending());
    match first {
        Some(status) => {
            let dest = shared.relay.destination(&status.recipient);
            shared.index().sort(message.id, &dest, shared.clock.now())
        }
        None => true,
    }
}

/// Fails every pending recipient with `reply`, bounces and removes the message.
pub(super) async fn fail_pending(
    shared: &Shared,
    message: &StoredMessage,
    reply: &Reply,
    persist: Persist,
) -> Result<Option<SystemTime>, StorageError> {
    let decision = Decision {
        verdict: Verdict::fail_pending(&message.meta.recipients, reply),
        attempts: message.meta.attempts,
        next: None,
        attempted: false,
    };
    record(shared, message, decision, persist).await
}

/// Calls the relay and decides what becomes of each recipient. An `early` (forced) attempt
/// that fails leaves the count and the schedule as they were: only scheduled attempts use up
/// the backoff.
async fn deliver(shared: &Shared, message: StoredMessage, early: bool) -> Option<SystemTime> {
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

    let (unreachable, changed) = report_destination(shared, message.id, &answer);
    if let Some(dest) = changed {
        super::cluster::publish(shared, &dest).await;
    }
    let mut verdict = Verdict::judge(&message.meta.recipients, &attempted, answer);
    let mut attempts = message.meta.attempts;
    let mut next = None;
    if verdict.has_deferred() {
        // An unreachable destination is backed off as a whole; its messages keep their
        // attempts, which count only attempts that reached a host.
        if early || unreachable {
            next = Some(message.meta.next_attempt);
        } else {
            attempts = attempts.saturating_add(1);
            let now = shared.clock.now();
            match shared.retry.next_attempt(&message.envelope, attempts, now) {
                Some(at) => next = Some(at),
                None => verdict.give_up(TOO_MANY_RETRIES),
            }
        }
    }
    let decision = Decision {
        verdict,
        attempts,
        next,
        attempted: true,
    };
    // Stored until the store takes it: the relay has acted on it.
    record(shared, &message, decision, Persist::UntilStored)
        .await
        .unwrap_or_else(|_| Some(shared.clock.now() + STORAGE_RETRY))
}

/// Tells the index whether the message's destination was reached. Returns true when it was
/// not (every outcome says no host could be connected to), and the destination when its
/// state changed (backed off, or reached after failing).
fn report_destination(
    shared: &Shared,
    id: QueueId,
    answer: &Result<Delivery, RelayError>,
) -> (bool, Option<Destination>) {
    let outcomes = match answer {
        Ok(Delivery::Whole(outcome)) => std::slice::from_ref(outcome),
        Ok(Delivery::PerRecipient(outcomes)) => outcomes.as_slice(),
        // The relay could say nothing about the destination.
        Err(_) => return (false, None),
    };
    let unreachable = outcomes
        .iter()
        .all(|o| o.unreachable && o.reply.is_transient());
    let error = outcomes
        .first()
        .filter(|_| unreachable)
        .map(|o| o.reply.to_string());
    let now = shared.clock.now();
    let failed = error.is_some();
    let result = shared.index().destination_result(id, now, error);
    if let (true, Some((dest, _))) = (failed, &result) {
        shared.tallies().connection_failure(dest);
    }
    let changed = result.and_then(|(dest, changed)| changed.then_some(dest));
    (unreachable && !outcomes.is_empty(), changed)
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
