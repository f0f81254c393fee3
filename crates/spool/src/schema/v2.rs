//! Metadata rows of format 2, written before the envelope recorded what the client declared.
//! They are still read (a spool must be drained across the upgrade); the fields format 3
//! added take their defaults: not SMTPUTF8, `BODY=` undeclared, no TLS recorded.

use std::net::IpAddr;
use std::time::SystemTime;

use envoi_types::{Address, ClientInfo, Sender};
use serde::Deserialize;

use super::v3::Meta;
use super::{BodyPlace, MetaRecord};

/// The row format byte of this version.
pub(super) const FORMAT: u8 = 2;

/// `ClientInfo` as format 2 encoded it.
#[derive(Deserialize)]
struct Client {
    ip: Option<IpAddr>,
    helo: Option<String>,
    auth: Option<String>,
    protocol: String,
}

/// `MetaRecord` as format 2 encoded it: the same fields, in the same order.
#[derive(Deserialize)]
pub(super) struct Record {
    sender: Sender,
    recipients: Vec<Address>,
    client: Client,
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
            client: ClientInfo {
                ip: old.client.ip,
                helo: old.client.helo,
                auth: old.client.auth,
                protocol: old.client.protocol,
                ..ClientInfo::default()
            },
            receiver: old.receiver,
            arrival: old.arrival,
            dsn: Default::default(),
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
    use envoi_types::ClientInfo;

    /// The example row of docs/architecture.md as row format 2 wrote it, before the client's
    /// declarations were recorded: from a@b.org to c@d.org, from 127.0.0.1, arrived at
    /// 100 s + 5 ns, due at 200 s, with an 18-octet inline body.
    fn version_2_row() -> Vec<u8> {
        let mut row = vec![2, 0, 0, 0, 0x31];
        row.extend([1, 7]);
        row.extend(b"a@b.org");
        row.extend([1, 7]);
        row.extend(b"c@d.org");
        row.extend([
            1, 0, 127, 0, 0, 1, 0, 0, 0, 0, 100, 5, 18, 0, 0, 0xc8, 1, 0, 0, 1, 7,
        ]);
        row.extend(b"c@d.org");
        row.extend([0, 0, 0]);
        row.extend(b"Subject: x\r\n\r\nhi\r\n");
        row
    }

    #[test]
    fn version_2_rows_are_read_with_no_declarations() {
        let row = version_2_row();
        let (record, body) = MetaRecord::decode(&row).unwrap();
        assert_eq!(body, b"Subject: x\r\n\r\nhi\r\n");
        assert_eq!(record.sender.as_str(), "a@b.org");
        assert_eq!(record.recipients[0].as_str(), "c@d.org");
        assert_eq!(
            record.client,
            ClientInfo {
                ip: Some([127, 0, 0, 1].into()),
                ..ClientInfo::default()
            }
        );
        assert_eq!(record.arrival, UNIX_EPOCH + Duration::new(100, 5));
        assert_eq!(
            record.meta.next_attempt,
            UNIX_EPOCH + Duration::from_secs(200)
        );
        assert_eq!(record.body, BodyPlace::Inline);
        // Cut short or lengthened, a version 2 row is refused like any other.
        assert!(MetaRecord::decode(&row[..row.len() - 1]).is_err());
        let mut longer = row.clone();
        longer.push(0);
        assert!(MetaRecord::decode(&longer).is_err());
        // Rows are written in the current version, whatever was read.
        let rewritten = record.encode(body).unwrap();
        assert_eq!(rewritten[0], 5);
        assert_eq!(MetaRecord::decode(&rewritten).unwrap(), (record, body));
    }
}
