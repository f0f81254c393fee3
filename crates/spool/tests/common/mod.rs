//! Helpers shared by the spool's integration tests.
#![allow(dead_code)]

pub mod crash;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use envoi_queue::{MessageMeta, NewMessage, StoredMessage};
use envoi_types::{Address, Envelope, QueueId, Sender};

/// A deterministic body for `id`: `size` bytes derived from the id, so a reader that knows only
/// the id can check the bytes.
pub fn body_for(id: QueueId, size: usize) -> Vec<u8> {
    let mut state = u128::from_be_bytes(id.to_bytes()) as u64 | 1;
    let mut out = format!("Subject: {id}\r\n\r\n").into_bytes();
    while out.len() < size {
        // xorshift: cheap, deterministic, not compressible to nothing
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.push(b'a' + (state % 26) as u8);
    }
    out.truncate(size.max(1));
    out
}

/// A body size derived from the id: mostly small, some above a 4 KiB inline limit.
pub fn size_for(id: QueueId) -> usize {
    let b = id.to_bytes();
    match b[15] % 4 {
        0 => 9000 + usize::from(b[14]) * 7,
        _ => 100 + usize::from(b[14]) * 3,
    }
}

/// A fixed, whole-second time (stored times round-trip exactly).
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

/// A new message with id `id`, two recipients, body [`body_for`] of `size` bytes, due at `due`.
pub fn message_with(id: QueueId, size: usize, due: SystemTime) -> NewMessage {
    let mut envelope = Envelope::new(
        Sender::parse("sender@example.org").unwrap(),
        vec![
            Address::parse("one@example.net").unwrap(),
            Address::parse("two@example.com").unwrap(),
        ],
        body_for(id, size),
    );
    envelope.arrival = at(0);
    envelope.receiver = "mx.test".into();
    let meta = MessageMeta::new(&envelope, due);
    NewMessage { id, envelope, meta }
}

/// A new message whose body size comes from its id.
pub fn message(due: SystemTime) -> NewMessage {
    let id = QueueId::new();
    message_with(id, size_for(id), due)
}

/// Asserts that `stored` is `expected`, byte for byte.
pub fn assert_same(stored: &StoredMessage, expected: &NewMessage) {
    assert_eq!(stored.id, expected.id);
    assert_eq!(
        stored.envelope.message.as_bytes(),
        expected.envelope.message.as_bytes(),
        "body of {}",
        expected.id
    );
    assert_eq!(stored.envelope, expected.envelope);
}

/// `writers` tasks each write `each` messages one call at a time; returns what was written
/// (every call returned Ok).
pub async fn write_concurrently(
    spool: &envoi_spool::Spool,
    writers: usize,
    each: usize,
) -> Vec<NewMessage> {
    use envoi_queue::Storage;
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let spool = spool.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..each {
                let m = message(at(1));
                spool.write(vec![m.clone()]).await.unwrap();
                mine.push(m);
            }
            mine
        }));
    }
    let mut written = Vec::new();
    for task in tasks {
        written.extend(task.await.unwrap());
    }
    written
}
