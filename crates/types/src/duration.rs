//! Durations in configuration files, written as "30s", "5m", "4h", "5d" (feature
//! `serde-duration`).
//!
//! One helper for every crate whose settings deserialise with serde, so the accepted forms and
//! the error text ("expected a duration like \"30s\"...") are the same for every key. Use it as
//! `#[serde(with = "envoi_types::duration")]` on a field of a struct that derives `Deserialize`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

/// A duration as the configuration file writes it: "30s", "5m", "1h 30m", "2d", "250ms"
/// (what [`parse`] reads back, exactly).
pub fn format(duration: Duration) -> String {
    let secs = duration.as_secs();
    let nanos = duration.subsec_nanos();
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
        (u64::from(nanos / 1_000_000), "ms"),
        (u64::from(nanos / 1000 % 1000), "us"),
        (u64::from(nanos % 1000), "ns"),
    ];
    let text: Vec<String> = parts
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, unit)| format!("{count}{unit}"))
        .collect();
    if text.is_empty() {
        "0s".to_owned()
    } else {
        text.join(" ")
    }
}

/// Serializes a duration as [`format`] writes it.
///
/// # Errors
/// The serializer's.
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*duration))
}

/// The same for an optional field (`None` is left out).
///
/// # Errors
/// The serializer's.
pub fn serialize_option<S: Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => serialize(duration, serializer),
        None => serializer.serialize_none(),
    }
}

/// The same for a list.
///
/// # Errors
/// The serializer's.
pub fn serialize_list<S: Serializer>(
    durations: &[Duration],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(durations.iter().map(|d| format(*d)))
}

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
    fn formats_what_it_parses() {
        for secs in [0, 30, 300, 5400, 4 * 86400, 45 * 86400 + 1] {
            let duration = Duration::from_secs(secs);
            assert_eq!(parse(&format(duration)), Ok(duration));
        }
        let odd = Duration::new(90, 250_000_001);
        assert_eq!(parse(&format(odd)), Ok(odd));
        assert_eq!(format(Duration::from_secs(300)), "5m");
        assert_eq!(format(Duration::from_secs(5400)), "1h 30m");
        assert_eq!(format(Duration::from_secs(2 * 86400)), "2d");
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("4h"), Ok(Duration::from_secs(4 * 3600)));
        assert_eq!(parse("5d"), Ok(Duration::from_secs(5 * 86400)));
        assert!(parse("5 parsecs").unwrap_err().contains("\"5 parsecs\""));
    }
}
