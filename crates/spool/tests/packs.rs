//! Packed bodies (layout 5): small inline bodies end to end in page-sized values of the
//! `packs` table, a count per pack in `pack_counts` (docs/architecture.md, section 4, "Disk
//! space"). Read back byte for byte across value and pack boundaries and after a restart;
//! removing every message empties both tables; a quarantined message keeps its pack; the
//! check after open repairs counts that disagree with the rows.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::path::Path;

use common::{assert_same, at, message_with};
use envoi_queue::{AttemptCommit, Disposition, NewMessage, Storage};
use envoi_spool::{PackCheck, Spool, SpoolOptions, DB_FILE};
use envoi_types::QueueId;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

const PACKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("packs");
const PACK_COUNTS: TableDefinition<u64, &[u8]> = TableDefinition::new("pack_counts");
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
/// Octets of a pack value (one 4 KiB page with its 12-octet key) and values in a pack.
const VALUE_LEN: usize = 4072;
const PACK_VALUES: usize = 16;

fn options() -> SpoolOptions {
    SpoolOptions {
        verify_at_open: true,
        ..SpoolOptions::default()
    }
}

/// Every pack value: (key, bytes).
type Values = Vec<(Vec<u8>, Vec<u8>)>;
/// Every pack count: (pack, messages, octets used).
type Counts = Vec<(u64, u32, u32)>;

/// The pack tables of the closed spool in `dir`.
fn pack_tables(dir: &Path) -> (Values, Counts) {
    let db = Database::open(dir.join(DB_FILE)).unwrap();
    let read = db.begin_read().unwrap();
    let values = read.open_table(PACKS).unwrap();
    let values = (values.iter().unwrap())
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.value().to_vec(), v.value().to_vec())
        })
        .collect();
    let counts = read.open_table(PACK_COUNTS).unwrap();
    let counts = (counts.iter().unwrap())
        .map(|r| {
            let (k, v) = r.unwrap();
            let v = v.value();
            let n = u32::from_be_bytes(v[..4].try_into().unwrap());
            (k.value(), n, u32::from_be_bytes(v[4..].try_into().unwrap()))
        })
        .collect();
    (values, counts)
}

/// Messages whose sizes (1 to 4063 octets) make bodies straddle values and packs.
fn messages(n: usize) -> Vec<NewMessage> {
    (0..n)
        .map(|i| message_with(QueueId::new(), 1 + (i * 997) % 4063, at(i as u64)))
        .collect()
}

#[tokio::test]
async fn bodies_read_back_across_values_and_packs_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let all = messages(150);
    let payload: usize = all.iter().map(|m| m.envelope.message.len()).sum();
    {
        let spool = Spool::open(dir.path(), options()).unwrap();
        // Groups of different sizes: one message, then more, so that groups append to a pack
        // another group left open.
        let (mut at, mut group) = (0, 1);
        while at < all.len() {
            let end = (at + group).min(all.len());
            spool.write(all[at..end].to_vec()).await.unwrap();
            (at, group) = (end, group + 3);
        }
        for m in &all {
            assert_same(&spool.get(m.id).await.unwrap().unwrap(), m);
        }
    }
    let (values, counts) = pack_tables(dir.path());
    assert!(counts.len() > 1, "several packs: {counts:?}");
    assert_eq!(
        counts.iter().map(|c| c.1 as usize).sum::<usize>(),
        all.len()
    );
    assert_eq!(
        counts.iter().map(|c| c.2 as usize).sum::<usize>(),
        payload,
        "bodies end to end"
    );
    for (key, value) in &values {
        assert_eq!((key.len(), value.len()), (12, VALUE_LEN));
        let index = u32::from_be_bytes(key[8..].try_into().unwrap()) as usize;
        assert!(index < PACK_VALUES);
    }
    // A pack of full values and one padded last value: as many values as its bytes take.
    for (pack, _, used) in &counts {
        let held = values
            .iter()
            .filter(|(k, _)| k[..8] == pack.to_be_bytes())
            .count();
        assert_eq!(held, (*used as usize).div_ceil(VALUE_LEN));
    }
    let spool = Spool::open(dir.path(), options()).unwrap();
    assert_eq!(spool.startup_report().packs, PackCheck::default());
    for m in &all {
        assert_same(&spool.get(m.id).await.unwrap().unwrap(), m);
    }
}

#[tokio::test]
async fn removing_every_message_frees_every_pack() {
    let dir = tempfile::tempdir().unwrap();
    let all = messages(120);
    {
        let spool = Spool::open(dir.path(), options()).unwrap();
        spool.write(all[..60].to_vec()).await.unwrap();
        spool.write(all[60..].to_vec()).await.unwrap();
    }
    let highest = pack_tables(dir.path()).1.last().unwrap().0;
    {
        let spool = Spool::open(dir.path(), options()).unwrap();
        let retry = |due| AttemptCommit {
            bounces: Vec::new(),
            disposition: Disposition::Retry {
                next_attempt: due,
                attempts: 1,
                recipients: Vec::new(),
                history: Default::default(),
            },
        };
        // Every way out: delivered, removed, removed after a retry and a hold.
        for (i, m) in all.iter().enumerate() {
            match i % 3 {
                0 => {
                    let delivered = AttemptCommit {
                        bounces: Vec::new(),
                        disposition: Disposition::Remove,
                    };
                    spool.commit_attempt(m.id, delivered).await.unwrap();
                }
                1 => assert!(spool.remove(m.id).await.unwrap()),
                _ => {
                    let mut commit = retry(at(10_000));
                    if let Disposition::Retry { recipients, .. } = &mut commit.disposition {
                        recipients.clone_from(&m.meta.recipients);
                    }
                    spool.commit_attempt(m.id, commit).await.unwrap();
                    spool.set_held(m.id, true).await.unwrap();
                    assert!(spool.remove(m.id).await.unwrap());
                }
            }
            // The others still read back while their packs shrink.
            if let Some(next) = all.get(i + 1) {
                assert_same(&spool.get(next.id).await.unwrap().unwrap(), next);
            }
        }
    }
    assert_eq!(pack_tables(dir.path()), (Vec::new(), Vec::new()));
    // The next write starts a pack again, with a number never given before.
    let spool = Spool::open(dir.path(), options()).unwrap();
    let again = messages(1);
    spool.write(again.clone()).await.unwrap();
    assert_same(&spool.get(again[0].id).await.unwrap().unwrap(), &again[0]);
    drop(spool);
    let counts = pack_tables(dir.path()).1;
    assert_eq!(counts, [(highest + 1, 1, 1)]);
}

/// A message quarantined (here: its state row damaged) keeps its body's pack, which the
/// others sharing it no longer hold; its count stays.
#[tokio::test]
async fn a_quarantined_message_keeps_its_pack() {
    let dir = tempfile::tempdir().unwrap();
    let all = messages(3);
    {
        let spool = Spool::open(dir.path(), options()).unwrap();
        spool.write(all.clone()).await.unwrap();
    }
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let write = db.begin_write().unwrap();
        let mut states = write.open_table(STATE).unwrap();
        states.insert(&all[0].id.to_bytes()[..], &[9][..]).unwrap();
        drop(states);
        write.commit().unwrap();
    }
    let (packed, _) = pack_tables(dir.path());
    {
        let spool = Spool::open(dir.path(), options()).unwrap();
        let report = spool.startup_report();
        assert_eq!(report.quarantined.len(), 1, "{report:?}");
        assert_eq!(report.packs, PackCheck::default(), "its count kept");
        for m in &all[1..] {
            assert!(spool.remove(m.id).await.unwrap());
        }
        assert_eq!(spool.check_packs().unwrap(), PackCheck::default());
    }
    let (values, counts) = pack_tables(dir.path());
    assert_eq!(values, packed, "the pack's bytes are kept");
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].1, 1, "the quarantined message");
}

/// Counts that disagree with the rows, a count missing, and values no count or row names are
/// found and repaired, at open and by the check after it.
#[tokio::test]
async fn the_check_repairs_counts_that_disagree_with_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let all = messages(200);
    {
        let spool = Spool::open(dir.path(), options()).unwrap();
        for group in all.chunks(25) {
            spool.write(group.to_vec()).await.unwrap();
        }
    }
    let (values, counts) = pack_tables(dir.path());
    assert!(counts.len() >= 3, "{counts:?}");
    let (first, second) = (counts[0], counts[1]);
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let write = db.begin_write().unwrap();
        let mut table = write.open_table(PACK_COUNTS).unwrap();
        // One count too high, one missing; and a stray pack far beyond.
        let wrong = [&(first.1 + 5).to_be_bytes()[..], &first.2.to_be_bytes()[..]].concat();
        table.insert(first.0, &wrong[..]).unwrap();
        table.remove(second.0).unwrap();
        drop(table);
        let mut packs = write.open_table(PACKS).unwrap();
        let mut stray = 1000u64.to_be_bytes().to_vec();
        stray.extend(0u32.to_be_bytes());
        packs.insert(&stray[..], &[7u8; VALUE_LEN][..]).unwrap();
        drop(packs);
        write.commit().unwrap();
    }
    let spool = Spool::open(dir.path(), options()).unwrap();
    let expected = PackCheck {
        recounted: vec![first.0, second.0],
        orphans: vec![1000],
    };
    assert_eq!(spool.startup_report().packs, expected);
    assert_eq!(spool.check_packs().unwrap(), PackCheck::default());
    for m in &all {
        assert_same(&spool.get(m.id).await.unwrap().unwrap(), m);
    }
    drop(spool);
    let (repaired_values, repaired_counts) = pack_tables(dir.path());
    assert_eq!(
        repaired_values, values,
        "the stray pack removed, the rest kept"
    );
    assert_eq!(repaired_counts[0], first);
    // The missing count comes back closed (full), so nothing is appended to it.
    assert_eq!(
        repaired_counts[1],
        (second.0, second.1, (VALUE_LEN * PACK_VALUES) as u32)
    );
    // Without the check at open, the check after it (here on demand) repairs the same.
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let write = db.begin_write().unwrap();
        let mut table = write.open_table(PACK_COUNTS).unwrap();
        table.remove(first.0).unwrap();
        drop(table);
        write.commit().unwrap();
    }
    let spool = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
    let _ = spool.check_packs().unwrap(); // unless the background check was first
    drop(spool);
    let db = Database::open(dir.path().join(DB_FILE)).unwrap();
    let read = db.begin_read().unwrap();
    let counts = read.open_table(PACK_COUNTS).unwrap();
    assert_eq!(counts.len().unwrap(), repaired_counts.len() as u64);
}

#[tokio::test]
async fn checks_run_at_once_repair_a_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let all = messages(40);
    {
        let spool = Spool::open(dir.path(), options()).unwrap();
        spool.write(all.clone()).await.unwrap();
    }
    let (_, counts) = pack_tables(dir.path());
    let first = counts[0];
    // A count two too high: every concurrent check sees the same difference in its snapshot;
    // applied more than once, it would take the count below the rows naming the pack.
    let wrong = [&(first.1 + 2).to_be_bytes()[..], &first.2.to_be_bytes()[..]].concat();
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let write = db.begin_write().unwrap();
        write
            .open_table(PACK_COUNTS)
            .unwrap()
            .insert(first.0, &wrong[..])
            .unwrap();
        write.commit().unwrap();
    }
    let spool = std::sync::Arc::new(Spool::open(dir.path(), SpoolOptions::default()).unwrap());
    let checks: Vec<_> = (0..8)
        .map(|_| {
            let spool = spool.clone();
            std::thread::spawn(move || spool.check_packs().unwrap())
        })
        .collect();
    let repaired = checks
        .into_iter()
        .map(|c| c.join().unwrap())
        .filter(|found| !found.recounted.is_empty())
        .count();
    assert!(repaired <= 1, "{repaired} checks repaired the same count");
    for m in &all {
        assert_same(&spool.get(m.id).await.unwrap().unwrap(), m);
    }
    drop(spool);
    assert_eq!(pack_tables(dir.path()).1[0], first);
}
