//! The filters of the listing and of a selective flush, as URL query parameters.

use std::time::{Duration, SystemTime};

use envoi_queue::{ListQuery, MessageState};
use envoi_types::QueueId;
use serde::{Deserialize, Serialize};

use super::time::opt_duration;

/// Page size when the request names none.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The largest page a listing may ask for; a larger `limit` is refused.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Which messages a listing or a flush concerns: `?state=&sender=&recipient=&domain=&min_age=`,
/// plus the paging cursor `after` and `limit` (listing only). Absent fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageFilter {
    /// Only messages in this state: `active`, `deferred` or `held`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<MessageState>,
    /// Only messages whose sender contains this text (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// Only messages with a recipient containing this text (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// Only messages with a recipient in exactly this domain (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Only messages at least this old, e.g. `30m`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration"
    )]
    pub min_age: Option<Duration>,
    /// Listing: start after this id (the previous page's `next`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<QueueId>,
    /// Listing: at most this many messages (default 100, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl MessageFilter {
    /// True when some message-selecting filter is set (paging fields do not count): a flush
    /// with such a filter retries the matches one by one instead of flushing everything.
    pub fn is_selective(&self) -> bool {
        self.state.is_some()
            || self.sender.is_some()
            || self.recipient.is_some()
            || self.domain.is_some()
            || self.min_age.is_some()
    }

    /// The page size the server uses for this filter.
    ///
    /// # Errors
    /// A `limit` of 0 or above [`MAX_PAGE_SIZE`]: a page silently smaller than asked for would
    /// look like the end of the queue.
    pub fn page_size(&self) -> Result<usize, String> {
        match self.limit {
            None => Ok(DEFAULT_PAGE_SIZE),
            Some(limit) if (1..=MAX_PAGE_SIZE).contains(&limit) => Ok(limit),
            Some(limit) => Err(format!("limit {limit}: must be from 1 to {MAX_PAGE_SIZE}")),
        }
    }

    /// The storage query for these filters, ages measured at `now`, with the given cursor and
    /// page size.
    pub fn to_query(&self, now: SystemTime, after: Option<QueueId>, limit: usize) -> ListQuery {
        ListQuery {
            state: self.state,
            sender: self.sender.clone(),
            recipient: self.recipient.clone(),
            domain: self.domain.clone(),
            min_age: self.min_age,
            now: Some(now),
            after,
            limit,
        }
    }
}
