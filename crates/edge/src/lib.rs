//! envoi's SMTP edge: the server the internet talks to.
//!
//! An SMTP server (RFC 5321) with PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES,
//! CHUNKING, STARTTLS and AUTH PLAIN/LOGIN, that hands each accepted message to the queue
//! through one narrow call ([`Handoff`]) and answers `250` only once the queue has stored it.
//! Every byte a client can send gets a defined reply. Memory is bounded: per session by the
//! line limit and the message size limit, and over all sessions by a message-memory budget
//! ([`Limits::max_buffered_bytes`]); connections are capped overall and per client (an IPv4
//! address or an IPv6 /64); a command, a transfer and a session each have a deadline.
//!
//! Shutdown: cancel the token given to [`Server::serve`]; the server stops accepting, idle
//! sessions get `421 4.3.2`, open transactions may finish within
//! [`Timeouts::shutdown_grace`], then the rest get `421` too, and `serve` returns.
//!
//! Client names: with a [`ReverseDns`] ([`ServerBuilder::reverse_dns`]) each client's host name
//! is looked up at connect and forward-confirmed, within [`Timeouts::reverse_dns`]; it names
//! the client in the `connect` log line (`client=name[addr]`, `unknown` without one) and in the
//! Received header. Without one no lookup is made.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # async fn demo(handoff: Arc<dyn envoi_edge::Handoff>) -> Result<(), Box<dyn std::error::Error>> {
//! use envoi_edge::{EdgeConfig, ListenMode, Server};
//! let mut config = EdgeConfig::new("mx.example.org");
//! config.receiving_domains = vec!["example.org".into()];
//! // .validator(..), .authenticator(..), .reverse_dns(..)
//! let server = Server::builder(config, handoff).build();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2525").await?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! server.serve(listener, ListenMode::Plain, shutdown).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`config`]: [`EdgeConfig`] and its parts (limits, timeouts, auth policy).
//! - [`server`]: [`Server`]: accept loop, connection limits, graceful shutdown.
//! - `shared`: what every session of a server shares (configuration, collaborators).
//! - `session`: one session: the state enum, the command loop, the socket and its deadlines.
//! - `verbs`: one file per SMTP verb, dispatched from [`proto::Command`].
//! - [`proto`]: the sans-IO core: line framing, command parsing, the DATA reader, BDAT's
//!   line rules.
//! - `body`: the message being received: whole in memory up to 128 KiB, else its head in memory
//!   and the rest streamed to the hand-off's sink ([`Handoff::open_body`]) as it arrives.
//! - [`replies`]: every reply the edge sends, with its code and enhanced code.
//! - [`handoff`]: [`Handoff`], the call into the queue (implemented for `envoi_queue::Queue`).
//! - [`validate`]: [`Validator`] hooks at connect, EHLO, MAIL, RCPT and data.
//! - [`credentials`]: [`Authenticator`], the caller's credential check.
//! - [`tls`]: [`TlsSettings`] from a caller-given certificate and key.
//! - [`net`]: [`IpNet`] for trusted networks.
//! - [`received`]: the Received header.
//! - [`rdns`]: the client's forward-confirmed host name at connect ([`ReverseDns`]).
//! - [`events`]: log lines and metrics (call [`events::describe_metrics`] once at start-up).

mod body;
pub mod config;
pub mod credentials;
pub mod events;
pub mod handoff;
mod limiter;
mod memory;
pub mod net;
pub mod proto;
pub mod rdns;
pub mod received;
pub mod replies;
pub mod server;
mod session;
mod shared;
pub mod tls;
pub mod validate;
mod verbs;

pub use config::{AuthPolicy, EdgeConfig, Limits, Timeouts};
pub use credentials::{AuthVerdict, Authenticator};
pub use handoff::Handoff;
pub use net::{IpNet, ParseIpNetError};
pub use rdns::ReverseDns;
pub use server::{ListenMode, ServeError, Server, ServerBuilder};
pub use tls::{TlsError, TlsSettings};
pub use validate::{AcceptAll, SessionInfo, Validator};
