//! Opening a session: connect, greeting, EHLO (HELO fallback) or LHLO, STARTTLS, AUTH.
//!
//! Session state is explicit: `Phase` names where the opening stands, and each step moves it
//! on or ends with a [`Failure`] (a refusing peer's reply is kept as [`Failure::Peer`]).
//!
//! # Layout
//! - [`Target`]: where to connect (a socket address with its host name, or a unix path).
//! - [`SessionParams`]: what the opening needs from the relay's configuration.
//! - [`open`]: the whole opening.

use std::net::SocketAddr;
use std::path::PathBuf;

use rustls::pki_types::ServerName;
use tokio::net::{TcpStream, UnixStream};

use crate::client::conn::Connection;
use crate::client::stream::Stream;
use crate::config::Timeouts;
use crate::dane::DaneConnector;
use crate::failure::{io_failure, with_code, Failure, Stage};
use crate::hop::{Credentials, Protocol, TlsPolicy};
use crate::proto::caps::Capabilities;
use crate::proto::command;
use crate::tls::TlsConnectors;

/// Where a session connects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A TCP address; `host` is the name used for TLS verification and reports.
    Tcp {
        /// The host name (or IP literal) the address was resolved from.
        host: String,
        /// The address.
        addr: SocketAddr,
    },
    /// A unix domain socket.
    Unix(PathBuf),
}

impl Target {
    /// The peer as reported in outcomes: `host[ip]:port` (Postfix style) or `unix:path`.
    pub fn remote(&self) -> String {
        match self {
            Self::Tcp { host, addr } => format!("{host}[{}]:{}", addr.ip(), addr.port()),
            Self::Unix(path) => format!("unix:{}", path.display()),
        }
    }
}

/// What opening a session needs.
#[derive(Debug, Clone, Copy)]
pub struct SessionParams<'a> {
    /// Name sent in EHLO/HELO/LHLO.
    pub helo_name: &'a str,
    /// SMTP or LMTP.
    pub protocol: Protocol,
    /// STARTTLS policy for this destination.
    pub tls_policy: TlsPolicy,
    /// Credentials for AUTH PLAIN, if configured.
    pub auth: Option<&'a Credentials>,
    /// Stage timeouts.
    pub timeouts: &'a Timeouts,
    /// TLS connectors.
    pub tls: &'a TlsConnectors,
    /// The connector DANE imposes (with `tls_policy` `Required`), in place of `tls`'s.
    pub dane: Option<&'a DaneConnector>,
    /// Octets kept of each reply line.
    pub max_reply_line: usize,
}

/// Where the opening stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Greeting,
    Hello,
    StartTls,
    Auth,
    Ready,
}

/// Opens a session ready for MAIL FROM.
///
/// # Errors
/// A [`Failure`]: connect errors, timeouts, a refusing peer, unmet TLS policy, AUTH trouble.
pub async fn open(target: &Target, params: SessionParams<'_>) -> Result<Connection, Failure> {
    let stream = connect(target, params.timeouts).await?;
    let mut conn = Connection::new(
        stream,
        target.remote(),
        params.protocol,
        params.max_reply_line,
    );
    let mut phase = Phase::Greeting;
    // Each arm moves the phase forward; at most one STARTTLS round, so this ends.
    loop {
        phase = match phase {
            Phase::Greeting => {
                let reply = conn
                    .read_reply(Stage::Banner, params.timeouts.banner)
                    .await?;
                if reply.code != 220 {
                    return Err(Failure::Peer(reply));
                }
                Phase::Hello
            }
            Phase::Hello => {
                hello(&mut conn, params).await?;
                if conn.tls
                    || params.tls_policy == TlsPolicy::None
                    || matches!(target, Target::Unix(_))
                {
                    Phase::Auth
                } else {
                    Phase::StartTls
                }
            }
            Phase::StartTls => {
                if starttls(&mut conn, target, params).await? {
                    Phase::Hello
                } else {
                    Phase::Auth
                }
            }
            Phase::Auth => {
                if let Some(credentials) = params.auth {
                    auth(&mut conn, credentials, params.timeouts).await?;
                }
                Phase::Ready
            }
            Phase::Ready => return Ok(conn),
        };
    }
}

async fn connect(target: &Target, timeouts: &Timeouts) -> Result<Stream, Failure> {
    let connecting = async {
        match target {
            Target::Tcp { addr, .. } => {
                let stream = TcpStream::connect(addr).await?;
                // Commands go out whole, one write each: Nagle would only add round trips.
                stream.set_nodelay(true)?;
                Ok(Stream::Tcp(stream))
            }
            Target::Unix(path) => UnixStream::connect(path).await.map(Stream::Unix),
        }
    };
    tokio::time::timeout(timeouts.connect, connecting)
        .await
        .map_err(|_| Failure::Timeout(Stage::Connect))?
        .map_err(|e| io_failure(Stage::Connect, e))
}

/// EHLO, or HELO when the peer rejects EHLO as unknown; LHLO for LMTP.
async fn hello(conn: &mut Connection, params: SessionParams<'_>) -> Result<(), Failure> {
    let timeout = params.timeouts.command;
    let verb = match params.protocol {
        Protocol::Smtp => "EHLO",
        Protocol::Lmtp => "LHLO",
    };
    let line = format!("{verb} {}\r\n", params.helo_name);
    let reply = conn.command(line.as_bytes(), Stage::Hello, timeout).await?;
    if reply.is_success() {
        conn.caps = Capabilities::from_ehlo(&reply);
        return Ok(());
    }
    // HELO only where EHLO is unknown to an old peer (5xx); 421 and other 4xx end the session.
    if params.protocol == Protocol::Lmtp || !reply.is_permanent() || conn.tls {
        return Err(Failure::Peer(reply));
    }
    let line = format!("HELO {}\r\n", params.helo_name);
    let reply = conn.command(line.as_bytes(), Stage::Hello, timeout).await?;
    if !reply.is_success() {
        return Err(Failure::Peer(reply));
    }
    conn.caps = Capabilities::default();
    Ok(())
}

/// STARTTLS per policy. `Ok(true)` when TLS is now on (EHLO must be repeated).
async fn starttls(
    conn: &mut Connection,
    target: &Target,
    params: SessionParams<'_>,
) -> Result<bool, Failure> {
    let required = params.tls_policy == TlsPolicy::Required;
    if !conn.caps.starttls {
        return if required {
            Err(Failure::TlsUnavailable)
        } else {
            Ok(false)
        };
    }
    let reply = conn
        .command(b"STARTTLS\r\n", Stage::StartTls, params.timeouts.command)
        .await?;
    if reply.code != 220 {
        // A refused STARTTLS leaves the plain session usable (RFC 3207 §4).
        return if required {
            Err(Failure::TlsUnavailable)
        } else {
            Ok(false)
        };
    }
    let host = match target {
        Target::Tcp { host, .. } => host.clone(),
        Target::Unix(_) => return Err(Failure::Config("STARTTLS on a unix socket".to_owned())),
    };
    let server_name =
        ServerName::try_from(host).map_err(|e| Failure::Config(format!("TLS server name: {e}")))?;
    let connector = match params.dane {
        Some(dane) => &dane.connector,
        None if required => &params.tls.verified,
        None => &params.tls.opportunistic,
    };
    conn.upgrade(connector, server_name.clone(), params.timeouts.command)
        .await?;
    conn.verified = match params.dane {
        Some(dane) => dane.authenticates,
        None => required || params.tls.verifies(&conn.peer_certificates(), &server_name),
    };
    Ok(true)
}

/// AUTH PLAIN; a refusal is kept as a transient reply (a credentials problem is the
/// operator's to fix, not a reason to bounce).
async fn auth(
    conn: &mut Connection,
    credentials: &Credentials,
    timeouts: &Timeouts,
) -> Result<(), Failure> {
    if !conn.caps.offers_auth("PLAIN") {
        return Err(Failure::AuthUnavailable);
    }
    let line = command::auth_plain(&credentials.username, &credentials.password);
    let reply = conn.command(&line, Stage::Auth, timeouts.command).await?;
    match reply.code {
        235 => Ok(()),
        421 => Err(Failure::Peer(reply)),
        _ => Err(Failure::Peer(with_code(&reply, 454))),
    }
}
