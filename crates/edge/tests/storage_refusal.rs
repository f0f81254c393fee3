//! Refusing early: while the queue cannot store (an attempt's outcome waits for a failing
//! store, or the store reports itself full or failing), MAIL, DATA and BDAT's first chunk are
//! answered `452 4.3.1` (full) or `451 4.3.0` (failing) before any body is read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{config, greeted, Client};
use envoi_edge::{ListenMode, Server};
use envoi_queue::testkit::suite::envelope;
use envoi_queue::testkit::{FaultyStore, ScriptedRelay};
use envoi_queue::{MemoryStore, Queue, StorageError, StoreHealth};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const FULL: &str = "452 4.3.1 Insufficient system storage, try again later\r\n";
const FAILING: &str = "451 4.3.0 Local error in processing, try again later\r\n";

/// Polls (bounded) until the queue's storage state is `name`.
async fn until_state(queue: &Queue, name: &str) {
    for _ in 0..1000 {
        if queue.accepting().name() == name {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the queue never became {name}: {:?}", queue.accepting());
}

async fn open_transaction(addr: std::net::SocketAddr) -> Client<TcpStream> {
    let mut c = greeted(addr).await;
    c.envelope("a@src.test", "b@example.org").await;
    c
}

#[tokio::test]
async fn mail_data_and_bdat_are_refused_while_storage_cannot_take_mail() {
    let memory = MemoryStore::new();
    let store = FaultyStore::new(memory.clone());
    let relay = ScriptedRelay::new();
    let queue = Queue::builder(store.clone(), relay.clone())
        .start()
        .await
        .unwrap();
    let server = Server::builder(config(), Arc::new(queue.clone())).build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { server.serve(listener, ListenMode::Plain, token).await });

    // Two transactions opened while storage works.
    let mut data_client = open_transaction(addr).await;
    let mut bdat_client = open_transaction(addr).await;

    // An attempt whose outcome the store cannot commit: the disk is full.
    store.fail_commits(Some(StorageError::Full("ENOSPC".into())));
    let env = envelope(&queue, "s@src.test", &["x@dst.test"]);
    queue.enqueue(env).await.unwrap();
    until_state(&queue, "full").await;

    assert_eq!(data_client.cmd("DATA").await, FULL, "DATA not refused");
    assert_eq!(
        data_client.cmd("MAIL FROM:<a@src.test>").await,
        FULL,
        "the transaction was not ended by the refused DATA, or MAIL was not refused"
    );
    // BDAT's chunk is read and discarded, never taken for commands.
    bdat_client.send(b"BDAT 12 LAST\r\nNOOP\r\nQUIT\r\n").await;
    assert_eq!(bdat_client.reply().await, FULL);
    assert_eq!(bdat_client.cmd("NOOP").await, "250 2.0.0 OK\r\n");

    store.fail_commits(Some(StorageError::Io("fsync failed".into())));
    until_state(&queue, "failing").await;
    let mut fresh = greeted(addr).await;
    assert!(fresh.cmd("EHLO client.test").await.starts_with("250-"));
    assert_eq!(fresh.cmd("MAIL FROM:<a@src.test>").await, FAILING);

    store.fail_commits(None);
    until_state(&queue, "accepting").await;
    assert_eq!(
        fresh.cmd("MAIL FROM:<a@src.test>").await,
        "250 2.1.0 Sender OK\r\n"
    );
    assert_eq!(relay.deliveries_to("x@dst.test"), 1);
    for mut client in [data_client, bdat_client, fresh] {
        assert_eq!(
            client.cmd("QUIT").await,
            "221 2.0.0 mx.test closing connection\r\n"
        );
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_store_that_reports_full_refuses_mail_before_any_body_is_sent() {
    let memory = MemoryStore::new();
    let store = FaultyStore::new(memory.clone());
    let queue = Queue::builder(store.clone(), ScriptedRelay::new())
        .start()
        .await
        .unwrap();
    let server = Server::builder(config(), Arc::new(queue.clone())).build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { server.serve(listener, ListenMode::Plain, token).await });

    store.report_health(StoreHealth::Full("10 MiB free, below 64 MiB".into()));
    let mut client = greeted(addr).await;
    assert!(client.cmd("EHLO client.test").await.starts_with("250-"));
    assert_eq!(client.cmd("MAIL FROM:<a@src.test>").await, FULL);

    store.report_health(StoreHealth::Failing("database gone".into()));
    assert_eq!(client.cmd("MAIL FROM:<a@src.test>").await, FAILING);

    store.report_health(StoreHealth::Ok);
    client.envelope("a@src.test", "b@example.org").await;
    assert_eq!(
        client.cmd("DATA").await,
        "354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    client.send(b"Subject: t\r\n\r\nbody\r\n.\r\n").await;
    let accepted = client.reply().await;
    assert!(accepted.starts_with("250 2.6.0"), "{accepted}");
    assert_eq!(memory.len(), 1);
    assert_eq!(
        client.cmd("QUIT").await,
        "221 2.0.0 mx.test closing connection\r\n"
    );
    shutdown.cancel();
    task.await.unwrap().unwrap();
}
