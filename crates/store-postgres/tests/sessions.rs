//! The settings envoi puts on its sessions, read back from the server. Skipped without
//! `ENVOI_TEST_POSTGRES_URL`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::time::Duration;

use envoi_store_postgres::PgStore;

#[tokio::test]
async fn sessions_carry_their_timeouts_durable_commits_and_the_nodes_name() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let mut options = schema.options("node-t");
    options.statement_timeout = Duration::from_secs(7);
    options.idle_in_transaction_timeout = Duration::from_secs(11);
    let store = PgStore::open(options).await.unwrap();
    let setting = |name: &'static str| {
        let store = store.clone();
        async move { store.session_setting(name).await.unwrap() }
    };
    assert_eq!(setting("statement_timeout").await, "7s");
    assert_eq!(setting("idle_in_transaction_session_timeout").await, "11s");
    assert_eq!(setting("synchronous_commit").await, "on");
    // The server sees the node by name (what an operator looks for in pg_stat_activity).
    let sessions = schema
        .query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'envoi node-t'");
    let sessions: usize = sessions[0].as_deref().unwrap().parse().unwrap();
    assert!(sessions >= 1, "no session of node-t in pg_stat_activity");
}
