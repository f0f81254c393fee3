//! Destinations: where the relay will take a message next, the unit the scheduler is fair
//! between, limits and backs off.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::storage::Suspension;

/// The name of one destination: the route or smarthost the relay will use, or the recipient
/// domain for MX delivery (lower case). The relay names it ([`crate::Relay::destination`]).
///
/// Two messages with equal destinations compete for the same next hop: they share its
/// concurrency limit, its back-off and its suspension.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Destination(Arc<str>);

impl Destination {
    /// A destination named `name`, in lower case (names compare without case).
    pub fn new(name: &str) -> Self {
        Self(Arc::from(name.to_lowercase()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Messages whose destination the queue has not learnt yet (loaded at start, brought in
    /// from a shared store): the name no relay gives. Such a message is sorted at its first
    /// claim, before the relay is called.
    pub(crate) fn unsorted() -> Self {
        Self(Arc::from(""))
    }

    /// True for [`Destination::unsorted`].
    pub(crate) fn is_unsorted(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the queue knows of one destination now, for administrators and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestinationStatus {
    /// Its name.
    pub destination: Destination,
    /// Messages scheduled under it, waiting or in flight (held ones excluded).
    pub queued: usize,
    /// Attempts to it in flight.
    pub in_flight: usize,
    /// The arrival of its oldest queued message.
    pub oldest_arrival: Option<SystemTime>,
    /// Consecutive attempts that could not connect.
    pub connection_failures: u32,
    /// The last such failure's reply.
    pub last_error: Option<String>,
    /// Backed off until then after connection failures.
    pub backed_off_until: Option<SystemTime>,
    /// Its suspension, when in force.
    pub suspension: Option<Suspension>,
}
