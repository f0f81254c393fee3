//! `GET /destinations`: every destination with mail, attempts, failures or a suspension (the
//! queue's in-memory view: no storage read), with suspend and resume buttons.

use std::time::Duration;

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;

use super::error::WebError;
use super::form::Fields;
use super::layout::{self, badge, count};
use super::session::Session;
use crate::server::extract::ClientAddr;
use crate::server::ApiError;
use crate::AdminState;

/// The suspension lengths offered: (field value, label).
const DURATIONS: [(&str, &str); 4] = [
    ("1h", "1 hour"),
    ("4h", "4 hours"),
    ("1d", "1 day"),
    ("", "until resumed"),
];

pub(crate) async fn page(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
) -> Html<String> {
    let queue = state.queue();
    let now = queue.clock().now();
    let destinations = queue.destinations();
    let body = html! {
        h1 { "Destinations" }
        table.list #destinations {
            thead {
                tr {
                    th { "Destination" } th.num { "Queued" } th.num { "In flight" } th { "Oldest" }
                    th.num { "Failures" } th { "Last error" } th { "Backed off until" } th { "Suspended" } th { "" }
                }
            }
            tbody {
                @for dest in &destinations {
                    tr {
                        td.addr {
                            @if is_domain(dest.destination.as_str()) {
                                a href=(format!("/messages?domain={}", super::form::encode(dest.destination.as_str()))) { (dest.destination.as_str()) }
                            } @else {
                                (dest.destination.as_str())
                            }
                        }
                        td.num { (count(dest.queued as u64)) }
                        td.num { (count(dest.in_flight as u64)) }
                        td { (layout::maybe_when(now, dest.oldest_arrival)) }
                        td.num { (dest.connection_failures) }
                        td.reply { (dest.last_error.as_deref().unwrap_or("–")) }
                        td { (layout::maybe_when(now, dest.backed_off_until.filter(|until| *until > now))) }
                        td {
                            @match &dest.suspension {
                                Some(suspension) => {
                                    (badge("suspended")) " "
                                    @match suspension.until { Some(until) => { "until " (layout::when(now, until)) } None => { "until resumed" } }
                                    @if !suspension.reason.is_empty() { br; span.note { (suspension.reason) } }
                                }
                                None => { span.none { "–" } }
                            }
                        }
                        td {
                            @if dest.suspension.is_some() {
                                form.inline method="post" action="/destinations/resume" {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    input type="hidden" name="destination" value=(dest.destination.as_str());
                                    button.plain type="submit" { "Resume" }
                                }
                            } @else {
                                form.inline method="post" action="/destinations/suspend" {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    input type="hidden" name="destination" value=(dest.destination.as_str());
                                    select name="for" aria-label="For how long" {
                                        @for (value, label) in DURATIONS { option value=(value) { (label) } }
                                    }
                                    input type="text" name="reason" placeholder="reason" size="12" aria-label="Reason";
                                    button.plain type="submit" { "Suspend" }
                                }
                            }
                        }
                    }
                }
                @if destinations.is_empty() {
                    tr { td.empty colspan="9" { "No destination has mail or activity." } }
                }
            }
        }
    };
    layout::page(&session, "/destinations", "Destinations", body)
}

/// Whether a destination's name is a recipient domain (an MX destination), so the message
/// list can filter on it; routes and smarthosts have other names.
fn is_domain(name: &str) -> bool {
    envoi_types::mailbox::is_domain(name) && name.contains('.')
}

/// A destination form's fields once its CSRF token checks out, and the destination it names.
fn destination_form(
    session: &Session,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<(Fields, String), WebError> {
    let fields = Fields::of(form)?;
    session.check_csrf(fields.get("csrf"))?;
    let name = fields
        .text("destination")
        .ok_or_else(|| WebError::bad_request("no destination named"))?
        .to_owned();
    Ok((fields, name))
}

/// `POST /destinations/suspend`: `destination`, `for` (blank: until resumed), `reason`.
pub(crate) async fn suspend(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    client: ClientAddr,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, WebError> {
    let (fields, name) = destination_form(&session, form)?;
    let name = name.as_str();
    let duration: Option<Duration> = fields
        .text("for")
        .map(|text| {
            humantime::parse_duration(text)
                .map_err(|e| WebError::bad_request(format!("duration {text:?}: {e}")))
        })
        .transpose()?;
    let reason = fields.text("reason").unwrap_or("");
    let suspension = state
        .queue()
        .suspend(name, duration, reason)
        .await
        .map_err(ApiError::from)?;
    tracing::info!(
        event = "admin",
        %client,
        via = "dashboard",
        action = "suspend",
        destination = %suspension.destination,
        duration = duration.map(|d| format!("{}s", d.as_secs())),
        reason,
        "admin action"
    );
    Ok(Redirect::to("/destinations").into_response())
}

/// `POST /destinations/resume`: `destination`.
pub(crate) async fn resume(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    client: ClientAddr,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, WebError> {
    let (_, name) = destination_form(&session, form)?;
    let name = name.as_str();
    let resumed = state.queue().resume(name).await.map_err(ApiError::from)?;
    tracing::info!(
        event = "admin",
        %client,
        via = "dashboard",
        action = "resume",
        destination = %name,
        resumed,
        "admin action"
    );
    Ok(Redirect::to("/destinations").into_response())
}
