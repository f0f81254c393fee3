//! The metadata row (table `meta`): everything about a message except its mutable state's
//! later changes, written once when the message is stored.
//!
//! A row is a format version byte, the length of the postcard-encoded record (4 bytes,
//! big-endian), the record, then the body when it is inline (when the body is a file: the
//! message's head, often empty) — one row, so storing a small message is one B-tree insert
//! besides its schedule row. Rows are written in format 5 ([`v5`]); formats 4, 3 and 2 (the
//! whole state inside, older ones with fewer fields) are read ([`v4`], [`v3`], [`v2`]).
//!
//! [`v5`]: super::v5
//! [`v4`]: super::v4
//! [`v3`]: super::v3
//! [`v2`]: super::v2

use std::time::SystemTime;

use envoi_queue::{MessageInfo, MessageMeta, StoredMessage};
use envoi_types::{Address, ClientInfo, DsnRequest, Envelope, Message, QueueId, Sender};
use serde::{Deserialize, Serialize};

use super::chunks::CHUNK_LEN;
use super::packs::{Location, LOCATION_LEN};
use super::schedule::{schedule_key, schedule_value, SCHEDULE_KEY_LEN, SCHEDULE_VALUE_LEN};
use super::{state, v2, v3, v4, v5};

/// Length of a metadata row's header: version (1) and record length (4).
pub(super) const ROW_HEADER_LEN: usize = 5;

/// Where a message's body lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum BodyPlace {
    /// At the end of the metadata row, committed with it.
    Inline,
    /// In the file `bodies/<id>`, written and fsync'd before the metadata commit.
    File,
    /// Its first `chunks` × [`CHUNK_LEN`] octets in the `chunks` table, the rest at the end of
    /// the metadata row, all committed with it.
    Chunked {
        /// How many chunks.
        chunks: u32,
    },
    /// In a pack (`super::packs`): the row ends with the body's location (pack, offset)
    /// instead of the body, all committed with it. Written from layout 5.
    Packed,
}

/// Everything about a message except its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaRecord {
    pub sender: Sender,
    pub recipients: Vec<Address>,
    pub client: ClientInfo,
    pub receiver: String,
    pub arrival: SystemTime,
    pub dsn: DsnRequest,
    pub body_len: u64,
    pub body: BodyPlace,
    pub meta: MessageMeta,
}

impl MetaRecord {
    /// The record of `envelope` with `meta`, its body kept at `body`.
    pub fn of(envelope: &Envelope, meta: MessageMeta, body: BodyPlace) -> Self {
        Self {
            sender: envelope.sender.clone(),
            recipients: envelope.recipients.clone(),
            client: envelope.client.clone(),
            receiver: envelope.receiver.clone(),
            arrival: envelope.arrival,
            dsn: envelope.dsn.clone(),
            body_len: envelope.message.len() as u64,
            body,
            meta,
        }
    }

    /// Encodes the metadata row (format 5): header, record, then `inline` (the body when it
    /// is inline; when it is a file, the head kept in the row, often empty).
    pub fn encode(&self, inline: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(ROW_HEADER_LEN + 128 + inline.len());
        out.extend_from_slice(&[v5::FORMAT, 0, 0, 0, 0]);
        v5::encode(self, &mut out)?;
        let len = u32::try_from(out.len() - ROW_HEADER_LEN)
            .map_err(|_| "metadata record too large".to_owned())?;
        out[1..ROW_HEADER_LEN].copy_from_slice(&len.to_be_bytes());
        out.extend_from_slice(inline);
        Ok(out)
    }

    /// Decodes a metadata row: the record (with the state it was stored with) and its inline
    /// body (when the body is in a file: the head kept in the row, the file holding the rest;
    /// when it is packed: its location, `super::packs`).
    /// The error says why the bytes are not one: an inline body whose length disagrees with
    /// the record, or a head longer than the message, makes the row undecodable.
    pub fn decode(bytes: &[u8]) -> Result<(Self, &[u8]), String> {
        let Some((&version, rest)) = bytes.split_first() else {
            return Err("empty metadata record".to_owned());
        };
        if ![v5::FORMAT, v4::FORMAT, v3::FORMAT, v2::FORMAT].contains(&version) {
            return Err(format!("unknown metadata format {version}"));
        }
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| "metadata record header truncated".to_owned())?;
        let len = usize::try_from(u32::from_be_bytes(*len)).unwrap_or(usize::MAX);
        if len > rest.len() {
            return Err("metadata record truncated".to_owned());
        }
        let (encoded, body) = rest.split_at(len);
        let undecodable = |e: postcard::Error| format!("undecodable metadata: {e}");
        let (record, tail) = match version {
            v5::FORMAT => {
                let (row, tail) =
                    postcard::take_from_bytes::<v5::Record>(encoded).map_err(undecodable)?;
                (Self::try_from(row)?, tail)
            }
            v4::FORMAT => postcard::take_from_bytes::<v4::Record>(encoded)
                .map(|(old, tail)| (old.into(), tail))
                .map_err(undecodable)?,
            v3::FORMAT => postcard::take_from_bytes::<v3::Record>(encoded)
                .map(|(old, tail)| (old.into(), tail))
                .map_err(undecodable)?,
            _ => postcard::take_from_bytes::<v2::Record>(encoded)
                .map(|(old, tail)| (old.into(), tail))
                .map_err(undecodable)?,
        };
        if !tail.is_empty() {
            return Err(format!("{} trailing bytes after metadata", tail.len()));
        }
        let fits = match record.body {
            BodyPlace::Inline => body.len() as u64 == record.body_len,
            BodyPlace::File => body.len() as u64 <= record.body_len,
            BodyPlace::Chunked { chunks } => (u64::from(chunks))
                .checked_mul(CHUNK_LEN as u64)
                .and_then(|c| c.checked_add(body.len() as u64))
                .is_some_and(|len| len == record.body_len && body.len() < CHUNK_LEN),
            BodyPlace::Packed => Location::decode(body).is_some_and(|at| at.fits(record.body_len)),
        };
        if !fits && record.body == BodyPlace::Packed {
            return Err(format!(
                "packed body location is {} octets, {LOCATION_LEN} expected, or outside its pack",
                body.len()
            ));
        }
        if !fits {
            let expected = record.body_len;
            return Err(format!(
                "inline body is {} octets, {expected} expected",
                body.len()
            ));
        }
        Ok((record, body))
    }

    /// Decodes a message's rows: its metadata row, and its state row when it has one (the
    /// state row then overrides the state the metadata row was written with).
    pub fn decode_rows<'r>(
        row: &'r [u8],
        state_row: Option<&[u8]>,
    ) -> Result<(Self, &'r [u8]), String> {
        let (mut record, inline) = Self::decode(row)?;
        if let Some(state_row) = state_row {
            record.meta = state::decode(state_row, &record.recipients)?;
        }
        Ok((record, inline))
    }

    /// The admin summary of a message from its rows, decoding only what it shows: of a
    /// format 5 row, the record's first fields (never the DSN parameters, client, receiver or
    /// body); an older row is decoded whole. The error says why the rows do not decode.
    pub fn summary(
        id: QueueId,
        row: &[u8],
        state_row: Option<&[u8]>,
    ) -> Result<MessageInfo, String> {
        let encoded = match row.split_first() {
            Some((&v5::FORMAT, rest)) => rest.get(ROW_HEADER_LEN - 1..),
            _ => None,
        };
        let Some(encoded) = encoded else {
            return Self::decode_rows(row, state_row).map(|(record, _)| record.info(id));
        };
        let (summary, _cold) = postcard::take_from_bytes::<v5::Summary>(encoded)
            .map_err(|e| format!("undecodable metadata: {e}"))?;
        let meta = match state_row {
            Some(state_row) => state::decode(state_row, &summary.recipients)?,
            None => summary.state.into_meta(&summary.recipients)?,
        };
        Ok(MessageInfo {
            id,
            sender: summary.sender.as_str().to_owned(),
            recipients: meta.recipients,
            attempts: meta.attempts,
            next_attempt: meta.next_attempt,
            arrival: summary.arrival,
            held: meta.held,
            size: summary.body_len,
        })
    }

    /// The state row of this record's current state.
    pub fn state_row(&self) -> Result<Vec<u8>, String> {
        state::encode(&self.meta, &self.recipients)
    }

    /// The admin summary, without reading the body.
    pub fn info(&self, id: QueueId) -> MessageInfo {
        MessageInfo {
            id,
            sender: self.sender.as_str().to_owned(),
            recipients: self.meta.recipients.clone(),
            attempts: self.meta.attempts,
            next_attempt: self.meta.next_attempt,
            arrival: self.arrival,
            held: self.meta.held,
            size: self.body_len,
        }
    }

    /// The full message, given its body.
    pub fn into_stored(self, id: QueueId, body: Message) -> StoredMessage {
        StoredMessage {
            id,
            envelope: Envelope {
                sender: self.sender,
                recipients: self.recipients,
                message: body,
                client: self.client,
                receiver: self.receiver,
                arrival: self.arrival,
                dsn: self.dsn,
            },
            meta: self.meta,
        }
    }

    /// The schedule key of this record.
    pub fn schedule_key(&self, id: QueueId) -> [u8; SCHEDULE_KEY_LEN] {
        schedule_key(self.meta.next_attempt, id)
    }

    /// The schedule value of this record.
    pub fn schedule_value(&self) -> [u8; SCHEDULE_VALUE_LEN] {
        schedule_value(self.arrival, self.meta.held, self.meta.attempts, self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope::new(
            Sender::parse("a@b.org").unwrap(),
            vec![Address::parse("c@d.org").unwrap()],
            b"Subject: x\r\n\r\nhi\r\n".to_vec(),
        )
    }

    #[test]
    fn record_round_trips_and_rejects_garbage() {
        let env = envelope();
        let body = env.message.as_bytes();
        let record = MetaRecord::of(&env, MessageMeta::new(&env, env.arrival), BodyPlace::Inline);
        let bytes = record.encode(body).unwrap();
        let (decoded, inline) = MetaRecord::decode(&bytes).unwrap();
        assert_eq!((&decoded, inline), (&record, body));
        assert!(MetaRecord::decode(&[]).is_err());
        assert!(MetaRecord::decode(&[9, 1, 2]).is_err());
        assert!(MetaRecord::decode(&[v5::FORMAT, 0, 0]).is_err());
        // Truncated anywhere: in the body, or in the record.
        assert!(MetaRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(MetaRecord::decode(&bytes[..ROW_HEADER_LEN + 3]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(MetaRecord::decode(&longer).is_err());
        // Version 1 (the old layout) is not read as this one.
        let mut old = bytes.clone();
        old[0] = 1;
        assert!(MetaRecord::decode(&old).unwrap_err().contains("format 1"));
        // A record whose body is in a file carries at most a head (a streamed message's), never
        // more than the message.
        let file = MetaRecord::of(&env, MessageMeta::new(&env, env.arrival), BodyPlace::File);
        let bytes = file.encode(&[]).unwrap();
        assert_eq!(MetaRecord::decode(&bytes).unwrap(), (file.clone(), &[][..]));
        let with_head = file.encode(&body[..5]).unwrap();
        assert_eq!(
            MetaRecord::decode(&with_head).unwrap(),
            (file.clone(), &body[..5])
        );
        let too_long = file.encode(&[body, b"x"].concat()).unwrap();
        assert!(MetaRecord::decode(&too_long).is_err());
    }

    #[test]
    fn a_chunked_body_leaves_less_than_a_chunk_in_the_row() {
        let env = envelope();
        let mut record =
            MetaRecord::of(&env, MessageMeta::new(&env, env.arrival), BodyPlace::Inline);
        record.body = BodyPlace::Chunked { chunks: 2 };
        record.body_len = 2 * CHUNK_LEN as u64 + 3;
        let row = record.encode(b"end").unwrap();
        assert_eq!(
            MetaRecord::decode(&row).unwrap(),
            (record.clone(), &b"end"[..])
        );
        // A tail of the wrong length, or a whole chunk left in the row, is refused.
        assert!(MetaRecord::decode(&record.encode(b"en").unwrap()).is_err());
        record.body = BodyPlace::Chunked { chunks: 1 };
        let tail = vec![b'x'; CHUNK_LEN + 3];
        assert!(MetaRecord::decode(&record.encode(&tail).unwrap()).is_err());
    }

    #[test]
    fn a_summary_reads_the_first_fields_only() {
        let mut env = envelope();
        env.client.helo = Some("client.example".into());
        let record = MetaRecord::of(&env, MessageMeta::new(&env, env.arrival), BodyPlace::Inline);
        let id = QueueId::new();
        let row = record.encode(env.message.as_bytes()).unwrap();
        assert_eq!(
            MetaRecord::summary(id, &row, None).unwrap(),
            record.info(id)
        );
        // The cold fields come last: cut them off and the summary still reads.
        let helo = row
            .windows(14)
            .position(|w| w == b"client.example")
            .unwrap();
        assert_eq!(
            MetaRecord::summary(id, &row[..helo], None).unwrap(),
            record.info(id)
        );
        assert!(MetaRecord::decode(&row[..helo]).is_err());
        let mut held = record.clone();
        held.meta.held = true;
        let state = held.state_row().unwrap();
        assert_eq!(
            MetaRecord::summary(id, &row, Some(&state)).unwrap(),
            held.info(id)
        );
    }

    #[test]
    fn each_recipient_is_stored_once() {
        let env = envelope();
        let record = MetaRecord::of(&env, MessageMeta::new(&env, env.arrival), BodyPlace::File);
        let bytes = record.encode(&[]).unwrap();
        let count = bytes.windows(7).filter(|w| w == b"c@d.org").count();
        assert_eq!(count, 1, "{bytes:?}");
    }

    #[test]
    fn a_state_row_overrides_the_state_the_row_was_written_with() {
        let env = envelope();
        let body = env.message.as_bytes();
        let mut record =
            MetaRecord::of(&env, MessageMeta::new(&env, env.arrival), BodyPlace::Inline);
        let row = record.encode(body).unwrap();
        record.meta.held = true;
        record.meta.attempts = 3;
        let state = record.state_row().unwrap();
        let (decoded, inline) = MetaRecord::decode_rows(&row, Some(&state)).unwrap();
        assert_eq!((decoded, inline), (record.clone(), body));
        assert!(MetaRecord::decode_rows(&row, Some(&[])).is_err());
        let (unchanged, _) = MetaRecord::decode_rows(&row, None).unwrap();
        assert_eq!(unchanged.meta.attempts, 0);
    }

    #[test]
    fn declarations_round_trip() {
        let mut env = envelope();
        env.client.smtputf8 = true;
        env.client.body = envoi_types::BodyType::EightBitMime;
        env.client.auth = Some("user".into());
        env.client.tls = Some(envoi_types::TlsInfo {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_256_GCM_SHA384".into(),
        });
        let record = MetaRecord::of(&env, MessageMeta::new(&env, env.arrival), BodyPlace::File);
        let bytes = record.encode(&[]).unwrap();
        let (decoded, _) = MetaRecord::decode(&bytes).unwrap();
        assert_eq!(decoded.client, env.client);
    }

    #[test]
    fn dsn_parameters_and_history_round_trip() {
        use envoi_queue::storage::{AttemptRecord, AttemptReply};
        use envoi_types::{Notify, OriginalRecipient, RecipientDsn, Reply, Ret};
        let mut env = envelope();
        env.dsn = DsnRequest {
            ret: Some(Ret::Headers),
            envid: Some("QQ314".into()),
            recipients: vec![RecipientDsn {
                recipient: env.recipients[0].clone(),
                notify: Some(Notify::NEVER),
                orcpt: Some(OriginalRecipient::of(&env.recipients[0])),
            }],
        };
        let mut meta = MessageMeta::new(&env, env.arrival);
        meta.history.delay_warnings_sent = 2;
        meta.history.attempts.push(AttemptRecord {
            at: env.arrival,
            replies: vec![AttemptReply {
                recipient: env.recipients[0].clone(),
                reply: Reply::with_default_code(451, "later"),
                remote_host: Some("mx.d.org[192.0.2.1]:25".into()),
            }],
        });
        let record = MetaRecord::of(&env, meta, BodyPlace::File);
        let (decoded, _) = MetaRecord::decode(&record.encode(&[]).unwrap()).unwrap();
        assert_eq!(decoded, record);
        assert_eq!(
            decoded
                .into_stored(QueueId::new(), Message::default())
                .envelope
                .dsn,
            env.dsn
        );
    }
}
