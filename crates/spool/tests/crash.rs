//! Crash tests: a child process (this test binary, re-run in "child" mode) runs a concurrent
//! workload on a spool and is killed — by SIGKILL at random moments, or by a failpoint — and the
//! parent checks after each restart that every acknowledged change is there, byte-identical,
//! and nothing delivered came back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::crash::{read_acks, run_child, verify, InFlight, Known};
use envoi_types::QueueId;
use rand::Rng;

const CHILD_DIR: &str = "ENVOI_SPOOL_CRASH_DIR";
const CHILD_LOG: &str = "ENVOI_SPOOL_CRASH_LOG";

/// The child's entry point; does nothing unless the parent set the variables.
#[test]
#[ignore = "run by the crash tests in a child process"]
fn crash_child() {
    let (Ok(dir), Ok(log)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_LOG)) else {
        return;
    };
    run_child(Path::new(&dir), Path::new(&log), 8, 400);
}

fn child(dir: &Path, log: &Path, failpoint: Option<&str>) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_LOG, log)
        .env_remove("ENVOI_FAILPOINT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(failpoint) = failpoint {
        command.env("ENVOI_FAILPOINT", failpoint);
    }
    command
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("acks.log");
    let spool_dir = dir.path().join("spool");
    std::fs::create_dir(&spool_dir).unwrap();
    let runtime = runtime();
    let mut model: BTreeMap<QueueId, Known> = BTreeMap::new();
    let mut in_flight = InFlight::default();
    let mut acked_total = 0;
    for round in 0..20 {
        let mut process = child(&spool_dir, &log, None).spawn().unwrap();
        let delay = rand::thread_rng().gen_range(5..400);
        std::thread::sleep(Duration::from_millis(delay));
        process.kill().unwrap(); // SIGKILL
        let status = process.wait().unwrap();
        // Killed, or done with its bounded workload; never stopped by a storage error.
        assert!(
            status.code().is_none() || status.success(),
            "round {round}: child failed: {status}"
        );
        let acked = read_acks(&log, &mut model, &mut in_flight);
        acked_total += acked;
        eprintln!("round {round}: killed after {delay} ms ({status}), {acked} acks");
        runtime.block_on(verify(&spool_dir, &mut model, &in_flight));
    }
    assert!(acked_total > 0, "the children acknowledged something");
    assert!(
        model.values().any(|k| *k == Known::Removed)
            && model.values().any(|k| *k == Known::Retried),
        "the workload removed and rescheduled messages"
    );
}

#[cfg(feature = "failpoints")]
#[test]
fn every_failpoint_exit_and_panic_loses_nothing_acknowledged() {
    use envoi_spool::failpoint::{EXIT_STATUS, NAMES};
    use std::time::Instant;

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("acks.log");
    let spool_dir = dir.path().join("spool");
    std::fs::create_dir(&spool_dir).unwrap();
    let runtime = runtime();
    let mut model: BTreeMap<QueueId, Known> = BTreeMap::new();
    let mut in_flight = InFlight::default();
    for name in NAMES {
        for action in ["exit", "panic"] {
            let chosen = format!("{name}:{action}");
            let mut process = child(&spool_dir, &log, Some(&chosen)).spawn().unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            let status = loop {
                if let Some(status) = process.try_wait().unwrap() {
                    break status;
                }
                if Instant::now() > deadline {
                    process.kill().unwrap();
                    panic!("{chosen}: the child never reached the failpoint");
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut process.stderr.take().unwrap(), &mut stderr)
                .unwrap();
            assert!(
                stderr.contains(&format!("failpoint {name} hit")),
                "{chosen}: not hit; stderr: {stderr}"
            );
            let expected = if action == "exit" {
                EXIT_STATUS
            } else {
                common::crash::CHILD_STORAGE_ERROR
            };
            assert_eq!(status.code(), Some(expected), "{chosen}: {stderr}");
            let acked = read_acks(&log, &mut model, &mut in_flight);
            eprintln!("{chosen}: {status}, {acked} acks");
            runtime.block_on(verify(&spool_dir, &mut model, &in_flight));
        }
    }
}
