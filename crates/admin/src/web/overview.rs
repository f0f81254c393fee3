//! `GET /`: counts by state (the maintained counts), the oldest message's age (the first id
//! listed), recipients delivered, deferred and bounced over the last hour (the per-minute
//! samples), and the storage's health.

use std::time::Duration;

use axum::extract::State;
use axum::response::Html;
use axum::Extension;
use envoi_queue::ListQuery;
use maud::html;

use super::error::WebError;
use super::layout::{self, count};
use super::rolling::MINUTES;
use super::session::Session;
use crate::render::human;
use crate::AdminState;

/// Destinations listed on the overview, most queued first.
const TOP_DESTINATIONS: usize = 10;

pub(crate) async fn page(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
) -> Result<Html<String>, WebError> {
    let queue = state.queue();
    let now = queue.clock().now();
    let counts = queue.count_by_state().await?;
    // Ids are in arrival order: the first listed is the oldest.
    let first = ListQuery {
        limit: 1,
        ..ListQuery::default()
    };
    let oldest = queue.list(&first).await?.into_iter().next();
    let (minute, totals) = state.web().rolling.sample(queue);
    let (hour, covered) = state.web().rolling.window(minute, totals);
    let acceptance = queue.accepting();
    let quarantined = queue.quarantined().await?.len();
    let destinations = queue.destinations();
    let suspended = destinations
        .iter()
        .filter(|d| d.suspension.is_some())
        .count();
    let mut busiest: Vec<&envoi_queue::DestinationStatus> =
        destinations.iter().filter(|d| d.queued > 0).collect();
    busiest.sort_by(|a, b| {
        b.queued
            .cmp(&a.queued)
            .then_with(|| a.destination.cmp(&b.destination))
    });
    busiest.truncate(TOP_DESTINATIONS);
    let backed_off = destinations
        .iter()
        .filter(|d| d.backed_off_until.is_some_and(|until| until > now))
        .count();
    let body = html! {
        h1 { "Overview" }
        div.cards {
            section.card {
                h2 { "Queue" }
                table.kv {
                    tbody {
                        tr { th { a href="/messages?state=active" { "Active" } } td.num #count-active { (count(counts.active)) } }
                        tr { th { a href="/messages?state=deferred" { "Deferred" } } td.num #count-deferred { (count(counts.deferred)) } }
                        tr { th { a href="/messages?state=held" { "Held" } } td.num #count-held { (count(counts.held)) } }
                        tr.total { th { a href="/messages" { "Total" } } td.num #count-total { (count(counts.total())) } }
                    }
                }
                p {
                    "Oldest message: "
                    @match &oldest {
                        Some(info) => {
                            strong #oldest-age { (human::duration(now.duration_since(info.arrival).unwrap_or_default())) }
                            " old (arrived " (layout::when(now, info.arrival)) ", "
                            a href=(format!("/messages/{}", info.id)) { code { (info.id) } } ")"
                        }
                        None => { span #oldest-age { "none, the queue is empty" } }
                    }
                }
            }
            section.card {
                h2 { "Last hour" }
                table.kv {
                    tbody {
                        tr { th { "Recipients delivered" } td.num #hour-delivered { (count(hour.delivered)) } }
                        tr { th { "Recipient attempts deferred" } td.num #hour-deferred { (count(hour.deferred)) } }
                        tr { th { "Recipients bounced" } td.num #hour-bounced { (count(hour.bounced)) } }
                    }
                }
                p.note {
                    @if covered == 0 {
                        "Counting began less than a minute ago; "
                    } @else if covered < MINUTES {
                        "Over the last " (human::duration(Duration::from_secs(covered.saturating_mul(60)))) " (counting began then); "
                    } @else {
                        "Over the last 60 minutes; "
                    }
                    "since the start: " (count(totals.delivered)) " delivered, "
                    (count(totals.deferred)) " deferred, " (count(totals.bounced)) " bounced."
                }
            }
            section.card {
                h2 { "Storage" }
                table.kv {
                    tbody {
                        tr {
                            th { "Taking new mail" }
                            td #storage-state {
                                @match acceptance.reason() {
                                    None => { (layout::badge("accepting")) }
                                    Some(reason) => { (layout::badge(acceptance.name())) " " (reason) }
                                }
                            }
                        }
                        tr { th { "Outcomes waiting for the store" } td.num { (count(queue.uncommitted() as u64)) } }
                        tr { th { a href="/quarantine" { "Quarantined records" } } td.num #quarantined { (count(quarantined as u64)) } }
                    }
                }
            }
            section.card {
                h2 { "Destinations" }
                table.kv {
                    tbody {
                        tr { th { a href="/destinations" { "With mail or activity" } } td.num { (count(destinations.len() as u64)) } }
                        tr { th { "Backed off now" } td.num { (count(backed_off as u64)) } }
                        tr { th { "Suspended" } td.num { (count(suspended as u64)) } }
                    }
                }
            }
        }
        @if !busiest.is_empty() {
            h2 { "Most queued destinations" }
            table.list #busiest {
                thead { tr { th { "Destination" } th.num { "Queued" } th.num { "In flight" } th { "Oldest" } th { "Last error" } } }
                tbody {
                    @for dest in &busiest {
                        tr {
                            td.addr { (dest.destination.as_str()) }
                            td.num { (count(dest.queued as u64)) }
                            td.num { (count(dest.in_flight as u64)) }
                            td { (layout::maybe_when(now, dest.oldest_arrival)) }
                            td.reply { (dest.last_error.as_deref().unwrap_or("–")) }
                        }
                    }
                }
            }
            p { a href="/destinations" { "Every destination" } }
        }
    };
    Ok(layout::page(&session, "/", "Overview", body))
}
