//! Every Storage call against a real spool directory, across a reopen.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use common::{assert_same, at, message, message_with};
use envoi_queue::{
    AttemptCommit, Disposition, Lease, ListQuery, MessageState, ScheduleEntry, Storage,
    StorageError,
};
use envoi_spool::{Spool, SpoolOptions};
use envoi_types::{QueueId, RecipientState};

fn options(inline_max: usize) -> SpoolOptions {
    SpoolOptions {
        inline_max,
        ..SpoolOptions::default()
    }
}

fn lease() -> Lease {
    Lease {
        owner: "test".into(),
        until: at(999),
    }
}

async fn round_trip(inline_max: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (message(at(30)), message(at(10)), message(at(20)));
    {
        let spool = Spool::open(dir.path(), options(inline_max)).unwrap();
        spool.write(vec![a.clone(), b.clone()]).await.unwrap();
        spool.write(vec![c.clone()]).await.unwrap();
        // A duplicate id is refused and changes nothing.
        let err = spool
            .write(vec![message(at(1)), a.clone()])
            .await
            .unwrap_err();
        assert_eq!(err, StorageError::DuplicateId(a.id));
        assert_same(&spool.claim(a.id, &lease()).await.unwrap().unwrap(), &a);

        // b: first recipient delivered, retried later.
        let mut recipients = b.meta.recipients.clone();
        recipients[0].state = RecipientState::Delivered;
        let retry = Disposition::Retry {
            next_attempt: at(50),
            attempts: 1,
            recipients: recipients.clone(),
            history: Default::default(),
        };
        let bounce = message(at(5));
        let commit = AttemptCommit {
            bounces: vec![bounce.clone()],
            disposition: retry,
        };
        spool.commit_attempt(b.id, commit).await.unwrap();
        // c: delivered and removed.
        let commit = AttemptCommit {
            bounces: vec![],
            disposition: Disposition::Remove,
        };
        spool.commit_attempt(c.id, commit.clone()).await.unwrap();
        assert_eq!(
            spool.commit_attempt(c.id, commit).await,
            Err(StorageError::NotFound(c.id))
        );
        spool.set_held(a.id, true).await.unwrap();
        assert_eq!(
            spool.set_held(c.id, true).await,
            Err(StorageError::NotFound(c.id))
        );
        assert!(spool.remove(bounce.id).await.unwrap());
        assert!(!spool.remove(bounce.id).await.unwrap());
    }
    let spool = Spool::open(dir.path(), options(inline_max)).unwrap();
    assert_eq!(spool.startup_report().messages, 2);
    assert!(spool.startup_report().orphan_bodies.is_empty());
    let schedule = spool.load_schedule().await.unwrap();
    let ids: Vec<QueueId> = schedule.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![a.id, b.id], "due order: a (30) before b (50)");
    assert!(schedule[0].held);
    assert_eq!(schedule[1].next_attempt, at(50));
    assert_eq!(schedule[1].arrival, at(0));

    let stored_b = spool.get(b.id).await.unwrap().unwrap();
    assert_same(&stored_b, &b);
    assert_eq!(stored_b.meta.attempts, 1);
    assert_eq!(stored_b.meta.recipients[0].state, RecipientState::Delivered);
    assert!(spool.get(c.id).await.unwrap().is_none());

    let info = spool.info(a.id).await.unwrap().unwrap();
    assert_eq!(info.size, a.envelope.message.len() as u64);
    assert_eq!(info.state(), MessageState::Held);
    let counts = spool.count_by_state().await.unwrap();
    assert_eq!((counts.active, counts.deferred, counts.held), (0, 1, 1));

    let all = spool.list(&ListQuery::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![a.id, b.id]
    );
    let page = ListQuery {
        after: Some(a.id),
        ..ListQuery::default()
    };
    assert_eq!(spool.list(&page).await.unwrap().len(), 1);
    let deferred = ListQuery {
        state: Some(MessageState::Deferred),
        ..ListQuery::default()
    };
    assert_eq!(spool.list(&deferred).await.unwrap()[0].id, b.id);
    assert!(spool.quarantined().await.unwrap().is_empty());
    // Only the two live file bodies (if any) remain on disk.
    let files = std::fs::read_dir(dir.path().join("bodies"))
        .unwrap()
        .count();
    let expected = [&a, &b]
        .iter()
        .filter(|m| m.envelope.message.len() > inline_max)
        .count();
    assert_eq!(files, expected);
}

// A current-thread runtime waits for the writer inside `spawn_blocking`; a multi-thread one
// awaits the writer's reply directly (crate docs of `spool`): both paths, every call.
#[tokio::test]
async fn round_trip_with_inline_bodies() {
    round_trip(usize::MAX).await;
}

#[tokio::test]
async fn round_trip_with_file_bodies() {
    round_trip(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_inline_bodies_on_a_multi_thread_runtime() {
    round_trip(usize::MAX).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_file_bodies_on_a_multi_thread_runtime() {
    round_trip(0).await;
}

/// Under a paused clock, time must not jump to the next timer while a commit is in flight.
#[tokio::test(start_paused = true)]
async fn a_paused_clock_stands_still_during_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), options(4096)).unwrap();
    // A far timer that auto-advance would jump to.
    let far = tokio::spawn(tokio::time::sleep(std::time::Duration::from_secs(3600)));
    let start = tokio::time::Instant::now();
    for _ in 0..20 {
        let m = message(at(1));
        spool.write(vec![m.clone()]).await.unwrap();
        assert!(spool.remove(m.id).await.unwrap());
    }
    assert_eq!(tokio::time::Instant::now(), start);
    far.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), options(4096)).unwrap();
    let written = common::write_concurrently(&spool, 16, 10).await;
    drop(spool);
    let spool = Spool::open(dir.path(), options(4096)).unwrap();
    assert_eq!(spool.load_schedule().await.unwrap().len(), 160);
    for m in &written {
        assert_same(&spool.get(m.id).await.unwrap().unwrap(), m);
    }
}

#[tokio::test]
async fn a_big_and_a_small_body_in_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), options(1000)).unwrap();
    let (small, big) = (
        message_with(QueueId::new(), 500, at(1)),
        message_with(QueueId::new(), 5000, at(1)),
    );
    spool.write(vec![small.clone(), big.clone()]).await.unwrap();
    assert!(dir.path().join("bodies").join(big.id.to_string()).exists());
    assert!(!dir
        .path()
        .join("bodies")
        .join(small.id.to_string())
        .exists());
    assert_same(&spool.get(big.id).await.unwrap().unwrap(), &big);
    assert_same(&spool.get(small.id).await.unwrap().unwrap(), &small);
}

/// A reschedule the spool cannot encode (a due time before the epoch has no stored form) is
/// refused as a whole: the message keeps its schedule row and its state, and the bounces of the
/// refused commit are not stored either.
#[tokio::test]
async fn a_reschedule_that_cannot_be_encoded_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), options(4096)).unwrap();
    let m = message(at(1));
    spool.write(vec![m.clone()]).await.unwrap();
    let bounce = message(at(1));
    let commit = AttemptCommit {
        bounces: vec![bounce.clone()],
        disposition: Disposition::Retry {
            next_attempt: std::time::UNIX_EPOCH - std::time::Duration::from_secs(1),
            attempts: 1,
            recipients: m.meta.recipients.clone(),
            history: Default::default(),
        },
    };
    let error = spool.commit_attempt(m.id, commit).await.unwrap_err();
    assert!(matches!(error, StorageError::Io(_)), "{error:?}");
    drop(spool);

    let spool = Spool::open(dir.path(), options(4096)).unwrap();
    let schedule = spool.load_schedule().await.unwrap();
    assert_eq!(schedule.iter().map(|e| e.id).collect::<Vec<_>>(), [m.id]);
    assert_eq!(schedule[0].next_attempt, at(1));
    assert_same(&spool.get(m.id).await.unwrap().unwrap(), &m);
    assert!(spool.get(bounce.id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_spool_with_less_free_space_than_its_minimum_reports_full() {
    use envoi_queue::StoreHealth;
    let dir = tempfile::tempdir().unwrap();
    // No filesystem has u64::MAX octets free: the real statvfs says full, nothing is filled.
    let greedy = SpoolOptions {
        min_free: u64::MAX,
        ..SpoolOptions::default()
    };
    let spool = Spool::open(dir.path(), greedy).unwrap();
    let StoreHealth::Full(reason) = spool.health() else {
        panic!("not full: {:?}", spool.health());
    };
    assert!(reason.contains("(storage.min_free)"), "{reason}");
    drop(spool);

    let unchecked = SpoolOptions {
        min_free: 0,
        ..SpoolOptions::default()
    };
    let spool = Spool::open(dir.path(), unchecked).unwrap();
    assert_eq!(spool.health(), StoreHealth::Ok);
}

/// The schedule read a page at a time (one range read each) is the whole schedule, in due
/// order, each entry once, with its attempt count; a page asked after the last entry is
/// empty and complete; a removal between pages is not seen by the next page.
#[tokio::test]
async fn schedule_pages_cover_the_schedule_in_due_order() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), options(1024)).unwrap();
    let messages: Vec<_> = [40, 10, 30, 10, 20, 50, 5]
        .iter()
        .map(|&s| message(at(s)))
        .collect();
    spool.write(messages.clone()).await.unwrap();
    let whole = spool.load_schedule().await.unwrap();
    assert_eq!(whole.len(), messages.len());
    let (mut paged, mut after) = (Vec::new(), None);
    loop {
        let page = spool.load_schedule_page(after, 3).await.unwrap();
        assert!(page.entries.len() <= 3);
        paged.extend(page.entries.iter().cloned());
        after = page.next_cursor().or(after);
        if page.complete {
            break;
        }
        if paged.len() == 3 {
            // Removed after the first page: the later pages do not name it.
            let last = whole.last().unwrap().id;
            assert!(spool.remove(last).await.unwrap());
        }
    }
    let kept = &whole[..whole.len() - 1];
    let without_domains: Vec<ScheduleEntry> = kept
        .iter()
        .map(|e| ScheduleEntry {
            domains: None,
            ..e.clone()
        })
        .collect();
    assert_eq!(paged, without_domains);
    assert!(paged.iter().all(|e| e.attempts == 0));
    // Pages leave the domains to `schedule_domains`, which gives what the whole read did, and
    // nothing for a message gone.
    let ids = whole.iter().map(|e| e.id).collect();
    let domains: Vec<_> = kept
        .iter()
        .map(|e| (e.id, e.domains.clone().unwrap()))
        .collect();
    assert_eq!(spool.schedule_domains(ids).await.unwrap(), domains);
    let end = spool.load_schedule_page(after, 3).await.unwrap();
    assert!(end.complete && end.entries.is_empty());
}
