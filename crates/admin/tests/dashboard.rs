//! The dashboard's pages over a real queue, without a browser: each answers HTML with the
//! Content-Security-Policy, shows the queue, and escapes what messages and peers put in it.
//! (`crates/envoi/tests/dashboard.rs` drives them in Chromium on the real binary.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use envoi_admin::web::CSP;
use reqwest::Method;

const PAYLOAD: &str = "<script>window.pwned=1</script>";

async fn page(h: &common::Harness, path: &str) -> (u16, String) {
    let response = h.raw(Method::GET, path, None).send().await.unwrap();
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-security-policy"], CSP, "{path}");
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn every_page_shows_the_queue_with_payloads_escaped() {
    let h = common::open().await;
    let rcpt = "\"<img src=x onerror=alert(1)>\"@dst.test";
    h.relay.always(rcpt, &format!("451 4.4.1 {PAYLOAD}"));
    let id = h.inject("s@src.test", &[rcpt]).await;
    h.wait_attempts(id, 1).await;

    let pages = [
        "/".to_owned(),
        "/shape".to_owned(),
        "/shape?by=reply".to_owned(),
        "/shape?by=sender&all=true".to_owned(),
        "/destinations".to_owned(),
        "/messages".to_owned(),
        "/messages?state=deferred&domain=dst.test&sort=-sender".to_owned(),
        format!("/messages/{id}"),
        "/quarantine".to_owned(),
    ];
    for path in &pages {
        let (status, html) = page(&h, path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(html.starts_with("<!DOCTYPE html>"), "{path}");
        assert!(
            !html.contains(PAYLOAD),
            "{path} carries the payload as markup"
        );
        assert!(
            !html.contains("<img"),
            "{path} carries the payload as markup"
        );
        assert!(!html.contains(" style="), "{path} has an inline style");
    }
    let (_, overview) = page(&h, "/").await;
    assert!(
        overview.contains("<td class=\"num\" id=\"count-deferred\">1</td>"),
        "{overview}"
    );
    let (_, list) = page(&h, "/messages").await;
    assert!(list.contains(&id.to_string()));
    assert!(
        list.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{list}"
    );
    let (_, message) = page(&h, &format!("/messages/{id}")).await;
    assert!(
        message.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"),
        "{message}"
    );
    let (_, by_reply) = page(&h, "/shape?by=reply").await;
    assert!(
        by_reply.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"),
        "{by_reply}"
    );

    let (status, _) = page(&h, "/messages/not-an-id").await;
    assert_eq!(status, 400);
    let (status, html) = page(&h, "/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    assert_eq!(status, 404, "{html}");
    let (status, _) = page(&h, "/messages?state=lost").await;
    assert_eq!(status, 400);

    let body = h
        .raw(Method::GET, &format!("/messages/{id}/body"), None)
        .send()
        .await
        .unwrap();
    assert_eq!(body.headers()["content-type"], "message/rfc822");
    assert_eq!(
        body.headers()["content-disposition"],
        format!("attachment; filename=\"{id}.eml\"")
    );
    let css = h
        .raw(Method::GET, "/static/dashboard.css", None)
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    h.stop().await;
}
