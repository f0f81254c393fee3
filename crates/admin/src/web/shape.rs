//! `GET /shape?by=domain|reply|sender[&all=true]`: the queue by group and age, as `envoi queue
//! shape` shows it. This is the one page that reads the queue rather than a page of it; it reads
//! at most [`MAX_SCAN`] messages (oldest first), so that it answers within about 200 ms at any
//! queue size, and says so when there are more; `all=true` reads up to [`MAX_SCAN_ALL`], as
//! the CLI does.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::Extension;
use maud::html;
use serde::Deserialize;

use super::error::WebError;
use super::layout::{self, count};
use super::session::Session;
use crate::api::ShapeBy;
use crate::server::shape_v1;
use crate::AdminState;

/// Most messages read per view (about 6 µs each on a 2-core machine).
const MAX_SCAN: usize = 25_000;
/// Most messages read when the operator asks for more (`all=true`).
const MAX_SCAN_ALL: usize = 200_000;
/// Rows shown.
const TOP: usize = 50;

/// `?by=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    #[serde(default)]
    by: ShapeBy,
    /// Read up to [`MAX_SCAN_ALL`] messages rather than [`MAX_SCAN`].
    #[serde(default)]
    all: bool,
}

pub(crate) async fn page(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Html<String>, WebError> {
    let params = super::form::query(params)?;
    let max_scan = if params.all { MAX_SCAN_ALL } else { MAX_SCAN };
    let shape = shape_v1::compute(state.queue(), params.by, TOP, max_scan).await?;
    let by_label = match shape.by {
        ShapeBy::Domain => "Recipient domain",
        ShapeBy::Reply => "Last reply",
        ShapeBy::Sender => "Sender domain",
    };
    let body = html! {
        h1 { "Shape" }
        nav.tabs {
            @for (value, label, by) in [("domain", "By recipient domain", ShapeBy::Domain), ("reply", "By last reply", ShapeBy::Reply), ("sender", "By sender domain", ShapeBy::Sender)] {
                @if by == shape.by {
                    a.current href=(format!("/shape?by={value}")) aria-current="page" { (label) }
                } @else {
                    a href=(format!("/shape?by={value}")) { (label) }
                }
            }
        }
        p.note { "Messages by age in minutes (each column holds mail younger than its bound)." }
        @if !shape.complete {
            p.warning {
                "The queue is larger than " (count(max_scan as u64)) " messages: these counts cover its oldest part."
                @if !params.all {
                    " " a href=(format!("/shape?by={}&all=true", by_value(shape.by))) { "Read up to " (count(MAX_SCAN_ALL as u64)) }
                    " (slower)."
                }
            }
        }
        table.list.shape #shape {
            thead {
                tr {
                    th { (by_label) } th.num { "Total" }
                    @for column in &shape.columns { th.num { (column) } }
                }
            }
            tbody {
                @for row in std::iter::once(&shape.total).chain(shape.rows.iter()) {
                    tr class=[(row.key == "TOTAL" && std::ptr::eq(row, &shape.total)).then_some("total")] {
                        td.reply {
                            @if shape.by == ShapeBy::Domain && !std::ptr::eq(row, &shape.total) {
                                a href=(format!("/messages?domain={}", super::form::encode(&row.key))) { (row.key) }
                            } @else {
                                (row.key)
                            }
                        }
                        td.num { (count(row.total)) }
                        @for n in &row.by_age {
                            td.num class=[(*n == 0).then_some("zero")] { (count(*n)) }
                        }
                    }
                }
            }
        }
        @if shape.more_rows > 0 {
            p.note { (count(shape.more_rows)) " smaller groups not shown." }
        }
    };
    Ok(layout::page(&session, "/shape", "Shape", body))
}

/// The `by=` value of a grouping.
fn by_value(by: ShapeBy) -> &'static str {
    match by {
        ShapeBy::Domain => "domain",
        ShapeBy::Reply => "reply",
        ShapeBy::Sender => "sender",
    }
}
