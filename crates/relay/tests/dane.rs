//! DANE (RFC 7672) against real DNSSEC-signed zones: Knot DNS serves zones signed by
//! ldns-signzone on loopback (scripts/dane-test-zones builds them), the MX hosts are a
//! loopback SMTP peer with a self-signed certificate.
//!
//! Skips, and says so, when knotd or ldnsutils are missing (scripts/setup-test-peers
//! installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use envoi_relay::dane::Tlsa;
use envoi_relay::{
    Dane, DaneDecision, DaneSettings, HickoryResolver, RelayConfig, SmtpRelay, Timeouts, TlsPolicy,
};
use envoi_types::{AppliedTls, TlsReport};
use ring::digest;
use support::*;
use tokio_rustls::TlsAcceptor;

/// Knot serving the test zones; killed on drop.
struct Zones {
    knot: Child,
    server: SocketAddr,
    anchors: String,
    _dir: tempfile::TempDir,
}

impl Drop for Zones {
    fn drop(&mut self) {
        let _ = self.knot.kill();
        let _ = self.knot.wait();
    }
}

fn tool(name: &str) -> Option<String> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|dir| format!("{dir}/{name}"))
        .find(|path| Path::new(path).exists())
}

/// The zones with `good` as the TLSA record of the hosts that should match, or `None`
/// (the test then skips) when the tools are missing.
async fn zones(good: &Tlsa) -> Option<Zones> {
    let (Some(knotd), Some(_)) = (tool("knotd"), tool("ldns-signzone")) else {
        eprintln!("skipped: knotd or ldns-signzone not installed (scripts/setup-test-peers)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hex: String = good.data.iter().map(|b| format!("{b:02x}")).collect();
    let tlsa = format!("{} {} {} {hex}", good.usage, good.selector, good.matching);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/dane-test-zones");
    let built = Command::new(script)
        .arg(dir.path())
        .arg(port.to_string())
        .arg(tlsa)
        .output()
        .unwrap();
    assert!(built.status.success(), "{built:?}");
    let knot = Command::new(knotd)
        .arg("-c")
        .arg(dir.path().join("knot.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let anchors = std::fs::read_to_string(dir.path().join("anchors.zone")).unwrap();
    let zones = Zones {
        knot,
        server: SocketAddr::from(([127, 0, 0, 1], port)),
        anchors,
        _dir: dir,
    };
    assert!(wait_listening(port).await, "knotd did not start");
    Some(zones)
}

/// A self-signed server certificate, its acceptor and its `3 1 1` record.
fn server() -> (TlsAcceptor, Tlsa) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["mx.signed.dane.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let tlsa = Tlsa {
        usage: 3,
        selector: 1,
        matching: 1,
        data: digest::digest(&digest::SHA256, &key.public_key_der())
            .as_ref()
            .to_vec(),
    };
    (acceptor(&cert, &key), tlsa)
}

fn settings(zones: &Zones) -> DaneSettings {
    DaneSettings {
        enabled: None,
        trust_anchors: zones.anchors.clone(),
        name_servers: vec![zones.server],
    }
}

/// An MX relay asking Knot, MX hosts on `port`, DANE on, adjusted by `f`.
fn relay(zones: &Zones, port: u16, f: impl FnOnce(&mut RelayConfig)) -> SmtpRelay {
    let mut config = RelayConfig {
        mx_port: port,
        timeouts: Timeouts::all(Duration::from_secs(10)),
        dane: settings(zones),
        ..RelayConfig::default()
    };
    f(&mut config);
    let dns = HickoryResolver::new(&[zones.server]);
    SmtpRelay::new(config, Arc::new(dns)).unwrap()
}

#[tokio::test]
async fn decisions_follow_the_signed_records() {
    let (_, good) = server();
    let Some(zones) = zones(&good).await else {
        return;
    };
    let dane = Dane::new(&settings(&zones)).unwrap().unwrap();
    assert_eq!(
        dane.for_host("mx.signed.dane.test").await,
        DaneDecision::Authenticate(vec![good.clone()])
    );
    match dane.for_host("mx-bad.signed.dane.test").await {
        DaneDecision::Authenticate(records) => assert_eq!(records[0].data, vec![0; 32]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        dane.for_host("mx-pkix.signed.dane.test").await,
        DaneDecision::EncryptOnly
    );
    assert_eq!(
        dane.for_host("mx-notlsa.signed.dane.test").await,
        DaneDecision::NotApplicable
    );
    assert_eq!(
        dane.for_host("mx.unsigned.dane.test").await,
        DaneDecision::NotApplicable
    );
    match dane.for_host("mx.bogus.dane.test").await {
        DaneDecision::Defer(reason) => assert!(reason.contains("verifies the RRSIG"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // NSEC3: a match, a TLSA name that does not exist, one without TLSA records, and insecure
    // delegations proven by their NSEC3 (one in an opt-out zone; the span case is a unit test).
    assert_eq!(
        dane.for_host("mx.nsec3.dane.test").await,
        DaneDecision::Authenticate(vec![good.clone()])
    );
    for host in [
        "mx-notlsa.nsec3.dane.test",
        "mx-txt.nsec3.dane.test",
        "mx.child.nsec3.dane.test",
        "mx.child.optout.dane.test",
    ] {
        assert_eq!(
            dane.for_host(host).await,
            DaneDecision::NotApplicable,
            "{host}"
        );
    }
    // TLSA records synthesised from a wildcard, with NSEC and NSEC3 proof that no closer name
    // exists.
    for host in ["mx-wild.signed.dane.test", "mx-wild.nsec3.dane.test"] {
        assert_eq!(
            dane.for_host(host).await,
            DaneDecision::Authenticate(vec![good.clone()]),
            "{host}"
        );
    }
    // Outside every trust anchor: DANE does not apply.
    assert_eq!(
        dane.for_host("mx.example").await,
        DaneDecision::NotApplicable
    );
}

#[tokio::test]
async fn matching_tlsa_delivers_over_tls_and_a_mismatch_is_4_7_5() {
    let (acceptor, good) = server();
    let Some(zones) = zones(&good).await else {
        return;
    };
    let peer = Peer::start(Script {
        tls: Some(acceptor),
        ..Script::default()
    })
    .await;
    let relay = relay(&zones, peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@signed.dane.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    let authenticated = TlsReport {
        policy: AppliedTls::Dane,
        verified: true,
    };
    assert_eq!(
        out[0].tls,
        Some(authenticated),
        "reported as DANE, verified"
    );
    assert_eq!(peer.log.lock().unwrap().tls_sessions, 1);
    assert_eq!(peer.transactions().len(), 1);

    let out = attempt(&relay, &envelope(&["a@bad.signed.dane.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["454 4.7.5"]);
    let out = attempt(&relay, &envelope(&["a@bogus.dane.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["454 4.7.5"]);
    // Neither reached the peer's transaction, in TLS or out of it.
    assert_eq!(peer.transactions().len(), 1);
}

#[tokio::test]
async fn unsigned_and_unusable_records_deliver_and_the_override_wins() {
    let (acceptor, good) = server();
    let Some(zones) = zones(&good).await else {
        return;
    };
    let peer = Peer::start(Script {
        tls: Some(acceptor),
        ..Script::default()
    })
    .await;
    let relay = relay(&zones, peer.port(), |config| {
        config
            .tls
            .per_domain
            .insert("bad.signed.dane.test".into(), TlsPolicy::Opportunistic);
    });
    let recipients = [
        "a@unsigned.dane.test",
        "b@pkix.signed.dane.test",
        "c@bad.signed.dane.test",
    ];
    let out = attempt(&relay, &envelope(&recipients, MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0", "250 2.0.0", "250 2.0.0"]);
    assert_eq!(peer.transactions().len(), 3);
    let reports: Vec<_> = out
        .iter()
        .map(|o| o.tls.map(|t| (t.policy, t.verified)))
        .collect();
    assert_eq!(
        reports,
        [
            Some((AppliedTls::Opportunistic, false)),
            // Only unusable records: DANE makes TLS mandatory but cannot authenticate.
            Some((AppliedTls::Dane, false)),
            Some((AppliedTls::Opportunistic, false)),
        ]
    );
}

#[tokio::test]
async fn dane_without_starttls_is_4_7_5_never_clear_text() {
    let (_, good) = server();
    let Some(zones) = zones(&good).await else {
        return;
    };
    // No TLS at the peer: DANE's mandatory STARTTLS cannot be met; the unsigned domain still
    // gets its opportunistic clear-text delivery.
    let peer = Peer::start(Script::default()).await;
    let relay = relay(&zones, peer.port(), |_| {});
    let recipients = [
        "a@signed.dane.test",
        "b@pkix.signed.dane.test",
        "c@unsigned.dane.test",
    ];
    let out = attempt(&relay, &envelope(&recipients, MESSAGE)).await;
    assert_eq!(codes(&out), ["454 4.7.5", "454 4.7.5", "250 2.0.0"]);
    let transactions = peer.transactions();
    assert_eq!(transactions.len(), 1);
    assert_eq!(transactions[0].rcpts, ["c@unsigned.dane.test"]);
}

#[tokio::test]
async fn a_connection_pooled_under_another_policy_never_carries_dane_mail() {
    let (_, good) = server();
    let Some(zones) = zones(&good).await else {
        return;
    };
    // The peer's certificate verifies under the web PKI policy (a trusted test CA), but
    // does not match mx-bad's TLSA record.
    let ca = test_ca(&["mx-bad.signed.dane.test"]);
    let peer = Peer::start(Script {
        tls: Some(ca.acceptor.clone()),
        ..Script::default()
    })
    .await;
    // shared-bad and bad share the MX host mx-bad; shared-bad's own policy (required,
    // verified against the CA) overrides DANE.
    let relay = relay(&zones, peer.port(), |config| {
        config.tls.extra_roots.push(ca.ca_der.clone());
        config.tls.only_extra_roots = true;
        config
            .tls
            .per_domain
            .insert("shared-bad.signed.dane.test".into(), TlsPolicy::Required);
    });
    let out = attempt(
        &relay,
        &envelope(&["a@shared-bad.signed.dane.test"], MESSAGE),
    )
    .await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(relay.idle_connections(), 1);
    let out = attempt(&relay, &envelope(&["b@bad.signed.dane.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["454 4.7.5"]);
    // The pooled connection was not used for it: a second one was opened and failed DANE.
    assert_eq!(peer.connections(), 2);
    let transactions = peer.transactions();
    assert_eq!(transactions.len(), 1);
    assert_eq!(transactions[0].rcpts, ["a@shared-bad.signed.dane.test"]);
}

#[tokio::test]
async fn a_decision_is_reused_for_a_while_a_deferral_is_not() {
    let (_, good) = server();
    let Some(mut zones) = zones(&good).await else {
        return;
    };
    let dane = Dane::new(&settings(&zones)).unwrap().unwrap();
    assert_eq!(
        dane.for_host("mx.signed.dane.test").await,
        DaneDecision::Authenticate(vec![good.clone()])
    );
    assert!(matches!(
        dane.for_host("mx.bogus.dane.test").await,
        DaneDecision::Defer(_)
    ));
    // Without the name server, the remembered decision still holds; the deferral is asked
    // again, and fails now for want of an answer.
    zones.knot.kill().unwrap();
    zones.knot.wait().unwrap();
    assert_eq!(
        dane.for_host("MX.signed.dane.test.").await,
        DaneDecision::Authenticate(vec![good])
    );
    match dane.for_host("mx.bogus.dane.test").await {
        DaneDecision::Defer(reason) => assert!(!reason.contains("RRSIG"), "{reason}"),
        other => panic!("{other:?}"),
    }
}
