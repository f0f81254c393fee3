//! The store's health as the queue asks it before taking mail (`Storage::health`): the
//! heartbeat is the probe, so a store that cannot write says so before a client sends a body,
//! and says it is well again on its own.

mod common;

use std::time::{Duration, Instant};

use envoi_queue::{Storage, StoreHealth};
use envoi_store_postgres::PgStore;

async fn until(store: &PgStore, wanted: impl Fn(&StoreHealth) -> bool) -> StoreHealth {
    let start = Instant::now();
    loop {
        let health = store.health();
        if wanted(&health) || start.elapsed() > Duration::from_secs(20) {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_failing_heartbeat_makes_the_store_failing_until_one_succeeds() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let mut options = schema.options("node-h");
    options.heartbeat = Duration::from_millis(100);
    let store = PgStore::open(options).await.unwrap();
    assert_eq!(store.health(), StoreHealth::Ok);

    // The heartbeat's table gone: every beat fails, as every write would.
    schema.sql("ALTER TABLE envoi_node RENAME TO envoi_node_away");
    let failing = until(&store, |h| matches!(h, StoreHealth::Failing(_))).await;
    let StoreHealth::Failing(reason) = failing else {
        panic!("still {failing:?}");
    };
    assert!(reason.contains("database"), "{reason}");

    schema.sql("ALTER TABLE envoi_node_away RENAME TO envoi_node");
    assert_eq!(
        until(&store, |h| *h == StoreHealth::Ok).await,
        StoreHealth::Ok
    );
}
