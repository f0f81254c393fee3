//! The relay contract: one delivery attempt of one envelope.

use async_trait::async_trait;
use envoi_types::{Envelope, Reply};

/// One reply about a delivery, with the host that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The reply (a relay turns network trouble into a reply too, e.g. `451 4.4.1`).
    pub reply: Reply,
    /// The next hop that answered, when the reply came from the network.
    pub remote_host: Option<String>,
}

impl Outcome {
    /// An outcome from a reply and an optional remote host.
    pub fn new(reply: Reply, remote_host: Option<String>) -> Self {
        Self { reply, remote_host }
    }
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// One outcome for every recipient of the envelope.
    Whole(Outcome),
    /// One outcome per recipient, in the envelope's recipient order (same length).
    PerRecipient(Vec<Outcome>),
}

/// A failure inside a relay that it could not turn into a reply. The queue treats it, like a
/// panic, as a transient failure `450 4.0.0` for every recipient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("relay failed: {0}")]
pub struct RelayError(pub String);

/// Something that attempts delivery of envelopes to their next hop.
///
/// The queue calls [`Relay::attempt`] with a copy of the envelope that holds only the
/// recipients still pending. Implementations decide nothing about retries: they report what
/// happened, the queue decides.
#[async_trait]
pub trait Relay: Send + Sync + 'static {
    /// Attempts delivery once. `attempt` is the number of earlier failed attempts.
    ///
    /// # Errors
    /// A [`RelayError`] when the relay cannot say anything meaningful; a relay should prefer
    /// returning a reply that says what went wrong.
    async fn attempt(&self, envelope: &Envelope, attempt: u32) -> Result<Delivery, RelayError>;
}
