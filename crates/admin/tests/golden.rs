//! Golden files for the JSON the API sends: `tests/golden/*.json`. Ids and times, which the
//! queue makes from the clock, are replaced by placeholders first; everything else must match
//! byte for byte. Regenerate with `ENVOI_UPDATE_GOLDEN=1 cargo test -p envoi-admin --test golden`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::path::PathBuf;

use reqwest::Method;
use serde_json::Value;

fn check_golden(name: &str, value: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let actual = format!("{}\n", serde_json::to_string_pretty(value).unwrap());
    if std::env::var_os("ENVOI_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        actual,
        expected,
        "{} differs from the golden file",
        path.display()
    );
}

/// Replaces the clock-made fields of a message with placeholders, checking their shape.
fn placeholders(message: &mut Value) {
    let id = message["id"].as_str().unwrap();
    assert_eq!(id.len(), 26, "{id}");
    message["id"] = Value::from("<id>");
    for field in ["arrival", "next_attempt"] {
        let time = message[field].as_str().unwrap();
        assert!(humantime::parse_rfc3339(time).is_ok(), "{field}: {time}");
        message[field] = Value::from("<time>");
    }
    if let Some(history) = message.get_mut("history").and_then(Value::as_array_mut) {
        for attempt in history {
            let time = attempt["at"].as_str().unwrap();
            assert!(humantime::parse_rfc3339(time).is_ok(), "at: {time}");
            attempt["at"] = Value::from("<time>");
        }
    }
}

async fn get_json(h: &common::Harness, path: &str) -> Value {
    let response = h.raw(Method::GET, path, None).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn message_detail_json() {
    let h = common::open().await;
    h.relay.always("busy@b.example", "451 4.4.1 mailbox busy");
    let id = h
        .inject("s@src.example", &["ok@a.example", "busy@b.example"])
        .await;
    h.wait_attempts(id, 1).await;
    let mut message = get_json(&h, &format!("/v1/messages/{id}?headers=true")).await;
    assert_eq!(message["id"], id.to_string());
    placeholders(&mut message);
    check_golden("message.json", &message);
    h.stop().await;
}

#[tokio::test]
async fn summary_and_list_json() {
    let h = common::open().await;
    let a = h
        .deferred("alice@src.example", &["bob@a.example", "eve@b.example"])
        .await;
    let b = h.deferred("carol@src.example", &["dan@b.example"]).await;
    h.client.hold(&b.to_string()).await.unwrap();
    check_golden("summary.json", &get_json(&h, "/v1/summary").await);
    let mut page = get_json(&h, "/v1/messages?limit=1").await;
    assert_eq!(page["next"], a.to_string());
    page["next"] = Value::from("<id>");
    placeholders(&mut page["messages"][0]);
    check_golden("list.json", &page);
    h.stop().await;
}
