//! Wake-up between nodes against the real server: a retry another node rescheduled is taken
//! promptly by an idle node, and notices stay few under load. Skipped without
//! `ENVOI_TEST_POSTGRES_URL`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use envoi_queue::storage::{AttemptCommit, Disposition, NewMessage};
use envoi_queue::testkit::suite::send;
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{Queue, Storage};
use envoi_types::Envelope;

use common::{eventually, message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_rescheduled_by_another_node_is_taken_when_due() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let a: Arc<dyn Storage> = Arc::new(common::node(&schema, "node-a").await);
    let b: Arc<dyn Storage> = Arc::new(common::node(&schema, "node-b").await);
    let relay_a = ScriptedRelay::new();
    relay_a.then("a@dst.test", &["451 4.4.1 busy"]);
    let queue_a = Queue::builder(a.clone(), relay_a.clone())
        .node("node-a")
        .backoff(|_: &Envelope, _: u32| Some(Duration::from_secs(2)))
        .start()
        .await
        .unwrap();
    // node-b polls once at start and then once a minute: only a notice can bring it in early.
    let relay_b = ScriptedRelay::new();
    let minute = Duration::from_secs(60);
    let queue_b = Queue::builder(b.clone(), relay_b.clone())
        .node("node-b")
        .shared_poll(minute, minute)
        .start()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    send(&queue_a, "s@src.test", &["a@dst.test"]).await;
    let deferred = eventually(Duration::from_secs(10), || {
        schema.query("SELECT attempts FROM envoi_message") == vec![Some("1".to_owned())]
    });
    assert!(deferred.await, "node-a did not defer the message");
    // node-a stops before the retry is due: node-b must take it.
    queue_a.shutdown(Duration::ZERO).await;
    drop(queue_a);
    let delivered = eventually(Duration::from_secs(15), || relay_b.calls().len() == 1);
    assert!(
        delivered.await,
        "node-b did not take the retry before its next poll"
    );
    assert_eq!(relay_a.calls().len(), 1);
    assert!(eventually(Duration::from_secs(5), || queue_b.is_empty()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_are_at_most_one_per_interval_under_load() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let a = common::node(&schema, "node-a").await;
    let (_listener, heard) = listen(&url, &format!("envoi_due:{}", schema.name)).await;

    let started = Instant::now();
    let rounds = 10;
    for _ in 0..rounds {
        let batch: Vec<NewMessage> = (0..20).map(|_| message()).collect();
        a.write(batch.clone()).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for m in batch {
            let store = a.store.clone();
            tasks.spawn(async move {
                let commit = AttemptCommit {
                    bounces: Vec::new(),
                    disposition: Disposition::Retry {
                        next_attempt: SystemTime::now() + Duration::from_secs(30),
                        attempts: 1,
                        recipients: m.meta.recipients.clone(),
                        history: Default::default(),
                    },
                };
                store.commit_attempt(m.id, commit).await.unwrap();
            });
        }
        while tasks.join_next().await.is_some() {}
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The last retries' notice goes out within an interval (1 s).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let notices = heard.lock().unwrap().clone();
    let bound = elapsed.ceil() as usize + 1;
    assert!(!notices.is_empty(), "no notice of the retries was sent");
    assert!(
        notices.len() <= bound,
        "{} notices in {elapsed:.1} s ({rounds} rounds of commits): {notices:?}",
        notices.len()
    );
    for payload in &notices {
        assert!(payload.ends_with(" node-a"), "{payload}");
    }
}

/// Payloads heard on `channel` by a session of the test's own (kept open by the client).
async fn listen(url: &str, channel: &str) -> (tokio_postgres::Client, Arc<Mutex<Vec<String>>>) {
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                sink.lock().unwrap().push(n.payload().to_owned());
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN \"{channel}\""))
        .await
        .unwrap();
    (client, heard)
}
