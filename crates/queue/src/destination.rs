//! Destinations: where the relay will take a message next, the unit the scheduler is fair
//! between, limits and backs off.

use std::fmt;
use std::sync::Arc;

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
