//! The behaviour suite: one test per queue behaviour (the first row of docs/architecture.md,
//! section 5), for any store.
//!
//! Each test takes a fresh store and must run under paused tokio time (the
//! [`crate::behaviour_suite!`] macro sets that up). A "restart" is a new [`Queue`] over the
//! same store with the same [`Clock`].

use std::sync::Arc;
use std::time::Duration;

use envoi_types::{Address, Envelope, Message, RecipientState, Sender};

pub use super::destinations::{
    suspension_survives_a_restart, unreachable_destination_spends_no_attempt,
};
pub use super::domains::domain_counts_follow_outcomes_and_survive_a_restart;
pub use super::loading::{
    schedule_loads_in_the_background_without_loss_or_double, shutdown_during_loading_ends_the_read,
};
use super::relay::{Misbehaviour, ScriptedRelay};
pub use super::reports::{
    delay_warnings_once_per_threshold_across_a_restart, notify_decides_every_report,
};
pub use super::store::write_refuses_duplicate_ids;
pub use super::streaming::streamed_body_is_stored_and_delivered_whole;
use crate::backoff::{Backoff, Exponential};
use crate::clock::Clock;
use crate::queue::Queue;
use crate::storage::Storage;
use crate::MessageInfo;

/// Generates one `#[tokio::test]` per behaviour, each with a store from `$factory`, an async
/// closure returning `Arc<dyn Storage>`.
///
/// `behaviour_suite!(optional $factory)` takes a factory returning
/// `Option<Arc<dyn Storage>>` instead: a store that needs an external server answers `None`
/// when none is configured, and each test then says it skipped and passes.
#[macro_export]
macro_rules! behaviour_suite {
    (optional $factory:expr) => {
        $crate::behaviour_suite!(@each $factory; {
            let Some(store) = ($factory)().await else {
                eprintln!("skipped: no store configured for this test");
                return;
            };
            store
        });
    };
    ($factory:expr) => {
        $crate::behaviour_suite!(@each $factory; ($factory)().await);
    };
    (@each $factory:expr; $store:expr) => {
        $crate::behaviour_suite!(@tests $store;
            first_attempt_is_immediate_and_success_removes,
            permanent_failure_bounces_to_sender_once,
            seed_backoff_then_too_many_retries,
            partial_success_across_restart,
            null_sender_is_never_bounced,
            expiry_applies_to_held_messages,
            restart_keeps_times_and_counts,
            flush_returns_at_once_and_failures_are_rescheduled,
            hold_and_release,
            relay_panic_and_error_are_transient,
            concurrency_limit_and_one_attempt_per_message,
            shutdown_lets_attempts_finish_or_leaves_them_stored,
            admin_retry_delete_bounce,
            separate_bounce_queue_gets_bounces,
            write_refuses_duplicate_ids,
            suspension_survives_a_restart,
            unreachable_destination_spends_no_attempt,
            streamed_body_is_stored_and_delivered_whole,
            delay_warnings_once_per_threshold_across_a_restart,
            notify_decides_every_report,
            schedule_loads_in_the_background_without_loss_or_double,
            shutdown_during_loading_ends_the_read,
            domain_counts_follow_outcomes_and_survive_a_restart);
    };
    (@tests $store:expr; $($name:ident),*) => {
        $(
            #[tokio::test(start_paused = true)]
            async fn $name() {
                let store: std::sync::Arc<dyn $crate::Storage> = $store;
                $crate::testkit::suite::$name(store).await;
            }
        )*
    };
}

fn addr(s: &str) -> Address {
    Address::parse(s).expect("test address")
}

/// The envelope every test sends: sender `s`, recipients `rcpts`, a tiny message.
pub fn envelope(queue: &Queue, sender: &str, rcpts: &[&str]) -> Envelope {
    let mut env = Envelope::new(
        Sender::parse(sender).expect("test sender"),
        rcpts.iter().map(|r| addr(r)).collect(),
        Message::from(&b"Subject: test\r\nFrom: s@src.test\r\n\r\nhello\r\n"[..]),
    );
    env.arrival = queue.clock().now();
    env.receiver = "envoi.test".into();
    env
}

/// A queue builder over `store` and `relay` with `backoff` and `clock`, node `envoi.test`.
pub(super) fn start_queue(
    store: &Arc<dyn Storage>,
    relay: &Arc<ScriptedRelay>,
    backoff: impl Backoff,
    clock: Clock,
) -> crate::QueueBuilder {
    Queue::builder(store.clone(), relay.clone())
        .backoff(backoff)
        .clock(clock)
        .node("envoi.test")
}

/// Enqueues [`envelope`] and returns its id (no policy splits it in the suite).
pub async fn send(queue: &Queue, sender: &str, rcpts: &[&str]) -> envoi_types::QueueId {
    queue.enqueue(envelope(queue, sender, rcpts)).await.unwrap()[0]
}

/// Lets the queue run for `d` of (paused) tokio time.
pub async fn run_for(d: Duration) {
    tokio::time::sleep(d).await;
}

async fn info(store: &Arc<dyn Storage>, id: envoi_types::QueueId) -> Option<MessageInfo> {
    store.info(id).await.expect("store info")
}

fn seconds_between(calls: &[super::Call]) -> Vec<u64> {
    calls
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_millis().div_ceil(1000) as u64)
        .collect()
}

/// A backoff that always waits `delay`.
pub(super) fn fixed(delay: Duration) -> impl Backoff {
    move |_: &Envelope, _: u32| Some(delay)
}

/// Row "first attempt" and "2xx for all": attempted at once (attempts 0), then removed.
pub async fn first_attempt_is_immediate_and_success_removes(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    let clock = Clock::new();
    let queue = start_queue(&store, &relay, fixed(Duration::from_secs(60)), clock)
        .start()
        .await
        .unwrap();
    let t0 = tokio::time::Instant::now();
    let ids = queue
        .enqueue(envelope(
            &queue,
            "s@src.test",
            &["a@dst.test", "b@dst.test"],
        ))
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    run_for(Duration::from_secs(1)).await;
    let calls = relay.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].attempt, 0);
    assert!(
        calls[0].at - t0 < Duration::from_millis(10),
        "first attempt was not immediate"
    );
    assert!(
        info(&store, ids[0]).await.is_none(),
        "delivered message still stored"
    );
    assert!(queue.is_empty());
}

/// Row "5xx": one bounce for the attempt, listing every failed recipient, to the original
/// sender; original removed, never retried.
pub async fn permanent_failure_bounces_to_sender_once(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "550 5.1.1 no such user");
    relay.always("b@dst.test", "550 5.1.1 no such user");
    relay.always("c@dst.test", "554 5.7.1 rejected");
    let queue = start_queue(&store, &relay, fixed(Duration::from_secs(60)), Clock::new())
        .start()
        .await
        .unwrap();
    let id = send(
        &queue,
        "s@src.test",
        &["a@dst.test", "b@dst.test", "c@dst.test"],
    )
    .await;
    run_for(Duration::from_secs(3600)).await;
    assert!(info(&store, id).await.is_none());
    assert_eq!(
        relay.calls_for("a@dst.test").len(),
        1,
        "a permanent failure was retried"
    );
    let bounces = relay.bounces_to("s@src.test");
    assert_eq!(bounces.len(), 1, "one bounce per attempt");
    let text = String::from_utf8_lossy(bounces[0].message.as_bytes()).into_owned();
    for (rcpt, status) in [
        ("a@dst.test", "5.1.1"),
        ("b@dst.test", "5.1.1"),
        ("c@dst.test", "5.7.1"),
    ] {
        assert!(
            text.contains(&format!(
                "Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: {status}\r\n"
            )),
            "{rcpt} is not reported with {status}: {text}"
        );
    }
    assert!(queue.is_empty(), "bounces delivered and removed too");
}

/// Rows "4xx" and "backoff returns None": the seed's schedule exactly, then a bounce.
pub async fn seed_backoff_then_too_many_retries(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "451 4.4.1 try later");
    let queue = start_queue(&store, &relay, Exponential::seed_example(), Clock::new())
        .start()
        .await
        .unwrap();
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(2 * 24 * 3600)).await;
    let calls = relay.calls_for("a@dst.test");
    assert_eq!(calls.len(), 6, "1 attempt + 5 retries");
    assert_eq!(seconds_between(&calls), vec![60, 300, 1500, 7500, 37500]);
    assert_eq!(
        calls.iter().map(|c| c.attempt).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4, 5]
    );
    assert!(info(&store, id).await.is_none());
    let bounces = relay.bounces_to("s@src.test");
    assert_eq!(bounces.len(), 1);
    let text = String::from_utf8_lossy(bounces[0].message.as_bytes()).into_owned();
    let diagnostic = text
        .lines()
        .find(|l| l.starts_with("Diagnostic-Code:"))
        .expect("diagnostic");
    assert!(diagnostic.ends_with("(Too many retries)"), "{diagnostic}");
    assert!(text.contains("Status: 4.4.1"));
}

/// Row "some recipients delivered": 250/450/550 → bounce for the 550 only, retry for the 450
/// only, the delivered one never again, even across a restart. Each recipient's TLS report is
/// stored with its status.
pub async fn partial_success_across_restart(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    let tls = envoi_types::TlsReport {
        policy: envoi_types::AppliedTls::MtaSts,
        verified: true,
    };
    relay.set_tls(Some(tls));
    relay.then("b@dst.test", &["450 4.2.0 mailbox busy"]);
    relay.always("c@dst.test", "550 5.1.1 unknown");
    let clock = Clock::new();
    let queue = start_queue(&store, &relay, fixed(Duration::from_secs(600)), clock)
        .start()
        .await
        .unwrap();
    let id = send(
        &queue,
        "s@src.test",
        &["a@dst.test", "b@dst.test", "c@dst.test"],
    )
    .await;
    run_for(Duration::from_secs(10)).await;
    let stored = info(&store, id).await.expect("still queued for b");
    let states: Vec<_> = stored.recipients.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        vec![
            RecipientState::Delivered,
            RecipientState::Pending,
            RecipientState::Failed
        ]
    );
    assert_eq!(stored.attempts, 1);
    let reports: Vec<_> = stored.recipients.iter().map(|r| r.tls).collect();
    assert_eq!(reports, vec![Some(tls); 3]);
    queue.shutdown(Duration::from_secs(5)).await;

    let queue = start_queue(&store, &relay, fixed(Duration::from_secs(600)), clock)
        .start()
        .await
        .unwrap();
    run_for(Duration::from_secs(3600)).await;
    assert_eq!(
        relay.deliveries_to("a@dst.test"),
        1,
        "delivered recipient sent again"
    );
    assert_eq!(relay.calls_for("b@dst.test").len(), 2);
    let retry = &relay.calls_for("b@dst.test")[1];
    assert_eq!(
        retry.envelope.recipients,
        vec![addr("b@dst.test")],
        "retry went beyond the deferred recipient"
    );
    let bounces = relay.bounces_to("s@src.test");
    assert_eq!(bounces.len(), 1);
    let text = String::from_utf8_lossy(bounces[0].message.as_bytes()).into_owned();
    assert!(text.contains("Final-Recipient: rfc822; c@dst.test") && text.contains("Status: 5.1.1"));
    assert!(
        !text.contains("Final-Recipient: rfc822; a@dst.test")
            && !text.contains("Final-Recipient: rfc822; b@dst.test")
    );
    assert!(info(&store, id).await.is_none());
    assert!(queue.is_empty());
}

/// Row "null sender": never bounced; removed after the failure.
pub async fn null_sender_is_never_bounced(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "550 5.1.1 unknown");
    let queue = start_queue(&store, &relay, fixed(Duration::from_secs(60)), Clock::new())
        .start()
        .await
        .unwrap();
    let id = send(&queue, "", &["a@dst.test"]).await;
    run_for(Duration::from_secs(3600)).await;
    assert_eq!(
        relay.calls().len(),
        1,
        "something besides the original was relayed"
    );
    assert!(info(&store, id).await.is_none());
    assert!(
        store.load_schedule().await.unwrap().is_empty(),
        "a bounce was stored"
    );
}

/// Row "older than the maximum lifetime": 4.4.7 bounce whatever the state, held included.
pub async fn expiry_applies_to_held_messages(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "451 4.4.1 later");
    let queue = start_queue(
        &store,
        &relay,
        fixed(Duration::from_secs(600)),
        Clock::new(),
    )
    .max_lifetime(Duration::from_secs(3600))
    .start()
    .await
    .unwrap();
    let deferred = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    let held = send(&queue, "h@src.test", &["a@dst.test"]).await;
    queue.hold(held).await.unwrap();
    run_for(Duration::from_secs(3 * 3600)).await;
    assert!(info(&store, deferred).await.is_none());
    assert!(
        info(&store, held).await.is_none(),
        "held message did not expire"
    );
    for sender in ["s@src.test", "h@src.test"] {
        let bounces = relay.bounces_to(sender);
        assert_eq!(bounces.len(), 1, "{sender}");
        let text = String::from_utf8_lossy(bounces[0].message.as_bytes()).into_owned();
        assert!(text.contains("Status: 4.4.7"), "{text}");
    }
    assert!(
        relay
            .calls_for("a@dst.test")
            .iter()
            .all(|c| c.envelope.sender.as_str() != "h@src.test"),
        "held message was attempted"
    );
}

/// Row "restart": each message attempted at its stored time, none twice, counts kept.
pub async fn restart_keeps_times_and_counts(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.then("a@dst.test", &["451 4.4.1 a"]);
    relay.then("b@dst.test", &["451 4.4.1 b", "451 4.4.1 b"]);
    let clock = Clock::new();
    let backoff = |_: &Envelope, n: u32| Some(Duration::from_secs(100 * u64::from(n)));
    let queue = start_queue(&store, &relay, backoff, clock)
        .start()
        .await
        .unwrap();
    let t0 = tokio::time::Instant::now();
    let a = send(&queue, "s@src.test", &["a@dst.test"]).await;
    let b = send(&queue, "s@src.test", &["b@dst.test"]).await;
    run_for(Duration::from_secs(150)).await; // a: failed once (due 100); b: failed twice (due 100+200)
    queue.shutdown(Duration::from_secs(5)).await;
    assert_eq!(info(&store, b).await.unwrap().attempts, 2);
    let before = relay.calls().len();

    run_for(Duration::from_secs(10)).await;
    let queue = start_queue(&store, &relay, backoff, clock)
        .start()
        .await
        .unwrap();
    run_for(Duration::from_secs(1000)).await;
    let after: Vec<_> = relay.calls().into_iter().skip(before).collect();
    assert_eq!(
        after.len(),
        1,
        "b must be attempted exactly once after restart"
    );
    assert_eq!(after[0].envelope.recipients, vec![addr("b@dst.test")]);
    assert_eq!(after[0].attempt, 2, "attempt count lost");
    let due = (after[0].at - t0).as_secs();
    assert!(
        (300..=301).contains(&due),
        "b attempted at {due}s, stored time was 300s"
    );
    assert!(info(&store, a).await.is_none() && info(&store, b).await.is_none());
    assert!(queue.is_empty());
}

/// Row "flush": returns at once while the scheduler sleeps; a flushed message that fails
/// again keeps its attempt count and its scheduled retry (python-slimta loses it), so flushing
/// never brings a bounce closer.
pub async fn flush_returns_at_once_and_failures_are_rescheduled(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.then("a@dst.test", &["451 4.4.1 one", "451 4.4.1 two"]);
    let queue = start_queue(
        &store,
        &relay,
        fixed(Duration::from_secs(3600)),
        Clock::new(),
    )
    .start()
    .await
    .unwrap();
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(10)).await;
    let first = info(&store, id).await.unwrap();
    assert_eq!(first.attempts, 1);
    let before = tokio::time::Instant::now();
    assert_eq!(queue.flush().await, 1);
    assert_eq!(tokio::time::Instant::now(), before, "flush blocked");
    run_for(Duration::from_secs(1)).await;
    let calls = relay.calls_for("a@dst.test");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].attempt, 1, "flush changed the attempt count");
    let stored = info(&store, id)
        .await
        .expect("flushed message lost after failing again");
    assert_eq!(stored.attempts, 1, "a forced attempt was counted");
    assert_eq!(
        stored.next_attempt, first.next_attempt,
        "the schedule moved"
    );
    assert_eq!(
        stored.recipients[0]
            .last_reply
            .as_ref()
            .map(|r| r.to_string()),
        Some("451 4.4.1 two".to_owned()),
        "the forced attempt's reply was not recorded"
    );
    run_for(Duration::from_secs(3600)).await;
    assert_eq!(relay.deliveries_to("a@dst.test"), 1);
    assert!(info(&store, id).await.is_none());
}

/// Row "hold / release": never attempted while held; attempted after release.
pub async fn hold_and_release(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.then("a@dst.test", &["451 4.4.1 later"]);
    let queue = start_queue(&store, &relay, fixed(Duration::from_secs(60)), Clock::new())
        .start()
        .await
        .unwrap();
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    queue.hold(id).await.unwrap();
    assert!(info(&store, id).await.unwrap().held);
    assert_eq!(queue.flush().await, 0);
    assert!(matches!(queue.retry(id), Err(crate::QueueError::Held(_))));
    run_for(Duration::from_secs(3600)).await;
    assert_eq!(relay.calls().len(), 1, "held message attempted");
    queue.release(id).await.unwrap();
    run_for(Duration::from_secs(1)).await;
    assert_eq!(relay.deliveries_to("a@dst.test"), 1);
    assert!(info(&store, id).await.is_none());
}

/// Relay contract: a panic or an error is a transient `450 4.0.0`, never a crash.
pub async fn relay_panic_and_error_are_transient(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.misbehave_next(Misbehaviour::Panic);
    relay.misbehave_next(Misbehaviour::Error);
    let queue = start_queue(&store, &relay, fixed(Duration::from_secs(60)), Clock::new())
        .start()
        .await
        .unwrap();
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    let stored = info(&store, id)
        .await
        .expect("message lost after a relay panic");
    assert_eq!(stored.attempts, 1);
    let reply = stored.recipients[0].last_reply.clone().unwrap();
    assert_eq!(
        (reply.code, reply.enhanced.to_string()),
        (450, "4.0.0".to_owned())
    );
    run_for(Duration::from_secs(60)).await;
    assert_eq!(info(&store, id).await.unwrap().attempts, 2);
    run_for(Duration::from_secs(60)).await;
    assert_eq!(relay.deliveries_to("a@dst.test"), 1);
}

/// Scheduler: never more attempts than the limit, never two of one message at once.
pub async fn concurrency_limit_and_one_attempt_per_message(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.set_latency(Duration::from_secs(30));
    let queue = start_queue(&store, &relay, fixed(Duration::from_secs(1)), Clock::new())
        .max_deliveries(2)
        .start()
        .await
        .unwrap();
    for i in 0..5 {
        send(&queue, "s@src.test", &[&format!("r{i}@dst.test")]).await;
    }
    for _ in 0..20 {
        queue.flush().await;
        run_for(Duration::from_secs(1)).await;
    }
    run_for(Duration::from_secs(300)).await;
    assert_eq!(relay.max_concurrent(), 2);
    assert_eq!(relay.max_concurrent_per_message(), 1);
    for i in 0..5 {
        assert_eq!(relay.deliveries_to(&format!("r{i}@dst.test")), 1);
    }
}

/// Shutdown: an attempt that ends within the grace period is recorded; one that does not is
/// dropped and its message keeps its stored state (attempted again, counted once).
pub async fn shutdown_lets_attempts_finish_or_leaves_them_stored(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.set_latency(Duration::from_secs(5));
    let clock = Clock::new();
    let queue = start_queue(&store, &relay, fixed(Duration::from_secs(60)), clock)
        .start()
        .await
        .unwrap();
    let quick = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    queue.shutdown(Duration::from_secs(10)).await;
    assert!(
        info(&store, quick).await.is_none(),
        "attempt within grace not recorded"
    );
    assert!(matches!(
        queue
            .enqueue(envelope(&queue, "s@src.test", &["x@dst.test"]))
            .await,
        Err(crate::EnqueueError::ShuttingDown)
    ));

    relay.set_latency(Duration::from_secs(100));
    let queue = start_queue(&store, &relay, fixed(Duration::from_secs(60)), clock)
        .start()
        .await
        .unwrap();
    let slow = send(&queue, "s@src.test", &["b@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    queue.shutdown(Duration::from_secs(10)).await;
    let stored = info(&store, slow)
        .await
        .expect("in-flight message lost at shutdown");
    assert_eq!(stored.attempts, 0, "dropped attempt was counted");

    relay.set_latency(Duration::ZERO);
    let queue = start_queue(&store, &relay, fixed(Duration::from_secs(60)), clock)
        .start()
        .await
        .unwrap();
    run_for(Duration::from_secs(1)).await;
    assert!(info(&store, slow).await.is_none());
    assert_eq!(
        relay.calls_for("b@dst.test").last().map(|c| c.attempt),
        Some(0)
    );
    assert!(queue.is_empty());
}

/// retry(id), delete(id), bounce(id).
pub async fn admin_retry_delete_bounce(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "451 4.4.1 later");
    let queue = start_queue(
        &store,
        &relay,
        fixed(Duration::from_secs(3600)),
        Clock::new(),
    )
    .start()
    .await
    .unwrap();
    let one = send(&queue, "s@src.test", &["a@dst.test"]).await;
    let two = send(&queue, "t@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    queue.retry(one).unwrap();
    run_for(Duration::from_secs(1)).await;
    assert_eq!(relay.calls().len(), 3, "retry did not attempt");
    assert_eq!(
        info(&store, one).await.unwrap().attempts,
        1,
        "a forced attempt was counted"
    );
    assert_eq!(info(&store, two).await.unwrap().attempts, 1);

    queue.delete(two).await.unwrap();
    assert!(info(&store, two).await.is_none());
    assert!(matches!(
        queue.delete(two).await,
        Err(crate::QueueError::NotFound(_))
    ));

    queue.bounce(one).await.unwrap();
    assert!(info(&store, one).await.is_none());
    run_for(Duration::from_secs(1)).await;
    let bounces = relay.bounces_to("s@src.test");
    assert_eq!(bounces.len(), 1);
    assert!(
        relay.bounces_to("t@src.test").is_empty(),
        "deleted message was bounced"
    );
    let unknown = envoi_types::QueueId::new();
    assert!(matches!(
        queue.retry(unknown),
        Err(crate::QueueError::NotFound(_))
    ));
    assert!(matches!(
        queue.hold(unknown).await,
        Err(crate::QueueError::NotFound(_))
    ));
}

/// A separate bounce queue: the bounce is stored there before the original is removed here.
pub async fn separate_bounce_queue_gets_bounces(store: Arc<dyn Storage>) {
    let bounce_store = crate::MemoryStore::new();
    let bounce_relay = ScriptedRelay::new();
    bounce_relay.set_latency(Duration::from_secs(1000));
    let bounce_queue = Queue::builder(Arc::new(bounce_store.clone()), bounce_relay.clone())
        .start()
        .await
        .unwrap();
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "550 5.1.1 unknown");
    let queue = start_queue(&store, &relay, fixed(Duration::from_secs(60)), Clock::new())
        .bounce_queue(bounce_queue)
        .start()
        .await
        .unwrap();
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(1)).await;
    assert!(info(&store, id).await.is_none());
    assert_eq!(
        bounce_store.len(),
        1,
        "bounce not in the bounce queue's store"
    );
    assert!(
        store.load_schedule().await.unwrap().is_empty(),
        "bounce stored in the main store"
    );
}
