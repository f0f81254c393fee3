//! MTA-STS in the relay: the TLS policy an `enforce` policy imposes, and which pooled
//! connections it may use. Policies are served over HTTPS by a task of the test, with the
//! same test CA as the MX host's certificate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use envoi_relay::{RelayConfig, SmtpRelay, StaticResolver, Timeouts, TlsPolicy};
use envoi_types::{AppliedTls, TlsReport};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `policy` to every request; counts them.
async fn policy_server(ca: &TestCa, policy: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let (acceptor, served) = (ca.acceptor.clone(), count.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && tls.read(&mut byte).await.unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            served.fetch_add(1, Ordering::SeqCst);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{policy}",
                policy.len()
            );
            let _ = tls.write_all(response.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    });
    (port, count)
}

/// MX delivery where `open.test` publishes no policy and `sts.test` and `other.test` publish
/// the one the server at `https_port` serves; the first two use `mx.test`, `other.test` uses
/// `mx.other.test` (both 127.0.0.1, the peer at `mx_port`).
fn mx_relay(mx_port: u16, https_port: u16, ca: &TestCa) -> SmtpRelay {
    mx_relay_with(mx_port, https_port, ca, |_| {})
}

/// [`mx_relay`] with the configuration adjusted by `adjust`.
fn mx_relay_with(
    mx_port: u16,
    https_port: u16,
    ca: &TestCa,
    adjust: impl FnOnce(&mut RelayConfig),
) -> SmtpRelay {
    let mut config = RelayConfig {
        mx_port,
        helo_name: "client.test".into(),
        timeouts: Timeouts::all(Duration::from_secs(5)),
        ..RelayConfig::default()
    };
    config.tls.default_policy = TlsPolicy::Opportunistic;
    config.tls.extra_roots.push(ca.ca_der.clone());
    config.tls.only_extra_roots = true;
    config.mta_sts.https_port = https_port;
    let dns = StaticResolver::new()
        .with_mx("open.test", 10, "mx.test")
        .with_mx("sts.test", 10, "mx.test")
        .with_mx("other.test", 10, "mx.other.test")
        .with_a("mx.test", Ipv4Addr::LOCALHOST)
        .with_a("mx.other.test", Ipv4Addr::LOCALHOST)
        .with_txt("_mta-sts.sts.test", "v=STSv1; id=20260101")
        .with_txt("_mta-sts.other.test", "v=STSv1; id=1")
        .with_a("mta-sts.sts.test", Ipv4Addr::LOCALHOST)
        .with_a("mta-sts.other.test", Ipv4Addr::LOCALHOST);
    adjust(&mut config);
    SmtpRelay::new(config, Arc::new(dns)).unwrap()
}

const ENFORCE: &str = "version: STSv1\nmode: enforce\nmx: mx.test\nmax_age: 86400\n";

#[tokio::test]
async fn enforce_never_reuses_a_connection_opened_under_a_weaker_policy() {
    let ca = test_ca(&["mx.test", "mta-sts.sts.test", "mta-sts.other.test"]);
    let peer = Peer::start(Script {
        tls: Some(ca.acceptor.clone()),
        ..Script::default()
    })
    .await;
    let (https, fetches) = policy_server(&ca, ENFORCE).await;
    let relay = mx_relay(peer.port(), https, &ca);

    let out = attempt(&relay, &envelope(&["a@open.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    let opportunistic = TlsReport {
        policy: AppliedTls::Opportunistic,
        verified: true,
    };
    assert_eq!(
        out[0].tls,
        Some(opportunistic),
        "verified, though not required"
    );
    assert_eq!(relay.idle_connections(), 1);

    let out = attempt(&relay, &envelope(&["b@sts.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    let enforced = TlsReport {
        policy: AppliedTls::MtaSts,
        verified: true,
    };
    assert_eq!(out[0].tls, Some(enforced));
    assert_eq!(
        peer.connections(),
        2,
        "the opportunistic connection was not reused"
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    // The next delivery under the same policy reuses its own connection, and the cache.
    let out = attempt(&relay, &envelope(&["c@sts.test"], MESSAGE)).await;
    assert_eq!(out[0].tls, Some(enforced));
    assert_eq!(peer.connections(), 2);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn enforce_without_a_matching_mx_is_4_7_5_and_connects_nowhere() {
    let ca = test_ca(&["mx.test", "mta-sts.other.test"]);
    let peer = Peer::start(Script::default()).await;
    let (https, _) = policy_server(&ca, ENFORCE).await;
    let relay = mx_relay(peer.port(), https, &ca);
    let out = attempt(&relay, &envelope(&["a@other.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.7.5"]);
    assert_eq!(out[0].tls, None);
    assert_eq!(peer.connections(), 0);
}

#[tokio::test]
async fn enforce_towards_a_host_without_starttls_is_4_7_5_never_clear_text() {
    let ca = test_ca(&["mx.test", "mta-sts.sts.test"]);
    let peer = Peer::start(Script::default()).await;
    let (https, _) = policy_server(&ca, ENFORCE).await;
    let relay = mx_relay(peer.port(), https, &ca);
    let out = attempt(&relay, &envelope(&["a@sts.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["454 4.7.5"]);
    assert!(!peer.commands().iter().any(|c| c.starts_with("MAIL")));
}

#[tokio::test]
async fn a_tls_domains_entry_overrides_the_published_policy() {
    let ca = test_ca(&["mx.other.test", "mta-sts.other.test"]);
    let peer = Peer::start(Script {
        tls: Some(ca.acceptor.clone()),
        ..Script::default()
    })
    .await;
    let (https, fetches) = policy_server(&ca, ENFORCE).await;
    let relay = mx_relay_with(peer.port(), https, &ca, |config| {
        config
            .tls
            .per_domain
            .insert("other.test".into(), TlsPolicy::Opportunistic);
    });
    // The policy names mx.test only; the administrator's entry makes mx.other.test usable.
    let out = attempt(&relay, &envelope(&["a@other.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    let report = TlsReport {
        policy: AppliedTls::Opportunistic,
        verified: true,
    };
    assert_eq!(out[0].tls, Some(report));
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        0,
        "the policy is not even fetched"
    );
}
