//! Injection: handing a message to the queue over HTTP (`POST /v1/messages`).

use base64::Engine;
use envoi_types::QueueId;
use serde::{Deserialize, Serialize};

/// A message to enqueue. Give the message as text in `message`, or as base64 in
/// `message_base64` (for bytes that are not UTF-8); exactly one of the two.
///
/// Bare LF line ends are turned into CRLF before the message is queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectRequest {
    /// The envelope sender; empty for the null sender `<>`.
    pub sender: String,
    /// The envelope recipients (at least one).
    pub recipients: Vec<String>,
    /// The raw message (headers and body) as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The raw message as standard base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_base64: Option<String>,
}

impl InjectRequest {
    /// A request carrying `message` as text when it is UTF-8, else as base64.
    pub fn new(sender: impl Into<String>, recipients: Vec<String>, message: &[u8]) -> Self {
        let (text, encoded) = match std::str::from_utf8(message) {
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(message)),
            ),
        };
        Self {
            sender: sender.into(),
            recipients,
            message: text,
            message_base64: encoded,
        }
    }
}

/// The answer to an injection: the ids of the stored messages (several when a prequeue
/// policy split the message, none when a policy dropped it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectResponse {
    /// The queue ids, in the order the queue stored them.
    pub ids: Vec<QueueId>,
}
