//! Injection: what the relay receives, field-naming 400s, and 503 with the SMTP reply when
//! the queue refuses.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use envoi_admin::api::InjectRequest;
use envoi_admin::ClientError;
use envoi_queue::StorageError;
use envoi_types::Sender;
use reqwest::Method;

fn request(sender: &str, recipients: &[&str], message: &[u8]) -> InjectRequest {
    InjectRequest::new(
        sender,
        recipients.iter().map(|r| (*r).to_owned()).collect(),
        message,
    )
}

#[tokio::test]
async fn injected_text_is_delivered_with_crlf_line_ends() {
    let h = common::open().await;
    let req = request(
        "s@src.example",
        &["a@dst.example", "b@dst.example"],
        b"Subject: hi\n\nbody\n",
    );
    let response = h.client.inject(&req).await.unwrap();
    assert_eq!(response.ids.len(), 1);
    h.wait_calls("a@dst.example", 1).await;
    let call = &h.relay.calls_for("a@dst.example")[0];
    assert_eq!(call.envelope.sender.as_str(), "s@src.example");
    let rcpts: Vec<&str> = call
        .envelope
        .recipients
        .iter()
        .map(|r| r.as_str())
        .collect();
    assert_eq!(rcpts, vec!["a@dst.example", "b@dst.example"]);
    assert_eq!(
        call.envelope.message.as_bytes(),
        b"Subject: hi\r\n\r\nbody\r\n"
    );
    assert_eq!(call.envelope.client.protocol, "HTTP");
    common::wait_for("the delivered message to leave", || async {
        h.info(response.ids[0]).await.is_none()
    })
    .await;
    h.stop().await;
}

#[tokio::test]
async fn binary_message_goes_as_base64_and_null_sender_is_allowed() {
    let h = common::open().await;
    let body = b"Subject: x\r\n\r\n\xff\xfe raw\r\n";
    let req = request("", &["a@dst.example"], body);
    assert!(req.message.is_none() && req.message_base64.is_some());
    let raw = h
        .raw(Method::POST, "/v1/messages", None)
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 201);
    let answer: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(answer["ids"].as_array().unwrap().len(), 1);
    h.wait_calls("a@dst.example", 1).await;
    let call = &h.relay.calls_for("a@dst.example")[0];
    assert_eq!(call.envelope.sender, Sender::Null);
    assert_eq!(call.envelope.message.as_bytes(), body);
    h.stop().await;
}

#[tokio::test]
async fn bad_fields_are_400_naming_the_field() {
    let h = common::open().await;
    let cases: [(InjectRequest, &str); 4] = [
        (
            request("not an address", &["a@b.example"], b"x"),
            "sender: ",
        ),
        (
            request("s@src.example", &["a@b.example", "nodomain"], b"x"),
            "recipients[1]: ",
        ),
        (request("s@src.example", &[], b"x"), "recipients: "),
        (request("s@src.example", &["a@b.example"], b""), "message: "),
    ];
    for (req, field) in cases {
        let error = h.client.inject(&req).await.unwrap_err();
        assert!(matches!(error, ClientError::BadRequest { .. }), "{error:?}");
        assert!(error.to_string().starts_with(field), "{field}: {error}");
    }
    let both = serde_json::json!({
        "sender": "", "recipients": ["a@b.example"], "message": "x", "message_base64": "eA=="
    });
    let response = h
        .raw(Method::POST, "/v1/messages", None)
        .json(&both)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let unknown_field =
        serde_json::json!({ "sender": "", "recipients": ["a@b.example"], "msg": "x" });
    let response = h
        .raw(Method::POST, "/v1/messages", None)
        .json(&unknown_field)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("msg"), "{body}");
    let not_json = h
        .raw(Method::POST, "/v1/messages", None)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400, "no JSON content type is a 400 too");
    assert!(h.relay.calls().is_empty());
    assert_eq!(h.client.summary().await.unwrap().total, 0);
    h.stop().await;
}

#[tokio::test]
async fn storage_failure_is_503_with_the_smtp_reply() {
    let h = common::open().await;
    let req = request(
        "s@src.example",
        &["a@dst.example"],
        b"Subject: x\r\n\r\nx\r\n",
    );
    h.store
        .fail_next_write(StorageError::Io("disk on fire".into()));
    let error = h.client.inject(&req).await.unwrap_err();
    assert_eq!(error.status(), Some(503), "{error:?}");
    assert!(error.to_string().contains("451 4.3.0"), "{error}");
    h.store.fail_next_write(StorageError::Full("quota".into()));
    let error = h.client.inject(&req).await.unwrap_err();
    assert!(error.to_string().contains("452 4.3.1"), "{error}");
    assert_eq!(h.client.summary().await.unwrap().total, 0, "nothing kept");
    h.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let config = envoi_admin::AdminConfig {
        max_message_bytes: 1024,
        ..envoi_admin::AdminConfig::default()
    };
    let h = common::start(config).await;
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(4096));
    let error = h
        .client
        .inject(&request(
            "s@src.example",
            &["a@dst.example"],
            big.as_bytes(),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(413), "{error:?}");
    let small = request(
        "s@src.example",
        &["a@dst.example"],
        b"Subject: small\r\n\r\nx\r\n",
    );
    assert_eq!(h.client.inject(&small).await.unwrap().ids.len(), 1);
    h.stop().await;
}
