//! Destinations' state is cluster-wide, against the real server: a destination one node cannot
//! reach is backed off on every node and reached again everywhere, and a suspension or resume
//! on one node holds on the others without a restart. Skipped without
//! `ENVOI_TEST_POSTGRES_URL`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::sync::Arc;
use std::time::Duration;

use envoi_queue::testkit::suite::send;
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{Queue, Storage};

use common::eventually;

/// A node polling the store every 100–200 ms, whose unreachable destinations are backed off
/// for a minute.
async fn node(schema: &Arc<common::Schema>, name: &str) -> (Queue, Arc<ScriptedRelay>) {
    let store: Arc<dyn Storage> = Arc::new(common::node(schema, name).await);
    let relay = ScriptedRelay::new();
    let queue = Queue::builder(store, relay.clone())
        .node(name)
        .shared_poll(Duration::from_millis(100), Duration::from_millis(200))
        .destination_backoff(Duration::from_secs(60), Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    (queue, relay)
}

fn backed_off(queue: &Queue, destination: &str) -> bool {
    queue
        .destinations()
        .iter()
        .any(|d| d.destination.as_str() == destination && d.backed_off_until.is_some())
}

fn suspended(queue: &Queue, destination: &str) -> bool {
    queue
        .destinations()
        .iter()
        .any(|d| d.destination.as_str() == destination && d.suspension.is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_one_node_cannot_reach_is_backed_off_on_every_node() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let (a, relay_a) = node(&schema, "node-a").await;
    let (b, relay_b) = node(&schema, "node-b").await;
    relay_a.set_unreachable("dst.test", true);

    send(&a, "s@src.test", &["x@dst.test"]).await;
    assert!(eventually(Duration::from_secs(10), || backed_off(&a, "dst.test")).await);
    let row = schema.query("SELECT destination || ' ' || failures FROM envoi_backoff");
    assert_eq!(row, vec![Some("dst.test 1".to_owned())]);
    assert!(
        eventually(Duration::from_secs(5), || backed_off(&b, "dst.test")).await,
        "node-b did not learn of node-a's back-off"
    );
    send(&b, "s@src.test", &["y@dst.test"]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        relay_b.calls().is_empty(),
        "node-b attempted a backed-off destination"
    );

    // node-b is flushed: it tries at once, reaches it, and so does node-a.
    relay_a.set_unreachable("dst.test", false);
    b.flush().await;
    assert!(
        eventually(Duration::from_secs(10), || relay_b
            .deliveries_to("y@dst.test")
            == 1)
        .await
    );
    assert!(
        eventually(Duration::from_secs(10), || relay_a
            .deliveries_to("x@dst.test")
            == 1)
        .await,
        "node-a kept its back-off after node-b reached the destination"
    );
    assert!(schema
        .query("SELECT destination FROM envoi_backoff")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspension_and_a_resume_on_one_node_hold_on_the_others() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let (a, _relay_a) = node(&schema, "node-a").await;
    let (b, relay_b) = node(&schema, "node-b").await;

    a.suspend("dst.test", None, "maintenance").await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || suspended(&b, "dst.test")).await,
        "node-b did not learn of node-a's suspension"
    );
    send(&b, "s@src.test", &["y@dst.test"]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        relay_b.calls().is_empty(),
        "node-b attempted a suspended destination"
    );

    assert!(a.resume("dst.test").await.unwrap());
    assert!(
        eventually(Duration::from_secs(10), || relay_b
            .deliveries_to("y@dst.test")
            == 1)
        .await,
        "node-b kept a suspension node-a ended"
    );
    assert!(!suspended(&b, "dst.test"));
}
