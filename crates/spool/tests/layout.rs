//! The spool's on-disk layout, byte by byte, read back with redb alone: what
//! docs/architecture.md ("The spool on disk") describes. A change here is a change of layout,
//! which needs a new layout version.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use envoi_queue::{MessageMeta, NewMessage, Storage};
use envoi_spool::{Spool, SpoolOptions, DB_FILE};
use envoi_types::{
    Address, BodyType, DsnRequest, Envelope, Notify, OriginalRecipient, QueueId, RecipientDsn, Ret,
    Sender, TlsInfo,
};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

const META: TableDefinition<&[u8], &[u8]> = TableDefinition::new("meta");
const SCHEDULE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("schedule");
const FORMAT: TableDefinition<&str, u64> = TableDefinition::new("format");
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
const PACKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("packs");
const PACK_COUNTS: TableDefinition<u64, &[u8]> = TableDefinition::new("pack_counts");

const BODY: &[u8] = b"Subject: x\r\n\r\nhi\r\n"; // 18 octets

/// A message from a@b.org to c@d.org, received from 127.0.0.1 at epoch + 100 s + 5 ns, due at
/// epoch + 200 s.
fn message() -> NewMessage {
    let mut envelope = Envelope::new(
        Sender::parse("a@b.org").unwrap(),
        vec![Address::parse("c@d.org").unwrap()],
        BODY.to_vec(),
    );
    envelope.client.ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    envelope.arrival = UNIX_EPOCH + Duration::new(100, 5);
    let meta = MessageMeta::new(&envelope, UNIX_EPOCH + Duration::from_secs(200));
    NewMessage {
        id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().unwrap(),
        envelope,
        meta,
    }
}

/// Stores `message()` in a fresh spool with this inline limit, closes it, and returns the raw
/// meta row, schedule key and value, and the layout record.
async fn stored(dir: &Path, inline_max: usize) -> (QueueId, Vec<u8>, Vec<u8>, Vec<u8>, u64) {
    stored_message(dir, inline_max, message()).await
}

async fn stored_message(
    dir: &Path,
    inline_max: usize,
    message: NewMessage,
) -> (QueueId, Vec<u8>, Vec<u8>, Vec<u8>, u64) {
    let options = SpoolOptions {
        inline_max,
        ..SpoolOptions::default()
    };
    let id = message.id;
    let spool = Spool::open(dir, options).unwrap();
    spool.write(vec![message]).await.unwrap();
    drop(spool); // waits for the writer: the database is closed afterwards
    let db = Database::open(dir.join(DB_FILE)).unwrap();
    let read = db.begin_read().unwrap();
    let meta = read.open_table(META).unwrap();
    let schedule = read.open_table(SCHEDULE).unwrap();
    assert_eq!((meta.len().unwrap(), schedule.len().unwrap()), (1, 1));
    let row = meta
        .get(&id.to_bytes()[..])
        .unwrap()
        .unwrap()
        .value()
        .to_vec();
    let (key, value) = schedule.first().unwrap().unwrap();
    let (key, value) = (key.value().to_vec(), value.value().to_vec());
    assert_eq!(
        read.open_table(STATE).unwrap().len().unwrap(),
        0,
        "no state row yet"
    );
    let layout = read
        .open_table(FORMAT)
        .unwrap()
        .get("layout")
        .unwrap()
        .unwrap()
        .value();
    (id, row, key, value, layout)
}

/// The format 5 record of `message()`, its body kept at `place` (0 inline, 1 file).
fn record(place: u8) -> Vec<u8> {
    record_with(place, &[0, 0, 0]) // not SMTPUTF8, BODY undeclared, no TLS
}

/// The format 5 record with these bytes for the client's declarations (after
/// `client.protocol`), no DSN parameter and an empty history.
fn record_with(place: u8, declarations: &[u8]) -> Vec<u8> {
    // dsn: RET None, ENVID None, no recipient; history: no attempt, 0 warnings sent.
    record5(place, declarations, &[0, 0, 0], &[0, 0])
}

/// The format 5 record with these bytes for the declarations (after `client.protocol`), the
/// DSN parameters (after the state) and the history (the end of the state). The fields a
/// listing shows come first; DSN parameters, client and receiver last.
fn record5(place: u8, declarations: &[u8], dsn: &[u8], history: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend([1, 7]); // sender: variant 1 (Address), 7 octets
    r.extend(b"a@b.org");
    r.extend([1, 7]); // recipients: 1, then 7 octets: the only copy of the address
    r.extend(b"c@d.org");
    r.extend([100, 5]); // arrival: seconds 100, nanoseconds 5 (varints)
    r.extend([18, place]); // body_len 18, body place
    r.extend(state(false, history)); // the state it was stored with
    r.extend(dsn);
    r.extend([1, 0, 127, 0, 0, 1]); // client.ip: Some, V4, 127.0.0.1
    r.extend([0, 0, 0]); // client.helo None, client.auth None, client.protocol ""
    r.extend(declarations); // client.smtputf8, client.body, client.tls
    r.push(0); // receiver ""
    r
}

/// The state of `message()` in format 5 (the tail of its metadata row, or a state row after
/// the format byte): no attempt, due at 200 s, `held`, its one recipient pending.
fn state(held: bool, history: &[u8]) -> Vec<u8> {
    let mut r = vec![0]; // attempts 0
    r.extend([0xC8, 0x01, 0]); // next_attempt: 200 s (varint), 0 ns
    r.push(u8::from(held));
    r.extend([1, 0, 0]); // statuses: 1; recipient variant 0 (index), index 0
    r.extend([0, 0, 0]); // state Pending, last_reply None, remote_host None
    r.extend(history); // history: attempts, then delay warnings sent
    r
}

/// A format 4, 3 or 2 record, with these bytes for the declarations, the DSN parameters
/// (after `arrival`; `None` for formats 2 and 3, which have none) and the history (after
/// `meta.recipients`; `None` for formats 2 and 3).
fn record_parts(
    place: u8,
    declarations: &[u8],
    dsn: Option<&[u8]>,
    history: Option<&[u8]>,
) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend([1, 7]); // sender: variant 1 (Address), 7 octets
    r.extend(b"a@b.org");
    r.extend([1, 7]); // recipients: 1, then 7 octets
    r.extend(b"c@d.org");
    r.extend([1, 0, 127, 0, 0, 1]); // client.ip: Some, V4, 127.0.0.1
    r.extend([0, 0, 0]); // client.helo None, client.auth None, client.protocol ""
    r.extend(declarations); // client.smtputf8, client.body, client.tls
    r.push(0); // receiver ""
    r.extend([100, 5]); // arrival: seconds 100, nanoseconds 5 (varints)
    r.extend(dsn.unwrap_or_default()); // dsn (format 4)
    r.extend([18, place]); // body_len 18, body place
    r.push(0); // meta.attempts 0
    r.extend([0xC8, 0x01, 0]); // meta.next_attempt: 200 s (varint), 0 ns
    r.push(0); // meta.held false
    r.extend([1, 7]); // meta.recipients: 1; recipient, 7 octets
    r.extend(b"c@d.org");
    r.extend([0, 0, 0]); // state Pending, last_reply None, remote_host None
    r.extend(history.unwrap_or_default()); // meta.history (format 4)
    r
}

fn expected_row(place: u8, tail: &[u8]) -> Vec<u8> {
    row_of(5, record(place), tail)
}

fn row_of(format: u8, record: Vec<u8>, tail: &[u8]) -> Vec<u8> {
    let mut row = vec![format];
    row.extend(u32::try_from(record.len()).unwrap().to_be_bytes());
    row.extend(record);
    row.extend(tail);
    row
}

fn expected_schedule(id: QueueId, place: u8) -> (Vec<u8>, Vec<u8>) {
    let mut key = 200u64.to_be_bytes().to_vec(); // next attempt: seconds, nanoseconds
    key.extend(0u32.to_be_bytes());
    key.extend(id.to_bytes());
    let mut value = 100u64.to_be_bytes().to_vec(); // arrival: seconds, nanoseconds
    value.extend(5u32.to_be_bytes());
    value.push(0); // not held
    value.extend(0u32.to_be_bytes()); // attempts
    value.push(place);
    (key, value)
}

/// Where the first body packed in a fresh spool is: pack 0 (u64), offset 0 (u32).
const FIRST_IN_PACK: [u8; 12] = [0; 12];

/// A small body is packed (`tests/packs.rs` has the pack's bytes): the row ends with its
/// place, body place variant 3.
#[tokio::test]
async fn a_small_message_is_one_meta_row_naming_its_place_in_a_pack() {
    let dir = tempfile::tempdir().unwrap();
    let (id, row, key, value, layout) = stored(dir.path(), 1024).await;
    assert_eq!(layout, 5);
    assert_eq!(row, expected_row(3, &FIRST_IN_PACK));
    assert_eq!(row[..5], [5, 0, 0, 0, 0x33], "as docs/architecture.md says");
    assert_eq!((key, value), expected_schedule(id, 0));
    assert_eq!(
        std::fs::read_dir(dir.path().join("bodies"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn a_large_body_is_a_file_named_by_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let (id, row, key, value, layout) = stored(dir.path(), 4).await;
    assert_eq!(layout, 5);
    assert_eq!(row, expected_row(1, &[]));
    assert_eq!((key, value), expected_schedule(id, 1));
    let file = dir.path().join("bodies").join(id.to_string());
    assert_eq!(std::fs::read(file).unwrap(), BODY);
}

#[tokio::test]
async fn the_client_declarations_follow_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let mut message = message();
    message.envelope.client.smtputf8 = true;
    message.envelope.client.body = BodyType::EightBitMime;
    message.envelope.client.tls = Some(TlsInfo {
        version: "TLSv1.3".into(),
        cipher: "X".into(),
    });
    let (_, row, _, _, _) = stored_message(dir.path(), 1024, message).await;
    let mut declarations = vec![1, 2]; // smtputf8 true, body variant 2 (8BITMIME)
    declarations.extend([1, 7]); // tls: Some, version of 7 octets
    declarations.extend(b"TLSv1.3");
    declarations.extend([1, b'X']); // cipher of 1 octet
    assert_eq!(
        row,
        row_of(5, record_with(3, &declarations), &FIRST_IN_PACK)
    );
}

#[tokio::test]
async fn the_dsn_parameters_follow_the_arrival_and_the_history_ends_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut message = message();
    let rcpt = message.envelope.recipients[0].clone();
    message.envelope.dsn = DsnRequest {
        ret: Some(Ret::Headers),
        envid: Some("x".into()),
        recipients: vec![RecipientDsn {
            recipient: rcpt.clone(),
            notify: Some(Notify::NEVER),
            orcpt: Some(OriginalRecipient::of(&rcpt)),
        }],
    };
    message.meta.history.delay_warnings_sent = 1;
    let (_, row, _, _, _) = stored_message(dir.path(), 1024, message).await;
    let mut dsn = vec![1, 1]; // ret: Some, variant 1 (HDRS)
    dsn.extend([1, 1, b'x']); // envid: Some, 1 octet
    dsn.extend([1, 0, 0]); // recipients: 1; recipient variant 0 (index), index 0
    dsn.extend([1, 0, 0, 0]); // notify: Some, success, failure, delay all false (NEVER)
    dsn.extend([1, 6]); // orcpt: Some, address type of 6 octets
    dsn.extend(b"rfc822");
    dsn.push(7); // address, 7 octets
    dsn.extend(b"c@d.org");
    let history = [0, 1]; // no attempt recorded, 1 delay warning sent
    let record = record5(3, &[0, 0, 0], &dsn, &history);
    assert_eq!(row, row_of(5, record, &FIRST_IN_PACK));
}

/// A row of format 3, as the envoi before DSN parameters and the history wrote it, is read
/// back with neither.
#[tokio::test]
async fn a_format_3_row_is_read_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let (id, _, _, _, _) = stored(dir.path(), 1024).await;
    let old = row_of(3, record_parts(0, &[0, 0, 0], None, None), BODY);
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let write = db.begin_write().unwrap();
        write
            .open_table(META)
            .unwrap()
            .insert(&id.to_bytes()[..], &old[..])
            .unwrap();
        write.commit().unwrap();
    }
    let options = SpoolOptions {
        verify_at_open: true,
        ..SpoolOptions::default()
    };
    let spool = Spool::open(dir.path(), options).unwrap();
    let stored = spool.get(id).await.unwrap().unwrap();
    let expected = message();
    assert_eq!(stored.envelope, expected.envelope);
    assert_eq!(stored.envelope.dsn, DsnRequest::default());
    assert_eq!(stored.meta, expected.meta);
    assert!(spool.quarantined().await.unwrap().is_empty());
}

/// A streamed message: its head (the header section) ends the row, the rest is the file
/// `bodies/<id>`, linked from the staging file, which is gone once the message is stored.
#[tokio::test]
async fn a_streamed_message_keeps_its_head_in_the_row_and_the_rest_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
    let (head, rest) = BODY.split_at(14);
    let mut sink = spool.open_body(1024).await.unwrap();
    sink.write(bytes::Bytes::from_static(rest)).await.unwrap();
    let staged = sink.finish().await.unwrap();
    let mut message = message();
    message.envelope.message = staged.after(bytes::Bytes::from_static(head));
    let id = message.id;
    spool.write(vec![message]).await.unwrap();
    drop(spool);
    let files: Vec<String> = std::fs::read_dir(dir.path().join("bodies"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, vec![id.to_string()]);
    let file = dir.path().join("bodies").join(id.to_string());
    assert_eq!(std::fs::read(file).unwrap(), rest);
    let db = Database::open(dir.path().join(DB_FILE)).unwrap();
    let read = db.begin_read().unwrap();
    let row = read.open_table(META).unwrap();
    let row = row
        .get(&id.to_bytes()[..])
        .unwrap()
        .unwrap()
        .value()
        .to_vec();
    assert_eq!(row, expected_row(1, head));
    let schedule = read.open_table(SCHEDULE).unwrap();
    let (key, value) = schedule.first().unwrap().unwrap();
    let stored = (key.value().to_vec(), value.value().to_vec());
    assert_eq!(stored, expected_schedule(id, 1));
}

/// A layout 2 database (a file body always whole), 3 (format 4 rows) or 4 (no packs, format 1
/// state rows) is opened, its messages read as before, and its layout record raised to 5.
#[tokio::test]
async fn layout_2_3_and_4_databases_are_opened_and_raised_to_5() {
    for old in [2, 3, 4] {
        old_layout_is_raised(old).await;
    }
}

async fn old_layout_is_raised(old: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (id, _, _, _, _) = stored(dir.path(), 4).await;
    let row = row_of(
        4,
        record_parts(1, &[0, 0, 0], Some(&[0, 0, 0]), Some(&[0, 0])),
        &[],
    );
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let write = db.begin_write().unwrap();
        write
            .open_table(FORMAT)
            .unwrap()
            .insert("layout", old)
            .unwrap();
        write
            .open_table(META)
            .unwrap()
            .insert(&id.to_bytes()[..], &row[..])
            .unwrap();
        if old < 4 {
            write.delete_table(STATE).unwrap();
        }
        write
            .open_table(FORMAT)
            .unwrap()
            .remove("next_pack")
            .unwrap();
        write.delete_table(PACKS).unwrap();
        write.delete_table(PACK_COUNTS).unwrap();
        write.commit().unwrap();
    }
    let spool = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
    let stored = spool.get(id).await.unwrap().unwrap();
    assert_eq!(stored.envelope.message.as_bytes(), BODY);
    drop(spool);
    let db = Database::open(dir.path().join(DB_FILE)).unwrap();
    let read = db.begin_read().unwrap();
    let layout = read
        .open_table(FORMAT)
        .unwrap()
        .get("layout")
        .unwrap()
        .unwrap()
        .value();
    assert_eq!(layout, 5);
}

/// A layout 4 database keeps its inline bodies in their rows: raised to 5, its rows are read
/// as they are, new messages are packed, and removing an old one touches no pack.
#[tokio::test]
async fn a_layout_4_inline_body_stays_in_its_row_and_new_ones_are_packed() {
    let dir = tempfile::tempdir().unwrap();
    let (old_id, _, _, _, _) = stored(dir.path(), 1024).await;
    let layout_4_row = expected_row(0, BODY); // format 5, body inline: as layout 4 wrote it
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let write = db.begin_write().unwrap();
        let mut format = write.open_table(FORMAT).unwrap();
        format.insert("layout", 4).unwrap();
        format.remove("next_pack").unwrap(); // layout 4 had no packs
        drop(format);
        let mut meta = write.open_table(META).unwrap();
        meta.insert(&old_id.to_bytes()[..], &layout_4_row[..])
            .unwrap();
        drop(meta);
        write.delete_table(PACKS).unwrap();
        write.delete_table(PACK_COUNTS).unwrap();
        write.commit().unwrap();
    }
    let spool = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
    let old = spool.get(old_id).await.unwrap().unwrap();
    assert_eq!(old.envelope.message.as_bytes(), BODY);
    let mut new = message();
    new.id = QueueId::new();
    let new_id = new.id;
    spool.write(vec![new]).await.unwrap();
    assert!(spool.remove(old_id).await.unwrap());
    drop(spool);
    let (new_row, _, _) = rows_of(dir.path(), new_id);
    assert_eq!(new_row, expected_row(3, &FIRST_IN_PACK));
    let pack_count = |dir: &Path| {
        let db = Database::open(dir.join(DB_FILE)).unwrap();
        let read = db.begin_read().unwrap();
        let layout = read.open_table(FORMAT).unwrap().get("layout").unwrap();
        assert_eq!(layout.unwrap().value(), 5);
        let counts = read.open_table(PACK_COUNTS).unwrap();
        let rows = counts.iter().unwrap().map(|r| {
            let (k, v) = r.unwrap();
            (k.value(), v.value().to_vec())
        });
        rows.collect::<Vec<_>>()
    };
    // One message in pack 0, 18 octets used: the old message's removal left it alone.
    assert_eq!(pack_count(dir.path()), [(0, vec![0, 0, 0, 1, 0, 0, 0, 18])]);
    let spool = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
    let read = spool.get(new_id).await.unwrap().unwrap();
    assert_eq!(read.envelope.message.as_bytes(), BODY);
    assert!(spool.remove(new_id).await.unwrap());
    drop(spool);
    assert_eq!(pack_count(dir.path()), []);
}

/// A row of format 2, as the envoi before the client's declarations wrote it, is read back with
/// no declarations, and its message is delivered like any other.
#[tokio::test]
async fn a_format_2_row_is_read_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let (id, _, _, _, _) = stored(dir.path(), 1024).await;
    let old = row_of(2, record_parts(0, &[], None, None), BODY);
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let write = db.begin_write().unwrap();
        write
            .open_table(META)
            .unwrap()
            .insert(&id.to_bytes()[..], &old[..])
            .unwrap();
        write.commit().unwrap();
    }
    let options = SpoolOptions {
        verify_at_open: true,
        ..SpoolOptions::default()
    };
    let spool = Spool::open(dir.path(), options).unwrap();
    let stored = spool.get(id).await.unwrap().unwrap();
    let expected = message();
    assert_eq!(stored.envelope, expected.envelope);
    assert_eq!(stored.envelope.client.body, BodyType::Undeclared);
    assert!(spool.quarantined().await.unwrap().is_empty());
}

/// A suspension is one row of `suspensions`: the destination's name → end flag, end seconds
/// and nanoseconds (big-endian), the reason in UTF-8.
#[tokio::test]
async fn a_suspension_is_one_row_named_by_its_destination() {
    const SUSPENSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("suspensions");
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
    let until = UNIX_EPOCH + Duration::new(0x0102_0304, 7);
    let timed = envoi_queue::Suspension {
        destination: "example.com".into(),
        until: Some(until),
        reason: "é".into(),
    };
    spool.suspend(timed).await.unwrap();
    let open = envoi_queue::Suspension {
        destination: "*".into(),
        until: None,
        reason: String::new(),
    };
    spool.suspend(open).await.unwrap();
    drop(spool);
    let db = Database::open(dir.path().join(DB_FILE)).unwrap();
    let read = db.begin_read().unwrap();
    let table = read.open_table(SUSPENSIONS).unwrap();
    assert_eq!(table.len().unwrap(), 2);
    let row = table.get("example.com").unwrap().unwrap().value().to_vec();
    assert_eq!(
        row,
        [1, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 7, 0xc3, 0xa9],
        "flag, seconds, nanoseconds, reason"
    );
    let row = table.get("*").unwrap().unwrap().value().to_vec();
    assert_eq!(row, [0; 13]);
}

/// A hold (a change of state) writes the message's state row — its recipient named by index —
/// and its schedule row; the metadata row, inline body included, stays byte for byte.
#[tokio::test]
async fn a_change_of_state_writes_a_state_row_and_leaves_the_metadata_row() {
    let dir = tempfile::tempdir().unwrap();
    let (id, row, _, _, _) = stored(dir.path(), 1024).await;
    let spool = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
    spool.set_held(id, true).await.unwrap();
    drop(spool);
    let (meta_row, state_row, schedule_value) = rows_of(dir.path(), id);
    assert_eq!(meta_row, row);
    let mut expected = vec![2]; // state row format 2
    expected.extend(state(true, &[0, 0]));
    expected.extend([1, 0]); // TLS reports: one recipient, none
    assert_eq!(state_row, Some(expected));
    assert_eq!(schedule_value[12], 1, "held in the schedule row");
    let spool = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
    assert!(spool.get(id).await.unwrap().unwrap().meta.held);
    // A removed message leaves no state row behind.
    assert!(spool.remove(id).await.unwrap());
    drop(spool);
    let db = Database::open(dir.path().join(DB_FILE)).unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(read.open_table(STATE).unwrap().len().unwrap(), 0);
    assert_eq!(read.open_table(META).unwrap().len().unwrap(), 0);
}

/// A format 4 row (layout 3) is never rewritten: a change of its message's state goes to a
/// state row, which overrides the state inside the old row from then on.
#[tokio::test]
async fn a_format_4_row_stays_and_its_changes_go_to_a_state_row() {
    let dir = tempfile::tempdir().unwrap();
    let (id, _, _, _, _) = stored(dir.path(), 1024).await;
    let old = row_of(
        4,
        record_parts(0, &[0, 0, 0], Some(&[0, 0, 0]), Some(&[0, 0])),
        BODY,
    );
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let write = db.begin_write().unwrap();
        write
            .open_table(META)
            .unwrap()
            .insert(&id.to_bytes()[..], &old[..])
            .unwrap();
        write.commit().unwrap();
    }
    let spool = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
    let stored = spool.get(id).await.unwrap().unwrap();
    assert_eq!(stored.envelope, message().envelope);
    assert!(!stored.meta.held);
    spool.set_held(id, true).await.unwrap();
    let held = spool.get(id).await.unwrap().unwrap();
    assert!(held.meta.held);
    assert_eq!(held.envelope, message().envelope);
    drop(spool);
    let (meta_row, state_row, _) = rows_of(dir.path(), id);
    assert_eq!(meta_row, old);
    let mut expected = vec![2];
    expected.extend(state(true, &[0, 0]));
    expected.extend([1, 0]);
    assert_eq!(state_row, Some(expected));
}

/// The metadata row, state row (if any) and schedule value of `id` in the closed spool.
fn rows_of(dir: &Path, id: QueueId) -> (Vec<u8>, Option<Vec<u8>>, Vec<u8>) {
    let db = Database::open(dir.join(DB_FILE)).unwrap();
    let read = db.begin_read().unwrap();
    let key = id.to_bytes();
    let meta = read.open_table(META).unwrap();
    let meta_row = meta.get(&key[..]).unwrap().unwrap().value().to_vec();
    let states = read.open_table(STATE).unwrap();
    let state_row = states.get(&key[..]).unwrap().map(|v| v.value().to_vec());
    let schedule = read.open_table(SCHEDULE).unwrap();
    let (_, value) = schedule.first().unwrap().unwrap();
    (meta_row, state_row, value.value().to_vec())
}

/// An inline body of at least one chunk (4064 octets): its whole chunks are rows of `chunks`
/// keyed by (id, index), each exactly one chunk, and the rest ends the metadata row, whose
/// body place is variant 2 with the chunk count. A delivered message takes its chunks along.
#[tokio::test]
async fn a_large_inline_body_is_cut_into_chunks_that_fill_a_page() {
    const CHUNKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("chunks");
    const CHUNK: usize = 4064;
    let dir = tempfile::tempdir().unwrap();
    let mut message = message();
    let body: Vec<u8> = (0..2 * CHUNK + 7).map(|i| b'a' + (i % 26) as u8).collect();
    message.envelope.message = envoi_types::Message::new(body.clone());
    let id = message.id;
    let (_, row, _, value, _) = stored_message(dir.path(), 128 * 1024, message).await;
    assert_eq!(*row.last_chunk::<7>().unwrap(), body[2 * CHUNK..]);
    // body_len 8135 (varint c7 3f), place variant 2 with 2 chunks.
    let place = [0xC7, 0x3F, 2, 2];
    assert!(row.windows(4).any(|w| w == place), "{row:?}");
    assert_eq!(value[17], 0, "no body file");
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let read = db.begin_read().unwrap();
        let chunks = read.open_table(CHUNKS).unwrap();
        let rows: Vec<(Vec<u8>, Vec<u8>)> = chunks
            .iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.value().to_vec(), v.value().to_vec())
            })
            .collect();
        assert_eq!(rows.len(), 2);
        for (index, (key, chunk)) in rows.iter().enumerate() {
            let mut expected_key = id.to_bytes().to_vec();
            expected_key.extend(u32::try_from(index).unwrap().to_be_bytes());
            assert_eq!(key, &expected_key);
            assert_eq!(chunk[..], body[index * CHUNK..(index + 1) * CHUNK]);
        }
    }
    let spool = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
    let stored = spool.get(id).await.unwrap().unwrap();
    assert_eq!(stored.envelope.message.as_bytes(), &body[..]);
    let commit = envoi_queue::AttemptCommit {
        bounces: Vec::new(),
        disposition: envoi_queue::Disposition::Remove,
    };
    spool.commit_attempt(id, commit).await.unwrap();
    drop(spool);
    let db = Database::open(dir.path().join(DB_FILE)).unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(read.open_table(CHUNKS).unwrap().len().unwrap(), 0);
}
