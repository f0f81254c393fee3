//! The crash-test workload (run in a child process) and the checks run after each crash.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use envoi_queue::{AttemptCommit, Disposition, Storage};
use envoi_spool::{Spool, SpoolOptions};
use envoi_types::{QueueId, RecipientState};
use rand::Rng;

use super::{at, body_for, message, size_for};

/// Bodies above this go to files: the workload's sizes straddle it, and the large inline ones
/// (9000 octets and more) are cut into chunks, so all three placements are crashed.
pub const INLINE_MAX: usize = 10_000;

/// Exit status of a child that saw a storage error (after a `panic` failpoint).
pub const CHILD_STORAGE_ERROR: i32 = 3;

/// Checks at open (rather than in the background) so that what the pack check repaired after
/// a crash is in the start-up report, which [`verify_open`] asserts is nothing.
pub fn options() -> SpoolOptions {
    SpoolOptions {
        inline_max: INLINE_MAX,
        verify_at_open: true,
        ..SpoolOptions::default()
    }
}

/// Appends one line in a single write: an acknowledgement (`W`, `R`, `D`) after the call
/// returned `Ok`, or an intent (`r`, `d`) before the call starts, so that the parent knows which
/// change may have been in flight at the crash.
fn ack(log: &Mutex<File>, line: String) {
    let mut file = log.lock().unwrap();
    file.write_all(format!("{line}\n").as_bytes()).unwrap();
}

/// The child's workload: `writers` tasks, each writing messages and then, at random,
/// rescheduling them (first recipient delivered, sometimes with a bounce) and removing them.
/// Every call that returns `Ok` is logged to `log`. Bounded by `max_ops` per task and 20 s.
pub fn run_child(dir: &Path, log: &Path, writers: usize, max_ops: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let log = Arc::new(Mutex::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap(),
    ));
    runtime.block_on(async move {
        let spool = Spool::open(dir, options()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut tasks = Vec::new();
        for _ in 0..writers {
            let (spool, log) = (spool.clone(), Arc::clone(&log));
            tasks.push(tokio::spawn(async move {
                for _ in 0..max_ops {
                    if Instant::now() > deadline {
                        break;
                    }
                    if let Err(e) = one_message(&spool, &log).await {
                        eprintln!("storage error: {e}");
                        std::process::exit(CHILD_STORAGE_ERROR);
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// One message's life: write, maybe reschedule (with a bounce), maybe remove; each logged.
pub async fn one_message(
    spool: &Spool,
    log: &Mutex<File>,
) -> Result<(), envoi_queue::StorageError> {
    let m = message(at(100));
    spool.write(vec![m.clone()]).await?;
    ack(log, format!("W {}", m.id));
    let (retry, bounce, delete, admin) = {
        let mut rng = rand::thread_rng();
        (
            rng.gen_bool(0.6),
            rng.gen_bool(0.3),
            rng.gen_bool(0.5),
            rng.gen_bool(0.5),
        )
    };
    if retry {
        let mut recipients = m.meta.recipients.clone();
        recipients[0].state = RecipientState::Delivered;
        let bounces = if bounce { vec![message(at(5))] } else { vec![] };
        ack(log, format!("r {}", m.id));
        let commit = AttemptCommit {
            bounces: bounces.clone(),
            disposition: Disposition::Retry {
                next_attempt: at(200),
                attempts: 1,
                recipients,
                history: Default::default(),
            },
        };
        spool.commit_attempt(m.id, commit).await?;
        ack(log, format!("R {}", m.id));
        for b in bounces {
            ack(log, format!("W {}", b.id));
        }
    }
    if delete {
        ack(log, format!("d {}", m.id));
        if admin {
            spool.remove(m.id).await?;
        } else {
            let commit = AttemptCommit {
                bounces: vec![],
                disposition: Disposition::Remove,
            };
            spool.commit_attempt(m.id, commit).await?;
        }
        ack(log, format!("D {}", m.id));
    }
    Ok(())
}

/// What the parent knows of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Stored, never attempted.
    Written,
    /// Rescheduled with its first recipient delivered.
    Retried,
    /// Removed (delivered): must never come back.
    Removed,
}

/// Changes that were started but not acknowledged in the last run: each may or may not have
/// happened.
#[derive(Debug, Default)]
pub struct InFlight {
    /// A reschedule was started.
    pub retry: std::collections::BTreeSet<QueueId>,
    /// A removal was started.
    pub remove: std::collections::BTreeSet<QueueId>,
}

/// Reads the acknowledgement log of one child run into `model` (and the intents into
/// `in_flight`), returning the number of acknowledgements.
pub fn read_acks(
    log: &Path,
    model: &mut BTreeMap<QueueId, Known>,
    in_flight: &mut InFlight,
) -> usize {
    *in_flight = InFlight::default();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut count = 0;
    for line in text.lines() {
        // A line cut by the kill is not an acknowledgement the parent can rely on.
        let Some((kind, id)) = line.split_once(' ') else {
            continue;
        };
        let Ok(id) = id.parse::<QueueId>() else {
            continue;
        };
        match kind {
            "r" => {
                in_flight.retry.insert(id);
                continue;
            }
            "d" => {
                in_flight.remove.insert(id);
                continue;
            }
            _ => {}
        }
        let state = match kind {
            "W" => Known::Written,
            "R" => Known::Retried,
            "D" => Known::Removed,
            _ => continue,
        };
        count += 1;
        let entry = model.entry(id).or_insert(state);
        if state_rank(state) > state_rank(*entry) {
            *entry = state;
        }
    }
    let _ = std::fs::remove_file(log);
    count
}

fn state_rank(state: Known) -> u8 {
    match state {
        Known::Written => 0,
        Known::Retried => 1,
        Known::Removed => 2,
    }
}

/// Opens the spool after a crash and checks every invariant against `model`; then folds what
/// it found (writes and updates that were in flight) into the model.
pub async fn verify(dir: &Path, model: &mut BTreeMap<QueueId, Known>, in_flight: &InFlight) {
    let spool = Spool::open(dir, options()).unwrap();
    verify_open(&spool, INLINE_MAX, model, in_flight).await;
}

/// [`verify`] on a spool already open, whose bodies above `inline_max` are files.
pub async fn verify_open(
    spool: &Spool,
    inline_max: usize,
    model: &mut BTreeMap<QueueId, Known>,
    in_flight: &InFlight,
) {
    let dir = spool.dir();
    // Every pack's count is the number of rows naming it: at open (the spools of the crash
    // tests check at open), and now.
    let clean = envoi_spool::PackCheck::default();
    assert_eq!(spool.startup_report().packs, clean, "pack counts at open");
    assert_eq!(spool.check_packs().unwrap(), clean, "pack counts");
    // Decode every metadata record now (the background check may not have reached them).
    assert!(
        spool.verify_records().unwrap().is_empty(),
        "no corrupt record"
    );
    assert!(
        spool.quarantined().await.unwrap().is_empty(),
        "nothing set aside"
    );
    let schedule = spool.load_schedule().await.unwrap();
    assert!(
        schedule
            .windows(2)
            .all(|w| (w[0].next_attempt, w[0].id) <= (w[1].next_attempt, w[1].id)),
        "schedule in due order"
    );
    let mut present = BTreeMap::new();
    for entry in &schedule {
        let stored = spool
            .get(entry.id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} is in the schedule but cannot be read", entry.id));
        assert_eq!(
            stored.envelope.message.as_bytes(),
            body_for(entry.id, size_for(entry.id)).as_slice(),
            "body of {} is byte-identical",
            entry.id
        );
        let retried = stored.meta.attempts == 1;
        assert_eq!(
            retried,
            stored.meta.recipients[0].state == RecipientState::Delivered,
            "state of {} is one of the states written",
            entry.id
        );
        present.insert(
            entry.id,
            if retried {
                Known::Retried
            } else {
                Known::Written
            },
        );
    }
    for (id, known) in model.iter() {
        // An unacknowledged change may or may not have landed; an acknowledged one must have.
        let removing = in_flight.remove.contains(id);
        let retrying = in_flight.retry.contains(id);
        match (known, present.get(id)) {
            (Known::Removed, Some(_)) => panic!("{id} was removed (delivered) and came back"),
            (Known::Removed, None) => {}
            (_, None) if removing => {}
            (_, None) => panic!("{id} was acknowledged ({known:?}) and is lost"),
            (Known::Retried, Some(Known::Written)) => {
                panic!("{id}: its acknowledged reschedule is lost")
            }
            (Known::Written, Some(Known::Retried)) if !retrying => {
                panic!("{id} was rescheduled by no call")
            }
            _ => {}
        }
    }
    for id in present.keys() {
        if !model.contains_key(id) {
            // A write in flight that landed: fine, and the child rescheduled none of these.
            assert!(
                !in_flight.retry.contains(id),
                "{id}: intent before its write"
            );
        }
    }
    // In-flight changes that landed become the new truth; in-flight removals too.
    for id in model.keys().copied().collect::<Vec<_>>() {
        if !present.contains_key(&id) {
            model.insert(id, Known::Removed);
        }
    }
    for (id, state) in present {
        model.insert(id, state);
    }
    // Body files on disk are exactly those of present file-bodied messages.
    let mut files = 0;
    for entry in std::fs::read_dir(dir.join("bodies")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let id: QueueId = name.parse().unwrap_or_else(|_| panic!("stray file {name}"));
        assert!(
            model.get(&id) != Some(&Known::Removed) && model.contains_key(&id),
            "body file {name} has no live message"
        );
        files += 1;
    }
    let live_files = model
        .iter()
        .filter(|(id, k)| **k != Known::Removed && size_for(**id) > inline_max)
        .count();
    assert_eq!(files, live_files, "one body file per live large message");
}
