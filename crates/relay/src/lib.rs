//! envoi's relay: delivery of queued envelopes to their next hop, by smarthost, route table,
//! MX or LMTP, turning everything the network does into one [`envoi_types::Reply`] per
//! recipient.
//!
//! Build a [`SmtpRelay`] from a [`RelayConfig`] and a [`Resolver`]; it implements the queue's
//! [`envoi_queue::Relay`] trait and always answers [`envoi_queue::Delivery::PerRecipient`],
//! in the envelope's recipient order, every outcome naming the host it is about (`None`
//! only when DNS failed before any host) and saying whether that host wrote the reply
//! ([`envoi_queue::ReplyOrigin`]: a refused connection or a timeout is the relay's).
//!
//! Each next hop's hosts (MX in preference order, shuffled among equals, or the configured
//! hosts) are tried in order until one opens a session; that session's replies are the
//! outcome, a `5xx` to RCPT or DATA included. When no host opens one, the recipients fail for
//! good only if every host refused for good (`5xx` greeting, EHLO or AUTH); a refused
//! connection, a timeout or a `4xx` on any host makes the outcome transient, so the shuffle
//! never decides it.
//!
//! ```no_run
//! # use std::sync::Arc;
//! use envoi_relay::{HickoryResolver, NextHop, RelayConfig, SmtpRelay, TlsPolicy};
//! // Smarthost with AUTH over required TLS.
//! let hop = NextHop::smtp("smtp.example.net", 587)
//!     .with_auth("user", "secret")
//!     .with_tls(TlsPolicy::Required);
//! let dns = Arc::new(HickoryResolver::new(&["127.0.0.53:53".parse().unwrap()]));
//! let relay = SmtpRelay::new(RelayConfig::smarthost(hop), dns).unwrap();
//! ```
//!
//! # Layout
//! - [`hop`]: one next hop (endpoint, protocol, credentials, TLS policy).
//! - [`config`]: plain configuration structs with RFC 5321 defaults.
//! - [`parse`]: `smtp://host:port`, `lmtp://…`, `unix:/path` and TLS policy names.
//! - [`routes`]: domain → next hops, checked before the fallback (MX or fixed hosts).
//! - [`resolver`]: the `Resolver` trait, hickory in production, a static table for tests.
//! - [`mx`]: MX ordering, implicit MX, null MX.
//! - [`mta_sts`]: MTA-STS (RFC 8461) records, policies, fetching and the policy cache.
//! - `security`: which TLS policy a destination's sessions run under (configured, MTA-STS).
//! - [`proto`]: sans-IO reply reading, EHLO capabilities, DATA encoding, command lines.
//! - [`client`]: the tokio side: stream, connection, session opening, transactions.
//! - [`tls`]: verifying and opportunistic TLS connectors.
//! - [`dane`]: DANE for SMTP: DNSSEC-validated TLSA records and the certificate check.
//! - [`pool`]: idle connections, per-destination concurrency, dead addresses tried last.
//! - [`pace`]: per-destination messages per connection and connections per second.
//! - [`failure`]: every non-reply failure and its one mapping to a reply.
//! - [`relay`]: [`SmtpRelay`], grouping by next hop, host fallback.

pub mod client;
pub mod config;
pub mod dane;
pub mod failure;
pub mod hop;
pub mod mta_sts;
pub mod mx;
pub mod pace;
pub mod parse;
pub mod pool;
pub mod proto;
pub mod relay;
pub mod resolver;
pub mod routes;
mod security;
pub mod tls;

pub use config::{ConnectionLimits, PoolConfig, RelayConfig, Timeouts, TlsSettings};
pub use dane::{Dane, DaneConnector, DaneDecision, DaneSettings};
pub use failure::Failure;
pub use hop::{Credentials, Endpoint, NextHop, Protocol, TlsPolicy};
pub use mta_sts::MtaStsConfig;
pub use parse::ParseError;
pub use relay::{BuildError, SmtpRelay};
pub use resolver::{DnsError, HickoryResolver, MxRecord, Resolver, StaticResolver, TimedResolver};
pub use routes::{Fallback, Route, RouteTable};
