//! Destinations are first-class in the scheduler: per-destination ready queues served
//! round-robin, and a delivery slot taken only when the destination can start.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::testkit::suite::{run_for, send};
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{Clock, DestinationLimits, MemoryStore, Queue, QueueError, Storage};

/// Hop A answers after 5 s, hop B at once: 300 messages for A, then 1 for B. B must not wait
/// behind A's backlog (with 64 slots all taken by A it would wait about 25 s).
#[tokio::test(start_paused = true)]
async fn a_slow_destination_does_not_hold_up_the_others() {
    let store = MemoryStore::new();
    let relay = ScriptedRelay::new();
    relay.set_latency_for("slow.test", Duration::from_secs(5));
    let queue = Queue::builder(Arc::new(store), relay.clone())
        .start()
        .await
        .unwrap();
    for n in 0..300 {
        send(&queue, "s@src.test", &[&format!("r{n}@slow.test")]).await;
    }
    send(&queue, "s@src.test", &["b@fast.test"]).await;
    run_for(Duration::from_secs(2)).await;
    assert_eq!(relay.deliveries_to("b@fast.test"), 1, "B waited behind A");
    assert!(
        relay.max_concurrent() <= 21,
        "A took more than its destination's share: {}",
        relay.max_concurrent()
    );
    run_for(Duration::from_secs(120)).await;
    assert!(queue.is_empty(), "A's backlog was not delivered");
    for n in 0..300 {
        assert_eq!(relay.deliveries_to(&format!("r{n}@slow.test")), 1);
    }
}

/// With every destination backlogged, each gets delivery slots in turn: a destination
/// enqueued last still starts among the first.
#[tokio::test(start_paused = true)]
async fn destinations_are_served_round_robin() {
    let relay = ScriptedRelay::new();
    relay.set_latency(Duration::from_secs(1));
    let queue = Queue::builder(Arc::new(MemoryStore::new()), relay.clone())
        .max_deliveries(4)
        .start()
        .await
        .unwrap();
    for n in 0..20 {
        send(&queue, "s@src.test", &[&format!("r{n}@one.test")]).await;
    }
    for n in 0..20 {
        send(&queue, "s@src.test", &[&format!("r{n}@two.test")]).await;
    }
    run_for(Duration::from_millis(1500)).await;
    let first: Vec<String> = relay
        .calls()
        .iter()
        .map(|c| c.envelope.recipients[0].domain().to_owned())
        .collect();
    assert_eq!(first.len(), 4, "{first:?}");
    assert_eq!(
        first.iter().filter(|d| *d == "two.test").count(),
        2,
        "{first:?}"
    );
}

/// The hop is down: the destination is backed off once for all its messages, whose attempts
/// are not spent. It comes back; a flush clears the back-off and delivers everything at once.
#[tokio::test(start_paused = true)]
async fn a_flush_after_an_outage_delivers_at_once_without_spending_attempts() {
    let store = MemoryStore::new();
    let relay = ScriptedRelay::new();
    relay.set_unreachable("down.test", true);
    let queue = Queue::builder(Arc::new(store.clone()), relay.clone())
        .start()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..50 {
        ids.push(send(&queue, "s@src.test", &[&format!("r{n}@down.test")]).await);
    }
    run_for(Duration::from_secs(1)).await;
    let tried = relay.calls().len();
    assert!(tried <= 20, "the back-off did not stop the others: {tried}");
    run_for(Duration::from_secs(30)).await;
    assert_eq!(relay.calls().len(), tried, "tried again while backed off");
    for id in &ids {
        let info = store.info(*id).await.unwrap().unwrap();
        assert_eq!(
            info.attempts, 0,
            "an unreachable destination spent an attempt"
        );
    }

    relay.set_unreachable("down.test", false);
    assert_eq!(queue.flush().await, 50);
    run_for(Duration::from_secs(3)).await;
    assert!(queue.is_empty(), "not all delivered after the flush");
    assert!(
        queue.destinations().is_empty(),
        "a healthy, empty destination is forgotten"
    );
    for n in 0..50 {
        let rcpt = format!("r{n}@down.test");
        assert_eq!(relay.deliveries_to(&rcpt), 1);
        assert!(
            relay.calls_for(&rcpt).len() <= 2,
            "{rcpt} tried more than twice"
        );
    }
}

/// Without a flush the destination is tried again when its back-off ends, and the back-off
/// doubles while it stays down.
#[tokio::test(start_paused = true)]
async fn the_back_off_ends_by_itself_and_doubles() {
    let relay = ScriptedRelay::new();
    relay.set_unreachable("down.test", true);
    let queue = Queue::builder(Arc::new(MemoryStore::new()), relay.clone())
        .max_per_destination(1)
        .start()
        .await
        .unwrap();
    send(&queue, "s@src.test", &["a@down.test"]).await;
    run_for(Duration::from_secs(1)).await;
    assert_eq!(relay.calls().len(), 1);
    run_for(Duration::from_secs(60)).await; // 60 s back-off over
    assert_eq!(relay.calls().len(), 2);
    run_for(Duration::from_secs(100)).await; // now 120 s
    assert_eq!(relay.calls().len(), 2);
    relay.set_unreachable("down.test", false);
    run_for(Duration::from_secs(30)).await;
    assert_eq!(relay.calls().len(), 3);
    assert!(queue.is_empty());
}

/// A suspended destination gets no attempt, across a restart too; a resume delivers its
/// mail; other destinations are not affected.
#[tokio::test(start_paused = true)]
async fn a_suspension_survives_a_restart_and_a_resume_delivers() {
    let store = MemoryStore::new();
    let relay = ScriptedRelay::new();
    let clock = Clock::new();
    let start = || {
        Queue::builder(Arc::new(store.clone()), relay.clone())
            .clock(clock)
            .start()
    };
    let queue = start().await.unwrap();
    let suspension = queue
        .suspend("Held.test", None, "maintenance")
        .await
        .unwrap();
    assert_eq!(suspension.destination, "held.test");
    for bad in ["", "a b", "x\r\n"] {
        let refused = queue.suspend(bad, None, "").await;
        assert_eq!(refused, Err(QueueError::InvalidDestination(bad.into())));
    }
    send(&queue, "s@src.test", &["a@held.test"]).await;
    send(&queue, "s@src.test", &["b@other.test"]).await;
    run_for(Duration::from_secs(10)).await;
    assert_eq!(relay.deliveries_to("b@other.test"), 1);
    assert!(
        relay.calls_for("a@held.test").is_empty(),
        "attempted while suspended"
    );
    assert_eq!(queue.flush().await, 0, "a flush does not resume");
    run_for(Duration::from_secs(10)).await;
    assert!(relay.calls_for("a@held.test").is_empty());

    queue.shutdown(Duration::from_secs(1)).await;
    let queue = start().await.unwrap();
    run_for(Duration::from_secs(3600)).await;
    assert!(
        relay.calls_for("a@held.test").is_empty(),
        "the restart lost it"
    );
    let listed = queue.suspensions().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reason, "maintenance");
    // Loaded unsorted, sorted at its claim into the suspended destination, not attempted.
    let shown = queue.destinations();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(
        (shown[0].destination.as_str(), shown[0].queued),
        ("held.test", 1)
    );
    let shown_reason = shown[0].suspension.as_ref().map(|s| s.reason.as_str());
    assert_eq!(shown_reason, Some("maintenance"));

    assert!(queue.resume("held.test").await.unwrap());
    run_for(Duration::from_secs(1)).await;
    assert_eq!(relay.deliveries_to("a@held.test"), 1);
    assert!(queue.is_empty());
    assert!(queue.suspensions().await.unwrap().is_empty());
    assert!(!queue.resume("held.test").await.unwrap());
}

/// A suspension for a while ends by itself; a suspended message still expires at its
/// lifetime, without an attempt.
#[tokio::test(start_paused = true)]
async fn a_suspension_ends_by_itself_and_suspended_mail_still_expires() {
    let relay = ScriptedRelay::new();
    let queue = Queue::builder(Arc::new(MemoryStore::new()), relay.clone())
        .max_lifetime(Duration::from_secs(3600))
        .start()
        .await
        .unwrap();
    queue
        .suspend("short.test", Some(Duration::from_secs(60)), "")
        .await
        .unwrap();
    queue.suspend("long.test", None, "").await.unwrap();
    send(&queue, "s@src.test", &["a@short.test"]).await;
    send(&queue, "s@src.test", &["b@long.test"]).await;
    run_for(Duration::from_secs(30)).await;
    assert!(relay.calls().is_empty());
    run_for(Duration::from_secs(40)).await;
    assert_eq!(relay.deliveries_to("a@short.test"), 1);
    run_for(Duration::from_secs(3600)).await;
    assert!(
        relay.calls_for("b@long.test").is_empty(),
        "attempted while suspended"
    );
    assert_eq!(relay.bounces_to("s@src.test").len(), 1, "did not expire");
    assert!(queue.is_empty());
}

/// A destination limited to 10 messages a second gets 100 messages in about 10 s, in their
/// due order, none twice; another destination is not slowed.
#[tokio::test(start_paused = true)]
async fn a_rate_limit_spaces_a_destination_out_in_due_order() {
    let relay = ScriptedRelay::new();
    let limits = DestinationLimits {
        max_in_flight: None,
        messages_per_second: Some(10.0),
    };
    let queue = Queue::builder(Arc::new(MemoryStore::new()), relay.clone())
        .destination_limits("limited.test", limits)
        .start()
        .await
        .unwrap();
    let t0 = tokio::time::Instant::now();
    for n in 0..100 {
        send(&queue, "s@src.test", &[&format!("r{n:03}@limited.test")]).await;
    }
    send(&queue, "s@src.test", &["b@free.test"]).await;
    run_for(Duration::from_millis(500)).await;
    assert_eq!(
        relay.deliveries_to("b@free.test"),
        1,
        "the limit slowed another"
    );
    run_for(Duration::from_secs(15)).await;
    let calls: Vec<_> = relay
        .calls()
        .into_iter()
        .filter(|c| c.envelope.recipients[0].domain() == "limited.test")
        .collect();
    assert_eq!(calls.len(), 100, "each once");
    let last = calls.last().unwrap().at - t0;
    assert!(
        last >= Duration::from_secs(9) && last <= Duration::from_secs(11),
        "100 messages took {last:?}"
    );
    let order: Vec<String> = calls
        .iter()
        .map(|c| c.envelope.recipients[0].to_string())
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "the due order was not kept");
    // No more than one a tenth of a second (with 1 ms of rounding).
    for pair in calls.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(99));
    }
}

/// A destination's own concurrency limit replaces the default one.
#[tokio::test(start_paused = true)]
async fn a_destination_may_have_its_own_concurrency_limit() {
    let relay = ScriptedRelay::new();
    relay.set_latency(Duration::from_secs(1));
    let limits = DestinationLimits {
        max_in_flight: Some(2),
        messages_per_second: None,
    };
    let queue = Queue::builder(Arc::new(MemoryStore::new()), relay.clone())
        .destination_limits("narrow.test", limits)
        .start()
        .await
        .unwrap();
    for n in 0..10 {
        send(&queue, "s@src.test", &[&format!("r{n}@narrow.test")]).await;
    }
    run_for(Duration::from_secs(20)).await;
    assert!(queue.is_empty());
    assert_eq!(relay.max_concurrent(), 2);
}

/// A retry of one message is an attempt now: it lifts its destination's back-off (as a
/// selective flush, which retries each match, does).
#[tokio::test(start_paused = true)]
async fn a_retry_attempts_now_despite_the_back_off() {
    let relay = ScriptedRelay::new();
    relay.set_unreachable("down.test", true);
    let queue = Queue::builder(Arc::new(MemoryStore::new()), relay.clone())
        .start()
        .await
        .unwrap();
    let id = send(&queue, "s@src.test", &["a@down.test"]).await;
    run_for(Duration::from_secs(1)).await;
    relay.set_unreachable("down.test", false);
    queue.retry(id).unwrap();
    run_for(Duration::from_secs(1)).await;
    assert_eq!(relay.deliveries_to("a@down.test"), 1);
}
