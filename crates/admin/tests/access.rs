//! Access: the bearer token, `/healthz` without it, the connection limit, the client's errors
//! when the daemon is down, and a clean shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use envoi_admin::{AdminClient, AdminConfig, AdminConfigError, AdminState, ClientError};
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{MemoryStore, Queue};
use reqwest::Method;
use std::sync::Arc;

fn with_token(token: &str) -> AdminConfig {
    AdminConfig {
        token: Some(token.into()),
        require_token: true,
        ..AdminConfig::default()
    }
}

#[tokio::test]
async fn token_is_checked_on_every_route_but_healthz() {
    let h = common::start(with_token("s3cret")).await;
    assert_eq!(h.client.summary().await.unwrap().total, 0, "right token");
    for path in ["/v1/summary", "/v1/messages", "/v1/quarantine", "/metrics"] {
        let missing = h.raw(Method::GET, path, None).send().await.unwrap();
        assert_eq!(missing.status(), 401, "{path}");
        assert_eq!(missing.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = missing.json().await.unwrap();
        assert_eq!(body["error"], "missing bearer token");
        let wrong = h
            .raw(Method::GET, path, Some("guess"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
    }
    let inject = h
        .raw(Method::POST, "/v1/messages", Some("guess"))
        .json(&serde_json::json!({
            "sender": "", "recipients": ["a@b.example"], "message": "x"
        }));
    assert_eq!(inject.send().await.unwrap().status(), 401);
    assert!(h.relay.calls().is_empty());
    let health = h.raw(Method::GET, "/healthz", None).send().await.unwrap();
    assert_eq!(health.status(), 200);
    h.stop().await;
}

#[tokio::test]
async fn healthz_is_503_with_the_reason_while_an_outcome_waits_for_the_store() {
    let (h, store) = common::start_faulty(AdminConfig::default()).await;
    store.fail_commits(Some(envoi_queue::StorageError::Io("fsync failed".into())));
    h.inject("s@src.example", &["a@dst.example"]).await;
    common::wait_for("the failed commit", || async {
        !h.queue.accepting().is_accepting()
    })
    .await;
    let health = h.raw(Method::GET, "/healthz", None).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(
        body["error"],
        "not accepting mail: 1 attempt outcome(s) not yet stored: storage I/O failed: fsync failed"
    );
    store.fail_commits(None);
    common::wait_for("the outcome stored", || async {
        h.queue.accepting().is_accepting()
    })
    .await;
    h.client.health().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn client_reports_a_refused_token_clearly() {
    let h = common::start(with_token("s3cret")).await;
    let anonymous = AdminClient::new(&h.base, None).unwrap();
    let error = anonymous.summary().await.unwrap_err();
    assert!(
        matches!(error, ClientError::Unauthorized { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the admin API refused the token (missing bearer token)"
    );
    let wrong = AdminClient::new(&h.base, Some("nope".into())).unwrap();
    let error = wrong.hold("01JDQ3Z0000000000000000000").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the admin API refused the token (wrong bearer token)"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_token_is_checked_even_when_not_required() {
    let config = AdminConfig {
        token: Some("s3cret".into()),
        require_token: false,
        ..AdminConfig::default()
    };
    let h = common::start(config).await;
    let missing = h
        .raw(Method::GET, "/v1/summary", None)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    h.stop().await;
}

#[tokio::test]
async fn required_token_must_be_configured() {
    let store = Arc::new(MemoryStore::new());
    let queue = Queue::builder(store, ScriptedRelay::new())
        .start()
        .await
        .unwrap();
    let required = AdminConfig {
        require_token: true,
        ..AdminConfig::default()
    };
    let error = AdminState::new(queue.clone(), required).unwrap_err();
    assert_eq!(error, AdminConfigError::TokenRequired);
    let blank = AdminConfig {
        token: Some("has space".into()),
        ..AdminConfig::default()
    };
    assert_eq!(
        AdminState::new(queue.clone(), blank).unwrap_err(),
        AdminConfigError::BadToken
    );
    assert!(AdminState::new(queue, AdminConfig::default()).is_ok());
}

#[tokio::test]
async fn no_token_on_loopback_means_open() {
    let h = common::open().await;
    let response = h
        .raw(Method::GET, "/v1/summary", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    h.stop().await;
}

#[tokio::test]
async fn daemon_not_running_is_reported_as_such() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = AdminClient::new(&format!("http://{addr}"), None).unwrap();
    let error = client.summary().await.unwrap_err();
    assert!(
        matches!(error, ClientError::Unreachable { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("cannot reach envoi at http://{addr}: is `envoi serve` running?")
    );
}

#[tokio::test]
async fn bad_base_urls_are_refused() {
    for url in ["not a url", "https://127.0.0.1:8025", "mailto:x@y.example"] {
        let error = AdminClient::new(url, None).unwrap_err();
        assert!(
            matches!(error, ClientError::BadUrl { .. }),
            "{url}: {error:?}"
        );
    }
}

#[tokio::test]
async fn healthz_reports_queue_size_and_server_stops_on_cancel() {
    let h = common::open().await;
    h.deferred("s@src.example", &["r@a.example"]).await;
    let health = h.client.health().await.unwrap();
    assert_eq!((health.status.as_str(), health.queued), ("ok", Some(1)));
    let quarantine = h.client.quarantine().await.unwrap();
    assert!(quarantine.records.is_empty());
    let no_metrics = h.client.metrics().await.unwrap_err();
    assert_eq!(
        no_metrics.status(),
        Some(404),
        "metrics not enabled: {no_metrics:?}"
    );
    let base = h.base.clone();
    h.stop().await;
    let after = AdminClient::new(&base, None)
        .unwrap()
        .health()
        .await
        .unwrap_err();
    assert!(
        matches!(after, ClientError::Unreachable { .. }),
        "{after:?}"
    );
}

#[tokio::test]
async fn connections_are_bounded_and_permits_come_back() {
    let config = AdminConfig {
        max_connections: 1,
        ..AdminConfig::default()
    };
    let h = common::start(config).await;
    let first = AdminClient::new(&h.base, None).unwrap();
    for _ in 0..3 {
        // One kept-alive connection holds the only permit and serves every request.
        assert_eq!(first.summary().await.unwrap().total, 0);
    }
    drop(first); // closes its connection: the permit returns
    let second = AdminClient::new(&h.base, None).unwrap();
    assert_eq!(second.summary().await.unwrap().total, 0);
    drop(second);
    h.stop().await;
}
