//! `GET /v1/shape` on a known queue: rows by recipient domain, last reply and sender domain,
//! every message in the youngest age column.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use envoi_admin::api::{ShapeBy, ShapeQuery};

#[tokio::test]
async fn the_shape_of_a_known_queue() {
    let h = common::open().await;
    h.relay
        .always("ann@b.example", "550 5.1.1 <ann@b.example>: no such user");
    for _ in 0..3 {
        h.deferred("s@one.example", &["r@a.example"]).await;
    }
    h.deferred("s@two.example", &["r@a.example", "bob@b.example"])
        .await;
    let shape = |by| {
        let client = &h.client;
        async move { client.shape(&ShapeQuery { by, top: None }).await.unwrap() }
    };

    let by_domain = shape(ShapeBy::Domain).await;
    assert_eq!(by_domain.total.total, 4);
    assert_eq!(by_domain.total.by_age[0], 4, "all younger than 5 minutes");
    assert_eq!(by_domain.columns.len(), by_domain.total.by_age.len());
    let rows: Vec<(&str, u64)> = by_domain
        .rows
        .iter()
        .map(|row| (row.key.as_str(), row.total))
        .collect();
    assert_eq!(rows, vec![("a.example", 4), ("b.example", 1)]);

    let by_reply = shape(ShapeBy::Reply).await;
    let rows: Vec<(&str, u64)> = by_reply
        .rows
        .iter()
        .map(|row| (row.key.as_str(), row.total))
        .collect();
    assert_eq!(rows, vec![("451 4.4.1 busy", 4)]);

    let by_sender = shape(ShapeBy::Sender).await;
    let rows: Vec<(&str, u64)> = by_sender
        .rows
        .iter()
        .map(|row| (row.key.as_str(), row.total))
        .collect();
    assert_eq!(rows, vec![("one.example", 3), ("two.example", 1)]);

    let one_row = h
        .client
        .shape(&ShapeQuery {
            by: ShapeBy::Domain,
            top: Some(1),
        })
        .await
        .unwrap();
    assert_eq!((one_row.rows.len(), one_row.more_rows), (1, 1));
    let table = envoi_admin::render::shape(&one_row);
    assert!(table.starts_with("DOMAIN     T  5  10"), "{table}");
    assert!(table.contains("\nTOTAL      4  4  0"), "{table}");
    let refused = h
        .raw(reqwest::Method::GET, "/v1/shape?top=0", None)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    h.stop().await;
}
