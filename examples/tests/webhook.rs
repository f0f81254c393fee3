//! The webhook example's relay against a loopback HTTP listener: what it POSTs, and how the
//! listener's status becomes the queue's outcome.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)] // the example's `main` is not run here
#[path = "../webhook.rs"]
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use envoi_queue::{Delivery, MemoryStore, Queue, Relay};
use envoi_types::{Address, Envelope, Sender};
use tokio::sync::mpsc;
use webhook::Webhook;

const MESSAGE: &[u8] = b"From: a@example.org\r\nSubject: t\r\n\r\nbody\r\n";

/// A listener that answers `status` and passes each request's headers and body to the test.
async fn listener(status: StatusCode) -> (String, mpsc::UnboundedReceiver<(HeaderMap, Bytes)>) {
    let (seen, received) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/mail",
        post(move |headers: HeaderMap, body: Bytes| async move {
            let _ = seen.send((headers, body));
            status
        }),
    );
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mail", socket.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(socket, app).await });
    (url, received)
}

fn envelope() -> Envelope {
    let recipients = vec![
        Address::parse("b@example.net").unwrap(),
        Address::parse("c@example.com").unwrap(),
    ];
    Envelope::new(Sender::parse("a@example.org").unwrap(), recipients, MESSAGE)
}

fn code(delivery: Delivery) -> u16 {
    match delivery {
        Delivery::Whole(outcome) => outcome.reply.code,
        Delivery::PerRecipient(_) => panic!("the webhook answers for the whole envelope"),
    }
}

#[tokio::test]
async fn a_queued_message_is_posted_once_and_leaves_the_queue() {
    let (url, mut received) = listener(StatusCode::OK).await;
    let queue = Queue::builder(Arc::new(MemoryStore::new()), Arc::new(Webhook::new(url)))
        .start()
        .await
        .unwrap();
    queue.enqueue(envelope()).await.unwrap();

    let (headers, body) = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&body[..], MESSAGE);
    assert_eq!(headers["x-envoi-sender"], "a@example.org");
    assert_eq!(headers["x-envoi-recipients"], "b@example.net,c@example.com");
    tokio::time::timeout(Duration::from_secs(10), async {
        while !queue.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("delivered message removed from the queue");
    assert!(received.try_recv().is_err(), "posted exactly once");
    queue.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn statuses_map_to_delivered_retried_and_refused() {
    for (status, expected) in [
        (StatusCode::NO_CONTENT, 250),
        (StatusCode::SERVICE_UNAVAILABLE, 451),
        (StatusCode::TOO_MANY_REQUESTS, 451),
        (StatusCode::FORBIDDEN, 554),
    ] {
        let (url, _received) = listener(status).await;
        let delivery = Webhook::new(url).attempt(&envelope(), 0).await.unwrap();
        assert_eq!(code(delivery), expected, "HTTP {status}");
    }
}

#[tokio::test]
async fn an_unreachable_webhook_is_a_transient_failure() {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mail", socket.local_addr().unwrap());
    drop(socket); // nothing listens there now
    let delivery = Webhook::new(url).attempt(&envelope(), 0).await.unwrap();
    assert_eq!(code(delivery), 451);
}
