//! Policies fetched, per policy domain, kept for their `max_age` (RFC 8461 §5.1) in memory
//! and, when a directory is configured, on disk so a restart does not refetch them.
//!
//! One small file per domain, `<domain>.policy`, written to a temporary file then renamed
//! over the old one (a crash leaves the old or the new file, never half of one):
//!
//! ```text
//! envoi-mta-sts 1
//! id: <policy id from the TXT record>
//! fetched: <seconds since the epoch>
//!
//! <the policy text>
//! ```
//!
//! # Layout
//! - [`Cached`]: one policy with its id and when it was fetched.
//! - [`Cache`]: the map and its directory.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::policy::Policy;

/// The first line of a cache file.
const MAGIC: &str = "envoi-mta-sts 1";

/// One cached policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    /// The id of the TXT record the policy was fetched for.
    pub id: String,
    /// The policy.
    pub policy: Policy,
    /// When it was fetched.
    pub fetched: SystemTime,
}

impl Cached {
    /// True while `now` is within the policy's `max_age` of its fetch (a fetch time in the
    /// future, after a clock step back, counts as now).
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        let age = now.duration_since(self.fetched).unwrap_or(Duration::ZERO);
        age < self.policy.max_age
    }

    fn to_file(&self) -> String {
        let secs = self
            .fetched
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        format!(
            "{MAGIC}\nid: {}\nfetched: {secs}\n\n{}",
            self.id, self.policy
        )
    }

    fn from_file(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(MAGIC)?.strip_prefix('\n')?;
        let (head, policy) = rest.split_once("\n\n")?;
        let mut id = None;
        let mut fetched = None;
        for line in head.lines() {
            match line.split_once(": ") {
                Some(("id", value)) => id = Some(value.to_owned()),
                Some(("fetched", value)) => fetched = value.parse::<u64>().ok(),
                _ => return None,
            }
        }
        Some(Self {
            id: id?,
            policy: Policy::parse(policy).ok()?,
            fetched: UNIX_EPOCH.checked_add(Duration::from_secs(fetched?))?,
        })
    }
}

/// Cached policies by domain (lower case).
#[derive(Debug)]
pub struct Cache {
    dir: Option<PathBuf>,
    entries: Mutex<HashMap<String, Arc<Cached>>>,
}

impl Cache {
    /// A cache kept in `dir` (created when missing), loaded from the files already there; a
    /// file that does not read as a policy is ignored (and replaced at the next fetch). With
    /// no directory the cache lives in memory only.
    pub fn open(dir: Option<PathBuf>) -> Self {
        let mut entries = HashMap::new();
        if let Some(dir) = &dir {
            if let Err(e) = std::fs::create_dir_all(dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot create the MTA-STS cache");
            }
            entries = load(dir);
        }
        Self {
            dir,
            entries: Mutex::new(entries),
        }
    }

    /// The policy cached for `domain`, fresh or not.
    pub fn get(&self, domain: &str) -> Option<Arc<Cached>> {
        self.entries.lock().ok()?.get(domain).cloned()
    }

    /// Caches `cached` for `domain`, and writes it to disk when the cache has a directory (a
    /// write failure is logged: the policy still serves from memory). The write blocks: it
    /// happens once per fetched policy (a changed id or an expired `max_age`), a few hundred
    /// octets.
    pub fn put(&self, domain: &str, cached: Cached) -> Arc<Cached> {
        let cached = Arc::new(cached);
        if let Some(dir) = &self.dir {
            if let Err(e) = store(dir, domain, &cached) {
                tracing::warn!(domain, error = %e, "cannot write the MTA-STS policy cache");
            }
        }
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(domain.to_owned(), cached.clone());
        }
        cached
    }
}

/// A domain's file name, `None` for a name that is not a plain (A-label) domain: such a
/// policy is cached in memory only.
fn file_name(domain: &str) -> Option<String> {
    let plain = !domain.is_empty()
        && !domain.starts_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    plain.then(|| format!("{domain}.policy"))
}

fn store(dir: &Path, domain: &str, cached: &Cached) -> std::io::Result<()> {
    let Some(name) = file_name(domain) else {
        return Ok(());
    };
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(cached.to_file().as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))
}

fn load(dir: &Path) -> HashMap<String, Arc<Cached>> {
    let mut entries = HashMap::new();
    let Ok(listing) = std::fs::read_dir(dir) else {
        return entries;
    };
    for entry in listing.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(domain) = name.strip_suffix(".policy") else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let read = std::fs::read_to_string(entry.path()).ok();
        match read.as_deref().and_then(Cached::from_file) {
            Some(cached) => {
                entries.insert(domain.to_owned(), Arc::new(cached));
            }
            None => {
                tracing::warn!(file = %entry.path().display(), "ignoring an unreadable MTA-STS cache file")
            }
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(id: &str, max_age: u64) -> Cached {
        let text = format!("version: STSv1\nmode: enforce\nmx: *.a.test\nmax_age: {max_age}\n");
        Cached {
            id: id.to_owned(),
            policy: Policy::parse(&text).unwrap(),
            fetched: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    #[test]
    fn freshness_follows_max_age() {
        let c = cached("a", 60);
        assert!(c.is_fresh(c.fetched + Duration::from_secs(59)));
        assert!(!c.is_fresh(c.fetched + Duration::from_secs(60)));
        assert!(c.is_fresh(c.fetched - Duration::from_secs(5)));
    }

    #[test]
    fn policies_survive_a_reopen() {
        let dir = std::env::temp_dir().join(format!("envoi-sts-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cache = Cache::open(Some(dir.clone()));
        cache.put("a.test", cached("v1", 600));
        cache.put("B_ad/name", cached("v1", 600));
        std::fs::write(dir.join("junk.policy"), "not a policy").unwrap();
        let reopened = Cache::open(Some(dir.clone()));
        assert_eq!(reopened.get("a.test").as_deref(), Some(&cached("v1", 600)));
        assert_eq!(reopened.get("junk"), None);
        assert_eq!(reopened.get("B_ad/name"), None, "kept in memory only");
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(files.len(), 2, "{files:?}: no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
