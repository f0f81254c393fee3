//! The destinations' state on a store several nodes share: what one node learns of a
//! destination (it cannot be reached; it was reached again) and what an administrator decides
//! on any node (suspend, resume, flush) holds on every node.
//!
//! Each node records its own back-offs in the store ([`publish`]) and, at every poll of the
//! store, reads the back-offs and suspensions there and applies them to its lanes ([`sync`]).
//! A change made here while a sync is reading the store is not undone by that sync (see
//! `Lanes::begin_sync`); the next sync reads it back.

use std::collections::HashSet;

use super::Shared;
use crate::clock::{from_millis, millis};
use crate::destination::Destination;
use crate::storage::SharedBackoff;

/// Records in a shared store what this node just learnt of `dest`: its back-off, or that it
/// was reached again. Nothing for a local store.
pub(super) async fn publish(shared: &Shared, dest: &Destination) {
    if !shared.storage.is_shared() || dest.is_unsorted() {
        return;
    }
    let backoff = shared.index().lanes_mut().backoff_of(dest);
    let result = match backoff {
        Some((until, failures, error)) => {
            let record = SharedBackoff {
                destination: dest.as_str().to_owned(),
                until: from_millis(until),
                failures,
                error,
            };
            let stored = shared.storage.share_backoff(record).await;
            if stored.is_ok() {
                shared.index().lanes_mut().mark_shared(dest, until);
            }
            stored
        }
        None => shared.storage.clear_backoff(Some(dest.as_str())).await,
    };
    if let Err(error) = result {
        tracing::warn!(destination = %dest, %error, "cannot share the destination's state with the other nodes");
    }
}

/// Ends in a shared store the back-off of `dest`, or of every destination (a flush).
pub(super) async fn clear(shared: &Shared, dest: Option<&Destination>) {
    if !shared.storage.is_shared() {
        return;
    }
    if let Err(error) = shared
        .storage
        .clear_backoff(dest.map(Destination::as_str))
        .await
    {
        tracing::warn!(%error, "cannot end the shared back-off for the other nodes");
    }
}

/// Applies the back-offs and suspensions stored in a shared store to this node's lanes.
pub(super) async fn sync(shared: &Shared) {
    if !shared.storage.is_shared() {
        return;
    }
    let epoch = shared.index().lanes_mut().begin_sync();
    let now = shared.clock.now();
    let stored = async {
        let suspensions = shared.storage.suspensions().await?;
        let backoffs = shared.storage.shared_backoffs(now).await?;
        Ok::<_, crate::storage::StorageError>((suspensions, backoffs))
    };
    let (suspensions, backoffs) = match stored.await {
        Ok(stored) => stored,
        Err(error) => {
            tracing::warn!(%error, "cannot read the destinations' shared state");
            return;
        }
    };
    let suspensions: Vec<_> = suspensions
        .into_iter()
        .map(|s| {
            (
                Destination::new(&s.destination),
                s.until.map(millis),
                s.reason,
            )
        })
        .collect();
    let kept: HashSet<Destination> = backoffs
        .iter()
        .map(|b| Destination::new(&b.destination))
        .collect();
    let mut index = shared.index();
    let lanes = index.lanes_mut();
    let mut changed = lanes.sync_suspensions(epoch, &suspensions);
    for b in backoffs {
        let dest = Destination::new(&b.destination);
        lanes.adopt_backoff(epoch, &dest, (millis(b.until), b.failures, b.error));
    }
    changed |= lanes.end_cleared_backoffs(epoch, &kept) > 0;
    drop(index);
    if changed {
        shared.wake.notify_one();
    }
}
