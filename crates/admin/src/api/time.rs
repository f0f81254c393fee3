//! Serde helpers: times as RFC 3339 text, durations as humantime text.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serializer};

/// Formats a time as RFC 3339 UTC with second precision, e.g. `2026-11-28T16:39:47Z`.
pub fn format(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Serializes a [`SystemTime`] as RFC 3339 text (`#[serde(with = "time::rfc3339")]`).
pub mod rfc3339 {
    use super::*;

    /// Writes the time as RFC 3339 text.
    ///
    /// # Errors
    /// Only the serializer's own errors.
    pub fn serialize<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*time))
    }

    /// Reads RFC 3339 text.
    ///
    /// # Errors
    /// When the text is not an RFC 3339 time.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_rfc3339_weak(&text)
            .map_err(|e| serde::de::Error::custom(format!("invalid time {text:?}: {e}")))
    }
}

/// Serializes an optional [`SystemTime`] as RFC 3339 text, or nothing
/// (`#[serde(default, with = "time::opt_rfc3339")]`).
pub mod opt_rfc3339 {
    use super::*;

    /// Writes the time as RFC 3339 text, or nothing.
    ///
    /// # Errors
    /// Only the serializer's own errors.
    pub fn serialize<S: Serializer>(
        time: &Option<SystemTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => serializer.serialize_some(&format(*time)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads RFC 3339 text, or nothing.
    ///
    /// # Errors
    /// When the text is not an RFC 3339 time.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        text.map(|text| {
            humantime::parse_rfc3339_weak(&text)
                .map_err(|e| serde::de::Error::custom(format!("invalid time {text:?}: {e}")))
        })
        .transpose()
    }
}

/// Serializes an optional [`Duration`] as humantime text such as `30m` or `1h 30m`
/// (`#[serde(default, with = "time::opt_duration")]`).
pub mod opt_duration {
    use super::*;

    /// Writes the duration as humantime text, or nothing.
    ///
    /// # Errors
    /// Only the serializer's own errors.
    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(d) => serializer.serialize_some(&humantime::format_duration(*d).to_string()),
            None => serializer.serialize_none(),
        }
    }

    /// Reads humantime text (`30s`, `5m`, `4h`, `5d`, `1h 30m`).
    ///
    /// # Errors
    /// When the text is not a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        text.map(|t| {
            humantime::parse_duration(&t).map_err(|e| {
                serde::de::Error::custom(format!(
                    "invalid duration {t:?} ({e}): expected e.g. 30s, 5m, 4h, 5d"
                ))
            })
        })
        .transpose()
    }
}
