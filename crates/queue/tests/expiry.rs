//! Expiry: the queue owns the maximum lifetime and judges it on its own clock, whatever the
//! backoff. These run under paused tokio time, where the wall clock stands still.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::testkit::suite::{run_for, send};
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{MemoryStore, Queue, Schedule};

fn diagnostic(bounce: &envoi_types::Envelope) -> String {
    let text = String::from_utf8_lossy(bounce.message.as_bytes()).into_owned();
    let line = text.lines().find(|l| l.starts_with("Diagnostic-Code:"));
    line.expect("a diagnostic line").to_owned()
}

/// Retries every 1000 s with a lifetime of 3600 s: attempts at 0, 1000, 2000 and 3000 s; the
/// next would fall after arrival + lifetime, so the schedule gives up at 3000 s ("Too many
/// retries"), on the queue's clock, rather than waiting for the 4.4.7 expiry at 3600 s.
#[tokio::test(start_paused = true)]
async fn schedule_gives_up_on_the_queue_clock() {
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "451 4.4.1 try later");
    let schedule = Schedule {
        delays: vec![Duration::from_secs(1000)],
    };
    let queue = Queue::builder(Arc::new(MemoryStore::new()), relay.clone())
        .backoff(schedule)
        .max_lifetime(Duration::from_secs(3600))
        .node("envoi.test")
        .start()
        .await
        .unwrap();
    let t0 = tokio::time::Instant::now();
    send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(3 * 3600)).await;

    let attempts: Vec<u64> = relay
        .calls_for("a@dst.test")
        .iter()
        .map(|c| (c.at - t0).as_secs())
        .collect();
    assert_eq!(attempts, vec![0, 1000, 2000, 3000]);
    let bounces = relay.bounces_to("s@src.test");
    assert_eq!(bounces.len(), 1);
    let line = diagnostic(&bounces[0]);
    assert!(line.ends_with("(Too many retries)"), "{line}");
    let bounced_at = relay
        .calls()
        .iter()
        .find(|c| c.envelope.recipients[0].as_str() == "s@src.test")
        .map(|c| (c.at - t0).as_secs());
    assert_eq!(bounced_at, Some(3000), "the bounce waited for expiry");
    assert!(queue.is_empty());
}
