//! Rows read back into the queue's types.

use envoi_queue::storage::{MessageInfo, MessageMeta, ScheduleEntry, StoredMessage};
use envoi_queue::StorageError;
use envoi_types::QueueId;
use tokio_postgres::Row;

use crate::codec::{decode_dsn, decode_envelope, decode_history, decode_recipients, id_from, time};

fn corrupt(id: Option<QueueId>, detail: String) -> StorageError {
    StorageError::Corrupt { id, detail }
}

/// `id, next_ns, arrival_ns, held, attempts`.
pub(crate) fn schedule_entry(row: &Row) -> Result<ScheduleEntry, StorageError> {
    let id = id_from(row.get(0)).map_err(|d| corrupt(None, d))?;
    Ok(ScheduleEntry {
        id,
        next_attempt: time(row.get(1)),
        arrival: time(row.get(2)),
        held: row.get(3),
        attempts: u32::try_from(row.get::<_, i32>(4)).unwrap_or(0),
        // A shared store: the queue counts domains from the store, not from its entries.
        domains: None,
    })
}

/// `attempts, next_ns, held, recipients` at `first`, then the body, its DSN parameters and
/// the history.
pub(crate) fn stored(id: QueueId, row: &Row, first: usize) -> Result<StoredMessage, String> {
    let attempts: i32 = row.get(first);
    let recipients = decode_recipients(row.get(first + 3))?;
    let body: Option<&[u8]> = row.get(first + 4);
    let mut envelope = decode_envelope(body.ok_or("its body is missing")?)?;
    envelope.dsn = decode_dsn(row.get(first + 5))?;
    let history = decode_history(row.get(first + 6))?;
    if envelope.recipients.len() != recipients.len() {
        return Err("recipient states do not match the envelope".into());
    }
    Ok(StoredMessage {
        id,
        envelope,
        meta: MessageMeta {
            attempts: u32::try_from(attempts).unwrap_or(0),
            next_attempt: time(row.get(first + 1)),
            held: row.get(first + 2),
            recipients,
            history,
        },
    })
}

/// `id, sender, recipients, attempts, next_ns, arrival_ns, held, size`.
pub(crate) fn info(row: &Row) -> Result<MessageInfo, StorageError> {
    let id = id_from(row.get(0)).map_err(|d| corrupt(None, d))?;
    let recipients = decode_recipients(row.get(2)).map_err(|d| corrupt(Some(id), d))?;
    let attempts: i32 = row.get(3);
    let size: i64 = row.get(7);
    Ok(MessageInfo {
        id,
        sender: row.get(1),
        recipients,
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt: time(row.get(4)),
        arrival: time(row.get(5)),
        held: row.get(6),
        size: u64::try_from(size).unwrap_or(0),
    })
}
