//! Metadata rows of format 2, written before the envelope recorded what the client declared.
//! They are still read (a spool must be drained across the upgrade); the fields format 3
//! added take their defaults: not SMTPUTF8, `BODY=` undeclared, no TLS recorded.

use std::net::IpAddr;
use std::time::SystemTime;

use envoi_queue::MessageMeta;
use envoi_types::{Address, ClientInfo, Sender};
use serde::Deserialize;

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
    meta: MessageMeta,
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
            body_len: old.body_len,
            body: old.body,
            meta: old.meta,
        }
    }
}
