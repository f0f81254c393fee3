//! One queued message as the API shows it, and a page of them.

use std::time::SystemTime;

use envoi_queue::storage::{AttemptRecord, AttemptReply, MessageHistory};
use envoi_queue::{MessageInfo, MessageState};
use envoi_types::{QueueId, RecipientState, RecipientStatus, Reply, TlsReport};
use serde::{Deserialize, Serialize};

use super::time::rfc3339;

/// A queued message: envelope, per-recipient status and schedule (never the body).
///
/// `GET /v1/messages` lists these without headers; `GET /v1/messages/{id}?headers=true` adds
/// the header section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    /// The queue id.
    pub id: QueueId,
    /// `active` (no failure yet), `deferred` (waiting for a retry) or `held`.
    pub state: MessageState,
    /// The envelope sender; empty for the null sender `<>`.
    pub sender: String,
    /// Every recipient with its status, in envelope order.
    pub recipients: Vec<RecipientView>,
    /// Scheduled attempts that failed transiently so far (forced ones, by flush or retry,
    /// are not counted).
    pub attempts: u32,
    /// When the next attempt is due (a held message waits for release as well).
    #[serde(with = "rfc3339")]
    pub next_attempt: SystemTime,
    /// When the message arrived.
    #[serde(with = "rfc3339")]
    pub arrival: SystemTime,
    /// Size of the message in octets.
    pub size: u64,
    /// Whether an administrator holds it.
    pub held: bool,
    /// The header section (lossy UTF-8), only when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<String>,
    /// The last attempts, oldest first (`queue.history_limit` of them at most); only in
    /// `GET /v1/messages/{id}`, and left out while there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<AttemptView>,
    /// How many delay-warning thresholds have passed (their warnings sent); only in
    /// `GET /v1/messages/{id}`, and left out while 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_warnings_sent: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl MessageView {
    /// Adds what the message's history holds.
    pub fn with_history(mut self, history: &MessageHistory) -> Self {
        self.history = history.attempts.iter().map(AttemptView::from).collect();
        self.delay_warnings_sent = history.delay_warnings_sent;
        self
    }
}

/// One delivery attempt: when it ended and what each recipient attempted was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptView {
    /// When the attempt ended.
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// One entry per recipient attempted.
    pub replies: Vec<AttemptReplyView>,
}

impl From<&AttemptRecord> for AttemptView {
    fn from(record: &AttemptRecord) -> Self {
        Self {
            at: record.at,
            replies: record.replies.iter().map(AttemptReplyView::from).collect(),
        }
    }
}

/// One recipient's answer in one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptReplyView {
    /// The recipient address.
    pub recipient: String,
    /// The next hop that answered (or could not be reached), when one was involved.
    #[serde(default)]
    pub remote_host: Option<String>,
    /// The reply.
    pub reply: ReplyView,
}

impl From<&AttemptReply> for AttemptReplyView {
    fn from(reply: &AttemptReply) -> Self {
        Self {
            recipient: reply.recipient.as_str().to_owned(),
            remote_host: reply.remote_host.clone(),
            reply: ReplyView::from(&reply.reply),
        }
    }
}

impl From<&MessageInfo> for MessageView {
    fn from(info: &MessageInfo) -> Self {
        Self {
            id: info.id,
            state: info.state(),
            sender: info.sender.clone(),
            recipients: info.recipients.iter().map(RecipientView::from).collect(),
            attempts: info.attempts,
            next_attempt: info.next_attempt,
            arrival: info.arrival,
            size: info.size,
            held: info.held,
            headers: None,
            history: Vec::new(),
            delay_warnings_sent: 0,
        }
    }
}

/// One recipient and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientView {
    /// The recipient address.
    pub recipient: String,
    /// `pending`, `delivered` or `failed`.
    pub state: RecipientState,
    /// The last reply about this recipient, once it was attempted.
    #[serde(default)]
    pub last_reply: Option<ReplyView>,
    /// The host that gave that reply, when it came from the network.
    #[serde(default)]
    pub remote_host: Option<String>,
    /// How the session of the last attempt was protected, when a session carried it:
    /// `{"policy": "none|opportunistic|required|mta-sts|dane", "verified": bool}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsReport>,
}

impl From<&RecipientStatus> for RecipientView {
    fn from(status: &RecipientStatus) -> Self {
        Self {
            recipient: status.recipient.as_str().to_owned(),
            state: status.state,
            last_reply: status.last_reply.as_ref().map(ReplyView::from),
            remote_host: status.remote_host.clone(),
            tls: status.tls,
        }
    }
}

/// An SMTP reply, flattened for people and scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyView {
    /// The three-digit code, e.g. 451.
    pub code: u16,
    /// The enhanced status code, e.g. `4.4.1`.
    pub enhanced: String,
    /// The reply text, lines joined with a space.
    pub text: String,
}

impl From<&Reply> for ReplyView {
    fn from(reply: &Reply) -> Self {
        Self {
            code: reply.code,
            enhanced: reply.enhanced.to_string(),
            text: reply.text(),
        }
    }
}

impl std::fmt::Display for ReplyView {
    /// `451 4.4.1 text`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.code, self.enhanced, self.text)
    }
}

/// `GET /v1/messages`: one page of the listing, in id (arrival) order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePage {
    /// The messages of this page.
    pub messages: Vec<MessageView>,
    /// Pass this as `after` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<QueueId>,
}
