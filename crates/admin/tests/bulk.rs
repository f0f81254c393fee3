//! `POST /v1/bulk/{action}`: many messages by id, by filter or all, checked against the store;
//! a bad selection is a 400 naming the problem, and a destructive filter needs confirmation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use envoi_admin::api::{Action, BulkRequest, MessageFilter};
use envoi_admin::ClientError;
use envoi_types::QueueId;

#[tokio::test]
async fn hold_and_release_many_by_id_and_by_filter() {
    let h = common::open().await;
    let mut to_a = Vec::new();
    for _ in 0..5 {
        to_a.push(h.deferred("s@src.example", &["r@a.example"]).await);
    }
    let to_b = h.deferred("s@src.example", &["r@b.example"]).await;
    let unknown = QueueId::new();

    let by_id = BulkRequest {
        ids: vec![to_a[0], to_a[1], unknown],
        ..BulkRequest::default()
    };
    let result = h.client.bulk(Action::Hold, &by_id).await.unwrap();
    assert_eq!((result.matched, result.changed), (3, 2));
    assert_eq!(result.skipped.len(), 1);
    assert_eq!(result.skipped[0].reason, "not found");
    assert_eq!(result.skipped[0].examples, vec![unknown]);
    assert!(h.info(to_a[0]).await.unwrap().held);
    assert!(!h.info(to_a[2]).await.unwrap().held);

    let by_domain = BulkRequest {
        filter: Some(MessageFilter {
            domain: Some("a.example".into()),
            ..MessageFilter::default()
        }),
        ..BulkRequest::default()
    };
    let result = h.client.bulk(Action::Hold, &by_domain).await.unwrap();
    assert_eq!((result.matched, result.changed), (5, 5));
    for id in &to_a {
        assert!(h.info(*id).await.unwrap().held, "{id}");
    }
    assert!(
        !h.info(to_b).await.unwrap().held,
        "another domain is left alone"
    );

    let all = BulkRequest {
        all: true,
        ..BulkRequest::default()
    };
    let result = h.client.bulk(Action::Release, &all).await.unwrap();
    assert_eq!((result.matched, result.changed), (6, 6));
    for id in to_a.iter().chain([&to_b]) {
        assert!(!h.info(*id).await.unwrap().held, "{id}");
    }
    h.stop().await;
}

#[tokio::test]
async fn delete_by_filter_needs_confirmation_and_removes_only_the_matches() {
    let h = common::open().await;
    let old = h.deferred("spam@bad.example", &["r@a.example"]).await;
    let kept = h.deferred("friend@good.example", &["r@a.example"]).await;
    let mut by_sender = BulkRequest {
        filter: Some(MessageFilter {
            sender: Some("bad.example".into()),
            ..MessageFilter::default()
        }),
        ..BulkRequest::default()
    };
    let refused = h.client.bulk(Action::Delete, &by_sender).await.unwrap_err();
    assert!(
        matches!(refused, ClientError::BadRequest { .. }),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("\"confirm\": true"),
        "{refused}"
    );
    assert!(h.info(old).await.is_some());

    by_sender.confirm = true;
    let result = h.client.bulk(Action::Delete, &by_sender).await.unwrap();
    assert_eq!((result.matched, result.changed), (1, 1));
    assert!(h.info(old).await.is_none());
    assert!(h.info(kept).await.is_some());
    h.stop().await;
}

#[tokio::test]
async fn a_bad_selection_is_a_400_that_says_why() {
    let h = common::open().await;
    let id = h.deferred("s@src.example", &["r@a.example"]).await;
    let cases = [
        (r#"{}"#, "exactly one of"),
        (
            &*format!(r#"{{"ids": ["{id}"], "all": true}}"#),
            "exactly one of",
        ),
        (
            r#"{"filter": {"limit": 5}}"#,
            "\"after\" and \"limit\" do not apply",
        ),
        (r#"{"ids": ["nope"]}"#, "invalid queue id"),
        (r#"{"all": true, "colour": "red"}"#, "colour"),
    ];
    for (body, expected) in cases {
        let response = h
            .raw(reqwest::Method::POST, "/v1/bulk/hold", None)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let answer: serde_json::Value = response.json().await.unwrap();
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(expected), "{body}: {error}");
    }
    let response = h
        .raw(reqwest::Method::POST, "/v1/bulk/explode", None)
        .header("content-type", "application/json")
        .body(r#"{"all": true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(!h.info(id).await.unwrap().held);
    h.stop().await;
}
