//! Flush, retry, hold, release, delete and bounce through the client, checked against the
//! store and what the relay receives.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use envoi_admin::api::{Action, MessageFilter, MessageState};
use envoi_admin::ClientError;
use std::time::Duration;

use envoi_types::QueueId;
use reqwest::Method;

#[tokio::test]
async fn hold_and_release_change_the_stored_flag() {
    let h = common::open().await;
    let id = h.deferred("s@src.example", &["r@a.example"]).await;
    let result = h.client.hold(&id.to_string()).await.unwrap();
    assert_eq!((result.id, result.action), (id, Action::Hold));
    assert!(h.info(id).await.unwrap().held);
    assert_eq!(
        h.client.show(&id.to_string(), false).await.unwrap().state,
        MessageState::Held
    );
    let refused = h.client.retry(&id.to_string()).await.unwrap_err();
    assert!(
        matches!(refused, ClientError::Conflict { .. }),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("is held"), "{refused}");
    h.client.release(&id.to_string()).await.unwrap();
    let info = h.info(id).await.unwrap();
    assert!(!info.held);
    assert_eq!(info.attempts, 1, "release does not attempt at once");
    h.stop().await;
}

#[tokio::test]
async fn retry_attempts_again_without_counting_an_attempt() {
    let h = common::open().await;
    let id = h.deferred("s@src.example", &["r@a.example"]).await;
    h.relay.always("r@a.example", "250 2.0.0 ok");
    let result = h.client.retry(&id.to_string()).await.unwrap();
    assert_eq!(result.action, Action::Retry);
    h.wait_calls("r@a.example", 2).await;
    common::wait_for("the message to leave the queue", || async {
        h.info(id).await.is_none()
    })
    .await;
    let calls = h.relay.calls_for("r@a.example");
    assert_eq!(
        calls[1].attempt, 1,
        "the second call carries the one failed attempt"
    );
    assert_eq!(h.relay.deliveries_to("r@a.example"), 1);
    h.stop().await;
}

#[tokio::test]
async fn flush_without_filters_makes_every_waiting_message_due() {
    let h = common::open().await;
    h.deferred("s@src.example", &["x@a.example"]).await;
    h.deferred("s@src.example", &["y@b.example"]).await;
    let held = h.deferred("s@src.example", &["z@c.example"]).await;
    h.client.hold(&held.to_string()).await.unwrap();
    let result = h.client.flush(&MessageFilter::default()).await.unwrap();
    assert_eq!((result.flushed, result.skipped), (2, 0));
    h.wait_calls("x@a.example", 2).await;
    h.wait_calls("y@b.example", 2).await;
    assert_eq!(
        h.relay.calls_for("z@c.example").len(),
        1,
        "a held message is not flushed"
    );
    h.stop().await;
}

#[tokio::test]
async fn flush_with_a_filter_retries_only_the_matches() {
    let h = common::open().await;
    let a = h.deferred("s@src.example", &["x@a.example"]).await;
    let b = h.deferred("s@src.example", &["y@b.example"]).await;
    let a_held = h.deferred("t@src.example", &["w@a.example"]).await;
    h.client.hold(&a_held.to_string()).await.unwrap();
    let filter = MessageFilter {
        domain: Some("a.example".into()),
        ..MessageFilter::default()
    };
    let result = h.client.flush(&filter).await.unwrap();
    assert_eq!((result.flushed, result.skipped), (1, 1));
    h.wait_calls("x@a.example", 2).await;
    assert_eq!(
        h.info(a).await.unwrap().attempts,
        1,
        "a forced attempt is not counted"
    );
    assert_eq!(
        h.info(b).await.unwrap().attempts,
        1,
        "b.example was not flushed"
    );
    assert_eq!(h.relay.calls_for("y@b.example").len(), 1);
    assert_eq!(h.relay.calls_for("w@a.example").len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn delete_removes_without_a_bounce() {
    let h = common::open().await;
    let id = h.deferred("s@src.example", &["r@a.example"]).await;
    let result = h.client.delete(&id.to_string()).await.unwrap();
    assert_eq!(result.action, Action::Delete);
    assert!(h.info(id).await.is_none());
    let again = h.client.delete(&id.to_string()).await.unwrap_err();
    assert_eq!(again.to_string(), format!("no message {id} in the queue"));
    assert!(h.relay.bounces_to("s@src.example").is_empty());
    assert_eq!(h.client.summary().await.unwrap().total, 0);
    h.stop().await;
}

#[tokio::test]
async fn bounce_sends_a_bounce_to_the_sender_and_removes_the_message() {
    let h = common::open().await;
    let id = h.deferred("s@src.example", &["r@a.example"]).await;
    let result = h.client.bounce(&id.to_string()).await.unwrap();
    assert_eq!(result.action, Action::Bounce);
    common::wait_for("the bounce to reach the sender", || async {
        !h.relay.bounces_to("s@src.example").is_empty()
    })
    .await;
    let bounce = &h.relay.bounces_to("s@src.example")[0];
    let text = String::from_utf8_lossy(bounce.message.as_bytes()).into_owned();
    assert!(
        text.contains("r@a.example"),
        "the bounce names the failed recipient"
    );
    assert!(text.contains("bounced by the administrator"), "{text}");
    assert!(h.info(id).await.is_none());
    h.stop().await;
}

#[tokio::test]
async fn actions_on_unknown_or_malformed_ids() {
    let h = common::open().await;
    let unknown = QueueId::new().to_string();
    for action in [
        Action::Retry,
        Action::Hold,
        Action::Release,
        Action::Bounce,
        Action::Delete,
    ] {
        let error = h.client.act(&unknown, action).await.unwrap_err();
        assert_eq!(error.status(), Some(404), "{action:?}: {error:?}");
        assert_eq!(
            error.to_string(),
            format!("no message {unknown} in the queue")
        );
        let malformed = h.client.act("zzz", action).await.unwrap_err();
        assert_eq!(malformed.status(), Some(400), "{action:?}: {malformed:?}");
    }
    let wrong_method = h
        .raw(Method::GET, &format!("/v1/messages/{unknown}/hold"), None)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    let body: serde_json::Value = wrong_method.json().await.unwrap();
    assert_eq!(
        body["error"],
        format!("/v1/messages/{unknown}/hold does not take GET")
    );
    h.stop().await;
}

#[tokio::test]
async fn a_message_being_delivered_answers_409() {
    let h = common::open().await;
    h.relay.set_latency(Duration::from_secs(600));
    let id = h.inject("s@src.example", &["r@a.example"]).await;
    common::wait_for("the attempt to start", || async {
        h.relay.max_concurrent() == 1
    })
    .await;
    for action in [Action::Retry, Action::Bounce] {
        let error = h.client.act(&id.to_string(), action).await.unwrap_err();
        assert!(
            matches!(error, ClientError::Conflict { .. }),
            "{action:?}: {error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("message {id} is being delivered right now; try again in a moment")
        );
    }
    h.client.hold(&id.to_string()).await.unwrap();
    assert!(
        h.info(id).await.unwrap().held,
        "hold applies to an attempt in flight"
    );
    // Drop the attempt still sleeping in the relay instead of waiting for it.
    h.shutdown.cancel();
    h.queue.shutdown(Duration::ZERO).await;
}
