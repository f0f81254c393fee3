//! `GET /v1/shape`: the queue by recipient domain, last reply or sender domain, and by age.

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use envoi_queue::MessageInfo;

use super::{extract, select, AdminState, ApiError};
use crate::api::{MessageFilter, Shape, ShapeBy, ShapeQuery, ShapeRow, AGE_COLUMNS_MINUTES};

/// Most messages read; past it the shape says `complete: false`.
const MAX_SCAN: usize = 1_000_000;
/// Rows when the request names no `top`.
const DEFAULT_TOP: usize = 20;
/// The most rows a request may ask for.
const MAX_TOP: usize = 1000;

pub(crate) async fn shape(
    State(state): State<AdminState>,
    query: Result<Query<ShapeQuery>, QueryRejection>,
) -> Result<Json<Shape>, ApiError> {
    let query = extract::query(query)?;
    let top = query.top.unwrap_or(DEFAULT_TOP);
    if !(1..=MAX_TOP).contains(&top) {
        return Err(ApiError::BadRequest(format!(
            "top {top}: must be from 1 to {MAX_TOP}"
        )));
    }
    Ok(Json(compute(state.queue(), query.by, top, MAX_SCAN).await?))
}

/// The queue's shape grouped `by`, the `top` largest groups, over at most `max_scan` messages
/// (oldest first). The dashboard's Shape page calls this too.
pub(crate) async fn compute(
    queue: &envoi_queue::Queue,
    by: ShapeBy,
    top: usize,
    max_scan: usize,
) -> Result<Shape, ApiError> {
    let mut tally = Tally::new(by, queue.clock().now());
    let complete = select::scan(queue, &MessageFilter::default(), max_scan, |info| {
        tally.add(info);
    })
    .await?;
    Ok(tally.into_shape(top, complete))
}

/// Counts per group and age column.
struct Tally {
    by: ShapeBy,
    now: SystemTime,
    total: ShapeRow,
    groups: HashMap<String, ShapeRow>,
}

impl Tally {
    fn new(by: ShapeBy, now: SystemTime) -> Self {
        Self {
            by,
            now,
            total: row("TOTAL"),
            groups: HashMap::new(),
        }
    }

    fn add(&mut self, info: &MessageInfo) {
        let column = age_column(self.now, info.arrival);
        bump(&mut self.total, column);
        for key in keys(self.by, info) {
            let group = self.groups.entry(key.clone()).or_insert_with(|| row(&key));
            bump(group, column);
        }
    }

    fn into_shape(self, top: usize, complete: bool) -> Shape {
        let mut rows: Vec<ShapeRow> = self.groups.into_values().collect();
        rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.key.cmp(&b.key)));
        let more_rows = rows.len().saturating_sub(top) as u64;
        rows.truncate(top);
        Shape {
            by: self.by,
            columns: column_labels(),
            total: self.total,
            rows,
            more_rows,
            complete,
        }
    }
}

fn row(key: &str) -> ShapeRow {
    ShapeRow {
        key: key.to_owned(),
        total: 0,
        by_age: vec![0; AGE_COLUMNS_MINUTES.len() + 1],
    }
}

fn bump(row: &mut ShapeRow, column: usize) {
    row.total += 1;
    if let Some(count) = row.by_age.get_mut(column) {
        *count += 1;
    }
}

/// `5`, `10`, ... `1280`, `1280+`.
fn column_labels() -> Vec<String> {
    let mut labels: Vec<String> = AGE_COLUMNS_MINUTES.iter().map(u64::to_string).collect();
    if let Some(last) = AGE_COLUMNS_MINUTES.last() {
        labels.push(format!("{last}+"));
    }
    labels
}

/// The column of a message that arrived at `arrival`: the first whose bound it is within.
fn age_column(now: SystemTime, arrival: SystemTime) -> usize {
    let minutes = now
        .duration_since(arrival)
        .map_or(0, |age| age.as_secs() / 60);
    AGE_COLUMNS_MINUTES
        .iter()
        .position(|&bound| minutes < bound)
        .unwrap_or(AGE_COLUMNS_MINUTES.len())
}

/// The groups a message counts in, each once.
fn keys(by: ShapeBy, info: &MessageInfo) -> BTreeSet<String> {
    match by {
        ShapeBy::Domain => info
            .pending()
            .map(|r| r.recipient.domain_lowercase())
            .collect(),
        ShapeBy::Reply => info
            .pending()
            .map(|r| match &r.last_reply {
                Some(reply) => reply_key(&reply.to_string()),
                None => "(not attempted yet)".to_owned(),
            })
            .collect(),
        ShapeBy::Sender => {
            let domain = match info.sender.rsplit_once('@') {
                Some((_, domain)) => domain.to_ascii_lowercase(),
                None => "<>".to_owned(),
            };
            BTreeSet::from([domain])
        }
    }
}

/// A reply's text with the parts that differ per message (addresses) replaced, so that one
/// cause makes one row; cut to one line of 100 characters.
fn reply_key(reply: &str) -> String {
    let words: Vec<&str> = reply
        .split_whitespace()
        .map(|word| {
            if word.contains('@') {
                "<address>"
            } else {
                word
            }
        })
        .collect();
    words.join(" ").chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn ages_fall_in_qshape_columns() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ago = |minutes: u64| now - Duration::from_secs(minutes * 60);
        assert_eq!(age_column(now, ago(0)), 0);
        assert_eq!(age_column(now, ago(4)), 0);
        assert_eq!(age_column(now, ago(5)), 1);
        assert_eq!(age_column(now, ago(1279)), 8);
        assert_eq!(age_column(now, ago(1280)), 9);
        assert_eq!(
            age_column(now, now + Duration::from_secs(60)),
            0,
            "clock skew"
        );
        assert_eq!(column_labels().last().map(String::as_str), Some("1280+"));
    }

    #[test]
    fn replies_group_without_their_addresses() {
        assert_eq!(
            reply_key("550 5.1.1 <bob@example.net>: Recipient address rejected"),
            "550 5.1.1 <address> Recipient address rejected"
        );
        assert_eq!(
            reply_key("550 5.1.1 <ann@example.net>: Recipient address rejected"),
            reply_key("550 5.1.1 <bob@example.net>: Recipient address rejected"),
        );
    }
}
