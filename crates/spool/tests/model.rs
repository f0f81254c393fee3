//! Model-based property test: random sequences of calls (with reopens) against the spool and
//! against a `BTreeMap`; every result and the whole visible state must agree.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::collections::BTreeMap;

use common::{at, message_with};
use envoi_queue::{
    AttemptCommit, Disposition, ListQuery, MessageInfo, MessageMeta, MessageState, NewMessage,
    RecipientDomains, ScheduleEntry, StateCounts, Storage, StorageError,
};
use envoi_spool::{Spool, SpoolOptions};
use envoi_types::{Envelope, QueueId, RecipientState};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Call {
    /// New messages with these body sizes.
    Write(Vec<usize>),
    /// Re-write an id already used.
    WriteDuplicate(usize),
    Retry {
        pick: usize,
        due: u64,
        attempts: u32,
        deliver_first: bool,
        bounce: bool,
    },
    Deliver(usize),
    Remove(usize),
    Hold(usize, bool),
    Reopen,
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        3 => prop::collection::vec(prop_oneof![10usize..300, 2000usize..6000], 1..4)
            .prop_map(Call::Write),
        1 => any::<usize>().prop_map(Call::WriteDuplicate),
        3 => (any::<usize>(), 0u64..100, 0u32..5, any::<bool>(), any::<bool>()).prop_map(
            |(pick, due, attempts, deliver_first, bounce)| Call::Retry {
                pick,
                due,
                attempts,
                deliver_first,
                bounce
            }
        ),
        2 => any::<usize>().prop_map(Call::Deliver),
        1 => any::<usize>().prop_map(Call::Remove),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(p, h)| Call::Hold(p, h)),
        1 => Just(Call::Reopen),
    ]
}

type Model = BTreeMap<QueueId, (Envelope, MessageMeta)>;

fn options() -> SpoolOptions {
    SpoolOptions {
        inline_max: 1024,
        cache_size: 1 << 20,
        ..SpoolOptions::default()
    }
}

fn kind(result: &Result<(), StorageError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(StorageError::NotFound(_)) => "not found",
        Err(StorageError::Io(_)) => "io",
        Err(StorageError::DuplicateId(_)) => "duplicate id",
        Err(_) => "other",
    }
}

fn insert(model: &mut Model, messages: &[NewMessage]) -> Result<(), StorageError> {
    if let Some(m) = messages.iter().find(|m| model.contains_key(&m.id)) {
        return Err(StorageError::DuplicateId(m.id));
    }
    for m in messages {
        model.insert(m.id, (m.envelope.clone(), m.meta.clone()));
    }
    Ok(())
}

async fn compare(spool: &Spool, model: &Model) {
    let mut expected: Vec<ScheduleEntry> = model
        .iter()
        .map(|(id, (envelope, meta))| ScheduleEntry {
            id: *id,
            next_attempt: meta.next_attempt,
            arrival: envelope.arrival,
            held: meta.held,
            attempts: meta.attempts,
            domains: Some(RecipientDomains::pending(&meta.recipients)),
        })
        .collect();
    expected.sort_by_key(|e| (e.next_attempt, e.id));
    assert_eq!(spool.load_schedule().await.unwrap(), expected);
    let mut counts = StateCounts::default();
    for (id, (envelope, meta)) in model {
        let stored = spool.get(*id).await.unwrap().unwrap();
        assert_eq!(&stored.envelope, envelope);
        assert_eq!(&stored.meta, meta);
        counts.add(MessageState::of(meta.held, meta.attempts));
    }
    assert_eq!(spool.count_by_state().await.unwrap(), counts);
    let query = ListQuery {
        limit: 1000,
        ..ListQuery::default()
    };
    let listed: Vec<MessageInfo> = spool.list(&query).await.unwrap();
    let expected: Vec<MessageInfo> = model
        .iter()
        .map(|(id, (envelope, meta))| MessageInfo::of(*id, envelope, meta))
        .collect();
    assert_eq!(listed, expected);
    let clean = envoi_spool::PackCheck::default();
    assert_eq!(spool.check_packs().unwrap(), clean, "pack counts agree");
}

async fn run(calls: Vec<Call>) {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Some(Spool::open(dir.path(), options()).unwrap());
    let mut model = Model::new();
    let mut used: Vec<NewMessage> = Vec::new();
    for call in calls {
        let s = spool.as_ref().unwrap();
        let pick = |i: usize| used.get(i % used.len().max(1)).cloned();
        match call {
            Call::Write(sizes) => {
                let new: Vec<NewMessage> = sizes
                    .iter()
                    .map(|size| message_with(QueueId::new(), *size, at(10)))
                    .collect();
                let got = s.write(new.clone()).await;
                assert_eq!(kind(&got), kind(&insert(&mut model, &new)));
                used.extend(new);
            }
            Call::WriteDuplicate(i) => {
                let Some(old) = pick(i) else { continue };
                let again = vec![message_with(QueueId::new(), 50, at(1)), old];
                let got = s.write(again.clone()).await;
                assert_eq!(kind(&got), kind(&insert(&mut model, &again)));
            }
            Call::Retry {
                pick: i,
                due,
                attempts,
                deliver_first,
                bounce,
            } => {
                let Some(m) = pick(i) else { continue };
                let mut recipients = model.get(&m.id).map_or_else(
                    || m.meta.recipients.clone(),
                    |(_, meta)| meta.recipients.clone(),
                );
                if deliver_first {
                    recipients[0].state = RecipientState::Delivered;
                }
                let bounces: Vec<NewMessage> = if bounce {
                    vec![message_with(QueueId::new(), 1500, at(0))]
                } else {
                    vec![]
                };
                let commit = AttemptCommit {
                    bounces: bounces.clone(),
                    disposition: Disposition::Retry {
                        next_attempt: at(due),
                        attempts,
                        recipients: recipients.clone(),
                        history: Default::default(),
                    },
                };
                let got = s.commit_attempt(m.id, commit).await;
                insert(&mut model, &bounces).unwrap();
                used.extend(bounces);
                let expected = match model.get_mut(&m.id) {
                    Some((_, meta)) => {
                        meta.next_attempt = at(due);
                        meta.attempts = attempts;
                        meta.recipients = recipients;
                        Ok(())
                    }
                    None => Err(StorageError::NotFound(m.id)),
                };
                assert_eq!(kind(&got), kind(&expected));
            }
            Call::Deliver(i) => {
                let Some(m) = pick(i) else { continue };
                let commit = AttemptCommit {
                    bounces: vec![],
                    disposition: Disposition::Remove,
                };
                let got = s.commit_attempt(m.id, commit).await;
                let expected = match model.remove(&m.id) {
                    Some(_) => Ok(()),
                    None => Err(StorageError::NotFound(m.id)),
                };
                assert_eq!(kind(&got), kind(&expected));
            }
            Call::Remove(i) => {
                let Some(m) = pick(i) else { continue };
                let got = s.remove(m.id).await.unwrap();
                assert_eq!(got, model.remove(&m.id).is_some());
            }
            Call::Hold(i, held) => {
                let Some(m) = pick(i) else { continue };
                let got = s.set_held(m.id, held).await;
                let expected = match model.get_mut(&m.id) {
                    Some((_, meta)) => {
                        meta.held = held;
                        Ok(())
                    }
                    None => Err(StorageError::NotFound(m.id)),
                };
                assert_eq!(kind(&got), kind(&expected));
            }
            Call::Reopen => {
                drop(spool.take());
                spool = Some(Spool::open(dir.path(), options()).unwrap());
                compare(spool.as_ref().unwrap(), &model).await;
            }
        }
    }
    compare(spool.as_ref().unwrap(), &model).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn spool_behaves_like_a_map(calls in prop::collection::vec(call(), 1..25)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(calls));
    }
}
