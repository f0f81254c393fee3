//! Small answers: health, the quarantine list, and the error body every failure carries.

use serde::{Deserialize, Serialize};

/// Every non-2xx answer of the API: `{"error": "..."}`, a sentence fit to show a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, e.g. `no message 01J… in the queue`.
    pub error: String,
}

impl ErrorBody {
    /// An error body with this text.
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
        }
    }
}

/// `GET /healthz`: the daemon answers, its storage can be read, and it takes new mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`, or `unhealthy` (then the answer is 503).
    pub status: String,
    /// Queued messages, when the storage could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<u64>,
    /// Why the daemon is unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /v1/quarantine`: stored records that could not be decoded and were set aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineList {
    /// The records, in the store's order.
    pub records: Vec<QuarantineEntry>,
}

/// One quarantined record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    /// Where it was (key or file name).
    pub key: String,
    /// Why it could not be read.
    pub reason: String,
}
