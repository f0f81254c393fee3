//! Per-recipient delivery status.

use serde::{Deserialize, Serialize};

use crate::{Address, Reply};

/// Where one recipient of a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientState {
    /// Not delivered yet; will be attempted.
    Pending,
    /// Accepted by the next hop; never sent again.
    Delivered,
    /// Failed permanently; a bounce was (or, for the null sender, would have been) sent.
    Failed,
}

/// The delivery status of one recipient, with the last reply about it and who gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientStatus {
    /// The recipient.
    pub recipient: Address,
    /// Where it stands.
    pub state: RecipientState,
    /// The last reply received for this recipient, if it was attempted.
    pub last_reply: Option<Reply>,
    /// The host that gave [`RecipientStatus::last_reply`], when it came from the network.
    pub remote_host: Option<String>,
}

impl RecipientStatus {
    /// A recipient not attempted yet.
    pub fn pending(recipient: Address) -> Self {
        Self {
            recipient,
            state: RecipientState::Pending,
            last_reply: None,
            remote_host: None,
        }
    }

    /// True while the recipient still has to be attempted.
    pub fn is_pending(&self) -> bool {
        self.state == RecipientState::Pending
    }
}
