//! Where a next hop's time went, reported with its outcomes ([`Timings`]): the queue logs it
//! as the delay breakdown of each recipient's line.

use std::time::Instant;

use envoi_queue::{Outcome, Timings};
use envoi_types::Envelope;

use super::Inner;
use crate::client::payload::Payload;
use crate::routes::Route;

/// [`super::deliver_group`], each outcome carrying where the time went: waiting since `entered` (the
/// relay being called), opening a session, and the transaction over it.
pub(super) async fn group(
    inner: &Inner,
    route: Route,
    part: &Envelope,
    wire: &Payload,
    entered: Instant,
) -> Vec<Outcome> {
    let begun = Instant::now();
    let mut opened = None;
    let outcomes = super::deliver_group(inner, route, part, wire, &mut opened).await;
    let ended = Instant::now();
    // No session opened: all of it went on trying to open one.
    let opened = opened.unwrap_or(ended);
    let timings = Timings::new(
        begun.saturating_duration_since(entered),
        opened.saturating_duration_since(begun),
        ended.saturating_duration_since(opened),
    );
    outcomes
        .into_iter()
        .map(|outcome| outcome.with_timings(timings))
        .collect()
}
