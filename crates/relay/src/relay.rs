//! The relay the queue calls: recipients grouped by next hop, each group delivered over the
//! hosts of its route (route table, smarthost, LMTP target, or MX), one outcome per recipient.
//!
//! Groups of one attempt run concurrently; within a group, hosts are tried in order until one
//! session opens (a connection failure, a refusing greeting or an unmet TLS policy → the next
//! host). Once a session carries the transaction, its replies are the outcome. When no host
//! carries it, the group fails for good only if every host refused for good (`fallback`).
//!
//! # Layout
//! - [`SmtpRelay`]: construction and the [`Relay`] implementation.
//! - `deliver_group`: one next hop's recipients; `deliver_over`: the transaction over an open
//!   session.
//! - `timed`: where each group's time went (waiting, opening a session, the transaction).
//! - `fallback`: which host's failure decides when none carried the transaction.
//! - `opening`: a session to one target (pool, opening, clear-text retry).
//! - `dane_hook`: per MX host, what DANE makes of its candidate.
//! - `candidates` / `targets`: route → hosts → socket addresses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use envoi_queue::bounce::Action;
use envoi_queue::{Delivery, Destination, Outcome, Relay, RelayError};
use envoi_types::{Address, Envelope};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::payload::Payload;
use crate::client::session::Target;
use crate::client::transaction;
use crate::config::RelayConfig;
use crate::dane::{Dane, DaneConfigError};
use crate::failure::Failure;
use crate::hop::{Credentials, Endpoint, Protocol, TlsPolicy};
use crate::mta_sts::MtaSts;
use crate::mx::mx_hosts;
use crate::pace::{Pace, Pacing};
use crate::pool::{Lease, Pool};
use crate::resolver::{DnsError, Resolver, TimedResolver};
use crate::routes::Route;
use crate::security::{self, Security};
use crate::tls::{TlsConfigError, TlsConnectors};

mod dane_hook;
mod fallback;
mod opening;
mod timed;

use fallback::Refusals;

/// Why a relay cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The TLS settings are unusable.
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
    /// The DANE settings are unusable.
    #[error(transparent)]
    Dane(#[from] DaneConfigError),
}

/// SMTP/LMTP delivery to the next hop, implementing the queue's [`Relay`] contract.
///
/// Cheap to clone; clones share the connection pool and limits.
#[derive(Clone)]
pub struct SmtpRelay {
    inner: Arc<Inner>,
}

struct Inner {
    config: RelayConfig,
    resolver: Arc<dyn Resolver>,
    tls: TlsConnectors,
    /// DNSSEC-validated TLSA lookups; `None` when DANE is off.
    dane: Option<Dane>,
    pool: Pool,
    pacing: Pacing,
    /// The MTA-STS service, when enabled.
    mta_sts: Option<MtaSts>,
}

/// One host to try: where and how.
#[derive(Clone)]
struct Candidate {
    host: Endpoint,
    protocol: Protocol,
    auth: Option<Credentials>,
    tls: TlsPolicy,
    /// The TLS DANE imposes on this host (then `tls` is `Required`).
    dane: Option<dane_hook::DaneTls>,
    /// Where `tls` came from and what an MTA-STS policy asks of the host and session.
    security: Security,
}

impl SmtpRelay {
    /// A relay with this configuration; `resolver` serves MX lookups and the addresses of
    /// named hosts (routes and smarthosts given by name included).
    ///
    /// # Errors
    /// [`BuildError`] when the TLS settings are unusable.
    pub fn new(config: RelayConfig, resolver: Arc<dyn Resolver>) -> Result<Self, BuildError> {
        let tls = TlsConnectors::new(&config.tls)?;
        let dane = Dane::new(&config.dane)?;
        let pool = Pool::new(config.pool.clone(), config.timeouts.command);
        let pacing = Pacing::new(&config.pool);
        let resolver: Arc<dyn Resolver> =
            Arc::new(TimedResolver::new(resolver, config.timeouts.dns));
        let mta_sts = config
            .mta_sts
            .enabled
            .then(|| MtaSts::new(&config.mta_sts, resolver.clone(), tls.verified.clone()));
        let inner = Arc::new(Inner {
            config,
            resolver,
            tls,
            dane,
            pool,
            pacing,
            mta_sts,
        });
        spawn_reaper(Arc::downgrade(&inner));
        Ok(Self { inner })
    }

    /// Closes every idle pooled connection (QUIT in the background), e.g. at shutdown.
    pub fn close_idle(&self) {
        self.inner.pool.reap(true);
    }

    /// Idle connections currently pooled.
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle_count()
    }

    /// Delivers once: one outcome per recipient, in the envelope's order. A mailbox named twice
    /// is sent once and both get its outcome.
    pub async fn deliver(&self, envelope: &Envelope) -> Vec<Outcome> {
        let first = first_occurrences(envelope);
        let mut groups: Vec<(Route, Vec<usize>)> = Vec::new();
        for (index, recipient) in envelope.recipients.iter().enumerate() {
            if first[index] != index {
                continue;
            }
            let route = self.inner.config.routes.lookup(recipient.domain());
            match groups.iter_mut().find(|(r, _)| r.same_next_hops(&route)) {
                Some((_, members)) => members.push(index),
                None => groups.push((route, vec![index])),
            }
        }
        let entered = Instant::now();
        let wire = Payload::of(&envelope.message);
        let mut outcomes: Vec<Option<Outcome>> = vec![None; envelope.recipients.len()];
        let mut tasks = JoinSet::new();
        let parallel = Arc::new(Semaphore::new(
            self.inner.config.max_parallel_next_hops.max(1),
        ));
        for (route, members) in groups {
            let parallel = parallel.clone();
            let inner = self.inner.clone();
            let part = envelope.copy_with_recipients(
                members
                    .iter()
                    .map(|i| envelope.recipients[*i].clone())
                    .collect(),
            );
            let wire = wire.clone();
            tasks.spawn(async move {
                // The semaphore is never closed; a failed acquire only lifts the bound.
                let _slot = parallel.acquire_owned().await;
                (
                    members,
                    timed::group(&inner, route, &part, &wire, entered).await,
                )
            });
        }
        while let Some(joined) = tasks.join_next().await {
            // A panicking group leaves its recipients unset: they get the transient default below.
            if let Ok((members, results)) = joined {
                for (index, outcome) in members.into_iter().zip(results) {
                    outcomes[index] = Some(outcome);
                }
            }
        }
        // A mailbox given twice was sent once: each copy gets the first one's outcome.
        for (index, first) in first.into_iter().enumerate() {
            if first != index {
                outcomes[index] = outcomes[first].clone();
            }
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    failure_outcome(&Failure::Config("delivery task failed".to_owned()), None)
                })
            })
            .collect()
    }
}

/// For each recipient, the index of the first recipient naming the same mailbox (itself when
/// it is the first): the last guard against one mailbox getting a message twice (an LMTP
/// target would deliver it twice).
fn first_occurrences(envelope: &Envelope) -> Vec<usize> {
    let mut seen: HashMap<(&str, String), usize> = HashMap::new();
    envelope
        .recipients
        .iter()
        .enumerate()
        .map(|(index, recipient)| *seen.entry(recipient.mailbox_key()).or_insert(index))
        .collect()
}

#[async_trait]
impl Relay for SmtpRelay {
    async fn attempt(&self, envelope: &Envelope, _attempt: u32) -> Result<Delivery, RelayError> {
        Ok(Delivery::PerRecipient(self.deliver(envelope).await))
    }

    /// The route table's key for routed recipients (a domain, `.parent` or `*` for the
    /// smarthost or fallback hosts), the recipient domain for MX delivery.
    fn destination(&self, recipient: &Address) -> Destination {
        Destination::new(destination_name(
            &self.inner.config.routes.lookup(recipient.domain()),
        ))
    }
}

/// The name of the destination a route serves, as the queue knows it: the route key, or the
/// domain for MX delivery.
fn destination_name(route: &Route) -> &str {
    match route {
        Route::Mx { domain } => domain,
        Route::Hosts { key, .. } => key,
    }
}

/// Closes expired idle connections now and then, for as long as the relay lives (the task
/// holds only a weak reference). Outside a tokio runtime nothing is spawned; expiry then
/// happens lazily at checkout.
fn spawn_reaper(inner: std::sync::Weak<Inner>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    handle.spawn(async move {
        loop {
            let period = match inner.upgrade() {
                Some(inner) => (inner.config.pool.idle_timeout / 2).max(Duration::from_secs(1)),
                None => return,
            };
            tokio::time::sleep(period).await;
            match inner.upgrade() {
                Some(inner) => {
                    inner.pool.reap(false);
                    inner.pacing.reap();
                }
                None => return,
            }
        }
    });
}

/// Every recipient of the group gets the same failure.
fn all_failed(count: usize, failure: &Failure, remote: Option<String>) -> Vec<Outcome> {
    vec![failure_outcome(failure, remote); count]
}

/// The outcome for a failure about `remote`: the peer's own reply when it refused, else a
/// reply the relay made.
fn failure_outcome(failure: &Failure, remote: Option<String>) -> Outcome {
    Outcome::with_origin(failure.to_reply(), remote, failure.origin())
}

/// One next hop's recipients: its hosts in order until one session opens (`opened` records
/// when), then the transaction over it.
async fn deliver_group(
    inner: &Inner,
    route: Route,
    part: &Envelope,
    wire: &Payload,
    opened: &mut Option<Instant>,
) -> Vec<Outcome> {
    let count = part.recipients.len();
    let pace = inner.pacing.of(destination_name(&route));
    let candidates = match candidates(inner, &route).await {
        Ok(c) => c,
        Err(failure) => return all_failed(count, &failure, None),
    };
    let mut refusals = Refusals::default();
    for candidate in &candidates {
        let with_dane = match dane_hook::apply(inner, &route, candidate).await {
            Ok(with_dane) => with_dane,
            Err(failure) => {
                refusals.record(failure, None);
                continue;
            }
        };
        let candidate = with_dane.as_ref().unwrap_or(candidate);
        let targets = match targets(inner, &candidate.host).await {
            Ok(targets) => targets,
            Err(failure) => {
                refusals.record(failure, None);
                continue;
            }
        };
        for target in alive_first(inner, targets) {
            match opening::lease(inner, candidate, &target, &pace).await {
                Ok(lease) => {
                    *opened = Some(Instant::now());
                    candidate
                        .security
                        .observe_session(host_name(&target), &lease.conn);
                    let tls = candidate.security.report(&lease.conn);
                    return deliver_over(inner, &target, lease, &pace, part, wire)
                        .await
                        .into_iter()
                        .map(|o| o.with_tls(Some(tls)))
                        .collect();
                }
                Err(failure) if !failure.try_next_host() => {
                    return finish(count, Some((failure, Some(target.remote()))));
                }
                Err(failure) => {
                    candidate
                        .security
                        .observe_failure(host_name(&target), &failure);
                    refusals.record(failure, Some(target.remote()));
                }
            }
        }
    }
    let unreachable = refusals.unreachable();
    match refusals.decide() {
        Some((failure, remote)) if unreachable => {
            vec![Outcome::unreachable(failure.to_reply(), remote); count]
        }
        decided => finish(count, decided),
    }
}

/// The host name of a target (empty for a unix socket), as MX policies name hosts.
fn host_name(target: &Target) -> &str {
    match target {
        Target::Tcp { host, .. } => host,
        Target::Unix(_) => "",
    }
}

/// The targets in order, those that failed to connect recently last: a dead address is still
/// tried (the queue decides when a destination is tried again), after the others.
fn alive_first(inner: &Inner, targets: Vec<Target>) -> Vec<Target> {
    let (alive, dead): (Vec<Target>, Vec<Target>) = targets
        .into_iter()
        .partition(|t| !inner.pool.is_backed_off(t));
    alive.into_iter().chain(dead).collect()
}

/// The group's message over an open session, which then goes back to the pool: one outcome
/// per recipient, each naming `target`.
async fn deliver_over(
    inner: &Inner,
    target: &Target,
    mut lease: Lease,
    pace: &Pace,
    part: &Envelope,
    wire: &Payload,
) -> Vec<Outcome> {
    let remote = target.remote();
    let outcome = transaction::deliver(
        &mut lease.conn,
        part,
        wire,
        &inner.config.timeouts,
        inner.config.pool.max_recipients_per_transaction,
    )
    .await;
    lease.conn.messages += 1;
    if let Some(failure) = &outcome.failure {
        tracing::info!(remote = %remote, error = %failure, "session broke during delivery");
    }
    // RFC 3461 §5.2: a hop without DSN cannot report on success, so envoi does (relayed);
    // an LMTP delivery is final (delivered), unless the server reports itself.
    let success_action = match (lease.conn.caps.dsn, lease.conn.protocol) {
        (true, _) => None,
        (false, Protocol::Lmtp) => Some(Action::Delivered),
        (false, Protocol::Smtp) => Some(Action::Relayed),
    };
    inner
        .pool
        .put_back(target, lease, outcome.reusable, pace.max_messages);
    if let Some(refusal) = &outcome.refused_locally {
        return all_failed(outcome.replies.len(), refusal, Some(remote));
    }
    let broken = outcome
        .failure
        .unwrap_or_else(|| Failure::Config("no reply".to_owned()));
    outcome
        .replies
        .into_iter()
        .map(|reply| match reply {
            Some(reply) => {
                Outcome::new(reply, Some(remote.clone())).with_success_action(success_action)
            }
            None => failure_outcome(&broken, Some(remote.clone())),
        })
        .collect()
}

fn finish(count: usize, last: Option<(Failure, Option<String>)>) -> Vec<Outcome> {
    match last {
        Some((failure, remote)) => all_failed(count, &failure, remote),
        None => all_failed(
            count,
            &Failure::Config("no next hop configured".to_owned()),
            None,
        ),
    }
}

/// The hosts a route points to, in the order to try.
async fn candidates(inner: &Inner, route: &Route) -> Result<Vec<Candidate>, Failure> {
    match route {
        Route::Mx { domain } => {
            let hosts = mx_hosts(inner.resolver.as_ref(), domain).await?;
            if hosts.implicit {
                // No MX: the domain's own addresses; none at all means no such mail domain.
                match inner.resolver.ips(domain).await {
                    Ok(ips) if ips.is_empty() => return Err(Failure::DnsNotFound(domain.clone())),
                    Err(DnsError::NotFound) => return Err(Failure::DnsNotFound(domain.clone())),
                    _ => {}
                }
            }
            let security = security::for_mx(&inner.config, inner.mta_sts.as_ref(), domain).await;
            Ok(security
                .admit(hosts.hosts)?
                .into_iter()
                .map(|host| Candidate {
                    host: Endpoint::Tcp {
                        host,
                        port: inner.config.mx_port,
                    },
                    protocol: Protocol::Smtp,
                    auth: None,
                    tls: security.tls,
                    dane: None,
                    security: security.clone(),
                })
                .collect())
        }
        Route::Hosts { key, hops } => Ok(hops
            .iter()
            .map(|hop| {
                let tls = inner.config.tls_policy(hop.tls, key);
                Candidate {
                    host: hop.endpoint.clone(),
                    protocol: hop.protocol,
                    auth: hop.auth.clone(),
                    tls,
                    dane: None,
                    security: Security::configured(tls),
                }
            })
            .collect()),
    }
}

/// The addresses of one host: IP literals as they are, names through the resolver.
async fn targets(inner: &Inner, endpoint: &Endpoint) -> Result<Vec<Target>, Failure> {
    let (host, port) = match endpoint {
        Endpoint::Unix(path) => return Ok(vec![Target::Unix(path.clone())]),
        Endpoint::Tcp { host, port } => (host, *port),
    };
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![Target::Tcp {
            host: host.clone(),
            addr: SocketAddr::new(ip, port),
        }]);
    }
    match inner.resolver.ips(host).await {
        Ok(ips) if !ips.is_empty() => Ok(ips
            .into_iter()
            .map(|ip| Target::Tcp {
                host: host.clone(),
                addr: SocketAddr::new(ip, port),
            })
            .collect()),
        // A next hop whose name does not resolve is a configuration or DNS problem at the
        // receiving side's end; retrying is the safe reading.
        Ok(_) | Err(DnsError::NotFound) => {
            Err(Failure::DnsTemporary(format!("no address for {host}")))
        }
        Err(DnsError::Temporary(e)) => Err(Failure::DnsTemporary(e)),
    }
}
