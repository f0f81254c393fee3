//! A server-wide budget for message bytes held in memory.
//!
//! Each session's message is bounded by the size limit, but many sessions at once could
//! still hold `connections × size limit`. The budget caps the sum: a session reserves room
//! before it keeps more content, and a message that finds no room is read to its end,
//! discarded, and answered `452 4.3.1` (try later), never left half-stored.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Reservations are counted in units of this many octets.
const UNIT: usize = 1024;

/// The shared pool of message memory.
#[derive(Debug, Clone)]
pub(crate) struct MemoryBudget {
    pool: Arc<Semaphore>,
}

/// What one session holds from the budget; released when dropped.
#[derive(Debug, Default)]
pub(crate) struct Held(Option<OwnedSemaphorePermit>);

impl MemoryBudget {
    /// A budget of `bytes` octets (rounded up to whole units).
    pub(crate) fn new(bytes: usize) -> Self {
        let units = bytes.div_ceil(UNIT).min(Semaphore::MAX_PERMITS);
        Self {
            pool: Arc::new(Semaphore::new(units)),
        }
    }

    /// Grows `held` to cover `bytes` octets in all; false (and `held` unchanged) when the
    /// budget has no room. Never waits.
    pub(crate) fn reserve(&self, held: &mut Held, bytes: usize) -> bool {
        let want = bytes.div_ceil(UNIT);
        let have = held.0.as_ref().map_or(0, |p| p.num_permits());
        if want <= have {
            return true;
        }
        let Ok(extra) = u32::try_from(want - have) else {
            return false;
        };
        match Arc::clone(&self.pool).try_acquire_many_owned(extra) {
            Ok(permit) => {
                match &mut held.0 {
                    Some(existing) => existing.merge(permit),
                    None => held.0 = Some(permit),
                }
                true
            }
            Err(_) => false,
        }
    }
}

impl Held {
    /// Gives everything back to the budget.
    pub(crate) fn release(&mut self) {
        self.0 = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_grow_and_release() {
        let budget = MemoryBudget::new(4 * UNIT);
        let mut a = Held::default();
        let mut b = Held::default();
        assert!(budget.reserve(&mut a, 1));
        assert!(budget.reserve(&mut a, 3 * UNIT));
        assert!(!budget.reserve(&mut b, 2 * UNIT), "only one unit left");
        assert!(budget.reserve(&mut b, UNIT));
        a.release();
        assert!(budget.reserve(&mut b, 4 * UNIT));
    }
}
