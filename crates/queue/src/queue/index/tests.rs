//! Unit tests of the index: due order, holds, flush (whole and in chunks), deletes, the
//! counts by state, and loading in the background.

use std::time::Duration;

use super::*;
use crate::storage::StateCounts;

const STEPS: BackoffSteps = BackoffSteps {
    base: Duration::from_secs(60),
    max: Duration::from_secs(1800),
};

fn no_limits() -> Limits {
    Limits::new(20, None, &std::collections::BTreeMap::new())
}

impl Index {
    fn insert_any(&mut self, entry: &ScheduleEntry) {
        self.insert(entry, Destination::new("dst.test"));
    }
}

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(s)
}

fn entry(id: QueueId, next: u64, held: bool) -> ScheduleEntry {
    ScheduleEntry {
        id,
        next_attempt: at(next),
        arrival: at(0),
        held,
        attempts: 0,
        domains: Some(domains(&["a@x.test", "b@X.test", "c@y.test"])),
    }
}

fn domains(recipients: &[&str]) -> RecipientDomains {
    let addresses: Vec<envoi_types::Address> = recipients
        .iter()
        .map(|r| envoi_types::Address::parse(r).unwrap())
        .collect();
    RecipientDomains::of(&addresses)
}

/// The kept domain tallies, in a fixed order.
fn domain_view(index: &Index) -> Option<Vec<crate::storage::DomainTally>> {
    let mut all = index.domain_tallies()?;
    all.sort_by(|a, b| a.domain.cmp(&b.domain));
    Some(all)
}

#[test]
fn pops_in_due_order_and_never_twice() {
    let mut index = Index::new(Duration::from_secs(1000), no_limits(), STEPS);
    let (a, b) = (QueueId::new(), QueueId::new());
    index.insert_any(&entry(a, 20, false));
    index.insert_any(&entry(b, 10, false));
    assert_eq!(index.pop_due(at(5)), None);
    assert_eq!(index.pop_due(at(30)), Some((b, false)));
    assert_eq!(index.pop_due(at(30)), Some((a, false)));
    assert_eq!(index.pop_due(at(30)), None);
    index.insert_any(&entry(a, 0, false)); // ignored while in flight
    assert_eq!(index.pop_due(at(30)), None);
    index.finish(a, Some(at(40)));
    assert_eq!(index.next_wake(), Some(at(40)));
}

#[test]
fn held_entries_wake_only_at_expiry() {
    let mut index = Index::new(Duration::from_secs(100), no_limits(), STEPS);
    let a = QueueId::new();
    index.insert_any(&entry(a, 10, true));
    assert_eq!(index.next_wake(), Some(at(100)));
    assert_eq!(index.flush(at(20)), 0);
    assert_eq!(index.retry(a, at(20)), Err(Refusal::Held));
    index.set_held(a, false).unwrap();
    assert_eq!(index.next_wake(), Some(at(10)));
}

#[test]
fn flush_makes_deferred_due_now() {
    let mut index = Index::new(Duration::from_secs(10_000), no_limits(), STEPS);
    let a = QueueId::new();
    index.insert_any(&entry(a, 500, false));
    assert_eq!(index.flush(at(20)), 1, "the rescheduled one");
    assert_eq!(index.pop_due(at(20)), Some((a, true)), "a forced attempt");
    index.finish(a, Some(at(500)));
    assert_eq!(index.pop_due(at(500)), Some((a, false)), "a scheduled one");
}

#[test]
fn delete_in_flight_forgets_at_finish() {
    let mut index = Index::new(Duration::from_secs(10_000), no_limits(), STEPS);
    let a = QueueId::new();
    index.insert_any(&entry(a, 0, false));
    assert_eq!(index.pop_due(at(1)), Some((a, false)));
    assert_eq!(index.mark_deleted(a), Ok(DeleteMark::DuringAttempt));
    assert_eq!(index.begin_commit(a), CommitKind::Deleted);
    index.finish(a, Some(at(5)));
    assert!(!index.contains(a));
    assert_eq!(index.len(), 0);
}

#[test]
fn a_delete_is_refused_once_the_outcome_is_being_stored() {
    let mut index = Index::new(Duration::from_secs(10_000), no_limits(), STEPS);
    let a = QueueId::new();
    index.insert_any(&entry(a, 0, false));
    assert_eq!(index.pop_due(at(1)), Some((a, false)));
    assert_eq!(index.begin_commit(a), CommitKind::Outcome);
    assert_eq!(index.mark_deleted(a), Err(Refusal::InFlight));
    index.finish(a, Some(at(5)));
    assert_eq!(index.mark_deleted(a), Ok(DeleteMark::Idle));
    assert_eq!(
        index.pop_due(at(10)),
        None,
        "taken while the store removes it"
    );
    index.put_back(a);
    assert_eq!(index.pop_due(at(10)), Some((a, false)));
}

/// An index over many messages in two lanes, some held, some deferred, one in flight, one
/// lane backed off.
fn busy_index() -> (Index, Vec<QueueId>) {
    let ids: Vec<QueueId> = (0..40).map(|_| QueueId::new()).collect();
    (busy_index_of(&ids), ids)
}

/// [`busy_index`] over these ids.
fn busy_index_of(ids: &[QueueId]) -> Index {
    let mut index = Index::new(Duration::from_secs(100_000), no_limits(), STEPS);
    for (i, &id) in (0_u64..).zip(ids) {
        let dest = Destination::new(if i % 2 == 0 { "a.test" } else { "b.test" });
        let e = ScheduleEntry {
            attempts: u32::try_from(i % 3).unwrap(),
            ..entry(id, 10 + i * 7, i % 5 == 0)
        };
        index.insert(&e, dest);
    }
    index.destination_result(ids[1], at(5), Some("refused".into()));
    let popped = index.pop_due(at(10_000)).map(|(id, _)| id);
    assert!(popped.is_some());
    index
}

/// Pops everything due at `now`, as (id, forced), in order.
fn drain(index: &mut Index, now: SystemTime) -> Vec<(QueueId, bool)> {
    std::iter::from_fn(|| index.pop_due(now)).collect()
}

#[test]
fn a_flush_in_chunks_does_what_a_whole_flush_does() {
    for chunk in [1, 3, 7, 1000] {
        let ids: Vec<QueueId> = (0..40).map(|_| QueueId::new()).collect();
        let (mut whole, mut chunked) = (busy_index_of(&ids), busy_index_of(&ids));
        let waiting = whole.flush(at(9));
        let mut run = chunked.begin_flush(at(9));
        let mut chunks = 0;
        while chunked.flush_chunk(&mut run, chunk) {
            chunks += 1;
        }
        assert_eq!(run.waiting(), waiting, "chunk {chunk}");
        assert!(chunk > 100 || chunks > 1);
        assert_eq!(drain(&mut chunked, at(9)), drain(&mut whole, at(9)));
        assert_eq!(chunked.next_wake(), whole.next_wake());
    }
}

#[test]
fn a_flush_skips_what_an_attempt_took_between_chunks() {
    let mut index = Index::new(Duration::from_secs(100_000), no_limits(), STEPS);
    let (a, b) = (QueueId::new(), QueueId::new());
    index.insert_any(&entry(a, 100, false));
    index.insert_any(&entry(b, 200, false));
    let mut run = index.begin_flush(at(9));
    assert!(index.flush_chunk(&mut run, 1));
    assert_eq!(index.pop_due(at(9)), Some((a, true)));
    index.finish(a, Some(at(150)));
    assert!(index.flush_chunk(&mut run, 1));
    assert!(!index.flush_chunk(&mut run, 1));
    assert_eq!(run.waiting(), 2);
    assert_eq!(index.pop_due(at(9)), Some((b, true)));
    assert_eq!(
        index.pop_due(at(9)),
        None,
        "a's attempt ended: not forced again"
    );
}

#[test]
fn kept_counts_match_a_recount_after_every_kind_of_change() {
    let (mut index, ids) = busy_index();
    let check = |index: &Index, what: &str| {
        assert_eq!(index.state_counts(), index.recount(), "{what}");
        assert_eq!(index.destinations(at(0)).1, index.retally(), "{what}");
        assert_eq!(domain_view(index), index.retally_domains(), "{what}");
    };
    check(&index, "inserted");
    index.set_held(ids[2], true).unwrap();
    check(&index, "held");
    index.set_held(ids[0], false).unwrap();
    check(&index, "released");
    index.insert_any(&entry(ids[3], 5, true));
    check(&index, "replaced");
    let (popped, _) = index.pop_due(at(10_000)).unwrap();
    index.set_attempts(popped, 4);
    index.set_domains(popped, &domains(&["c@y.test"]));
    index.finish(popped, Some(at(20_000)));
    check(&index, "deferred, partly delivered");
    let (popped, _) = index.pop_due(at(10_000)).unwrap();
    index.finish(popped, None);
    check(&index, "delivered");
    assert_eq!(index.mark_deleted(ids[4]), Ok(DeleteMark::Idle));
    index.finish(ids[4], None);
    check(&index, "deleted");
    let (popped, _) = index.pop_due(at(10_000)).unwrap();
    assert_eq!(index.mark_deleted(popped), Ok(DeleteMark::DuringAttempt));
    assert_eq!(index.begin_commit(popped), CommitKind::Deleted);
    index.finish(popped, Some(at(1)));
    check(&index, "deleted in flight");
    index.flush(at(1));
    check(&index, "flushed");
    let (popped, _) = index.pop_due(at(10_000)).unwrap();
    index.sort(popped, &Destination::new("c.test"), at(10_000));
    check(&index, "sorted");
    index.finish(popped, Some(at(30_000)));
    check(&index, "sorted and deferred");
    assert_eq!(index.state_counts().total(), index.len() as u64);
    assert_ne!(index.state_counts(), StateCounts::default());
}

#[test]
fn domain_tallies_follow_pending_recipients_and_are_withheld_while_incomplete() {
    let mut index = Index::new(Duration::from_secs(1000), no_limits(), STEPS);
    let (a, b, c) = (QueueId::new(), QueueId::new(), QueueId::new());
    index.insert_any(&entry(a, 10, false));
    index.insert_any(&entry(b, 10, true));
    let counts = |index: &Index| -> Vec<(String, u64, u64)> {
        domain_view(index)
            .unwrap()
            .into_iter()
            .map(|t| (t.domain, t.messages, t.recipients))
            .collect()
    };
    assert_eq!(
        counts(&index),
        vec![("x.test".into(), 2, 4), ("y.test".into(), 2, 2)],
        "held messages count too"
    );
    index.set_domains(a, &domains(&["c@y.test"]));
    assert_eq!(
        counts(&index),
        vec![("x.test".into(), 1, 2), ("y.test".into(), 2, 2)]
    );
    let unknown = ScheduleEntry {
        domains: None,
        ..entry(c, 10, false)
    };
    index.insert_any(&unknown);
    assert_eq!(index.domain_tallies(), None, "c's domains are unknown");
    // Learnt from the store later: an entry with domains of its own (newer) keeps them.
    index.learn_domains(&[
        (c, domains(&["d@z.test"])),
        (a, domains(&["stale@q.test"])),
        (QueueId::new(), domains(&["gone@q.test"])),
    ]);
    assert_eq!(counts(&index).len(), 3, "x, y and z");
    assert_eq!(index.mark_deleted(b), Ok(DeleteMark::Idle));
    index.finish(b, None);
    assert_eq!(
        counts(&index),
        vec![("y.test".into(), 1, 1), ("z.test".into(), 1, 1)]
    );
    index.begin_loading();
    assert_eq!(index.domain_tallies(), None, "loading");
}

#[test]
fn destination_view_keeps_the_oldest_arrival_as_messages_leave() {
    let mut index = Index::new(Duration::from_secs(100_000), no_limits(), STEPS);
    let ids: Vec<QueueId> = (0..3).map(|_| QueueId::new()).collect();
    for (arrival, &id) in (1_u64..).zip(&ids) {
        let e = ScheduleEntry {
            arrival: at(arrival),
            ..entry(id, 10, false)
        };
        index.insert_any(&e);
    }
    let dest = Destination::new("dst.test");
    let view = |index: &Index| index.destinations(at(0)).1.get(&dest).copied();
    assert_eq!(view(&index), Some((3, 1_000)));
    index.set_held(ids[0], true).unwrap();
    assert_eq!(
        view(&index),
        Some((2, 2_000)),
        "a held message is not queued"
    );
    assert_eq!(index.mark_deleted(ids[1]), Ok(DeleteMark::Idle));
    index.finish(ids[1], None);
    assert_eq!(view(&index), Some((1, 3_000)));
    index.set_held(ids[2], true).unwrap();
    assert_eq!(view(&index), None, "no unheld message left");
    assert_eq!(index.destinations(at(0)).1, index.retally());
}

#[test]
fn loading_skips_known_and_removed_messages_and_applies_holds_and_flushes() {
    let mut index = Index::new(Duration::from_secs(100_000), no_limits(), STEPS);
    index.begin_loading();
    let [known, delivered, deleted, loaded_then_deleted, held, plain] =
        std::array::from_fn(|_| QueueId::new());
    // Loaded in the first page, attempted and rescheduled later than its stored time.
    index.insert_any(&entry(known, 10, false));
    index.insert_any(&entry(delivered, 10, false));
    let _ = index.pop_due(at(10));
    let _ = index.pop_due(at(10));
    index.finish(known, Some(at(5_000)));
    index.finish(delivered, None);
    // Administrators act on messages not loaded yet.
    index.note_removed(deleted);
    assert_eq!(index.set_held(held, true), Ok(()));
    assert_eq!(index.flush(at(20)), 1, "the rescheduled one");
    // A page from an old snapshot names them all.
    let page: Vec<ScheduleEntry> = [known, delivered, deleted, loaded_then_deleted, held, plain]
        .iter()
        .map(|&id| entry(id, 100, false))
        .collect();
    assert_eq!(index.insert_loaded(&page), 3);
    assert_eq!(index.len(), 4);
    index.note_removed(loaded_then_deleted);
    assert!(!index.contains(loaded_then_deleted));
    assert!(!index.contains(deleted) && !index.contains(delivered));
    let mut due = drain(&mut index, at(20));
    due.sort();
    let mut expected = vec![(known, true), (plain, true)];
    expected.sort();
    assert_eq!(
        due, expected,
        "both forced by the flush; the held one stays"
    );
    assert_eq!(index.state_counts(), index.recount());
    assert_eq!(index.state_counts().held, 1);
    index.end_loading();
    assert_eq!(index.set_held(QueueId::new(), true), Err(Refusal::Unknown));
    assert_eq!(index.insert_loaded(&[entry(QueueId::new(), 1, false)]), 0);
}

#[test]
fn a_message_deleted_while_loading_and_already_in_flight_goes_when_its_attempt_ends() {
    let mut index = Index::new(Duration::from_secs(100_000), no_limits(), STEPS);
    index.begin_loading();
    let a = QueueId::new();
    assert_eq!(index.insert_loaded(&[entry(a, 1, false)]), 1);
    assert_eq!(index.pop_due(at(5)), Some((a, false)));
    index.note_removed(a);
    assert_eq!(index.begin_commit(a), CommitKind::Deleted);
    index.finish(a, Some(at(50)));
    assert!(!index.contains(a));
    assert_eq!(
        index.insert_loaded(&[entry(a, 60, false)]),
        0,
        "not brought back"
    );
    assert_eq!(index.state_counts(), StateCounts::default());
}
