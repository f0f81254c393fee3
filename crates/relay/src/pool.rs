//! Connection reuse and per-destination limits. A destination is one [`Target`] (address and
//! port, or unix path).
//!
//! - Idle connections wait here for the next message to the same destination and session
//!   profile (protocol, TLS policy, AUTH identity: a connection opened under a lax policy
//!   must never carry mail for a destination that requires TLS), up to
//!   [`PoolConfig::idle_timeout`]; a reused one gets `RSET` first, which also proves it alive.
//! - A semaphore per destination bounds open connections, busy or idle (an idle connection
//!   keeps its permit). A task waiting for a permit is also woken when a connection is put
//!   back, so it can take that one instead.
//! - A connection carries at most the destination's messages per connection
//!   ([`Pace::max_messages`]); one that carried as many is closed, not pooled or reused.
//! - With a connection rate ([`Pace::gate`]), a checkout that finds no idle connection
//!   queues at the destination's gate and opens a connection only with a token (see
//!   [`crate::pace`]); a connection put back meanwhile serves the head of that queue.
//! - An address that could not be connected to is remembered as dead for a while, doubling
//!   per failure up to a maximum, and cleared by the next successful connection. This only
//!   orders a host list (dead addresses last); when a destination is tried again is the
//!   queue's decision, so a flush after an outage reaches the hop at once.
//!
//! State sits behind a std `Mutex` that is never held across an `.await`.
//!
//! # Layout
//! - [`Pool`]: checkout / put back, back-off bookkeeping.
//! - [`Lease`]: a connection with its concurrency permit.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::client::conn::Connection;
use crate::client::session::Target;
use crate::config::PoolConfig;
use crate::failure::{Failure, Stage};
use crate::pace::{Pace, Turn};

/// Longest wait for the answer to a housekeeping RSET or QUIT.
pub const HOUSEKEEPING_MAX: Duration = Duration::from_secs(30);

/// A connection checked out of the pool, with the permit that counts it.
#[derive(Debug)]
pub struct Lease {
    /// The session, ready for MAIL FROM.
    pub conn: Connection,
    /// True when it was reused (it carried messages before).
    pub reused: bool,
    profile: String,
    permit: OwnedSemaphorePermit,
}

struct Idle {
    conn: Connection,
    profile: String,
    since: Instant,
    permit: OwnedSemaphorePermit,
}

struct Dest {
    idle: Vec<Idle>,
    limit: Arc<Semaphore>,
    returned: Arc<Notify>,
    dead_until: Option<Instant>,
    failures: u32,
}

/// Idle connections, concurrency limits and back-off, per destination.
pub struct Pool {
    config: PoolConfig,
    /// Timeout of the housekeeping commands (RSET on reuse, QUIT). Capped at
    /// [`HOUSEKEEPING_MAX`]: a pooled connection whose peer vanished silently must not hold a
    /// delivery for the full 5-minute command timeout.
    command_timeout: Duration,
    dests: Mutex<HashMap<Target, Dest>>,
}

impl Pool {
    /// An empty pool.
    pub fn new(config: PoolConfig, command_timeout: Duration) -> Self {
        Self {
            config,
            command_timeout: command_timeout.min(HOUSEKEEPING_MAX),
            dests: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Target, Dest>> {
        // A panic while holding the lock leaves plain bookkeeping behind; keep going.
        self.dests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with_dest<R>(&self, target: &Target, f: impl FnOnce(&mut Dest) -> R) -> R {
        let mut dests = self.lock();
        // Looked up before `entry`, which needs an owned key: cloning the target (its host
        // name) on each of the four calls per delivery was an allocation apiece.
        if let Some(dest) = dests.get_mut(target) {
            return f(dest);
        }
        let dest = dests.entry(target.clone()).or_insert_with(|| Dest {
            idle: Vec::new(),
            limit: Arc::new(Semaphore::new(
                self.config.max_connections_per_destination.max(1),
            )),
            returned: Arc::new(Notify::new()),
            dead_until: None,
            failures: 0,
        });
        f(dest)
    }

    /// True while `target` is in back-off.
    pub fn is_backed_off(&self, target: &Target) -> bool {
        let now = Instant::now();
        self.with_dest(target, |d| d.dead_until.is_some_and(|until| now < until))
    }

    /// Records a failed connection: back-off doubles per consecutive failure.
    pub fn mark_dead(&self, target: &Target) {
        let base = self.config.dead_backoff;
        let max = self.config.dead_backoff_max;
        self.with_dest(target, |d| {
            let factor = 2u32.saturating_pow(d.failures.min(16));
            d.failures = d.failures.saturating_add(1);
            d.dead_until = Some(Instant::now() + base.saturating_mul(factor).min(max));
        });
    }

    /// Records a successful connection: back-off cleared.
    pub fn mark_alive(&self, target: &Target) {
        self.with_dest(target, |d| {
            d.dead_until = None;
            d.failures = 0;
        });
    }

    /// A usable connection to `target` opened under `profile`: an idle one that answers
    /// `RSET`, or a new one from `open` once the destination's concurrency limit and its
    /// connection rate (`pace`) allow.
    ///
    /// # Errors
    /// Whatever `open` fails with.
    pub async fn checkout<F, Fut>(
        &self,
        target: &Target,
        profile: &str,
        pace: &Pace,
        open: F,
    ) -> Result<Lease, Failure>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Connection, Failure>>,
    {
        // Held until this checkout ends: deliveries to a rate-limited destination check out
        // one at a time, in the order they asked.
        let mut turn = match &pace.gate {
            Some(gate) => Some(gate.turn().await),
            None => None,
        };
        // Each turn either returns, discards one idle connection, or waits for a permit, a
        // token or a returned connection; the idle list is bounded, so discarding ends.
        loop {
            let (idle, limit, returned) = self.take_idle(target, profile, pace.max_messages);
            if let Some(mut idle) = idle {
                match idle
                    .conn
                    .command(b"RSET\r\n", Stage::Other, self.command_timeout)
                    .await
                {
                    Ok(reply) if reply.is_success() => {
                        return Ok(Lease {
                            conn: idle.conn,
                            reused: true,
                            profile: idle.profile,
                            permit: idle.permit,
                        });
                    }
                    // Gone while idle (peer timeout) or confused: drop it, permit and all.
                    _ => continue,
                }
            }
            let permit = tokio::select! {
                permit = limit.acquire_owned() => permit,
                () = returned.notified() => continue,
            };
            let Ok(permit) = permit else {
                return Err(Failure::Config("destination limit closed".to_owned()));
            };
            if let Some(turn) = turn.as_mut() {
                if !wait_for_token(turn, &returned).await {
                    // A connection came back first: use it, the token stays for later.
                    continue;
                }
            }
            drop(turn);
            let conn = open().await?;
            return Ok(Lease {
                conn,
                reused: false,
                profile: profile.to_owned(),
                permit,
            });
        }
    }

    /// An idle connection to `target` under `profile` that may carry one more message (the
    /// others it finds past their idle timeout or their message limit are closed), with the
    /// destination's limit and its put-back signal.
    fn take_idle(
        &self,
        target: &Target,
        profile: &str,
        max_messages: u32,
    ) -> (Option<Idle>, Arc<Semaphore>, Arc<Notify>) {
        let (idle, expired, limit, returned) = self.with_dest(target, |d| {
            let now = Instant::now();
            let timeout = self.config.idle_timeout;
            let (fresh, mut expired): (Vec<Idle>, Vec<Idle>) = d.idle.drain(..).partition(|i| {
                now.duration_since(i.since) < timeout && i.conn.messages < max_messages
            });
            d.idle = fresh;
            let matching = d.idle.iter().rposition(|i| i.profile == profile);
            let idle = matching.map(|at| d.idle.remove(at));
            if idle.is_none() && d.limit.available_permits() == 0 && !d.idle.is_empty() {
                // Idle connections of another profile hold every permit: close the
                // oldest, or this delivery would wait for a permit nobody returns.
                expired.push(d.idle.remove(0));
            }
            (idle, expired, d.limit.clone(), d.returned.clone())
        });
        for old in expired {
            self.close(old.conn);
        }
        (idle, limit, returned)
    }

    /// Hands a connection back after a message: kept idle when it may carry more (fewer than
    /// `max_messages`, the limit of the destination it carried the message for), closed with
    /// QUIT otherwise.
    pub fn put_back(&self, target: &Target, lease: Lease, reusable: bool, max_messages: u32) {
        let Lease {
            conn,
            permit,
            profile,
            ..
        } = lease;
        if !reusable || conn.messages >= max_messages {
            self.close(conn);
            return;
        }
        let refused = self.with_dest(target, |d| {
            if d.idle.len() >= self.config.max_idle_per_destination {
                return Some(conn);
            }
            d.idle.push(Idle {
                conn,
                profile,
                since: Instant::now(),
                permit,
            });
            d.returned.notify_one();
            None
        });
        if let Some(conn) = refused {
            self.close(conn);
        }
    }

    /// Closes idle connections past their idle timeout (all of them when `everything`), and
    /// forgets destinations with nothing left to remember: keeps sockets and the map bounded
    /// when destinations are never visited again.
    pub fn reap(&self, everything: bool) {
        let now = Instant::now();
        let timeout = self.config.idle_timeout;
        let max = self.config.max_connections_per_destination.max(1);
        let mut closing = Vec::new();
        {
            let mut dests = self.lock();
            for dest in dests.values_mut() {
                let (keep, old): (Vec<Idle>, Vec<Idle>) = dest
                    .idle
                    .drain(..)
                    .partition(|i| !everything && now.duration_since(i.since) < timeout);
                dest.idle = keep;
                closing.extend(old.into_iter().map(|i| i.conn));
            }
            dests.retain(|_, d| {
                !d.idle.is_empty()
                    || d.dead_until.is_some_and(|until| now < until)
                    || d.limit.available_permits() < max
            });
        }
        for conn in closing {
            self.close(conn);
        }
    }

    /// Idle connections currently pooled (all destinations).
    pub fn idle_count(&self) -> usize {
        self.lock().values().map(|d| d.idle.len()).sum()
    }

    /// QUIT in the background: the delivery does not wait for a polite goodbye.
    fn close(&self, conn: Connection) {
        let timeout = self.command_timeout;
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(conn.quit(timeout));
        }
    }
}

/// Waits at the head of the gate for the connection token: true once taken, false when a
/// connection was put back first (the caller tries to reuse it).
async fn wait_for_token(turn: &mut Turn<'_>, returned: &Notify) -> bool {
    loop {
        let at = match turn.take(Instant::now()) {
            Ok(()) => return true,
            Err(at) => at,
        };
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = returned.notified() => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_and_clears() {
        let config = PoolConfig {
            dead_backoff: Duration::from_secs(10),
            dead_backoff_max: Duration::from_secs(25),
            ..PoolConfig::default()
        };
        let pool = Pool::new(config, Duration::from_secs(1));
        let target = Target::Unix("/nonexistent".into());
        assert!(!pool.is_backed_off(&target));
        pool.mark_dead(&target);
        assert!(pool.is_backed_off(&target));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(!pool.is_backed_off(&target));
        pool.mark_dead(&target); // second failure: 20 s
        tokio::time::advance(Duration::from_secs(15)).await;
        assert!(pool.is_backed_off(&target));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(!pool.is_backed_off(&target));
        pool.mark_dead(&target); // third: 40 s capped at 25 s
        tokio::time::advance(Duration::from_secs(24)).await;
        assert!(pool.is_backed_off(&target));
        pool.mark_alive(&target);
        assert!(!pool.is_backed_off(&target));
    }
}
