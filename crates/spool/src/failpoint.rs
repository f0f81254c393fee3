//! Failpoints: named places where a crash test can stop the process.
//!
//! Compiled only with the `failpoints` feature (off by default, so release builds carry none).
//! `ENVOI_FAILPOINT=<name>:exit` exits the process with status [`EXIT_STATUS`] at that place
//! without running destructors or flushing anything (like a crash); `<name>:panic` panics there
//! (on the writer thread: the spool stops for good, its group's callers get `Io` and every
//! later call `Unavailable`; see `crate::handle`). The variable is read once.
//!
//! Names, in the order a call passes them: see [`NAMES`].

/// Every failpoint, for tests that visit each one.
pub const NAMES: &[&str] = &[
    "write.body_file_synced",
    "write.before_commit",
    "write.after_commit",
    "commit_attempt.before_commit",
    "commit_attempt.after_commit",
    "remove.before_commit",
    "remove.after_commit",
    "remove.after_unlink",
];

/// The exit status of a process stopped by an `exit` failpoint.
pub const EXIT_STATUS: i32 = 86;

/// Stops the process here if `ENVOI_FAILPOINT` names this place.
#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &str) {
    use std::sync::OnceLock;
    static CHOSEN: OnceLock<Option<(String, String)>> = OnceLock::new();
    let chosen = CHOSEN.get_or_init(|| {
        let text = std::env::var("ENVOI_FAILPOINT").ok()?;
        let (name, action) = text.split_once(':')?;
        Some((name.to_owned(), action.to_owned()))
    });
    if let Some((chosen, action)) = chosen {
        if chosen == name {
            eprintln!("failpoint {name} hit: {action}");
            if action == "panic" {
                panic!("failpoint {name}");
            }
            std::process::exit(EXIT_STATUS);
        }
    }
}

/// Without the feature a failpoint costs nothing.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_name: &str) {}
