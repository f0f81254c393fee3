//! `GET /quarantine`: stored records set aside because they could not be decoded, a page at
//! a time.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::Extension;
use maud::html;
use serde::Deserialize;

use super::error::WebError;
use super::layout::{self, count};
use super::session::Session;
use crate::AdminState;

/// Records per page.
const PAGE: usize = 100;

/// `?page=N` (from 0).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    #[serde(default)]
    page: usize,
}

pub(crate) async fn page(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Html<String>, WebError> {
    let params = super::form::query(params)?;
    let records = state.queue().quarantined().await?;
    let start = params.page.saturating_mul(PAGE);
    let shown: Vec<_> = records.iter().skip(start).take(PAGE).collect();
    let more = records.len() > start.saturating_add(PAGE);
    let body = html! {
        h1 { "Quarantine" }
        p.note {
            (count(records.len() as u64)) " records set aside because they could not be decoded or their body is missing. "
            "They are never delivered, and stay stored with their bodies until removed by hand."
        }
        table.list #quarantine {
            thead { tr { th { "Key" } th { "Reason" } } }
            tbody {
                @for record in &shown {
                    tr { td.mono { (record.key) } td.reply { (record.reason) } }
                }
                @if shown.is_empty() {
                    tr { td.empty colspan="2" { "Nothing is quarantined." } }
                }
            }
        }
        nav.pager {
            @if params.page > 0 {
                a href=(format!("/quarantine?page={}", params.page - 1)) { "⇤ Previous" }
            }
            @if more {
                a href=(format!("/quarantine?page={}", params.page + 1)) rel="next" { "Next ⇥" }
            }
        }
    };
    Ok(layout::page(&session, "/quarantine", "Quarantine", body))
}
