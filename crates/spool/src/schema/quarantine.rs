//! Rows of the `quarantine` table: `meta/<id>` (or `meta/<hex of the raw key>`) → postcard
//! `(reason, raw metadata row, state row)`.

use envoi_types::QueueId;

/// The quarantine key of a record: `meta/<id>`, or `meta/<hex of the raw key>` when the key
/// is not an id.
pub(crate) fn quarantine_key(id: Option<QueueId>, key: &[u8]) -> String {
    match id {
        Some(id) => format!("meta/{id}"),
        None => format!("meta/{}", hex(key)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A quarantine entry: postcard `(reason, raw metadata row, state row)`. The last slot held
/// an inline body in layout 1 and was always empty in layouts 2 and 3; from layout 4 it holds
/// the message's state row when it had one, so nothing of the message is lost.
pub(crate) fn encode_quarantined(reason: &str, raw: &[u8], state: Option<&[u8]>) -> Vec<u8> {
    postcard::to_stdvec(&(reason, raw, state)).unwrap_or_default()
}

/// The reason of a quarantine entry, or why the entry cannot be read.
pub(crate) fn quarantined_reason(value: &[u8]) -> String {
    postcard::from_bytes::<(String, Vec<u8>, Option<Vec<u8>>)>(value)
        .map(|v| v.0)
        .unwrap_or_else(|e| format!("(unreadable quarantine entry: {e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantine_entries_keep_their_reason_name_and_state() {
        let id = QueueId::new();
        assert_eq!(
            quarantine_key(Some(id), &id.to_bytes()),
            format!("meta/{id}")
        );
        assert_eq!(quarantine_key(None, &[0xab, 0x01]), "meta/ab01");
        let entry = encode_quarantined("undecodable", &[1, 2, 3], Some(&[4]));
        let (reason, raw, state) =
            postcard::from_bytes::<(String, Vec<u8>, Option<Vec<u8>>)>(&entry).unwrap();
        assert_eq!(
            (reason.as_str(), raw, state),
            ("undecodable", vec![1, 2, 3], Some(vec![4]))
        );
        assert_eq!(quarantined_reason(&entry), "undecodable");
        assert!(quarantined_reason(&[0xff]).starts_with("(unreadable quarantine entry"));
    }
}
