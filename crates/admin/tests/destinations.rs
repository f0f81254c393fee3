//! Destinations through the client: the listing, suspend and resume.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::time::Duration;

use envoi_admin::api::SuspendRequest;
use envoi_admin::ClientError;

#[tokio::test]
async fn suspend_list_and_resume_a_destination() {
    let h = common::open().await;
    let request = SuspendRequest {
        duration: Some(Duration::from_secs(7200)),
        reason: "planned work".into(),
    };
    let suspension = h.client.suspend("A.example", &request).await.unwrap();
    assert_eq!(suspension.destination, "a.example");
    assert_eq!(suspension.reason, "planned work");
    assert!(suspension.until.is_some());

    let id = h.inject("s@src.example", &["r@a.example"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        h.relay.calls_for("r@a.example").is_empty(),
        "attempted while suspended"
    );
    let list = h.client.destinations().await.unwrap();
    let shown = list
        .destinations
        .iter()
        .find(|d| d.destination == "a.example")
        .expect("listed");
    assert_eq!(shown.queued, 1);
    assert_eq!(shown.suspended.as_ref().unwrap().reason, "planned work");
    let json = serde_json::to_value(&list).unwrap();
    let first = &json["destinations"][0];
    assert_eq!(first["destination"], "a.example");
    assert_eq!(first["suspended"]["reason"], "planned work");

    let result = h.client.resume("a.example").await.unwrap();
    assert!(result.resumed);
    h.wait_calls("r@a.example", 1).await;
    common::wait_for("the message to leave the queue", || async {
        h.info(id).await.is_none()
    })
    .await;
    assert!(!h.client.resume("a.example").await.unwrap().resumed);

    let refused = h
        .client
        .suspend("not a name", &SuspendRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ClientError::BadRequest { .. }),
        "{refused:?}"
    );
    h.stop().await;
}
