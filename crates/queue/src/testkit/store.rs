//! Behaviour-suite rows about the store alone, called without a queue: what every
//! [`Storage`] must answer whatever the engine above it does.

use std::sync::Arc;
use std::time::SystemTime;

use envoi_types::{Address, Envelope, Sender};

use crate::storage::{NewMessage, Storage, StorageError};

/// A new message with a body of `size` octets (stores may keep small and large bodies in
/// different places, so the rows use both).
fn message(size: usize) -> NewMessage {
    let mut body = b"Subject: dup\r\n\r\n".to_vec();
    body.resize(size.max(body.len()), b'x');
    let rcpt = Address::parse("r@dst.test").expect("test address");
    let envelope = Envelope::new(Sender::Null, vec![rcpt], body);
    NewMessage::new(envelope, SystemTime::now())
}

/// Row "duplicate id": writing an id that is stored, or one id twice in one write, is
/// [`StorageError::DuplicateId`]; nothing of that write is stored and the stored message is
/// unchanged.
pub async fn write_refuses_duplicate_ids(store: Arc<dyn Storage>) {
    for size in [20, 4096] {
        let original = message(size);
        let id = original.id;
        store.write(vec![original.clone()]).await.unwrap();

        let mut again = message(size * 2);
        again.id = id;
        let bystander = message(size);
        let refused = store.write(vec![bystander.clone(), again]).await;
        assert_eq!(refused, Err(StorageError::DuplicateId(id)), "size {size}");
        assert!(
            store.get(bystander.id).await.unwrap().is_none(),
            "a refused write stored part of its messages"
        );
        let kept = store.get(id).await.unwrap().expect("original still stored");
        assert_eq!(
            kept.envelope, original.envelope,
            "the original was overwritten"
        );

        let twin = message(size);
        let twice = store.write(vec![twin.clone(), twin.clone()]).await;
        assert_eq!(
            twice,
            Err(StorageError::DuplicateId(twin.id)),
            "size {size}"
        );
        assert!(store.get(twin.id).await.unwrap().is_none());
    }
}
