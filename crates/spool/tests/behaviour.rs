//! The queue's behaviour suite (`envoi_queue::testkit`, docs/architecture.md section 5), run against the spool:
//! one suite, every store. Each test gets a fresh spool directory under the target's tmp dir.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::Arc;

use envoi_queue::Storage;
use envoi_spool::{Spool, SpoolOptions};

async fn spool_store() -> Arc<dyn Storage> {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    // The directory must outlive the test's store; it stays under the target's tmp dir.
    let path = dir.keep();
    let options = SpoolOptions {
        // Bounces and test messages are small; this puts some bodies in files too.
        inline_max: 64,
        cache_size: 1 << 20,
        ..SpoolOptions::default()
    };
    Arc::new(Spool::open(&path, options).unwrap())
}

// Every behaviour, through the suite's own macro.
envoi_queue::behaviour_suite!(spool_store);
