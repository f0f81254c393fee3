//! Listing (filters, paging), show, summary, and the errors of a bad or unknown id.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::time::Duration;

use envoi_admin::api::{MessageFilter, MessageState, RecipientState};
use envoi_admin::ClientError;
use envoi_types::QueueId;
use reqwest::Method;

/// Three deferred messages: m1 alice→a.example, m2 carol→b.example, m3 alice→b.example held.
async fn three(h: &common::Harness) -> [QueueId; 3] {
    let m1 = h.deferred("alice@src.example", &["bob@a.example"]).await;
    let m2 = h.deferred("carol@src.example", &["dan@b.example"]).await;
    let m3 = h.deferred("alice@src.example", &["erin@b.example"]).await;
    h.client.hold(&m3.to_string()).await.unwrap();
    [m1, m2, m3]
}

async fn ids(h: &common::Harness, filter: MessageFilter) -> Vec<QueueId> {
    let page = h.client.list(&filter).await.unwrap();
    page.messages.iter().map(|m| m.id).collect()
}

#[tokio::test]
async fn list_filters_by_state_sender_recipient_domain_and_age() {
    let h = common::open().await;
    let [m1, m2, m3] = three(&h).await;
    let f = MessageFilter::default;
    assert_eq!(ids(&h, f()).await, vec![m1, m2, m3]);
    let state = |s| MessageFilter {
        state: Some(s),
        ..f()
    };
    assert_eq!(ids(&h, state(MessageState::Deferred)).await, vec![m1, m2]);
    assert_eq!(ids(&h, state(MessageState::Held)).await, vec![m3]);
    assert_eq!(ids(&h, state(MessageState::Active)).await, vec![]);
    let sender = MessageFilter {
        sender: Some("ALICE".into()),
        ..f()
    };
    assert_eq!(ids(&h, sender).await, vec![m1, m3]);
    let recipient = MessageFilter {
        recipient: Some("dan@".into()),
        ..f()
    };
    assert_eq!(ids(&h, recipient).await, vec![m2]);
    let domain = MessageFilter {
        domain: Some("B.example".into()),
        ..f()
    };
    assert_eq!(ids(&h, domain).await, vec![m2, m3]);
    let old = MessageFilter {
        min_age: Some(Duration::from_secs(3600)),
        ..f()
    };
    assert_eq!(ids(&h, old).await, vec![]);
    let any_age = MessageFilter {
        min_age: Some(Duration::ZERO),
        ..f()
    };
    assert_eq!(ids(&h, any_age).await, vec![m1, m2, m3]);
    h.stop().await;
}

#[tokio::test]
async fn raw_query_strings_parse_durations_and_reject_bad_values() {
    let h = common::open().await;
    let [m1, m2, _] = three(&h).await;
    let page: serde_json::Value = h
        .raw(Method::GET, "/v1/messages?state=deferred&min_age=0s", None)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![m1.to_string(), m2.to_string()]);
    for bad in [
        "state=bogus",
        "min_age=soon",
        "after=nope",
        "limit=-1",
        "limit=0",
        "limit=1001",
        "colour=red",
    ] {
        let response = h
            .raw(Method::GET, &format!("/v1/messages?{bad}"), None)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(!body["error"].as_str().unwrap().is_empty(), "{bad}: {body}");
    }
    h.stop().await;
}

#[tokio::test]
async fn paging_walks_every_message_once_in_order() {
    let h = common::open().await;
    let mut injected = Vec::new();
    for i in 0..5 {
        injected.push(
            h.deferred("s@src.example", &[&format!("r{i}@a.example")])
                .await,
        );
    }
    let mut seen = Vec::new();
    let mut filter = MessageFilter {
        limit: Some(2),
        ..MessageFilter::default()
    };
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 5, "paging does not end");
        let page = h.client.list(&filter).await.unwrap();
        assert!(page.messages.len() <= 2);
        seen.extend(page.messages.iter().map(|m| m.id));
        match page.next {
            Some(next) => filter.after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, injected);
    let first_three = h
        .client
        .list_all(&MessageFilter::default(), 3)
        .await
        .unwrap();
    let ids: Vec<QueueId> = first_three.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, injected[..3]);
    assert_eq!(first_three.next, Some(injected[2]));
    let every = h
        .client
        .list_all(&MessageFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(every.messages.len(), 5);
    assert_eq!(every.next, None);
    h.stop().await;
}

#[tokio::test]
async fn show_gives_envelope_status_and_optionally_headers() {
    let h = common::open().await;
    h.relay.always("busy@b.example", "451 4.4.1 mailbox busy");
    let id = h
        .inject("s@src.example", &["ok@a.example", "busy@b.example"])
        .await;
    h.wait_attempts(id, 1).await;
    let view = h.client.show(&id.to_string(), false).await.unwrap();
    assert_eq!(view.id, id);
    assert_eq!(view.state, MessageState::Deferred);
    assert_eq!(view.sender, "s@src.example");
    assert_eq!(view.attempts, 1);
    assert!(!view.held);
    assert!(view.next_attempt > view.arrival);
    assert_eq!(view.headers, None);
    let [ok, busy] = [&view.recipients[0], &view.recipients[1]];
    assert_eq!(ok.recipient, "ok@a.example");
    assert_eq!(ok.state, RecipientState::Delivered);
    assert_eq!(busy.state, RecipientState::Pending);
    let reply = busy.last_reply.as_ref().unwrap();
    assert_eq!((reply.code, reply.enhanced.as_str()), (451, "4.4.1"));
    assert_eq!(reply.text, "mailbox busy");
    assert_eq!(busy.remote_host.as_deref(), Some("mx.test"));
    let with_headers = h.client.show(&id.to_string(), true).await.unwrap();
    let headers = with_headers.headers.unwrap();
    assert!(headers.starts_with("Subject: test\r\n"), "{headers:?}");
    assert!(!headers.contains("hello"), "body leaked into headers");
    h.stop().await;
}

#[tokio::test]
async fn unknown_id_is_404_with_a_clear_message_and_malformed_id_is_400() {
    let h = common::open().await;
    let unknown = QueueId::new().to_string();
    let error = h.client.show(&unknown, false).await.unwrap_err();
    assert!(matches!(error, ClientError::NotFound { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("no message {unknown} in the queue")
    );
    let response = h
        .raw(Method::GET, &format!("/v1/messages/{unknown}"), None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "error": format!("no message {unknown} in the queue") })
    );
    let error = h.client.show("not-an-id", false).await.unwrap_err();
    assert_eq!(error.status(), Some(400), "{error:?}");
    assert!(error.to_string().contains("invalid queue id"), "{error}");
    let error = h.client.show("a/b?c", false).await.unwrap_err();
    assert_eq!(error.status(), Some(400), "{error:?}");
    h.stop().await;
}

#[tokio::test]
async fn summary_counts_states_and_pending_domains() {
    let h = common::open().await;
    three(&h).await;
    let summary = h.client.summary().await.unwrap();
    assert_eq!(summary.total, 3);
    assert_eq!(
        (
            summary.by_state.active,
            summary.by_state.deferred,
            summary.by_state.held
        ),
        (0, 2, 1)
    );
    let domains: Vec<(&str, u64, u64)> = summary
        .by_domain
        .iter()
        .map(|d| (d.domain.as_str(), d.messages, d.recipients))
        .collect();
    assert_eq!(domains, vec![("b.example", 2, 2), ("a.example", 1, 1)]);
    assert!(summary.domains_complete);
    h.stop().await;
}

#[tokio::test]
async fn unknown_route_is_a_json_404() {
    let h = common::open().await;
    let response = h
        .raw(Method::GET, "/v2/everything", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "no endpoint GET /v2/everything");
    h.stop().await;
}

#[tokio::test]
async fn render_turns_live_answers_into_tables() {
    let h = common::open().await;
    let [m1, _, m3] = three(&h).await;
    let now = std::time::SystemTime::now();
    let page = h.client.list(&MessageFilter::default()).await.unwrap();
    let table = envoi_admin::render::list(&page, now);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[1].starts_with(&format!("{m1}  deferred")), "{table}");
    assert!(lines[3].contains("on hold"), "{table}");
    let shown =
        envoi_admin::render::show(&h.client.show(&m3.to_string(), false).await.unwrap(), now);
    assert!(
        shown.contains("erin@b.example  pending  mx.test      -    451 4.4.1 busy"),
        "{shown}"
    );
    let summary = envoi_admin::render::summary(&h.client.summary().await.unwrap());
    assert!(
        summary.starts_with("queued: 3 (active 0, deferred 2, held 1)\n"),
        "{summary}"
    );
    h.stop().await;
}
