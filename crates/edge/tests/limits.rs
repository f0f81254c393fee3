//! Timeouts, connection limits and graceful shutdown. Timeouts are configured short; the tests
//! assert the replies, never how long anything took.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{assert_code, config, connect, greeted, start, SAFETY};

#[tokio::test]
async fn command_timeout_is_421_4_4_2_and_close() {
    let mut cfg = config();
    cfg.timeouts.command = Duration::from_millis(100);
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    assert_eq!(
        c.rest().await,
        "421 4.4.2 mx.test Timeout waiting for client, closing connection\r\n"
    );
}

#[tokio::test]
async fn data_timeout_is_421_4_4_2_and_nothing_is_stored() {
    let mut cfg = config();
    cfg.timeouts.data = Duration::from_millis(100);
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    c.envelope("a@src.test", "b@example.org").await;
    c.cmd("DATA").await;
    c.send(b"Subject: half a message\r\n").await;
    assert_eq!(
        c.rest().await,
        "421 4.4.2 mx.test Timeout waiting for client, closing connection\r\n"
    );
    assert!(server.handoff.stored().is_empty());
}

#[tokio::test]
async fn per_ip_connection_limit_is_421_4_7_0() {
    let mut cfg = config();
    cfg.limits.max_connections_per_ip = 1;
    let server = start(cfg).await;
    let mut first = greeted(server.addr).await;
    let mut second = connect(server.addr).await;
    assert_eq!(
        second.rest().await,
        "421 4.7.0 mx.test Too many connections, try again later\r\n"
    );
    // The first is unaffected, and once it leaves a new connection is welcome.
    assert_eq!(
        first.cmd("QUIT").await,
        "221 2.0.0 mx.test closing connection\r\n"
    );
    first.rest().await;
    let mut third = None;
    // The slot is released when the session task ends, just after the close; retry a bounded
    // number of times rather than sleep.
    for _ in 0..50 {
        let mut c = connect(server.addr).await;
        let banner = c.reply().await;
        if banner.starts_with("220 ") {
            third = Some(c);
            break;
        }
        assert_code(&banner, "421 4.7.0");
        tokio::task::yield_now().await;
    }
    assert!(third.is_some(), "slot never released");
}

#[tokio::test]
async fn global_connection_limit_is_421_4_7_0() {
    let mut cfg = config();
    cfg.limits.max_connections = 2;
    let server = start(cfg).await;
    let _a = greeted(server.addr).await;
    let _b = greeted(server.addr).await;
    let mut c = connect(server.addr).await;
    assert_code(&c.rest().await, "421 4.7.0");
}

#[tokio::test]
async fn shutdown_closes_idle_sessions_with_421_and_lets_transactions_finish() {
    let server = start(config()).await;
    let mut idle = greeted(server.addr).await;
    idle.cmd("EHLO idle.test").await;
    let mut busy = greeted(server.addr).await;
    busy.envelope("a@src.test", "b@example.org").await;
    server.shutdown.cancel();
    assert_eq!(
        idle.rest().await,
        "421 4.3.2 mx.test Service shutting down, closing connection\r\n"
    );
    // New connections are no longer accepted.
    let refused = tokio::net::TcpStream::connect(server.addr).await;
    if let Ok(stream) = refused {
        let mut c = common::Client::new(stream);
        assert_eq!(
            c.rest().await,
            "",
            "a connection after shutdown must not be served"
        );
    }
    // The open transaction completes.
    assert_eq!(
        busy.cmd("DATA").await,
        "354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    busy.send(b"x\r\n.\r\n").await;
    assert_code(&busy.reply().await, "250 2.6.0");
    assert_code(&busy.rest().await, "421 4.3.2");
    assert_eq!(server.handoff.stored().len(), 1);
    let result = tokio::time::timeout(SAFETY, server.task)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok());
}

#[tokio::test]
async fn shutdown_grace_ends_a_stalled_transaction_with_421() {
    let mut cfg = config();
    cfg.timeouts.shutdown_grace = Duration::from_millis(100);
    let server = start(cfg).await;
    let mut busy = greeted(server.addr).await;
    busy.envelope("a@src.test", "b@example.org").await;
    busy.cmd("DATA").await;
    busy.send(b"Subject: never finished\r\n").await;
    server.shutdown.cancel();
    assert_eq!(
        busy.rest().await,
        "421 4.3.2 mx.test Service shutting down, closing connection\r\n"
    );
    assert!(server.handoff.stored().is_empty());
    let result = tokio::time::timeout(SAFETY, server.task)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok());
}

#[tokio::test]
async fn memory_budget_spent_is_452_4_3_1_and_released_after() {
    let mut cfg = config();
    cfg.limits.max_buffered_bytes = 4096;
    let server = start(cfg).await;
    let mut a = greeted(server.addr).await;
    a.envelope("a@src.test", "b@example.org").await;
    // A holds 3000 octets (three of the four KiB units) of an unfinished BDAT message.
    // (BDAT content follows DATA's line rules: lines of 100 octets.)
    let text = |c: &str| format!("{}\r\n", c.repeat(98)).repeat(30);
    a.send(format!("BDAT 3000\r\n{}", text("a")).as_bytes())
        .await;
    assert_eq!(a.reply().await, "250 2.0.0 3000 octets received\r\n");

    let mut b = greeted(server.addr).await;
    b.envelope("a@src.test", "b@example.org").await;
    b.cmd("DATA").await;
    // 4000 octets of proper lines: more than the one unit left.
    let lines = format!("{}\r\n", "b".repeat(98)).repeat(40);
    b.send(format!("{lines}.\r\n").as_bytes()).await;
    assert_eq!(
        b.reply().await,
        "452 4.3.1 Insufficient system resources, try again later\r\n"
    );
    b.cmd("MAIL FROM:<a@src.test>").await;
    b.cmd("RCPT TO:<b@example.org>").await;
    // The refused chunk is still read and discarded: the NOOP after it runs.
    b.send(format!("BDAT 2000 LAST\r\n{}NOOP\r\n", "b".repeat(2000)).as_bytes())
        .await;
    assert_code(&b.reply().await, "452 4.3.1");
    assert_eq!(b.reply().await, "250 2.0.0 OK\r\n");

    // A finishes; its memory goes back and B's next message fits.
    a.send(b"BDAT 0 LAST\r\n").await;
    assert_code(&a.reply().await, "250 2.6.0");
    b.cmd("MAIL FROM:<a@src.test>").await;
    b.cmd("RCPT TO:<b@example.org>").await;
    b.send(format!("BDAT 3000 LAST\r\n{}", text("c")).as_bytes())
        .await;
    assert_code(&b.reply().await, "250 2.6.0");
    assert_eq!(server.handoff.stored().len(), 2);
}

#[tokio::test]
async fn trusted_networks_are_exempt_from_the_per_ip_limit() {
    let mut cfg = config();
    cfg.limits.max_connections_per_ip = 1;
    cfg.trusted_networks = vec!["127.0.0.0/8".parse().unwrap()];
    let server = start(cfg).await;
    let _first = greeted(server.addr).await;
    let mut second = greeted(server.addr).await;
    assert_eq!(second.cmd("NOOP").await, "250 2.0.0 OK\r\n");
}

#[tokio::test]
async fn the_exemption_of_trusted_networks_can_be_turned_off() {
    let mut cfg = config();
    cfg.limits.max_connections_per_ip = 1;
    cfg.limits.per_ip_limit_exempts_trusted = false;
    cfg.trusted_networks = vec!["127.0.0.0/8".parse().unwrap()];
    let server = start(cfg).await;
    let _first = greeted(server.addr).await;
    let mut second = connect(server.addr).await;
    assert_code(&second.rest().await, "421 4.7.0");
}

#[tokio::test]
async fn trusted_clients_still_count_toward_the_global_limit() {
    let mut cfg = config();
    cfg.limits.max_connections = 1;
    cfg.trusted_networks = vec!["127.0.0.0/8".parse().unwrap()];
    let server = start(cfg).await;
    let _first = greeted(server.addr).await;
    let mut second = connect(server.addr).await;
    assert_code(&second.rest().await, "421 4.7.0");
}

#[tokio::test]
async fn the_message_limit_per_session_is_421_4_7_0_at_the_next_mail() {
    let mut cfg = config();
    cfg.limits.max_messages_per_session = 2;
    let server = start(cfg).await;
    let mut c = greeted(server.addr).await;
    c.cmd("EHLO client.test").await;
    for _ in 0..2 {
        c.cmd("MAIL FROM:<a@src.test>").await;
        c.cmd("RCPT TO:<b@example.org>").await;
        c.cmd("DATA").await;
        c.send(b"x\r\n.\r\n").await;
        assert_code(&c.reply().await, "250 2.6.0");
    }
    assert_eq!(c.cmd("NOOP").await, "250 2.0.0 OK\r\n");
    assert_eq!(
        c.cmd("MAIL FROM:<a@src.test>").await,
        "421 4.7.0 mx.test Too many messages in this session, closing connection\r\n"
    );
    assert_eq!(c.rest().await, "");
    assert_eq!(server.handoff.stored().len(), 2);
}
