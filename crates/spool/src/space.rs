//! Whether the spool's filesystem has room for mail: the check behind the spool's
//! [`envoi_queue::Storage::health`], like Postfix's `queue_minfree`.
//!
//! The edge asks at every `MAIL`, before a client sends a body, so the check is one `statvfs`
//! and no write. It counts the space an unprivileged process may use (`f_bavail`): the blocks
//! reserved for root are not the spool's.

use std::io;
use std::path::Path;

use envoi_queue::StoreHealth;

/// `Full` when the filesystem holding `dir` has less than `min_free` octets free, as `probe`
/// measures it; `Ok` otherwise, and when `min_free` is 0 (the check is off). A probe that
/// fails says nothing of the space: `Ok`, and a write that then fails says why.
pub(crate) fn check<P>(dir: &Path, min_free: u64, probe: P) -> StoreHealth
where
    P: FnOnce(&Path) -> io::Result<u64>,
{
    if min_free == 0 {
        return StoreHealth::Ok;
    }
    match probe(dir) {
        Ok(free) if free < min_free => StoreHealth::Full(format!(
            "{} has {free} octets free, below the minimum of {min_free} (storage.min_free)",
            dir.display()
        )),
        Ok(_) => StoreHealth::Ok,
        Err(error) => {
            tracing::debug!(dir = %dir.display(), %error, "cannot measure free space");
            StoreHealth::Ok
        }
    }
}

/// The octets an unprivileged process may still write on the filesystem holding `dir`.
pub(crate) fn free_octets(dir: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const MIN: u64 = 64 * 1024 * 1024;

    fn with_free(free: u64) -> impl FnOnce(&Path) -> io::Result<u64> {
        move |_| Ok(free)
    }

    #[test]
    fn less_free_space_than_the_minimum_is_full() {
        let health = check(Path::new("/spool"), MIN, with_free(MIN - 1));
        let StoreHealth::Full(reason) = health else {
            panic!("not full: {health:?}");
        };
        assert_eq!(
            reason,
            "/spool has 67108863 octets free, below the minimum of 67108864 (storage.min_free)"
        );
    }

    #[test]
    fn the_minimum_itself_is_enough() {
        assert_eq!(
            check(Path::new("/spool"), MIN, with_free(MIN)),
            StoreHealth::Ok
        );
    }

    #[test]
    fn a_minimum_of_zero_turns_the_check_off() {
        let probe = |_: &Path| -> io::Result<u64> { panic!("probed with the check off") };
        assert_eq!(check(Path::new("/spool"), 0, probe), StoreHealth::Ok);
    }

    #[test]
    fn a_probe_that_fails_does_not_refuse_mail() {
        let probe = |_: &Path| Err(io::Error::other("statvfs: EIO"));
        assert_eq!(check(Path::new("/spool"), MIN, probe), StoreHealth::Ok);
    }

    #[test]
    fn the_real_probe_measures_this_filesystem() {
        let free = free_octets(Path::new(".")).unwrap();
        assert!(free > 0);
    }
}
