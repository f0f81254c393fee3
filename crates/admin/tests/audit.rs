//! Every state-changing endpoint logs who (the client's address) and what: one
//! `event="admin"` line naming the action and what it was applied to.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use envoi_admin::api::{
    Action, BulkRequest, MessageFilter, ReloadReport, Reloader, SuspendRequest,
};
use envoi_admin::AdminConfig;
use serde_json::Value;

/// The log lines written, shared with the subscriber.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    /// The fields of every `event="admin"` line.
    fn admin_events(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .map(|line| line["fields"].clone())
            .filter(|fields| fields["event"] == "admin")
            .collect()
    }
}

struct NoChange;

impl Reloader for NoChange {
    fn reload(&self) -> ReloadReport {
        ReloadReport::default()
    }
}

/// The one admin line for `action` that `matches`, which must name a loopback client.
fn find<'a>(events: &'a [Value], action: &str, matches: impl Fn(&Value) -> bool) -> &'a Value {
    let found = events
        .iter()
        .find(|e| e["action"] == action && matches(e))
        .unwrap_or_else(|| panic!("no admin line for {action} in {events:#?}"));
    let client = found["client"].as_str().unwrap();
    assert!(client.starts_with("127.0.0.1:"), "{found}");
    found
}

// Current-thread runtime: the server's tasks run on this thread, under its subscriber.
#[tokio::test]
async fn every_state_changing_endpoint_logs_the_client_and_the_action() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let h = common::start_with(AdminConfig::default(), |state| {
        state.with_reloader(Arc::new(NoChange))
    })
    .await;
    let kept = h.deferred("a@src.test", &["x@dest.test"]).await;
    let bounced = h.deferred("a@src.test", &["y@dest.test"]).await;
    let deleted = h.deferred("a@src.test", &["z@dest.test"]).await;
    h.client.hold(&kept.to_string()).await.unwrap();
    h.client.release(&kept.to_string()).await.unwrap();
    h.client.retry(&kept.to_string()).await.unwrap();
    h.client.bounce(&bounced.to_string()).await.unwrap();
    h.client.delete(&deleted.to_string()).await.unwrap();
    h.client.flush(&MessageFilter::default()).await.unwrap();
    let by_domain = MessageFilter {
        domain: Some("dest.test".into()),
        ..MessageFilter::default()
    };
    h.client.flush(&by_domain).await.unwrap();
    let bulk = BulkRequest {
        ids: vec![kept],
        ..BulkRequest::default()
    };
    h.client.bulk(Action::Hold, &bulk).await.unwrap();
    h.client
        .suspend("dest.test", &SuspendRequest::default())
        .await
        .unwrap();
    h.client.resume("dest.test").await.unwrap();
    h.client.reload().await.unwrap();

    let events = lines.admin_events();
    let id_is = |id: envoi_types::QueueId| move |e: &Value| e["id"] == id.to_string();
    let injected = find(&events, "inject", |e| e["ids"] == kept.to_string());
    assert_eq!(injected["ids"].as_str().unwrap().len(), 26);
    find(&events, "hold", id_is(kept));
    find(&events, "release", id_is(kept));
    find(&events, "retry", id_is(kept));
    find(&events, "bounce", id_is(bounced));
    find(&events, "delete", id_is(deleted));
    find(&events, "flush", |e| e["selection"] == "all due");
    find(&events, "flush", |e| {
        e["selection"].as_str().unwrap().contains("dest.test")
    });
    find(&events, "hold", |e| e["selection"] == "1 ids");
    find(&events, "suspend", |e| e["destination"] == "dest.test");
    find(&events, "resume", |e| e["destination"] == "dest.test");
    find(&events, "reload", |_| true);
    h.stop().await;
}
