//! Behaviour-suite row about the streaming enqueue: a body written in pieces through
//! [`crate::Queue::open_body`] is stored, read back and delivered byte for byte.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use envoi_types::{Address, Envelope, Sender};

use super::relay::ScriptedRelay;
use crate::backoff::Backoff;
use crate::queue::Queue;
use crate::storage::Storage;

/// The head the streamed message keeps in memory.
const HEAD: &[u8] = b"Subject: streamed\r\nFrom: s@src.test\r\n\r\n";

/// About 240 KiB of body: above any inline limit a store may have.
fn body() -> Vec<u8> {
    (0..6000)
        .flat_map(|i| format!("line {i:05} of a body streamed in pieces\r\n").into_bytes())
        .collect()
}

fn retry_in_a_minute() -> impl Backoff {
    |_: &Envelope, _: u32| Some(Duration::from_secs(60))
}

/// Row "streaming enqueue": the body written piece by piece is the stored message's body
/// (read back whole, headers readable); the first attempt and a retry (which reads the store)
/// both get every octet; a sink dropped unfinished and a staged body never enqueued change
/// nothing that is stored; success removes the message.
pub async fn streamed_body_is_stored_and_delivered_whole(store: Arc<dyn Storage>) {
    let relay = ScriptedRelay::new();
    relay.then("a@dst.test", &["451 4.4.1 later", "250 2.0.0 ok"]);
    let queue = Queue::builder(store.clone(), relay.clone())
        .backoff(retry_in_a_minute())
        .node("envoi.test")
        .start()
        .await
        .expect("queue starts");
    let body = body();
    let mut sink = queue.open_body(1 << 20).await.expect("sink opens");
    for piece in body.chunks(7000) {
        sink.write(Bytes::copy_from_slice(piece))
            .await
            .expect("piece written");
    }
    let staged = sink.finish().await.expect("body staged");

    let mut abandoned = queue.open_body(1 << 20).await.expect("sink opens");
    abandoned
        .write(Bytes::from_static(b"never enqueued\r\n"))
        .await
        .expect("piece written");
    drop(abandoned);
    let unused = queue.open_body(1 << 20).await.expect("sink opens");
    drop(unused.finish().await.expect("empty body staged"));

    let rcpt = Address::parse("a@dst.test").expect("test address");
    let mut envelope = Envelope::new(
        Sender::parse("s@src.test").expect("test sender"),
        vec![rcpt],
        staged.after(Bytes::from_static(HEAD)),
    );
    envelope.arrival = queue.clock().now();
    let id = queue.enqueue(envelope).await.expect("enqueued")[0];
    let expected = [HEAD, body.as_slice()].concat();

    let stored = store.get(id).await.expect("get").expect("stored");
    let message = &stored.envelope.message;
    assert_eq!(message.len(), expected.len());
    assert_eq!(message.header("subject").as_deref(), Some("streamed"));
    let whole = message.in_memory().expect("body readable");
    assert!(
        whole.as_bytes() == expected.as_slice(),
        "stored body differs"
    );

    tokio::time::sleep(Duration::from_secs(120)).await;
    let calls = relay.calls();
    assert_eq!(calls.len(), 2, "first attempt and one retry");
    for call in &calls {
        let sent = call.envelope.message.as_bytes();
        assert!(sent == expected.as_slice(), "relay got a different body");
    }
    assert!(store.info(id).await.expect("info").is_none());
    assert_eq!(store.count_by_state().await.expect("counts").active, 0);
}
