//! Queue ids: unique across restarts and nodes, ordered by creation time.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// The id of one stored message.
///
/// A ULID: 48 bits of milliseconds since the Unix epoch, then 80 random bits. Ids made by one
/// process are strictly increasing; ids from different nodes collide with negligible
/// probability. Printed as 26 Crockford base-32 characters, whose text order is time order;
/// [`QueueId::to_bytes`] is big-endian so byte order is time order too.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct QueueId(Ulid);

/// The 26-character text, as [`fmt::Display`] prints it: logs that print an id or a list of ids
/// with `?` show what an operator can paste into `envoi queue show`.
impl fmt::Debug for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why text is not a queue id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid queue id {0:?}: expected 26 base-32 characters")]
pub struct ParseQueueIdError(pub String);

static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);

impl QueueId {
    /// A new id, greater than every id this process made before.
    pub fn new() -> Self {
        let mut guard = GENERATOR
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let generator = guard.get_or_insert_with(ulid::Generator::new);
        // The generator fails only when 2^80 ids were made in one millisecond; fall back to a
        // fresh random id, which is still unique.
        Self(generator.generate().unwrap_or_else(|_| Ulid::new()))
    }

    /// The creation time encoded in the id (millisecond precision).
    pub fn created(&self) -> SystemTime {
        self.0.datetime()
    }

    /// The 16 bytes, big-endian.
    pub fn to_bytes(&self) -> [u8; 16] {
        self.0.to_bytes()
    }

    /// The id from [`QueueId::to_bytes`].
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Ulid::from_bytes(bytes))
    }
}

impl Default for QueueId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for QueueId {
    type Err = ParseQueueIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ulid::from_string(s)
            .map(Self)
            .map_err(|_| ParseQueueIdError(s.to_owned()))
    }
}

impl From<QueueId> for String {
    fn from(value: QueueId) -> Self {
        value.to_string()
    }
}

impl TryFrom<String> for QueueId {
    type Error = ParseQueueIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_the_text_an_operator_can_paste() {
        let ids = [QueueId::new(), QueueId::new()];
        let text = format!("{ids:?}");
        assert_eq!(text, format!("[{}, {}]", ids[0], ids[1]));
        assert_eq!(format!("{:?}", ids[0]).len(), 26);
    }

    #[test]
    fn ids_increase_and_round_trip() {
        let ids: Vec<QueueId> = (0..1000).map(|_| QueueId::new()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        for id in &ids {
            assert_eq!(id.to_string().parse::<QueueId>().unwrap(), *id);
            assert_eq!(QueueId::from_bytes(id.to_bytes()), *id);
        }
        assert!(ids.windows(2).all(|w| w[0].to_bytes() < w[1].to_bytes()));
        assert!(ids.windows(2).all(|w| w[0].to_string() < w[1].to_string()));
    }

    #[test]
    fn rejects_garbage() {
        assert!("not-an-id".parse::<QueueId>().is_err());
        assert!("".parse::<QueueId>().is_err());
    }

    #[test]
    fn creation_time_is_now() {
        let id = QueueId::new();
        let age = SystemTime::now().duration_since(id.created()).unwrap();
        assert!(age.as_secs() < 5);
    }
}
