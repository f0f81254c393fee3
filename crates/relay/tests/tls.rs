//! STARTTLS policy per destination: none, opportunistic, required with verification.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use envoi_relay::{NextHop, RelayConfig, SmtpRelay, StaticResolver, Timeouts, TlsPolicy};
use support::*;

/// A relay to `mx.test:port` (resolved to 127.0.0.1) with the policy, trusting `ca`.
fn tls_relay(port: u16, policy: TlsPolicy, ca: Option<&TestCa>) -> SmtpRelay {
    let mut config = RelayConfig::smarthost(NextHop::smtp("mx.test", port).with_tls(policy));
    config.helo_name = "client.test".into();
    config.timeouts = Timeouts::all(Duration::from_secs(5));
    if let Some(ca) = ca {
        config.tls.extra_roots.push(ca.ca_der.clone());
        config.tls.only_extra_roots = true;
    }
    let dns = StaticResolver::new().with_a("mx.test", Ipv4Addr::LOCALHOST);
    SmtpRelay::new(config, Arc::new(dns)).unwrap()
}

#[tokio::test]
async fn starttls_required_towards_a_peer_without_it_is_4_7_5() {
    let peer = Peer::start(Script::default()).await;
    let relay = tls_relay(peer.port(), TlsPolicy::Required, None);
    let out = attempt(&relay, &envelope(&["a@d.test", "b@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["454 4.7.5", "454 4.7.5"]);
    assert_eq!(
        out[0].remote_host,
        Some(format!("mx.test[127.0.0.1]:{}", peer.port()))
    );
    // Nothing of the message went out in clear text.
    assert!(!peer.commands().iter().any(|c| c.starts_with("MAIL")));
}

#[tokio::test]
async fn starttls_required_with_a_trusted_certificate_delivers_inside_tls() {
    let ca = test_ca(&["mx.test"]);
    let peer = Peer::start(Script {
        tls: Some(ca.acceptor.clone()),
        ..Script::default()
    })
    .await;
    let relay = tls_relay(peer.port(), TlsPolicy::Required, Some(&ca));
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(peer.log.lock().unwrap().tls_sessions, 1);
    // EHLO, STARTTLS, then EHLO again inside TLS before the transaction.
    let commands = peer.commands();
    assert_eq!(
        &commands[..3],
        ["EHLO client.test", "STARTTLS", "EHLO client.test"]
    );
    assert_eq!(peer.transactions().len(), 1);
}

#[tokio::test]
async fn starttls_required_with_an_untrusted_certificate_is_4_7_5() {
    let ca = test_ca(&["mx.test"]);
    let other = test_ca(&["mx.test"]);
    let peer = Peer::start(Script {
        tls: Some(ca.acceptor.clone()),
        ..Script::default()
    })
    .await;
    let relay = tls_relay(peer.port(), TlsPolicy::Required, Some(&other));
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["454 4.7.5"]);
    assert!(peer.transactions().is_empty());
}

#[tokio::test]
async fn starttls_required_with_a_certificate_for_another_name_is_4_7_5() {
    let ca = test_ca(&["other.test"]);
    let peer = Peer::start(Script {
        tls: Some(ca.acceptor.clone()),
        ..Script::default()
    })
    .await;
    let relay = tls_relay(peer.port(), TlsPolicy::Required, Some(&ca));
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["454 4.7.5"]);
    assert!(peer.transactions().is_empty());
}

#[tokio::test]
async fn opportunistic_uses_tls_with_any_certificate() {
    let ca = test_ca(&["whatever.invalid"]);
    let peer = Peer::start(Script {
        tls: Some(ca.acceptor.clone()),
        ..Script::default()
    })
    .await;
    let relay = tls_relay(peer.port(), TlsPolicy::Opportunistic, None);
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(peer.log.lock().unwrap().tls_sessions, 1);
    assert_eq!(peer.transactions().len(), 1);
}

#[tokio::test]
async fn opportunistic_without_starttls_delivers_in_clear() {
    let peer = Peer::start(Script::default()).await;
    let relay = tls_relay(peer.port(), TlsPolicy::Opportunistic, None);
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert!(!peer.commands().contains(&"STARTTLS".to_owned()));
}

#[tokio::test]
async fn policy_none_never_sends_starttls() {
    let ca = test_ca(&["mx.test"]);
    let peer = Peer::start(Script {
        tls: Some(ca.acceptor.clone()),
        ..Script::default()
    })
    .await;
    let relay = tls_relay(peer.port(), TlsPolicy::None, None);
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert!(!peer.commands().contains(&"STARTTLS".to_owned()));
    assert_eq!(peer.log.lock().unwrap().tls_sessions, 0);
}

#[tokio::test]
async fn per_domain_policy_applies_to_mx_delivery() {
    let peer = Peer::start(Script::default()).await;
    let dns = StaticResolver::new()
        .with_mx("strict.test", 10, "mx.test")
        .with_mx("lax.test", 10, "mx.test")
        .with_a("mx.test", Ipv4Addr::LOCALHOST);
    let mut config = RelayConfig {
        mx_port: peer.port(),
        timeouts: Timeouts::all(Duration::from_secs(5)),
        ..RelayConfig::default()
    };
    config
        .tls
        .per_domain
        .insert("strict.test".into(), TlsPolicy::Required);
    let relay = SmtpRelay::new(config, Arc::new(dns)).unwrap();
    let out = attempt(&relay, &envelope(&["a@strict.test", "b@lax.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["454 4.7.5", "250 2.0.0"]);
}

#[tokio::test]
async fn opportunistic_tls_that_breaks_falls_back_to_clear_text() {
    let peer = Peer::start(Script {
        broken_tls: true,
        ..Script::default()
    })
    .await;
    let relay = tls_relay(peer.port(), TlsPolicy::Opportunistic, None);
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(peer.connections(), 2);
    assert_eq!(
        peer.commands().iter().filter(|c| *c == "STARTTLS").count(),
        1
    );
    assert_eq!(peer.transactions().len(), 1);
}

#[tokio::test]
async fn required_tls_that_breaks_is_4_7_5() {
    let peer = Peer::start(Script {
        broken_tls: true,
        ..Script::default()
    })
    .await;
    let relay = tls_relay(peer.port(), TlsPolicy::Required, None);
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["454 4.7.5"]);
    assert_eq!(peer.connections(), 1);
}
