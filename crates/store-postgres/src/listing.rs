//! The admin listings and counts: pages over the state's own index, counts from the counter
//! rows the triggers keep.

use envoi_queue::storage::{ListQuery, MessageInfo, MessageState, StateCounts};
use envoi_queue::StorageError;

use crate::codec::id_bytes;
use crate::error::PgError;
use crate::rows;
use crate::sql::{self, prepared};
use crate::store::Inner;

/// The page statement for `query`'s state: the state's own index when it has one, so a
/// filtered listing reads only matching rows.
fn list_page(query: &ListQuery) -> &'static str {
    match query.state {
        None => sql::LIST_PAGE,
        Some(MessageState::Held) => sql::LIST_PAGE_HELD,
        Some(MessageState::Deferred) => sql::LIST_PAGE_DEFERRED,
        Some(MessageState::Active) => sql::LIST_PAGE_ACTIVE,
    }
}

/// A page of the admin listing: chunks in id order, filtered, until the page is full.
pub(crate) async fn list(
    inner: &Inner,
    query: &ListQuery,
) -> Result<Vec<MessageInfo>, StorageError> {
    const CHUNK: i64 = 500;
    let session = inner.session().await?;
    let statement = prepared(&session, list_page(query)).await?;
    let mut after = query.after.map(id_bytes).unwrap_or_default();
    let mut found = Vec::new();
    loop {
        let page = session
            .query(&statement, &[&after, &CHUNK])
            .await
            .map_err(PgError::from)?;
        let Some(last) = page.last() else {
            return Ok(found);
        };
        after = last.get::<_, Vec<u8>>(0);
        for row in &page {
            let info = rows::info(row)?;
            if query.matches(&info) {
                found.push(info);
                if found.len() >= query.page_size() {
                    return Ok(found);
                }
            }
        }
    }
}

/// Counts per admin state, from the counter rows (never a count of the queue).
pub(crate) async fn counts(inner: &Inner) -> Result<StateCounts, StorageError> {
    let session = inner.session().await?;
    let row = session
        .query_one(&prepared(&session, sql::COUNTS).await?, &[])
        .await
        .map_err(PgError::from)?;
    let count = |i: usize| u64::try_from(row.get::<_, Option<i64>>(i).unwrap_or(0)).unwrap_or(0);
    Ok(StateCounts {
        active: count(0),
        deferred: count(1),
        held: count(2),
    })
}
