//! LMTP: LHLO, one reply per accepted recipient after DATA, over TCP and a unix socket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use envoi_relay::{NextHop, RelayConfig, SmtpRelay, StaticResolver, Timeouts};
use support::*;

fn lmtp_script() -> Script {
    Script {
        lmtp: true,
        ..Script::default()
    }
    .rcpt(|a, _| {
        if a.starts_with("unknown") {
            "550 5.1.1 unknown"
        } else {
            "250 ok"
        }
        .to_owned()
    })
    .after_data(|txn| {
        txn.rcpts
            .iter()
            .map(|r| match r.as_str() {
                r if r.starts_with("full") => "452 4.2.2 mailbox full".to_owned(),
                r if r.starts_with("bad") => "550 5.2.0 rejected".to_owned(),
                r => format!("250 2.0.0 <{r}> delivered"),
            })
            .collect()
    })
}

fn lmtp_relay(hop: NextHop) -> SmtpRelay {
    let mut config = RelayConfig::lmtp(hop);
    config.helo_name = "client.test".into();
    config.timeouts = Timeouts::all(Duration::from_secs(5));
    SmtpRelay::new(config, Arc::new(StaticResolver::new())).unwrap()
}

#[tokio::test]
async fn lmtp_over_tcp_one_reply_per_recipient() {
    let peer = Peer::start(lmtp_script()).await;
    let relay = lmtp_relay(NextHop::lmtp_tcp("127.0.0.1", peer.port()));
    let env = envelope(
        &[
            "a@d.test",
            "full@d.test",
            "unknown@d.test",
            "bad@d.test",
            "b@d.test",
        ],
        MESSAGE,
    );
    let out = attempt(&relay, &env).await;
    assert_eq!(
        codes(&out),
        [
            "250 2.0.0",
            "452 4.2.2",
            "550 5.1.1",
            "550 5.2.0",
            "250 2.0.0"
        ]
    );
    assert_eq!(out[4].reply.text(), "<b@d.test> delivered");
    assert_eq!(peer.commands()[0], "LHLO client.test");
    assert!(out.iter().all(|o| o.remote_host == remote(peer.port())));
}

#[tokio::test]
async fn lmtp_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("envoi-relay-lmtp-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("lmtp.sock");
    let _ = std::fs::remove_file(&path);
    let peer = Peer::start_unix(&path, lmtp_script()).await;
    let relay = lmtp_relay(NextHop::lmtp_unix(&path));
    let out = attempt(&relay, &envelope(&["a@d.test", "full@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0", "452 4.2.2"]);
    assert_eq!(out[0].remote_host, Some(format!("unix:{}", path.display())));
    assert_eq!(
        peer.transactions()[0].data,
        b"Subject: test\r\n\r\nhello\r\n.\r\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn lmtp_peer_gone_after_some_replies() {
    let script = lmtp_script().after_data(|_| vec!["250 2.0.0 ok".to_owned(), "CLOSE".to_owned()]);
    let peer = Peer::start(script).await;
    let relay = lmtp_relay(NextHop::lmtp_tcp("127.0.0.1", peer.port()));
    let out = attempt(
        &relay,
        &envelope(&["a@d.test", "b@d.test", "c@d.test"], MESSAGE),
    )
    .await;
    // The first recipient's reply stands; the others lost theirs with the connection.
    assert_eq!(codes(&out), ["250 2.0.0", "451 4.4.2", "451 4.4.2"]);
}

/// The RCPT commands the peer received.
fn rcpt_commands(peer: &Peer) -> Vec<String> {
    peer.commands()
        .into_iter()
        .filter(|c| c.starts_with("RCPT"))
        .collect()
}

#[tokio::test]
async fn the_same_recipient_twice_gets_one_rcpt_and_one_delivery() {
    let peer = Peer::start(lmtp_script()).await;
    let relay = lmtp_relay(NextHop::lmtp_tcp("127.0.0.1", peer.port()));
    // Domains compare case-insensitively, local parts exactly.
    let env = envelope(&["a@d.test", "b@d.test", "a@D.TEST", "B@d.test"], MESSAGE);
    let out = attempt(&relay, &env).await;
    assert_eq!(
        rcpt_commands(&peer),
        [
            "RCPT TO:<a@d.test>",
            "RCPT TO:<b@d.test>",
            "RCPT TO:<B@d.test>"
        ]
    );
    assert_eq!(codes(&out), ["250 2.0.0"; 4]);
    assert_eq!(
        out[2], out[0],
        "the duplicate shares its first occurrence's outcome"
    );
}

#[tokio::test]
async fn end_to_end_through_the_queue_the_same_recipient_twice_is_one_rcpt() {
    use envoi_queue::{MemoryStore, Queue};
    let peer = Peer::start(lmtp_script()).await;
    let relay = lmtp_relay(NextHop::lmtp_tcp("127.0.0.1", peer.port()));
    let store = MemoryStore::new();
    let queue = Queue::builder(Arc::new(store.clone()), Arc::new(relay))
        .start()
        .await
        .unwrap();
    let ids = queue
        .enqueue(envelope(&["a@d.test", "a@D.test", "a@d.test"], MESSAGE))
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    for _ in 0..500 {
        if store.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(store.is_empty(), "the message was not delivered");
    assert_eq!(rcpt_commands(&peer), ["RCPT TO:<a@d.test>"]);
    assert_eq!(peer.transactions().len(), 1);
    queue.shutdown(Duration::from_secs(1)).await;
}
