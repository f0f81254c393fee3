//! Metadata rows of format 5 (layout 4), the format written: the envelope, the cold fields
//! (DSN parameters, client, receiver) and the state the message was stored with, all written
//! once. What a listing shows comes first ([`Summary`]), the cold fields last, so a listing
//! decodes a prefix of the record and never reads them. Every recipient is named by its index in
//! `recipients` after that list: in the state ([`super::state`]) and the DSN parameters.

use std::time::SystemTime;

use envoi_types::{
    Address, ClientInfo, DsnRequest, Notify, OriginalRecipient, RecipientDsn, Ret, Sender,
};
use serde::{Deserialize, Serialize};

use super::state::{Recipient, State};
use super::{BodyPlace, MetaRecord};

/// The row format byte of this version.
pub(super) const FORMAT: u8 = 5;

#[derive(Serialize, Deserialize)]
struct Dsn {
    ret: Option<Ret>,
    envid: Option<String>,
    recipients: Vec<DsnRecipient>,
}

#[derive(Serialize, Deserialize)]
struct DsnRecipient {
    recipient: Recipient,
    notify: Option<Notify>,
    orcpt: Option<OriginalRecipient>,
}

impl Dsn {
    fn of(dsn: &DsnRequest, recipients: &[Address]) -> Self {
        Self {
            ret: dsn.ret,
            envid: dsn.envid.clone(),
            recipients: (dsn.recipients.iter().enumerate())
                .map(|(i, r)| DsnRecipient {
                    recipient: Recipient::of(&r.recipient, recipients, i),
                    notify: r.notify,
                    orcpt: r.orcpt.clone(),
                })
                .collect(),
        }
    }

    fn into_request(self, recipients: &[Address]) -> Result<DsnRequest, String> {
        Ok(DsnRequest {
            ret: self.ret,
            envid: self.envid,
            recipients: (self.recipients.into_iter())
                .map(|r| {
                    Ok(RecipientDsn {
                        recipient: r.recipient.resolve(recipients)?,
                        notify: r.notify,
                        orcpt: r.orcpt,
                    })
                })
                .collect::<Result<_, String>>()?,
        })
    }
}

/// The record as written: borrowed from a [`MetaRecord`].
#[derive(Serialize)]
struct Out<'a> {
    sender: &'a Sender,
    recipients: &'a [Address],
    arrival: SystemTime,
    body_len: u64,
    body: BodyPlace,
    state: State,
    dsn: Dsn,
    client: &'a ClientInfo,
    receiver: &'a str,
}

/// The record as read.
#[derive(Deserialize)]
pub(super) struct Record {
    sender: Sender,
    recipients: Vec<Address>,
    arrival: SystemTime,
    body_len: u64,
    body: BodyPlace,
    state: State,
    dsn: Dsn,
    client: ClientInfo,
    receiver: String,
}

/// The first fields of the record: what a listing shows. Decoding stops after them.
#[derive(Deserialize)]
pub(super) struct Summary {
    pub sender: Sender,
    pub recipients: Vec<Address>,
    pub arrival: SystemTime,
    pub body_len: u64,
    #[allow(dead_code)] // read to reach the state; a listing does not show it
    pub body: BodyPlace,
    pub state: State,
}

/// Appends the postcard encoding of `record` to `out`.
pub(super) fn encode(record: &MetaRecord, out: &mut Vec<u8>) -> Result<(), String> {
    let out_record = Out {
        sender: &record.sender,
        recipients: &record.recipients,
        arrival: record.arrival,
        body_len: record.body_len,
        body: record.body,
        state: State::of(&record.meta, &record.recipients),
        dsn: Dsn::of(&record.dsn, &record.recipients),
        client: &record.client,
        receiver: &record.receiver,
    };
    postcard::to_io(&out_record, out).map_err(|e| format!("cannot encode metadata: {e}"))?;
    Ok(())
}

impl TryFrom<Record> for MetaRecord {
    type Error = String;

    fn try_from(row: Record) -> Result<Self, String> {
        Ok(Self {
            dsn: row.dsn.into_request(&row.recipients)?,
            meta: row.state.into_meta(&row.recipients)?,
            sender: row.sender,
            recipients: row.recipients,
            client: row.client,
            receiver: row.receiver,
            arrival: row.arrival,
            body_len: row.body_len,
            body: row.body,
        })
    }
}
