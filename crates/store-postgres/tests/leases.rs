//! Leases against the real server: fencing, heartbeat expiry, batched claims, migrations.
//! Skipped (and says so) without `ENVOI_TEST_POSTGRES_URL`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::time::{Duration, SystemTime};

use envoi_queue::storage::{AttemptCommit, Disposition, NewMessage};
use envoi_queue::{Storage, StorageError};
use envoi_store_postgres::{PgError, PgStore};
use envoi_types::QueueId;

use common::{lease, message_due as message};

fn retry(attempts: u32, recipients: &NewMessage) -> AttemptCommit {
    AttemptCommit {
        bounces: Vec::new(),
        disposition: Disposition::Retry {
            next_attempt: SystemTime::now() + Duration::from_secs(60 * u64::from(attempts)),
            attempts,
            recipients: recipients.meta.recipients.clone(),
            history: Default::default(),
        },
    }
}

#[tokio::test]
async fn a_stale_commit_is_refused_and_keeps_the_newer_state() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let a = common::node(&schema, "node-a").await;
    let b = common::node(&schema, "node-b").await;
    let new = message(SystemTime::now());
    let id = new.id;
    a.write(vec![new.clone()]).await.unwrap();
    assert!(a.claim(id, &lease("node-a")).await.unwrap().is_some());
    assert!(
        b.claim(id, &lease("node-b")).await.unwrap().is_none(),
        "a live lease was taken"
    );
    // node-a's lease lapses while its attempt is still running; node-b takes it over.
    schema.sql("UPDATE envoi_message SET lease_until_ns = 0");
    assert!(b.claim(id, &lease("node-b")).await.unwrap().is_some());
    b.commit_attempt(id, retry(7, &new)).await.unwrap();

    let stale = a.commit_attempt(
        id,
        AttemptCommit {
            bounces: Vec::new(),
            disposition: Disposition::Remove,
        },
    );
    assert_eq!(stale.await, Err(StorageError::NotFound(id)));
    let stale = a.commit_attempt(id, retry(1, &new)).await;
    assert_eq!(stale, Err(StorageError::NotFound(id)));
    let info = a.info(id).await.unwrap().expect("node-b's state is kept");
    assert_eq!(
        info.attempts, 7,
        "the stale commit overwrote the newer state"
    );
}

#[tokio::test]
async fn a_dead_nodes_leases_are_claimed_by_the_others() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let a = common::node(&schema, "node-a").await;
    let b = common::node(&schema, "node-b").await;
    let new = message(SystemTime::now());
    let id = new.id;
    a.write(vec![new]).await.unwrap();
    assert!(b.claim(id, &lease("node-b")).await.unwrap().is_none());
    assert!(b.poll_due(SystemTime::now(), 10).await.unwrap().is_empty());
    drop(a);
    // node-a stopped beating 20 s ago: older than the 15 s bound.
    schema.sql(
        "UPDATE envoi_node SET heartbeat = now() - interval '20 seconds' WHERE name = 'node-a'",
    );
    let due = b.poll_due(SystemTime::now(), 10).await.unwrap();
    assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id]);
    assert!(b.claim(id, &lease("node-b")).await.unwrap().is_some());
    let owner = schema.query("SELECT lease_owner FROM envoi_message");
    assert_eq!(owner, vec![Some("node-b".to_owned())]);
}

#[tokio::test]
async fn batched_claims_split_due_work_between_nodes() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let writer = common::node(&schema, "node-w").await;
    let a = common::node(&schema, "node-a").await;
    let b = common::node(&schema, "node-b").await;
    let now = SystemTime::now();
    let due: Vec<_> = (0..10).map(|_| message(now)).collect();
    let later = message(now + Duration::from_secs(3600));
    let held = message(now);
    writer.write(due.clone()).await.unwrap();
    writer
        .write(vec![later.clone(), held.clone()])
        .await
        .unwrap();
    writer.set_held(held.id, true).await.unwrap();
    // The writer leases what it stores; as if it had attempted and released them.
    schema.sql("UPDATE envoi_message SET lease_owner = NULL, lease_until_ns = NULL");

    let first = a.poll_due(now, 4).await.unwrap();
    assert_eq!(
        first.len(),
        4,
        "a batch claimed more or less than its limit"
    );
    let second = b.poll_due(now, 100).await.unwrap();
    let third = a.poll_due(now, 100).await.unwrap();
    assert_eq!(second.len(), 6);
    assert!(third.is_empty(), "a claimed message was claimed again");
    let mut claimed: Vec<QueueId> = first.iter().chain(&second).map(|e| e.id).collect();
    claimed.sort();
    let mut expected: Vec<QueueId> = due.iter().map(|m| m.id).collect();
    expected.sort();
    assert_eq!(
        claimed, expected,
        "held or not-yet-due messages were claimed"
    );
}

#[tokio::test]
async fn nodes_starting_together_migrate_once_and_newer_schemas_are_refused() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let (a, b) = tokio::join!(
        PgStore::open(schema.options("node-a")),
        PgStore::open(schema.options("node-b"))
    );
    a.unwrap();
    b.unwrap();
    let versions = schema.query("SELECT version FROM envoi_schema ORDER BY version");
    assert_eq!(
        versions,
        vec![
            Some("1".to_owned()),
            Some("2".to_owned()),
            Some("3".to_owned()),
            Some("4".to_owned()),
            Some("5".to_owned()),
            Some("6".to_owned()),
            Some("7".to_owned())
        ]
    );

    schema.sql("INSERT INTO envoi_schema (version) VALUES (8)");
    let refused = PgStore::open(schema.options("node-c"))
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(refused, PgError::NewerSchema { found: 8, known: 7 }),
        "{refused}"
    );
    assert_eq!(
        refused.to_string(),
        "the database's envoi schema is version 8, newer than this binary's 7: upgrade envoi on this node"
    );
}

#[tokio::test]
async fn counts_follow_writes_holds_retries_and_removals_without_counting_the_queue() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let a = common::node(&schema, "node-a").await;
    let b = common::node(&schema, "node-b").await;
    let messages: Vec<_> = (0..5).map(|_| message(SystemTime::now())).collect();
    a.write(messages[..3].to_vec()).await.unwrap();
    b.write(messages[3..].to_vec()).await.unwrap();
    a.set_held(messages[0].id, true).await.unwrap();
    let id = messages[1].id;
    assert!(a.claim(id, &lease("node-a")).await.unwrap().is_some());
    a.commit_attempt(id, retry(1, &messages[1])).await.unwrap();
    b.remove(messages[4].id).await.unwrap();
    let counts = b.count_by_state().await.unwrap();
    assert_eq!((counts.active, counts.deferred, counts.held), (2, 1, 1));
}

#[tokio::test]
async fn claiming_a_held_message_leaves_it_free_for_the_node_that_releases_it() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let a = common::node(&schema, "node-a").await;
    let b = common::node(&schema, "node-b").await;
    let new = message(SystemTime::now());
    let id = new.id;
    a.write(vec![new.clone()]).await.unwrap();
    assert!(a.claim(id, &lease("node-a")).await.unwrap().is_some());
    a.commit_attempt(id, retry(1, &new)).await.unwrap();
    b.set_held(id, true).await.unwrap();
    // node-a's retry finds it held and leaves it (the queue then waits for a release).
    let held = a
        .claim(id, &lease("node-a"))
        .await
        .unwrap()
        .expect("still stored");
    assert!(held.meta.held);
    b.set_held(id, false).await.unwrap();
    let due = b
        .poll_due(SystemTime::now() + Duration::from_secs(3600), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![id],
        "a held message stayed leased"
    );
}

#[tokio::test]
async fn a_failed_statement_reports_the_servers_reason() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let a = common::node(&schema, "node-a").await;
    schema.sql("DROP TABLE envoi_body");
    let error = a.write(vec![message(SystemTime::now())]).await.unwrap_err();
    let StorageError::Io(text) = error else {
        panic!("{error:?}")
    };
    assert_eq!(
        text,
        "PostgreSQL: relation \"envoi_body\" does not exist (42P01): ERROR"
    );
}
