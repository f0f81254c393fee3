//! Deadlines against slow clients: a command, a DATA section and a whole session each have a
//! bound in time, not only each read. Times are configured short and generous against each
//! other; the tests assert replies and closed connections, never how long anything took.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{assert_code, config, greeted, start};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

const TIMEOUT_REPLY: &str = "421 4.4.2 mx.test Timeout waiting for client, closing connection\r\n";

/// Writes `bytes` one octet every `every`, then stops; write errors (the server closed) end it.
async fn dribble(mut writer: OwnedWriteHalf, bytes: Vec<u8>, every: Duration) {
    for b in bytes {
        if writer.write_all(&[b]).await.is_err() {
            return;
        }
        tokio::time::sleep(every).await;
    }
}

#[tokio::test]
async fn a_dribbled_command_is_421_4_4_2_at_the_command_deadline() {
    let mut cfg = config();
    // Each octet comes well within this, the whole line never does.
    cfg.timeouts.command = Duration::from_millis(500);
    let server = start(cfg).await;
    let c = greeted(server.addr).await;
    let (reader, writer) = c.stream.into_split();
    let mut line = format!("NOOP {}", "x".repeat(95)).into_bytes();
    line.extend_from_slice(b"\r\n");
    let sender = tokio::spawn(dribble(writer, line, Duration::from_millis(25)));
    let mut c = common::Client::new(reader);
    assert_eq!(c.reply().await, TIMEOUT_REPLY);
    assert_eq!(c.rest().await, "");
    sender.abort();
}

#[tokio::test]
async fn a_trickled_data_section_is_421_4_4_2() {
    let mut cfg = config();
    cfg.timeouts.data = Duration::from_millis(500);
    cfg.timeouts.min_data_rate = 1000;
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    c.envelope("a@src.test", "b@example.org").await;
    c.cmd("DATA").await;
    let (reader, writer) = c.stream.into_split();
    // 40 octets a second against a minimum of 1000: the budget runs out.
    let mut body = "x".repeat(100).into_bytes();
    body.extend_from_slice(b"\r\n.\r\n");
    let sender = tokio::spawn(dribble(writer, body, Duration::from_millis(25)));
    let mut c = common::Client::new(reader);
    assert_eq!(c.reply().await, TIMEOUT_REPLY);
    assert_eq!(c.rest().await, "");
    sender.abort();
    assert!(server.handoff.stored().is_empty());
}

#[tokio::test]
async fn data_slower_than_the_timeout_but_above_the_minimum_rate_is_accepted() {
    let mut cfg = config();
    cfg.timeouts.data = Duration::from_millis(400);
    cfg.timeouts.min_data_rate = 1000;
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    c.envelope("a@src.test", "b@example.org").await;
    c.cmd("DATA").await;
    // Ten lines of 1000 octets, one every 100 ms: a second in all, far above 1000 octets/s.
    let line = format!("{}\r\n", "y".repeat(998));
    for _ in 0..10 {
        c.send(line.as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.send(b".\r\n").await;
    assert_code(&c.reply().await, "250 2.6.0");
    assert_eq!(server.handoff.stored().len(), 1);
}

#[tokio::test]
async fn a_session_longer_than_its_limit_is_421_4_4_2() {
    let mut cfg = config();
    cfg.timeouts.session = Duration::from_millis(500);
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    // Busy but never slow: only the session limit can end this.
    let mut ended = None;
    for _ in 0..200 {
        let reply = c.cmd("NOOP").await;
        if reply != "250 2.0.0 OK\r\n" {
            ended = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        ended.as_deref(),
        Some("421 4.4.2 mx.test Session time limit reached, closing connection\r\n")
    );
    assert_eq!(c.rest().await, "");
}

#[tokio::test]
async fn a_trickled_bdat_chunk_is_421_4_4_2() {
    let mut cfg = config();
    cfg.timeouts.data = Duration::from_millis(500);
    cfg.timeouts.min_data_rate = 1000;
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    c.envelope("a@src.test", "b@example.org").await;
    c.send(b"BDAT 102 LAST\r\n").await;
    let (reader, writer) = c.stream.into_split();
    let mut chunk = "x".repeat(100).into_bytes();
    chunk.extend_from_slice(b"\r\n");
    let sender = tokio::spawn(dribble(writer, chunk, Duration::from_millis(25)));
    let mut c = common::Client::new(reader);
    assert_eq!(c.reply().await, TIMEOUT_REPLY);
    assert_eq!(c.rest().await, "");
    sender.abort();
    assert!(server.handoff.stored().is_empty());
}
