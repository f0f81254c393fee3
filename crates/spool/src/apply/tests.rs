//! Unit tests of `apply`: ops against real tables in an aborted transaction.

#![allow(clippy::unwrap_used)] // tests: a panic is a failed assertion

use super::*;
use envoi_queue::MessageMeta;
use envoi_types::{Address, Envelope, Sender};

fn with_tables(test: impl FnOnce(&mut Tables<'_>)) {
    let dir = tempfile::tempdir().unwrap();
    let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut t = Tables {
            meta: txn.open_table(META).unwrap(),
            state: txn.open_table(STATE).unwrap(),
            chunks: txn.open_table(CHUNKS).unwrap(),
            packs: crate::packs::PackTables::open(&txn).unwrap(),
            schedule: txn.open_table(SCHEDULE).unwrap(),
            suspensions: txn.open_table(SUSPENSIONS).unwrap(),
        };
        test(&mut t);
    }
    txn.abort().unwrap();
}

fn stored(t: &mut Tables<'_>) -> (QueueId, MetaRecord) {
    let env = Envelope::new(
        Sender::parse("a@b.org").unwrap(),
        vec![Address::parse("c@d.org").unwrap()],
        b"Subject: x\r\n\r\nhi\r\n".to_vec(),
    );
    let record = MetaRecord::of(&env, MessageMeta::new(&env, env.arrival), BodyPlace::Inline);
    let id = QueueId::new();
    let row = record.encode(env.message.as_bytes()).unwrap();
    let prepared = Prepared {
        id,
        record: record.clone(),
        row,
        chunks: bytes::Bytes::new(),
        packed: bytes::Bytes::new(),
    };
    insert_new(t, &[prepared]).unwrap();
    (id, record)
}

fn delivered(id: QueueId) -> Op {
    Op::Attempt {
        id,
        bounces: Vec::new(),
        disposition: Disposition::Remove,
    }
}

#[test]
fn a_delivered_message_loses_every_row() {
    with_tables(|t| {
        let (id, record) = stored(t);
        let (outcome, unlink) = apply(t, &delivered(id)).unwrap();
        assert_eq!(outcome, Ok(Done::Ok));
        assert!(unlink.is_empty());
        assert!(t.meta.get(id_key(id).as_slice()).unwrap().is_none());
        let key = record.schedule_key(id);
        assert!(t.schedule.get(key.as_slice()).unwrap().is_none());
        let (outcome, _) = apply(t, &delivered(id)).unwrap();
        assert_eq!(outcome, Err(StorageError::NotFound(id)));
    });
}

#[test]
fn an_undecodable_row_is_refused_and_left_as_it_was() {
    with_tables(|t| {
        let (id, _) = stored(t);
        let garbage = [2u8, 0, 0, 0, 1, 0xff];
        t.meta
            .insert(id_key(id).as_slice(), garbage.as_slice())
            .unwrap();
        let (outcome, unlink) = apply(t, &delivered(id)).unwrap();
        assert!(
            matches!(outcome, Err(StorageError::Corrupt { .. })),
            "{outcome:?}"
        );
        assert!(unlink.is_empty());
        let row = t.meta.get(id_key(id).as_slice()).unwrap().unwrap();
        assert_eq!(row.value(), garbage);
        drop(row);
        // A plain remove takes it, and its schedule row, by id.
        let (outcome, _) = apply(t, &Op::Remove(id)).unwrap();
        assert_eq!(outcome, Ok(Done::Removed(true)));
        assert!(t.meta.get(id_key(id).as_slice()).unwrap().is_none());
        assert_eq!(t.schedule.iter().unwrap().count(), 0);
    });
}

#[test]
fn a_retry_rewrites_the_state_and_schedule_rows_never_the_metadata_row() {
    with_tables(|t| {
        let (id, record) = stored(t);
        let row = t
            .meta
            .get(id_key(id).as_slice())
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        let later = record.meta.next_attempt + std::time::Duration::from_secs(60);
        let retry = Op::Attempt {
            id,
            bounces: Vec::new(),
            disposition: Disposition::Retry {
                next_attempt: later,
                attempts: 1,
                recipients: record.meta.recipients.clone(),
                history: record.meta.history.clone(),
            },
        };
        let (outcome, _) = apply(t, &retry).unwrap();
        assert_eq!(outcome, Ok(Done::Ok));
        let now = t
            .meta
            .get(id_key(id).as_slice())
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        assert_eq!(
            now, row,
            "the metadata row, inline body included, is untouched"
        );
        let state = t
            .state
            .get(id_key(id).as_slice())
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        let (current, _) = MetaRecord::decode_rows(&row, Some(&state)).unwrap();
        assert_eq!(
            (current.meta.attempts, current.meta.next_attempt),
            (1, later)
        );
        let old_key = record.schedule_key(id);
        assert!(t.schedule.get(old_key.as_slice()).unwrap().is_none());
        let new_key = current.schedule_key(id);
        assert!(t.schedule.get(new_key.as_slice()).unwrap().is_some());
        // Delivered at the next attempt: the state row goes with the rest.
        let (outcome, _) = apply(t, &delivered(id)).unwrap();
        assert_eq!(outcome, Ok(Done::Ok));
        assert!(t.state.get(id_key(id).as_slice()).unwrap().is_none());
        assert_eq!(t.schedule.iter().unwrap().count(), 0);
    });
}
