//! MX resolution through the fake resolver, the route table before MX, grouping by next hop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use envoi_relay::{NextHop, RelayConfig, SmtpRelay, StaticResolver, Timeouts, TlsPolicy};
use support::*;

/// MX delivery on `port` with the given DNS table.
fn mx_relay(port: u16, dns: StaticResolver, f: impl FnOnce(&mut RelayConfig)) -> SmtpRelay {
    let mut config = RelayConfig {
        helo_name: "client.test".into(),
        mx_port: port,
        timeouts: Timeouts::all(Duration::from_secs(5)),
        ..RelayConfig::default()
    };
    config.tls.default_policy = TlsPolicy::None;
    f(&mut config);
    SmtpRelay::new(config, Arc::new(dns)).unwrap()
}

#[tokio::test]
async fn first_mx_refusing_second_accepting_within_one_attempt() {
    let peer = Peer::start(Script::default()).await;
    // Same port on 127.0.0.2: nothing listens there, the connection is refused.
    let dns = StaticResolver::new()
        .with_mx("dest.test", 10, "mx1.dest.test")
        .with_mx("dest.test", 20, "mx2.dest.test")
        .with_a("mx1.dest.test", Ipv4Addr::new(127, 0, 0, 2))
        .with_a("mx2.dest.test", Ipv4Addr::LOCALHOST);
    let relay = mx_relay(peer.port(), dns, |_| {});
    let out = attempt(&relay, &envelope(&["a@dest.test", "b@DEST.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0", "250 2.0.0"]);
    let expected = Some(format!("mx2.dest.test[127.0.0.1]:{}", peer.port()));
    assert!(out.iter().all(|o| o.remote_host == expected));
    assert_eq!(peer.transactions().len(), 1);
}

#[tokio::test]
async fn all_mx_refusing_is_4_4_1_naming_the_last_tried() {
    let port = free_port();
    let dns = StaticResolver::new()
        .with_mx("dest.test", 10, "mx1.dest.test")
        .with_a("mx1.dest.test", Ipv4Addr::LOCALHOST);
    let relay = mx_relay(port, dns, |_| {});
    let out = attempt(&relay, &envelope(&["a@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.4.1"]);
    assert_eq!(
        out[0].remote_host,
        Some(format!("mx1.dest.test[127.0.0.1]:{port}"))
    );
}

#[tokio::test]
async fn no_mx_falls_back_to_a_record() {
    let peer = Peer::start(Script::default()).await;
    let dns = StaticResolver::new().with_a("plain.test", Ipv4Addr::LOCALHOST);
    let relay = mx_relay(peer.port(), dns, |_| {});
    let out = attempt(&relay, &envelope(&["a@plain.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(
        out[0].remote_host,
        Some(format!("plain.test[127.0.0.1]:{}", peer.port()))
    );
}

#[tokio::test]
async fn no_mx_falls_back_to_aaaa_record() {
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("skipped: no IPv6 loopback");
        return;
    };
    drop(listener);
    let peer = Peer::start_on("[::1]:0", Script::default()).await;
    let dns = StaticResolver::new().with_aaaa("six.test", Ipv6Addr::LOCALHOST);
    let relay = mx_relay(peer.port(), dns, |_| {});
    let out = attempt(&relay, &envelope(&["a@six.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(
        out[0].remote_host,
        Some(format!("six.test[::1]:{}", peer.port()))
    );
}

#[tokio::test]
async fn null_mx_is_permanent_5_1_10() {
    let dns = StaticResolver::new().with_null_mx("nomail.test");
    let relay = mx_relay(free_port(), dns, |_| {});
    let out = attempt(&relay, &envelope(&["a@nomail.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["556 5.1.10"]);
    assert_eq!(out[0].remote_host, None);
}

#[tokio::test]
async fn nxdomain_is_permanent_5_1_2() {
    let dns = StaticResolver::new().with_nxdomain("gone.test");
    let relay = mx_relay(free_port(), dns, |_| {});
    let out = attempt(
        &relay,
        &envelope(&["a@gone.test", "b@unknown.test"], MESSAGE),
    )
    .await;
    assert_eq!(codes(&out), ["550 5.1.2", "550 5.1.2"]);
}

#[tokio::test]
async fn domain_without_mx_or_address_is_5_1_2() {
    let dns = StaticResolver::new().with_no_records("empty.test");
    let relay = mx_relay(free_port(), dns, |_| {});
    let out = attempt(&relay, &envelope(&["a@empty.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["550 5.1.2"]);
}

#[tokio::test]
async fn servfail_is_transient_4_4_3() {
    let dns = StaticResolver::new().with_servfail("flaky.test");
    let relay = mx_relay(free_port(), dns, |_| {});
    let out = attempt(&relay, &envelope(&["a@flaky.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.4.3"]);
}

/// A resolver that never answers.
struct Hanging;

#[async_trait::async_trait]
impl envoi_relay::Resolver for Hanging {
    async fn mx(&self, _: &str) -> Result<Vec<envoi_relay::MxRecord>, envoi_relay::DnsError> {
        std::future::pending().await
    }
    async fn ips(&self, _: &str) -> Result<Vec<std::net::IpAddr>, envoi_relay::DnsError> {
        std::future::pending().await
    }
    async fn txt(&self, _: &str) -> Result<Vec<String>, envoi_relay::DnsError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn dns_timeout_is_transient_4_4_3() {
    let config = RelayConfig {
        timeouts: Timeouts {
            dns: Duration::from_secs(30),
            ..Timeouts::default()
        },
        ..RelayConfig::default()
    };
    let relay = SmtpRelay::new(config, Arc::new(Hanging)).unwrap();
    let out = attempt(&relay, &envelope(&["a@slow.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.4.3"]);
    assert_eq!(out[0].remote_host, None);
}

#[tokio::test]
async fn mx_host_servfail_is_transient_4_4_3() {
    let dns = StaticResolver::new()
        .with_mx("dest.test", 10, "mx.dest.test")
        .with_servfail("mx.dest.test");
    let relay = mx_relay(free_port(), dns, |_| {});
    let out = attempt(&relay, &envelope(&["a@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.4.3"]);
}

#[tokio::test]
async fn route_table_is_checked_before_mx() {
    let routed = Peer::start(Script::default()).await;
    let port = routed.port();
    // The MX points somewhere that refuses; the route wins.
    let dns = StaticResolver::new()
        .with_mx("dest.test", 10, "mx.dest.test")
        .with_a("mx.dest.test", Ipv4Addr::new(127, 0, 0, 2));
    let relay = mx_relay(port, dns, |c| {
        c.routes
            .add("dest.test", vec![NextHop::smtp("127.0.0.1", port)]);
    });
    let out = attempt(&relay, &envelope(&["a@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(out[0].remote_host, remote(port));
}

#[tokio::test]
async fn route_hosts_are_tried_in_order() {
    let peer = Peer::start(Script::default()).await;
    let dead = free_port();
    let relay = mx_relay(peer.port(), StaticResolver::new(), |c| {
        c.routes.add(
            "dest.test",
            vec![
                NextHop::smtp("127.0.0.1", dead),
                NextHop::smtp("127.0.0.1", peer.port()),
            ],
        );
    });
    let out = attempt(&relay, &envelope(&["a@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(out[0].remote_host, remote(peer.port()));
}

#[tokio::test]
async fn recipients_spanning_domains_are_grouped_by_next_hop_in_order() {
    let one = Peer::start(Script::default()).await;
    let two = Peer::start(Script::default().rcpt(|a, _| {
        if a.starts_with("no") {
            "550 5.1.1 unknown"
        } else {
            "250 ok"
        }
        .to_owned()
    }))
    .await;
    let dns = StaticResolver::new().with_nxdomain("bad.test");
    let (p1, p2) = (one.port(), two.port());
    let relay = mx_relay(p1, dns, |c| {
        c.routes
            .add("one.test", vec![NextHop::smtp("127.0.0.1", p1)]);
        c.routes
            .add("two.test", vec![NextHop::smtp("127.0.0.1", p2)]);
    });
    let env = envelope(
        &[
            "a@one.test",
            "b@two.test",
            "c@bad.test",
            "no@two.test",
            "d@one.test",
        ],
        MESSAGE,
    );
    let out = attempt(&relay, &env).await;
    assert_eq!(
        codes(&out),
        [
            "250 2.0.0",
            "250 2.0.0",
            "550 5.1.2",
            "550 5.1.1",
            "250 2.0.0"
        ]
    );
    let hosts: Vec<_> = out.iter().map(|o| o.remote_host.clone()).collect();
    assert_eq!(
        hosts,
        [remote(p1), remote(p2), None, remote(p2), remote(p1)]
    );
    assert_eq!(one.transactions().len(), 1);
    assert_eq!(one.transactions()[0].rcpts, ["a@one.test", "d@one.test"]);
    assert_eq!(two.transactions()[0].rcpts, ["b@two.test"]);
}

#[tokio::test]
async fn smarthost_by_name_is_resolved() {
    let peer = Peer::start(Script::default()).await;
    let dns = StaticResolver::new().with_a("smart.test", Ipv4Addr::LOCALHOST);
    let mut config = RelayConfig::smarthost(NextHop::smtp("smart.test", peer.port()));
    config.tls.default_policy = TlsPolicy::None;
    let relay = SmtpRelay::new(config, Arc::new(dns)).unwrap();
    let out = attempt(&relay, &envelope(&["a@anywhere.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(
        out[0].remote_host,
        Some(format!("smart.test[127.0.0.1]:{}", peer.port()))
    );
}

#[tokio::test]
async fn first_mx_refusing_with_421_greeting_second_accepting() {
    let good = Peer::start(Script::default()).await;
    let port = good.port();
    let busy = Peer::start_on(
        &format!("127.0.0.2:{port}"),
        Script {
            banner: "421 4.3.2 busy".into(),
            ..Script::default()
        },
    )
    .await;
    let dns = StaticResolver::new()
        .with_mx("dest.test", 10, "busy.dest.test")
        .with_mx("dest.test", 20, "good.dest.test")
        .with_a("busy.dest.test", Ipv4Addr::new(127, 0, 0, 2))
        .with_a("good.dest.test", Ipv4Addr::LOCALHOST);
    let relay = mx_relay(port, dns, |_| {});
    let out = attempt(&relay, &envelope(&["a@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(
        out[0].remote_host,
        Some(format!("good.dest.test[127.0.0.1]:{port}"))
    );
    assert_eq!(busy.connections(), 1);
    assert_eq!(good.transactions().len(), 1);
}

#[tokio::test]
async fn groups_of_one_attempt_respect_the_parallel_bound() {
    let peer = Peer::start(Script::default()).await;
    let mut dns = StaticResolver::new().with_a("mx.shared.test", Ipv4Addr::LOCALHOST);
    let domains: Vec<String> = (0..5).map(|i| format!("d{i}.test")).collect();
    for domain in &domains {
        dns = dns.with_mx(domain, 10, "mx.shared.test");
    }
    let relay = mx_relay(peer.port(), dns, |c| c.max_parallel_next_hops = 1);
    let rcpts: Vec<String> = domains.iter().map(|d| format!("a@{d}")).collect();
    let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let out = attempt(&relay, &envelope(&refs, MESSAGE)).await;
    assert_eq!(codes(&out), vec!["250 2.0.0"; 5]);
    // One transaction per domain, one after the other over one reused connection.
    assert_eq!(peer.transactions().len(), 5);
    assert_eq!(peer.connections(), 1);
    assert_eq!(peer.log.lock().unwrap().max_concurrent, 1);
}

#[tokio::test]
async fn destinations_are_the_route_key_or_the_mx_domain() {
    use envoi_queue::Relay;
    let relay = mx_relay(25, StaticResolver::new(), |c| {
        c.routes
            .add("corp.test", vec![NextHop::smtp("10.0.0.1", 25)])
            .add(".sub.test", vec![NextHop::smtp("10.0.0.2", 25)]);
    });
    let name = |a: &str| {
        relay
            .destination(&envoi_types::Address::parse(a).unwrap())
            .to_string()
    };
    assert_eq!(name("a@CORP.test"), "corp.test");
    assert_eq!(name("a@x.sub.test"), ".sub.test");
    assert_eq!(name("a@Other.Example"), "other.example");
    let smarthost = mx_relay(25, StaticResolver::new(), |c| {
        c.routes = envoi_relay::RouteTable::fixed(vec![NextHop::smtp("10.0.0.3", 25)]);
    });
    let recipient = envoi_types::Address::parse("a@any.test").unwrap();
    assert_eq!(smarthost.destination(&recipient).as_str(), "*");
}
