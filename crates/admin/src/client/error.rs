//! What can go wrong talking to the daemon, worded for the person at the terminal.

use reqwest::StatusCode;

use crate::api::ErrorBody;

/// Why an [`AdminClient`](super::AdminClient) call failed. `Display` is a sentence the CLI can
/// print as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Nothing listens at the admin address (connection refused, or the connection timed out).
    #[error("cannot reach envoi at {url}: is `envoi serve` running?")]
    Unreachable {
        /// The base URL tried.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// 401: the token is missing or wrong.
    #[error("the admin API refused the token ({detail})")]
    Unauthorized {
        /// The server's reason: `missing bearer token` or `wrong bearer token`.
        detail: String,
    },
    /// 404: e.g. `no message 01J… in the queue`.
    #[error("{message}")]
    NotFound {
        /// The server's message.
        message: String,
    },
    /// 400: the request was malformed (bad id, filter, address); the message names it.
    #[error("{message}")]
    BadRequest {
        /// The server's message.
        message: String,
    },
    /// 409: the message is being delivered right now, or is held.
    #[error("{message}")]
    Conflict {
        /// The server's message.
        message: String,
    },
    /// Any other error status (503 for an injection the queue refused, 500 for storage trouble).
    #[error("envoi answered {status}: {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// The base URL cannot be used.
    #[error("invalid admin URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request failed after connecting (reset, timeout, ...).
    #[error("request to {url} failed: {source}")]
    Transport {
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The answer was not the JSON expected (a different program on that port?).
    #[error("unexpected answer from {url}: {source}")]
    Decode {
        /// The URL requested.
        url: String,
        /// The decoding error.
        #[source]
        source: reqwest::Error,
    },
}

impl ClientError {
    /// The HTTP status the server answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { .. } => Some(401),
            Self::NotFound { .. } => Some(404),
            Self::BadRequest { .. } => Some(400),
            Self::Conflict { .. } => Some(409),
            Self::Server { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error for a non-success answer, from its status and body text.
    pub(crate) fn from_answer(status: StatusCode, body: &str) -> Self {
        let message = serde_json::from_str::<ErrorBody>(body)
            .map(|b| b.error)
            .unwrap_or_else(|_| fallback_message(status, body));
        match status {
            StatusCode::UNAUTHORIZED => Self::Unauthorized { detail: message },
            StatusCode::NOT_FOUND => Self::NotFound { message },
            StatusCode::BAD_REQUEST => Self::BadRequest { message },
            StatusCode::CONFLICT => Self::Conflict { message },
            other => Self::Server {
                status: other.as_u16(),
                message,
            },
        }
    }

    /// The error for a failed request to `url` (base URL `base`).
    pub(crate) fn from_transport(base: &str, url: &str, source: reqwest::Error) -> Self {
        if source.is_connect() {
            Self::Unreachable {
                url: base.to_owned(),
                source,
            }
        } else {
            Self::Transport {
                url: url.to_owned(),
                source,
            }
        }
    }
}

fn fallback_message(status: StatusCode, body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no explanation")
            .to_owned()
    } else {
        body.chars().take(200).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_statuses_and_reads_the_error_body() {
        let e = ClientError::from_answer(
            StatusCode::NOT_FOUND,
            r#"{"error":"no message X in the queue"}"#,
        );
        assert_eq!(e.to_string(), "no message X in the queue");
        let e = ClientError::from_answer(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"wrong bearer token"}"#,
        );
        assert!(e.to_string().starts_with("the admin API refused the token"));
        let e = ClientError::from_answer(StatusCode::BAD_GATEWAY, "");
        assert_eq!(e.to_string(), "envoi answered 502: Bad Gateway");
        assert_eq!(e.status(), Some(502));
    }
}
