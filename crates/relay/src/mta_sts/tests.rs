//! The §5 decisions that need no HTTPS server: a cached policy and what the TXT record says.

use std::net::Ipv4Addr;
use std::time::UNIX_EPOCH;

use super::*;
use crate::resolver::StaticResolver;
use crate::tls::TlsConnectors;

fn service(dns: StaticResolver, dir: &std::path::Path) -> MtaSts {
    let config = MtaStsConfig {
        cache_dir: Some(dir.to_owned()),
        // Nothing listens there: every fetch fails.
        https_port: 9,
        fetch_timeout: Duration::from_secs(5),
        ..MtaStsConfig::default()
    };
    let connectors = TlsConnectors::new(&crate::config::TlsSettings::default()).unwrap();
    MtaSts::new(&config, Arc::new(dns), connectors.verified)
}

fn seed(dir: &std::path::Path, id: &str, fetched: SystemTime, mode: &str) {
    let text = format!("version: STSv1\nmode: {mode}\nmx: mx.a.test\nmax_age: 3600\n");
    Cache::open(Some(dir.to_owned())).put(
        "a.test",
        Cached {
            id: id.to_owned(),
            policy: Policy::parse(&text).unwrap(),
            fetched,
        },
    );
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("envoi-sts-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn no_record_and_nothing_cached_is_no_policy() {
    let dir = tempdir("none");
    let sts = service(
        StaticResolver::new().with_a("a.test", Ipv4Addr::LOCALHOST),
        &dir,
    );
    assert!(sts.policy("a.test").await.is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_fresh_cached_policy_serves_without_or_with_the_same_record() {
    let dir = tempdir("fresh");
    seed(&dir, "v1", SystemTime::now(), "enforce");
    let sts = service(
        StaticResolver::new().with_a("a.test", Ipv4Addr::LOCALHOST),
        &dir,
    );
    assert_eq!(sts.policy("a.test").await.unwrap().id, "v1", "record gone");
    let dns = StaticResolver::new().with_txt("_mta-sts.a.test", "v=STSv1; id=v1");
    let sts = service(dns, &dir);
    assert_eq!(sts.policy("a.test").await.unwrap().id, "v1");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_failed_fetch_keeps_the_unexpired_policy_and_drops_an_expired_one() {
    let dir = tempdir("failed");
    seed(&dir, "v1", SystemTime::now(), "enforce");
    let dns = StaticResolver::new()
        .with_txt("_mta-sts.a.test", "v=STSv1; id=v2")
        .with_a("mta-sts.a.test", Ipv4Addr::LOCALHOST);
    let sts = service(dns.clone(), &dir);
    assert_eq!(sts.policy("a.test").await.unwrap().id, "v1");
    seed(&dir, "v1", UNIX_EPOCH, "enforce");
    let sts = service(dns, &dir);
    assert!(sts.policy("a.test").await.is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn mode_none_is_no_policy() {
    let dir = tempdir("modenone");
    seed(&dir, "v1", SystemTime::now(), "none");
    let sts = service(StaticResolver::new(), &dir);
    assert!(sts.policy("a.test").await.is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}
