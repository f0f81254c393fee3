//! Metadata rows of format 4 (layout 3), written before the message's state moved to a row of
//! its own: the whole state, every recipient's address with it, inside the metadata row. They
//! are still read, and never rewritten: a change of state goes to the `state` table, whose row
//! then overrides the state the format 4 row holds.

use std::time::SystemTime;

use envoi_queue::MessageMeta;
use envoi_types::{Address, ClientInfo, DsnRequest, Sender};
use serde::Deserialize;

use super::{BodyPlace, MetaRecord};

/// The row format byte of this version.
pub(super) const FORMAT: u8 = 4;

/// `MetaRecord` as format 4 encoded it: the same fields, in the same order.
#[derive(Deserialize)]
pub(super) struct Record {
    sender: Sender,
    recipients: Vec<Address>,
    client: ClientInfo,
    receiver: String,
    arrival: SystemTime,
    dsn: DsnRequest,
    body_len: u64,
    body: BodyPlace,
    meta: MessageMeta,
}

impl From<Record> for MetaRecord {
    fn from(old: Record) -> Self {
        Self {
            sender: old.sender,
            recipients: old.recipients,
            client: old.client,
            receiver: old.receiver,
            arrival: old.arrival,
            dsn: old.dsn,
            body_len: old.body_len,
            body: old.body,
            meta: old.meta,
        }
    }
}
