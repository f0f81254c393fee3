//! This node's heartbeat: other nodes release the leases of a node whose heartbeat is older
//! than [`crate::PgOptions::node_timeout`].

use std::sync::{Arc, Weak};

use crate::error::PgError;
use crate::sql::{self, prepared};
use crate::store::Inner;

/// Writes this node's heartbeat now.
pub(crate) async fn beat(inner: &Inner) -> Result<(), PgError> {
    let session = inner.session().await?;
    session
        .execute(
            &prepared(&session, sql::HEARTBEAT).await?,
            &[&inner.options.node],
        )
        .await?;
    Ok(())
}

/// Beats every [`crate::PgOptions::heartbeat`] until the store is dropped. A failed beat is
/// logged, makes the store report itself failing until a beat succeeds, and is tried again
/// at the next tick: while the database is away nobody can claim.
pub(crate) fn spawn(runtime: &tokio::runtime::Handle, inner: &Arc<Inner>) {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let period = inner.options.heartbeat;
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            match beat(&inner).await {
                Ok(()) => inner.set_unreachable(None),
                Err(error) => {
                    tracing::warn!(%error, "cannot write this node's heartbeat");
                    inner.set_unreachable(Some(error.to_string()));
                }
            }
        }
    });
}
