//! The leases this node holds: per message, the fencing counter its claim or write read and
//! when the lease ends.
//!
//! An outcome is committed only under the counter kept here, so an entry must outlive every
//! attempt that may still commit under it. An entry goes when its outcome is committed, when
//! the message is deleted through this node, or — for a message deleted or finished by
//! another node, which this node never hears of — when its lease has lapsed and its row is
//! gone ([`prune`]): a row never comes back under the same id, so no commit can need it.
//! Entries of lapsed leases whose rows still exist stay: forgetting them would turn a stale
//! commit into an unfenced one.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use envoi_types::QueueId;

use crate::codec::{id_bytes, nanos};
use crate::error::PgError;
use crate::sql::{self, prepared};
use crate::store::Inner;

/// One lease held by this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fence {
    /// The row's fencing counter when this node took the lease.
    pub counter: i64,
    /// When the lease ends (ns since the epoch, as the row stores it).
    pub until_ns: i64,
}

/// The leases this node holds, by message.
#[derive(Debug, Default)]
pub(crate) struct Fences(HashMap<QueueId, Fence>);

impl Fences {
    /// Records a lease taken on `id`.
    pub fn hold(&mut self, id: QueueId, counter: i64, until_ns: i64) {
        self.0.insert(id, Fence { counter, until_ns });
    }

    /// The lease held on `id`, if any.
    pub fn get(&self, id: QueueId) -> Option<Fence> {
        self.0.get(&id).copied()
    }

    /// Forgets the lease on `id` (its outcome was committed, or it is not leased).
    pub fn forget(&mut self, id: QueueId) {
        self.0.remove(&id);
    }

    /// How many leases are kept.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The messages whose leases ended before `now_ns`, at most `limit` of them.
    fn lapsed(&self, now_ns: i64, limit: usize) -> Vec<QueueId> {
        self.0
            .iter()
            .filter(|(_, fence)| fence.until_ns < now_ns)
            .map(|(id, _)| *id)
            .take(limit)
            .collect()
    }
}

/// How often lapsed leases of messages gone elsewhere are forgotten.
pub(crate) const PRUNE_PERIOD: Duration = Duration::from_secs(60);

/// Ids looked up in one statement when pruning.
const PRUNE_CHUNK: usize = 1000;

/// Forgets the lapsed leases whose messages are no longer stored (another node finished or
/// deleted them); returns how many went.
pub(crate) async fn prune(inner: &Inner) -> Result<usize, PgError> {
    let lapsed = inner.fences().lapsed(nanos(SystemTime::now()), usize::MAX);
    let mut forgotten = 0;
    for chunk in lapsed.chunks(PRUNE_CHUNK) {
        let keys: Vec<Vec<u8>> = chunk.iter().map(|id| id_bytes(*id)).collect();
        let session = inner.session().await?;
        let rows = session
            .query(&prepared(&session, sql::STORED_OF).await?, &[&keys])
            .await?;
        let stored: std::collections::HashSet<Vec<u8>> =
            rows.iter().map(|row| row.get(0)).collect();
        let mut fences = inner.fences();
        for (id, key) in chunk.iter().zip(&keys) {
            // Checked again under the lock: a claim may have renewed it meanwhile.
            let still_lapsed = fences
                .get(*id)
                .is_some_and(|f| f.until_ns < nanos(SystemTime::now()));
            if still_lapsed && !stored.contains(key) {
                fences.forget(*id);
                forgotten += 1;
            }
        }
    }
    Ok(forgotten)
}

/// Prunes every `period` until the store is dropped; a failed prune is tried at the next tick.
pub(crate) fn spawn(runtime: &tokio::runtime::Handle, inner: &Arc<Inner>, period: Duration) {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            match prune(&inner).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::debug!(forgotten = n, "leases of messages gone elsewhere forgotten")
                }
                Err(error) => tracing::debug!(%error, "cannot prune this node's leases"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lapsed_leases_are_candidates() {
        let mut fences = Fences::default();
        let (old, live) = (QueueId::new(), QueueId::new());
        fences.hold(old, 3, 100);
        fences.hold(live, 0, 300);
        assert_eq!(fences.lapsed(200, 10), vec![old]);
        fences.forget(old);
        assert_eq!(fences.len(), 1);
        assert_eq!(
            fences.get(live),
            Some(Fence {
                counter: 0,
                until_ns: 300
            })
        );
    }
}
