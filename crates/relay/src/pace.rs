//! Per-destination connection limits: messages per connection and new connections per
//! second. A destination here is the queue's ([`envoi_queue::Relay::destination`]): a route
//! key, `*` for the smarthost, or the MX domain.
//!
//! The connection rate is a token bucket holding one token (no burst), behind a fair (FIFO)
//! async mutex per destination, its [`Gate`]: a delivery that needs a new connection queues
//! at the gate, and only the delivery at its head waits for the token. So deliveries keep
//! the order in which they asked (the queue starts them in due order) and a later one cannot
//! overtake an earlier one; the head also takes a connection put back while it waits.
//!
//! A delivery waiting at the gate holds the queue's delivery slot it was started with. The
//! queue bounds those per destination (`max_in_flight`), so a slow rate can hold at most that
//! many of the queue's slots, and the queue's other slots keep serving other destinations.
//! Moving the wait into the queue would need the queue to know, before the relay is called,
//! whether a delivery will reuse a pooled connection or open one; only the pool knows that.
//!
//! # Layout
//! - [`Pacing`]: the limits of every destination, and their gates.
//! - [`Pace`]: one destination's limits, as a delivery carries them to the pool.
//! - [`Gate`] / `Bucket`: the FIFO turn and the token bucket (sans-IO).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::PoolConfig;

/// The longest spacing between two connections: a tiny rate is at most one a day.
const LONGEST_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// One destination's connection limits as applied.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Effective {
    max_messages: u32,
    interval: Option<Duration>,
}

/// One destination's limits, for one checkout.
#[derive(Debug, Clone)]
pub struct Pace {
    /// Messages one connection carries for this destination before it is closed (≥ 1).
    pub max_messages: u32,
    /// The destination's connection rate, if it has one.
    pub gate: Option<Arc<Gate>>,
}

impl Pace {
    /// No rate, `max_messages` per connection (tests and callers without destinations).
    pub fn unlimited(max_messages: u32) -> Self {
        Self {
            max_messages: max_messages.max(1),
            gate: None,
        }
    }
}

/// The connection rate of one destination: a FIFO turn around its token bucket.
#[derive(Debug)]
pub struct Gate {
    turn: tokio::sync::Mutex<Bucket>,
}

/// The head of a destination's queue of deliveries waiting to open a connection.
pub type Turn<'a> = tokio::sync::MutexGuard<'a, Bucket>;

impl Gate {
    fn new(interval: Duration) -> Self {
        Self {
            turn: tokio::sync::Mutex::new(Bucket {
                interval,
                next: None,
            }),
        }
    }

    /// Waits for this delivery's turn; deliveries get it in the order they asked.
    pub async fn turn(&self) -> Turn<'_> {
        self.turn.lock().await
    }

    /// True when nobody waits and a token is ready at `now`: forgetting it loses nothing.
    fn is_idle(&self, now: Instant) -> bool {
        self.turn
            .try_lock()
            .is_ok_and(|bucket| bucket.next.is_none_or(|next| next <= now))
    }
}

/// A token bucket holding one token, refilled every `interval`.
#[derive(Debug)]
pub struct Bucket {
    interval: Duration,
    next: Option<Instant>,
}

impl Bucket {
    /// Takes the token at `now`; when there is none, the time it will be there.
    ///
    /// # Errors
    /// The instant the next token is available.
    pub fn take(&mut self, now: Instant) -> Result<(), Instant> {
        match self.next {
            Some(next) if now < next => Err(next),
            _ => {
                // An instant past the clock's range cannot be reached: no further token.
                self.next = Some(now.checked_add(self.interval).unwrap_or(now));
                Ok(())
            }
        }
    }
}

/// Every destination's connection limits and the gates of those with a rate.
#[derive(Debug)]
pub struct Pacing {
    default: Effective,
    named: HashMap<String, Effective>,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
}

impl Pacing {
    /// The limits of `config`: its defaults, and its named destinations' own.
    pub fn new(config: &PoolConfig) -> Self {
        let default = Effective {
            max_messages: config.max_messages_per_connection.max(1),
            interval: interval(config.connections_per_second),
        };
        let named = config
            .destinations
            .iter()
            .map(|(name, own)| {
                let limits = Effective {
                    max_messages: own
                        .max_messages_per_connection
                        .map_or(default.max_messages, |n| n.max(1)),
                    interval: own
                        .connections_per_second
                        .map_or(default.interval, |r| interval(Some(r))),
                };
                (name.to_lowercase(), limits)
            })
            .collect();
        Self {
            default,
            named,
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// The limits of destination `name`.
    pub fn of(&self, name: &str) -> Pace {
        if self.named.is_empty() && self.default.interval.is_none() {
            // The common case needs no lookup (and no lower-cased copy of the name).
            return Pace::unlimited(self.default.max_messages);
        }
        let name = name.to_lowercase();
        let limits = self.named.get(&name).copied().unwrap_or(self.default);
        let gate = limits.interval.map(|interval| {
            self.lock()
                .entry(name)
                .or_insert_with(|| Arc::new(Gate::new(interval)))
                .clone()
        });
        Pace {
            max_messages: limits.max_messages,
            gate,
        }
    }

    /// Forgets the gates nobody uses whose token is back: keeps the map bounded when
    /// destinations are never visited again.
    pub fn reap(&self) {
        let now = Instant::now();
        self.lock()
            .retain(|_, gate| Arc::strong_count(gate) > 1 || !gate.is_idle(now));
    }

    /// Gates held now (for tests).
    pub fn gates(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Gate>>> {
        // Plain bookkeeping: a panic elsewhere leaves nothing half-done here.
        self.gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The spacing of connections at `per_second`; `None` for no limit (a rate that is not
/// positive and finite).
fn interval(per_second: Option<f64>) -> Option<Duration> {
    let rate = per_second.filter(|r| r.is_finite() && *r > 0.0)?;
    let spacing = Duration::try_from_secs_f64(1.0 / rate).unwrap_or(LONGEST_INTERVAL);
    Some(spacing.clamp(Duration::from_micros(1), LONGEST_INTERVAL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConnectionLimits;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_gives_one_token_per_interval_without_burst() {
        let mut bucket = Bucket {
            interval: Duration::from_millis(500),
            next: None,
        };
        let start = Instant::now();
        assert_eq!(bucket.take(start), Ok(()));
        let next = start + Duration::from_millis(500);
        assert_eq!(bucket.take(start), Err(next));
        assert_eq!(bucket.take(next), Ok(()));
        // A long pause leaves one token, not a burst.
        let later = next + Duration::from_secs(10);
        assert_eq!(bucket.take(later), Ok(()));
        assert_eq!(bucket.take(later), Err(later + Duration::from_millis(500)));
    }

    #[tokio::test(start_paused = true)]
    async fn named_destinations_override_field_by_field_and_idle_gates_are_forgotten() {
        let mut config = PoolConfig {
            max_messages_per_connection: 10,
            connections_per_second: Some(4.0),
            ..PoolConfig::default()
        };
        let own = ConnectionLimits {
            max_messages_per_connection: Some(2),
            connections_per_second: None,
        };
        config.destinations.insert("Slow.Example".into(), own);
        let pacing = Pacing::new(&config);
        let slow = pacing.of("slow.example");
        assert_eq!(slow.max_messages, 2);
        let other = pacing.of("other.example");
        assert_eq!(other.max_messages, 10);
        assert_eq!(pacing.gates(), 2);
        {
            let gate = slow.gate.clone().unwrap();
            let mut turn = gate.turn().await;
            assert_eq!(turn.take(Instant::now()), Ok(()));
        }
        drop((slow, other));
        pacing.reap(); // slow.example's token is not back yet
        assert_eq!(pacing.gates(), 1);
        tokio::time::advance(Duration::from_millis(250)).await;
        pacing.reap();
        assert_eq!(pacing.gates(), 0);
        assert_eq!(interval(Some(f64::NAN)), None);
        assert_eq!(interval(Some(1e-300)), Some(LONGEST_INTERVAL));
        assert_eq!(interval(Some(2.0)), Some(Duration::from_millis(500)));
    }
}
