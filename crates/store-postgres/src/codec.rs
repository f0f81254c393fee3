//! How values are kept in columns: ids as 16 bytes, times as nanoseconds since the epoch,
//! envelopes, recipient states (with their TLS reports), DSN parameters and histories as
//! postcard (the last two NULL when empty).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use envoi_queue::storage::MessageHistory;
use envoi_types::{DsnRequest, Envelope, QueueId, RecipientStatus, TlsReport};

/// The id's 16 bytes (a ULID: byte order is arrival order).
pub(crate) fn id_bytes(id: QueueId) -> Vec<u8> {
    id.to_bytes().to_vec()
}

/// The id stored in `bytes`, or why it is not one.
pub(crate) fn id_from(bytes: &[u8]) -> Result<QueueId, String> {
    let array: [u8; 16] = bytes
        .try_into()
        .map_err(|_| format!("an id of {} bytes", bytes.len()))?;
    Ok(QueueId::from_bytes(array))
}

/// Nanoseconds since the epoch, saturated to the column's range (times before 1970 are 0).
pub(crate) fn nanos(time: SystemTime) -> i64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

/// The time `nanos` after the epoch (negative values are the epoch).
pub(crate) fn time(nanos: i64) -> SystemTime {
    let nanos = u64::try_from(nanos).unwrap_or(0);
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// The envelope as stored in the body table.
pub(crate) fn encode_envelope(envelope: &Envelope) -> Result<Vec<u8>, String> {
    postcard::to_stdvec(envelope).map_err(|e| format!("cannot encode envelope: {e}"))
}

/// The envelope stored as `bytes`.
pub(crate) fn decode_envelope(bytes: &[u8]) -> Result<Envelope, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("envelope does not decode: {e}"))
}

/// The envelope's DSN parameters as stored beside its body: NULL when there are none.
pub(crate) fn encode_dsn(dsn: &DsnRequest) -> Result<Option<Vec<u8>>, String> {
    if dsn.is_empty() {
        return Ok(None);
    }
    postcard::to_stdvec(dsn)
        .map(Some)
        .map_err(|e| format!("cannot encode DSN parameters: {e}"))
}

/// The DSN parameters stored as `bytes` (none for NULL).
pub(crate) fn decode_dsn(bytes: Option<&[u8]>) -> Result<DsnRequest, String> {
    bytes.map_or(Ok(DsnRequest::default()), |bytes| {
        postcard::from_bytes(bytes).map_err(|e| format!("DSN parameters do not decode: {e}"))
    })
}

/// A message's history as stored in its row: NULL when empty.
pub(crate) fn encode_history(history: &MessageHistory) -> Result<Option<Vec<u8>>, String> {
    if history == &MessageHistory::default() {
        return Ok(None);
    }
    postcard::to_stdvec(history)
        .map(Some)
        .map_err(|e| format!("cannot encode history: {e}"))
}

/// The history stored as `bytes` (empty for NULL).
pub(crate) fn decode_history(bytes: Option<&[u8]>) -> Result<MessageHistory, String> {
    bytes.map_or(Ok(MessageHistory::default()), |bytes| {
        postcard::from_bytes(bytes).map_err(|e| format!("history does not decode: {e}"))
    })
}

/// The prefix of recipient states stored with their TLS reports (schema 7): a first octet 0
/// is otherwise only the whole of an empty list, so the two forms never collide.
const WITH_TLS: [u8; 2] = [0, 2];

/// Recipient states as stored in the message row: [`WITH_TLS`], the states, then one TLS
/// report per state (`AppliedTls` by variant index: never reorder its variants).
pub(crate) fn encode_recipients(recipients: &[RecipientStatus]) -> Result<Vec<u8>, String> {
    let tls: Vec<Option<TlsReport>> = recipients.iter().map(|r| r.tls).collect();
    let mut out = WITH_TLS.to_vec();
    postcard::to_io(recipients, &mut out)
        .and_then(|out| postcard::to_io(&tls, out))
        .map_err(|e| format!("cannot encode recipients: {e}"))?;
    Ok(out)
}

/// Recipient states stored as `bytes`: with TLS reports, or as schema 6 wrote them (the
/// states alone).
pub(crate) fn decode_recipients(bytes: &[u8]) -> Result<Vec<RecipientStatus>, String> {
    let undecodable = |e: postcard::Error| format!("recipient states do not decode: {e}");
    let Some(encoded) = bytes.strip_prefix(&WITH_TLS[..]) else {
        return postcard::from_bytes(bytes).map_err(undecodable);
    };
    let (mut recipients, rest) =
        postcard::take_from_bytes::<Vec<RecipientStatus>>(encoded).map_err(undecodable)?;
    let tls: Vec<Option<TlsReport>> = postcard::from_bytes(rest).map_err(undecodable)?;
    for (status, report) in recipients.iter_mut().zip(tls) {
        status.tls = report;
    }
    Ok(recipients)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_keep_nanoseconds() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(time(nanos(t)), t);
        assert_eq!(time(-5), UNIX_EPOCH);
    }

    #[test]
    fn recipient_states_keep_tls_reports_and_old_rows_still_read() {
        use envoi_types::{Address, AppliedTls};
        let mut states = vec![
            RecipientStatus::pending(Address::parse("a@b.org").unwrap()),
            RecipientStatus::pending(Address::parse("c@d.org").unwrap()),
        ];
        states[1].tls = Some(TlsReport {
            policy: AppliedTls::MtaSts,
            verified: true,
        });
        assert_eq!(
            decode_recipients(&encode_recipients(&states).unwrap()).unwrap(),
            states
        );
        // As schema 6 wrote them: the states alone.
        let old = postcard::to_stdvec(&states).unwrap();
        states[1].tls = None;
        assert_eq!(decode_recipients(&old).unwrap(), states);
        assert_eq!(
            decode_recipients(&postcard::to_stdvec(&Vec::<RecipientStatus>::new()).unwrap())
                .unwrap(),
            vec![]
        );
    }

    #[test]
    fn ids_round_trip_and_bad_lengths_are_refused() {
        let id = QueueId::new();
        assert_eq!(id_from(&id_bytes(id)).unwrap(), id);
        assert!(id_from(&[1, 2, 3]).is_err());
    }
}
