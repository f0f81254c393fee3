//! The server: accepts connections on a bound listener, enforces connection limits, runs one
//! session task per connection, and shuts down gracefully.
//!
//! Shutdown: when the caller's token is cancelled the server stops accepting at once; idle
//! sessions get `421 4.3.2` at their next wait; sessions inside a transaction may finish it
//! for [`crate::Timeouts::shutdown_grace`], after which every session still open gets `421`.
//! [`Server::serve`] returns when every session task has ended (or, should one hang in a
//! collaborator, after a second grace period).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{warn, Instrument};

use crate::config::EdgeConfig;
use crate::credentials::Authenticator;
use crate::events;
use crate::handoff::Handoff;
use crate::limiter::{ConnGuard, ConnLimiter};
use crate::memory::MemoryBudget;
use crate::rdns::{self, ReverseDns};
use crate::replies;
use crate::session::conn::{Io, Signals};
use crate::session::run;
use crate::shared::Shared;
use crate::tls;
use crate::validate::{AcceptAll, Validator};

/// Pause after a failed accept (EMFILE and the like) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How a listener's connections start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenMode {
    /// Plain SMTP; STARTTLS is offered when TLS is configured (ports 25, 587).
    Plain,
    /// TLS from the first byte (RFC 8314, port 465); needs TLS configured.
    ImplicitTls,
}

/// Why [`Server::serve`] could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// An implicit-TLS listener was asked for without TLS settings.
    #[error("implicit TLS requested but no TLS settings configured")]
    TlsNotConfigured,
}

/// An SMTP server. Cheap to clone; clones share connection limits, so one server may serve
/// several listeners (say 25 and 465) under one global limit.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
    limiter: Arc<ConnLimiter>,
}

/// Builds a [`Server`]; see [`Server::builder`].
pub struct ServerBuilder {
    config: EdgeConfig,
    handoff: Arc<dyn Handoff>,
    validator: Arc<dyn Validator>,
    authenticator: Option<Arc<dyn Authenticator>>,
    reverse_dns: Option<Arc<dyn ReverseDns>>,
}

impl ServerBuilder {
    /// Adds checks at each session stage (the default accepts everything).
    pub fn validator(mut self, validator: Arc<dyn Validator>) -> Self {
        self.validator = validator;
        self
    }

    /// Enables AUTH PLAIN and LOGIN, checked by `authenticator`.
    pub fn authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.authenticator = Some(authenticator);
        self
    }

    /// Looks up each client's host name at connect (forward-confirmed, bounded by
    /// [`crate::Timeouts::reverse_dns`]) for the `connect` log line and the Received header.
    /// Without it no lookup is made and every client is `unknown`.
    pub fn reverse_dns(mut self, dns: Arc<dyn ReverseDns>) -> Self {
        self.reverse_dns = Some(dns);
        self
    }

    /// The server.
    pub fn build(self) -> Server {
        let limits = &self.config.limits;
        let exempt = if limits.per_ip_limit_exempts_trusted {
            self.config.trusted_networks.clone()
        } else {
            Vec::new()
        };
        let limiter = ConnLimiter::new(
            limits.max_connections,
            limits.max_connections_per_ip,
            exempt,
        );
        let tls = self.config.tls.as_ref().map(|t| t.acceptor());
        let memory = MemoryBudget::new(limits.max_buffered_bytes);
        Server {
            shared: Arc::new(Shared {
                config: self.config,
                handoff: self.handoff,
                validator: self.validator,
                authenticator: self.authenticator,
                reverse_dns: self.reverse_dns,
                tls,
                memory,
            }),
            limiter,
        }
    }
}

impl Server {
    /// A builder for a server that hands accepted messages to `handoff`.
    pub fn builder(config: EdgeConfig, handoff: Arc<dyn Handoff>) -> ServerBuilder {
        ServerBuilder {
            config,
            handoff,
            validator: Arc::new(AcceptAll),
            authenticator: None,
            reverse_dns: None,
        }
    }

    /// Serves `listener` until `shutdown` is cancelled and the open sessions have ended.
    ///
    /// # Errors
    /// [`ServeError::TlsNotConfigured`] for [`ListenMode::ImplicitTls`] without TLS settings.
    /// Accept failures are logged and retried, never returned.
    pub async fn serve(
        &self,
        listener: TcpListener,
        mode: ListenMode,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError> {
        if mode == ListenMode::ImplicitTls && self.shared.tls.is_none() {
            return Err(ServeError::TlsNotConfigured);
        }
        let tracker = TaskTracker::new();
        let signals = Signals {
            shutdown: shutdown.clone(),
            hard: CancellationToken::new(),
        };
        // Ends when the token is cancelled; each pass accepts one connection or backs off.
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    match self.limiter.try_acquire(peer.ip().to_canonical()) {
                        Some(guard) => {
                            metrics::counter!(events::CONNECTIONS, "outcome" => "served")
                                .increment(1);
                            let task = self.connection(stream, peer, mode, guard, signals.clone());
                            tracker.spawn(task);
                        }
                        None => {
                            metrics::counter!(events::CONNECTIONS, "outcome" => "over_limit")
                                .increment(1);
                            let config = &self.shared.config;
                            let span = tracing::info_span!("smtp", %peer);
                            let task = refuse(
                                stream,
                                peer,
                                config.hostname.clone(),
                                config.timeouts.write,
                            );
                            tracker.spawn(task.instrument(span));
                        }
                    }
                }
                Err(error) => {
                    warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
        drop(listener);
        tracker.close();
        let grace = self.shared.config.timeouts.shutdown_grace;
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            signals.hard.cancel();
            let bound = grace + self.shared.config.timeouts.write;
            if tokio::time::timeout(bound, tracker.wait()).await.is_err() {
                warn!("sessions still running after shutdown grace; leaving them");
            }
        }
        Ok(())
    }

    fn connection(
        &self,
        stream: TcpStream,
        peer: std::net::SocketAddr,
        mode: ListenMode,
        guard: ConnGuard,
        signals: Signals,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        let span = tracing::info_span!("smtp", %peer);
        let session = async move {
            let _guard = guard;
            let client_name = match &shared.reverse_dns {
                Some(dns) => {
                    let timeout = shared.config.timeouts.reverse_dns;
                    rdns::client_name(dns.as_ref(), peer.ip(), timeout).await
                }
                None => None,
            };
            events::connect(peer, client_name.as_deref());
            let io: Io = Box::new(stream);
            let (io, tls) = match (mode, shared.tls.clone()) {
                (ListenMode::ImplicitTls, Some(acceptor)) => {
                    let handshake = shared.config.timeouts.tls_handshake;
                    match tokio::time::timeout(handshake, acceptor.accept(io)).await {
                        Ok(Ok(stream)) => {
                            let negotiated = tls::session_info(stream.get_ref().1);
                            events::tls(&negotiated);
                            (Box::new(stream) as Io, Some(negotiated))
                        }
                        _ => {
                            events::tls_failed();
                            return;
                        }
                    }
                }
                _ => (io, None),
            };
            let _active = events::ActiveSession::start();
            run::run(shared, io, (peer, client_name), tls, signals).await;
        };
        session.instrument(span)
    }
}

/// Tells a client over the connection limit to come back later, and closes.
async fn refuse(
    mut stream: TcpStream,
    peer: std::net::SocketAddr,
    hostname: String,
    write_timeout: Duration,
) {
    let reply = replies::too_many_connections(&hostname);
    // No lookup for a client refused at once: it would only delay the refusal.
    events::connect(peer, None);
    events::refused(&events::Refusal {
        stage: events::Stage::Connect,
        response: &reply,
        helo: None,
        from: None,
        to: None,
    });
    let write = async {
        stream.write_all(reply.wire.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(write_timeout, write).await;
}
