//! `POST /messages/bulk`: hold, release, retry, delete or bounce the selected messages
//! (`id` fields) or every match of the filter (`all_action`). Deleting, bouncing and anything
//! on the whole filter first answer a confirmation page that states how many messages it
//! concerns; its button posts the same fields with `confirm=yes`.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::response::Html;
use axum::{Extension, Form};
use envoi_types::QueueId;
use maud::html;

use super::error::WebError;
use super::form::{self, filter_pairs, list_link, Fields};
use super::layout::{self, count};
use super::messages::{button_class, capitalised};
use super::session::Session;
use crate::api::{Action, BulkResult, MAX_BULK_IDS};
use crate::server::extract::ClientAddr;
use crate::server::{bulk_v1, select};
use crate::AdminState;

pub(crate) async fn submit(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    client: ClientAddr,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Html<String>, WebError> {
    let fields = Fields::of(form)?;
    session.check_csrf(fields.get("csrf"))?;
    let filter = form::filter(&fields)?;
    let (name, whole) = match (fields.text("action"), fields.text("all_action")) {
        (Some(name), None) => (name, false),
        (None, Some(name)) => (name, true),
        _ => return Err(WebError::bad_request("choose one action")),
    };
    let action = Action::from_name(name)
        .ok_or_else(|| WebError::bad_request(format!("no action {name:?}")))?;
    let selected = selected_ids(&fields)?;
    if !whole && selected.is_empty() {
        return Err(WebError::bad_request(
            "No message selected: tick the rows to act on, or use the buttons for every match.",
        ));
    }
    let queue = state.queue();
    let confirmed = fields.get("confirm") == Some("yes");
    if (whole || action.is_destructive()) && !confirmed {
        let matched = if whole {
            select::matching_ids(queue, &filter).await?.len()
        } else {
            selected.len()
        };
        return Ok(confirm_page(&session, &fields, action, whole, matched));
    }
    let ids = if whole {
        select::matching_ids(queue, &filter).await?
    } else {
        selected
    };
    let result = bulk_v1::execute(queue, action, &ids).await;
    tracing::info!(
        event = "admin",
        %client,
        via = "dashboard",
        action = action.name(),
        selection = if whole { "filter" } else { "ids" },
        matched = result.matched,
        changed = result.changed,
        "bulk admin action"
    );
    let back = list_link(&filter_pairs(&filter));
    Ok(result_page(&session, &result, &back))
}

/// The `id` fields as queue ids, at most [`MAX_BULK_IDS`].
fn selected_ids(fields: &Fields) -> Result<Vec<QueueId>, WebError> {
    let ids = fields
        .all("id")
        .map(|text| {
            text.parse()
                .map_err(|e: envoi_types::ParseQueueIdError| WebError::bad_request(e.to_string()))
        })
        .collect::<Result<Vec<QueueId>, WebError>>()?;
    if ids.len() > MAX_BULK_IDS {
        return Err(WebError::bad_request(format!(
            "{} messages selected: at most {MAX_BULK_IDS} at once (or act on the filter)",
            ids.len()
        )));
    }
    Ok(ids)
}

fn confirm_page(
    session: &Session,
    fields: &Fields,
    action: Action,
    whole: bool,
    matched: usize,
) -> Html<String> {
    let noun = if matched == 1 { "message" } else { "messages" };
    let scope = if whole {
        "every message matching the filter"
    } else {
        "the selected messages"
    };
    let filter = form::filter(fields).unwrap_or_default();
    let pairs = filter_pairs(&filter);
    let back = list_link(&pairs);
    let body = html! {
        h1 { "Confirm" }
        p.confirm #confirm-text {
            (capitalised(action.name())) " " strong #confirm-count { (count(matched as u64)) } " " (noun) " (" (scope) ")?"
        }
        @if action.is_destructive() {
            p.warning { "This cannot be undone: " (action.outcome()) " messages leave the queue." }
        }
        @if whole {
            p.note { "The filter is applied again when you confirm: messages that arrived meanwhile are included." }
        }
        form.confirm-actions method="post" action="/messages/bulk" {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="confirm" value="yes";
            @for (name, value) in &pairs {
                input type="hidden" name=(name) value=(value);
            }
            @if whole {
                input type="hidden" name="all_action" value=(action.name());
            } @else {
                input type="hidden" name="action" value=(action.name());
                @for id in fields.all("id") {
                    input type="hidden" name="id" value=(id);
                }
            }
            button #confirm type="submit" class=(button_class(action.name())) { (capitalised(action.name())) " " (count(matched as u64)) " " (noun) }
            a href=(back) { "Cancel" }
        }
    };
    layout::page(session, "/messages", "Confirm", body)
}

fn result_page(session: &Session, result: &BulkResult, back: &str) -> Html<String> {
    let body = html! {
        h1 { "Done" }
        p #result {
            (capitalised(result.action.name())) ": " strong { (count(result.changed)) } " of "
            (count(result.matched)) " messages " (result.action.outcome()) "."
        }
        @if !result.skipped.is_empty() {
            table.list {
                thead { tr { th { "Left alone because" } th.num { "Messages" } th { "For example" } } }
                tbody {
                    @for skipped in &result.skipped {
                        tr {
                            td { (skipped.reason) }
                            td.num { (count(skipped.count)) }
                            td {
                                @for id in &skipped.examples {
                                    a.mono href=(format!("/messages/{id}")) { (id) } " "
                                }
                            }
                        }
                    }
                }
            }
        }
        p { a href=(back) { "Back to the messages" } }
    };
    layout::page(session, "/messages", "Done", body)
}
