//! Property test: random enqueues, per-recipient outcomes, restarts, flushes, holds and
//! stretches where the store cannot commit outcomes, against a simple model. Every recipient
//! ends delivered exactly once or failed exactly once (bounced, unless the sender is `<>`),
//! never both, never neither.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::testkit::suite::{envelope, run_for};
use envoi_queue::testkit::{FaultyStore, ScriptedRelay};
use envoi_queue::{Clock, MemoryStore, Queue, Storage, StorageError};
use envoi_types::{Envelope, QueueId};
use proptest::prelude::*;

const MAX_RETRIES: u32 = 4;

#[derive(Debug, Clone)]
enum Op {
    Enqueue {
        scripts: Vec<Vec<u16>>,
        null_sender: bool,
    },
    Advance(u64),
    Restart,
    Flush,
    Hold(usize),
    Release(usize),
    /// The store fails every commit (true) or works again (false).
    StoreFails(bool),
}

fn op() -> impl Strategy<Value = Op> {
    let code = prop_oneof![Just(250u16), Just(451u16), Just(550u16)];
    let script = proptest::collection::vec(code, 0..7);
    prop_oneof![
        3 => (proptest::collection::vec(script, 1..4), any::<bool>())
            .prop_map(|(scripts, null_sender)| Op::Enqueue { scripts, null_sender }),
        3 => (1u64..3000).prop_map(Op::Advance),
        1 => Just(Op::Restart),
        1 => Just(Op::Flush),
        1 => (0usize..8).prop_map(Op::Hold),
        1 => (0usize..8).prop_map(Op::Release),
        1 => any::<bool>().prop_map(Op::StoreFails),
    ]
}

/// What the model says becomes of one recipient given its script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Delivered,
    Failed,
    /// Either, once: the script outlasts the scheduled attempts, and forced attempts (flush),
    /// which are not counted, may reach further into it.
    Either,
}

fn expected(script: &[u16]) -> End {
    let scheduled = usize::try_from(MAX_RETRIES).unwrap() + 1;
    for attempt in 0..scheduled {
        match script.get(attempt).copied().unwrap_or(250) {
            250 => return End::Delivered,
            550 => return End::Failed,
            _ => {}
        }
    }
    End::Either
}

struct Sent {
    rcpts: Vec<(String, End)>,
    null_sender: bool,
    ids: Vec<QueueId>,
}

fn start(
    store: &Arc<dyn Storage>,
    relay: &Arc<ScriptedRelay>,
    clock: Clock,
) -> impl std::future::Future<Output = Queue> {
    let backoff = |_: &Envelope, n: u32| (n <= MAX_RETRIES).then(|| Duration::from_secs(600));
    let builder = Queue::builder(store.clone(), relay.clone())
        .backoff(backoff)
        .clock(clock);
    async move { builder.start().await.unwrap() }
}

async fn run(ops: Vec<Op>) {
    let faulty = FaultyStore::new(MemoryStore::new());
    let store: Arc<dyn Storage> = faulty.clone();
    let mut failing = false;
    let relay = ScriptedRelay::new();
    let clock = Clock::new();
    let mut queue = start(&store, &relay, clock).await;
    let mut sent: Vec<Sent> = Vec::new();
    for op in ops {
        match op {
            Op::Enqueue {
                scripts,
                null_sender,
            } => {
                let n = sent.len();
                let mut rcpts = Vec::new();
                for (j, script) in scripts.iter().enumerate() {
                    let rcpt = format!("m{n}r{j}@dst.test");
                    let wires: Vec<String> = script.iter().map(|c| format!("{c} x")).collect();
                    let wires: Vec<&str> = wires.iter().map(String::as_str).collect();
                    relay.then(&rcpt, &wires);
                    rcpts.push((rcpt, expected(script)));
                }
                let names: Vec<&str> = rcpts.iter().map(|(r, _)| r.as_str()).collect();
                let sender = if null_sender { "" } else { "s@src.test" };
                let ids = queue
                    .enqueue(envelope(&queue, sender, &names))
                    .await
                    .unwrap();
                sent.push(Sent {
                    rcpts,
                    null_sender,
                    ids,
                });
            }
            Op::Advance(secs) => run_for(Duration::from_secs(secs)).await,
            Op::Restart => {
                // A restart while an outcome waits for the store may send it again (allowed,
                // at-least-once); the model counts exact deliveries, so the store heals first
                // and every kept outcome is stored. An outcome may still wait after the store
                // healed (its next retry is up to 60 s away), so the kept count decides.
                if failing || queue.uncommitted() > 0 {
                    faulty.fail_commits(None);
                    failing = false;
                    run_for(Duration::from_secs(61)).await;
                }
                queue.shutdown(Duration::from_secs(30)).await;
                queue = start(&store, &relay, clock).await;
            }
            Op::Flush => {
                queue.flush().await;
            }
            Op::Hold(i) => {
                if let Some(id) = sent.get(i).and_then(|s| s.ids.first()) {
                    let _ = queue.hold(*id).await;
                }
            }
            Op::Release(i) => {
                if let Some(id) = sent.get(i).and_then(|s| s.ids.first()) {
                    let _ = queue.release(*id).await;
                }
            }
            Op::StoreFails(fails) => {
                failing = fails;
                faulty.fail_commits(fails.then(|| StorageError::Io("fsync failed".into())));
            }
        }
    }
    faulty.fail_commits(None);
    for s in &sent {
        for id in &s.ids {
            let _ = queue.release(*id).await;
        }
    }
    run_for(Duration::from_secs(3 * 24 * 3600)).await;

    assert!(
        store.load_schedule().await.unwrap().is_empty(),
        "messages left in the queue"
    );
    let bounced: Vec<String> = relay
        .bounces_to("s@src.test")
        .iter()
        .map(|b| String::from_utf8_lossy(b.message.as_bytes()).into_owned())
        .collect();
    for s in &sent {
        for (rcpt, end) in &s.rcpts {
            let deliveries = relay.deliveries_to(rcpt);
            let line = format!("Final-Recipient: rfc822; {rcpt}\r\n");
            let bounces = bounced
                .iter()
                .map(|b| b.matches(&line).count())
                .sum::<usize>();
            match end {
                End::Delivered => {
                    assert_eq!(
                        (deliveries, bounces),
                        (1, 0),
                        "{rcpt} should be delivered once"
                    )
                }
                End::Failed if s.null_sender => {
                    assert_eq!(
                        (deliveries, bounces),
                        (0, 0),
                        "{rcpt}: null sender, no bounce"
                    )
                }
                End::Failed => {
                    assert_eq!(
                        (deliveries, bounces),
                        (0, 1),
                        "{rcpt} should be bounced once"
                    )
                }
                End::Either if s.null_sender => {
                    assert!(
                        deliveries <= 1 && bounces == 0,
                        "{rcpt}: {deliveries} deliveries"
                    );
                }
                End::Either => {
                    assert_eq!(deliveries + bounces, 1, "{rcpt}: delivered or bounced once");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_recipient_ends_delivered_or_bounced_exactly_once(
        ops in proptest::collection::vec(op(), 1..30)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(run(ops));
    }
}
