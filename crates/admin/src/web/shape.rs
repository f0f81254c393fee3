//! `GET /shape?by=domain|reply|sender`: the queue by group and age, as `envoi queue shape`
//! shows it. This is the one page that reads the queue rather than a page of it; it reads at
//! most [`MAX_SCAN`] messages (oldest first) and says so when there are more.

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

/// Most messages read per view.
const MAX_SCAN: usize = 200_000;
/// Rows shown.
const TOP: usize = 50;

/// `?by=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    #[serde(default)]
    by: ShapeBy,
}

pub(crate) async fn page(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Html<String>, WebError> {
    let params = super::form::query(params)?;
    let shape = shape_v1::compute(state.queue(), params.by, TOP, MAX_SCAN).await?;
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
            p.warning { "The queue is larger than " (count(MAX_SCAN as u64)) " messages: these counts cover its oldest part." }
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
