//! Splitting an envelope by recipient domain.

use envoi_types::Envelope;

use super::PrequeuePolicy;

/// Stores one envelope per recipient domain, so each can be routed and retried on its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct SplitByDomain;

impl PrequeuePolicy for SplitByDomain {
    fn apply(&self, envelope: Envelope) -> Vec<Envelope> {
        envelope.split_by_domain()
    }
}
