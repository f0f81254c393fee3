//! The queue's behaviour suite (`envoi_queue::testkit::suite`) against the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::Arc;

use envoi_queue::{MemoryStore, Storage};

async fn memory_store() -> Arc<dyn Storage> {
    Arc::new(MemoryStore::new())
}

envoi_queue::behaviour_suite!(memory_store);
