//! The schedule index's rows: (next attempt, id) → what start-up needs (arrival, held,
//! attempts, body place). Keys are big-endian so that redb's byte order is due order; values
//! are fixed-size so start-up decodes them without allocating.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use envoi_queue::ScheduleEntry;
use envoi_types::QueueId;

use super::BodyPlace;

/// Length of a schedule key: next-attempt seconds (8), nanoseconds (4), id (16).
pub(crate) const SCHEDULE_KEY_LEN: usize = 28;
/// Length of a schedule value: arrival seconds (8) and nanoseconds (4), held (1), attempts (4),
/// body place (1: 0 inline, 1 file) — what start-up needs without reading metadata records.
pub(crate) const SCHEDULE_VALUE_LEN: usize = 18;

/// Seconds and nanoseconds since the epoch; times before it count as the epoch (they are due).
fn split_time(time: SystemTime) -> (u64, u32) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    (since.as_secs(), since.subsec_nanos())
}

fn join_time(secs: u64, nanos: u32) -> Option<SystemTime> {
    if nanos >= 1_000_000_000 {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// The key of the schedule row: due time first so byte order is due order, ties by id.
pub(crate) fn schedule_key(next_attempt: SystemTime, id: QueueId) -> [u8; SCHEDULE_KEY_LEN] {
    let mut key = [0u8; SCHEDULE_KEY_LEN];
    let (secs, nanos) = split_time(next_attempt);
    key[..8].copy_from_slice(&secs.to_be_bytes());
    key[8..12].copy_from_slice(&nanos.to_be_bytes());
    key[12..].copy_from_slice(&id.to_bytes());
    key
}

/// The value of a schedule row.
pub(crate) fn schedule_value(
    arrival: SystemTime,
    held: bool,
    attempts: u32,
    body: BodyPlace,
) -> [u8; SCHEDULE_VALUE_LEN] {
    let mut value = [0u8; SCHEDULE_VALUE_LEN];
    let (secs, nanos) = split_time(arrival);
    value[..8].copy_from_slice(&secs.to_be_bytes());
    value[8..12].copy_from_slice(&nanos.to_be_bytes());
    value[12] = u8::from(held);
    value[13..17].copy_from_slice(&attempts.to_be_bytes());
    value[17] = u8::from(body == BodyPlace::File);
    value
}

/// The id at the end of a schedule key, if the key has the right length.
pub(crate) fn schedule_key_id(key: &[u8]) -> Option<QueueId> {
    let bytes: [u8; 16] = key.get(12..SCHEDULE_KEY_LEN)?.try_into().ok()?;
    (key.len() == SCHEDULE_KEY_LEN).then(|| QueueId::from_bytes(bytes))
}

/// A schedule row decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScheduleRow {
    /// The entry the queue keeps.
    pub entry: ScheduleEntry,
    /// Failed attempts (for state counts).
    pub attempts: u32,
    /// Where the body is (for reconciliation with the body directory).
    pub body: BodyPlace,
}

/// Decodes a schedule row; `None` when it is malformed.
pub(crate) fn decode_schedule(key: &[u8], value: &[u8]) -> Option<ScheduleRow> {
    if key.len() != SCHEDULE_KEY_LEN || value.len() != SCHEDULE_VALUE_LEN {
        return None;
    }
    let be64 = |b: &[u8]| b.try_into().ok().map(u64::from_be_bytes);
    let be32 = |b: &[u8]| b.try_into().ok().map(u32::from_be_bytes);
    let next_attempt = join_time(be64(&key[..8])?, be32(&key[8..12])?)?;
    let arrival = join_time(be64(&value[..8])?, be32(&value[8..12])?)?;
    let held = match value[12] {
        0 => false,
        1 => true,
        _ => return None,
    };
    let attempts = be32(&value[13..17])?;
    let body = match value[17] {
        0 => BodyPlace::Inline,
        1 => BodyPlace::File,
        _ => return None,
    };
    let entry = ScheduleEntry {
        id: schedule_key_id(key)?,
        next_attempt,
        arrival,
        held,
        attempts,
        // Not in the schedule row: the recipients live in the message's rows.
        domains: None,
    };
    Some(ScheduleRow {
        entry,
        attempts,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_rows_round_trip_and_sort_by_time() {
        let arrival = UNIX_EPOCH + Duration::new(50, 1);
        let early = UNIX_EPOCH + Duration::new(100, 5);
        let late = UNIX_EPOCH + Duration::new(100, 6);
        let (a, b) = (QueueId::new(), QueueId::new());
        assert!(schedule_key(early, b) < schedule_key(late, a));
        let value = schedule_value(arrival, true, 7, BodyPlace::File);
        let row = decode_schedule(&schedule_key(late, a), &value).unwrap();
        assert_eq!(row.body, BodyPlace::File);
        assert_eq!(row.entry.id, a);
        assert_eq!(row.entry.next_attempt, late);
        assert_eq!(row.entry.arrival, arrival);
        assert!(row.entry.held);
        assert_eq!(row.attempts, 7);
        assert!(decode_schedule(&[0; 5], &value).is_none());
    }
}
