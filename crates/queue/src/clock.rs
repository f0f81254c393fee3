//! The queue's clock: wall-clock times for storage, tokio instants for sleeping.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Wall-clock time that advances with tokio's clock.
///
/// Stored times (arrival, next attempt) are [`SystemTime`]s; the scheduler sleeps on tokio
/// [`Instant`]s. Deriving one from the other keeps them consistent, and under
/// `tokio::time::pause()` lets tests run days of retries in milliseconds. Copies share the same
/// origin, so a queue restarted with a copy continues the same timeline.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: SystemTime,
    started: Instant,
}

impl Clock {
    /// A clock that reads the current wall-clock time now.
    pub fn new() -> Self {
        Self::starting_at(SystemTime::now())
    }

    /// A clock that reads `origin` now and advances with tokio time from there.
    pub fn starting_at(origin: SystemTime) -> Self {
        Self {
            origin,
            started: Instant::now(),
        }
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        self.origin + self.started.elapsed()
    }

    /// The tokio instant at which this clock reads `time` (now, if `time` is past).
    pub fn instant_at(&self, time: SystemTime) -> Instant {
        let offset = time.duration_since(self.origin).unwrap_or(Duration::ZERO);
        (self.started + offset).max(Instant::now())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// Milliseconds since the Unix epoch (0 for earlier times): the compact form the in-memory
/// index keeps.
pub(crate) fn millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The inverse of [`millis`].
pub(crate) fn from_millis(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}
