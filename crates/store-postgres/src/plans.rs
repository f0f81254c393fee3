//! The plans of the statements that must stay cheap however large the queue is, checked with
//! `EXPLAIN` against the test server (`ENVOI_TEST_POSTGRES_URL`; skipped without it): the batch
//! claim reads the partial index of unheld rows, and the listings of held and deferred
//! messages read their own partial indexes, when most of the queue is elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use crate::options::PgOptions;
use crate::sql;
use crate::store::PgStore;

/// `n` rows made by SQL (ids 16 bytes from `first`), held or not, with `attempts`.
fn rows(first: i64, n: i64, held: bool, attempts: i32) -> String {
    format!(
        "INSERT INTO envoi_message (id, arrival_ns, next_ns, attempts, held, sender, size, recipients)
         SELECT decode(lpad(to_hex(g), 32, '0'), 'hex'), 0, 0, {attempts}, {held}, 's', 1, '\\x00'
           FROM generate_series({first}, {}) g;",
        first + n - 1
    )
}

/// The server's plan (JSON) of `statement` run with `args` after `setup`, in a fresh schema
/// that the store created; `None` without a test server.
async fn plan(setup: &str, statement: &str, args: &str) -> Option<String> {
    let url = std::env::var("ENVOI_TEST_POSTGRES_URL").ok()?;
    let schema = format!(
        "envoi_plan_{}",
        envoi_types::QueueId::new().to_string().to_lowercase()
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let mut options = PgOptions::new(url.clone(), "plan-node");
    options.schema = Some(schema.clone());
    options.pool_size = 1;
    let store = PgStore::open(options).await;
    let result = async {
        store.map_err(|e| e.to_string())?;
        client
            .batch_execute(&format!(
                "SET search_path = {schema}; {setup} ANALYZE envoi_message;
                 SET plan_cache_mode = force_custom_plan;
                 PREPARE probe AS {statement};"
            ))
            .await
            .map_err(|e| e.to_string())?;
        let messages = client
            .simple_query(&format!("EXPLAIN (FORMAT JSON) EXECUTE probe({args})"))
            .await
            .map_err(|e| e.to_string())?;
        let text: String = messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .collect();
        // Without white space, so that the assertions need not know the server's layout.
        Ok::<String, String>(text.split_whitespace().collect())
    }
    .await;
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
    Some(result.unwrap())
}

/// `plan` (JSON without white space) reads `index` and never scans the message table whole.
fn assert_reads_index(plan: &str, index: &str) {
    assert!(
        plan.contains(&format!("\"IndexName\":\"{index}\"")),
        "{plan}"
    );
    let whole_table = plan
        .split("{\"NodeType\":")
        .filter(|node| node.starts_with("\"SeqScan\""))
        .any(|node| node.contains("\"RelationName\":\"envoi_message\""));
    assert!(!whole_table, "a sequential scan of the queue: {plan}");
}

#[tokio::test]
async fn the_batch_claim_reads_only_claimable_rows_when_most_are_held() {
    let setup = rows(1, 20_000, true, 0) + &rows(100_000, 10, false, 0);
    let now = "9000000000000000000";
    let args = format!("{now}, {now}, 100, 'plan-node', {now}, 15000");
    let Some(plan) = plan(&setup, sql::CLAIM_DUE, &args).await else {
        return;
    };
    assert_reads_index(&plan, "envoi_message_due");
}

#[tokio::test]
async fn listing_held_or_deferred_messages_reads_their_own_index() {
    let setup =
        rows(1, 20_000, false, 0) + &rows(100_000, 10, true, 0) + &rows(200_000, 10, false, 3);
    let Some(held) = plan(&setup, sql::LIST_PAGE_HELD, "'\\x', 500").await else {
        return;
    };
    assert_reads_index(&held, "envoi_message_held");
    let Some(deferred) = plan(&setup, sql::LIST_PAGE_DEFERRED, "'\\x', 500").await else {
        return;
    };
    assert_reads_index(&deferred, "envoi_message_deferred");
}
