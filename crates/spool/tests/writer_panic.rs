//! A panic in the writer thread stops the spool for good: the callers of the group get `Err`,
//! every later call fails at once with `Unavailable`, and [`Spool::stopped`] says why, so that
//! a daemon exits rather than stay half alive. Needs the `failpoints` feature; the only test in
//! this binary, because the failpoint is chosen once per process.

#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::time::Duration;

use common::{at, message};
use envoi_queue::{AttemptCommit, Disposition, Storage, StorageError, StoreHealth};
use envoi_spool::{Spool, SpoolOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_panic_stops_the_spool_for_good() {
    std::env::set_var("ENVOI_FAILPOINT", "commit_attempt.before_commit:panic");
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
    let stored = message(at(1));
    spool.write(vec![stored.clone()]).await.unwrap();
    assert!(spool.failure().is_none());

    let delivered = AttemptCommit {
        bounces: vec![],
        disposition: Disposition::Remove,
    };
    let error = spool
        .commit_attempt(stored.id, delivered)
        .await
        .unwrap_err();
    assert!(matches!(error, StorageError::Io(_)), "{error:?}");

    let why = tokio::time::timeout(Duration::from_secs(10), spool.stopped())
        .await
        .expect("the spool says it stopped");
    assert!(why.to_string().contains("spool writer panicked"), "{why}");
    assert!(matches!(why, StorageError::Unavailable(_)), "{why:?}");
    assert_eq!(spool.failure(), Some(why.clone()));
    assert_eq!(spool.health(), StoreHealth::Failing(why.to_string()));
    let refused = spool.write(vec![message(at(2))]).await.unwrap_err();
    assert_eq!(refused, why, "later calls fail at once with the reason");
    assert_eq!(spool.get(stored.id).await.unwrap_err(), why);
    // The database was not dropped (its lock is still held): only a new process reopens it.
    let again = Spool::open(dir.path(), SpoolOptions::default()).unwrap_err();
    assert!(again.to_string().contains("locked"), "{again}");
}
