//! Prequeue policies: changes made to an envelope before it is stored.
//!
//! # Layout
//! - [`headers`]: add Date, Message-ID and Received headers.
//! - [`split`]: one envelope per recipient domain.
//! - [`forward`]: rewrite recipients from an alias table.

pub mod forward;
pub mod headers;
pub mod split;

use envoi_types::Envelope;

pub use forward::Forward;
pub use headers::{AddDateHeader, AddMessageIdHeader, AddReceivedHeader};
pub use split::SplitByDomain;

/// A change applied to every envelope before the queue stores it.
///
/// A policy returns the envelopes to store instead of the one given: usually one (possibly
/// changed), several to split it, none to drop it. Policies run in order; each sees every
/// envelope the previous one returned.
pub trait PrequeuePolicy: Send + Sync + 'static {
    /// The envelopes to store in place of `envelope`.
    fn apply(&self, envelope: Envelope) -> Vec<Envelope>;
}

/// Runs `policies` in order over `envelope`.
pub fn apply_all(policies: &[Box<dyn PrequeuePolicy>], envelope: Envelope) -> Vec<Envelope> {
    policies.iter().fold(vec![envelope], |envelopes, policy| {
        envelopes
            .into_iter()
            .flat_map(|envelope| policy.apply(envelope))
            .collect()
    })
}
