//! Which host's failure decides when no host of a next hop carries the transaction: a message
//! fails for good only when every host refused it for good (5xx); any transient failure on any
//! host (a refused connection, a 4xx greeting) leaves it for a later attempt. Several hosts on
//! loopback addresses through the test resolver.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use envoi_relay::{RelayConfig, SmtpRelay, StaticResolver, Timeouts, TlsPolicy};
use support::*;

/// MX delivery on `port` with the given DNS table.
fn mx_relay(port: u16, dns: StaticResolver) -> SmtpRelay {
    let mut config = RelayConfig {
        helo_name: "client.test".into(),
        mx_port: port,
        timeouts: Timeouts::all(Duration::from_secs(5)),
        ..RelayConfig::default()
    };
    config.tls.default_policy = TlsPolicy::None;
    SmtpRelay::new(config, Arc::new(dns)).unwrap()
}

fn greeting(banner: &str) -> Script {
    Script {
        banner: banner.into(),
        ..Script::default()
    }
}

/// Peers on 127.0.0.2, 127.0.0.3, ... sharing one port, one per script; 127.0.0.9 on that
/// port refuses connections.
async fn peers(scripts: Vec<Script>) -> (u16, Vec<Peer>) {
    let mut port = 0;
    let mut started = Vec::new();
    for (i, script) in scripts.into_iter().enumerate() {
        let peer = Peer::start_on(&format!("127.0.0.{}:{port}", i + 2), script).await;
        port = peer.port();
        started.push(peer);
    }
    (port, started)
}

const REFUSING: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);

fn loopback(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// `dest.test` with the given (preference, address) MX hosts, named mx1, mx2, ...
fn mx_table(hosts: &[(u16, Ipv4Addr)]) -> StaticResolver {
    let mut dns = StaticResolver::new();
    for (i, (preference, ip)) in hosts.iter().enumerate() {
        let name = format!("mx{}.dest.test", i + 1);
        dns = dns
            .with_mx("dest.test", *preference, &name)
            .with_a(&name, *ip);
    }
    dns
}

#[tokio::test]
async fn refused_connection_then_5xx_greeting_is_transient() {
    let (port, _peers) = peers(vec![greeting("554 5.7.1 go away")]).await;
    let dns = mx_table(&[(10, REFUSING), (20, loopback(2))]);
    let out = attempt(&mx_relay(port, dns), &envelope(&["a@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.4.1"]);
}

#[tokio::test]
async fn refusing_greeting_then_refused_connection_is_transient() {
    let (port, _peers) = peers(vec![greeting("554 5.7.1 go away")]).await;
    let dns = mx_table(&[(10, loopback(2)), (20, REFUSING)]);
    let out = attempt(&mx_relay(port, dns), &envelope(&["a@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.4.1"]);
}

#[tokio::test]
async fn transient_and_permanent_greetings_in_either_order_are_transient() {
    for order in [[2, 3], [3, 2]] {
        let (port, _peers) = peers(vec![
            greeting("421 4.3.2 busy"),
            greeting("554 5.7.1 go away"),
        ])
        .await;
        let dns = mx_table(&[(10, loopback(order[0])), (20, loopback(order[1]))]);
        let out = attempt(&mx_relay(port, dns), &envelope(&["a@dest.test"], MESSAGE)).await;
        assert_eq!(codes(&out), ["421 4.3.2"], "hosts tried in order {order:?}");
        assert_eq!(
            out[0].remote_host,
            Some(format!(
                "mx{}.dest.test[127.0.0.2]:{port}",
                order.iter().position(|&n| n == 2).unwrap() + 1
            ))
        );
    }
}

#[tokio::test]
async fn every_host_5xx_is_permanent() {
    let (port, _peers) = peers(vec![
        greeting("554 5.7.1 go away"),
        greeting("554 5.3.2 not accepting mail"),
    ])
    .await;
    let dns = mx_table(&[(10, loopback(2)), (20, loopback(3))]);
    let out = attempt(&mx_relay(port, dns), &envelope(&["a@dest.test"], MESSAGE)).await;
    assert_eq!(
        codes(&out),
        ["554 5.3.2"],
        "the last host's refusal is reported"
    );
}

#[tokio::test]
async fn refusing_greeting_then_accepting_host_delivers() {
    let (port, peers) = peers(vec![greeting("554 5.7.1 go away"), Script::default()]).await;
    let dns = mx_table(&[(10, loopback(2)), (20, loopback(3))]);
    let out = attempt(&mx_relay(port, dns), &envelope(&["a@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(peers[1].transactions().len(), 1);
}

#[tokio::test]
async fn equal_preference_hosts_give_the_same_class_whatever_the_shuffle() {
    // One host refuses the connection, the other greets 554; the MX order among equal
    // preferences is random, the outcome must not be.
    for _ in 0..8 {
        let (port, _peers) = peers(vec![greeting("554 5.7.1 go away")]).await;
        let dns = mx_table(&[(10, REFUSING), (10, loopback(2))]);
        let out = attempt(&mx_relay(port, dns), &envelope(&["a@dest.test"], MESSAGE)).await;
        assert_eq!(codes(&out), ["451 4.4.1"]);
    }
}

#[tokio::test]
async fn a_rcpt_refusal_from_a_host_that_took_the_session_is_the_answer() {
    let refusing = Script::default().rcpt(|_, _| "550 5.1.1 no such user".to_owned());
    let (port, peers) = peers(vec![refusing, Script::default()]).await;
    let dns = mx_table(&[(10, loopback(2)), (20, loopback(3))]);
    let out = attempt(&mx_relay(port, dns), &envelope(&["a@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["550 5.1.1"]);
    assert_eq!(peers[1].connections(), 0, "the next host is not asked");
}

#[tokio::test]
async fn through_the_queue_a_refused_host_and_a_5xx_host_defer_and_bounce_nothing() {
    use envoi_queue::{MemoryStore, Queue, Storage};
    use envoi_types::RecipientState;
    let (port, _peers) = peers(vec![greeting("554 5.7.1 go away")]).await;
    let dns = mx_table(&[(10, REFUSING), (20, loopback(2))]);
    let store = MemoryStore::new();
    let queue = Queue::builder(Arc::new(store.clone()), Arc::new(mx_relay(port, dns)))
        .start()
        .await
        .unwrap();
    let ids = queue
        .enqueue(envelope(&["a@dest.test"], MESSAGE))
        .await
        .unwrap();
    let mut info = None;
    for _ in 0..500 {
        info = store.info(ids[0]).await.unwrap();
        if info.as_ref().is_some_and(|i| i.attempts > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let info = info.expect("the message is still queued");
    assert_eq!(info.attempts, 1);
    assert_eq!(info.recipients[0].state, RecipientState::Pending);
    assert_eq!(
        info.recipients[0].last_reply.as_ref().map(|r| r.code),
        Some(451)
    );
    assert_eq!(store.len(), 1, "no bounce was queued");
    queue.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn outcomes_say_whether_the_remote_host_wrote_the_reply() {
    use envoi_queue::ReplyOrigin;
    let (port, _peers) = peers(vec![
        greeting("554 5.7.1 go away"),
        Script::default().rcpt(|_, _| "550 5.1.1 no such user".to_owned()),
    ])
    .await;
    let relay = |hosts: &[(u16, Ipv4Addr)]| mx_relay(port, mx_table(hosts));
    let one = |relay: SmtpRelay| async move {
        attempt(&relay, &envelope(&["a@dest.test"], MESSAGE))
            .await
            .remove(0)
    };

    let refused = one(relay(&[(10, REFUSING)])).await;
    assert_eq!(refused.reply.code, 451);
    assert_eq!(refused.origin, ReplyOrigin::Local);
    assert_eq!(
        refused.remote_host,
        Some(format!("mx1.dest.test[127.0.0.9]:{port}"))
    );

    let greeted = one(relay(&[(10, loopback(2))])).await;
    assert_eq!(greeted.reply.code, 554);
    assert_eq!(greeted.origin, ReplyOrigin::Remote);

    let rcpt = one(relay(&[(10, loopback(3))])).await;
    assert_eq!(rcpt.reply.code, 550);
    assert_eq!(rcpt.origin, ReplyOrigin::Remote);

    let dns = StaticResolver::new().with_nxdomain("dest.test");
    let unknown = one(mx_relay(port, dns)).await;
    assert_eq!(unknown.reply.code, 550);
    assert_eq!(unknown.origin, ReplyOrigin::Local);
    assert_eq!(unknown.remote_host, None);
}
