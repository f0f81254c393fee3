//! `[queue]`: lifetime, concurrency, backoff and prequeue policies.
//!
//! The concurrency limits and the shutdown grace are the queue's own [`QueueSettings`], read
//! from keys of this table (see [`super::table`]); their defaults are the queue's.

use std::collections::BTreeMap;
use std::time::Duration;

use envoi_queue::QueueSettings;
use serde::{Deserialize, Serialize};

use super::table::{to_table, Embeds};

/// `[queue]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSection {
    /// Maximum time in the queue before a message fails with 4.4.7 (default 5d).
    #[serde(
        default,
        deserialize_with = "super::duration::option",
        serialize_with = "super::duration::serialize_option"
    )]
    pub max_lifetime: Option<Duration>,
    /// The queue's settings; each field it deserialises is a key of this table.
    #[serde(skip)]
    pub settings: QueueSettings,
    /// The retry schedule; default: RFC 5321 minded (5m, 10m, 30m, 1h, 2h, then every 4h).
    #[serde(default)]
    pub backoff: Option<BackoffSection>,
    /// Prequeue policies, in order: "add-date", "add-message-id", "split-by-domain", "forward".
    #[serde(default)]
    pub policies: Vec<PolicyName>,
    /// The alias table for the "forward" policy: address or "@domain" → targets.
    #[serde(default)]
    pub aliases: BTreeMap<String, Vec<String>>,
}

impl Embeds for QueueSection {
    type Parts = (QueueSettings,);

    fn with_parts(self, (settings,): Self::Parts) -> Self {
        Self { settings, ..self }
    }

    fn part_tables(&self) -> Result<Vec<toml::Table>, String> {
        Ok(vec![to_table(&self.settings)?])
    }
}

/// `[queue.backoff]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum BackoffSection {
    /// `first × factor^(n−1)`, capped, at most `max_attempts` retries (the seed's form:
    /// first = "60s", factor = 5, max_attempts = 5).
    Exponential {
        /// Delay after the first failure.
        #[serde(
            deserialize_with = "super::duration::deserialize",
            serialize_with = "super::duration::serialize"
        )]
        first: Duration,
        /// Growth per retry.
        factor: f64,
        /// Give up after this many failed attempts.
        max_attempts: u32,
        /// Longest delay.
        #[serde(
            default,
            deserialize_with = "super::duration::option",
            serialize_with = "super::duration::serialize_option"
        )]
        cap: Option<Duration>,
    },
    /// A list of delays, the last repeating, until the maximum lifetime.
    Schedule {
        /// E.g. ["5m", "10m", "30m", "1h", "2h", "4h"].
        #[serde(
            deserialize_with = "super::duration::list",
            serialize_with = "super::duration::serialize_list"
        )]
        delays: Vec<Duration>,
    },
}

/// A built-in prequeue policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyName {
    /// Add `Date:` when missing.
    AddDate,
    /// Add `Message-ID:` when missing.
    AddMessageId,
    /// One queued copy per recipient domain.
    SplitByDomain,
    /// Rewrite recipients from `queue.aliases`.
    Forward,
}

impl QueueSection {
    pub(super) fn validate(&self) -> Result<(), String> {
        match &self.backoff {
            Some(BackoffSection::Exponential { factor, .. })
                if !factor.is_finite() || *factor < 1.0 =>
            {
                return Err(format!(
                    "queue.backoff.factor must be a finite number, at least 1, not {factor}"
                ));
            }
            Some(BackoffSection::Schedule { delays }) if delays.is_empty() => {
                return Err("queue.backoff.delays must list at least one delay".into());
            }
            _ => {}
        }
        for (key, targets) in &self.aliases {
            for target in targets {
                envoi_types::Address::parse(target)
                    .map_err(|e| format!("queue.aliases.{key:?}: {target:?}: {e}"))?;
            }
        }
        if self.settings.max_deliveries == 0 {
            return Err("queue.max_deliveries must be at least 1".into());
        }
        if self.settings.max_per_destination == 0 {
            return Err("queue.max_per_destination must be at least 1".into());
        }
        check_rate(
            "queue.messages_per_second",
            self.settings.messages_per_second,
        )?;
        for (name, own) in &self.settings.destinations {
            let key = format!("queue.destinations.{name:?}");
            check_destination_name(&key, name)?;
            if own.max_in_flight == Some(0) {
                return Err(format!("{key}.max_in_flight must be at least 1"));
            }
            check_rate(
                &format!("{key}.messages_per_second"),
                own.messages_per_second,
            )?;
        }
        Ok(())
    }
}

/// A rate, when given, is a positive finite number.
pub(super) fn check_rate(key: &str, rate: Option<f64>) -> Result<(), String> {
    match rate {
        Some(rate) if !rate.is_finite() || rate <= 0.0 => {
            Err(format!("{key} must be a positive number, not {rate}"))
        }
        _ => Ok(()),
    }
}

/// A destination name (a domain, a route key, `*`) has no spaces or control characters.
pub(super) fn check_destination_name(key: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{key}: not a destination name (a domain or a route name)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoi_queue::DestinationLimits;

    fn with(settings: QueueSettings) -> Result<(), String> {
        QueueSection {
            settings,
            ..QueueSection::default()
        }
        .validate()
    }

    #[test]
    fn destination_limits_are_checked_and_named() {
        let mut settings = QueueSettings {
            messages_per_second: Some(0.0),
            ..QueueSettings::default()
        };
        let message = with(settings.clone()).unwrap_err();
        assert!(message.contains("queue.messages_per_second"), "{message}");
        settings.messages_per_second = Some(10.0);
        let own = DestinationLimits {
            max_in_flight: Some(0),
            messages_per_second: None,
        };
        settings.destinations.insert("slow.example".into(), own);
        let message = with(settings.clone()).unwrap_err();
        assert!(
            message.contains("queue.destinations.\"slow.example\".max_in_flight"),
            "{message}"
        );
        let own = DestinationLimits {
            max_in_flight: Some(2),
            messages_per_second: Some(f64::INFINITY),
        };
        settings.destinations.insert("slow.example".into(), own);
        let message = with(settings.clone()).unwrap_err();
        assert!(message.contains("messages_per_second"), "{message}");
        settings.destinations.clear();
        settings
            .destinations
            .insert("a b".into(), DestinationLimits::default());
        assert!(with(settings.clone())
            .unwrap_err()
            .contains("not a destination name"));
        settings.destinations.clear();
        assert_eq!(with(settings), Ok(()));
    }
}
