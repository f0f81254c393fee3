//! `POST /v1/bulk/{action}`: one operation on many messages, chosen by id, by the listing's
//! filters, or all of them.

use envoi_types::QueueId;
use serde::{Deserialize, Serialize};

use super::{Action, MessageFilter};

/// The most ids one request may name; larger sets go in several requests or by filter.
pub const MAX_BULK_IDS: usize = 10_000;

/// Which messages a bulk operation concerns: exactly one of `ids`, `filter` or `all`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// These messages (at most [`MAX_BULK_IDS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<QueueId>,
    /// Every message matching these filters (the listing's, without `after` and `limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<MessageFilter>,
    /// Every message in the queue.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Must be true for `delete` and `bounce` by `filter` or `all`: a destructive operation on
    /// a set nobody listed is confirmed explicitly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
}

/// What a bulk operation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkResult {
    /// The operation.
    pub action: Action,
    /// Messages the request selected.
    pub matched: u64,
    /// Messages the operation changed.
    pub changed: u64,
    /// The others, grouped by why they were left alone.
    pub skipped: Vec<BulkSkipped>,
}

/// Messages a bulk operation left alone for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkSkipped {
    /// Why: `not found`, `being delivered`, `held` or a storage error's text.
    pub reason: String,
    /// How many.
    pub count: u64,
    /// The first few of them (at most [`BulkSkipped::MAX_EXAMPLES`]).
    pub examples: Vec<QueueId>,
}

impl BulkSkipped {
    /// The most example ids kept per reason.
    pub const MAX_EXAMPLES: usize = 10;
}
