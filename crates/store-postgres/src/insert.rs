//! New messages as columns, inserted with one statement per table whatever their number.

use std::collections::HashSet;
use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use envoi_queue::storage::NewMessage;
use envoi_queue::StorageError;
use envoi_types::QueueId;

use crate::codec::{
    encode_dsn, encode_envelope, encode_history, encode_recipients, id_bytes, nanos,
};
use crate::error::{duplicate_key, is_duplicate, PgError};
use crate::sql::{self, prepared};
use crate::store::Inner;

/// New messages, one vector per column, leased to the node that writes them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Columns {
    ids: Vec<QueueId>,
    keys: Vec<Vec<u8>>,
    arrival: Vec<i64>,
    next: Vec<i64>,
    attempts: Vec<i32>,
    held: Vec<bool>,
    sender: Vec<String>,
    size: Vec<i64>,
    recipients: Vec<Vec<u8>>,
    history: Vec<Option<Vec<u8>>>,
    envelope: Vec<Vec<u8>>,
    dsn: Vec<Option<Vec<u8>>>,
}

impl Columns {
    /// Encodes `messages`; an id given twice is [`StorageError::DuplicateId`].
    pub(crate) fn of(messages: &[NewMessage]) -> Result<Self, StorageError> {
        let mut seen = HashSet::new();
        let mut columns = Self::default();
        for message in messages {
            if !seen.insert(message.id) {
                return Err(StorageError::DuplicateId(message.id));
            }
            columns.push(message)?;
        }
        Ok(columns)
    }

    fn push(&mut self, message: &NewMessage) -> Result<(), StorageError> {
        self.ids.push(message.id);
        self.keys.push(id_bytes(message.id));
        self.arrival.push(nanos(message.envelope.arrival));
        self.next.push(nanos(message.meta.next_attempt));
        self.attempts
            .push(i32::try_from(message.meta.attempts).unwrap_or(i32::MAX));
        self.held.push(message.meta.held);
        self.sender
            .push(message.envelope.sender.as_str().to_owned());
        self.size
            .push(i64::try_from(message.envelope.message.len()).unwrap_or(i64::MAX));
        self.recipients
            .push(encode_recipients(&message.meta.recipients).map_err(StorageError::Io)?);
        self.history
            .push(encode_history(&message.meta.history).map_err(StorageError::Io)?);
        self.envelope
            .push(encode_envelope(&message.envelope).map_err(StorageError::Io)?);
        self.dsn
            .push(encode_dsn(&message.envelope.dsn).map_err(StorageError::Io)?);
        Ok(())
    }

    /// Appends `other`'s rows (a batch of several callers' writes).
    pub(crate) fn append(&mut self, mut other: Self) {
        self.ids.append(&mut other.ids);
        self.keys.append(&mut other.keys);
        self.arrival.append(&mut other.arrival);
        self.next.append(&mut other.next);
        self.attempts.append(&mut other.attempts);
        self.held.append(&mut other.held);
        self.sender.append(&mut other.sender);
        self.size.append(&mut other.size);
        self.recipients.append(&mut other.recipients);
        self.history.append(&mut other.history);
        self.envelope.append(&mut other.envelope);
        self.dsn.append(&mut other.dsn);
    }

    /// True when `id` is one of the rows.
    pub(crate) fn contains(&self, id: QueueId) -> bool {
        self.ids.contains(&id)
    }

    /// Records the fencing counter of the leases the write took (0, the column's default): the
    /// first attempt's outcome is refused if another node claimed a message since.
    pub(crate) fn lease_fences(&self, inner: &Inner, until_ns: i64) {
        let mut fences = inner.fences();
        for id in &self.ids {
            fences.hold(*id, 0, until_ns);
        }
    }

    /// True when there is no row.
    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Inserts every row (message rows and bodies, in one statement: within the caller's
    /// transaction, or as a transaction of its own on a session outside one), leased to `node`
    /// until `lease_until`. A stored id is [`StorageError::DuplicateId`] (the id the server names,
    /// or the first of these when it names none).
    pub(crate) async fn insert<C: GenericClient>(
        &self,
        client: &C,
        node: &str,
        lease_until: SystemTime,
    ) -> Result<(), StorageError> {
        let Some(first) = self.ids.first() else {
            return Ok(());
        };
        let until = nanos(lease_until);
        let inserted = client
            .execute(
                &prepared(client, sql::INSERT_MESSAGES).await?,
                &[
                    &self.keys,
                    &self.arrival,
                    &self.next,
                    &self.attempts,
                    &self.held,
                    &self.sender,
                    &self.size,
                    &self.recipients,
                    &node,
                    &until,
                    &self.history,
                    &self.envelope,
                    &self.dsn,
                ],
            )
            .await;
        match inserted {
            Err(error) if is_duplicate(&error) => {
                let id = duplicate_key(&error).unwrap_or(*first);
                return Err(StorageError::DuplicateId(id));
            }
            other => other.map_err(PgError::from)?,
        };
        Ok(())
    }
}
