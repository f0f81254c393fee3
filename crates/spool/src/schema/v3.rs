//! Metadata rows of format 3, written before the envelope's DSN parameters and the message's
//! history were recorded. They are still read (a spool must be drained across the upgrade);
//! the fields format 4 added take their defaults: no DSN parameter, no attempt recorded, no
//! delay warning sent.

use std::time::SystemTime;

use envoi_queue::storage::MessageHistory;
use envoi_queue::MessageMeta;
use envoi_types::{Address, ClientInfo, DsnRequest, RecipientStatus, Sender};
use serde::Deserialize;

use super::{BodyPlace, MetaRecord};

/// The row format byte of this version.
pub(super) const FORMAT: u8 = 3;

/// `MessageMeta` as formats 2 and 3 encoded it, without the history.
#[derive(Deserialize)]
pub(super) struct Meta {
    attempts: u32,
    next_attempt: SystemTime,
    held: bool,
    recipients: Vec<RecipientStatus>,
}

impl From<Meta> for MessageMeta {
    fn from(old: Meta) -> Self {
        Self {
            attempts: old.attempts,
            next_attempt: old.next_attempt,
            held: old.held,
            recipients: old.recipients,
            history: MessageHistory::default(),
        }
    }
}

/// `MetaRecord` as format 3 encoded it: the same fields, in the same order, without `dsn`.
#[derive(Deserialize)]
pub(super) struct Record {
    sender: Sender,
    recipients: Vec<Address>,
    client: ClientInfo,
    receiver: String,
    arrival: SystemTime,
    body_len: u64,
    body: BodyPlace,
    meta: Meta,
}

impl From<Record> for MetaRecord {
    fn from(old: Record) -> Self {
        Self {
            sender: old.sender,
            recipients: old.recipients,
            client: old.client,
            receiver: old.receiver,
            arrival: old.arrival,
            dsn: DsnRequest::default(),
            body_len: old.body_len,
            body: old.body,
            meta: old.meta.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::super::*;
    use envoi_types::DsnRequest;

    /// The example row of docs/architecture.md as row format 3 wrote it, before DSN
    /// parameters and the history were recorded: from a@b.org to c@d.org, from 127.0.0.1,
    /// arrived at 100 s + 5 ns, due at 200 s, with an 18-octet inline body.
    fn version_3_row() -> Vec<u8> {
        let mut row = vec![3, 0, 0, 0, 0x34];
        row.extend([1, 7]);
        row.extend(b"a@b.org");
        row.extend([1, 7]);
        row.extend(b"c@d.org");
        row.extend([
            1, 0, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 100, 5, 18, 0, 0, 0xc8, 1, 0, 0, 1, 7,
        ]);
        row.extend(b"c@d.org");
        row.extend([0, 0, 0]);
        row.extend(b"Subject: x\r\n\r\nhi\r\n");
        row
    }

    #[test]
    fn version_3_rows_are_read_without_dsn_or_history() {
        let row = version_3_row();
        let (record, body) = MetaRecord::decode(&row).unwrap();
        assert_eq!(body, b"Subject: x\r\n\r\nhi\r\n");
        assert_eq!(record.sender.as_str(), "a@b.org");
        assert_eq!(record.client.ip, Some([127, 0, 0, 1].into()));
        assert_eq!(record.arrival, UNIX_EPOCH + Duration::new(100, 5));
        assert_eq!(
            record.meta.next_attempt,
            UNIX_EPOCH + Duration::from_secs(200)
        );
        assert_eq!(record.dsn, DsnRequest::default());
        assert_eq!(record.meta.history, Default::default());
        assert!(MetaRecord::decode(&row[..row.len() - 1]).is_err());
        // Rows are written in the current version, whatever was read.
        let rewritten = record.encode(body).unwrap();
        assert_eq!(rewritten[0], 5);
        assert_eq!(MetaRecord::decode(&rewritten).unwrap(), (record, body));
    }
}
