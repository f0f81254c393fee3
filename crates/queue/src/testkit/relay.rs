//! A relay that answers from a script and records every call.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use envoi_types::{Address, Envelope, Reply, Sender};
use tokio::time::Instant;

use crate::bounce::Action;
use crate::relay::{Delivery, Outcome, Relay, RelayError};

/// One call the relay received.
#[derive(Debug, Clone)]
pub struct Call {
    /// When (tokio time).
    pub at: Instant,
    /// The envelope as given (pending recipients only), a spooled body read into memory.
    pub envelope: Envelope,
    /// The failed-attempt count the queue passed.
    pub attempt: u32,
    /// What the relay answered per recipient.
    pub replies: Vec<Reply>,
}

/// What the relay does instead of answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Panic inside `attempt`.
    Panic,
    /// Return a [`RelayError`].
    Error,
}

#[derive(Default)]
struct Script {
    queued: HashMap<String, VecDeque<Reply>>,
    always: HashMap<String, Reply>,
    calls: Vec<Call>,
    misbehave: VecDeque<Misbehaviour>,
    in_flight: HashMap<String, usize>,
    max_in_flight_per_message: usize,
    max_in_flight: usize,
    current: usize,
    /// Latency per recipient domain (lower case), instead of the common one.
    latency_for: HashMap<String, Duration>,
    /// Recipient domains (lower case) whose next hop cannot be connected to.
    unreachable: std::collections::HashSet<String>,
    /// What every `2xx` outcome says is owed on success (see [`Outcome::success_action`]).
    success_action: Option<Action>,
    /// What every outcome of a reachable host says of its session's TLS (see [`Outcome::tls`]).
    tls: Option<envoi_types::TlsReport>,
}

/// A relay answering per recipient: first from that recipient's queued replies, then its
/// `always` reply, else `250 2.0.0 ok`. It waits `latency` before answering.
#[derive(Default)]
pub struct ScriptedRelay {
    script: Mutex<Script>,
    latency: Mutex<Duration>,
}

/// Parses `"550 5.1.1 text"` into a reply (test helper).
pub fn reply(wire: &str) -> Reply {
    Reply::parse(format!("{wire}\r\n").as_bytes())
        .unwrap_or_else(|_| Reply::with_default_code(554, wire))
}

impl ScriptedRelay {
    /// A relay that accepts everything.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues replies for `recipient`, one per attempt, e.g. `["451 4.4.1 busy", "250 ok"]`.
    pub fn then(&self, recipient: &str, replies: &[&str]) {
        let mut s = self.lock();
        let queue = s.queued.entry(recipient.to_lowercase()).or_default();
        queue.extend(replies.iter().map(|r| reply(r)));
    }

    /// Answers `wire` for `recipient` once its queued replies are used up.
    pub fn always(&self, recipient: &str, wire: &str) {
        self.lock()
            .always
            .insert(recipient.to_lowercase(), reply(wire));
    }

    /// Misbehaves on the next call instead of answering.
    pub fn misbehave_next(&self, how: Misbehaviour) {
        self.lock().misbehave.push_back(how);
    }

    /// Waits this long (tokio time) in every attempt before answering.
    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock().unwrap_or_else(|p| p.into_inner()) = latency;
    }

    /// Waits this long (tokio time) in every attempt whose first recipient is at `domain`,
    /// instead of the common latency: a slow next hop.
    pub fn set_latency_for(&self, domain: &str, latency: Duration) {
        self.lock()
            .latency_for
            .insert(domain.to_lowercase(), latency);
    }

    /// While `down`, recipients at `domain` get `451 4.4.1 Connection to next hop failed`,
    /// marked [`Outcome::unreachable`] (their scripted replies are not used).
    pub fn set_unreachable(&self, domain: &str, down: bool) {
        let mut s = self.lock();
        if down {
            s.unreachable.insert(domain.to_lowercase());
        } else {
            s.unreachable.remove(&domain.to_lowercase());
        }
    }

    /// What every later outcome of a reachable host says of its session's TLS (default:
    /// nothing).
    pub fn set_tls(&self, tls: Option<envoi_types::TlsReport>) {
        self.lock().tls = tls;
    }

    /// What every later `2xx` outcome says is owed on success (default: nothing).
    pub fn set_success_action(&self, action: Option<Action>) {
        self.lock().success_action = action;
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The calls that included `recipient`.
    pub fn calls_for(&self, recipient: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| {
                c.envelope
                    .recipients
                    .iter()
                    .any(|r| r.as_str() == recipient)
            })
            .collect()
    }

    /// How many times `recipient` got a 2xx.
    pub fn deliveries_to(&self, recipient: &str) -> usize {
        self.calls()
            .iter()
            .flat_map(|c| c.envelope.recipients.iter().zip(&c.replies))
            .filter(|(r, reply)| r.as_str() == recipient && reply.is_success())
            .count()
    }

    /// The bounces relayed so far (null sender) addressed to `recipient`.
    pub fn bounces_to(&self, recipient: &str) -> Vec<Envelope> {
        self.calls()
            .into_iter()
            .map(|c| c.envelope)
            .filter(|e| {
                e.sender == Sender::Null && e.recipients.iter().any(|r| r.as_str() == recipient)
            })
            .collect()
    }

    /// The most attempts of one message (same recipient list and message) seen at once.
    pub fn max_concurrent_per_message(&self) -> usize {
        self.lock().max_in_flight_per_message
    }

    /// The most attempts seen at once.
    pub fn max_concurrent(&self) -> usize {
        self.lock().max_in_flight
    }

    fn answer(&self, recipient: &Address) -> Reply {
        let mut s = self.lock();
        let key = recipient.as_str().to_lowercase();
        if let Some(reply) = s.queued.get_mut(&key).and_then(VecDeque::pop_front) {
            return reply;
        }
        s.always
            .get(&key)
            .cloned()
            .unwrap_or_else(|| reply("250 2.0.0 ok"))
    }

    fn enter(&self, key: &str) -> Option<Misbehaviour> {
        let mut s = self.lock();
        let count = s.in_flight.entry(key.to_owned()).or_default();
        *count += 1;
        let count = *count;
        s.max_in_flight_per_message = s.max_in_flight_per_message.max(count);
        s.current += 1;
        s.max_in_flight = s.max_in_flight.max(s.current);
        s.misbehave.pop_front()
    }

    fn leave(&self, key: &str) {
        let mut s = self.lock();
        if let Some(count) = s.in_flight.get_mut(key) {
            *count = count.saturating_sub(1);
        }
        s.current = s.current.saturating_sub(1);
    }
}

#[async_trait]
impl Relay for ScriptedRelay {
    async fn attempt(&self, envelope: &Envelope, attempt: u32) -> Result<Delivery, RelayError> {
        let key = format!("{:?}{:?}", envelope.recipients, envelope.message.as_bytes());
        let misbehaviour = self.enter(&key);
        let domain = envelope.recipients.first().map(Address::domain_lowercase);
        let special = domain.and_then(|d| self.lock().latency_for.get(&d).copied());
        let common = *self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let latency = special.unwrap_or(common);
        tokio::time::sleep(latency).await;
        self.leave(&key);
        match misbehaviour {
            Some(Misbehaviour::Panic) => panic!("scripted relay panic"),
            Some(Misbehaviour::Error) => return Err(RelayError("scripted error".into())),
            None => {}
        }
        let down: Vec<bool> = {
            let s = self.lock();
            let domains = envelope.recipients.iter().map(Address::domain_lowercase);
            domains.map(|d| s.unreachable.contains(&d)).collect()
        };
        let replies: Vec<Reply> = envelope
            .recipients
            .iter()
            .zip(&down)
            .map(|(r, &down)| {
                if down {
                    reply("451 4.4.1 Connection to next hop failed")
                } else {
                    self.answer(r)
                }
            })
            .collect();
        // A spooled body is recorded as read now: its file goes once the message is done.
        let mut recorded = envelope.clone();
        if let Ok(whole) = envelope.message.in_memory() {
            recorded.message = whole;
        }
        self.lock().calls.push(Call {
            at: Instant::now(),
            envelope: recorded,
            attempt,
            replies: replies.clone(),
        });
        let (success_action, tls) = {
            let script = self.lock();
            (script.success_action, script.tls)
        };
        let outcomes = replies
            .into_iter()
            .zip(down)
            .map(|(r, down)| {
                let host = Some("mx.test".to_owned());
                if down {
                    Outcome::unreachable(r, host)
                } else {
                    let owed = success_action.filter(|_| r.is_success());
                    Outcome::new(r, host)
                        .with_success_action(owed)
                        .with_tls(tls)
                }
            })
            .collect();
        Ok(Delivery::PerRecipient(outcomes))
    }
}
