//! The client's name at connect: a forward-confirmed PTR lookup through the caller's
//! [`ReverseDns`], logged as `name[addr]` (`unknown[addr]` without one) and shown in the
//! Received header; a name server that does not answer delays the greeting by the timeout at
//! most. No real DNS: every resolver here is a stub.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::log::Captured;
use common::{config, greeted, start_with, TestServer, SAFETY};
use envoi_edge::{ListenMode, ReverseDns};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A fixed table: PTR names of 127.0.0.1, and address records by name.
struct Table {
    names: Vec<&'static str>,
    addresses: Vec<(&'static str, IpAddr)>,
}

#[async_trait]
impl ReverseDns for Table {
    async fn names(&self, ip: IpAddr) -> Vec<String> {
        assert_eq!(ip, LOOPBACK);
        self.names.iter().map(|n| (*n).to_owned()).collect()
    }
    async fn addresses(&self, name: &str) -> Vec<IpAddr> {
        let found = self.addresses.iter().filter(|(n, _)| *n == name);
        found.map(|(_, ip)| *ip).collect()
    }
}

/// A name server that never answers.
struct Silent;

#[async_trait]
impl ReverseDns for Silent {
    async fn names(&self, _ip: IpAddr) -> Vec<String> {
        std::future::pending().await
    }
    async fn addresses(&self, _name: &str) -> Vec<IpAddr> {
        std::future::pending().await
    }
}

async fn serve_with(dns: Arc<dyn ReverseDns>) -> TestServer {
    let mut cfg = config();
    cfg.timeouts.reverse_dns = Duration::from_millis(300);
    start_with(cfg, ListenMode::Plain, move |b| b.reverse_dns(dns)).await
}

/// Connects, sends one message, quits; returns the connect line and the Received header.
async fn session(server: &TestServer, log: &Captured) -> (String, String) {
    let mut c = tokio::time::timeout(SAFETY, greeted(server.addr))
        .await
        .expect("the greeting arrives");
    c.envelope("a@src.test", "b@example.org").await;
    c.cmd("DATA").await;
    c.send(b"Subject: t\r\n\r\nhi\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250 "));
    c.cmd("QUIT").await;
    let connect = log.lines("connect");
    assert_eq!(connect.len(), 1, "{}", log.text());
    let stored = server.handoff.stored();
    let body = String::from_utf8(stored[0].message.bytes().to_vec()).unwrap();
    let received = body.lines().next().unwrap().to_owned();
    (connect[0].clone(), received)
}

fn assert_client(connect: &str, received: &str, name: &str, tcp_info: &str) {
    assert!(
        connect.contains(&format!("client={name}[127.0.0.1] port=")),
        "{connect}"
    );
    assert!(
        received.starts_with(&format!(
            "Received: from client.test ({tcp_info}) by mx.test"
        )),
        "{received}"
    );
}

#[tokio::test]
async fn a_confirmed_name_is_logged_and_shown_in_the_received_header() {
    let log = Captured::default();
    let _guard = log.install();
    let dns = Table {
        names: vec!["Mail.Client.TEST."],
        addresses: vec![("mail.client.test", LOOPBACK)],
    };
    let server = serve_with(Arc::new(dns)).await;
    let (connect, received) = session(&server, &log).await;
    assert_client(
        &connect,
        &received,
        "mail.client.test",
        "mail.client.test [127.0.0.1]",
    );
}

#[tokio::test]
async fn without_a_ptr_record_the_client_is_unknown() {
    let log = Captured::default();
    let _guard = log.install();
    let dns = Table {
        names: vec![],
        addresses: vec![],
    };
    let server = serve_with(Arc::new(dns)).await;
    let (connect, received) = session(&server, &log).await;
    assert_client(&connect, &received, "unknown", "[127.0.0.1]");
}

#[tokio::test]
async fn a_name_that_does_not_map_back_to_the_client_is_unknown() {
    let log = Captured::default();
    let _guard = log.install();
    let dns = Table {
        names: vec!["forged.bank.test", "bad\u{1b}name.test"],
        addresses: vec![("forged.bank.test", IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))],
    };
    let server = serve_with(Arc::new(dns)).await;
    let (connect, received) = session(&server, &log).await;
    assert_client(&connect, &received, "unknown", "[127.0.0.1]");
}

#[tokio::test]
async fn a_name_server_that_never_answers_delays_the_greeting_by_the_timeout_only() {
    let log = Captured::default();
    let _guard = log.install();
    let server = serve_with(Arc::new(Silent)).await;
    let (connect, received) = session(&server, &log).await;
    assert_client(&connect, &received, "unknown", "[127.0.0.1]");
}

#[tokio::test]
async fn without_a_resolver_there_is_no_lookup_and_the_client_is_unknown() {
    let log = Captured::default();
    let _guard = log.install();
    let server = start_with(config(), ListenMode::Plain, |b| b).await;
    let (connect, received) = session(&server, &log).await;
    assert_client(&connect, &received, "unknown", "[127.0.0.1]");
}
