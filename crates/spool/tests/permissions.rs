//! The spool is private whatever the umask: created under the usual 022, its directories are
//! 0700 and its files (database, bodies) 0600.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{at, message, message_with};
use envoi_queue::Storage;
use envoi_spool::{Spool, SpoolOptions};
use envoi_types::QueueId;

/// Every path below `dir` (itself included) with its permission bits.
fn modes(dir: &Path, out: &mut Vec<(String, u32, bool)>) {
    let meta = std::fs::metadata(dir).unwrap();
    out.push((
        dir.display().to_string(),
        meta.permissions().mode() & 0o777,
        true,
    ));
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::metadata(&path).unwrap();
        if meta.is_dir() {
            modes(&path, out);
        } else {
            out.push((
                path.display().to_string(),
                meta.permissions().mode() & 0o777,
                false,
            ));
        }
    }
}

#[tokio::test]
async fn a_new_spool_is_private_under_umask_022() {
    // This test binary holds only this test, so changing the umask touches nothing else.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let options = SpoolOptions {
        create_dir: true,
        inline_max: 1024,
        ..SpoolOptions::default()
    };
    let spool = Spool::open(&spool_dir, options).unwrap();
    let big = message_with(QueueId::new(), 64 * 1024, at(10));
    spool.write(vec![message(at(5)), big]).await.unwrap();
    drop(spool);

    let mut found = Vec::new();
    modes(&spool_dir, &mut found);
    assert!(
        found.iter().any(|(path, _, _)| path.contains("bodies/")),
        "{found:?}"
    );
    for (path, mode, is_dir) in &found {
        let expected = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, expected, "{path} is {mode:o}");
    }
}
