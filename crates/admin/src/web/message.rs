//! `GET /messages/{id}`: one message: envelope, schedule, each recipient's status with its
//! last reply and the host that gave it, the recent attempts, the header section, and the
//! actions. `GET /messages/{id}/body` downloads the stored message.

use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use envoi_queue::QueueError;
use envoi_types::QueueId;
use maud::html;

use super::error::WebError;
use super::form::state_name;
use super::layout::{self, badge, count};
use super::messages::{button_class, capitalised};
use super::session::Session;
use crate::api::{AttemptView, ReplyView};
use crate::render::human;
use crate::server::ApiError;
use crate::AdminState;

fn parse(id: &str) -> Result<QueueId, WebError> {
    id.parse()
        .map_err(|e: envoi_types::ParseQueueIdError| WebError::bad_request(e.to_string()))
}

fn recipient_state(state: envoi_types::RecipientState) -> &'static str {
    match state {
        envoi_types::RecipientState::Pending => "pending",
        envoi_types::RecipientState::Delivered => "delivered",
        envoi_types::RecipientState::Failed => "failed",
    }
}

fn not_found(id: QueueId) -> WebError {
    ApiError::from(QueueError::NotFound(id)).into()
}

pub(crate) async fn page(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    let id = parse(&id)?;
    let queue = state.queue();
    let now = queue.clock().now();
    let info = queue.info(id).await?.ok_or_else(|| not_found(id))?;
    let message = queue.message(id).await?.ok_or_else(|| not_found(id))?;
    let headers = String::from_utf8_lossy(message.envelope.message.header_section()).into_owned();
    let history: Vec<AttemptView> = message
        .meta
        .history
        .attempts
        .iter()
        .map(AttemptView::from)
        .collect();
    let sender = if info.sender.is_empty() {
        "<>"
    } else {
        info.sender.as_str()
    };
    let body = html! {
        h1 { "Message " code #message-id { (id) } }
        div.cards {
            section.card {
                h2 { "Envelope" }
                table.kv {
                    tbody {
                        tr { th { "State" } td { (badge(state_name(info.state()))) } }
                        tr { th { "Sender" } td.addr #sender { (sender) } }
                        tr { th { "Arrived" } td { (layout::when(now, info.arrival)) } }
                        tr { th { "Next attempt" } td { (layout::when(now, info.next_attempt)) @if info.held { " (held: waits for release)" } } }
                        tr { th { "Failed attempts" } td.num { (info.attempts) } }
                        tr { th { "Size" } td.num title=(format!("{} octets", count(info.size))) { (human::size(info.size)) } }
                        tr { th { "Delay warnings sent" } td.num { (message.meta.history.delay_warnings_sent) } }
                    }
                }
                p { a href=(format!("/messages/{id}/body")) download=(format!("{id}.eml")) { "Download the message (.eml)" } }
            }
            section.card {
                h2 { "Actions" }
                form.actions method="post" action="/messages/bulk" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    input type="hidden" name="id" value=(id);
                    @for action in ["hold", "release", "retry", "delete", "bounce"] {
                        button type="submit" name="action" value=(action) class=(button_class(action)) { (capitalised(action)) }
                    }
                }
                p.note { "Delete and bounce ask for confirmation." }
            }
        }
        h2 { "Recipients" }
        table.list #recipients {
            thead { tr { th { "Recipient" } th { "State" } th { "Last reply" } th { "Remote host" } } }
            tbody {
                @for recipient in &info.recipients {
                    tr {
                        td.addr { (recipient.recipient.as_str()) }
                        td { (badge(recipient_state(recipient.state))) }
                        td.reply { @match &recipient.last_reply { Some(reply) => { (ReplyView::from(reply).to_string()) } None => { span.none { "not attempted yet" } } } }
                        td { (recipient.remote_host.as_deref().unwrap_or("–")) }
                    }
                }
            }
        }
        h2 { "Recent attempts" }
        @if history.is_empty() {
            p.note { "None recorded." }
        } @else {
            table.list #history {
                thead { tr { th { "Ended" } th { "Recipient" } th { "Remote host" } th { "Reply" } } }
                tbody {
                    @for attempt in history.iter().rev() {
                        @for reply in &attempt.replies {
                            tr {
                                td { (layout::when(now, attempt.at)) }
                                td.addr { (reply.recipient) }
                                td { (reply.remote_host.as_deref().unwrap_or("–")) }
                                td.reply { (reply.reply.to_string()) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Headers" }
        pre.headers #headers { (headers) }
    };
    Ok(layout::page(
        &session,
        "/messages",
        &format!("Message {id}"),
        body,
    ))
}

/// The stored message as it will be relayed, as a download (never shown inline).
pub(crate) async fn body(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = parse(&id)?;
    let message = state
        .queue()
        .message(id)
        .await?
        .ok_or_else(|| not_found(id))?
        .envelope
        .message;
    // A streamed message's rest is in a file: read it off the async workers.
    let whole = tokio::task::spawn_blocking(move || message.in_memory())
        .await
        .map_err(|e| {
            WebError::from(ApiError::Internal(format!(
                "reading the body did not finish: {e}"
            )))
        })?
        .map_err(|e| {
            WebError::from(ApiError::Internal(format!(
                "cannot read the body of {id}: {e}"
            )))
        })?;
    Ok((
        [
            (CONTENT_TYPE, "message/rfc822".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.eml\""),
            ),
        ],
        whole.bytes(),
    )
        .into_response())
}
