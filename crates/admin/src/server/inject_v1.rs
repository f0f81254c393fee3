//! `POST /v1/messages`: injection. The body is an [`InjectRequest`]; the answer the queue ids
//! from [`envoi_queue::Queue::enqueue`].
//!
//! A bad address or message is a 400 naming the field (`sender`, `recipients[1]`,
//! `message`); an enqueue refusal is a 503 carrying the SMTP reply the edge would give.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Json, State};
use axum::http::StatusCode;
use base64::Engine;
use envoi_types::{Address, ClientInfo, Envelope, Sender};

use super::extract::{self, ClientAddr};
use super::{AdminState, ApiError};
use crate::api::{InjectRequest, InjectResponse};

pub(crate) async fn inject(
    State(state): State<AdminState>,
    client: ClientAddr,
    body: Result<Json<InjectRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<InjectResponse>), ApiError> {
    let request = extract::json(body)?;
    let envelope = envelope(&request)?;
    let ids = state.queue().enqueue(envelope).await?;
    let listed: Vec<String> = ids.iter().map(ToString::to_string).collect();
    tracing::info!(
        event = "admin",
        %client,
        action = "inject",
        ids = listed.join(","),
        "admin action"
    );
    Ok((StatusCode::CREATED, Json(InjectResponse { ids })))
}

/// The envelope the request describes, or a 400 naming the bad field.
fn envelope(request: &InjectRequest) -> Result<Envelope, ApiError> {
    let sender = Sender::parse(request.sender.trim())
        .map_err(|e| ApiError::BadRequest(format!("sender: {e}")))?;
    if request.recipients.is_empty() {
        return Err(ApiError::BadRequest(
            "recipients: at least one recipient is required".into(),
        ));
    }
    let recipients = request
        .recipients
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Address::parse(text.trim())
                .map_err(|e| ApiError::BadRequest(format!("recipients[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut envelope = Envelope::new(sender, recipients, message_bytes(request)?);
    envelope.client = ClientInfo {
        protocol: "HTTP".into(),
        ..ClientInfo::default()
    };
    Ok(envelope)
}

fn message_bytes(request: &InjectRequest) -> Result<Vec<u8>, ApiError> {
    let raw = match (&request.message, &request.message_base64) {
        (Some(text), None) => text.as_bytes().to_vec(),
        (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| ApiError::BadRequest(format!("message_base64: {e}")))?,
        _ => {
            return Err(ApiError::BadRequest(
                "message: give exactly one of message or message_base64".into(),
            ))
        }
    };
    if raw.is_empty() {
        return Err(ApiError::BadRequest("message: the message is empty".into()));
    }
    Ok(crlf(&raw))
}

/// The bytes with every bare LF turned into CRLF (SMTP's line end).
fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    let mut previous = 0u8;
    for &byte in raw {
        if byte == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(byte);
        previous = byte;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(sender: &str, recipients: &[&str], message: &str) -> InjectRequest {
        InjectRequest::new(
            sender,
            recipients.iter().map(|r| (*r).to_owned()).collect(),
            message.as_bytes(),
        )
    }

    #[test]
    fn bare_lf_becomes_crlf() {
        assert_eq!(crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
    }

    #[test]
    fn names_the_bad_field() {
        let bad_sender = envelope(&request("nope", &["a@b.org"], "x")).unwrap_err();
        assert!(
            bad_sender.to_string().starts_with("sender: "),
            "{bad_sender}"
        );
        let bad_rcpt = envelope(&request("", &["a@b.org", "bad"], "x")).unwrap_err();
        assert!(
            bad_rcpt.to_string().starts_with("recipients[1]: "),
            "{bad_rcpt}"
        );
        let none = envelope(&request("", &[], "x")).unwrap_err();
        assert!(none.to_string().starts_with("recipients: "), "{none}");
        let empty = envelope(&request("", &["a@b.org"], "")).unwrap_err();
        assert!(empty.to_string().starts_with("message: "), "{empty}");
    }

    #[test]
    fn null_sender_and_base64_body() {
        let mut req = request("", &["a@b.org"], "");
        req.message = None;
        req.message_base64 = Some("U3ViamVjdDogeAoKaGkK".into()); // "Subject: x\n\nhi\n"
        let env = envelope(&req).unwrap();
        assert!(env.sender.is_null());
        assert_eq!(env.message.as_bytes(), b"Subject: x\r\n\r\nhi\r\n");
        assert_eq!(env.client.protocol, "HTTP");
    }
}
