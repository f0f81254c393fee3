//! Suspending and resuming a destination: stored first, so that a restart keeps it, then
//! applied to its lane.

use std::time::{Duration, SystemTime};

use super::index::Index;
use super::{Queue, Shared};
use crate::destination::Destination;
use crate::error::QueueError;
use crate::storage::{Storage, StorageError, Suspension};

impl Queue {
    /// Stops delivery to `destination` (a domain or a route name, as
    /// [`crate::Relay::destination`] names them) for `duration` (`None`: until
    /// [`Queue::resume`]), for `reason`. Its messages are not attempted meanwhile, but still
    /// expire. The suspension is stored, so a restart keeps it; it replaces an earlier one.
    ///
    /// # Errors
    /// [`QueueError::InvalidDestination`] for a name that names none; the store's error, then
    /// nothing changed ([`StorageError::Unsupported`] when the store cannot keep suspensions).
    pub async fn suspend(
        &self,
        destination: &str,
        duration: Option<Duration>,
        reason: &str,
    ) -> Result<Suspension, QueueError> {
        let dest = checked_name(destination)?;
        let now = self.shared.clock.now();
        // A duration too long to represent is no end at all.
        let until = duration.and_then(|d| now.checked_add(d));
        let suspension = Suspension {
            destination: dest.as_str().to_owned(),
            until,
            reason: reason.to_owned(),
        };
        let _order = self.shared.held_changes.lock().await;
        self.shared
            .with_storage(self.shared.storage.suspend(suspension.clone()))
            .await?;
        self.shared.apply_suspension(&suspension);
        tracing::info!(destination = %suspension.destination, ?duration, reason, "destination suspended");
        Ok(suspension)
    }

    /// Resumes delivery to `destination`; false when it was not suspended.
    ///
    /// # Errors
    /// [`QueueError::InvalidDestination`], or the store's error, then nothing changed.
    pub async fn resume(&self, destination: &str) -> Result<bool, QueueError> {
        let dest = checked_name(destination)?;
        let _order = self.shared.held_changes.lock().await;
        let stored = self
            .shared
            .with_storage(self.shared.storage.resume(dest.as_str()))
            .await?;
        let applied = self.shared.index().resume(&dest);
        self.shared.wake.notify_one();
        tracing::info!(destination = %dest, "destination resumed");
        Ok(stored || applied)
    }

    /// The suspensions in force (ended ones left out).
    ///
    /// # Errors
    /// The store's error.
    pub async fn suspensions(&self) -> Result<Vec<Suspension>, QueueError> {
        let now = self.shared.clock.now();
        let all = self
            .shared
            .with_storage(self.shared.storage.suspensions())
            .await?;
        Ok(all.into_iter().filter(|s| in_force(s, now)).collect())
    }
}

impl Shared {
    /// Puts a stored suspension on its destination's lane and wakes the scheduler.
    pub(super) fn apply_suspension(&self, suspension: &Suspension) {
        let dest = Destination::new(&suspension.destination);
        let reason = suspension.reason.clone();
        self.index().suspend(&dest, suspension.until, reason);
        self.wake.notify_one();
    }
}

/// Applies every stored suspension still in force at `now` to `index` (at start); returns
/// how many.
pub(super) async fn load(
    storage: &dyn Storage,
    index: &mut Index,
    now: SystemTime,
) -> Result<usize, StorageError> {
    let stored = storage.suspensions().await?;
    let mut count = 0;
    for suspension in stored.into_iter().filter(|s| in_force(s, now)) {
        let dest = Destination::new(&suspension.destination);
        index.suspend(&dest, suspension.until, suspension.reason);
        count += 1;
    }
    Ok(count)
}

/// The destination `name` names; refused when empty or with white space or control
/// characters (no relay names one so, and the empty name is the unsorted lane's).
fn checked_name(name: &str) -> Result<Destination, QueueError> {
    let bad = |c: char| c.is_whitespace() || c.is_control();
    if name.is_empty() || name.chars().any(bad) {
        return Err(QueueError::InvalidDestination(name.to_owned()));
    }
    Ok(Destination::new(name))
}

fn in_force(suspension: &Suspension, now: SystemTime) -> bool {
    suspension.until.is_none_or(|until| now < until)
}
