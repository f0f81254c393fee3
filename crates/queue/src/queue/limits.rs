//! Per-destination limits: attempts in flight and starts per second, with their defaults.

use std::collections::{BTreeMap, HashMap};

use crate::destination::Destination;
use crate::settings::DestinationLimits;

/// One destination's limits as applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Effective {
    /// Attempts in flight at once.
    pub max_in_flight: usize,
    /// Microseconds between two starts; 0: no rate limit.
    pub interval_us: u64,
}

/// The queue-wide limits and the named destinations' own.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    default: Effective,
    named: HashMap<Destination, Effective>,
}

impl Limits {
    /// `max_in_flight` and `per_second` for every destination, but those `named` (by a
    /// domain or route name) override. A rate that is not positive and finite is no limit.
    pub fn new(
        max_in_flight: usize,
        per_second: Option<f64>,
        named: &BTreeMap<String, DestinationLimits>,
    ) -> Self {
        let default = Effective {
            max_in_flight: max_in_flight.max(1),
            interval_us: interval_us(per_second),
        };
        let named = named
            .iter()
            .map(|(name, own)| {
                let limits = Effective {
                    max_in_flight: own
                        .max_in_flight
                        .map_or(default.max_in_flight, |n| n.max(1)),
                    interval_us: own
                        .messages_per_second
                        .map_or(default.interval_us, |r| interval_us(Some(r))),
                };
                (Destination::new(name), limits)
            })
            .collect();
        Self { default, named }
    }

    /// The limits of `dest`. The unsorted lane has none: its attempts only learn their
    /// destination, and take a slot there before the relay is called.
    pub fn of(&self, dest: &Destination) -> Effective {
        if dest.is_unsorted() {
            return Effective {
                max_in_flight: usize::MAX,
                interval_us: 0,
            };
        }
        self.named.get(dest).copied().unwrap_or(self.default)
    }
}

/// The spacing of starts at `per_second`, in µs (at least 1); 0 for no limit.
fn interval_us(per_second: Option<f64>) -> u64 {
    match per_second {
        Some(rate) if rate.is_finite() && rate > 0.0 => {
            // Saturating float-to-int cast: a tiny rate is a very long interval.
            ((1_000_000.0 / rate).round() as u64).max(1)
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_destinations_override_the_defaults_field_by_field() {
        let mut named = BTreeMap::new();
        let own = DestinationLimits {
            max_in_flight: Some(2),
            messages_per_second: None,
        };
        named.insert("Slow.Example".to_owned(), own);
        let limits = Limits::new(20, Some(4.0), &named);
        let slow = limits.of(&Destination::new("slow.example"));
        assert_eq!((slow.max_in_flight, slow.interval_us), (2, 250_000));
        let other = limits.of(&Destination::new("other.example"));
        assert_eq!((other.max_in_flight, other.interval_us), (20, 250_000));
        assert_eq!(interval_us(Some(f64::NAN)), 0);
        assert_eq!(interval_us(Some(-1.0)), 0);
        assert_eq!(interval_us(Some(3.0)), 333_333);
    }
}
