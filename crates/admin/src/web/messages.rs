//! `GET /messages`: the filtered, paged listing with checkboxes and the bulk buttons.
//!
//! One storage read per view: a page of the listing (one more than shown tells whether there
//! is a next page). `?sort=` orders the rows of the page shown, not the whole queue.

use std::cmp::Ordering;
use std::time::SystemTime;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::Extension;
use envoi_queue::{MessageInfo, MessageState};
use envoi_types::QueueId;
use maud::{html, Markup};

use super::error::WebError;
use super::form::{self, filter_pairs, list_link, query_string, state_name, Fields};
use super::layout::{self, badge};
use super::session::Session;
use crate::api::MessageFilter;
use crate::AdminState;

/// Rows per page unless `?limit=` says otherwise.
const PAGE: usize = 100;
/// The most rows a page may show.
const MAX_PAGE: usize = 1000;

/// The columns `?sort=` accepts (a leading `-` reverses).
const SORTS: [(&str, &str); 5] = [
    ("state", "State"),
    ("sender", "Sender"),
    ("recipient", "Recipient"),
    ("domain", "Domain"),
    ("age", "Age"),
];

pub(crate) async fn page(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Html<String>, WebError> {
    let fields = Fields::from_pairs(form::query(query)?);
    let filter = form::filter(&fields)?;
    let after: Option<QueueId> =
        match fields.text("after") {
            Some(text) => Some(text.parse().map_err(|e: envoi_types::ParseQueueIdError| {
                WebError::bad_request(e.to_string())
            })?),
            None => None,
        };
    let limit = match fields.text("limit") {
        None => PAGE,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                WebError::bad_request(format!("limit {text:?}: from 1 to {MAX_PAGE}"))
            })?,
    };
    let sort = fields.text("sort").unwrap_or("").to_owned();
    let queue = state.queue();
    let now = queue.clock().now();
    let mut infos = queue.list(&filter.to_query(now, after, limit + 1)).await?;
    let next = if infos.len() > limit {
        infos.truncate(limit);
        infos.last().map(|info| info.id)
    } else {
        None
    };
    sort_rows(&mut infos, &sort);
    // The maintained counts give the size of an unfiltered or state-only listing for free;
    // other filters would need a scan, so their total is not shown.
    let total = if filter.is_selective() && !state_only(&filter) {
        None
    } else {
        let counts = queue.count_by_state().await?;
        Some(match filter.state {
            Some(MessageState::Active) => counts.active,
            Some(MessageState::Deferred) => counts.deferred,
            Some(MessageState::Held) => counts.held,
            None => counts.total(),
        })
    };
    let pairs = filter_pairs(&filter);
    let body = html! {
        h1 { "Messages" }
        (filter_form(&filter))
        form #bulk method="post" action="/messages/bulk" {
            input type="hidden" name="csrf" value=(session.csrf);
            @for (name, value) in &pairs {
                input type="hidden" name=(name) value=(value);
            }
            div.actions {
                span { "Selected: " }
                @for action in ["hold", "release", "retry", "delete", "bounce"] {
                    button type="submit" name="action" value=(action) class=(button_class(action)) { (capitalised(action)) }
                }
                span.sep { "Every match of the filter: " }
                @for action in ["hold", "release", "retry", "delete", "bounce"] {
                    button type="submit" name="all_action" value=(action) class=(button_class(action)) { (capitalised(action)) " all" }
                }
            }
            table.list #messages {
                thead {
                    tr {
                        th.check { input #select-all type="checkbox" title="Select every row of this page" aria-label="Select every row of this page"; }
                        th { "Id" }
                        @for (key, label) in SORTS {
                            th { (sort_link(&pairs, &sort, key, label)) }
                        }
                        th.num { "Attempts" }
                        th { "Next attempt" }
                    }
                }
                tbody {
                    @for info in &infos {
                        (row(now, info))
                    }
                    @if infos.is_empty() {
                        tr { td.empty colspan="9" { "No message matches." } }
                    }
                }
            }
        }
        nav.pager {
            @if after.is_some() {
                a href=(list_link(&pairs)) { "⇤ First page" }
            }
            @if let Some(next) = next {
                a href=(next_link(&pairs, next, &sort)) rel="next" { "Next page ⇥" }
            }
            span.note #shown {
                (infos.len()) " shown"
                @if let Some(total) = total { " of " (layout::count(total)) }
                ", oldest first"
                @if !sort.is_empty() { "; sorted within the page" }
            }
        }
    };
    Ok(layout::page(&session, "/messages", "Messages", body))
}

/// True when the filter selects by state and nothing else.
fn state_only(filter: &MessageFilter) -> bool {
    let MessageFilter {
        sender,
        recipient,
        domain,
        min_age,
        ..
    } = filter;
    sender.is_none() && recipient.is_none() && domain.is_none() && min_age.is_none()
}

fn filter_form(filter: &MessageFilter) -> Markup {
    let state = filter.state.map(state_name).unwrap_or("");
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let age = filter
        .min_age
        .map(|age| humantime::format_duration(age).to_string())
        .unwrap_or_default();
    html! {
        form.filter method="get" action="/messages" {
            label { "State "
                select name="state" {
                    @for (value, label) in [("", "any"), ("active", "active"), ("deferred", "deferred"), ("held", "held")] {
                        option value=(value) selected[state == value] { (label) }
                    }
                }
            }
            label { "Sender " input type="text" name="sender" value=(text(&filter.sender)) size="18"; }
            label { "Recipient " input type="text" name="recipient" value=(text(&filter.recipient)) size="18"; }
            label { "Domain " input type="text" name="domain" value=(text(&filter.domain)) size="14"; }
            label { "Older than " input type="text" name="min_age" value=(age) size="5" placeholder="30m"; }
            button type="submit" { "Filter" }
            a href="/messages" { "Clear" }
        }
    }
}

fn row(now: SystemTime, info: &MessageInfo) -> Markup {
    let first = info
        .recipients
        .first()
        .map(|r| r.recipient.as_str())
        .unwrap_or("");
    let more = info.recipients.len().saturating_sub(1);
    let domains = domains(info).join(", ");
    let sender = if info.sender.is_empty() {
        "<>"
    } else {
        info.sender.as_str()
    };
    html! {
        tr {
            td.check { input type="checkbox" name="id" value=(info.id) aria-label=(format!("Select {}", info.id)); }
            td { a.mono href=(format!("/messages/{}", info.id)) { (info.id) } }
            td { (badge(state_name(info.state()))) }
            td.addr { (sender) }
            td.addr { (first) @if more > 0 { " " span.note { "+" (more) " more" } } }
            td { (domains) }
            td { (layout::when(now, info.arrival)) }
            td.num { (info.attempts) }
            td { (layout::when(now, info.next_attempt)) }
        }
    }
}

/// The distinct recipient domains, lower case, in envelope order.
fn domains(info: &MessageInfo) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for recipient in &info.recipients {
        let domain = recipient.recipient.domain_lowercase();
        if !out.contains(&domain) {
            out.push(domain);
        }
    }
    out
}

/// Orders the page's rows by `sort` (`-` first reverses); an unknown key keeps arrival order.
fn sort_rows(infos: &mut [MessageInfo], sort: &str) {
    let (key, reverse) = match sort.strip_prefix('-') {
        Some(key) => (key, true),
        None => (sort, false),
    };
    let first_rcpt = |info: &MessageInfo| {
        info.recipients
            .first()
            .map(|r| r.recipient.as_str().to_lowercase())
            .unwrap_or_default()
    };
    let compare: fn(&MessageInfo, &MessageInfo) -> Ordering = match key {
        "state" => |a, b| state_name(a.state()).cmp(state_name(b.state())),
        "sender" => |a, b| a.sender.to_lowercase().cmp(&b.sender.to_lowercase()),
        "domain" => |a, b| domains(a).cmp(&domains(b)),
        // Oldest first: earlier arrival is larger age.
        "age" => |a, b| a.arrival.cmp(&b.arrival),
        _ => |_, _| Ordering::Equal,
    };
    if key == "recipient" {
        infos.sort_by_key(first_rcpt);
    } else {
        infos.sort_by(compare);
    }
    if reverse {
        infos.reverse();
    }
}

fn sort_link(pairs: &[(&'static str, String)], current: &str, key: &str, label: &str) -> Markup {
    let next = if current == key {
        format!("-{key}")
    } else {
        key.to_owned()
    };
    let mut all = pairs.to_vec();
    all.push(("sort", next));
    let arrow = if current == key {
        " ▲"
    } else if current.strip_prefix('-') == Some(key) {
        " ▼"
    } else {
        ""
    };
    html! { a href=(format!("/messages?{}", query_string(&all))) { (label) (arrow) } }
}

fn next_link(pairs: &[(&'static str, String)], next: QueueId, sort: &str) -> String {
    let mut all = pairs.to_vec();
    all.push(("after", next.to_string()));
    if !sort.is_empty() {
        all.push(("sort", sort.to_owned()));
    }
    format!("/messages?{}", query_string(&all))
}

/// `danger` for the actions that lose messages.
pub(crate) fn button_class(action: &str) -> &'static str {
    if matches!(action, "delete" | "bounce") {
        "danger"
    } else {
        "plain"
    }
}

/// `Hold`, `Release`, ...
pub(crate) fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
