//! Durations in configuration files, written as "30s", "5m", "4h", "5d" (feature
//! `serde-duration`).
//!
//! One helper for every crate whose settings deserialise with serde, so the accepted forms and
//! the error text ("expected a duration like \"30s\"...") are the same for every key. Use it as
//! `#[serde(with = "envoi_types::duration")]` on a field of a struct that derives `Deserialize`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// Deserializes a humane duration; the error says what was expected, and TOML adds the line.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_str(HumaneDuration)
}

/// The same for an optional field.
pub fn option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    deserialize(deserializer).map(Some)
}

/// The same for a list.
pub fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Duration>, D::Error> {
    let texts: Vec<String> = serde::Deserialize::deserialize(deserializer)?;
    texts
        .iter()
        .map(|t| parse(t).map_err(de::Error::custom))
        .collect()
}

/// Parses "30s", "5m", "4h", "5d", "1h 30m".
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|_| {
        format!("invalid duration {text:?}: expected a number and a unit, like \"30s\", \"5m\", \"4h\" or \"5d\"")
    })
}

struct HumaneDuration;

impl Visitor<'_> for HumaneDuration {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration like \"30s\", \"5m\", \"4h\" or \"5d\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("4h"), Ok(Duration::from_secs(4 * 3600)));
        assert_eq!(parse("5d"), Ok(Duration::from_secs(5 * 86400)));
        assert!(parse("5 parsecs").unwrap_err().contains("\"5 parsecs\""));
    }
}
