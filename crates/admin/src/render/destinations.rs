//! `envoi queue destinations`, `suspend` and `resume`.

use std::time::SystemTime;

use super::human::{ago, until};
use super::table::table;
use crate::api::{DestinationList, ResumeResult, SuspensionView};

/// One row per destination: queued, in flight, oldest, connection failures, back-off,
/// suspension, last error.
pub fn destinations(list: &DestinationList, now: SystemTime) -> String {
    if list.destinations.is_empty() {
        return "no destinations\n".to_owned();
    }
    let rows: Vec<Vec<String>> = list
        .destinations
        .iter()
        .map(|d| {
            let state = match (&d.suspended, d.backed_off_until) {
                (Some(s), _) => suspended(s, now),
                (None, Some(at)) => format!("backed off, next try {}", until(now, at)),
                (None, None) => "ok".to_owned(),
            };
            vec![
                d.destination.clone(),
                d.queued.to_string(),
                d.in_flight.to_string(),
                d.oldest_arrival
                    .map_or_else(|| "-".to_owned(), |t| ago(now, t)),
                d.connection_failures.to_string(),
                state,
                d.last_error.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    let headers = [
        "DESTINATION",
        "QUEUED",
        "IN FLIGHT",
        "OLDEST",
        "FAILURES",
        "STATE",
        "LAST ERROR",
    ];
    table(&headers, &rows)
}

/// `suspended until resumed (reason)` or `suspended for 2h (reason)`.
fn suspended(s: &SuspensionView, now: SystemTime) -> String {
    let mut out = match s.until {
        Some(at) => format!("suspended, ends {}", until(now, at)),
        None => "suspended until resumed".to_owned(),
    };
    if !s.reason.is_empty() {
        out.push_str(&format!(" ({})", s.reason));
    }
    out
}

/// `example.com suspended ...`.
pub fn suspension(s: &SuspensionView, now: SystemTime) -> String {
    format!("{} {}\n", s.destination, suspended(s, now))
}

/// `example.com resumed`, or that it was not suspended.
pub fn resumed(result: &ResumeResult) -> String {
    if result.resumed {
        format!("{} resumed\n", result.destination)
    } else {
        format!("{} was not suspended\n", result.destination)
    }
}
