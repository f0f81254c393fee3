//! Through a real `envoi_queue::Queue` on a `MemoryStore`: 250 carries the stored id, the relay
//! later sees the message with our Received header, and storage failures become 451/452.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{assert_code, config, greeted, Client};
use envoi_edge::{ListenMode, Server};
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{MemoryStore, Queue, StorageError};
use envoi_types::QueueId;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

async fn send_one(c: &mut Client<tokio::net::TcpStream>) -> String {
    c.envelope("a@src.test", "b@example.org").await;
    c.cmd("DATA").await;
    c.send(b"Subject: via queue\r\n\r\nbody\r\n.\r\n").await;
    c.reply().await
}

#[tokio::test]
async fn real_queue_stores_before_250_and_delivers() {
    let store = MemoryStore::new();
    let relay = ScriptedRelay::new();
    // Keep the message queued after its first attempt so the store can be inspected.
    relay.then("b@example.org", &["451 4.4.1 try later"]);
    let queue = Queue::builder(Arc::new(store.clone()), relay.clone())
        .start()
        .await
        .unwrap();
    let server = Server::builder(config(), Arc::new(queue.clone())).build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { server.serve(listener, ListenMode::Plain, token).await });

    let mut c = greeted(addr).await;
    let reply = send_one(&mut c).await;
    assert_code(&reply, "250 2.6.0");
    let id: QueueId = reply
        .split(['<', '>'])
        .nth(1)
        .unwrap()
        .parse()
        .expect("the reply carries the queue id");
    assert!(store.ids().contains(&id), "250 before the store held {id}");

    // The first attempt follows at once; poll a bounded number of times for it.
    let mut delivered = None;
    for _ in 0..200 {
        if let Some(call) = relay.calls_for("b@example.org").into_iter().next() {
            delivered = Some(call.envelope);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let envelope = delivered.expect("the queue never attempted the message");
    assert!(envelope
        .message
        .as_bytes()
        .starts_with(b"Received: from client.test ([127.0.0.1]) by mx.test"));
    assert_eq!(
        envelope.message.header("subject").as_deref(),
        Some("via queue")
    );

    store.fail_next_write(StorageError::Full("disk full".into()));
    assert_eq!(
        send_one(&mut c).await,
        "452 4.3.1 Insufficient system storage, try again later\r\n"
    );
    assert_eq!(store.len(), 1);

    queue.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        send_one(&mut c).await,
        "421 4.3.2 Service shutting down, try again later\r\n"
    );
    assert_eq!(c.rest().await, "", "421 closes the connection");
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_failed_write_refuses_the_next_mail_before_its_body() {
    let store = MemoryStore::new();
    let queue = Queue::builder(Arc::new(store.clone()), ScriptedRelay::new())
        .start()
        .await
        .unwrap();
    let server = Server::builder(config(), Arc::new(queue.clone())).build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { server.serve(listener, ListenMode::Plain, token).await });

    let mut c = greeted(addr).await;
    store.fail_next_write(StorageError::Io("fsync failed".into()));
    assert_eq!(
        send_one(&mut c).await,
        "451 4.3.0 Local error in processing, try again later\r\n"
    );
    // The store failed: the next sender is refused at MAIL, before it sends a body.
    assert_eq!(
        c.cmd("MAIL FROM:<a@src.test>").await,
        "451 4.3.0 Local error in processing, try again later\r\n"
    );
    assert!(store.is_empty());
    shutdown.cancel();
    task.await.unwrap().unwrap();
}
